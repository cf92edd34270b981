//! Indicator values against TA-Lib on real SPY minute bars. The reference file
//! (`tests/fixtures/spy_1m_reference.csv`) was produced by TA-Lib 0.8.2 with
//! `tests/fixtures/generate_talib.py`; these tests need no Python.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use openbell_calendar::Calendar;
use openbell_indicators::{Candle, create};
use openbell_model::Timestamp;
use openbell_testkit::{read_real_csv, real_data_dir};

/// The regular-hours SPY bars as candles, in order.
fn spy_candles(dir: &Path) -> Vec<Candle> {
    let cal = Calendar::builtin("XNYS").unwrap();
    let mut out = Vec::new();
    for row in read_real_csv(dir, "SPY_1m.csv") {
        let ts = Timestamp::parse(&row.ts).unwrap();
        let Some(d) = cal.trading_day_at(ts).unwrap() else {
            continue;
        };
        let session = d.open;
        let f: Vec<f64> = row.fields.iter().map(|v| v.parse().unwrap()).collect();
        out.push(Candle {
            ts_event: ts,
            session: session.as_nanos(),
            open: f[0],
            high: f[1],
            low: f[2],
            close: f[3],
            volume: f[4],
        });
    }
    out
}

struct Reference {
    columns: Vec<String>,
    rows: BTreeMap<Timestamp, Vec<Option<f64>>>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spy_1m_reference.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let columns: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .skip(1)
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|l| {
            let mut cells = l.split(',');
            let ts = Timestamp::parse(cells.next().unwrap()).unwrap();
            (
                ts,
                cells
                    .map(|c| (!c.is_empty()).then(|| c.parse().unwrap()))
                    .collect(),
            )
        })
        .collect();
    Reference { columns, rows }
}

/// An indicator, its parameters, and the reference columns of its outputs in order.
type Case = (
    &'static str,
    &'static [(&'static str, f64)],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    ("sma", &[("period", 20.0)], &["sma_20"]),
    ("ema", &[("period", 20.0)], &["ema_20"]),
    ("wma", &[("period", 20.0)], &["wma_20"]),
    ("rsi", &[("period", 14.0)], &["rsi_14"]),
    ("macd", &[], &["macd", "macd_signal", "macd_hist"]),
    (
        "bbands",
        &[("period", 20.0), ("k", 2.0)],
        &["bb_upper", "bb_middle", "bb_lower"],
    ),
    ("atr", &[("period", 14.0)], &["atr_14"]),
    (
        "stoch",
        &[("k", 14.0), ("smooth", 3.0), ("d", 3.0)],
        &["stoch_k", "stoch_d"],
    ),
    ("obv", &[], &["obv"]),
    ("high_low", &[("period", 20.0)], &["high_20", "low_20"]),
    ("stddev", &[("period", 20.0)], &["stddev_20"]),
    ("roc", &[("period", 10.0)], &["roc_10"]),
    ("vwap", &[], &["vwap"]),
];

/// Agreement to 1e-9 relative. Relative error means nothing at zero (a stochastic whose close
/// is the low is 0, which both sides reach with ~1e-13 of running-sum residue), so below a
/// magnitude of 0.001 the bound is 1e-12 absolute.
fn close_enough(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= 1e-9 * ours.abs().max(theirs.abs()).max(1e-3)
}

#[test]
fn every_indicator_matches_talib_on_spy_minutes() {
    let Some(dir) = real_data_dir("indicators: TA-Lib reference on SPY_1m") else {
        return;
    };
    let candles = spy_candles(&dir);
    let reference = reference();
    assert_eq!(candles.len(), 19_500);
    for (name, params, columns) in CASES {
        let params: BTreeMap<String, f64> =
            params.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        let mut indicator = create(name, &params).unwrap();
        assert_eq!(indicator.output_names().len(), columns.len(), "{name}");
        let idx: Vec<usize> = columns
            .iter()
            .map(|c| reference.columns.iter().position(|r| r == c).unwrap())
            .collect();
        let (mut compared, mut warm) = (0, 0);
        for (i, candle) in candles.iter().enumerate() {
            let out = indicator.update(candle);
            if out.is_none() {
                assert!(
                    i + 1 < indicator.warmup(),
                    "{name}: no value at bar {i} after warm-up {}",
                    indicator.warmup()
                );
            } else {
                warm += 1;
            }
            let Some(expected) = reference.rows.get(&candle.ts_event) else {
                continue;
            };
            for (k, col) in idx.iter().enumerate() {
                match (out.as_ref().map(|o| o.as_slice()[k]), expected[*col]) {
                    (None, None) => {}
                    (Some(ours), Some(theirs)) => {
                        assert!(
                            close_enough(ours, theirs),
                            "{name}.{} at {} (bar {i}): ours {ours:e}, TA-Lib {theirs:e}",
                            columns[k],
                            candle.ts_event
                        );
                        compared += 1;
                    }
                    (ours, theirs) => panic!(
                        "{name}.{} at {} (bar {i}): ours {ours:?}, TA-Lib {theirs:?}",
                        columns[k], candle.ts_event
                    ),
                }
            }
        }
        assert!(
            compared > 3_800 * columns.len(),
            "{name}: only {compared} values compared"
        );
        assert_eq!(
            warm + indicator.warmup() - 1,
            candles.len(),
            "{name}: first value after {} bars",
            indicator.warmup()
        );
    }
}
