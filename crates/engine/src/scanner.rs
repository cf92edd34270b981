//! Scanners: rank a universe of symbols from data known at a cutoff time, and choose the top.
//!
//! Every scan sees only bars whose close is at or before its cutoff: previous days, and today
//! up to the cutoff. Pre-session scans cut off before the open; mid-session scans at the clock.

use chrono::NaiveTime;
use openbell_calendar::TradingDay;
use openbell_model::{Bar, Interval, Symbol, Timestamp};

use crate::source::{BarSource, SourceError};

/// The built-in scanners, or one written in Rust and attached with
/// [`crate::Engine::with_scanner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerKind {
    /// The previous day's dollar volume, `Σ close × volume`.
    TopVolume,
    /// Today's open against the previous close, in percent.
    Gap,
    /// The last price known at the cutoff against the previous close, in percent.
    PctChange,
    /// Today's volume up to the cutoff against the average volume over the same part of the
    /// day on the trailing days.
    RelativeVolume,
    /// A [`Scanner`] attached to the engine under this name.
    Custom(String),
}

impl ScannerKind {
    /// Parses a scanner name.
    ///
    /// # Errors
    /// The known names, when `name` is not one.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "top_volume" => Ok(Self::TopVolume),
            "gap" => Ok(Self::Gap),
            "pct_change" => Ok(Self::PctChange),
            "relative_volume" => Ok(Self::RelativeVolume),
            _ => Err(format!(
                "unknown scanner {name:?} (known: top_volume, gap, pct_change, relative_volume)"
            )),
        }
    }
}

/// When a scanner runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Once a day, before the open, on data up to `minutes_before_open` before it.
    PreSession {
        /// How long before the open the data is cut off.
        minutes_before_open: u32,
    },
    /// At these exchange-local times during the session.
    At(Vec<NaiveTime>),
    /// Every `minutes` from the open, during the session.
    Every {
        /// The period.
        minutes: u32,
    },
}

/// Conditions a candidate must meet before it is ranked.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Filters {
    /// Lowest last price.
    pub min_price: Option<f64>,
    /// Highest last price.
    pub max_price: Option<f64>,
    /// Lowest previous-day volume.
    pub min_volume: Option<f64>,
    /// Lowest previous-day quality, 0 to 100 (present / expected bars).
    pub min_quality: Option<f64>,
}

/// One configured scanner.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannerSpec {
    /// A label for its events.
    pub label: String,
    /// What it ranks by.
    pub kind: ScannerKind,
    /// When it runs.
    pub schedule: Schedule,
    /// How many symbols it chooses.
    pub top: usize,
    /// Conditions on candidates.
    pub filters: Filters,
    /// Trailing days for relative volume.
    pub lookback_days: u32,
}

/// What a scan knows about one candidate.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanInput {
    /// The previous trading day's bars.
    pub(crate) previous: Vec<Bar>,
    /// The previous day's quality, 0 to 100.
    pub(crate) previous_quality: Option<f64>,
    /// Today's bars known at the cutoff.
    pub(crate) today: Vec<Bar>,
    /// Volume up to the same time of day on each trailing day.
    pub(crate) trailing_volumes: Vec<f64>,
    /// Today's regular-session open, once known.
    pub(crate) session_open: Option<f64>,
}

impl ScannerSpec {
    /// The cutoff of a pre-session run on `day`, if this is a pre-session scanner.
    pub(crate) fn pre_session_cutoff(&self, day: &TradingDay) -> Option<Timestamp> {
        match self.schedule {
            Schedule::PreSession {
                minutes_before_open,
            } => Some(Timestamp::from_nanos(
                day.open.as_nanos() - i64::from(minutes_before_open) * 60_000_000_000,
            )),
            _ => None,
        }
    }

    /// The mid-session run times on `day`, strictly inside the session.
    pub(crate) fn session_times(&self, day: &TradingDay) -> Vec<Timestamp> {
        let times: Vec<Timestamp> = match &self.schedule {
            Schedule::PreSession { .. } => Vec::new(),
            Schedule::At(times) => times
                .iter()
                .filter_map(|t| Timestamp::from_local(day.date.and_time(*t), day.tz).ok())
                .collect(),
            Schedule::Every { minutes } => {
                let step = i64::from((*minutes).max(1)) * 60_000_000_000;
                let mut out = Vec::new();
                let mut t = day.open.as_nanos() + step;
                while t < day.close.as_nanos() {
                    out.push(Timestamp::from_nanos(t));
                    t += step;
                }
                out
            }
        };
        times
            .into_iter()
            .filter(|t| day.open < *t && *t < day.close)
            .collect()
    }

    /// The candidate's score, or `None` when it lacks the data or fails a filter.
    pub(crate) fn score(&self, input: &ScanInput) -> Option<f64> {
        let prev_close = input.previous.last().map(|b| b.close().to_f64());
        let last = input
            .today
            .last()
            .map(|b| b.close().to_f64())
            .or(prev_close)?;
        let prev_volume: f64 = input.previous.iter().map(|b| b.volume().to_f64()).sum();
        let f = &self.filters;
        if f.min_price.is_some_and(|m| last < m)
            || f.max_price.is_some_and(|m| last > m)
            || f.min_volume.is_some_and(|m| prev_volume < m)
            || f.min_quality
                .is_some_and(|m| input.previous_quality.unwrap_or(0.0) < m)
        {
            return None;
        }
        let pct = |from: f64, to: f64| (from != 0.0).then(|| (to - from) / from * 100.0);
        match &self.kind {
            ScannerKind::Custom(_) => None,
            ScannerKind::TopVolume => (!input.previous.is_empty()).then(|| {
                input
                    .previous
                    .iter()
                    .map(|b| b.close().to_f64() * b.volume().to_f64())
                    .sum()
            }),
            ScannerKind::Gap => pct(
                prev_close?,
                input
                    .session_open
                    .or_else(|| input.today.first().map(|b| b.open().to_f64()))?,
            ),
            ScannerKind::PctChange => pct(prev_close?, last),
            ScannerKind::RelativeVolume => {
                if input.trailing_volumes.is_empty() {
                    return None;
                }
                #[allow(clippy::cast_precision_loss)]
                let average = input.trailing_volumes.iter().sum::<f64>()
                    / input.trailing_volumes.len() as f64;
                let today: f64 = input.today.iter().map(|b| b.volume().to_f64()).sum();
                (average > 0.0).then(|| today / average)
            }
        }
    }
}

/// Ranks scored candidates: highest score first, ties by symbol.
pub(crate) fn rank(mut scored: Vec<(Symbol, f64)>) -> Vec<(Symbol, f64)> {
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

/// A scanner written in Rust. It ranks candidates from data known at the scan's cutoff; the
/// engine reports (and leaves out) any symbol it returns that is not in the universe.
pub trait Scanner {
    /// Scores candidates, higher first; the engine ranks them and keeps the configured top.
    fn scan(&mut self, view: &mut ScanView<'_>) -> Vec<(Symbol, f64)>;
}

/// What a [`Scanner`] can see: the universe and bars closing at or before the cutoff, never
/// later ones.
pub struct ScanView<'a> {
    pub(crate) source: &'a mut dyn BarSource,
    pub(crate) interval: Interval,
    pub(crate) as_of: Timestamp,
    pub(crate) day: &'a TradingDay,
    pub(crate) universe: &'a [Symbol],
}

impl std::fmt::Debug for ScanView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanView")
            .field("as_of", &self.as_of)
            .field("day", &self.day.date)
            .finish_non_exhaustive()
    }
}

impl ScanView<'_> {
    /// The cutoff: only bars closing at or before it are visible.
    #[must_use]
    pub const fn as_of(&self) -> Timestamp {
        self.as_of
    }

    /// The trading day the scan runs for.
    #[must_use]
    pub const fn day(&self) -> &TradingDay {
        self.day
    }

    /// The candidates.
    #[must_use]
    pub const fn universe(&self) -> &[Symbol] {
        self.universe
    }

    /// Base-interval bars of `symbol` with `start <= ts_event < end` that close at or before
    /// the cutoff; an `end` past the cutoff is cut back to it.
    ///
    /// # Errors
    /// [`SourceError`] when the source cannot read the range.
    pub fn bars(
        &mut self,
        symbol: Symbol,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Bar>, SourceError> {
        let end = end.min(self.as_of);
        if start >= end {
            return Ok(Vec::new());
        }
        let bars = self.source.bars(symbol, self.interval, start, end)?;
        Ok(bars
            .iter()
            .filter(|b| b.ts_close_nominal() <= self.as_of)
            .copied()
            .collect())
    }
}
