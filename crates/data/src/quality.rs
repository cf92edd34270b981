//! The quality ledger: for each symbol × interval × trading day, how many bars the calendar
//! expects, how many are stored, which ranges are missing, and what imports dropped.
//!
//! Expected, present and missing are computed from the calendar and the stored bars whenever
//! they are asked for, so they always describe the store as it is. What imports saw but did not
//! store (duplicates, invalid rows, extended-hours bars) is recorded per source file, keyed by
//! the file's SHA-256, in `imports.json`: importing the same file again replaces its record
//! instead of counting twice. Gaps are reported, never filled.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openbell_calendar::Calendar;
use openbell_model::{Interval, Symbol, Timestamp};
use serde::{Deserialize, Serialize};

use crate::store::{read_json, write_json};
use crate::{BarStore, DataError};

/// Rows an import saw for one day without storing them as regular bars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// Rows dropped because they repeated a timestamp.
    pub duplicates: u64,
    /// Rows rejected as invalid.
    pub invalid: u64,
    /// Bars outside regular hours (kept or dropped, as the session filter said).
    pub extended: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ImportRecord {
    file: String,
    days: BTreeMap<NaiveDate, DayCounts>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ImportLog {
    /// By source SHA-256.
    sources: BTreeMap<String, ImportRecord>,
}

/// Records what one import of one file saw for a series, replacing any earlier record of the
/// same file content.
pub(crate) fn record_import(
    store: &BarStore,
    symbol: Symbol,
    interval: Interval,
    source: &str,
    file: &str,
    days: BTreeMap<NaiveDate, DayCounts>,
) -> Result<(), DataError> {
    let _lock = store.lock(symbol, interval)?;
    let path = store.series_dir(symbol, interval).join("imports.json");
    let mut log: ImportLog = read_log(&path)?;
    log.sources.insert(
        source.to_owned(),
        ImportRecord {
            file: file.to_owned(),
            days,
        },
    );
    write_json(&path, &log)
}

fn read_log(path: &std::path::Path) -> Result<ImportLog, DataError> {
    Ok(read_json(path)?.unwrap_or_default())
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayQuality {
    /// The trading day.
    pub date: NaiveDate,
    /// True on an early close.
    pub early_close: bool,
    /// Bars the calendar expects in regular hours (390 on a full XNYS day at 1m, 210 on a
    /// 13:00 early close).
    pub expected: u32,
    /// Expected bars that are stored.
    pub present: u32,
    /// Runs of missing bars as `[start, end)`: the first missing bar's open to the close of the
    /// last missing one.
    pub missing: Vec<(Timestamp, Timestamp)>,
    /// Rows imports dropped as duplicates.
    pub duplicates: u64,
    /// Rows imports rejected as invalid.
    pub invalid: u64,
    /// Extended-hours bars imports saw.
    pub extended: u64,
}

impl DayQuality {
    /// `present / expected` as a percentage (100 when nothing is expected).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn quality_pct(&self) -> f64 {
        if self.expected == 0 {
            100.0
        } else {
            f64::from(self.present) * 100.0 / f64::from(self.expected)
        }
    }
}

/// The ledger of a series for `from..=to` (dates), or for the whole stored range when either
/// bound is `None`. Every trading day in the range gets a row, including days with no bars.
///
/// # Errors
/// [`DataError::Invalid`] for an unknown series or a calendar other than the one the series
/// was stored with; calendar, IO and format errors.
pub fn ledger(
    store: &BarStore,
    calendar: &Calendar,
    symbol: Symbol,
    interval: Interval,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<DayQuality>, DataError> {
    let exchange = store.exchange(symbol, interval)?.ok_or_else(|| {
        DataError::Invalid(format!(
            "no {symbol} {interval} bars in {}",
            store.root().display()
        ))
    })?;
    if exchange != calendar.code() {
        return Err(DataError::Invalid(format!(
            "{symbol} {interval} is stored on the {exchange} calendar, not {}",
            calendar.code()
        )));
    }
    let tz = calendar.timezone();
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (f, t) => {
            let info = store
                .series()?
                .into_iter()
                .find(|s| s.symbol == symbol && s.interval == interval)
                .ok_or_else(|| DataError::Invalid(format!("no {symbol} {interval} bars")))?;
            let first = info.first.map_or(Timestamp::EPOCH, |t| t).date_in(tz);
            let last = info.last.map_or(Timestamp::EPOCH, |t| t).date_in(tz);
            (f.unwrap_or(first), t.unwrap_or(last))
        }
    };
    let days = calendar.trading_days(from, to)?;
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let bars = store.read_vec(symbol, interval, first.open, last.close)?;
    let log = read_log(&store.series_dir(symbol, interval).join("imports.json"))?;
    let mut counts: BTreeMap<NaiveDate, DayCounts> = BTreeMap::new();
    for record in log.sources.values() {
        for (date, c) in &record.days {
            let total = counts.entry(*date).or_default();
            total.duplicates += c.duplicates;
            total.invalid += c.invalid;
            total.extended += c.extended;
        }
    }
    let mut out = Vec::with_capacity(days.len());
    let mut cursor = 0;
    for day in &days {
        let start = cursor + bars[cursor..].partition_point(|b| b.ts_event() < day.open);
        let end = start + bars[start..].partition_point(|b| b.ts_event() < day.close);
        cursor = end;
        let (expected, present, missing) = day.coverage(interval, &bars[start..end]);
        let c = counts.get(&day.date).copied().unwrap_or_default();
        out.push(DayQuality {
            date: day.date,
            early_close: day.early_close,
            expected,
            present,
            missing,
            duplicates: c.duplicates,
            invalid: c.invalid,
            extended: c.extended,
        });
    }
    Ok(out)
}
