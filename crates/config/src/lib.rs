//! Session configuration files: TOML with `[session]`, `[data]`, `[universe]`, `[[scanner]]`
//! and `[[indicator]]` tables, parsed into an [`EngineConfig`].
//!
//! Unknown tables and keys are errors. Every error names the file, the line and the key:
//! `backtest.toml:12: indicator[1].interval: 7m is neither the base interval nor a derived
//! one`. The engine's own validation runs here too, so a config that parses also runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime};
use openbell_calendar::Calendar;
use openbell_engine::{
    EngineConfig, Filters, IndicatorSpec, Mode, ScannerKind, ScannerSpec, Schedule, Universe,
};
use openbell_model::{Interval, Symbol};
use serde::Deserialize;
use toml::Spanned;

/// A config file that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigFileError {
    /// Where the text came from (usually its path).
    pub origin: String,
    /// The 1-based line at fault, when known.
    pub line: Option<usize>,
    /// The key at fault, e.g. `indicator[1].interval`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A parsed, validated session config.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `session.name`, if given.
    pub name: Option<String>,
    /// `data.dir`, if given (a `--data` flag or `$OPENBELL_DATA` overrides it).
    pub data_dir: Option<PathBuf>,
    /// What the engine runs.
    pub engine: EngineConfig,
    /// The text as given, kept with the session so it can be re-run.
    pub text: String,
}

/// How names in a config are resolved.
pub struct Resolver<'a> {
    /// Turns `session.exchange` into a calendar (a code, a path, a user calendar).
    pub calendar: &'a dyn Fn(&str) -> Result<Calendar, String>,
    /// Names of scanners written in Rust that the caller attaches to the engine; a
    /// `[[scanner]]` whose `kind` is one of them becomes [`ScannerKind::Custom`].
    pub custom_scanners: &'a [&'a str],
}

impl std::fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("custom_scanners", &self.custom_scanners)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    session: Spanned<SessionTable>,
    #[serde(default)]
    data: Option<Spanned<DataTable>>,
    universe: Spanned<UniverseTable>,
    #[serde(default)]
    scanner: Vec<Spanned<ScannerTable>>,
    #[serde(default)]
    indicator: Vec<Spanned<IndicatorTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionTable {
    name: Option<String>,
    start: Spanned<String>,
    end: Spanned<String>,
    exchange: Option<Spanned<String>>,
    history_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataTable {
    interval: Option<Spanned<String>>,
    #[serde(default)]
    derived: Vec<Spanned<String>>,
    dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UniverseTable {
    symbols: Option<Vec<Spanned<String>>>,
    all: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScannerTable {
    name: Option<String>,
    kind: Spanned<String>,
    pre_session_minutes: Option<u32>,
    at: Option<Spanned<Vec<Spanned<String>>>>,
    every_minutes: Option<Spanned<u32>>,
    top: Spanned<usize>,
    lookback_days: Option<Spanned<u32>>,
    min_price: Option<f64>,
    max_price: Option<f64>,
    min_volume: Option<f64>,
    min_quality: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorTable {
    label: Option<String>,
    name: Spanned<String>,
    interval: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, f64>,
}

/// Builds errors that point at a line.
struct Reporter<'a> {
    origin: &'a str,
    text: &'a str,
    /// Keys and the lines they are on, for the engine's validation errors.
    lines: Vec<(String, usize)>,
}

impl Reporter<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text
            .get(..offset)
            .map_or(1, |before| before.matches('\n').count() + 1)
    }

    fn note<T>(&mut self, key: impl Into<String>, value: &Spanned<T>) {
        let line = self.line_of(value.span().start);
        self.lines.push((key.into(), line));
    }

    fn at<T>(
        &self,
        value: &Spanned<T>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigFileError {
        ConfigFileError {
            origin: self.origin.to_owned(),
            line: Some(self.line_of(value.span().start)),
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// An error for `key`, on the line of the longest noted key it falls under.
    fn keyed(&self, key: &str, message: String) -> ConfigFileError {
        let line = self
            .lines
            .iter()
            .filter(|(k, _)| {
                key == k
                    || key
                        .strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(_, line)| *line);
        ConfigFileError {
            origin: self.origin.to_owned(),
            line,
            key: Some(key.to_owned()),
            message,
        }
    }

    fn parse<T: FromStr>(
        &self,
        value: &Spanned<String>,
        key: &str,
        what: &str,
    ) -> Result<T, ConfigFileError>
    where
        T::Err: std::fmt::Display,
    {
        value.get_ref().parse::<T>().map_err(|e| {
            self.at(
                value,
                key,
                format!("{:?} is not {what}: {e}", value.get_ref()),
            )
        })
    }
}

/// Parses and validates a config. `origin` names the text in errors (usually its path).
///
/// # Errors
/// [`ConfigFileError`] with the line and key of the first problem: TOML syntax, unknown
/// tables or keys, values that do not parse, and anything the engine would refuse.
pub fn parse(
    text: &str,
    origin: &str,
    resolver: &Resolver<'_>,
) -> Result<SessionConfig, ConfigFileError> {
    let mut report = Reporter {
        origin,
        text,
        lines: Vec::new(),
    };
    let file: File = toml::from_str(text).map_err(|e| ConfigFileError {
        origin: origin.to_owned(),
        line: e.span().map(|s| report.line_of(s.start)),
        key: None,
        message: e.message().trim().to_owned(),
    })?;

    let session = file.session.get_ref();
    report.note("session", &file.session);
    report.note("session.start", &session.start);
    report.note("session.end", &session.end);
    let start: NaiveDate =
        report.parse(&session.start, "session.start", "a date like 2024-01-02")?;
    let end: NaiveDate = report.parse(&session.end, "session.end", "a date like 2024-01-02")?;
    let calendar = match &session.exchange {
        Some(code) => (resolver.calendar)(code.get_ref())
            .map_err(|e| report.at(code, "session.exchange", e))?,
        None => (resolver.calendar)("XNYS").map_err(|e| report.keyed("session.exchange", e))?,
    };

    let (base_interval, derived, data_dir) = match &file.data {
        Some(data) => {
            report.note("data", data);
            let table = data.get_ref();
            let base = match &table.interval {
                Some(iv) => {
                    report.note("data.interval", iv);
                    report.parse::<Interval>(iv, "data.interval", "an interval like 1m")?
                }
                None => Interval::M1,
            };
            let mut derived = Vec::new();
            for (i, d) in table.derived.iter().enumerate() {
                let key = format!("data.derived[{i}]");
                report.note(key.clone(), d);
                derived.push(report.parse::<Interval>(d, &key, "an interval like 5m")?);
            }
            (base, derived, table.dir.as_ref().map(PathBuf::from))
        }
        None => (Interval::M1, Vec::new(), None),
    };

    report.note("universe", &file.universe);
    let universe = universe(&file.universe, &mut report)?;

    let mut scanners = Vec::new();
    for (i, table) in file.scanner.iter().enumerate() {
        scanners.push(scanner(i, table, &mut report, resolver)?);
    }

    let mut indicators = Vec::new();
    for (i, table) in file.indicator.iter().enumerate() {
        let key = format!("indicator[{i}]");
        let t = table.get_ref();
        report.note(key.clone(), &t.name);
        let interval = match &t.interval {
            Some(iv) => {
                report.note(format!("{key}.interval"), iv);
                report.parse::<Interval>(iv, &format!("{key}.interval"), "an interval like 5m")?
            }
            None => base_interval,
        };
        let label = t.label.clone().unwrap_or_else(|| {
            let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if params.is_empty() {
                format!("{}@{interval}", t.name.get_ref())
            } else {
                format!("{}({})@{interval}", t.name.get_ref(), params.join(","))
            }
        });
        indicators.push(IndicatorSpec {
            label,
            name: t.name.get_ref().clone(),
            interval,
            params: t.params.clone(),
        });
    }

    let engine = EngineConfig {
        calendar,
        start,
        end,
        base_interval,
        derived,
        universe,
        scanners,
        indicators,
        history_days: session.history_days.unwrap_or(1),
        mode: Mode::DataDriven,
    };
    engine
        .validate()
        .map_err(|e| report.keyed(&e.key, e.message))?;
    Ok(SessionConfig {
        name: session.name.clone(),
        data_dir,
        engine,
        text: text.to_owned(),
    })
}

fn universe(
    table: &Spanned<UniverseTable>,
    report: &mut Reporter<'_>,
) -> Result<Universe, ConfigFileError> {
    let t = table.get_ref();
    match (&t.symbols, &t.all) {
        (Some(_), Some(all)) => Err(report.at(
            all,
            "universe.all",
            "give either universe.symbols or universe.all, not both",
        )),
        (None, Some(all)) if *all.get_ref() => Ok(Universe::All),
        (None, Some(all)) => Err(report.at(
            all,
            "universe.all",
            "false leaves no symbols; list them in universe.symbols",
        )),
        (None, None) => Err(report.at(
            table,
            "universe",
            "needs symbols = [\"SPY\", ...] or all = true",
        )),
        (Some(symbols), None) => {
            let mut out: Vec<Symbol> = Vec::new();
            for (i, s) in symbols.iter().enumerate() {
                let key = format!("universe.symbols[{i}]");
                report.note(key.clone(), s);
                let symbol = Symbol::parse(s.get_ref())
                    .map_err(|e| report.at(s, key.clone(), e.to_string()))?;
                if out.contains(&symbol) {
                    return Err(report.at(s, key, format!("{symbol} is listed twice")));
                }
                out.push(symbol);
            }
            if let Some(first) = symbols.first() {
                report.note("universe.symbols", first);
            }
            Ok(Universe::List(out))
        }
    }
}

fn scanner(
    i: usize,
    table: &Spanned<ScannerTable>,
    report: &mut Reporter<'_>,
    resolver: &Resolver<'_>,
) -> Result<ScannerSpec, ConfigFileError> {
    let key = format!("scanner[{i}]");
    report.note(key.clone(), table);
    let t = table.get_ref();
    report.note(format!("{key}.kind"), &t.kind);
    report.note(format!("{key}.top"), &t.top);
    if let Some(v) = &t.at {
        report.note(format!("{key}.at"), v);
    }
    if let Some(v) = &t.every_minutes {
        report.note(format!("{key}.every_minutes"), v);
    }
    if let Some(v) = &t.lookback_days {
        report.note(format!("{key}.lookback_days"), v);
    }
    let kind_name = t.kind.get_ref();
    let kind = if resolver.custom_scanners.contains(&kind_name.as_str()) {
        ScannerKind::Custom(kind_name.clone())
    } else {
        ScannerKind::parse(kind_name).map_err(|e| report.at(&t.kind, format!("{key}.kind"), e))?
    };
    let every = t.every_minutes.as_ref().map(|v| *v.get_ref());
    let schedule = match (t.pre_session_minutes, &t.at, every) {
        (Some(minutes), None, None) => Schedule::PreSession {
            minutes_before_open: minutes,
        },
        (None, Some(times), None) => {
            let mut parsed = Vec::new();
            for (j, time) in times.get_ref().iter().enumerate() {
                let k = format!("{key}.at[{j}]");
                let value = NaiveTime::parse_from_str(time.get_ref(), "%H:%M")
                    .or_else(|_| NaiveTime::parse_from_str(time.get_ref(), "%H:%M:%S"))
                    .map_err(|_| {
                        report.at(
                            time,
                            k,
                            format!(
                                "{:?} is not an exchange-local time like 10:30",
                                time.get_ref()
                            ),
                        )
                    })?;
                parsed.push(value);
            }
            Schedule::At(parsed)
        }
        (None, None, Some(minutes)) => Schedule::Every { minutes },
        _ => {
            return Err(report.at(
                table,
                key,
                "give exactly one of pre_session_minutes, at or every_minutes",
            ));
        }
    };
    Ok(ScannerSpec {
        label: t.name.clone().unwrap_or_else(|| format!("{kind_name}#{i}")),
        kind,
        schedule,
        top: *t.top.get_ref(),
        filters: Filters {
            min_price: t.min_price,
            max_price: t.max_price,
            min_volume: t.min_volume,
            min_quality: t.min_quality,
        },
        lookback_days: t.lookback_days.as_ref().map_or(5, |v| *v.get_ref()),
    })
}
