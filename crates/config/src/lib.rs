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
    BrokerConfig, Commission, EngineConfig, Filters, IndicatorSpec, LotMethod, Mode, Param, Params,
    RiskConfig, ScannerKind, ScannerSpec, Schedule, Slippage, StrategyRegistry, Universe,
};
use openbell_model::{Interval, Money, Price, Quantity, Symbol};
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
    /// `[strategy]`: its name and parameters, checked against the registry.
    pub strategy: Option<StrategyConfig>,
    /// `[broker]`.
    pub broker: BrokerConfig,
    /// `[risk]`.
    pub risk: RiskConfig,
    /// `[feed]`: how clock-driven sessions (paper, collect) get their bars and pace time.
    pub feed: FeedConfig,
    /// The text as given, kept with the session so it can be re-run.
    pub text: String,
}

/// The `[strategy]` table: a registered name and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyConfig {
    /// The registered name, e.g. `sma_cross`.
    pub name: String,
    /// Every other key of the table.
    pub params: Params,
}

/// The `[feed]` table: the source of a clock-driven session's bars and its clock's pace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedConfig {
    /// Simulated time per unit of wall time: 1 is real time, 60 an hour a minute.
    pub speed: f64,
    /// How far the clock moves per step, in nanoseconds of simulated time.
    pub step_nanos: i64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            speed: 1.0,
            step_nanos: 60_000_000_000,
        }
    }
}

/// How names in a config are resolved.
pub struct Resolver<'a> {
    /// Turns `session.exchange` into a calendar (a code, a path, a user calendar).
    pub calendar: &'a dyn Fn(&str) -> Result<Calendar, String>,
    /// Names of scanners written in Rust that the caller attaches to the engine; a
    /// `[[scanner]]` whose `kind` is one of them becomes [`ScannerKind::Custom`].
    pub custom_scanners: &'a [&'a str],
    /// The strategies `[strategy] name` may choose from.
    pub strategies: &'a StrategyRegistry,
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
    strategy: Option<Spanned<toml::Table>>,
    broker: Option<Spanned<BrokerTable>>,
    risk: Option<Spanned<RiskTable>>,
    feed: Option<Spanned<FeedTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedTable {
    kind: Option<Spanned<String>>,
    speed: Option<Spanned<f64>>,
    step_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerTable {
    initial_cash: Option<Spanned<f64>>,
    slippage_bps: Option<Spanned<f64>>,
    slippage_ticks: Option<Spanned<i64>>,
    tick_size: Option<Spanned<f64>>,
    commission: Option<Spanned<String>>,
    commission_rate: Option<Spanned<f64>>,
    commission_min: Option<Spanned<f64>>,
    commission_max: Option<Spanned<f64>>,
    commission_bps: Option<Spanned<f64>>,
    commission_per_order: Option<Spanned<f64>>,
    participation: Option<Spanned<f64>>,
    margin: Option<Spanned<f64>>,
    allow_short: Option<bool>,
    lots: Option<Spanned<String>>,
    flatten_at_close: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskTable {
    max_position: Option<Spanned<f64>>,
    max_gross_exposure: Option<Spanned<f64>>,
    max_orders_per_day: Option<u32>,
    max_daily_loss: Option<Spanned<f64>>,
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

    let strategy = match &file.strategy {
        Some(table) => Some(strategy(table, &report, resolver, base_interval)?),
        None => None,
    };
    let broker = match &file.broker {
        Some(table) => broker(table.get_ref(), &report)?,
        None => BrokerConfig::default(),
    };
    let risk = match &file.risk {
        Some(table) => risk(table.get_ref(), &report)?,
        None => RiskConfig::default(),
    };
    let feed = match &file.feed {
        Some(table) => feed(table.get_ref(), &report)?,
        None => FeedConfig::default(),
    };

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
        strategy,
        broker,
        risk,
        feed,
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

fn strategy(
    table: &Spanned<toml::Table>,
    report: &Reporter<'_>,
    resolver: &Resolver<'_>,
    base: Interval,
) -> Result<StrategyConfig, ConfigFileError> {
    let t = table.get_ref();
    let name = match t.get("name") {
        Some(toml::Value::String(name)) => name.clone(),
        Some(_) => return Err(report.at(table, "strategy.name", "must be a text")),
        None => return Err(report.at(table, "strategy.name", "is required")),
    };
    let mut params = Params::new();
    for (key, value) in t.iter().filter(|(k, _)| k.as_str() != "name") {
        let param = match value {
            toml::Value::Integer(i) =>
            {
                #[allow(clippy::cast_precision_loss)]
                Param::Number(*i as f64)
            }
            toml::Value::Float(f) => Param::Number(*f),
            toml::Value::String(s) => Param::Text(s.clone()),
            _ => {
                return Err(report.at(
                    table,
                    format!("strategy.{key}"),
                    "must be a number or a text",
                ));
            }
        };
        params.insert(key.clone(), param);
    }
    resolver
        .strategies
        .create(&name, &params, base)
        .map_err(|e| {
            let key = if e.starts_with("unknown strategy") {
                "strategy.name".to_owned()
            } else {
                "strategy".to_owned()
            };
            report.at(table, key, e)
        })?;
    Ok(StrategyConfig { name, params })
}

fn money(report: &Reporter<'_>, value: &Spanned<f64>, key: &str) -> Result<Money, ConfigFileError> {
    Money::from_f64(*value.get_ref()).map_err(|e| report.at(value, key, e.to_string()))
}

fn non_negative(
    report: &Reporter<'_>,
    value: &Spanned<f64>,
    key: &str,
) -> Result<f64, ConfigFileError> {
    let v = *value.get_ref();
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(report.at(value, key, format!("{v} must be zero or more")))
    }
}

/// Basis points as whole hundredths of a basis point.
fn centi_bps(
    report: &Reporter<'_>,
    value: &Spanned<f64>,
    key: &str,
) -> Result<i64, ConfigFileError> {
    let v = non_negative(report, value, key)?;
    #[allow(clippy::cast_possible_truncation)]
    let c = (v * 100.0).round() as i64;
    Ok(c)
}

fn broker(t: &BrokerTable, report: &Reporter<'_>) -> Result<BrokerConfig, ConfigFileError> {
    let mut b = BrokerConfig::default();
    if let Some(v) = &t.initial_cash {
        b.initial_cash = money(report, v, "broker.initial_cash")?;
        if !b.initial_cash.is_positive() {
            return Err(report.at(v, "broker.initial_cash", "must be positive"));
        }
    }
    b.slippage = match (&t.slippage_bps, &t.slippage_ticks) {
        (Some(_), Some(v)) => {
            return Err(report.at(
                v,
                "broker.slippage_ticks",
                "give slippage_bps or slippage_ticks, not both",
            ));
        }
        (Some(v), None) => Slippage::CentiBps(centi_bps(report, v, "broker.slippage_bps")?),
        (None, Some(v)) => {
            let Some(tick) = &t.tick_size else {
                return Err(report.at(v, "broker.tick_size", "slippage_ticks needs tick_size"));
            };
            let tick_price = Price::from_f64(non_negative(report, tick, "broker.tick_size")?)
                .map_err(|e| report.at(tick, "broker.tick_size", e.to_string()))?;
            if *v.get_ref() < 0 {
                return Err(report.at(v, "broker.slippage_ticks", "must be zero or more"));
            }
            Slippage::Ticks {
                ticks: *v.get_ref(),
                tick: tick_price,
            }
        }
        (None, None) => Slippage::None,
    };
    let model = t
        .commission
        .as_ref()
        .map_or("none", |c| c.get_ref().as_str());
    let need = |v: &Option<Spanned<f64>>, key: &str| -> Result<Spanned<f64>, ConfigFileError> {
        v.clone().ok_or_else(|| {
            let at = t
                .commission
                .as_ref()
                .map_or_else(|| Spanned::new(0..0, String::new()), Clone::clone);
            report.at(&at, key, format!("commission = {model:?} needs {key}"))
        })
    };
    b.commission = match model {
        "none" => Commission::None,
        "per_share" => {
            let rate = need(&t.commission_rate, "broker.commission_rate")?;
            Commission::PerShare {
                rate: Price::from_f64(non_negative(report, &rate, "broker.commission_rate")?)
                    .map_err(|e| report.at(&rate, "broker.commission_rate", e.to_string()))?,
                min: match &t.commission_min {
                    Some(v) => money(report, v, "broker.commission_min")?,
                    None => Money::ZERO,
                },
                max: match &t.commission_max {
                    Some(v) => Some(money(report, v, "broker.commission_max")?),
                    None => None,
                },
            }
        }
        "bps" => {
            let v = need(&t.commission_bps, "broker.commission_bps")?;
            Commission::CentiBps(centi_bps(report, &v, "broker.commission_bps")?)
        }
        "per_order" => {
            let v = need(&t.commission_per_order, "broker.commission_per_order")?;
            non_negative(report, &v, "broker.commission_per_order")?;
            Commission::PerOrder(money(report, &v, "broker.commission_per_order")?)
        }
        other => {
            let at = t
                .commission
                .as_ref()
                .map_or_else(|| Spanned::new(0..0, String::new()), Clone::clone);
            return Err(report.at(
                &at,
                "broker.commission",
                format!("{other:?} is not none, per_share, bps or per_order"),
            ));
        }
    };
    if let Some(v) = &t.participation {
        let p = *v.get_ref();
        if !(p > 0.0 && p <= 1.0) {
            return Err(report.at(v, "broker.participation", format!("{p} is not in (0, 1]")));
        }
        b.participation = Some(p);
    }
    if let Some(v) = &t.margin {
        let m = *v.get_ref();
        if !(1.0..=100.0).contains(&m) {
            return Err(report.at(v, "broker.margin", format!("{m} is not in [1, 100]")));
        }
        b.margin = m;
    }
    b.allow_short = t.allow_short.unwrap_or(false);
    if let Some(v) = &t.lots {
        b.lots = LotMethod::parse(v.get_ref()).map_err(|e| report.at(v, "broker.lots", e))?;
    }
    b.flatten_at_close = t.flatten_at_close.unwrap_or(false);
    Ok(b)
}

fn feed(t: &FeedTable, report: &Reporter<'_>) -> Result<FeedConfig, ConfigFileError> {
    let mut f = FeedConfig::default();
    if let Some(kind) = &t.kind
        && kind.get_ref() != "replay"
    {
        return Err(report.at(
            kind,
            "feed.kind",
            format!(
                "{:?} is not a feed; the built-in one is \"replay\"",
                kind.get_ref()
            ),
        ));
    }
    if let Some(v) = &t.speed {
        let speed = *v.get_ref();
        if !(speed.is_finite() && speed > 0.0 && speed <= 1e9) {
            return Err(report.at(v, "feed.speed", "must be above 0 and at most 1e9"));
        }
        f.speed = speed;
    }
    if let Some(v) = &t.step_seconds {
        let step = *v.get_ref();
        if !(1..=86_400).contains(&step) {
            return Err(report.at(v, "feed.step_seconds", "must be 1 to 86400"));
        }
        f.step_nanos = step * 1_000_000_000;
    }
    Ok(f)
}

fn risk(t: &RiskTable, report: &Reporter<'_>) -> Result<RiskConfig, ConfigFileError> {
    let positive_money = |v: &Spanned<f64>, key: &str| -> Result<Money, ConfigFileError> {
        let m = money(report, v, key)?;
        if m.is_positive() {
            Ok(m)
        } else {
            Err(report.at(v, key, "must be positive"))
        }
    };
    Ok(RiskConfig {
        max_position: match &t.max_position {
            Some(v) => {
                let q = Quantity::from_f64(*v.get_ref())
                    .map_err(|e| report.at(v, "risk.max_position", e.to_string()))?;
                if !q.is_positive() {
                    return Err(report.at(v, "risk.max_position", "must be positive"));
                }
                Some(q)
            }
            None => None,
        },
        max_gross_exposure: t
            .max_gross_exposure
            .as_ref()
            .map(|v| positive_money(v, "risk.max_gross_exposure"))
            .transpose()?,
        max_orders_per_day: t.max_orders_per_day,
        max_daily_loss: t
            .max_daily_loss
            .as_ref()
            .map(|v| positive_money(v, "risk.max_daily_loss"))
            .transpose()?,
    })
}
