//! Derived bars: one [`Resampler`] builds a larger interval from a smaller one, aligned to the
//! trading day's open. The data store uses it offline and the engine uses it live, so both give
//! identical bars.
//!
//! Windows are the day's [`TradingDay::bar_slots`] for the target interval: 5m bars of a 09:30
//! open start at 09:30, 09:35 …; 1h bars run 09:30–10:30 … 15:30–16:00 (the last is short); the
//! last bar of an early close ends at the close; `1d` is the whole regular session. A derived
//! bar takes the first open, the highest high, the lowest low, the last close and the summed
//! volume of the source bars inside its window. A window with no source bars produces no bar:
//! gaps stay gaps. Source bars outside regular hours are not part of any window and are
//! counted as skipped.
//!
//! A window is emitted as soon as it is known to be complete: when a source bar ends at the
//! window's close, when a source bar of a later window arrives, when the clock passes the
//! window's close ([`Resampler::close_until`]), or at the end of the day
//! ([`Resampler::finish`]).

use std::sync::Arc;

use openbell_model::{Bar, Interval, ModelError, RawBar, Symbol, Timestamp};

use crate::trading_day::{BarSlot, TradingDay};

/// Why bars could not be resampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// The target interval is not a whole multiple of the source interval (or `1d`).
    #[error(
        "cannot build {target} bars from {source_interval} bars: {target} is not a multiple of {source_interval}"
    )]
    Incompatible {
        /// The source interval.
        source_interval: Interval,
        /// The target interval.
        target: Interval,
    },
    /// A bar of another symbol or interval was pushed.
    #[error("resampler for {expected} received {got}")]
    WrongSeries {
        /// The series the resampler builds from.
        expected: String,
        /// The series of the bar pushed.
        got: String,
    },
    /// Bars must arrive in time order.
    #[error("{symbol} bar at {ts} arrived after a bar at {previous}: bars must be in time order")]
    OutOfOrder {
        /// The symbol.
        symbol: Symbol,
        /// The late bar's open time.
        ts: Timestamp,
        /// The previous bar's open time.
        previous: Timestamp,
    },
    /// Summing the volume of a window overflowed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The open window: its slot and the bar it becomes, so far (its first source bar, extended
/// by the later ones).
#[derive(Debug, Clone, Copy)]
enum Window {
    /// No window is open.
    Closed,
    /// Built from raw bars ([`Resampler::push_raw`]), extended with [`RawBar::absorb`].
    Raw { slot: usize, bar: RawBar },
    /// Built from whole bars, extended with [`Bar::absorb`]: a raw window becomes one when a
    /// whole bar joins it or its volume outgrows the raw form.
    Whole { slot: usize, bar: Bar },
}

impl Window {
    /// The slot of the open window, if one is open.
    #[inline]
    const fn slot(&self) -> Option<usize> {
        match self {
            Self::Closed => None,
            Self::Raw { slot, .. } | Self::Whole { slot, .. } => Some(*slot),
        }
    }
}

/// Streams source bars of one symbol and one trading day into derived bars.
#[derive(Debug, Clone)]
pub struct Resampler {
    symbol: Symbol,
    source: Interval,
    target: Interval,
    slots: Arc<[BarSlot]>,
    /// The slot of the latest bar: bars arrive in time order, so the search only moves forward.
    cursor: usize,
    /// The open and close of `slots[cursor]` in nanoseconds; both `i64::MAX` past the last.
    cursor_open: i64,
    cursor_close: i64,
    current: Window,
    /// The open of the latest bar, once one has `started`; each bar must open after it.
    last_ts: i64,
    started: bool,
    skipped: u64,
}

impl Resampler {
    /// A resampler for `symbol` on `day`, from `source` bars to `target` bars.
    ///
    /// # Errors
    /// [`ResampleError::Incompatible`] unless `target` is `1d` or a whole multiple of `source`
    /// (and longer than it).
    pub fn new(
        day: &TradingDay,
        symbol: Symbol,
        source: Interval,
        target: Interval,
    ) -> Result<Self, ResampleError> {
        Self::with_slots(day.bar_slots(target).into(), symbol, source, target)
    }

    /// As [`Resampler::new`], with the day's `target` slots ([`TradingDay::bar_slots`])
    /// already computed, so many symbols of one day can share them.
    ///
    /// # Errors
    /// As [`Resampler::new`].
    pub fn with_slots(
        slots: Arc<[BarSlot]>,
        symbol: Symbol,
        source: Interval,
        target: Interval,
    ) -> Result<Self, ResampleError> {
        let compatible = target > source
            && (target.is_daily() || target.as_secs().is_multiple_of(source.as_secs()));
        if !compatible {
            return Err(ResampleError::Incompatible {
                source_interval: source,
                target,
            });
        }
        let mut resampler = Self {
            symbol,
            source,
            target,
            slots,
            cursor: 0,
            cursor_open: i64::MAX,
            cursor_close: i64::MAX,
            current: Window::Closed,
            last_ts: i64::MIN,
            started: false,
            skipped: 0,
        };
        resampler.move_cursor(0);
        Ok(resampler)
    }

    /// Source bars that fell outside every window (outside regular hours).
    #[must_use]
    pub const fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Points the cursor at slot `cursor` (or past the last).
    fn move_cursor(&mut self, cursor: usize) {
        self.cursor = cursor;
        (self.cursor_open, self.cursor_close) =
            self.slots.get(cursor).map_or((i64::MAX, i64::MAX), |s| {
                (s.open.as_nanos(), s.close.as_nanos())
            });
    }

    /// The slot containing `ts`, moving the cursor forward (amortized O(1) for ordered bars).
    #[inline]
    fn slot_of(&mut self, ts: i64) -> Option<usize> {
        while self.cursor_close <= ts {
            if self.cursor >= self.slots.len() {
                return None;
            }
            self.move_cursor(self.cursor + 1);
        }
        (self.cursor_open <= ts).then_some(self.cursor)
    }

    /// The derived bar of the open window, if any: its prices, at the target interval and the
    /// window's open.
    #[inline]
    fn emit(&self) -> Option<Bar> {
        Some(match &self.current {
            Window::Closed => return None,
            Window::Raw { slot, bar } => {
                let open = self.slots[*slot].open.as_nanos();
                Bar::from_raw(self.symbol, self.target, &bar.at(open))
            }
            Window::Whole { slot, bar } => bar.with_time(self.target, self.slots[*slot].open),
        })
    }

    /// Appends the completed window's bar to `out` and closes the window. Out of line: it
    /// runs once per derived bar, not per source bar.
    #[inline(never)]
    fn emit_into(&mut self, out: &mut Vec<Bar>) {
        if let Some(bar) = self.emit() {
            out.push(bar);
            self.current = Window::Closed;
        }
    }

    #[cold]
    fn wrong_series(&self, bar: &Bar) -> ResampleError {
        ResampleError::WrongSeries {
            expected: format!("{} {}", self.symbol, self.source),
            got: format!("{} {}", bar.symbol(), bar.interval()),
        }
    }

    #[cold]
    const fn out_of_order(&self, ts: Timestamp, previous: Timestamp) -> ResampleError {
        ResampleError::OutOfOrder {
            symbol: self.symbol,
            ts,
            previous,
        }
    }

    /// Adds a source bar; completed derived bars are appended to `out` in time order.
    ///
    /// # Errors
    /// [`ResampleError::WrongSeries`] for a bar of another symbol or interval;
    /// [`ResampleError::OutOfOrder`] for a bar not later than the previous one;
    /// [`ResampleError::Model`] when the window's summed volume overflows.
    #[inline]
    pub fn push(&mut self, bar: &Bar, out: &mut Vec<Bar>) -> Result<(), ResampleError> {
        if !bar.is_series(&self.symbol, self.source) {
            return Err(self.wrong_series(bar));
        }
        let Some(slot) = self.enter(bar.ts_event().as_nanos(), out)? else {
            return Ok(());
        };
        match &mut self.current {
            Window::Whole { slot: open, bar: w } if *open == slot => w.absorb(bar)?,
            Window::Raw { slot: open, bar: w } if *open == slot => {
                let mut whole = Bar::from_raw(self.symbol, self.source, w);
                whole.absorb(bar)?;
                self.current = Window::Whole { slot, bar: whole };
            }
            _ => self.current = Window::Whole { slot, bar: *bar },
        }
        self.leave(bar.ts_event().as_nanos(), out);
        Ok(())
    }

    /// [`Resampler::push`] of a source bar in its raw form, which names no series: the caller
    /// knows it is a bar of this resampler's symbol at its source interval. The window is built
    /// and emitted exactly as from the whole bar.
    ///
    /// # Errors
    /// [`ResampleError::OutOfOrder`] and [`ResampleError::Model`], as [`Resampler::push`].
    #[inline(always)]
    pub fn push_raw(&mut self, row: &RawBar, out: &mut Vec<Bar>) -> Result<(), ResampleError> {
        let Some(slot) = self.enter(row.ts_event(), out)? else {
            return Ok(());
        };
        match &mut self.current {
            Window::Raw { slot: open, bar: w } if *open == slot => {
                if !w.absorb(row) {
                    self.widen(row)?;
                }
            }
            Window::Whole { slot: open, bar: w } if *open == slot => w.absorb_raw(row)?,
            _ => self.current = Window::Raw { slot, bar: *row },
        }
        self.leave(row.ts_event(), out);
        Ok(())
    }

    /// The open raw window as a whole bar, extended by `row`: its summed volume outgrew the raw
    /// form.
    #[cold]
    fn widen(&mut self, row: &RawBar) -> Result<(), ResampleError> {
        if let Window::Raw { slot, bar } = self.current {
            let mut whole = Bar::from_raw(self.symbol, self.source, &bar);
            whole.absorb_raw(row)?;
            self.current = Window::Whole { slot, bar: whole };
        }
        Ok(())
    }

    /// The first step of a source bar opening at `ts`: checks its order, and returns the slot
    /// of its window, emitting the open window when the bar belongs to a later one; none when
    /// it lies outside every window (it is counted as skipped).
    #[inline(always)]
    fn enter(&mut self, ts: i64, out: &mut Vec<Bar>) -> Result<Option<usize>, ResampleError> {
        if ts <= self.last_ts && self.started {
            let ts = Timestamp::from_nanos(ts);
            return Err(self.out_of_order(ts, Timestamp::from_nanos(self.last_ts)));
        }
        self.last_ts = ts;
        self.started = true;
        let Some(slot) = self.slot_of(ts) else {
            self.skipped += 1;
            return Ok(None);
        };
        if self.current.slot().is_some_and(|open| open != slot) {
            self.emit_into(out);
        }
        Ok(Some(slot))
    }

    /// The last step of a source bar opening at `ts`: its window is complete once a source bar
    /// reaches the window's close (the cursor's slot).
    #[inline(always)]
    fn leave(&mut self, ts: i64, out: &mut Vec<Bar>) {
        if ts.saturating_add(self.source.as_nanos()) >= self.cursor_close {
            self.emit_into(out);
        }
    }

    /// Whether [`Resampler::close_until`] would emit a window at `now`: a window is open and
    /// `now` has reached its close.
    #[must_use]
    #[inline]
    pub fn due(&self, now: Timestamp) -> bool {
        self.current
            .slot()
            .and_then(|slot| self.slots.get(slot))
            .is_some_and(|s| s.close <= now)
    }

    /// Emits the open window if the clock `now` has reached its close (live use: a window whose
    /// last source bar never came is complete when its time is up).
    #[inline]
    pub fn close_until(&mut self, now: Timestamp) -> Option<Bar> {
        let slot = self.current.slot()?;
        if self.slots[slot].close > now {
            return None;
        }
        let bar = self.emit();
        self.current = Window::Closed;
        bar
    }

    /// Emits the open window, if any: the end of the day or of the input.
    pub fn finish(&mut self) -> Option<Bar> {
        let bar = self.emit();
        self.current = Window::Closed;
        bar
    }
}

/// Resamples one trading day of source bars (in time order) to `target`.
///
/// # Errors
/// As [`Resampler::new`] and [`Resampler::push`].
pub fn resample_day(
    day: &TradingDay,
    symbol: Symbol,
    source: Interval,
    target: Interval,
    bars: &[Bar],
) -> Result<Vec<Bar>, ResampleError> {
    resample_each(day, symbol, source, target, bars, Resampler::push)
}

/// [`resample_day`] of the day's bars in their raw form ([`Resampler::push_raw`]): the caller
/// knows they are `symbol`'s bars at `source`.
///
/// # Errors
/// As [`Resampler::new`] and [`Resampler::push_raw`].
pub fn resample_raw_day(
    day: &TradingDay,
    symbol: Symbol,
    source: Interval,
    target: Interval,
    rows: &[RawBar],
) -> Result<Vec<Bar>, ResampleError> {
    resample_each(day, symbol, source, target, rows, Resampler::push_raw)
}

/// One day's source bars, each pushed with `push`, then the last window.
fn resample_each<T>(
    day: &TradingDay,
    symbol: Symbol,
    source: Interval,
    target: Interval,
    items: &[T],
    push: impl Fn(&mut Resampler, &T, &mut Vec<Bar>) -> Result<(), ResampleError>,
) -> Result<Vec<Bar>, ResampleError> {
    let mut resampler = Resampler::new(day, symbol, source, target)?;
    let mut out = Vec::with_capacity(items.len() / 2 + 1);
    for item in items {
        push(&mut resampler, item, &mut out)?;
    }
    out.extend(resampler.finish());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use openbell_model::{Ohlcv, Price, Quantity};
    use proptest::prelude::*;

    use super::*;
    use crate::Calendar;

    fn day(date: &str) -> TradingDay {
        Calendar::builtin("XNYS")
            .unwrap()
            .trading_day(date.parse().unwrap())
            .unwrap()
            .unwrap()
    }

    fn spy() -> Symbol {
        Symbol::parse("SPY").unwrap()
    }

    /// A 1m bar at `minute` minutes after the open with close = 100 + minute/100.
    fn minute_bar(day: &TradingDay, minute: i64, volume: i128) -> Bar {
        let ts = day.open.checked_add_nanos(minute * 60_000_000_000).unwrap();
        let c = Price::from_raw(100_000_000_000 + i128::from(minute) * 10_000_000);
        let ohlcv = Ohlcv {
            open: c,
            high: Price::from_raw(c.raw() + 50_000_000),
            low: Price::from_raw(c.raw() - 50_000_000),
            close: c,
            volume: Quantity::from_units(volume).unwrap(),
        };
        Bar::try_new(spy(), Interval::M1, ts, ohlcv).unwrap()
    }

    #[test]
    fn five_minute_bars_align_to_the_open() {
        let d = day("2024-01-02");
        let bars: Vec<Bar> = (0..390).map(|m| minute_bar(&d, m, 10)).collect();
        let out = resample_day(&d, spy(), Interval::M1, Interval::M5, &bars).unwrap();
        assert_eq!(out.len(), 78);
        assert_eq!(out[0].ts_event(), d.open);
        assert_eq!(out[1].ts_event().to_string(), "2024-01-02T14:35:00Z");
        assert_eq!(out[0].open(), bars[0].open());
        assert_eq!(out[0].close(), bars[4].close());
        assert_eq!(out[0].high(), bars[4].high());
        assert_eq!(out[0].low(), bars[0].low());
        assert_eq!(out[0].volume(), Quantity::from_units(50).unwrap());
    }

    #[test]
    fn hourly_last_bar_is_short_and_early_close_ends_at_the_close() {
        let d = day("2024-01-02");
        let bars: Vec<Bar> = (0..390).map(|m| minute_bar(&d, m, 1)).collect();
        let out = resample_day(&d, spy(), Interval::M1, Interval::H1, &bars).unwrap();
        assert_eq!(out.len(), 7);
        assert_eq!(out[6].ts_event().to_string(), "2024-01-02T20:30:00Z");
        assert_eq!(out[6].volume(), Quantity::from_units(30).unwrap());

        let early = day("2024-11-29");
        let bars: Vec<Bar> = (0..210).map(|m| minute_bar(&early, m, 1)).collect();
        let out = resample_day(&early, spy(), Interval::M1, Interval::H1, &bars).unwrap();
        assert_eq!(out.len(), 4);
        assert_eq!(out[3].volume(), Quantity::from_units(30).unwrap());
        let daily = resample_day(&early, spy(), Interval::M1, Interval::D1, &bars).unwrap();
        assert_eq!(daily.len(), 1);
        assert_eq!(daily[0].ts_event(), early.open);
        assert_eq!(daily[0].close(), bars[209].close());
    }

    #[test]
    fn empty_windows_produce_no_bar_and_extended_hours_are_skipped() {
        let d = day("2024-01-02");
        // Minutes 0..5 and 15..20 only: windows 09:30 and 09:45; 09:35 and 09:40 are gaps.
        let mut bars = vec![minute_bar(&d, -30, 5)];
        bars.extend((0..5).chain(15..20).map(|m| minute_bar(&d, m, 1)));
        bars.push(minute_bar(&d, 400, 5));
        let mut r = Resampler::new(&d, spy(), Interval::M1, Interval::M5).unwrap();
        let mut out = Vec::new();
        for bar in &bars {
            r.push(bar, &mut out).unwrap();
        }
        assert!(r.finish().is_none());
        let opens: Vec<String> = out.iter().map(|b| b.ts_event().to_string()).collect();
        assert_eq!(opens, ["2024-01-02T14:30:00Z", "2024-01-02T14:45:00Z"]);
        assert_eq!(r.skipped(), 2);
    }

    #[test]
    fn live_windows_close_on_time_without_their_last_bar() {
        let d = day("2024-01-02");
        let mut r = Resampler::new(&d, spy(), Interval::M1, Interval::M5).unwrap();
        let mut out = Vec::new();
        r.push(&minute_bar(&d, 0, 1), &mut out).unwrap();
        r.push(&minute_bar(&d, 1, 1), &mut out).unwrap();
        assert!(out.is_empty());
        let before = d.open.checked_add_nanos(4 * 60_000_000_000).unwrap();
        assert!(!r.due(before));
        assert!(r.close_until(before).is_none());
        let at_close = d.open.checked_add_nanos(5 * 60_000_000_000).unwrap();
        assert!(r.due(at_close));
        let bar = r.close_until(at_close).unwrap();
        assert!(
            !r.due(at_close),
            "nothing is open once the window is emitted"
        );
        assert_eq!(bar.volume(), Quantity::from_units(2).unwrap());
    }

    #[test]
    fn rejects_bad_input() {
        let d = day("2024-01-02");
        assert!(Resampler::new(&d, spy(), Interval::M5, Interval::M1).is_err());
        assert!(Resampler::new(&d, spy(), Interval::M5, Interval::M5).is_err());
        let seven = Interval::from_secs(420).unwrap();
        assert!(Resampler::new(&d, spy(), Interval::M5, seven).is_err());
        let mut r = Resampler::new(&d, spy(), Interval::M1, Interval::M5).unwrap();
        let mut out = Vec::new();
        r.push(&minute_bar(&d, 3, 1), &mut out).unwrap();
        let err = r.push(&minute_bar(&d, 2, 1), &mut out).unwrap_err();
        assert!(matches!(err, ResampleError::OutOfOrder { .. }), "{err}");
        // A bar at the same time as the previous one is out of order too.
        let err = r.push(&minute_bar(&d, 3, 1), &mut out).unwrap_err();
        assert!(matches!(err, ResampleError::OutOfOrder { .. }), "{err}");
        r.push(&minute_bar(&d, 4, 1), &mut out).unwrap();
        assert_eq!(out.len(), 1, "the 09:30 window closes with its 09:34 bar");
    }

    proptest! {
        /// Derived bars conserve volume and extremes, and each lies in its window.
        #[test]
        fn resampling_conserves_the_source(
            present in proptest::collection::btree_set(0i64..390, 1..390),
            target in proptest::sample::select(vec![Interval::M5, Interval::M15, Interval::M30, Interval::H1, Interval::D1]),
        ) {
            let d = day("2024-01-02");
            let bars: Vec<Bar> = present.iter().map(|m| minute_bar(&d, *m, *m as i128 + 1)).collect();
            let out = resample_day(&d, spy(), Interval::M1, target, &bars).unwrap();
            let total: i128 = bars.iter().map(|b| b.volume().raw()).sum();
            prop_assert_eq!(out.iter().map(|b| b.volume().raw()).sum::<i128>(), total);
            let max_high = bars.iter().map(Bar::high).max().unwrap();
            prop_assert_eq!(out.iter().map(Bar::high).max().unwrap(), max_high);
            let slots = d.bar_slots(target);
            for pair in out.windows(2) {
                prop_assert!(pair[0].ts_event() < pair[1].ts_event());
            }
            for bar in &out {
                prop_assert!(slots.iter().any(|s| s.open == bar.ts_event()));
            }
        }

        /// Pushing the raw form of each bar (or of some, the others whole) builds the same
        /// windows as pushing the bars, closed the same way: by a bar at the window's close, by
        /// a later bar, by the clock, or at the end (bars outside regular hours are skipped
        /// either way). Huge volumes make raw windows outgrow the raw form.
        #[test]
        fn raw_bars_resample_exactly_as_their_bars(
            present in proptest::collection::btree_set(-40i64..420, 1..200),
            moves in proptest::collection::vec((-5i128..6, 0i128..40, 1i128..1000), 460),
            clock_every in 2usize..40,
            target in proptest::sample::select(vec![Interval::M5, Interval::M15, Interval::H1, Interval::D1]),
            whole in proptest::collection::vec(proptest::bool::weighted(0.2), 460),
            huge in proptest::bool::ANY,
        ) {
            let d = day("2024-01-02");
            let mut price = 10_000i128;
            let bars: Vec<Bar> = present
                .iter()
                .map(|m| {
                    let (step, range, volume) = moves[usize::try_from(m + 40).unwrap()];
                    price += step;
                    let p = |cents: i128| Price::from_raw(cents * 10_000_000);
                    let ts = d.open.checked_add_nanos(m * 60_000_000_000).unwrap();
                    let ohlcv = Ohlcv {
                        open: p(price - step),
                        high: p(price.max(price - step) + range),
                        low: p(price.min(price - step) - range),
                        close: p(price),
                        // Past a third of the raw form's range: three of them overflow it.
                        volume: Quantity::from_units(if huge { volume + 3_100_000_000 } else { volume }).unwrap(),
                    };
                    Bar::try_new(spy(), Interval::M1, ts, ohlcv).unwrap()
                })
                .collect();
            let mut whole_only = Resampler::new(&d, spy(), Interval::M1, target).unwrap();
            let mut raw = whole_only.clone();
            let (mut from_whole, mut from_raw) = (Vec::new(), Vec::new());
            for (i, bar) in bars.iter().enumerate() {
                whole_only.push(bar, &mut from_whole).unwrap();
                if whole[i] {
                    raw.push(bar, &mut from_raw).unwrap();
                } else {
                    raw.push_raw(&RawBar::of(bar).unwrap(), &mut from_raw).unwrap();
                }
                if i % clock_every == 0 {
                    let now = bar.ts_close_nominal();
                    from_whole.extend(whole_only.close_until(now));
                    from_raw.extend(raw.close_until(now));
                }
            }
            from_whole.extend(whole_only.finish());
            from_raw.extend(raw.finish());
            prop_assert!(!from_whole.is_empty() || bars.iter().all(|b| b.ts_event() < d.open || b.ts_event() >= d.close));
            prop_assert_eq!(&from_raw, &from_whole);
            prop_assert_eq!(raw.skipped(), whole_only.skipped());
            // The whole day at once, either way.
            let rows: Vec<RawBar> = bars.iter().map(|b| RawBar::of(b).unwrap()).collect();
            prop_assert_eq!(
                resample_raw_day(&d, spy(), Interval::M1, target, &rows).unwrap(),
                resample_day(&d, spy(), Interval::M1, target, &bars).unwrap()
            );
        }
    }
}
