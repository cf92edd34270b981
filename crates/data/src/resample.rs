//! Writing derived bars to the store with the calendar crate's [`Resampler`], the same code
//! the engine runs live.
//!
//! [`Resampler`]: openbell_calendar::Resampler

use openbell_calendar::{Calendar, Resampler};
use openbell_model::{Interval, Symbol};
use serde::Serialize;

use crate::{BarStore, DataError, MergeStats};

/// What a resample run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResampleReport {
    /// Trading days processed.
    pub days: u64,
    /// Source bars read.
    pub source_bars: u64,
    /// Source bars outside regular hours, not part of any derived bar.
    pub skipped: u64,
    /// Derived bars written.
    pub derived_bars: u64,
    /// How the derived bars merged with the store.
    pub merge: MergeStats,
}

/// Builds `target` bars from the stored `source` bars of `symbol` over the series' whole range
/// and writes them, on the calendar the source series was stored with.
///
/// # Errors
/// [`DataError::Invalid`] when the source series does not exist or is on another calendar;
/// resampling, IO and format errors.
pub fn resample_series(
    store: &BarStore,
    calendar: &Calendar,
    symbol: Symbol,
    source: Interval,
    target: Interval,
) -> Result<ResampleReport, DataError> {
    let info = store
        .series()?
        .into_iter()
        .find(|s| s.symbol == symbol && s.interval == source)
        .ok_or_else(|| DataError::Invalid(format!("no {symbol} {source} bars to resample")))?;
    if info.exchange != calendar.code() {
        return Err(DataError::Invalid(format!(
            "{symbol} {source} is stored on the {} calendar, not {}",
            info.exchange,
            calendar.code()
        )));
    }
    let (Some(first), Some(last)) = (info.first, info.last) else {
        return Ok(ResampleReport::default());
    };
    let tz = calendar.timezone();
    let mut report = ResampleReport::default();
    let mut derived = Vec::new();
    let days = calendar.trading_days(first.date_in(tz), last.date_in(tz))?;
    let (Some(first_day), Some(last_day)) = (days.first(), days.last()) else {
        return Ok(report);
    };
    // One streaming pass over the series; a cursor walks the trading days alongside.
    let mut day_index = 0;
    let mut current: Option<Resampler> = None;
    for batch in store.read(symbol, source, first_day.open, last_day.close)? {
        for bar in batch? {
            let ts = bar.ts_event();
            while day_index < days.len() && days[day_index].close <= ts {
                if let Some(mut done) = current.take() {
                    derived.extend(done.finish());
                    report.skipped += done.skipped();
                }
                day_index += 1;
            }
            let Some(day) = days.get(day_index).filter(|d| d.open <= ts) else {
                report.skipped += 1;
                continue;
            };
            report.source_bars += 1;
            if current.is_none() {
                report.days += 1;
                current = Some(Resampler::new(day, symbol, source, target)?);
            }
            if let Some(r) = current.as_mut() {
                r.push(&bar, &mut derived)?;
            }
        }
    }
    if let Some(mut done) = current.take() {
        derived.extend(done.finish());
        report.skipped += done.skipped();
    }
    report.derived_bars = derived.len() as u64;
    report.merge = store.write(calendar.code(), &derived)?;
    Ok(report)
}
