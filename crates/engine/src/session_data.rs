//! Per-day session data: what a strategy or scanner can see. It is rebuilt from nothing every
//! day (phase 0) and only ever shows bars the engine has delivered, so nothing in it lies
//! beyond the clock.
//!
//! A symbol's base bars for the day are loaded once (phase 3) and never copied: the session
//! data shows the prefix the engine has delivered so far, and the rest stays out of reach.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use openbell_calendar::TradingDay;
use openbell_indicators::{Candle, Indicator, Inputs, Output};
use openbell_model::{Bar, Interval, Price, Quantity, Symbol, SymbolMap, Timestamp};

use crate::portfolio::HoldingHint;
use crate::source::{BarSlice, RawSlice};

/// Running session metrics of one symbol, over today's delivered base bars.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// The prices are meaningful once `bars` is not zero.
    open: Price,
    high: Price,
    low: Price,
    last: Price,
    volume: Quantity,
    bars: u64,
    /// Σ (high + low + close) × volume.
    price_volume: f64,
    volume_f64: f64,
}

impl Metrics {
    /// Adds the next delivered base bar.
    #[inline]
    pub(crate) fn update(&mut self, bar: &Bar) {
        if self.bars == 0 {
            (self.open, self.high, self.low) = (bar.open(), bar.high(), bar.low());
        } else {
            self.high = self.high.max(bar.high());
            self.low = self.low.min(bar.low());
        }
        self.last = bar.close();
        self.volume = self
            .volume
            .checked_add(bar.volume())
            .unwrap_or(Quantity::MAX);
        self.bars += 1;
        // Three times the typical price; the division by three waits for `vwap()`.
        let volume = bar.volume().to_f64();
        self.price_volume +=
            (bar.high().to_f64() + bar.low().to_f64() + bar.close().to_f64()) * volume;
        self.volume_f64 += volume;
    }

    /// The price when at least one bar was delivered.
    fn price(&self, price: Price) -> Option<Price> {
        (self.bars > 0).then_some(price)
    }

    /// The first bar's open.
    #[must_use]
    pub fn open(&self) -> Option<Price> {
        self.price(self.open)
    }

    /// The highest high.
    #[must_use]
    pub fn high(&self) -> Option<Price> {
        self.price(self.high)
    }

    /// The lowest low.
    #[must_use]
    pub fn low(&self) -> Option<Price> {
        self.price(self.low)
    }

    /// The last close.
    #[must_use]
    pub fn last(&self) -> Option<Price> {
        self.price(self.last)
    }

    /// Total volume.
    #[must_use]
    pub const fn volume(&self) -> Quantity {
        self.volume
    }

    /// Bars delivered.
    #[must_use]
    pub const fn bars(&self) -> u64 {
        self.bars
    }

    /// Volume-weighted average of the typical price `(high + low + close) / 3`; none before
    /// any volume.
    #[must_use]
    pub fn vwap(&self) -> Option<f64> {
        (self.volume_f64 > 0.0).then(|| self.price_volume / (3.0 * self.volume_f64))
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
    pub label: Arc<str>,
    /// The interval it runs on.
    pub interval: Interval,
    /// Its place in the configured indicators.
    pub(crate) spec: usize,
    pub(crate) indicator: Box<dyn Indicator>,
    /// Today's values, by the clock time they were produced at.
    pub values: Vec<(Timestamp, Output)>,
}

impl RegisteredIndicator {
    /// Feeds a delivered bar; keeps the value it produced at clock `ts`, if any, and says
    /// whether there was one.
    #[inline]
    pub(crate) fn record(&mut self, candle: &Candle, ts: Timestamp) -> bool {
        // The value is written in place at the end of the list, then kept or taken back: read
        // back from a local instead, it waits for the indicator's narrower stores to retire.
        self.values.push((ts, Output::one(0.0)));
        let last = self.values.len() - 1;
        let produced = self.indicator.update_into(candle, &mut self.values[last].1);
        if !produced {
            self.values.pop();
        }
        produced
    }

    /// The latest value today, if any.
    #[must_use]
    pub fn latest(&self) -> Option<&Output> {
        self.values.last().map(|(_, v)| v)
    }
}

/// The indicators of one interval on a symbol, `indicators[start..end]`, and the candle fields
/// they read: a bar is converted only as far as they need, and only when there are some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Feed {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) inputs: Inputs,
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            start: 0,
            end: 0,
            inputs: Inputs::NONE,
        }
    }
}

/// One symbol's bars of one trading day: the base interval and each derived interval. Kept
/// (shared, not copied) as trailing history for the days that follow.
#[derive(Debug)]
pub(crate) struct DayBars {
    pub(crate) base: BarSlice,
    /// Parallel to the configured derived intervals; empty when not built.
    pub(crate) derived: Vec<Vec<Bar>>,
}

/// Everything the day holds for one symbol.
#[derive(Debug)]
pub struct SymbolData {
    pub(crate) symbol: Symbol,
    /// The symbol's number in the session ([`crate::Context::symbol_number`]).
    pub(crate) number: usize,
    pub(crate) base_interval: Interval,
    /// Trailing history, oldest day first.
    pub(crate) history: Vec<Arc<DayBars>>,
    /// Today's base bars as loaded; only `[..delivered]` has been delivered.
    pub(crate) day_bars: BarSlice,
    /// `day_bars` in raw form, the form the stream reads (a third of a bar's bytes, and no
    /// 128-bit arithmetic); empty when a value of the day does not fit, and the stream then
    /// reads the bars themselves.
    pub(crate) rows: RawSlice,
    /// When each of `day_bars` becomes known, in nanoseconds after the open: the keys the
    /// day's queues order it by.
    pub(crate) closes: Vec<u64>,
    pub(crate) delivered: usize,
    /// Today's delivered derived bars, parallel to `derived_intervals`.
    pub(crate) derived_intervals: Vec<Interval>,
    pub(crate) derived: Vec<Vec<Bar>>,
    /// Indicators registered today, warmed on the history: those of the base interval first,
    /// then those of each derived interval, each interval's in configured order.
    pub indicators: Vec<RegisteredIndicator>,
    /// Where the base interval's indicators are, and each derived interval's (parallel to
    /// `derived_intervals`).
    pub(crate) base_feed: Feed,
    pub(crate) derived_feeds: Vec<Feed>,
    /// Session metrics over `day_bars[..n]`, with `n`: brought up to the delivered bars when
    /// read ([`SymbolData::metrics`]), so delivering a bar costs nothing for metrics no one
    /// reads.
    pub(crate) metrics: Cell<(usize, Metrics)>,
    /// The day's quality.
    pub quality: DayQuality,
    /// The derived intervals' resamplers, shortest interval first.
    pub(crate) derivations: Vec<crate::engine::Derivation>,
    /// Where the symbol's position is in the portfolio, for marking it on every bar.
    pub(crate) holding: HoldingHint,
}

impl SymbolData {
    /// The symbol.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Running session metrics over today's delivered base bars.
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        let (counted, mut metrics) = self.metrics.get();
        if counted < self.delivered {
            for bar in &self.day_bars[counted..self.delivered] {
                metrics.update(bar);
            }
            self.metrics.set((self.delivered, metrics));
        }
        metrics
    }

    /// The last delivered base bar's close (as [`Metrics::last`], without bringing the
    /// metrics up to date). Read from the raw row the stream just read, when there is one: the
    /// stored bar is usually out of cache.
    #[must_use]
    pub fn last_close(&self) -> Option<Price> {
        let i = self.delivered.checked_sub(1)?;
        match self.rows.get(i) {
            Some(row) => Some(Price::from_raw(i128::from(row.close()))),
            None => self.day_bars.get(i).map(Bar::close),
        }
    }

    /// Today's delivered bars at `interval` (base or derived), in delivery order; empty for an
    /// interval the session does not build.
    #[must_use]
    pub fn bars(&self, interval: Interval) -> &[Bar] {
        if interval == self.base_interval {
            return &self.day_bars[..self.delivered];
        }
        self.derived_intervals
            .iter()
            .position(|iv| *iv == interval)
            .map_or(&[], |k| self.derived[k].as_slice())
    }

    /// Today's delivered bars of every interval, base first, then derived in configured order.
    pub fn intervals(&self) -> impl Iterator<Item = (Interval, &[Bar])> {
        std::iter::once(self.base_interval)
            .chain(self.derived_intervals.iter().copied())
            .map(|iv| (iv, self.bars(iv)))
    }

    /// Trailing history of base bars before today, oldest first (indicator warm-up, scans).
    pub fn history(&self) -> impl Iterator<Item = &Bar> {
        self.history.iter().flat_map(|d| d.base.iter())
    }

    /// How many history bars [`Self::history`] yields.
    #[must_use]
    pub fn history_len(&self) -> usize {
        self.history.iter().map(|d| d.base.len()).sum()
    }
}

#[cfg(test)]
impl SymbolData {
    /// A symbol with nothing registered, for tests to fill in.
    pub(crate) fn bare(symbol: Symbol) -> Self {
        Self {
            symbol,
            number: 0,
            base_interval: Interval::M1,
            history: Vec::new(),
            day_bars: BarSlice::default(),
            rows: RawSlice::default(),
            closes: Vec::new(),
            delivered: 0,
            derived_intervals: Vec::new(),
            derived: Vec::new(),
            indicators: Vec::new(),
            base_feed: Feed::default(),
            derived_feeds: Vec::new(),
            metrics: Cell::default(),
            quality: DayQuality::default(),
            derivations: Vec::new(),
            holding: HoldingHint::default(),
        }
    }
}

/// The session data of the current (or, after the run, the last) trading day.
#[derive(Debug, Default)]
pub struct SessionData {
    pub(crate) day: Option<TradingDay>,
    /// In registration order; the engine addresses symbols by their position here.
    pub(crate) symbols: Vec<SymbolData>,
    /// Each symbol's position, in symbol order (listing), and hashed (lookups on the trading
    /// path).
    pub(crate) index: BTreeMap<Symbol, usize>,
    slots: SymbolMap<usize>,
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

    /// The symbols registered today, sorted.
    pub fn symbols(&self) -> impl Iterator<Item = Symbol> + '_ {
        self.index.keys().copied()
    }

    /// A symbol's data.
    #[must_use]
    pub fn symbol(&self, symbol: Symbol) -> Option<&SymbolData> {
        self.slots
            .get(&symbol)
            .and_then(|&slot| self.symbols.get(slot))
    }

    /// Today's delivered bars of a symbol at an interval (empty if none).
    #[must_use]
    pub fn bars(&self, symbol: Symbol, interval: Interval) -> &[Bar] {
        self.symbol(symbol).map_or(&[], |s| s.bars(interval))
    }

    /// A registered symbol's position.
    pub(crate) fn slot(&self, symbol: Symbol) -> Option<usize> {
        self.slots.get(&symbol).copied()
    }

    /// Whether a symbol is registered today.
    pub(crate) fn contains(&self, symbol: Symbol) -> bool {
        self.slots.contains_key(&symbol)
    }

    /// Registers a symbol; returns its slot.
    pub(crate) fn add(&mut self, data: SymbolData) -> usize {
        let slot = self.symbols.len();
        self.index.insert(data.symbol, slot);
        self.slots.insert(data.symbol, slot);
        self.symbols.push(data);
        slot
    }

    /// Drops a symbol for the day (its source failed before it streamed anything).
    pub(crate) fn remove(&mut self, symbol: Symbol) {
        if let Some(slot) = self.index.remove(&symbol) {
            self.slots.remove(&symbol);
            self.symbols.remove(slot);
            for s in self.index.values_mut().chain(self.slots.values_mut()) {
                if *s > slot {
                    *s -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use openbell_model::Ohlcv;

    use super::*;

    fn bar(minute: i64, open: i128, high: i128, low: i128, close: i128, volume: i128) -> Bar {
        let ts = Timestamp::from_nanos(1_704_205_800_000_000_000 + minute * 60_000_000_000);
        let p = |units: i128| Price::from_units(units).unwrap();
        let ohlcv = Ohlcv {
            open: p(open),
            high: p(high),
            low: p(low),
            close: p(close),
            volume: Quantity::from_units(volume).unwrap(),
        };
        Bar::try_new(Symbol::parse("SPY").unwrap(), Interval::M1, ts, ohlcv).unwrap()
    }

    #[test]
    fn metrics_follow_the_delivered_bars() {
        let mut m = Metrics::default();
        assert_eq!(m.vwap(), None);
        assert_eq!(
            (m.open(), m.high(), m.low(), m.last()),
            (None, None, None, None)
        );
        // Typical prices 10 and 11 on volumes 100 and 300: VWAP 4300 / 400 = 10.75.
        for b in [bar(0, 10, 11, 9, 10, 100), bar(1, 10, 12, 10, 11, 300)] {
            m.update(&b);
        }
        assert_eq!(m.open(), Some(Price::from_units(10).unwrap()));
        assert_eq!(m.high(), Some(Price::from_units(12).unwrap()));
        assert_eq!(m.low(), Some(Price::from_units(9).unwrap()));
        assert_eq!(m.last(), Some(Price::from_units(11).unwrap()));
        assert_eq!(m.volume(), Quantity::from_units(400).unwrap());
        assert_eq!(m.bars(), 2);
        assert!((m.vwap().unwrap() - 10.75).abs() < 1e-12);
    }

    #[test]
    fn a_symbols_metrics_cover_exactly_the_delivered_bars_whenever_they_are_read() {
        let bars: Vec<Bar> = (0..6)
            .map(|i| {
                bar(
                    i,
                    10 + i as i128,
                    12 + i as i128,
                    9,
                    11,
                    100 * (i as i128 + 1),
                )
            })
            .collect();
        let mut data = SymbolData::bare(bars[0].symbol());
        data.day_bars = BarSlice::new(Arc::new(bars.clone()));
        // Read after none, some (twice over the same count), and all of the bars.
        for delivered in [0, 2, 2, 3, 6] {
            data.delivered = delivered;
            let mut expected = Metrics::default();
            for b in &bars[..delivered] {
                expected.update(b);
            }
            assert_eq!(data.metrics(), expected, "after {delivered} bars");
            assert_eq!(data.metrics().bars(), delivered as u64);
            assert_eq!(data.last_close(), expected.last());
        }
        // The last close reads the raw rows when the day has them, the bars when it does not.
        let (fractional, last) = (Price::from_raw(11_250_000_001), bars.len() - 1);
        let mut with_rows: Vec<Bar> = bars.clone();
        with_rows[last] = Bar::try_new(
            bars[last].symbol(),
            Interval::M1,
            bars[last].ts_event(),
            Ohlcv {
                close: fractional,
                ..bars[last].ohlcv()
            },
        )
        .unwrap();
        data.day_bars = BarSlice::new(Arc::new(with_rows.clone()));
        data.rows = RawSlice::of(&with_rows).unwrap();
        for delivered in [0, 1, 6] {
            data.delivered = delivered;
            let expected = delivered.checked_sub(1).map(|i| with_rows[i].close());
            assert_eq!(data.last_close(), expected, "after {delivered} bars, raw");
        }
        assert_eq!(data.last_close(), Some(fractional));
        assert_eq!(data.metrics().high(), Some(Price::from_units(17).unwrap()));
        assert_eq!(data.metrics().volume(), Quantity::from_units(2100).unwrap());
    }
}
