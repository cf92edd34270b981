//! Session config files, resolved the way every command resolves them: calendars by code,
//! path or the home folder, strategies from the built-in registry.

use anyhow::{Context, Result};

use crate::calendar_cmd::resolve;

/// Reads and validates a session config file.
pub(crate) fn load_config(path: &std::path::Path) -> Result<openbell_config::SessionConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    parse_config(&text, &path.display().to_string())
}

/// Validates a session config; `origin` names it in errors.
pub(crate) fn parse_config(text: &str, origin: &str) -> Result<openbell_config::SessionConfig> {
    let calendar = |code: &str| resolve(code).map_err(|e| e.to_string());
    let strategies = openbell_engine::StrategyRegistry::default();
    let resolver = openbell_config::Resolver {
        calendar: &calendar,
        custom_scanners: &[],
        strategies: &strategies,
    };
    Ok(openbell_config::parse(text, origin, &resolver)?)
}
