//! What a session runs: validated once, before the first day.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openbell_calendar::Calendar;
use openbell_indicators::{Indicator, create};
use openbell_model::{Interval, Symbol};

use crate::scanner::{ScannerKind, ScannerSpec, Schedule};

/// An indicator to register on every symbol of the day, at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSpec {
    /// A label for its values, e.g. `sma_20`.
    pub label: String,
    /// The indicator name (`sma`, `macd`, …).
    pub name: String,
    /// The interval it runs on: the base interval or a derived one.
    pub interval: Interval,
    /// Its parameters.
    pub params: BTreeMap<String, f64>,
}

/// The symbols a session may trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Universe {
    /// A configured list.
    List(Vec<Symbol>),
    /// Every symbol the source has at the base interval.
    All,
}

/// How the clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Jump from bar to bar (backtests).
    DataDriven,
    /// Advance the clock in steps of `step_nanos` and take what the source has by then
    /// (paper, collect).
    ClockDriven {
        /// Simulated nanoseconds per step.
        step_nanos: i64,
    },
}

/// A session's engine configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The exchange calendar.
    pub calendar: Calendar,
    /// The first date (the first trading day on or after it).
    pub start: NaiveDate,
    /// The last date (inclusive).
    pub end: NaiveDate,
    /// The interval bars are read at.
    pub base_interval: Interval,
    /// Intervals built live from the base interval.
    pub derived: Vec<Interval>,
    /// The symbols to trade: all of them each day without pre-session scanners, else the
    /// scanners' candidates.
    pub universe: Universe,
    /// Scanners, pre-session and mid-session.
    pub scanners: Vec<ScannerSpec>,
    /// Indicators registered on every symbol, every day.
    pub indicators: Vec<IndicatorSpec>,
    /// Trading days of trailing history loaded before each day (for indicator warm-up).
    pub history_days: u32,
    /// How the clock moves.
    pub mode: Mode,
}

/// A configuration that cannot run; names the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {key}: {message}")]
pub struct ConfigError {
    /// The key, e.g. `indicator[1].name`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl EngineConfig {
    /// Checks everything that can be checked before the first day.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.start > self.end {
            return Err(error(
                "session.start",
                format!("{} is after session.end {}", self.start, self.end),
            ));
        }
        let (first, last) = self.calendar.range();
        if self.start < first || self.end > last {
            return Err(error(
                "session.start",
                format!(
                    "{}..{} is outside the {} calendar's {first}..{last}",
                    self.start,
                    self.end,
                    self.calendar.code()
                ),
            ));
        }
        if self.base_interval.is_daily() {
            return Err(error("data.interval", "the base interval must be intraday"));
        }
        for (i, d) in self.derived.iter().enumerate() {
            let ok = *d > self.base_interval
                && (d.is_daily() || d.as_secs().is_multiple_of(self.base_interval.as_secs()));
            if !ok {
                return Err(error(
                    format!("data.derived[{i}]"),
                    format!(
                        "{d} is not a multiple of the base interval {}",
                        self.base_interval
                    ),
                ));
            }
            if self.derived[..i].contains(d) {
                return Err(error(
                    format!("data.derived[{i}]"),
                    format!("{d} is listed twice"),
                ));
            }
        }
        if self.universe == Universe::List(Vec::new()) {
            return Err(error("universe.symbols", "no symbols"));
        }
        for (i, scanner) in self.scanners.iter().enumerate() {
            let key = |k: &str| format!("scanner[{i}].{k}");
            if scanner.top == 0 {
                return Err(error(key("top"), "must be at least 1"));
            }
            match &scanner.schedule {
                Schedule::At(times) if times.is_empty() => {
                    return Err(error(key("at"), "no times"));
                }
                Schedule::Every { minutes: 0 } => {
                    return Err(error(key("every_minutes"), "must be at least 1"));
                }
                _ => {}
            }
            if scanner.kind == ScannerKind::RelativeVolume && scanner.lookback_days == 0 {
                return Err(error(
                    key("lookback_days"),
                    "relative_volume needs at least 1 day",
                ));
            }
        }
        for (i, spec) in self.indicators.iter().enumerate() {
            if spec.interval != self.base_interval && !self.derived.contains(&spec.interval) {
                return Err(error(
                    format!("indicator[{i}].interval"),
                    format!(
                        "{} is neither the base interval nor a derived one",
                        spec.interval
                    ),
                ));
            }
            create(&spec.name, &spec.params)
                .map_err(|e| error(format!("indicator[{i}]"), e.to_string()))?;
        }
        Ok(())
    }

    pub(crate) fn build_indicators(&self) -> Vec<(usize, Box<dyn Indicator>)> {
        self.indicators
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| create(&spec.name, &spec.params).ok().map(|ind| (i, ind)))
            .collect()
    }
}
