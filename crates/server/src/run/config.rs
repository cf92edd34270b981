//! Session configs and calendars, resolved the way every command resolves them: calendars by
//! code, path or the home folder, strategies from the built-in registry.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use openbell_calendar::{BUILTIN_CODES, Calendar};

use crate::run::home::calendars_dir;

/// Where a calendar may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarPaths {
    /// Built-in codes, `<home>/calendars/<CODE>.toml`, and the path of any TOML file (the
    /// command line, where the user owns the files).
    Allowed,
    /// Built-in codes and `<home>/calendars/<CODE>.toml` only (configs sent over HTTP, which
    /// must not name files on the server).
    CodesOnly,
}

/// Finds a calendar by built-in code, file path, or `<home>/calendars/<CODE>.toml`.
///
/// # Errors
/// An unknown code (the message lists the known ones), or a calendar file that does not parse.
pub fn resolve(name: &str) -> Result<Calendar> {
    resolve_with(name, CalendarPaths::Allowed)
}

/// [`resolve`], with file paths allowed or not.
///
/// # Errors
/// As [`resolve`]; with [`CalendarPaths::CodesOnly`], also any name that is not a plain code.
pub fn resolve_with(name: &str, paths: CalendarPaths) -> Result<Calendar> {
    if let Ok(cal) = Calendar::builtin(name) {
        return Ok(cal);
    }
    let plain_code = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if paths == CalendarPaths::Allowed {
        let path = Path::new(name);
        if path.extension().is_some_and(|e| e == "toml") || path.is_file() {
            return Ok(Calendar::from_toml_file(path)?);
        }
    }
    if plain_code {
        let user = calendars_dir().join(format!("{name}.toml"));
        if user.is_file() {
            return Ok(Calendar::from_toml_file(&user)?);
        }
    }
    let known = BUILTIN_CODES
        .iter()
        .map(|c| (*c).to_owned())
        .chain(user_calendars().into_iter().map(|(code, _)| code))
        .collect::<Vec<_>>();
    let path_hint = match paths {
        CalendarPaths::Allowed => "; or give the path of a calendar TOML file",
        CalendarPaths::CodesOnly => "",
    };
    bail!(
        "unknown exchange {name:?} (available: {}{path_hint})",
        known.join(", ")
    )
}

/// The calendars defined in `<home>/calendars`, by code.
#[must_use]
pub fn user_calendars() -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(calendars_dir()) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
        .collect();
    found.sort();
    found
}

/// Reads and validates a session config file.
///
/// # Errors
/// An unreadable file, or the first problem in it, with its line.
pub fn load_config(path: &Path) -> Result<openbell_config::SessionConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    parse_config(&text, &path.display().to_string())
}

/// Validates a session config; `origin` names it in errors.
///
/// # Errors
/// The first problem in it, with its line.
pub fn parse_config(text: &str, origin: &str) -> Result<openbell_config::SessionConfig> {
    parse_config_with(text, origin, CalendarPaths::Allowed)
}

/// [`parse_config`], with calendar file paths allowed or not.
///
/// # Errors
/// The first problem in it, with its line.
pub fn parse_config_with(
    text: &str,
    origin: &str,
    paths: CalendarPaths,
) -> Result<openbell_config::SessionConfig> {
    let calendar = |code: &str| resolve_with(code, paths).map_err(|e| e.to_string());
    let strategies = openbell_engine::StrategyRegistry::default();
    let resolver = openbell_config::Resolver {
        calendar: &calendar,
        custom_scanners: &[],
        strategies: &strategies,
    };
    Ok(openbell_config::parse(text, origin, &resolver)?)
}
