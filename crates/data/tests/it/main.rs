//! The bar store, imports, resampling, the quality ledger and sample data, through the public
//! API, on temporary stores and on the shared real data.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod generate;
mod import;
mod real;
mod store;

use std::path::Path;

use openbell_data::BarStore;
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol, Timestamp};

pub(crate) fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

pub(crate) fn sym(text: &str) -> Symbol {
    Symbol::parse(text).unwrap()
}

pub(crate) fn bar(
    symbol: &str,
    interval: Interval,
    at: Timestamp,
    close: &str,
    volume: &str,
) -> Bar {
    let c: Price = close.parse().unwrap();
    let ohlcv = Ohlcv {
        open: c,
        high: Price::from_raw(c.raw() + 10_000_000),
        low: Price::from_raw(c.raw() - 10_000_000),
        close: c,
        volume: volume.parse::<Quantity>().unwrap(),
    };
    Bar::try_new(sym(symbol), interval, at, ohlcv).unwrap()
}

/// `n` one-minute bars from `start`, closes rising by a cent.
pub(crate) fn minutes(symbol: &str, start: Timestamp, n: i64) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let at = start.checked_add_nanos(i * 60_000_000_000).unwrap();
            let close = format!("{}.{:02}", 100 + i / 100, i % 100);
            bar(symbol, Interval::M1, at, &close, "100")
        })
        .collect()
}

pub(crate) fn store() -> (tempfile::TempDir, BarStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::open(dir.path().join("data")).unwrap();
    (dir, store)
}

/// Every file under `dir` with its bytes, for byte-for-byte comparisons.
pub(crate) fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.ends_with(".lock") {
                out.push((
                    path.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}
