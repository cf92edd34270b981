use std::path::{Path, PathBuf};

use openbell_calendar::Calendar;
use openbell_data::{
    BarStore, DataError, ImportOptions, ImportReport, MergeStats, Reason, SessionFilter, Stamp,
    import_files,
};
use openbell_model::{Interval, Timestamp};

use crate::{snapshot, store, sym, ts};

fn options() -> ImportOptions {
    ImportOptions::new(Calendar::builtin("XNYS").unwrap())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn import(store: &BarStore, file: &Path, opts: &ImportOptions) -> Result<ImportReport, DataError> {
    import_files(store, &[file.to_owned()], opts, &mut |_, _, _| {}).map(|mut r| r.remove(0))
}

const GOOD: &str = "ts,symbol,open,high,low,close,volume
2024-01-02T14:30:00Z,SPY,470.5,471,470,470.75,1000
2024-01-02T14:31:00Z,SPY,470.75,471.2,470.6,471.1,800
2024-01-02T14:32:00Z,SPY,471.1,471.3,470.9,471,700
";

#[test]
fn imports_the_shared_format_with_symbol_and_interval_from_the_file() {
    let (dir, store) = store();
    let file = write(dir.path(), "SPY_1m.csv", GOOD);
    let report = import(&store, &file, &options()).unwrap();
    assert_eq!(
        (report.rows, report.imported, report.rejected_total()),
        (3, 3, 0)
    );
    assert_eq!(
        report.merge,
        MergeStats {
            added: 3,
            replaced: 0,
            unchanged: 0
        }
    );
    assert_eq!(report.series, ["SPY 1m"]);
    let bars = store
        .read_vec(sym("SPY"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(bars[1].close().to_string(), "471.1");
}

#[test]
fn every_bad_row_is_reported_with_its_line_and_reason() {
    let (dir, store) = store();
    let text = "ts,open,high,low,close,volume
2024-01-02T14:30:00Z,470.5,471,470,470.75,1000
2024-01-02T14:31:00Z,470.5,471
yesterday,470.5,471,470,470.75,1000
2024-01-02T14:32:00Z,abc,471,470,470.75,1000
2024-01-02T14:33:00Z,NaN,471,470,470.75,1000
2024-01-02T14:34:00Z,470.5,471,470,470.75,-5
2024-01-02T14:35:00Z,470.5,469,470,470.75,1000
2024-01-02T14:36:30Z,470.5,471,470,470.75,1000
2024-01-02T14:37:00Z,470.5,471,470,470.75,1000
2024-01-02T14:37:00Z,470.5,471,470,470.75,1000
2024-01-02T14:36:00Z,470.5,471,470,470.75,1000
2024-01-02T14:38:00Z,470.5,471,470,470.75,1e40
2024-01-02T14:39:00Z,470.5,471,470,470.75,1000
";
    let file = write(dir.path(), "SPY_1m.csv", text);
    let report = import(&store, &file, &options()).unwrap();
    let got: Vec<(u64, Reason)> = report
        .rejections
        .iter()
        .map(|r| (r.line, r.reason))
        .collect();
    assert_eq!(
        got,
        [
            (3, Reason::Malformed),
            (4, Reason::Timestamp),
            (5, Reason::Number),
            (6, Reason::NonFinite),
            (7, Reason::Negative),
            (8, Reason::Ohlc),
            (9, Reason::OffGrid),
            (11, Reason::Duplicate),
            (12, Reason::OutOfOrder),
            (13, Reason::TooLarge),
        ]
    );
    assert_eq!((report.rows, report.imported), (13, 3));
    let first = report.rejections[0].to_string();
    assert!(
        first.starts_with(&format!("{}:3: malformed", file.display())),
        "{first}"
    );
    assert!(
        report.rejections[2].detail.contains("open \"abc\""),
        "{}",
        report.rejections[2].detail
    );
    assert!(
        report.rejections[5]
            .detail
            .contains("high 469 is below max"),
        "{}",
        report.rejections[5].detail
    );
    assert_eq!(report.rejected[&Reason::Duplicate], 1);
}

#[test]
fn strict_imports_write_nothing_when_any_row_is_rejected() {
    let (dir, store) = store();
    let good = write(dir.path(), "SPY_1m.csv", GOOD);
    let bad = write(
        dir.path(),
        "AAPL_1m.csv",
        "ts,open,high,low,close,volume\n2024-01-02T14:30:00Z,1,2,0.5,1,10\n2024-01-02T14:31:00Z,1,0.5,0.5,1,10\n",
    );
    let before = snapshot(store.root());
    let opts = ImportOptions {
        strict: true,
        ..options()
    };
    let err = import_files(&store, &[good, bad.clone()], &opts, &mut |_, _, _| {}).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}:3: ohlc", bad.display())),
        "{text}"
    );
    assert_eq!(snapshot(store.root()), before);
    assert!(store.series().unwrap().is_empty());
}

#[test]
fn importing_a_file_twice_leaves_the_same_store() {
    let (dir, store) = store();
    let file = write(
        dir.path(),
        "SPY_1m.csv",
        &format!("{GOOD}2024-01-02T14:32:00Z,SPY,471.1,471.3,470.9,471,700\n"),
    );
    let first = import(&store, &file, &options()).unwrap();
    assert_eq!(first.rejected[&Reason::Duplicate], 1);
    let before = snapshot(store.root());
    let second = import(&store, &file, &options()).unwrap();
    assert_eq!(
        second.merge,
        MergeStats {
            added: 0,
            replaced: 0,
            unchanged: 3
        }
    );
    assert_eq!(snapshot(store.root()), before);
}

#[test]
fn session_filter_keeps_drops_or_flags_outside_hours() {
    let (dir, store) = store();
    let text = "ts,open,high,low,close,volume
2024-01-02T13:00:00Z,1,1,1,1,1
2024-01-02T14:30:00Z,1,1,1,1,1
2024-01-02T21:00:00Z,1,1,1,1,1
2024-01-06T15:00:00Z,1,1,1,1,1
";
    let file = write(dir.path(), "X_1m.csv", text);
    let count = |session| {
        let (_d, s) = crate::store();
        let report = import(
            &s,
            &file,
            &ImportOptions {
                session,
                ..options()
            },
        )
        .unwrap();
        (
            report.imported,
            report.dropped_outside_session,
            report.extended_kept,
        )
    };
    assert_eq!(count(SessionFilter::Regular), (1, 3, 0));
    assert_eq!(count(SessionFilter::Extended), (3, 1, 2));
    assert_eq!(count(SessionFilter::All), (4, 0, 3));
    drop(store);
}

#[test]
fn close_stamps_naive_times_epochs_and_column_maps() {
    let (dir, store) = store();
    // NinjaTrader-style: close-stamped, naive New York times, no header.
    let text = "20240102 093100;470;471;469;470.5;10\n20240102 093200;470.5;471;470;470.9;11\n"
        .replace(';', ",");
    let file = write(dir.path(), "nt.csv", &text);
    let opts = ImportOptions {
        symbol: Some(sym("SPY")),
        interval: Some(Interval::M1),
        tz: Some(chrono_tz::America::New_York),
        stamp: Stamp::Close,
        ..options()
    };
    let report = import(&store, &file, &opts).unwrap();
    assert_eq!(report.imported, 2, "{:?}", report.rejections);
    let bars = store
        .read_vec(sym("SPY"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(bars[0].ts_event(), ts("2024-01-02T14:30:00Z"));

    let epoch = write(
        dir.path(),
        "ep.csv",
        "Close,Vol,Hi,Lo,Op,When\n470.5,10,471,469,470,1704205860000\n",
    );
    let opts = ImportOptions {
        symbol: Some(sym("QQQ")),
        interval: Some(Interval::M1),
        columns: Some("ts=When,open=Op,high=Hi,low=Lo,close=Close,volume=Vol".into()),
        ..options()
    };
    let report = import(&store, &epoch, &opts).unwrap();
    assert_eq!(report.imported, 1, "{:?}", report.rejections);
    let bars = store
        .read_vec(sym("QQQ"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(bars[0].ts_event(), ts("2024-01-02T14:31:00Z"));
}

#[test]
fn daily_bars_from_dates_land_on_the_open() {
    let (dir, store) = store();
    let text = "Date,Open,High,Low,Close,Volume\n2024-07-03,1,2,0.5,1.5,100\n2024-07-04,1,2,0.5,1.5,100\n2024-07-05,1,2,0.5,1.5,100\n";
    let file = write(dir.path(), "SPY_1d.csv", text);
    let report = import(&store, &file, &options()).unwrap();
    assert_eq!(report.imported, 2);
    assert_eq!(report.rejections[0].reason, Reason::NotTradingDay);
    assert_eq!(report.rejections[0].line, 3);
    let bars = store
        .read_vec(sym("SPY"), Interval::D1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(bars[0].ts_event(), ts("2024-07-03T13:30:00Z"));
}

#[test]
fn parquet_files_import_like_csv() {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    let (dir, store) = store();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("open", DataType::Float64, false),
        Field::new("high", DataType::Float64, false),
        Field::new("low", DataType::Float64, false),
        Field::new("close", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(
                TimestampMillisecondArray::from(vec![1_704_205_800_000, 1_704_205_860_000])
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from(vec![470.5, 470.75])),
            Arc::new(Float64Array::from(vec![471.0, 471.2])),
            Arc::new(Float64Array::from(vec![470.0, 472.0])),
            Arc::new(Float64Array::from(vec![470.75, 471.1])),
            Arc::new(Int64Array::from(vec![1000, 800])),
        ],
    )
    .unwrap();
    let path = dir.path().join("SPY_1m.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let report = import(&store, &path, &options()).unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(
        (report.rejections[0].line, report.rejections[0].reason),
        (2, Reason::Ohlc)
    );
    let bars = store
        .read_vec(sym("SPY"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    assert_eq!(bars[0].open().to_string(), "470.5");
}

#[test]
fn unusable_files_fail_with_the_file_named() {
    let (dir, store) = store();
    let no_interval = write(dir.path(), "bars.csv", GOOD);
    let err = import(&store, &no_interval, &options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bars.csv") && err.contains("--interval"),
        "{err}"
    );
    let no_ts = write(
        dir.path(),
        "SPY_1m.csv",
        "when,open,high,low,close,volume\nx,1,1,1,1,1\n",
    );
    let err = import(&store, &no_ts, &options()).unwrap_err().to_string();
    assert!(
        err.contains("SPY_1m.csv") && err.contains("no ts column"),
        "{err}"
    );
    let missing = dir.path().join("nope_1m.csv");
    assert!(
        import(&store, &missing, &options())
            .unwrap_err()
            .to_string()
            .contains("nope_1m.csv")
    );
}
