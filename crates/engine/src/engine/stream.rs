//! Phase 5: the day's queues merged with a heap, delivery of base and derived bars, and
//! mid-session insertion.

use std::sync::Arc;

use openbell_calendar::{BarSlot, ResampleError, Resampler, TradingDay};
use openbell_indicators::{Candle, Inputs};
use openbell_model::{Bar, Interval, RawBar, Symbol, Timestamp};

use super::queues::Queues;
use super::{Engine, EngineError, bar_close};
use crate::config::Mode;
use crate::event::Event;
use crate::session_data::RegisteredIndicator;
use crate::source::{BarSlice, RawSlice};

/// Feeds a delivered bar's candle to the indicators of its interval, keeping the values they
/// produce at clock `ts`; with `events`, each value is also set aside in `outputs` for its
/// event. Returns how many values there were.
#[inline(always)]
fn record(
    indicators: &mut [RegisteredIndicator],
    candle: &Candle,
    ts: Timestamp,
    events: bool,
    outputs: &mut Vec<(Interval, Arc<str>, openbell_indicators::Output)>,
) -> u64 {
    let mut produced = 0;
    if !events {
        for ind in indicators {
            produced += u64::from(ind.record(candle, ts));
        }
        return produced;
    }
    for ind in indicators {
        if ind.record(candle, ts) {
            produced += 1;
            if let Some(&output) = ind.latest() {
                outputs.push((ind.interval, Arc::clone(&ind.label), output));
            }
        }
    }
    produced
}

/// An error of the stream's hot path, boxed.
#[cold]
fn boxed(e: ResampleError) -> Box<EngineError> {
    Box::new(e.into())
}

/// A base bar in the form the stream reads it: raw, or whole on a day whose values do not fit
/// in 64 bits. Both give the same derived bars and candles.
trait BaseInput: Sized {
    /// Bar `i` of a symbol's day in this form, read in place.
    fn pick<'a>(rows: &'a RawSlice, bars: &'a BarSlice, i: usize) -> Option<&'a Self>;

    /// Pushes the bar into a resampler of its series.
    fn push_to(&self, resampler: &mut Resampler, out: &mut Vec<Bar>) -> Result<(), ResampleError>;

    /// The bar's candle, converted as far as `inputs` need.
    fn candle(&self, session: Timestamp, inputs: Inputs) -> Candle;
}

impl BaseInput for RawBar {
    #[inline(always)]
    fn pick<'a>(rows: &'a RawSlice, _: &'a BarSlice, i: usize) -> Option<&'a Self> {
        rows.get(i)
    }

    #[inline(always)]
    fn push_to(&self, resampler: &mut Resampler, out: &mut Vec<Bar>) -> Result<(), ResampleError> {
        resampler.push_raw(self, out)
    }

    #[inline(always)]
    fn candle(&self, session: Timestamp, inputs: Inputs) -> Candle {
        Candle::from_raw(self, session, inputs)
    }
}

impl BaseInput for Bar {
    #[inline(always)]
    fn pick<'a>(_: &'a RawSlice, bars: &'a BarSlice, i: usize) -> Option<&'a Self> {
        bars.get(i)
    }

    #[inline(always)]
    fn push_to(&self, resampler: &mut Resampler, out: &mut Vec<Bar>) -> Result<(), ResampleError> {
        resampler.push(self, out)
    }

    #[inline(always)]
    fn candle(&self, session: Timestamp, inputs: Inputs) -> Candle {
        Candle::from_bar_fields(self, session, inputs)
    }
}

/// One derived interval of a symbol: its resampler, fed the base bars or the bars of a
/// shorter derived interval whose windows tile its own ([`plan_derivations`]).
#[derive(Debug)]
pub(crate) struct Derivation {
    /// The derived interval its source bars are of; none for the base interval.
    pub(super) from: Option<Interval>,
    pub(super) resampler: Resampler,
}

/// What happens to a symbol's derivations besides a base bar's arrival
/// ([`Engine::deliver_base`]).
#[derive(Clone, Copy)]
pub(super) enum Step {
    /// The clock reaches a time: windows whose close it passed are complete.
    CloseUntil(Timestamp),
    /// The day ends: every open window is complete.
    Finish,
}

/// Runs `step` through a symbol's derivations, shortest interval first, appending the derived
/// bars it completes to `out` in that order. A derivation fed from another takes the bars that
/// one completed in this step before its own windows are closed.
#[inline]
pub(super) fn derive(
    derivations: &mut [Derivation],
    step: Step,
    out: &mut Vec<Bar>,
) -> Result<(), ResampleError> {
    let start = out.len();
    for d in derivations {
        if let Some(source) = d.from
            && out.len() > start
        {
            feed(d, source, start, out)?;
        }
        let done = match step {
            Step::CloseUntil(now) => d.resampler.close_until(now),
            Step::Finish => d.resampler.finish(),
        };
        if let Some(bar) = done {
            out.push(bar);
        }
    }
    Ok(())
}

/// Pushes the bars of `source` in `out[start..]` into `d` (out of line: once per completed
/// source window, not per base bar).
#[inline(never)]
fn feed(
    d: &mut Derivation,
    source: Interval,
    start: usize,
    out: &mut Vec<Bar>,
) -> Result<(), ResampleError> {
    let mut k = start;
    while let Some(bar) = out.get(k) {
        if bar.interval() == source {
            let bar = *bar;
            d.resampler.push(&bar, out)?;
        }
        k += 1;
    }
    Ok(())
}

/// The order derived intervals are built in today (shortest first, by index into `derived`),
/// each with the derived interval it is built from: the longest shorter one whose slots tile
/// its slots exactly, else none (the base interval). A tiled window holds the same base bars
/// either way, so its bar is the same; it is built from a few source bars instead of many.
pub(super) fn plan_derivations(
    derived: &[Interval],
    slots: &[Arc<[BarSlot]>],
) -> Vec<(usize, Option<Interval>)> {
    let mut order: Vec<usize> = (0..derived.len()).collect();
    order.sort_by_key(|k| derived[*k]);
    order
        .iter()
        .map(|&k| {
            let target = derived[k];
            let from = order
                .iter()
                .copied()
                .filter(|&i| {
                    let source = derived[i];
                    source < target
                        && (target.is_daily() || target.as_secs().is_multiple_of(source.as_secs()))
                        && tiles(&slots[i], &slots[k])
                })
                .max_by_key(|&i| derived[i])
                .map(|i| derived[i]);
            (k, from)
        })
        .collect()
}

/// Whether the `inner` slots tile the `outer` ones: each outer slot is a run of back-to-back
/// inner slots from its open to its close, and no inner slot lies outside them.
fn tiles(inner: &[BarSlot], outer: &[BarSlot]) -> bool {
    let mut inner = inner.iter().peekable();
    for o in outer {
        let mut at = o.open;
        while at < o.close {
            match inner.next() {
                Some(s) if s.open == at && s.close <= o.close && s.open < s.close => at = s.close,
                _ => return false,
            }
        }
    }
    inner.peek().is_none()
}

impl Engine<'_> {
    /// Inserts a symbol mid-session: history and warmed indicators, then today's bars up to
    /// the clock, and only then its remaining bars join the queues.
    fn insert(
        &mut self,
        symbol: Symbol,
        day: &TradingDay,
        history_days: &[TradingDay],
        queues: &mut Queues,
    ) -> Result<(), EngineError> {
        let data = self.register(symbol, history_days)?;
        let history_bars = data.history_len();
        self.data.add(data);
        if !self.load_day(symbol, day) {
            return Ok(());
        }
        let Some(slot) = self.data.slot(symbol) else {
            return Ok(());
        };
        let now = self.clock.now();
        let split = self.data.symbols[slot]
            .day_bars
            .partition_point(|b| bar_close(b, day) <= now);
        self.catching_up = true;
        for _ in 0..split {
            self.deliver_base(slot, now).map_err(|e| *e)?;
        }
        // Windows whose time is already up.
        let mut late = Vec::new();
        derive(
            &mut self.data.symbols[slot].derivations,
            Step::CloseUntil(now),
            &mut late,
        )?;
        for bar in late {
            self.deliver_derived(slot, &bar, now)?;
        }
        self.catching_up = false;
        // Added and ready: history, warmed indicators and today's bars up to the clock.
        self.emit(&Event::SymbolAdded {
            symbol,
            history_bars,
            caught_up: split,
            ts: now,
        });
        self.hook(|s, ctx| s.on_symbol_added(ctx, symbol))?;
        queues.build(&self.data, day);
        Ok(())
    }

    /// Moves the clock to `target`, stepping in clock-driven mode and closing derived windows
    /// whose time runs out on the way. No queued bar may close at or before `target`.
    fn advance_clock(&mut self, target: Timestamp) -> Result<(), EngineError> {
        if let Mode::ClockDriven { step_nanos } = self.config.mode {
            while self.clock.now() < target {
                let next = Timestamp::from_nanos(
                    (self.clock.now().as_nanos() + step_nanos.max(1)).min(target.as_nanos()),
                );
                self.close_windows(next)?;
                self.clock.advance_to(next);
            }
        }
        self.close_windows(target)?;
        self.clock.advance_to(target);
        Ok(())
    }

    /// Delivers the day's bars in time order, pausing for mid-session scans; returns how many
    /// base bars were delivered.
    pub(super) fn stream(
        &mut self,
        day: &TradingDay,
        universe: &[Symbol],
        history_days: &[TradingDay],
    ) -> Result<u64, EngineError> {
        self.after_each_base = self.out.wants_bars || self.trading.is_some();
        let mut queues = std::mem::take(&mut self.queues);
        queues.build(&self.data, day);
        let mut scans: Vec<(Timestamp, usize)> = self
            .config
            .scanners
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.session_times(day).into_iter().map(move |t| (t, i)))
            .collect();
        scans.sort_unstable();
        let mut next_scan = 0;
        let mut delivered = 0;
        loop {
            let next_close = queues.next_close().map(|offset| queues.at(offset));
            // One pause mechanism: scans (and the insertions they cause) run between groups,
            // after every bar closing at or before their time.
            while let Some(&(t, i)) = scans.get(next_scan) {
                if next_close.is_some_and(|g| g <= t) {
                    break;
                }
                next_scan += 1;
                self.advance_clock(t)?;
                for symbol in self.scan(i, day, t, universe) {
                    if !self.data.contains(symbol) {
                        self.insert(symbol, day, history_days, &mut queues)?;
                    }
                }
            }
            // A stop request ends the day's stream after the last complete delivery time;
            // the day still closes (phase 6) so its records are whole.
            if self.stop_requested() {
                break;
            }
            let Some(offset) = queues.next_close() else {
                break;
            };
            let group_close = queues.at(offset);
            // Windows that ended strictly before this group without their last bar; a window
            // ending exactly now still gets this group's bar.
            self.advance_clock(Timestamp::from_nanos(group_close.as_nanos() - 1))?;
            self.clock.advance_to(group_close);
            // Every base bar closing now, by symbol, each with the derived bars it completes:
            // in lockstep the group is known, else the heap gives it bar by bar.
            if let Some(group) = queues.group_at(offset) {
                for &slot in group {
                    self.deliver_base(slot as usize, group_close)
                        .map_err(|e| *e)?;
                }
                delivered += group.len() as u64;
                queues.take_group();
            } else {
                while let Some(slot) = queues.take_at(offset, &self.data) {
                    self.deliver_base(slot, group_close).map_err(|e| *e)?;
                    delivered += 1;
                }
            }
            // The close's equity is recorded once, after the day's end (phase 6).
            if self.trading.is_some() && group_close < day.close {
                self.record_equity(group_close)?;
            }
        }
        self.queues = queues;
        // The clock never passes the close.
        self.close_windows(day.close)?;
        Ok(delivered)
    }

    /// Emits derived windows whose close is at or before `until`, in close order.
    fn close_windows(&mut self, until: Timestamp) -> Result<(), EngineError> {
        // Only a window's close can make it due: between two closes there is nothing to do.
        if self
            .boundaries
            .get(self.next_boundary)
            .is_none_or(|b| *b > until)
        {
            return Ok(());
        }
        let passed = self.boundaries[self.next_boundary..].partition_point(|b| *b <= until);
        self.next_boundary += passed;
        // Usually every window closed with its last bar: nothing is due.
        let due = |data: &crate::session_data::SymbolData| {
            data.derivations.iter().any(|d| d.resampler.due(until))
        };
        if !self.data.symbols.iter().any(due) {
            return Ok(());
        }
        let mut late: Vec<(Timestamp, Symbol, Interval, usize, Bar)> = Vec::new();
        let day_close = self.data.day.as_ref().map_or(until, |d| d.close);
        let mut done = Vec::new();
        for (slot, data) in self.data.symbols.iter_mut().enumerate() {
            if !due(data) {
                continue;
            }
            derive(&mut data.derivations, Step::CloseUntil(until), &mut done)?;
            for bar in done.drain(..) {
                let close = bar.ts_close_nominal().min(day_close);
                late.push((close, data.symbol, bar.interval(), slot, bar));
            }
        }
        late.sort_by_key(|(close, symbol, interval, _, _)| (*close, *symbol, *interval));
        for (close, _, _, slot, bar) in late {
            self.clock.advance_to(close);
            self.deliver_derived(slot, &bar, close)?;
        }
        Ok(())
    }

    /// Delivers the next base bar of `slot` at clock `ts`, then the derived bars it completes.
    /// The error is boxed, so that the usual outcome is one register.
    #[inline(always)]
    fn deliver_base(&mut self, slot: usize, ts: Timestamp) -> Result<(), Box<EngineError>> {
        let Some(data) = self.data.symbols.get(slot) else {
            return Ok(());
        };
        if data.delivered < data.rows.len() {
            self.deliver_base_from::<RawBar>(slot, ts)
        } else {
            self.deliver_base_whole(slot, ts)
        }
    }

    /// [`Engine::deliver_base`] on a day whose values do not all fit in 64 bits: the bars
    /// themselves are streamed.
    #[cold]
    #[inline(never)]
    fn deliver_base_whole(&mut self, slot: usize, ts: Timestamp) -> Result<(), Box<EngineError>> {
        self.deliver_base_from::<Bar>(slot, ts)
    }

    /// [`Engine::deliver_base`] of the next base bar of `slot`, read in the form `B`.
    #[inline(always)]
    fn deliver_base_from<B: BaseInput>(
        &mut self,
        slot: usize,
        ts: Timestamp,
    ) -> Result<(), Box<EngineError>> {
        let data = &mut self.data.symbols[slot];
        let Some(input) = B::pick(&data.rows, &data.day_bars, data.delivered) else {
            return Ok(());
        };
        // Shortest interval first: a derivation fed from another takes the bars it completed
        // (the scratch is empty when a delivery starts, so all it holds are this bar's).
        let scratch = &mut self.derived_scratch;
        for d in &mut data.derivations {
            match d.from {
                None => input.push_to(&mut d.resampler, scratch).map_err(boxed)?,
                Some(source) => {
                    if !scratch.is_empty() {
                        feed(d, source, 0, scratch).map_err(boxed)?;
                    }
                }
            }
        }
        // Converted to floating point only when an indicator takes it.
        let feed = data.base_feed;
        if feed.start < feed.end
            && let Some(indicators) = data.indicators.get_mut(feed.start..feed.end)
        {
            let candle = input.candle(self.session_open, feed.inputs);
            self.summary.indicator_values += record(
                indicators,
                &candle,
                ts,
                self.out.wants_bars,
                &mut self.outputs_scratch,
            );
        }
        let i = data.delivered;
        data.delivered += 1;
        self.summary.base_bars += 1;
        if self.after_each_base {
            return self.after_base(slot, i, ts).map_err(Box::new);
        }
        if !self.derived_scratch.is_empty() {
            return self.deliver_scratch(slot, ts).map_err(Box::new);
        }
        Ok(())
    }

    /// What follows base bar `i` of `slot` when the sink or the trading path takes every base
    /// bar: its events, the broker and the strategy (once the session data holds the bar and
    /// its values), then the derived bars it completed.
    #[inline(never)]
    fn after_base(&mut self, slot: usize, i: usize, ts: Timestamp) -> Result<(), EngineError> {
        // Built from the raw form the stream read, not read back from the source.
        let data = &self.data.symbols[slot];
        let bar = if let Some(row) = data.rows.get(i) {
            Bar::from_raw(data.symbol, data.base_interval, row)
        } else if let Some(bar) = data.day_bars.get(i) {
            *bar
        } else {
            // Not reached: the stream read bar `i` in one of the two forms.
            if !self.derived_scratch.is_empty() {
                self.deliver_scratch(slot, ts)?;
            }
            return Ok(());
        };
        if self.out.wants_bars {
            self.emit_bar(bar, false, ts);
        }
        self.trade_bar(slot, &bar, ts, true)?;
        if !self.derived_scratch.is_empty() {
            self.deliver_scratch(slot, ts)?;
        }
        Ok(())
    }

    /// Delivers the derived bars a base bar of `slot` completed, shortest interval first.
    #[inline(never)]
    fn deliver_scratch(&mut self, slot: usize, ts: Timestamp) -> Result<(), EngineError> {
        let mut derived = std::mem::take(&mut self.derived_scratch);
        // The derivations run shortest first, so this is rarely out of order.
        if !derived.is_sorted_by_key(Bar::interval) {
            derived.sort_by_key(Bar::interval);
        }
        for d in &derived {
            self.deliver_derived(slot, d, ts)?;
        }
        derived.clear();
        self.derived_scratch = derived;
        Ok(())
    }

    /// Delivers a derived bar of `slot` at clock `ts`.
    pub(super) fn deliver_derived(
        &mut self,
        slot: usize,
        bar: &Bar,
        ts: Timestamp,
    ) -> Result<(), EngineError> {
        let data = &mut self.data.symbols[slot];
        let interval = bar.interval();
        let Some(k) = data.derived_intervals.iter().position(|iv| *iv == interval) else {
            return Ok(());
        };
        self.summary.derived_bars += 1;
        if let Some(&feed) = data.derived_feeds.get(k)
            && feed.start < feed.end
        {
            let candle = Candle::from_bar_fields(bar, self.session_open, feed.inputs);
            let indicators = data.indicators.get_mut(feed.start..feed.end);
            self.summary.indicator_values += record(
                indicators.unwrap_or_default(),
                &candle,
                ts,
                self.out.wants_bars,
                &mut self.outputs_scratch,
            );
        }
        data.derived[k].push(*bar);
        if self.out.wants_bars {
            self.emit_bar(*bar, true, ts);
        }
        self.trade_bar(slot, bar, ts, false)
    }

    /// Emits a delivered bar's event, then the events of the indicator values it produced.
    fn emit_bar(&mut self, bar: Bar, derived: bool, ts: Timestamp) {
        let symbol = bar.symbol();
        let now = self.clock.now();
        self.out
            .emit(&Event::Bar { bar, derived, ts }, now, &self.data);
        let mut outputs = std::mem::take(&mut self.outputs_scratch);
        for (interval, label, output) in outputs.drain(..) {
            let event = Event::Indicator {
                symbol,
                interval,
                label,
                output,
                ts,
            };
            self.out.emit(&event, now, &self.data);
        }
        self.outputs_scratch = outputs;
    }
}

#[cfg(test)]
mod tests {
    use openbell_calendar::Calendar;

    use super::*;

    fn slot(open: i64, close: i64) -> BarSlot {
        BarSlot {
            open: Timestamp::from_nanos(open),
            close: Timestamp::from_nanos(close),
        }
    }

    #[test]
    fn slots_tile_only_when_every_outer_slot_is_covered_back_to_back() {
        let outer = [slot(0, 30), slot(30, 45)];
        assert!(tiles(
            &[
                slot(0, 10),
                slot(10, 20),
                slot(20, 30),
                slot(30, 40),
                slot(40, 45)
            ],
            &outer
        ));
        // A gap inside an outer slot (a break), a straddling slot, and one left over.
        assert!(!tiles(&[slot(0, 10), slot(20, 30), slot(30, 45)], &outer));
        assert!(!tiles(&[slot(0, 20), slot(20, 40), slot(40, 45)], &outer));
        assert!(!tiles(&[slot(0, 30), slot(30, 45), slot(45, 50)], &outer));
        assert!(!tiles(&[slot(0, 30)], &outer));
    }

    #[test]
    fn each_derived_interval_is_built_from_the_longest_shorter_one_that_tiles_it() {
        let cal = Calendar::builtin("XNYS").unwrap();
        let ten = Interval::from_secs(600).unwrap();
        let seven = Interval::from_secs(420).unwrap();
        // Config order is kept in the indices; the plan runs shortest first.
        let derived = [
            Interval::D1,
            Interval::H1,
            Interval::M15,
            ten,
            Interval::M5,
            seven,
        ];
        for date in ["2024-07-02", "2024-07-03"] {
            let day = cal.trading_day(date.parse().unwrap()).unwrap().unwrap();
            let slots: Vec<Arc<[BarSlot]>> =
                derived.iter().map(|iv| day.bar_slots(*iv).into()).collect();
            let plan = plan_derivations(&derived, &slots);
            let from = |iv: Interval| {
                let k = derived.iter().position(|d| *d == iv).unwrap();
                plan.iter().find(|(j, _)| *j == k).unwrap().1
            };
            let order: Vec<Interval> = plan.iter().map(|(k, _)| derived[*k]).collect();
            assert_eq!(
                order,
                [
                    Interval::M5,
                    seven,
                    ten,
                    Interval::M15,
                    Interval::H1,
                    Interval::D1
                ]
            );
            assert_eq!(from(Interval::M5), None);
            assert_eq!(from(seven), None, "7m is no multiple of 5m");
            assert_eq!(from(ten), Some(Interval::M5));
            assert_eq!(
                from(Interval::M15),
                Some(Interval::M5),
                "10m does not divide 15m"
            );
            assert_eq!(from(Interval::H1), Some(Interval::M15));
            assert_eq!(from(Interval::D1), Some(Interval::H1), "{date}");
        }
    }
}
