//! The engine over multi-day runs on synthetic bars.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod custom_scanner;
mod lifecycle;
mod real_sma_cross;
mod scanning;
mod strategies;
mod streaming;
mod trading;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openbell_calendar::Calendar;
use openbell_engine::{EngineConfig, IndicatorSpec, MemorySource, Mode, Universe};
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol};

pub(crate) fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

pub(crate) fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub(crate) fn xnys() -> Calendar {
    Calendar::builtin("XNYS").unwrap()
}

/// 1m bars for `symbol` on every XNYS slot from `from` to `to`, skipping slots where
/// `skip(day_index, slot_index)` is true. Prices walk deterministically.
pub(crate) fn minute_bars(
    symbol: &str,
    from: &str,
    to: &str,
    skip: impl Fn(usize, usize) -> bool,
) -> Vec<Bar> {
    let seed: i128 = symbol.bytes().map(i128::from).sum();
    let mut cents: i128 = 10_000 + seed * 7;
    let mut out = Vec::new();
    for (d, day) in xnys()
        .trading_days(date(from), date(to))
        .unwrap()
        .iter()
        .enumerate()
    {
        for (i, slot) in day.bar_opens(Interval::M1).into_iter().enumerate() {
            let step = ((i as i128 * 7 + d as i128 * 13 + seed) % 11) - 5;
            cents = (cents + step).max(100);
            if skip(d, i) {
                continue;
            }
            let c = Price::from_raw(cents * 10_000_000);
            let ohlcv = Ohlcv {
                open: Price::from_raw((cents - step) * 10_000_000),
                high: Price::from_raw((cents.max(cents - step) + 3) * 10_000_000),
                low: Price::from_raw((cents.min(cents - step) - 3) * 10_000_000),
                close: c,
                volume: Quantity::from_units(100 + (i as i128 % 17) * 10).unwrap(),
            };
            out.push(Bar::try_new(sym(symbol), Interval::M1, slot, ohlcv).unwrap());
        }
    }
    out
}

pub(crate) fn spec(
    label: &str,
    name: &str,
    interval: Interval,
    params: &[(&str, f64)],
) -> IndicatorSpec {
    IndicatorSpec {
        label: label.to_owned(),
        name: name.to_owned(),
        interval,
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub(crate) fn config(universe: &[&str], from: &str, to: &str) -> EngineConfig {
    EngineConfig {
        calendar: xnys(),
        start: date(from),
        end: date(to),
        base_interval: Interval::M1,
        derived: vec![Interval::M5, Interval::M15],
        universe: Universe::List(universe.iter().map(|s| sym(s)).collect()),
        scanners: vec![],
        indicators: vec![
            spec("sma_20", "sma", Interval::M1, &[("period", 20.0)]),
            spec("ema_20", "ema", Interval::M1, &[("period", 20.0)]),
            spec("rsi_14", "rsi", Interval::M5, &[]),
        ],
        history_days: 2,
        mode: Mode::DataDriven,
    }
}

/// Three symbols from 2024-06-26 (history) to 2024-07-09; AAA misses a few minutes.
pub(crate) fn source() -> MemorySource {
    let mut source = MemorySource::new();
    source.add(minute_bars("AAA", "2024-06-26", "2024-07-09", |d, i| {
        d == 4 && (100..110).contains(&i)
    }));
    source.add(minute_bars("BBB", "2024-06-26", "2024-07-09", |_, _| false));
    source.add(minute_bars("CCC", "2024-06-26", "2024-07-09", |_, i| {
        i % 97 == 0
    }));
    source
}
