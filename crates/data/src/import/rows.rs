//! Reading import files into raw rows: CSV (with or without a header) and Parquet.
//!
//! Rows come out with their line number (CSV) or row number (Parquet, 1-based), every field
//! parsed or carrying the reason it could not be. Validation happens in the caller.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use arrow_array::{
    Array, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use chrono::NaiveDate;
use chrono_tz::Tz;
use openbell_model::Timestamp;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use super::Reason;
use super::columns::{self, Columns, FIELDS};
use super::timestamps::{self, TsValue};
use crate::DataError;
use crate::decimal::{self, DecimalError, Parsed};

/// A field's failure: the reason and a message naming field and value.
pub(crate) type FieldError = (Reason, String);

/// One input row before validation.
#[derive(Debug, Clone)]
pub(crate) struct RawRow {
    pub(crate) line: u64,
    pub(crate) symbol: Option<String>,
    pub(crate) ts: Result<TsValue, FieldError>,
    pub(crate) values: [Result<Parsed, FieldError>; 5],
}

/// What the reader tells its caller. Events go straight to a callback and are never stored,
/// so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Event {
    Row(RawRow),
    /// A record that could not be split into fields.
    Malformed {
        line: u64,
        detail: String,
    },
    /// Bytes read so far.
    Progress(u64),
}

/// Hashes and counts bytes as they are read: the import's source identity and progress.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    pub(crate) bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub(crate) fn digest(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

pub(crate) fn parse_value(field: &str, text: &str) -> Result<Parsed, FieldError> {
    decimal::parse(text.as_bytes()).map_err(|e| match e {
        DecimalError::NonFinite => (Reason::NonFinite, format!("{field} {text:?} is not finite")),
        DecimalError::TooLarge => (Reason::TooLarge, format!("{field} {text:?} is too large")),
        DecimalError::Malformed => (Reason::Number, format!("{field} {text:?} is not a number")),
    })
}

fn parse_ts(text: &str, tz: Option<Tz>) -> Result<TsValue, FieldError> {
    timestamps::parse(text, tz).map_err(|e| (Reason::Timestamp, e))
}

/// Reads a CSV file, calling `emit` for each row. Returns the SHA-256 of the file.
pub(crate) fn read_csv(
    path: &Path,
    map_text: Option<&str>,
    tz: Option<Tz>,
    emit: &mut dyn FnMut(Event),
) -> Result<String, DataError> {
    let file = File::open(path).map_err(DataError::io("opening", path))?;
    let mut hashing = Hashing::new(file);
    read_csv_from(&mut hashing, map_text, tz, emit).map_err(|e| match e {
        CsvFailure::Io(source) => DataError::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        },
        CsvFailure::Columns(message) => {
            DataError::Invalid(format!("{}: {message}", path.display()))
        }
    })?;
    // Hash whatever the CSV reader left unread (nothing, normally) so the digest covers the file.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(DataError::io("reading", path))?;
    Ok(hashing.digest())
}

/// Why a CSV could not be read at all (as opposed to a bad row, which is an event).
#[derive(Debug)]
pub(crate) enum CsvFailure {
    Io(std::io::Error),
    Columns(String),
}

/// The CSV reader proper, over any byte source; also the target of the fuzz test.
pub(crate) fn read_csv_from(
    input: &mut dyn Read,
    map_text: Option<&str>,
    tz: Option<Tz>,
    emit: &mut dyn FnMut(Event),
) -> Result<(), CsvFailure> {
    let map = columns::parse_map(map_text.unwrap_or_default()).map_err(CsvFailure::Columns)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut layout: Option<Columns> = None;
    let mut rows: u64 = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                let detail = e.to_string();
                match e.into_kind() {
                    csv::ErrorKind::Io(io) => return Err(CsvFailure::Io(io)),
                    _ => {
                        emit(Event::Malformed { line, detail });
                        continue;
                    }
                }
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        let Ok(fields) = record
            .iter()
            .map(std::str::from_utf8)
            .collect::<Result<Vec<&str>, _>>()
        else {
            emit(Event::Malformed {
                line,
                detail: "not valid UTF-8".into(),
            });
            continue;
        };
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        let cols = match &layout {
            Some(cols) => cols,
            None => {
                if columns::is_header(&fields, &map) {
                    layout =
                        Some(columns::from_header(&fields, &map).map_err(CsvFailure::Columns)?);
                    continue;
                }
                layout.insert(columns::positional(fields.len(), &map).map_err(CsvFailure::Columns)?)
            }
        };
        let get = |i: usize| fields.get(i).copied();
        let ts_text = match (get(cols.ts.0), cols.ts.1.map(get)) {
            (Some(d), Some(Some(t))) => Some(format!("{d} {t}")),
            (Some(d), None) => Some(d.to_owned()),
            _ => None,
        };
        let Some(ts_text) = ts_text else {
            emit(Event::Malformed {
                line,
                detail: format!("{} fields; the timestamp column is missing", fields.len()),
            });
            continue;
        };
        let mut values: [Result<Parsed, FieldError>; 5] =
            std::array::from_fn(|_| Err((Reason::Malformed, String::new())));
        let mut short = false;
        for ((slot, index), field) in values.iter_mut().zip(cols.values).zip(FIELDS) {
            match get(index) {
                Some(text) => *slot = parse_value(field, text),
                None => short = true,
            }
        }
        if short {
            emit(Event::Malformed {
                line,
                detail: format!("only {} fields", fields.len()),
            });
            continue;
        }
        emit(Event::Row(RawRow {
            line,
            symbol: cols.symbol.and_then(get).map(str::to_owned),
            ts: parse_ts(&ts_text, tz),
            values,
        }));
        rows += 1;
        if rows.is_multiple_of(65_536) {
            emit(Event::Progress(reader.position().byte()));
        }
    }
    Ok(())
}

/// Reads a Parquet file of bars in any common layout: a timestamp column (timestamp, date,
/// epoch integer or text) and numeric or text OHLCV columns, found by name like CSV headers.
/// Returns the SHA-256 of the file.
pub(crate) fn read_parquet(
    path: &Path,
    map_text: Option<&str>,
    tz: Option<Tz>,
    emit: &mut dyn FnMut(Event),
) -> Result<String, DataError> {
    let digest = {
        let file = File::open(path).map_err(DataError::io("opening", path))?;
        let mut hashing = Hashing::new(file);
        std::io::copy(&mut hashing, &mut std::io::sink())
            .map_err(DataError::io("reading", path))?;
        hashing.digest()
    };
    let invalid = |m: String| DataError::Invalid(format!("{}: {m}", path.display()));
    let map = columns::parse_map(map_text.unwrap_or_default()).map_err(invalid)?;
    let file = File::open(path).map_err(DataError::io("opening", path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(DataError::parquet(path))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let cols = columns::from_header(&name_refs, &map).map_err(invalid)?;
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(DataError::parquet(path))?;
    let mut row_number: u64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| DataError::Parquet {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for i in 0..batch.num_rows() {
            row_number += 1;
            let ts = match cols.ts.1 {
                Some(time) => match (
                    cell_text(batch.column(cols.ts.0).as_ref(), i),
                    cell_text(batch.column(time).as_ref(), i),
                ) {
                    (Some(d), Some(t)) => parse_ts(&format!("{d} {t}"), tz),
                    _ => Err((Reason::Timestamp, "timestamp is null".to_owned())),
                },
                None => cell_ts(batch.column(cols.ts.0).as_ref(), i, tz),
            };
            let values = std::array::from_fn(|k| {
                let field = FIELDS[k];
                cell_text(batch.column(cols.values[k]).as_ref(), i).map_or_else(
                    || Err((Reason::Number, format!("{field} is null"))),
                    |t| parse_value(field, &t),
                )
            });
            let symbol = cols
                .symbol
                .and_then(|c| cell_text(batch.column(c).as_ref(), i));
            emit(Event::Row(RawRow {
                line: row_number,
                symbol,
                ts,
                values,
            }));
        }
    }
    Ok(digest)
}

fn cell_ts(array: &dyn Array, i: usize, tz: Option<Tz>) -> Result<TsValue, FieldError> {
    if array.is_null(i) {
        return Err((Reason::Timestamp, "timestamp is null".into()));
    }
    let any = array.as_any();
    let instant = |v: Result<Timestamp, openbell_model::ModelError>| {
        v.map(TsValue::Instant)
            .map_err(|e| (Reason::Timestamp, e.to_string()))
    };
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => any
            .downcast_ref::<TimestampSecondArray>()
            .map(|a| instant(Timestamp::from_secs(a.value(i)))),
        DataType::Timestamp(TimeUnit::Millisecond, _) => any
            .downcast_ref::<TimestampMillisecondArray>()
            .map(|a| instant(Timestamp::from_millis(a.value(i)))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|a| instant(Timestamp::from_micros(a.value(i)))),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => any
            .downcast_ref::<TimestampNanosecondArray>()
            .map(|a| Ok(TsValue::Instant(Timestamp::from_nanos(a.value(i))))),
        DataType::Date32 => any.downcast_ref::<Date32Array>().map(|a| {
            NaiveDate::from_num_days_from_ce_opt(a.value(i) + 719_163)
                .map(TsValue::Date)
                .ok_or_else(|| {
                    (
                        Reason::Timestamp,
                        format!("date {} is out of range", a.value(i)),
                    )
                })
        }),
        _ => None,
    }
    .unwrap_or_else(|| {
        cell_text(array, i).map_or_else(
            || {
                Err((
                    Reason::Timestamp,
                    format!("unsupported timestamp type {}", array.data_type()),
                ))
            },
            |t| parse_ts(&t, tz),
        )
    })
}

/// A cell as text: numbers in their shortest exact form, strings as they are.
fn cell_text(array: &dyn Array, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    let any = array.as_any();
    match array.data_type() {
        DataType::Float64 => any
            .downcast_ref::<Float64Array>()
            .map(|a| a.value(i).to_string()),
        DataType::Float32 => any
            .downcast_ref::<Float32Array>()
            .map(|a| a.value(i).to_string()),
        DataType::Int64 => any
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(i).to_string()),
        DataType::Int32 => any
            .downcast_ref::<Int32Array>()
            .map(|a| a.value(i).to_string()),
        DataType::Utf8 => any
            .downcast_ref::<StringArray>()
            .map(|a| a.value(i).to_owned()),
        DataType::LargeUtf8 => any
            .downcast_ref::<LargeStringArray>()
            .map(|a| a.value(i).to_owned()),
        DataType::Decimal128(_, _) => any
            .downcast_ref::<Decimal128Array>()
            .map(|a| a.value_as_string(i)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    type Collected = (Vec<RawRow>, Vec<(u64, String)>, Result<(), String>);

    fn collect(input: &[u8], map: Option<&str>) -> Collected {
        let mut rows = Vec::new();
        let mut bad = Vec::new();
        let result = read_csv_from(&mut &input[..], map, None, &mut |e| match e {
            Event::Row(r) => rows.push(r),
            Event::Malformed { line, detail } => bad.push((line, detail)),
            Event::Progress(_) => {}
        });
        (rows, bad, result.map_err(|e| format!("{e:?}")))
    }

    #[test]
    fn reads_header_and_headerless_csv() {
        let with = b"ts,symbol,open,high,low,close,volume\n2013-10-07T13:30:00Z,SPY,167.43,167.52,167.41,167.44,816453\n";
        let (rows, bad, ok) = collect(with, None);
        assert!(ok.is_ok() && bad.is_empty());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].symbol.as_deref(), Some("SPY"));
        assert_eq!(rows[0].values[0].as_ref().unwrap().raw, 167_430_000_000);
        let without = b"2013-10-07T13:30:00Z,167.43,167.52,167.41,167.44,816453\n";
        let (rows, _, _) = collect(without, None);
        assert_eq!((rows.len(), rows[0].line), (1, 1));
    }

    #[test]
    fn short_rows_and_bad_bytes_are_malformed_with_their_line() {
        let input =
            b"ts,open,high,low,close,volume\n2013-10-07T13:30:00Z,1,2\n\xff\xfe,1,1,1,1,1\n";
        let (rows, bad, _) = collect(input, None);
        assert!(rows.is_empty());
        assert_eq!(bad.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 3]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = collect(&bytes, None);
            let _ = collect(&bytes, Some("ts=0,open=1,high=2,low=3,close=4,volume=5"));
        }

        #[test]
        fn csv_shaped_noise_never_panics(lines in proptest::collection::vec("[0-9TZ:., eE+-]{0,12}(,[0-9a-zA-Z:., -]{0,10}){0,8}", 0..20)) {
            let text = format!("ts,open,high,low,close,volume\n{}", lines.join("\n"));
            let _ = collect(text.as_bytes(), None);
        }
    }
}
