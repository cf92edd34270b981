use openbell_data::{DataError, MergeStats};
use openbell_model::{Interval, Timestamp};

use crate::{bar, minutes, snapshot, store, sym, ts};

#[test]
fn round_trip_keeps_every_value_exactly() {
    let (_dir, store) = store();
    let bars = vec![
        bar(
            "ETHBTC",
            Interval::M5,
            ts("2018-01-10T04:55:00Z"),
            "0.09912345",
            "4994.54491815",
        ),
        bar(
            "ETHBTC",
            Interval::M5,
            ts("2018-01-10T05:00:00Z"),
            "0.1",
            "0.000000001",
        ),
        bar(
            "ETHBTC",
            Interval::M5,
            ts("2018-01-10T05:05:00Z"),
            "1000000",
            "9000000000",
        ),
    ];
    let stats = store.write("CRYPTO", &bars).unwrap();
    assert_eq!(
        stats,
        MergeStats {
            added: 3,
            replaced: 0,
            unchanged: 0
        }
    );
    let back = store
        .read_vec(sym("ETHBTC"), Interval::M5, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(back, bars);
}

#[test]
fn values_an_int64_cannot_hold_are_refused_by_name() {
    let (_dir, store) = store();
    // 1e12 needs 0 decimals and 1e-9 needs 9: together they do not fit one INT64 column.
    let bars = vec![
        bar(
            "X",
            Interval::M1,
            ts("2024-01-02T14:30:00Z"),
            "1",
            "0.000000001",
        ),
        bar(
            "X",
            Interval::M1,
            ts("2024-01-02T14:31:00Z"),
            "1",
            "1000000000000",
        ),
    ];
    let err = store.write("XNYS", &bars).unwrap_err().to_string();
    assert!(
        err.contains("X 1m at 2024-01-02T14:31:00Z: volume 1000000000000 is too large"),
        "{err}"
    );
    assert!(store.series().unwrap().is_empty());
    // On its own, a 1e12 volume stores fine.
    store.write("XNYS", &bars[1..]).unwrap();
    let back = store
        .read_vec(sym("X"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(back, &bars[1..]);
}

#[test]
fn reads_are_half_open_ordered_and_span_years() {
    let (_dir, store) = store();
    let mut bars = minutes("SPY", ts("2023-12-29T20:55:00Z"), 3);
    bars.extend(minutes("SPY", ts("2024-01-02T14:30:00Z"), 3));
    store.write("XNYS", &bars).unwrap();
    let got = store
        .read_vec(
            sym("SPY"),
            Interval::M1,
            ts("2023-12-29T20:56:00Z"),
            ts("2024-01-02T14:31:00Z"),
        )
        .unwrap();
    let stamps: Vec<String> = got.iter().map(|b| b.ts_event().to_string()).collect();
    assert_eq!(
        stamps,
        [
            "2023-12-29T20:56:00Z",
            "2023-12-29T20:57:00Z",
            "2024-01-02T14:30:00Z"
        ]
    );
}

#[test]
fn a_range_read_touches_only_its_year_and_month() {
    let (_dir, store) = store();
    let mut bars = Vec::new();
    for year in [2023, 2024] {
        for month in 1..=12 {
            bars.extend(minutes(
                "SPY",
                ts(&format!("{year}-{month:02}-10T15:00:00Z")),
                5,
            ));
        }
    }
    store.write("XNYS", &bars).unwrap();
    let plan = store
        .read_plan(
            sym("SPY"),
            Interval::M1,
            ts("2024-03-01T00:00:00Z"),
            ts("2024-04-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(plan[0].path.ends_with("2024.parquet"));
    assert_eq!(
        (plan[0].row_groups.clone(), plan[0].total_row_groups),
        (vec![2], 12)
    );
    let got = store
        .read_vec(
            sym("SPY"),
            Interval::M1,
            ts("2024-03-01T00:00:00Z"),
            ts("2024-04-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(got.len(), 5);
}

#[test]
fn writing_the_same_bars_twice_changes_nothing() {
    let (dir, store) = store();
    let bars = minutes("SPY", ts("2024-01-02T14:30:00Z"), 390);
    store.write("XNYS", &bars).unwrap();
    let before = snapshot(dir.path());
    let stats = store.write("XNYS", &bars).unwrap();
    assert_eq!(
        stats,
        MergeStats {
            added: 0,
            replaced: 0,
            unchanged: 390
        }
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn overlapping_writes_merge_and_newer_values_win() {
    let (_dir, store) = store();
    let all = minutes("SPY", ts("2024-01-02T14:30:00Z"), 15);
    store.write("XNYS", &all[..10]).unwrap();
    let mut newer = all[5..].to_vec();
    newer[0] = bar("SPY", Interval::M1, newer[0].ts_event(), "123.45", "7");
    let stats = store.write("XNYS", &newer).unwrap();
    assert_eq!(
        stats,
        MergeStats {
            added: 5,
            replaced: 1,
            unchanged: 4
        }
    );
    let all = store
        .read_vec(sym("SPY"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(all.len(), 15);
    assert_eq!(all[5].close().to_string(), "123.45");
}

#[test]
fn bad_writes_change_nothing_and_leave_no_temporary_files() {
    let (dir, store) = store();
    store
        .write("XNYS", &minutes("SPY", ts("2024-01-02T14:30:00Z"), 5))
        .unwrap();
    let before = snapshot(dir.path());
    let mut unordered = minutes("SPY", ts("2024-01-03T14:30:00Z"), 3);
    unordered.swap(0, 2);
    assert!(matches!(
        store.write("XNYS", &unordered),
        Err(DataError::Invalid(_))
    ));
    let err = store
        .write("CRYPTO", &minutes("SPY", ts("2024-01-03T14:30:00Z"), 3))
        .unwrap_err();
    assert!(
        err.to_string().contains("stored on the XNYS calendar"),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()), before);
    assert!(
        before.iter().all(|(name, _)| !name.contains(".tmp")),
        "{:?}",
        before.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
}

#[test]
fn a_leftover_temporary_file_from_a_crash_is_ignored() {
    let (_dir, store) = store();
    let bars = minutes("SPY", ts("2024-01-02T14:30:00Z"), 5);
    store.write("XNYS", &bars).unwrap();
    let series = store.root().join("bars/1m/SPY");
    std::fs::write(series.join(".2024.parquet.tmp-999"), b"PAR1 torn").unwrap();
    assert_eq!(
        store
            .read_vec(sym("SPY"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
            .unwrap(),
        bars
    );
}

#[test]
fn foreign_files_are_refused_by_name() {
    let (_dir, store) = store();
    store
        .write("XNYS", &minutes("SPY", ts("2024-01-02T14:30:00Z"), 5))
        .unwrap();
    let bad = store.root().join("bars/1m/SPY/2025.parquet");
    std::fs::write(&bad, b"not parquet").unwrap();
    let err = store
        .read_vec(sym("SPY"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap_err();
    assert!(err.to_string().contains("2025.parquet"), "{err}");
}

#[test]
fn symbols_cannot_escape_their_folder() {
    let (dir, store) = store();
    for name in ["BRK.B", "EUR/USD", "..", "../X"] {
        store
            .write("CRYPTO", &minutes(name, ts("2024-01-02T14:30:00Z"), 2))
            .unwrap();
    }
    let root = store.root().canonicalize().unwrap();
    for (file, _) in snapshot(dir.path()) {
        let path = dir.path().join(&file).canonicalize().unwrap();
        assert!(path.starts_with(&root), "{file} escaped the store");
    }
    let listed: Vec<String> = store
        .series()
        .unwrap()
        .iter()
        .map(|s| s.symbol.to_string())
        .collect();
    assert_eq!(listed, ["..", "../X", "BRK.B", "EUR/USD"]);
}

#[test]
fn series_listing_has_ranges_counts_and_sizes() {
    let (_dir, store) = store();
    store
        .write("XNYS", &minutes("SPY", ts("2023-12-29T20:00:00Z"), 10))
        .unwrap();
    store
        .write("XNYS", &minutes("SPY", ts("2024-01-02T14:30:00Z"), 20))
        .unwrap();
    store
        .write("XNYS", &minutes("AAPL", ts("2024-01-02T14:30:00Z"), 7))
        .unwrap();
    let series = store.series().unwrap();
    assert_eq!(series.len(), 2);
    let spy = &series[1];
    assert_eq!(
        (spy.symbol.as_str(), spy.bars, spy.exchange.as_str()),
        ("SPY", 30, "XNYS")
    );
    assert_eq!(spy.first, Some(ts("2023-12-29T20:00:00Z")));
    assert_eq!(spy.last, Some(ts("2024-01-02T14:49:00Z")));
    assert!(spy.bytes > 0);
}

#[test]
fn symbols_of_an_interval_are_the_listed_series_of_that_interval() {
    let (_dir, store) = store();
    assert!(store.symbols(Interval::M1).unwrap().is_empty());
    for name in ["SPY", "AAPL", "BRK.B"] {
        store
            .write("XNYS", &minutes(name, ts("2024-01-02T14:30:00Z"), 3))
            .unwrap();
    }
    store
        .write(
            "XNYS",
            &[bar(
                "QQQ",
                Interval::M5,
                ts("2024-01-02T14:30:00Z"),
                "400",
                "10",
            )],
        )
        .unwrap();
    for interval in [Interval::M1, Interval::M5, Interval::D1] {
        let listed: Vec<_> = store
            .series()
            .unwrap()
            .into_iter()
            .filter(|s| s.interval == interval)
            .map(|s| s.symbol)
            .collect();
        assert_eq!(store.symbols(interval).unwrap(), listed, "{interval}");
    }
    assert_eq!(
        store.symbols(Interval::M1).unwrap(),
        [sym("AAPL"), sym("BRK.B"), sym("SPY")]
    );
}

#[test]
fn fingerprints_follow_the_bars() {
    let (_a, one) = store();
    let (_b, two) = store();
    let bars = minutes("SPY", ts("2024-01-02T14:30:00Z"), 50);
    one.write("XNYS", &bars).unwrap();
    two.write("XNYS", &bars[..25]).unwrap();
    two.write("XNYS", &bars[25..]).unwrap();
    let (start, end) = (Timestamp::MIN, Timestamp::MAX);
    let f1 = one
        .fingerprint(sym("SPY"), Interval::M1, start, end)
        .unwrap();
    let f2 = two
        .fingerprint(sym("SPY"), Interval::M1, start, end)
        .unwrap();
    assert_eq!(f1, f2);
    assert_eq!(f1.bars, 50);
    assert!(f1.digest.starts_with("sha256:") && f1.digest.len() == 7 + 64);
    let mut changed = bars[10];
    changed = bar("SPY", Interval::M1, changed.ts_event(), "1.23", "100");
    two.write("XNYS", &[changed]).unwrap();
    assert_ne!(
        two.fingerprint(sym("SPY"), Interval::M1, start, end)
            .unwrap(),
        f1
    );
    let part = one
        .fingerprint(sym("SPY"), Interval::M1, start, bars[10].ts_event())
        .unwrap();
    assert_eq!(part.bars, 10);
    assert_ne!(part.digest, f1.digest);
}
