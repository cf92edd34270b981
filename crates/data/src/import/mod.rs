//! Importing bar files into the store, with every row validated.
//!
//! Each row is checked in this order, and the first failure rejects it with its line and reason:
//! the symbol, the timestamp, each number (malformed, non-finite, too large, negative), the OHLC
//! invariants, the interval grid (bars start on the day's open plus whole intervals), then the
//! order within its symbol (a repeated timestamp is a duplicate, an earlier one is out of
//! order). Bars outside regular trading hours are kept, dropped or flagged as
//! [`SessionFilter`] says; they are not errors. More than nine decimals are rounded half to
//! even and counted.
//!
//! Without `strict`, valid rows are imported and rejected ones reported. With `strict`, one
//! rejected row fails the whole import before anything is written. Imports merge with the
//! store, so importing the same file twice leaves the store as it was.

mod columns;
mod rows;
mod timestamps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use openbell_calendar::{Calendar, TradingDay};
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol, Timestamp};
use serde::Serialize;

use self::rows::{Event, RawRow};
use self::timestamps::TsValue;
use crate::quality::{self, DayCounts};
use crate::{BarStore, DataError, MergeStats};

/// How bars were stamped by their source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stamp {
    /// At the bar's open (openbell's convention).
    #[default]
    Open,
    /// At the bar's close; one interval is subtracted on import.
    Close,
}

/// What to do with bars outside regular trading hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionFilter {
    /// Keep regular-hours bars only; drop and count the rest.
    #[default]
    Regular,
    /// Also keep bars outside regular hours on trading days (pre- and post-market), counted
    /// as extended-hours bars; drop bars on days the exchange is closed.
    Extended,
    /// Keep every bar, including bars on days the exchange is closed.
    All,
}

/// Why a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The record could not be split into the expected fields.
    Malformed,
    /// No valid symbol.
    Symbol,
    /// The timestamp could not be read.
    Timestamp,
    /// A price or volume is not a number.
    Number,
    /// NaN or infinity.
    NonFinite,
    /// A value too large for the store.
    TooLarge,
    /// A negative price or volume.
    Negative,
    /// `low <= min(open, close) <= max(open, close) <= high` does not hold.
    Ohlc,
    /// Not on the interval grid of its trading day.
    OffGrid,
    /// A daily bar on a date the exchange is closed.
    NotTradingDay,
    /// The same timestamp as the previous row of its symbol.
    Duplicate,
    /// Earlier than the previous row of its symbol.
    OutOfOrder,
}

impl Reason {
    /// The reason as it is printed.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Symbol => "symbol",
            Self::Timestamp => "timestamp",
            Self::Number => "number",
            Self::NonFinite => "non_finite",
            Self::TooLarge => "too_large",
            Self::Negative => "negative",
            Self::Ohlc => "ohlc",
            Self::OffGrid => "off_grid",
            Self::NotTradingDay => "not_trading_day",
            Self::Duplicate => "duplicate",
            Self::OutOfOrder => "out_of_order",
        }
    }
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The file.
    pub file: String,
    /// The 1-based line (CSV) or row (Parquet).
    pub line: u64,
    /// Why.
    pub reason: Reason,
    /// The field and value at fault.
    pub detail: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file,
            self.line,
            self.reason.as_str(),
            self.detail
        )
    }
}

/// How to read and validate the files of one import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The symbol of every row; else the file's symbol column; else the file name
    /// (`SPY_1m.csv` is `SPY`).
    pub symbol: Option<Symbol>,
    /// The bar interval; else the file name's suffix (`SPY_1m.csv` is `1m`).
    pub interval: Option<Interval>,
    /// The time zone of naive local timestamps.
    pub tz: Option<Tz>,
    /// How the source stamps bars.
    pub stamp: Stamp,
    /// A column map, `field=name_or_index,...`.
    pub columns: Option<String>,
    /// Bars outside regular hours.
    pub session: SessionFilter,
    /// Fail the whole import on any rejected row.
    pub strict: bool,
    /// The exchange calendar the bars trade on.
    pub calendar: Calendar,
}

impl ImportOptions {
    /// Options with the defaults: symbol and interval from each file, no time zone, bars
    /// stamped at their open, no column map, regular hours only, not strict.
    #[must_use]
    pub const fn new(calendar: Calendar) -> Self {
        Self {
            symbol: None,
            interval: None,
            tz: None,
            stamp: Stamp::Open,
            columns: None,
            session: SessionFilter::Regular,
            strict: false,
            calendar,
        }
    }
}

/// What one file's import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The file.
    pub file: String,
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Valid bars kept and written.
    pub imported: u64,
    /// Rejected rows by reason.
    pub rejected: BTreeMap<Reason, u64>,
    /// Every rejected row.
    pub rejections: Vec<Rejection>,
    /// Bars outside regular hours that the session filter dropped.
    pub dropped_outside_session: u64,
    /// Bars outside regular hours that were kept.
    pub extended_kept: u64,
    /// Values that had more than nine decimals and were rounded.
    pub rounded: u64,
    /// How the write merged with the store.
    pub merge: MergeStats,
    /// The series written, as `SYMBOL interval`.
    pub series: Vec<String>,
}

impl ImportReport {
    /// Total rejected rows.
    #[must_use]
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Progress of an import: the file being read, bytes read and its size.
pub type ProgressFn<'a> = dyn FnMut(&Path, u64, u64) + 'a;

/// Splits `SPY_1m.csv` into ("SPY", "1m").
fn name_parts(path: &Path) -> (Option<String>, Option<String>) {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    match stem.rsplit_once('_') {
        Some((symbol, interval)) if interval.parse::<Interval>().is_ok() => {
            (Some(symbol.to_owned()), Some(interval.to_owned()))
        }
        _ => (Some(stem.to_owned()), None),
    }
}

struct Series {
    bars: Vec<Bar>,
    last: Option<Timestamp>,
}

/// Validates rows of one file.
struct Validator<'a> {
    opts: &'a ImportOptions,
    interval: Interval,
    default_symbol: Option<Symbol>,
    file: String,
    report: ImportReport,
    series: BTreeMap<Symbol, Series>,
    counts: BTreeMap<Symbol, BTreeMap<NaiveDate, DayCounts>>,
    /// The last trading day found, to skip calendar lookups for the bars inside it.
    cached_day: Option<TradingDay>,
}

impl Validator<'_> {
    fn reject(
        &mut self,
        line: u64,
        reason: Reason,
        detail: String,
        symbol: Option<Symbol>,
        ts: Option<Timestamp>,
    ) {
        *self.report.rejected.entry(reason).or_default() += 1;
        self.report.rejections.push(Rejection {
            file: self.file.clone(),
            line,
            reason,
            detail,
        });
        if let (Some(symbol), Some(ts)) = (symbol, ts) {
            let date = ts.date_in(self.opts.calendar.timezone());
            let day = self
                .counts
                .entry(symbol)
                .or_default()
                .entry(date)
                .or_default();
            if reason == Reason::Duplicate {
                day.duplicates += 1;
            } else {
                day.invalid += 1;
            }
        }
    }

    fn count_extended(&mut self, symbol: Symbol, ts: Timestamp) {
        let date = ts.date_in(self.opts.calendar.timezone());
        self.counts
            .entry(symbol)
            .or_default()
            .entry(date)
            .or_default()
            .extended += 1;
    }

    /// Where the interval grid starts for a bar at `ts` in regular hours: the open, or the end
    /// of the last break before `ts`. `None` outside regular hours. The trading day is cached,
    /// so the bars of one day cost one calendar lookup.
    fn grid_anchor(&mut self, ts: Timestamp) -> Result<Option<Timestamp>, DataError> {
        let cached = self
            .cached_day
            .as_ref()
            .is_some_and(|d| d.open <= ts && ts < d.close);
        if !cached {
            let Some(day) = self.opts.calendar.trading_day_at(ts)? else {
                return Ok(None);
            };
            self.cached_day = Some(day);
        }
        Ok(self.cached_day.as_ref().map(|day| {
            day.breaks
                .iter()
                .filter(|b| b.end <= ts)
                .map(|b| b.end)
                .max()
                .unwrap_or(day.open)
        }))
    }

    fn row(&mut self, row: RawRow) -> Result<(), DataError> {
        self.report.rows += 1;
        let line = row.line;
        let symbol = match (self.opts.symbol, row.symbol.as_deref(), self.default_symbol) {
            (Some(s), _, _) => s,
            (None, Some(text), _) => match Symbol::parse(text) {
                Ok(s) => s,
                Err(e) => {
                    self.reject(line, Reason::Symbol, e.to_string(), None, None);
                    return Ok(());
                }
            },
            (None, None, Some(s)) => s,
            (None, None, None) => {
                self.reject(
                    line,
                    Reason::Symbol,
                    "no symbol: pass --symbol".into(),
                    None,
                    None,
                );
                return Ok(());
            }
        };
        let ts = match row.ts {
            Ok(ts) => ts,
            Err((reason, detail)) => {
                self.reject(line, reason, detail, Some(symbol), None);
                return Ok(());
            }
        };
        let approx_ts = match ts {
            TsValue::Instant(t) => Some(t),
            TsValue::Date(_) => None,
        };
        let mut raw = [0i128; 5];
        for (slot, value) in raw.iter_mut().zip(row.values) {
            match value {
                Ok(parsed) => {
                    *slot = parsed.raw;
                    self.report.rounded += u64::from(parsed.rounded);
                }
                Err((reason, detail)) => {
                    self.reject(line, reason, detail, Some(symbol), approx_ts);
                    return Ok(());
                }
            }
        }
        if let Some((i, v)) = raw.iter().enumerate().find(|(_, v)| **v < 0) {
            let field = ["open", "high", "low", "close", "volume"][i];
            self.reject(
                line,
                Reason::Negative,
                format!("{field} {} is negative", Quantity::from_raw(*v)),
                Some(symbol),
                approx_ts,
            );
            return Ok(());
        }
        let ohlcv = Ohlcv {
            open: Price::from_raw(raw[0]),
            high: Price::from_raw(raw[1]),
            low: Price::from_raw(raw[2]),
            close: Price::from_raw(raw[3]),
            volume: Quantity::from_raw(raw[4]),
        };
        let Some(ts_event) = self.place(line, symbol, ts)? else {
            return Ok(());
        };
        let bar = match Bar::try_new(symbol, self.interval, ts_event, ohlcv) {
            Ok(bar) => bar,
            Err(e) => {
                let detail = match e {
                    openbell_model::ModelError::InvalidBar { reason, .. } => reason,
                    other => other.to_string(),
                };
                self.reject(line, Reason::Ohlc, detail, Some(symbol), Some(ts_event));
                return Ok(());
            }
        };
        let last = self.series.get(&symbol).and_then(|s| s.last);
        match last {
            Some(prev) if ts_event == prev => {
                self.reject(
                    line,
                    Reason::Duplicate,
                    format!("{symbol} at {ts_event} repeats the previous row"),
                    Some(symbol),
                    Some(ts_event),
                );
                return Ok(());
            }
            Some(prev) if ts_event < prev => {
                self.reject(
                    line,
                    Reason::OutOfOrder,
                    format!("{symbol} at {ts_event} comes after {prev}"),
                    Some(symbol),
                    Some(ts_event),
                );
                return Ok(());
            }
            _ => {}
        }
        let series = self.series.entry(symbol).or_insert(Series {
            bars: Vec::new(),
            last: None,
        });
        series.bars.push(bar);
        series.last = Some(ts_event);
        self.report.imported += 1;
        Ok(())
    }

    /// Turns a row's timestamp into the bar's `ts_event`, applying the stamp convention, the
    /// grid and the session filter. `None` when the row was rejected or dropped.
    fn place(
        &mut self,
        line: u64,
        symbol: Symbol,
        ts: TsValue,
    ) -> Result<Option<Timestamp>, DataError> {
        let cal = &self.opts.calendar;
        if self.interval.is_daily() {
            // A daily bar belongs to a trading date: a date as given, the UTC date of a
            // midnight-UTC stamp (how vendors stamp daily bars), else the exchange-local date.
            let date = match ts {
                TsValue::Date(d) => d,
                TsValue::Instant(t) if t.as_nanos().rem_euclid(86_400_000_000_000) == 0 => {
                    t.to_utc().date_naive()
                }
                TsValue::Instant(t) => {
                    let t = if self.opts.stamp == Stamp::Close {
                        t.checked_sub_nanos(1)?
                    } else {
                        t
                    };
                    t.date_in(cal.timezone())
                }
            };
            return match cal.trading_day(date)? {
                Some(day) => Ok(Some(day.open)),
                None => {
                    self.reject(
                        line,
                        Reason::NotTradingDay,
                        format!("{date} is not a {} trading day", cal.code()),
                        Some(symbol),
                        None,
                    );
                    Ok(None)
                }
            };
        }
        let TsValue::Instant(mut t) = ts else {
            let detail = format!("a date without a time cannot stamp {} bars", self.interval);
            self.reject(line, Reason::Timestamp, detail, Some(symbol), None);
            return Ok(None);
        };
        if self.opts.stamp == Stamp::Close {
            t = t.checked_sub_nanos(self.interval.as_nanos())?;
        }
        let step = self.interval.as_nanos();
        if let Some(segment_start) = self.grid_anchor(t)? {
            if (t.as_nanos() - segment_start.as_nanos()).rem_euclid(step) != 0 {
                let detail = format!(
                    "{t} is not on the {} grid from the open at {segment_start}",
                    self.interval
                );
                self.reject(line, Reason::OffGrid, detail, Some(symbol), Some(t));
                return Ok(None);
            }
            return Ok(Some(t));
        }
        // Outside regular hours.
        let local_date = t.date_in(cal.timezone());
        let day = cal.trading_day(local_date)?;
        let keep = match self.opts.session {
            SessionFilter::Regular => false,
            SessionFilter::Extended => day.is_some(),
            SessionFilter::All => true,
        };
        if day.is_some() {
            self.count_extended(symbol, t);
        }
        if !keep {
            self.report.dropped_outside_session += 1;
            return Ok(None);
        }
        let anchor = match &day {
            Some(day) => day.open,
            None => {
                Timestamp::from_local(local_date.and_time(chrono::NaiveTime::MIN), cal.timezone())
                    .unwrap_or(Timestamp::EPOCH)
            }
        };
        if (t.as_nanos() - anchor.as_nanos()).rem_euclid(step) != 0 {
            let detail = format!("{t} is not on the {} grid of {local_date}", self.interval);
            self.reject(line, Reason::OffGrid, detail, Some(symbol), Some(t));
            return Ok(None);
        }
        self.report.extended_kept += 1;
        Ok(Some(t))
    }
}

/// One file, validated and ready to write.
struct Prepared {
    report: ImportReport,
    source: String,
    interval: Interval,
    series: BTreeMap<Symbol, Series>,
    counts: BTreeMap<Symbol, BTreeMap<NaiveDate, DayCounts>>,
}

fn prepare(
    path: &Path,
    opts: &ImportOptions,
    progress: &mut ProgressFn<'_>,
) -> Result<Prepared, DataError> {
    let (name_symbol, name_interval) = name_parts(path);
    let interval = match (opts.interval, name_interval) {
        (Some(i), _) => i,
        (None, Some(text)) => text.parse()?,
        (None, None) => {
            return Err(DataError::Invalid(format!(
                "{}: cannot tell the bar interval from the file name; pass --interval",
                path.display()
            )));
        }
    };
    let file = path.display().to_string();
    let mut validator = Validator {
        opts,
        interval,
        default_symbol: name_symbol.and_then(|s| Symbol::parse(&s).ok()),
        file: file.clone(),
        report: ImportReport {
            file,
            ..ImportReport::default()
        },
        series: BTreeMap::new(),
        counts: BTreeMap::new(),
        cached_day: None,
    };
    let total = std::fs::metadata(path)
        .map_err(DataError::io("reading", path))?
        .len();
    let mut failure: Option<DataError> = None;
    let mut emit = |event: Event| match event {
        Event::Row(row) => {
            if failure.is_none()
                && let Err(e) = validator.row(row)
            {
                failure = Some(e);
            }
        }
        Event::Malformed { line, detail } => {
            validator.report.rows += 1;
            validator.reject(line, Reason::Malformed, detail, None, None);
        }
        Event::Progress(bytes) => progress(path, bytes, total),
    };
    let is_parquet = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut f, &mut magic).map(|()| magic == *b"PAR1")
        })
        .unwrap_or(false);
    let source = if is_parquet {
        rows::read_parquet(path, opts.columns.as_deref(), opts.tz, &mut emit)?
    } else {
        rows::read_csv(path, opts.columns.as_deref(), opts.tz, &mut emit)?
    };
    progress(path, total, total);
    if let Some(e) = failure {
        return Err(e);
    }
    let Validator {
        report,
        series,
        counts,
        ..
    } = validator;
    Ok(Prepared {
        report,
        source,
        interval,
        series,
        counts,
    })
}

/// Imports `files` into `store`. Every file is read and validated first; with `strict`, any
/// rejected row in any file fails the import before anything is written.
///
/// # Errors
/// [`DataError::StrictRejected`] under `strict`; [`DataError::Invalid`] when a file's interval
/// or columns cannot be determined; IO and Parquet errors.
pub fn import_files(
    store: &BarStore,
    files: &[PathBuf],
    opts: &ImportOptions,
    progress: &mut ProgressFn<'_>,
) -> Result<Vec<ImportReport>, DataError> {
    let mut prepared = Vec::with_capacity(files.len());
    for path in files {
        prepared.push(prepare(path, opts, progress)?);
    }
    if opts.strict
        && let Some(p) = prepared.iter().find(|p| p.report.rejected_total() > 0)
    {
        return Err(DataError::StrictRejected {
            file: p.report.file.clone(),
            rejected: prepared.iter().map(|p| p.report.rejected_total()).sum(),
            first: p
                .report
                .rejections
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        });
    }
    let mut reports = Vec::with_capacity(prepared.len());
    for p in prepared {
        let Prepared {
            mut report,
            source,
            interval,
            series,
            mut counts,
        } = p;
        let symbols: Vec<Symbol> = series.keys().chain(counts.keys()).copied().collect();
        for (symbol, s) in series {
            report
                .merge
                .absorb(store.write(opts.calendar.code(), &s.bars)?);
            report.series.push(format!("{symbol} {interval}"));
        }
        let file_name = Path::new(&report.file)
            .file_name()
            .map_or_else(|| report.file.clone(), |n| n.to_string_lossy().into_owned());
        let mut done = std::collections::BTreeSet::new();
        for symbol in symbols {
            if done.insert(symbol) {
                let days = counts.remove(&symbol).unwrap_or_default();
                quality::record_import(store, symbol, interval, &source, &file_name, days)?;
            }
        }
        reports.push(report);
    }
    Ok(reports)
}
