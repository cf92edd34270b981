//! Config files: a full example parses into the engine config; every kind of mistake names
//! the file, the line and the key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use openbell_calendar::Calendar;
use openbell_config::{ConfigFileError, Resolver, SessionConfig, parse};
use openbell_engine::{
    Commission, LotMethod, Param, ScannerKind, Schedule, Slippage, StrategyRegistry, Universe,
};
use openbell_model::{Interval, Money, Price, Quantity, Symbol};

fn builtin(code: &str) -> Result<Calendar, String> {
    Calendar::builtin(code).map_err(|e| e.to_string())
}

fn load(text: &str) -> Result<SessionConfig, ConfigFileError> {
    let strategies = StrategyRegistry::default();
    parse(
        text,
        "test.toml",
        &Resolver {
            calendar: &builtin,
            custom_scanners: &["mine"],
            strategies: &strategies,
        },
    )
}

const FULL: &str = r#"[session]
name = "momentum"
start = "2024-01-02"
end = "2024-03-28"
exchange = "XNYS"
history_days = 3

[data]
interval = "1m"
derived = ["5m", "15m"]
dir = "/tmp/bars"

[universe]
symbols = ["SPY", "QQQ", "IWM"]

[[scanner]]
name = "liquid"
kind = "top_volume"
pre_session_minutes = 30
top = 2
min_price = 5.0

[[scanner]]
kind = "mine"
every_minutes = 30
top = 1

[[indicator]]
name = "sma"
interval = "5m"
params = { period = 20 }

[[indicator]]
label = "rsi"
name = "rsi"

[strategy]
name = "sma_cross"
fast = 5
slow = 20
qty = 50
interval = "5m"

[broker]
initial_cash = 250000
slippage_bps = 1.5
commission = "per_share"
commission_rate = 0.005
commission_min = 1
commission_max = 10
participation = 0.1
margin = 2
allow_short = true
lots = "lifo"
flatten_at_close = true

[risk]
max_position = 1000
max_gross_exposure = 500000
max_orders_per_day = 50
max_daily_loss = 2500
"#;

#[test]
fn a_full_config_becomes_the_engine_config() {
    let cfg = load(FULL).unwrap();
    assert_eq!(cfg.name.as_deref(), Some("momentum"));
    assert_eq!(
        cfg.data_dir.as_deref(),
        Some(std::path::Path::new("/tmp/bars"))
    );
    assert_eq!(cfg.text, FULL);
    let e = &cfg.engine;
    assert_eq!(e.calendar.code(), "XNYS");
    assert_eq!(e.start.to_string(), "2024-01-02");
    assert_eq!(e.end.to_string(), "2024-03-28");
    assert_eq!(e.history_days, 3);
    assert_eq!(e.base_interval, Interval::M1);
    assert_eq!(e.derived, [Interval::M5, Interval::M15]);
    let symbols: Vec<Symbol> = ["SPY", "QQQ", "IWM"]
        .iter()
        .map(|s| Symbol::parse(s).unwrap())
        .collect();
    assert_eq!(e.universe, Universe::List(symbols));
    assert_eq!(e.scanners.len(), 2);
    assert_eq!(e.scanners[0].label, "liquid");
    assert_eq!(e.scanners[0].kind, ScannerKind::TopVolume);
    assert_eq!(
        e.scanners[0].schedule,
        Schedule::PreSession {
            minutes_before_open: 30
        }
    );
    assert_eq!(e.scanners[0].filters.min_price, Some(5.0));
    assert_eq!(e.scanners[1].kind, ScannerKind::Custom("mine".into()));
    assert_eq!(e.scanners[1].schedule, Schedule::Every { minutes: 30 });
    assert_eq!(e.indicators.len(), 2);
    assert_eq!(e.indicators[0].label, "sma(period=20)@5m");
    assert_eq!(e.indicators[0].interval, Interval::M5);
    assert_eq!(e.indicators[0].params.get("period"), Some(&20.0));
    assert_eq!(e.indicators[1].label, "rsi");
    assert_eq!(e.indicators[1].interval, Interval::M1);

    let s = cfg.strategy.as_ref().unwrap();
    assert_eq!(s.name, "sma_cross");
    assert_eq!(s.params.get("fast"), Some(&Param::Number(5.0)));
    assert_eq!(s.params.get("interval"), Some(&Param::Text("5m".into())));
    let b = &cfg.broker;
    assert_eq!(b.initial_cash, Money::from_units(250_000).unwrap());
    assert_eq!(b.slippage, Slippage::CentiBps(150));
    assert_eq!(
        b.commission,
        Commission::PerShare {
            rate: "0.005".parse::<Price>().unwrap(),
            min: Money::from_units(1).unwrap(),
            max: Some(Money::from_units(10).unwrap()),
        }
    );
    assert_eq!(b.participation, Some(0.1));
    assert!((b.margin - 2.0).abs() < f64::EPSILON);
    assert!(b.allow_short && b.flatten_at_close);
    assert_eq!(b.lots, LotMethod::Lifo);
    let r = &cfg.risk;
    assert_eq!(r.max_position, Some(Quantity::from_units(1000).unwrap()));
    assert_eq!(
        r.max_gross_exposure,
        Some(Money::from_units(500_000).unwrap())
    );
    assert_eq!(r.max_orders_per_day, Some(50));
    assert_eq!(r.max_daily_loss, Some(Money::from_units(2500).unwrap()));
}

#[test]
fn defaults_fill_what_is_left_out() {
    let cfg =
        load("[session]\nstart = \"2024-01-02\"\nend = \"2024-01-05\"\n[universe]\nall = true\n")
            .unwrap();
    assert_eq!(cfg.engine.calendar.code(), "XNYS");
    assert_eq!(cfg.engine.base_interval, Interval::M1);
    assert!(cfg.engine.derived.is_empty());
    assert_eq!(cfg.engine.history_days, 1);
    assert_eq!(cfg.engine.universe, Universe::All);
    assert!(cfg.name.is_none() && cfg.data_dir.is_none());
}

/// Replaces the first occurrence of `from` in the full example and returns the error.
fn broken(from: &str, to: &str) -> ConfigFileError {
    assert!(FULL.contains(from), "{from}");
    load(&FULL.replacen(from, to, 1)).unwrap_err()
}

fn line_of(needle: &str, text: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn mistakes_name_the_file_line_and_key() {
    // (replace, with, expected key, line containing, message part)
    let cases: &[(&str, &str, Option<&str>, &str, &str)] = &[
        (
            "history_days = 3",
            "history_dayz = 3",
            None,
            "history_dayz",
            "history_dayz",
        ),
        ("[data]", "[dataa]", None, "[dataa]", "dataa"),
        (
            "start = \"2024-01-02\"",
            "start = \"2024-13-02\"",
            Some("session.start"),
            "2024-13-02",
            "not a date",
        ),
        (
            "exchange = \"XNYS\"",
            "exchange = \"MOON\"",
            Some("session.exchange"),
            "MOON",
            "MOON",
        ),
        (
            "derived = [\"5m\", \"15m\"]",
            "derived = [\"5m\", \"7x\"]",
            Some("data.derived[1]"),
            "7x",
            "not an interval",
        ),
        (
            "derived = [\"5m\", \"15m\"]",
            "derived = [\"5m\", \"30s\"]",
            Some("data.derived[1]"),
            "30s",
            "not a multiple",
        ),
        (
            "\"QQQ\", \"IWM\"]",
            "\"QQQ\", \"SPY\"]",
            Some("universe.symbols[2]"),
            "symbols =",
            "listed twice",
        ),
        (
            "kind = \"top_volume\"",
            "kind = \"top_volumes\"",
            Some("scanner[0].kind"),
            "top_volumes",
            "unknown scanner",
        ),
        (
            "every_minutes = 30",
            "every_minutes = 0",
            Some("scanner[1].every_minutes"),
            "every_minutes = 0",
            "at least 1",
        ),
        (
            "interval = \"5m\"\nparams",
            "interval = \"1h\"\nparams",
            Some("indicator[0].interval"),
            "interval = \"1h\"",
            "neither the base interval",
        ),
        (
            "label = \"rsi\"\nname = \"rsi\"",
            "label = \"rsi\"\nname = \"kama\"",
            Some("indicator[1]"),
            "name = \"kama\"",
            "kama",
        ),
        (
            "params = { period = 20 }",
            "params = { period = \"twenty\" }",
            None,
            "twenty",
            "",
        ),
        (
            "end = \"2024-03-28\"",
            "end = \"2023-03-28\"",
            Some("session.start"),
            "start =",
            "after",
        ),
    ];
    let trading: &[(&str, &str, Option<&str>, &str, &str)] = &[
        (
            "name = \"sma_cross\"",
            "name = \"sma_crosss\"",
            Some("strategy.name"),
            "[strategy]",
            "unknown strategy",
        ),
        (
            "fast = 5",
            "fast = 50",
            Some("strategy"),
            "[strategy]",
            "shorter than slow",
        ),
        (
            "fast = 5",
            "fastest = 5",
            Some("strategy"),
            "[strategy]",
            "unknown parameter",
        ),
        (
            "commission = \"per_share\"",
            "commission = \"per_trade\"",
            Some("broker.commission"),
            "per_trade",
            "not none",
        ),
        (
            "participation = 0.1",
            "participation = 1.5",
            Some("broker.participation"),
            "participation",
            "not in (0, 1]",
        ),
        (
            "lots = \"lifo\"",
            "lots = \"hifo\"",
            Some("broker.lots"),
            "hifo",
            "fifo",
        ),
        (
            "max_daily_loss = 2500",
            "max_daily_loss = -1",
            Some("risk.max_daily_loss"),
            "max_daily_loss",
            "positive",
        ),
        ("margin = 2", "leverage = 2", None, "leverage", "leverage"),
    ];
    for (from, to, key, line_has, message_has) in cases.iter().chain(trading) {
        let text = FULL.replacen(from, to, 1);
        let err = broken(from, to);
        let shown = err.to_string();
        assert_eq!(err.origin, "test.toml");
        assert_eq!(err.key.as_deref(), *key, "{shown}");
        let expected_line = line_of(line_has, &text);
        assert_eq!(err.line, Some(expected_line), "{shown}");
        assert!(shown.contains(message_has), "{shown}");
        assert!(
            shown.starts_with(&format!("test.toml:{expected_line}: ")),
            "{shown}"
        );
    }
}

#[test]
fn a_scanner_needs_exactly_one_schedule_and_a_universe_one_form() {
    let err = broken(
        "every_minutes = 30",
        "every_minutes = 30\npre_session_minutes = 5",
    );
    assert_eq!(err.key.as_deref(), Some("scanner[1]"));
    assert!(err.to_string().contains("exactly one"), "{err}");
    let err = broken("symbols = [", "all = true\nsymbols = [");
    assert_eq!(err.key.as_deref(), Some("universe.all"));
    let err =
        load("[session]\nstart = \"2024-01-02\"\nend = \"2024-01-05\"\n[universe]\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("universe"));
    assert_eq!(err.line, Some(4), "{err}");
}

#[test]
fn broken_toml_names_its_line() {
    let err = load("[session]\nstart = \"2024-01-02\nend = 1\n").unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    let err = load("[universe]\nall = true\n").unwrap_err();
    assert!(err.to_string().contains("session"), "{err}");
}
