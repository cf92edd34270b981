//! The day loop (ARCHITECTURE.md, phases 0–6): the engine, its phases, registration and
//! warm-up. Streaming, scans and trading live in the submodules.

mod queues;
mod scan;
mod stream;
mod trading;

pub(crate) use self::stream::Derivation;

use self::trading::Trading;
pub use self::trading::{OwnedTradingReport, TradingReport};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use openbell_calendar::{
    BarSlot, Resampler, TradingDay, coverage_of, coverage_of_stamps, resample_day, resample_raw_day,
};
use openbell_indicators::{Candle, Inputs};
use openbell_model::{Bar, Interval, ModelError, RawBar, Symbol, SymbolMap, Timestamp};
use tracing::{debug, info, info_span, warn};

use crate::clock::Clock;
use crate::config::{EngineConfig, Universe};
use crate::event::{Event, EventSink, FaultKind, Observer, Phase};
use crate::scanner::{Scanner, ScannerKind};
use crate::session_data::{
    DayBars, DayQuality, Feed, RegisteredIndicator, SessionData, SymbolData,
};
use crate::source::{BarSlice, BarSource, RawSlice, SourceError};

/// Why a session stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration cannot run.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The calendar could not answer.
    #[error(transparent)]
    Calendar(#[from] openbell_calendar::CalendarError),
    /// Building derived bars failed.
    #[error(transparent)]
    Resample(#[from] openbell_calendar::ResampleError),
    /// The universe could not be listed.
    #[error("listing the universe: {0}")]
    Source(SourceError),
    /// Booking a trade left a value's range.
    #[error("trading: {0}")]
    Trading(#[from] ModelError),
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Trading days processed.
    pub days: u32,
    /// Base bars delivered.
    pub base_bars: u64,
    /// Derived bars delivered.
    pub derived_bars: u64,
    /// Indicator values produced in session (warm-up not counted).
    pub indicator_values: u64,
    /// Faults by kind: symbol-days skipped because the source failed or had no data.
    pub faults: BTreeMap<String, u64>,
    /// True when a stop request ended the session early, at a safe point.
    pub stopped: bool,
}

/// Where events go: the sink, then the observer with the session data of that moment.
struct Outputs<'a> {
    sink: &'a mut dyn EventSink,
    observer: Option<&'a mut dyn Observer>,
    /// Whether anyone takes bar and indicator events.
    wants_bars: bool,
}

impl Outputs<'_> {
    fn emit(&mut self, event: &Event, now: Timestamp, data: &SessionData) {
        self.sink.emit(event);
        if let Some(observer) = self.observer.as_mut() {
            observer.observe(event, now, data);
        }
    }
}

/// A session engine: pure and synchronous; time comes from the clock, bars from the source,
/// and every event goes to the sink.
pub struct Engine<'a> {
    config: EngineConfig,
    source: &'a mut dyn BarSource,
    clock: &'a mut dyn Clock,
    out: Outputs<'a>,
    data: SessionData,
    /// Every symbol registered in the session, numbered from 0 in the order of its first
    /// registration ([`crate::Context::symbol_number`]).
    numbers: SymbolMap<usize>,
    summary: Summary,
    reported: BTreeSet<(Symbol, NaiveDate)>,
    /// Yesterday's indicators by symbol, each with its place in the configured indicators, to
    /// continue for symbols registered again today.
    carried: BTreeMap<Symbol, Vec<Numbered>>,
    /// Recent days' bars by symbol and date, kept for the trailing history of the days that
    /// follow (never more than the history window).
    recent: BTreeMap<(Symbol, NaiveDate), Arc<DayBars>>,
    /// The strategy, broker and portfolio of a trading session.
    trading: Option<Trading<'a>>,
    /// True while an inserted symbol catches up: the strategy does not see those bars.
    catching_up: bool,
    /// Set from outside to stop at a safe point.
    stop: Option<&'a std::sync::atomic::AtomicBool>,
    /// Scanners written in Rust, by the name their config uses.
    scanners: BTreeMap<String, &'a mut dyn Scanner>,
    /// Today's bar slots: the base interval, then each derived interval.
    slots: Vec<Arc<[BarSlot]>>,
    /// The order today's derived intervals are built in, each with what it is built from
    /// ([`stream::plan_derivations`]).
    derivations: Vec<(usize, Option<Interval>)>,
    /// Today's derived window closes, every interval's, sorted; `[..next_boundary]` have
    /// been passed. A window can only come due when the clock reaches the next one.
    boundaries: Vec<Timestamp>,
    next_boundary: usize,
    /// The day's queues, kept between days so their storage is reused.
    queues: queues::Queues,
    /// Storage of days gone by, reused for the days that follow.
    spare: Spare,
    /// The configured indicators' labels, shared by every symbol's registration.
    labels: Vec<Arc<str>>,
    /// When each base bar of a usual day becomes known (a bar at every slot's open), as the
    /// queues key it: the same for every symbol of the day.
    usual_closes: Vec<u64>,
    /// Today's open, which names the session to the indicators.
    session_open: Timestamp,
    /// Reused per delivery, so the hot path does not allocate.
    derived_scratch: Vec<Bar>,
    /// Whether every base bar is wanted once delivered (by the sink or the trading path), set
    /// as each day's stream starts.
    after_each_base: bool,
    outputs_scratch: Vec<(Interval, Arc<str>, openbell_indicators::Output)>,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl<'a> Engine<'a> {
    /// An engine for `config`.
    ///
    /// # Errors
    /// [`EngineError::Config`] naming the key at fault, before anything runs.
    pub fn new(
        config: EngineConfig,
        source: &'a mut dyn BarSource,
        clock: &'a mut dyn Clock,
        sink: &'a mut dyn EventSink,
    ) -> Result<Self, EngineError> {
        config.validate()?;
        let labels = config
            .indicators
            .iter()
            .map(|i| i.label.as_str().into())
            .collect();
        Ok(Self {
            config,
            source,
            clock,
            out: Outputs {
                wants_bars: sink.wants_bars(),
                sink,
                observer: None,
            },
            data: SessionData::default(),
            numbers: SymbolMap::default(),
            summary: Summary::default(),
            reported: BTreeSet::new(),
            recent: BTreeMap::new(),
            carried: BTreeMap::new(),
            trading: None,
            catching_up: false,
            stop: None,
            scanners: BTreeMap::new(),
            slots: Vec::new(),
            derivations: Vec::new(),
            boundaries: Vec::new(),
            next_boundary: 0,
            queues: queues::Queues::default(),
            spare: Spare::default(),
            usual_closes: Vec::new(),
            labels,
            session_open: Timestamp::EPOCH,
            derived_scratch: Vec::new(),
            after_each_base: false,
            outputs_scratch: Vec::new(),
        })
    }

    /// Adds an observer that sees every event with the session data of that moment.
    #[must_use]
    pub fn with_observer(mut self, observer: &'a mut dyn Observer) -> Self {
        self.out.observer = Some(observer);
        self.out.wants_bars = true;
        self
    }

    /// Attaches a scanner written in Rust, used by scanners configured as
    /// [`ScannerKind::Custom`] with this name.
    #[must_use]
    pub fn with_scanner(mut self, name: &str, scanner: &'a mut dyn Scanner) -> Self {
        self.scanners.insert(name.to_owned(), scanner);
        self
    }

    /// Lets `stop` end the session early: it is checked between delivery times and between
    /// days; once set, the current day closes at the last complete delivery time and no further
    /// day starts ([`Summary::stopped`]).
    #[must_use]
    pub const fn with_stop(mut self, stop: &'a std::sync::atomic::AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    fn stop_requested(&self) -> bool {
        self.stop
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sends an event to the sink, then shows it to the observer.
    fn emit(&mut self, event: &Event) {
        self.out.emit(event, self.clock.now(), &self.data);
    }

    /// The session data: today's while running, the last day's after the run.
    #[must_use]
    pub const fn session_data(&self) -> &SessionData {
        &self.data
    }

    /// Runs every trading day from the start date to the end date.
    ///
    /// # Errors
    /// Calendar and resampling errors stop the session; data faults are reported as events
    /// and skipped.
    pub fn run(&mut self) -> Result<Summary, EngineError> {
        for (i, spec) in self.config.scanners.iter().enumerate() {
            if let ScannerKind::Custom(name) = &spec.kind
                && !self.scanners.contains_key(name)
            {
                return Err(EngineError::Config(crate::ConfigError {
                    key: format!("scanner[{i}].kind"),
                    message: format!("no scanner named {name:?} is attached to the engine"),
                }));
            }
        }
        let _session =
            info_span!("session", start = %self.config.start, end = %self.config.end).entered();
        let days = self
            .config
            .calendar
            .trading_days(self.config.start, self.config.end)?;
        for day in &days {
            if self.stop_requested() {
                self.summary.stopped = true;
                break;
            }
            let _day = info_span!("trading_day", date = %day.date).entered();
            self.run_day(day)?;
            self.summary.days += 1;
        }
        if self.stop_requested() {
            self.summary.stopped = true;
        }
        let ts = self.clock.now();
        self.emit(&Event::SessionEnded {
            days: self.summary.days,
            ts,
        });
        info!(clock = %ts, days = self.summary.days, bars = self.summary.base_bars, "session ended");
        Ok(self.summary.clone())
    }

    fn phase(&mut self, date: NaiveDate, phase: Phase) {
        let ts = self.clock.now();
        debug!(clock = %ts, ?phase, "phase");
        self.emit(&Event::PhaseStarted { date, phase, ts });
    }

    fn fault(&mut self, symbol: Symbol, date: NaiveDate, kind: FaultKind, reason: String) {
        // A symbol-day is reported once, however many days' history it is part of.
        if !self.reported.insert((symbol, date)) {
            return;
        }
        let ts = self.clock.now();
        warn!(clock = %ts, %symbol, reason = %reason, "skipped");
        let key = match kind {
            FaultKind::SourceFailed => "source_failed",
            FaultKind::NoData => "no_data",
            FaultKind::UnknownSymbol => "unknown_symbol",
        };
        *self.summary.faults.entry(key.to_owned()).or_default() += 1;
        self.emit(&Event::Fault {
            symbol,
            date,
            kind,
            reason,
            ts,
        });
    }

    /// Phase 0: yesterday's session data is dropped; its bars move (uncopied) to the recent
    /// days kept for trailing history, and days older than today's window are forgotten.
    fn reset(&mut self, history_days: &[TradingDay]) {
        let old = std::mem::take(&mut self.data);
        // Recent days are kept only while some day's history still needs them.
        let keep_from = history_days.first().map(|d| d.date);
        self.carried.clear();
        if let Some(date) = old.date() {
            for s in old.symbols {
                self.spare.closes.push(s.closes);
                // Indicators continue where yesterday left them for a symbol registered again
                // today: the continuous series, with no warm-up to repeat.
                let mut carried = Vec::with_capacity(s.indicators.len());
                for i in s.indicators {
                    self.spare.values.push(i.values);
                    carried.push((i.spec, i.indicator));
                }
                self.carried.insert(s.symbol, carried);
                let complete = s.delivered == s.day_bars.len() && !s.day_bars.is_empty();
                if keep_from.is_some() && complete {
                    let bars = DayBars {
                        base: s.day_bars,
                        derived: s.derived,
                    };
                    self.recent.insert((s.symbol, date), Arc::new(bars));
                } else {
                    self.spare.bars.extend(s.derived);
                }
            }
        }
        let recent = std::mem::take(&mut self.recent);
        for (key, bars) in recent {
            if keep_from.is_some_and(|first| key.1 >= first) {
                self.recent.insert(key, bars);
            } else if let Ok(bars) = Arc::try_unwrap(bars) {
                self.spare.bars.extend(bars.derived);
            }
        }
    }

    fn run_day(&mut self, day: &TradingDay) -> Result<(), EngineError> {
        let date = day.date;
        let history_days = self.history_days(day);
        // Phase 0: clear and move to the open.
        self.reset(&history_days);
        self.slots = std::iter::once(self.config.base_interval)
            .chain(self.config.derived.iter().copied())
            .map(|iv| day.bar_slots(iv).into())
            .collect();
        let iv = self.config.base_interval.as_nanos();
        self.usual_closes.clear();
        self.usual_closes.extend(
            self.slots[0]
                .iter()
                .map(|s| queues::close_offset(s.open.as_nanos(), iv, day)),
        );
        self.derivations = stream::plan_derivations(&self.config.derived, &self.slots[1..]);
        self.boundaries = self.slots[1..]
            .iter()
            .flat_map(|slots| slots.iter().map(|s| s.close))
            .collect();
        self.boundaries.sort_unstable();
        self.boundaries.dedup();
        self.next_boundary = 0;
        self.clock.advance_to(day.open);
        self.data.day = Some(day.clone());
        self.session_open = day.open;
        self.emit(&Event::DayStarted {
            date,
            ts: self.clock.now(),
        });
        self.phase(date, Phase::Reset);

        // Phase 1: pre-session scans choose the day's symbols from data before their cutoff;
        // without pre-session scanners the whole universe trades.
        self.phase(date, Phase::PreSessionScan);
        let universe = self.universe_symbols()?;
        let pre_session: Vec<(usize, Timestamp)> = self
            .config
            .scanners
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.pre_session_cutoff(day).map(|cutoff| (i, cutoff)))
            .collect();
        let symbols = if pre_session.is_empty() {
            universe.clone()
        } else {
            let mut chosen: Vec<Symbol> = Vec::new();
            for (i, cutoff) in pre_session {
                for symbol in self.scan(i, day, cutoff, &universe) {
                    if !chosen.contains(&symbol) {
                        chosen.push(symbol);
                    }
                }
            }
            chosen
        };

        // Phase 2: register symbols with trailing history and warmed indicators. Symbols
        // the portfolio holds or has working orders in stay registered, so they keep their
        // prices and can be exited, whatever today's scans chose.
        self.phase(date, Phase::Register);
        let mut symbols = symbols;
        if let Some(t) = &self.trading {
            let held = t
                .portfolio
                .holdings()
                .filter(|h| !h.quantity().is_zero())
                .map(crate::portfolio::Holding::symbol)
                .chain(t.broker.open_orders().map(openbell_model::Order::symbol));
            for symbol in held {
                if !symbols.contains(&symbol) {
                    symbols.push(symbol);
                }
            }
        }
        for symbol in symbols {
            if self.data.contains(symbol) {
                continue;
            }
            let data = self.register(symbol, &history_days)?;
            let history_bars = data.history_len();
            self.data.add(data);
            self.emit(&Event::SymbolAdded {
                symbol,
                history_bars,
                caught_up: 0,
                ts: self.clock.now(),
            });
        }

        // Phase 3: load the day's queues.
        self.phase(date, Phase::Load);
        let registered: Vec<Symbol> = self.data.symbols.iter().map(|s| s.symbol).collect();
        for symbol in registered {
            self.load_day(symbol, day);
        }

        // Phase 4: activate.
        self.phase(date, Phase::Activate);
        if let Some(t) = self.trading.as_mut() {
            let equity = t.portfolio.equity()?;
            t.broker.start_day(equity);
        }
        self.hook(|s, ctx| s.on_day_start(ctx))?;

        // Phase 5: stream, pausing for mid-session scans and insertions.
        self.phase(date, Phase::Stream);
        let delivered = self.stream(day, &universe, &history_days)?;

        // Phase 6: end of day.
        self.clock.advance_to(day.close);
        self.phase(date, Phase::EndOfDay);
        for slot in 0..self.data.symbols.len() {
            let mut late = Vec::new();
            stream::derive(
                &mut self.data.symbols[slot].derivations,
                stream::Step::Finish,
                &mut late,
            )?;
            for bar in late {
                self.deliver_derived(slot, &bar, day.close)?;
            }
        }
        self.trade_day_end(day)?;
        self.emit(&Event::DayEnded {
            date,
            bars: delivered,
            ts: self.clock.now(),
        });
        info!(clock = %self.clock.now(), bars = delivered, "day ended");
        Ok(())
    }

    /// The universe's symbols.
    fn universe_symbols(&mut self) -> Result<Vec<Symbol>, EngineError> {
        match &self.config.universe {
            Universe::List(symbols) => Ok(symbols.clone()),
            Universe::All => self
                .source
                .symbols(self.config.base_interval)
                .map_err(EngineError::Source),
        }
    }

    /// Loads a registered symbol's bars for the day into its session data and scores their
    /// quality. When the source fails, the fault is reported, the symbol is dropped for the
    /// day, and the answer is false.
    fn load_day(&mut self, symbol: Symbol, day: &TradingDay) -> bool {
        let date = day.date;
        let base = self.config.base_interval;
        match self.source.bars(symbol, base, day.open, day.close) {
            Ok(bars) => {
                if bars.is_empty() {
                    let reason = format!("no {base} bars for {symbol} on {date}");
                    self.fault(symbol, date, FaultKind::NoData, reason);
                }
                // The stream reads the bars' raw form. One pass over it works out when each
                // bar becomes known and whether the day is the usual one (a bar in every slot,
                // in order), whose quality needs no more work.
                let rows = bars
                    .raw()
                    .or_else(|| RawSlice::of(&bars))
                    .unwrap_or_default();
                let mut closes = self.spare.closes.pop().unwrap_or_default();
                let slots: &[BarSlot] = &self.slots[0];
                let iv = base.as_nanos();
                let raw: &[RawBar] = &rows;
                let usual_closes = &self.usual_closes;
                let usual = if raw.len() == bars.len() {
                    let stamps = raw.iter().map(RawBar::ts_event);
                    queues::closes(stamps, slots, usual_closes, iv, day, &mut closes)
                } else {
                    let stamps = bars.iter().map(|b| b.ts_event().as_nanos());
                    queues::closes(stamps, slots, usual_closes, iv, day, &mut closes)
                };
                let (expected, present, missing) = if usual {
                    let n = u32::try_from(slots.len()).unwrap_or(u32::MAX);
                    (n, n, Vec::new())
                } else if raw.len() == bars.len() {
                    coverage_of_stamps(slots, raw.len(), |i| {
                        Timestamp::from_nanos(raw[i].ts_event())
                    })
                } else {
                    coverage_of(slots, &bars)
                };
                self.emit(&Event::Quality {
                    symbol,
                    date,
                    expected,
                    present,
                    missing: missing.clone(),
                    ts: self.clock.now(),
                });
                if let Some(slot) = self.data.slot(symbol) {
                    let data = &mut self.data.symbols[slot];
                    data.quality = DayQuality {
                        expected,
                        present,
                        missing,
                    };
                    let old = std::mem::replace(&mut data.closes, closes);
                    if old.capacity() > 0 {
                        self.spare.closes.push(old);
                    }
                    data.day_bars = bars;
                    data.rows = rows;
                    data.delivered = 0;
                } else {
                    self.spare.closes.push(closes);
                }
                true
            }
            Err(e) => {
                self.fault(symbol, date, FaultKind::SourceFailed, e.0);
                self.data.remove(symbol);
                false
            }
        }
    }

    /// Today's slots at `interval` (the base interval or a derived one).
    fn slots_of(&self, interval: Interval) -> &Arc<[BarSlot]> {
        let k = self
            .config
            .derived
            .iter()
            .position(|iv| *iv == interval)
            .map_or(0, |k| k + 1);
        &self.slots[k]
    }

    /// The trading days of the trailing history, oldest first.
    fn history_days(&self, day: &TradingDay) -> Vec<TradingDay> {
        let mut days = Vec::new();
        let mut date = day.date;
        for _ in 0..self.config.history_days {
            let Ok(prev) = self.config.calendar.previous_trading_day(date) else {
                break;
            };
            date = prev.date;
            days.push(prev);
        }
        days.reverse();
        days
    }

    /// The recent days' bars of `symbol` for `history_days`: kept from earlier days when this
    /// session streamed them, else read from the source (and kept). A day the source cannot
    /// read is reported and left out.
    fn history(
        &mut self,
        symbol: Symbol,
        history_days: &[TradingDay],
    ) -> Result<Vec<(usize, Arc<DayBars>)>, EngineError> {
        let base = self.config.base_interval;
        let mut history = Vec::with_capacity(history_days.len());
        for (h, hday) in history_days.iter().enumerate() {
            if let Some(bars) = self.recent.get(&(symbol, hday.date)) {
                history.push((h, Arc::clone(bars)));
                continue;
            }
            match self.source.bars(symbol, base, hday.open, hday.close) {
                Ok(bars) => {
                    let raw = bars.raw();
                    let derived = self
                        .config
                        .derived
                        .iter()
                        .map(|d| match &raw {
                            Some(rows) => resample_raw_day(hday, symbol, base, *d, rows),
                            None => resample_day(hday, symbol, base, *d, &bars),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let bars = Arc::new(DayBars {
                        base: bars,
                        derived,
                    });
                    self.recent.insert((symbol, hday.date), Arc::clone(&bars));
                    history.push((h, bars));
                }
                Err(e) => self.fault(symbol, hday.date, FaultKind::SourceFailed, e.0),
            }
        }
        Ok(history)
    }

    /// Builds a symbol's data for the day: trailing history (one bad symbol-day costs only
    /// that day) and indicators warmed on it, day by day, so derived bars and session resets
    /// match a continuous run.
    fn register(
        &mut self,
        symbol: Symbol,
        history_days: &[TradingDay],
    ) -> Result<SymbolData, EngineError> {
        let history = self.history(symbol, history_days)?;
        let base = self.config.base_interval;
        let carried = self
            .carried
            .remove(&symbol)
            .filter(|c| c.len() == self.config.indicators.len());
        let warm = carried.is_none();
        let mut built = carried.unwrap_or_else(|| self.config.build_indicators());
        // Grouped by interval, base first, each interval's in configured order.
        let intervals: Vec<Interval> = std::iter::once(base)
            .chain(self.config.derived.iter().copied())
            .collect();
        let place = |spec: usize| {
            let interval = self.config.indicators[spec].interval;
            (intervals.iter().position(|iv| *iv == interval), spec)
        };
        built.sort_by_key(|(spec, _)| place(*spec));
        let mut indicators = Vec::with_capacity(built.len());
        for (spec, indicator) in built {
            let config = &self.config.indicators[spec];
            let bars = self.slots_of(config.interval).len();
            indicators.push(RegisteredIndicator {
                label: Arc::clone(&self.labels[spec]),
                interval: config.interval,
                spec,
                indicator,
                values: self.spare.values(bars),
            });
        }
        let derivations = self
            .derivations
            .iter()
            .map(|&(k, from)| {
                let target = self.config.derived[k];
                let slots = Arc::clone(self.slots_of(target));
                Resampler::with_slots(slots, symbol, from.unwrap_or(base), target)
                    .map(|resampler| stream::Derivation { from, resampler })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = self.numbers.len();
        let number = *self.numbers.entry(symbol).or_insert(next);
        let mut start = 0;
        let mut feeds: Vec<Feed> = intervals
            .iter()
            .map(|iv| {
                let on = |ind: &&RegisteredIndicator| ind.interval == *iv;
                let end = start + indicators[start..].iter().take_while(on).count();
                let inputs = indicators[start..end]
                    .iter()
                    .fold(Inputs::NONE, |all, ind| all | ind.indicator.inputs());
                let feed = Feed { start, end, inputs };
                start = end;
                feed
            })
            .collect();
        // Each indicator sees only its own interval, so each interval is fed on its own, its
        // bars converted as far as its indicators read them.
        for (h, bars) in history.iter().filter(|_| warm) {
            let session = history_days[*h].open;
            for (k, feed) in feeds.iter().enumerate() {
                let Some(indicators) = indicators.get_mut(feed.start..feed.end) else {
                    continue;
                };
                if indicators.is_empty() {
                    continue;
                }
                let mut update = |candle: &Candle| {
                    for ind in indicators.iter_mut() {
                        ind.indicator.update(candle);
                    }
                };
                match (k, bars.base.raw()) {
                    (0, Some(rows)) => rows
                        .iter()
                        .for_each(|row| update(&Candle::from_raw(row, session, feed.inputs))),
                    (0, None) => bars.base.iter().for_each(|bar| {
                        update(&Candle::from_bar_fields(bar, session, feed.inputs));
                    }),
                    _ => bars.derived[k - 1].iter().for_each(|bar| {
                        update(&Candle::from_bar_fields(bar, session, feed.inputs));
                    }),
                }
            }
        }
        let derived = (1..self.slots.len())
            .map(|k| self.spare.bars(self.slots[k].len()))
            .collect();
        Ok(SymbolData {
            symbol,
            number,
            base_interval: base,
            history: history.into_iter().map(|(_, bars)| bars).collect(),
            day_bars: BarSlice::default(),
            rows: RawSlice::default(),
            closes: Vec::new(),
            delivered: 0,
            derived_intervals: self.config.derived.clone(),
            derived,
            indicators,
            base_feed: feeds.remove(0),
            derived_feeds: feeds,
            metrics: std::cell::Cell::default(),
            quality: DayQuality::default(),
            derivations,
            holding: crate::portfolio::HoldingHint::default(),
        })
    }
}

/// An indicator with its place in the configured indicators.
type Numbered = (usize, Box<dyn openbell_indicators::Indicator>);

/// Storage of days gone by, emptied, for the days that follow: a day in the steady state
/// allocates nothing, and writes to memory the previous days warmed.
#[derive(Debug, Default)]
struct Spare {
    closes: Vec<Vec<u64>>,
    values: Vec<Vec<(Timestamp, openbell_indicators::Output)>>,
    bars: Vec<Vec<Bar>>,
}

impl Spare {
    /// An empty list of indicator values with room for `n`.
    fn values(&mut self, n: usize) -> Vec<(Timestamp, openbell_indicators::Output)> {
        let mut values = self.values.pop().unwrap_or_default();
        values.clear();
        values.reserve(n);
        values
    }

    /// An empty list of bars with room for `n`.
    fn bars(&mut self, n: usize) -> Vec<Bar> {
        let mut bars = self.bars.pop().unwrap_or_default();
        bars.clear();
        bars.reserve(n);
        bars
    }
}

/// When a bar becomes known: its open plus the interval, but never after the day's close (the
/// last bar of an early close, or of a day that does not divide evenly, is short).
fn bar_close(bar: &Bar, day: &TradingDay) -> Timestamp {
    bar.ts_close_nominal().min(day.close)
}
