//! Per-day session data: what a strategy or scanner can see. It is rebuilt from nothing every
//! day (phase 0) and only ever holds bars the engine has delivered, so nothing in it lies
//! beyond the clock.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openbell_calendar::{Resampler, TradingDay};
use openbell_indicators::{Indicator, Output};
use openbell_model::{Bar, Interval, Price, Quantity, Symbol, Timestamp};

/// Running session metrics of one symbol, over today's delivered base bars.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// The first bar's open.
    pub open: Option<Price>,
    /// The highest high.
    pub high: Option<Price>,
    /// The lowest low.
    pub low: Option<Price>,
    /// The last close.
    pub last: Option<Price>,
    /// Total volume.
    pub volume: Quantity,
    /// Volume-weighted average of the typical price `(high + low + close) / 3`.
    pub vwap: Option<f64>,
    /// Bars delivered.
    pub bars: u64,
    price_volume: f64,
    volume_f64: f64,
}

impl Metrics {
    pub(crate) fn update(&mut self, bar: &Bar) {
        self.open.get_or_insert(bar.open());
        self.high = Some(self.high.map_or(bar.high(), |h| h.max(bar.high())));
        self.low = Some(self.low.map_or(bar.low(), |l| l.min(bar.low())));
        self.last = Some(bar.close());
        self.volume = self
            .volume
            .checked_add(bar.volume())
            .unwrap_or(Quantity::MAX);
        self.bars += 1;
        let volume = bar.volume().to_f64();
        let typical = (bar.high().to_f64() + bar.low().to_f64() + bar.close().to_f64()) / 3.0;
        self.price_volume += typical * volume;
        self.volume_f64 += volume;
        if self.volume_f64 > 0.0 {
            self.vwap = Some(self.price_volume / self.volume_f64);
        }
    }
}

/// How complete the day's base bars are, from the calendar's slots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayQuality {
    /// Bars the calendar expects.
    pub expected: u32,
    /// Bars the source has.
    pub present: u32,
    /// Runs of missing bars, `[start, end)`.
    pub missing: Vec<(Timestamp, Timestamp)>,
}

/// One indicator registered on a symbol for the day.
#[derive(Debug)]
pub struct RegisteredIndicator {
    /// The label from the config.
    pub label: std::sync::Arc<str>,
    /// The interval it runs on.
    pub interval: Interval,
    pub(crate) indicator: Box<dyn Indicator>,
    /// Today's values, by the clock time they were produced at.
    pub values: Vec<(Timestamp, Output)>,
}

impl RegisteredIndicator {
    /// The latest value today, if any.
    #[must_use]
    pub fn latest(&self) -> Option<&Output> {
        self.values.last().map(|(_, v)| v)
    }
}

/// Everything the day holds for one symbol.
#[derive(Debug)]
pub struct SymbolData {
    /// Trailing history of base bars before today (indicator warm-up, scans).
    pub history: Vec<Bar>,
    /// Today's delivered bars by interval (base and derived), in delivery order.
    pub bars: BTreeMap<Interval, Vec<Bar>>,
    /// Indicators registered today, warmed on the history.
    pub indicators: Vec<RegisteredIndicator>,
    /// Running session metrics.
    pub metrics: Metrics,
    /// The day's quality.
    pub quality: DayQuality,
    pub(crate) resamplers: Vec<Resampler>,
}

/// The session data of the current (or, after the run, the last) trading day.
#[derive(Debug, Default)]
pub struct SessionData {
    pub(crate) day: Option<TradingDay>,
    pub(crate) symbols: BTreeMap<Symbol, SymbolData>,
}

impl SessionData {
    /// The trading day, once one has started.
    #[must_use]
    pub const fn day(&self) -> Option<&TradingDay> {
        self.day.as_ref()
    }

    /// The session date, once a day has started.
    #[must_use]
    pub fn date(&self) -> Option<NaiveDate> {
        self.day.as_ref().map(|d| d.date)
    }

    /// The symbols registered today.
    pub fn symbols(&self) -> impl Iterator<Item = Symbol> + '_ {
        self.symbols.keys().copied()
    }

    /// A symbol's data.
    #[must_use]
    pub fn symbol(&self, symbol: Symbol) -> Option<&SymbolData> {
        self.symbols.get(&symbol)
    }

    /// Today's delivered bars of a symbol at an interval (empty if none).
    #[must_use]
    pub fn bars(&self, symbol: Symbol, interval: Interval) -> &[Bar] {
        self.symbols
            .get(&symbol)
            .and_then(|s| s.bars.get(&interval))
            .map_or(&[], Vec::as_slice)
    }
}
