//! One partition file: the bars of one symbol and interval in one calendar year (UTC).
//!
//! Schema version 1, all columns required:
//!
//! | column | Parquet type | meaning |
//! |---|---|---|
//! | `ts_event` | INT64, TIMESTAMP(NANOS, UTC) | bar open time |
//! | `open`, `high`, `low`, `close` | INT64 | price × 10^`openbell.price_decimals` |
//! | `volume` | INT64 | volume × 10^`openbell.volume_decimals` |
//!
//! Each file stores its values at the fewest decimals (0 to 9) that hold every value exactly,
//! so integers stay small and compress well, and an INT64 holds any realistic price or volume
//! (a 1e12 volume at up to 6 decimals). The key-value metadata carries `openbell.schema_version`,
//! `openbell.symbol`, `openbell.interval` and the two decimal counts. Rows are in time order with
//! one row group per UTC month (one per file for daily bars), so a date-range read decodes only
//! the row groups whose `ts_event` statistics overlap it.
//!
//! Files are written to a temporary name in the same folder, synced, and renamed over the old
//! file, then the folder is synced: a crash leaves the old file or the new one, never a torn one.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::Datelike;
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol, Timestamp};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;

use crate::DataError;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

const KEY_VERSION: &str = "openbell.schema_version";
const KEY_SYMBOL: &str = "openbell.symbol";
const KEY_INTERVAL: &str = "openbell.interval";
const KEY_PRICE_DECIMALS: &str = "openbell.price_decimals";
const KEY_VOLUME_DECIMALS: &str = "openbell.volume_decimals";

/// Rows decoded per batch when reading.
const BATCH_ROWS: usize = 64 * 1024;

fn schema() -> Arc<Schema> {
    let int = |name| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new(
            "ts_event",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        int("open"),
        int("high"),
        int("low"),
        int("close"),
        int("volume"),
    ]))
}

/// The fewest decimals that represent `raw` (scale 10^9) exactly. Works in `i64` when the value
/// fits, where division by a constant is a multiply rather than a library call.
fn decimals_needed(raw: i128) -> u32 {
    let mut d = 9;
    match i64::try_from(raw) {
        Ok(mut v) => {
            while d > 0 && v % 10 == 0 {
                v /= 10;
                d -= 1;
            }
        }
        Err(_) => {
            let mut v = raw;
            while d > 0 && v % 10 == 0 {
                v /= 10;
                d -= 1;
            }
        }
    }
    d
}

fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// Scales raw units down to `decimals` and checks the result fits an INT64.
fn to_stored(raw: i128, decimals: u32, what: &str, bar: &Bar) -> Result<i64, DataError> {
    let divisor = pow10(9 - decimals);
    let scaled = match i64::try_from(raw) {
        Ok(v) => Ok(v / 10i64.pow(9 - decimals)),
        Err(_) => i64::try_from(raw / divisor),
    };
    scaled.map_err(|_| {
        DataError::Invalid(format!(
            "{} {} at {}: {what} {} is too large to store",
            bar.symbol(),
            bar.interval(),
            bar.ts_event(),
            Quantity::from_raw(raw)
        ))
    })
}

/// Writes `bars` (sorted by `ts_event`, unique, one symbol and interval) to `path` atomically.
pub(crate) fn write(path: &Path, bars: &[Bar]) -> Result<(), DataError> {
    let Some(first) = bars.first() else {
        return Err(DataError::Invalid(format!(
            "{}: no bars to write",
            path.display()
        )));
    };
    let (symbol, interval) = (first.symbol(), first.interval());
    let mut price_decimals = 0;
    let mut volume_decimals = 0;
    for bar in bars {
        if price_decimals < 9 {
            for p in [bar.open(), bar.high(), bar.low(), bar.close()] {
                price_decimals = price_decimals.max(decimals_needed(p.raw()));
            }
        }
        if volume_decimals < 9 {
            volume_decimals = volume_decimals.max(decimals_needed(bar.volume().raw()));
        }
    }
    let metadata = vec![
        KeyValue::new(KEY_VERSION.to_owned(), SCHEMA_VERSION.to_string()),
        KeyValue::new(KEY_SYMBOL.to_owned(), symbol.to_string()),
        KeyValue::new(KEY_INTERVAL.to_owned(), interval.to_string()),
        KeyValue::new(KEY_PRICE_DECIMALS.to_owned(), price_decimals.to_string()),
        KeyValue::new(KEY_VOLUME_DECIMALS.to_owned(), volume_decimals.to_string()),
    ];
    let props = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_dictionary_enabled(false)
        .set_encoding(Encoding::DELTA_BINARY_PACKED)
        .set_column_encoding(ColumnPath::from("ts_event"), Encoding::DELTA_BINARY_PACKED)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(None)
        .set_key_value_metadata(Some(metadata))
        .set_created_by(format!("openbell {}", env!("CARGO_PKG_VERSION")))
        .build();

    let dir = path
        .parent()
        .ok_or_else(|| DataError::Invalid(format!("{} has no folder", path.display())))?;
    std::fs::create_dir_all(dir).map_err(DataError::io("creating", dir))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("bars.parquet");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = File::create(&tmp).map_err(DataError::io("creating", &tmp))?;
        let mut writer =
            ArrowWriter::try_new(file, schema(), Some(props)).map_err(DataError::parquet(&tmp))?;
        for group in row_groups(bars, interval) {
            let batch = to_batch(group, price_decimals, volume_decimals)?;
            writer.write(&batch).map_err(DataError::parquet(&tmp))?;
            writer.flush().map_err(DataError::parquet(&tmp))?;
        }
        let file = writer.into_inner().map_err(DataError::parquet(&tmp))?;
        file.sync_all().map_err(DataError::io("syncing", &tmp))?;
        std::fs::rename(&tmp, path).map_err(DataError::io("renaming into place", path))?;
        // Make the rename durable.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(DataError::io("syncing", dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Splits sorted bars into one slice per UTC month (or one slice for daily bars).
fn row_groups(bars: &[Bar], interval: Interval) -> Vec<&[Bar]> {
    if interval.is_daily() {
        return vec![bars];
    }
    let month = |b: &Bar| {
        let dt = b.ts_event().to_utc();
        (dt.year(), dt.month())
    };
    bars.chunk_by(|a, b| month(a) == month(b)).collect()
}

fn to_batch(
    bars: &[Bar],
    price_decimals: u32,
    volume_decimals: u32,
) -> Result<RecordBatch, DataError> {
    let n = bars.len();
    let mut ts = Vec::with_capacity(n);
    let mut cols: [Vec<i64>; 5] = std::array::from_fn(|_| Vec::with_capacity(n));
    for bar in bars {
        ts.push(bar.ts_event().as_nanos());
        for (col, (p, name)) in cols.iter_mut().zip([
            (bar.open(), "open"),
            (bar.high(), "high"),
            (bar.low(), "low"),
            (bar.close(), "close"),
        ]) {
            col.push(to_stored(p.raw(), price_decimals, name, bar)?);
        }
        cols[4].push(to_stored(
            bar.volume().raw(),
            volume_decimals,
            "volume",
            bar,
        )?);
    }
    let [open, high, low, close, volume] = cols;
    let columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(Int64Array::from(open)),
        Arc::new(Int64Array::from(high)),
        Arc::new(Int64Array::from(low)),
        Arc::new(Int64Array::from(close)),
        Arc::new(Int64Array::from(volume)),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|e| DataError::Invalid(e.to_string()))
}

/// What a partition file's metadata says.
#[derive(Debug, Clone)]
pub(crate) struct FileInfo {
    pub(crate) rows: u64,
    pub(crate) first: Option<Timestamp>,
    pub(crate) last: Option<Timestamp>,
}

fn meta_value<'a>(kv: Option<&'a Vec<KeyValue>>, key: &str) -> Option<&'a str> {
    kv?.iter().find(|k| k.key == key)?.value.as_deref()
}

/// A partition file opened for reading.
pub(crate) struct PartitionReader {
    builder: ParquetRecordBatchReaderBuilder<File>,
    symbol: Symbol,
    interval: Interval,
    price_scale: i64,
    volume_scale: i64,
    path: std::path::PathBuf,
}

impl PartitionReader {
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(DataError::io("opening", path))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(DataError::parquet(path))?;
        let format = |message: String| DataError::Format {
            path: path.to_owned(),
            message,
        };
        let kv = builder.metadata().file_metadata().key_value_metadata();
        let version = meta_value(kv, KEY_VERSION)
            .ok_or_else(|| format("not an openbell bar file (no schema version)".into()))?;
        if version != SCHEMA_VERSION.to_string() {
            return Err(format(format!(
                "schema version {version}; this build reads version {SCHEMA_VERSION}"
            )));
        }
        let symbol = Symbol::parse(meta_value(kv, KEY_SYMBOL).unwrap_or_default())
            .map_err(|e| format(e.to_string()))?;
        let interval = meta_value(kv, KEY_INTERVAL)
            .unwrap_or_default()
            .parse()
            .map_err(|e: openbell_model::ModelError| format(e.to_string()))?;
        let decimals = |key| {
            meta_value(kv, key)
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|d| *d <= 9)
                .ok_or_else(|| format(format!("missing or bad {key}")))
        };
        let price_scale = 10i64.pow(9 - decimals(KEY_PRICE_DECIMALS)?);
        let volume_scale = 10i64.pow(9 - decimals(KEY_VOLUME_DECIMALS)?);
        if builder.schema().fields().len() != 6 {
            return Err(format("expected 6 columns".into()));
        }
        Ok(Self {
            builder,
            symbol,
            interval,
            price_scale,
            volume_scale,
            path: path.to_owned(),
        })
    }

    fn ts_range(&self, group: usize) -> Option<(i64, i64)> {
        match self
            .builder
            .metadata()
            .row_group(group)
            .column(0)
            .statistics()?
        {
            Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
            _ => None,
        }
    }

    /// The row groups whose `ts_event` statistics overlap `[start, end)`.
    pub(crate) fn groups_in(&self, start: Timestamp, end: Timestamp) -> Vec<usize> {
        (0..self.row_group_count())
            .filter(|g| {
                self.ts_range(*g)
                    .is_none_or(|(lo, hi)| hi >= start.as_nanos() && lo < end.as_nanos())
            })
            .collect()
    }

    pub(crate) fn row_group_count(&self) -> usize {
        self.builder.metadata().num_row_groups()
    }

    pub(crate) fn info(&self) -> FileInfo {
        let meta = self.builder.metadata();
        let groups = meta.num_row_groups();
        let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
        let first = (0..groups)
            .find_map(|g| self.ts_range(g))
            .map(|(lo, _)| Timestamp::from_nanos(lo));
        let last = (0..groups)
            .rev()
            .find_map(|g| self.ts_range(g))
            .map(|(_, hi)| Timestamp::from_nanos(hi));
        FileInfo { rows, first, last }
    }

    /// The bars with `start <= ts_event < end`, decoded one batch at a time in time order;
    /// row groups outside the range are not read.
    pub(crate) fn batches(self, start: Timestamp, end: Timestamp) -> Result<Batches, DataError> {
        let groups = self.groups_in(start, end);
        let Self {
            builder,
            symbol,
            interval,
            price_scale,
            volume_scale,
            path,
        } = self;
        let meta = builder.metadata();
        let rows = groups
            .iter()
            .map(|g| usize::try_from(meta.row_group(*g).num_rows()).unwrap_or(0))
            .sum();
        let reader = if groups.is_empty() {
            None
        } else {
            Some(
                builder
                    .with_row_groups(groups)
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(DataError::parquet(&path))?,
            )
        };
        Ok(Batches {
            reader,
            rows,
            symbol,
            interval,
            price_scale,
            volume_scale,
            path,
            start,
            end,
        })
    }
}

/// Decoded batches of one partition file; see [`PartitionReader::batches`].
pub(crate) struct Batches {
    reader: Option<parquet::arrow::arrow_reader::ParquetRecordBatchReader>,
    /// Rows in the row groups read: an upper bound on the bars they give.
    rows: usize,
    symbol: Symbol,
    interval: Interval,
    price_scale: i64,
    volume_scale: i64,
    path: std::path::PathBuf,
    start: Timestamp,
    end: Timestamp,
}

impl Batches {
    /// Rows in the row groups read: an upper bound on the bars they give.
    pub(crate) const fn rows(&self) -> usize {
        self.rows
    }

    /// Decodes the bars of `batch` in range, appending them to `out`.
    fn decode(&self, batch: &RecordBatch, out: &mut Vec<Bar>) -> Result<(), DataError> {
        let bad = |m: &str| DataError::Format {
            path: self.path.clone(),
            message: m.to_owned(),
        };
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(|| bad("ts_event is not a nanosecond timestamp"))?;
        let col = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.values())
                .ok_or_else(|| bad("price and volume columns must be INT64"))
        };
        let (ts, open, high, low, close, volume) =
            (ts.values(), col(1)?, col(2)?, col(3)?, col(4)?, col(5)?);
        let lo = ts.partition_point(|t| *t < self.start.as_nanos());
        let hi = ts.partition_point(|t| *t < self.end.as_nanos());
        // Both factors are 64-bit, so each product is one widening multiply.
        let (ps, vs) = (i128::from(self.price_scale), i128::from(self.volume_scale));
        out.reserve(hi.saturating_sub(lo));
        let rows = ts[lo..hi]
            .iter()
            .zip(&open[lo..hi])
            .zip(&high[lo..hi])
            .zip(&low[lo..hi])
            .zip(&close[lo..hi])
            .zip(&volume[lo..hi]);
        for (((((t, o), h), l), c), v) in rows {
            let ohlcv = Ohlcv {
                open: Price::from_raw(i128::from(*o) * ps),
                high: Price::from_raw(i128::from(*h) * ps),
                low: Price::from_raw(i128::from(*l) * ps),
                close: Price::from_raw(i128::from(*c) * ps),
                volume: Quantity::from_raw(i128::from(*v) * vs),
            };
            match Bar::try_new(self.symbol, self.interval, Timestamp::from_nanos(*t), ohlcv) {
                Ok(bar) => out.push(bar),
                Err(e) => return Err(bad(&format!("corrupt row: {e}"))),
            }
        }
        Ok(())
    }

    /// Decodes the next batch that has bars in range, appending them to `out`; `None` at the
    /// end of the file.
    pub(crate) fn next_into(&mut self, out: &mut Vec<Bar>) -> Option<Result<(), DataError>> {
        loop {
            let batch = match self.reader.as_mut()?.next()? {
                Ok(batch) => batch,
                Err(e) => {
                    self.reader = None;
                    return Some(Err(DataError::Parquet {
                        path: self.path.clone(),
                        message: e.to_string(),
                    }));
                }
            };
            let before = out.len();
            match self.decode(&batch, out) {
                Ok(()) if out.len() == before => {}
                other => return Some(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_needed_counts_significant_fraction_digits() {
        assert_eq!(decimals_needed(167_430_000_000), 2);
        assert_eq!(decimals_needed(5_000_000_000), 0);
        assert_eq!(decimals_needed(1), 9);
        assert_eq!(decimals_needed(0), 0);
        assert_eq!(decimals_needed(-500_000_000), 1);
    }
}
