//! The day loop (ARCHITECTURE.md, phases 0–6) and chronological streaming.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use chrono::NaiveDate;
use openbell_calendar::{BarSlot, Resampler, TradingDay, coverage_of, resample_day};
use openbell_indicators::Candle;
use openbell_model::{Bar, Interval, Symbol, Timestamp};
use tracing::{debug, info, info_span, warn};

use openbell_model::{Fill, ModelError, Money, OrderId, Signal};

use crate::broker::{Broker, BrokerConfig, BrokerEvent, OrderRecord, RiskConfig};
use crate::clock::Clock;
use crate::config::{EngineConfig, Mode, Universe};
use crate::event::{Event, EventSink, FaultKind, Observer, Phase};
use crate::performance::{MetricInputs, Performance, Trade, TradeBook, performance};
use crate::portfolio::Portfolio;
use crate::scanner::{ScanInput, ScanView, Scanner, ScannerKind, ScannerSpec, rank};
use crate::session_data::{
    DayBars, DayQuality, Metrics, RegisteredIndicator, SessionData, SymbolData,
};
use crate::source::{BarSlice, BarSource, SourceError};
use crate::strategy::{Command, Context, Strategy};

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

/// A heap entry: a symbol's next queued bar, ordered by its close time, then the symbol (by
/// rank among today's symbols). Packed into one integer so the heap compares cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Queued(u128);

impl Queued {
    fn new(close: Timestamp, rank: u32, slot: u32) -> Self {
        // Flipping the sign bit maps i64 order onto u64 order.
        #[allow(clippy::cast_sign_loss)]
        let close = (close.as_nanos() as u64) ^ (1 << 63);
        Self((u128::from(close) << 64) | (u128::from(rank) << 32) | u128::from(slot))
    }

    fn close(self) -> Timestamp {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let nanos = (((self.0 >> 64) as u64) ^ (1 << 63)) as i64;
        Timestamp::from_nanos(nanos)
    }

    fn slot(self) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let slot = self.0 as u32;
        slot as usize
    }
}

/// The day's queues: one heap entry per registered symbol with bars left, and each slot's
/// next queued bar.
#[derive(Debug, Default)]
struct Queues {
    heap: BinaryHeap<Reverse<Queued>>,
    /// Per slot: the index of the next bar to queue.
    next: Vec<usize>,
    /// Per slot: its rank among today's symbols in symbol order.
    ranks: Vec<u32>,
}

impl Queues {
    /// Ranks every slot by symbol, then re-keys the heap (after an insertion).
    fn rerank(&mut self, data: &SessionData) {
        self.ranks = vec![0; data.symbols.len()];
        for (rank, slot) in data.index.values().enumerate() {
            self.ranks[*slot] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        let ranks = &self.ranks;
        self.heap = std::mem::take(&mut self.heap)
            .into_iter()
            .map(|Reverse(q)| Reverse(Queued::new(q.close(), ranks[q.slot()], slot_u32(q.slot()))))
            .collect();
        self.next.resize(data.symbols.len(), 0);
    }

    /// Queues slot's bar at `next[slot]`, if any.
    fn queue(&mut self, data: &SessionData, slot: usize, day: &TradingDay) {
        let index = self.next[slot];
        if let Some(bar) = data.symbols[slot].day_bars.get(index) {
            self.next[slot] = index + 1;
            let close = bar_close(bar, day);
            self.heap.push(Reverse(Queued::new(
                close,
                self.ranks[slot],
                slot_u32(slot),
            )));
        }
    }
}

fn slot_u32(slot: usize) -> u32 {
    u32::try_from(slot).unwrap_or(u32::MAX)
}

/// A strategy with its broker and portfolio, and the record of what they did.
struct Trading<'a> {
    strategy: &'a mut dyn Strategy,
    /// Intervals whose bars the strategy receives.
    intervals: Vec<Interval>,
    broker: Broker,
    portfolio: Portfolio,
    trades: TradeBook,
    /// Equity at every delivery time, with whether a position was open.
    equity: Vec<(Timestamp, Money, bool)>,
    /// Closing equity of every trading day.
    daily: Vec<(NaiveDate, Money)>,
    commands: Vec<Command>,
    next_order: u64,
    next_signal: u64,
}

/// What a trading session did: its orders, round trips, equity, portfolio and metrics.
#[derive(Debug)]
pub struct TradingReport<'r> {
    /// Every order with how it ended.
    pub orders: Vec<&'r OrderRecord>,
    /// Closed round trips.
    pub trades: &'r [Trade],
    /// Equity at every delivery time, with whether a position was open.
    pub equity: &'r [(Timestamp, Money, bool)],
    /// Closing equity of every trading day.
    pub daily: &'r [(NaiveDate, Money)],
    /// The portfolio at the end.
    pub portfolio: &'r Portfolio,
    /// Performance metrics.
    pub metrics: Performance,
}

/// [`TradingReport`], owned: what [`Engine::into_report`] hands over.
#[derive(Debug)]
pub struct OwnedTradingReport {
    /// Every order with how it ended, by id.
    pub orders: Vec<OrderRecord>,
    /// Closed round trips.
    pub trades: Vec<Trade>,
    /// Equity at every delivery time, with whether a position was open.
    pub equity: Vec<(Timestamp, Money, bool)>,
    /// Closing equity of every trading day.
    pub daily: Vec<(NaiveDate, Money)>,
    /// Equity at the end.
    pub final_equity: Money,
    /// The portfolio at the end.
    pub portfolio: Portfolio,
    /// Performance metrics.
    pub metrics: Performance,
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
    summary: Summary,
    reported: BTreeSet<(Symbol, NaiveDate)>,
    /// Yesterday's indicators by symbol, to continue for symbols registered again today.
    carried: BTreeMap<Symbol, Vec<Box<dyn openbell_indicators::Indicator>>>,
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
    /// Reused per delivery, so the hot path does not allocate.
    derived_scratch: Vec<Bar>,
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
            summary: Summary::default(),
            reported: BTreeSet::new(),
            recent: BTreeMap::new(),
            carried: BTreeMap::new(),
            trading: None,
            catching_up: false,
            stop: None,
            scanners: BTreeMap::new(),
            slots: Vec::new(),
            derived_scratch: Vec::new(),
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

    /// Trades `strategy` through a simulated broker with `broker` and `risk` settings.
    #[must_use]
    pub fn with_strategy(
        mut self,
        strategy: &'a mut dyn Strategy,
        broker: BrokerConfig,
        risk: RiskConfig,
    ) -> Self {
        let mut intervals = strategy.intervals();
        if intervals.is_empty() {
            intervals.push(self.config.base_interval);
        }
        let portfolio = Portfolio::new(broker.initial_cash, broker.lots);
        self.trading = Some(Trading {
            strategy,
            intervals,
            broker: Broker::new(broker, risk),
            portfolio,
            trades: TradeBook::default(),
            equity: Vec::new(),
            daily: Vec::new(),
            commands: Vec::new(),
            next_order: 0,
            next_signal: 0,
        });
        self
    }

    /// What the strategy did, once a trading session has run.
    #[must_use]
    pub fn report(&self) -> Option<TradingReport<'_>> {
        let t = self.trading.as_ref()?;
        let daily: Vec<Money> = t.daily.iter().map(|(_, m)| *m).collect();
        let metrics = performance(&MetricInputs {
            initial: t.portfolio.initial_cash(),
            equity: &t.equity,
            daily: &daily,
            trades: t.trades.closed(),
            traded: t.portfolio.traded_notional(),
            commissions: t.portfolio.commissions(),
        });
        Some(TradingReport {
            orders: t.broker.records().collect(),
            trades: t.trades.closed(),
            equity: &t.equity,
            daily: &t.daily,
            portfolio: &t.portfolio,
            metrics,
        })
    }

    /// Ends the engine and hands over what the strategy did, without copying it.
    #[must_use]
    pub fn into_report(self) -> Option<OwnedTradingReport> {
        let metrics = self.report()?.metrics;
        let t = self.trading?;
        let final_equity = t.portfolio.equity().ok()?;
        Some(OwnedTradingReport {
            orders: t.broker.into_records(),
            trades: t.trades.into_closed(),
            equity: t.equity,
            daily: t.daily,
            final_equity,
            portfolio: t.portfolio,
            metrics,
        })
    }

    /// Calls a strategy hook with a context at the clock, then carries out what it asked.
    fn hook(
        &mut self,
        f: impl FnOnce(&mut dyn Strategy, &mut Context<'_>),
    ) -> Result<(), EngineError> {
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let mut ctx = Context {
            now: self.clock.now(),
            data: &self.data,
            portfolio: &t.portfolio,
            broker: &t.broker,
            commands: &mut t.commands,
            next_order: &mut t.next_order,
            next_signal: &mut t.next_signal,
        };
        f(&mut *t.strategy, &mut ctx);
        self.apply_commands()
    }

    /// Carries out the strategy's signals, orders and cancels, in the order it made them.
    fn apply_commands(&mut self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let commands = std::mem::take(&mut t.commands);
        let mut events = Vec::new();
        for command in commands {
            match command {
                Command::Signal {
                    id,
                    symbol,
                    side,
                    strength,
                    reason,
                } => match Signal::try_new(id, symbol, side, strength, reason, now) {
                    Ok(signal) => events.push(Event::Signal { signal, ts: now }),
                    Err(e) => warn!(clock = %now, error = %e, "signal dropped"),
                },
                Command::Submit(id, request) => {
                    let last = self
                        .data
                        .symbol(request.symbol)
                        .and_then(|s| s.metrics.last)
                        .or_else(|| {
                            t.portfolio
                                .holding(request.symbol)
                                .and_then(|h| h.last_price())
                        });
                    let event = t.broker.submit(id, &request, now, last, &t.portfolio)?;
                    events.push(broker_event(event, now));
                }
                Command::Cancel(id) => {
                    if let Some(event) = t.broker.cancel(id, "cancelled by the strategy")? {
                        events.push(broker_event(event, now));
                    }
                }
            }
        }
        for event in &events {
            self.emit(event);
        }
        Ok(())
    }

    /// Reports what the broker did: fills move positions and reach the strategy.
    fn broker_events(&mut self, events: Vec<BrokerEvent>) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut fills: Vec<Fill> = Vec::new();
        for event in events {
            if let BrokerEvent::Filled(fill, before, realized) = &event
                && let Some(t) = self.trading.as_mut()
            {
                t.trades.record(fill, *before, *realized);
                let quantity = t.portfolio.position(fill.symbol());
                let filled = broker_event(event.clone(), now);
                self.emit(&filled);
                self.emit(&Event::PositionChanged {
                    symbol: fill.symbol(),
                    quantity,
                    realized: *realized,
                    ts: now,
                });
                fills.push(*fill);
                continue;
            }
            let event = broker_event(event, now);
            self.emit(&event);
        }
        for fill in fills {
            self.hook(|s, ctx| s.on_fill(ctx, &fill))?;
        }
        Ok(())
    }

    /// A base bar reached the session data: the broker matches it, positions are marked at its
    /// close, and the strategy sees it.
    fn trade_base_bar(&mut self, bar: Bar) -> Result<(), EngineError> {
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let events = t.broker.on_bar(&bar, &mut t.portfolio)?;
        t.portfolio.mark(bar.symbol(), bar.close());
        if !events.is_empty() {
            self.broker_events(events)?;
        }
        self.trade_bar(bar)
    }

    /// The strategy sees a bar of an interval it subscribed to.
    fn trade_bar(&mut self, bar: Bar) -> Result<(), EngineError> {
        let subscribed = self
            .trading
            .as_ref()
            .is_some_and(|t| t.intervals.contains(&bar.interval()));
        if subscribed && !self.catching_up {
            self.hook(|s, ctx| s.on_bar(ctx, &bar))?;
        }
        Ok(())
    }

    /// Records the equity after a delivery time.
    fn record_equity(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let equity = t.portfolio.equity()?;
        let open = t.portfolio.holdings().any(|h| !h.quantity().is_zero());
        let cash = t.portfolio.cash();
        // One record per delivery time: the close's record replaces the last group's.
        if t.equity.last().is_some_and(|last| last.0 == ts) {
            t.equity.pop();
        }
        t.equity.push((ts, equity, open));
        self.emit(&Event::Equity { equity, cash, ts });
        Ok(())
    }

    /// The close: optional flattening, day orders expire, the strategy's day-end hook, and
    /// the day's closing equity.
    fn trade_day_end(&mut self, day: &TradingDay) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let mut events = Vec::new();
        if t.broker.config().flatten_at_close {
            let open: Vec<(Symbol, Option<openbell_model::Price>)> = t
                .portfolio
                .holdings()
                .filter(|h| !h.quantity().is_zero())
                .map(|h| (h.symbol(), h.last_price()))
                .collect();
            for (symbol, last) in open {
                let price = self
                    .data
                    .symbol(symbol)
                    .and_then(|s| s.metrics.last)
                    .or(last);
                if let Some(price) = price {
                    t.next_order += 1;
                    let id = OrderId(t.next_order);
                    events.extend(t.broker.flatten(id, symbol, price, now, &mut t.portfolio)?);
                }
            }
        }
        events.extend(t.broker.end_day(day.close)?);
        self.broker_events(events)?;
        self.hook(|s, ctx| s.on_day_end(ctx))?;
        if let Some(t) = self.trading.as_mut() {
            let equity = t.portfolio.equity()?;
            t.daily.push((day.date, equity));
        }
        self.record_equity(now)
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
        let Some(first) = history_days.first().map(|d| d.date) else {
            self.recent.clear();
            self.carried.clear();
            if old.date().is_some() {
                for s in old.symbols {
                    self.carried.insert(
                        s.symbol,
                        s.indicators.into_iter().map(|i| i.indicator).collect(),
                    );
                }
            }
            return;
        };
        self.carried.clear();
        if let Some(date) = old.date() {
            for s in old.symbols {
                // Indicators continue where yesterday left them for a symbol registered again
                // today: the continuous series, with no warm-up to repeat.
                self.carried.insert(
                    s.symbol,
                    s.indicators.into_iter().map(|i| i.indicator).collect(),
                );
                if s.delivered == s.day_bars.len() && !s.day_bars.is_empty() {
                    let bars = DayBars {
                        base: s.day_bars,
                        derived: s.derived,
                    };
                    self.recent.insert((s.symbol, date), Arc::new(bars));
                }
            }
        }
        self.recent.retain(|(_, date), _| *date >= first);
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
        self.clock.advance_to(day.open);
        self.data.day = Some(day.clone());
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
            for r in &mut self.data.symbols[slot].resamplers {
                late.extend(r.finish()?);
            }
            for bar in late {
                self.deliver_derived(slot, bar, day.close)?;
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
                let (expected, present, missing) = coverage_of(&self.slots[0], &bars);
                self.emit(&Event::Quality {
                    symbol,
                    date,
                    expected,
                    present,
                    missing: missing.clone(),
                    ts: self.clock.now(),
                });
                if let Some(&slot) = self.data.index.get(&symbol) {
                    let data = &mut self.data.symbols[slot];
                    data.quality = DayQuality {
                        expected,
                        present,
                        missing,
                    };
                    data.day_bars = bars;
                    data.delivered = 0;
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

    /// Runs scanner `index` on data known at `cutoff`, emits its event, and returns its
    /// choice. Candidates whose data cannot be read are reported and left out.
    fn scan(
        &mut self,
        index: usize,
        day: &TradingDay,
        cutoff: Timestamp,
        universe: &[Symbol],
    ) -> Vec<Symbol> {
        let spec = self.config.scanners[index].clone();
        let scored = if let ScannerKind::Custom(name) = &spec.kind {
            self.custom_scores(name, &spec.label, day, cutoff, universe)
        } else {
            self.builtin_scores(&spec, day, cutoff, universe)
        };
        let candidates = rank(scored);
        let chosen: Vec<Symbol> = candidates.iter().take(spec.top).map(|(s, _)| *s).collect();
        let ts = self.clock.now();
        info!(clock = %ts, scanner = %spec.label, chosen = chosen.len(), "scan");
        self.emit(&Event::ScanCompleted {
            scanner: spec.label,
            as_of: cutoff,
            candidates,
            chosen: chosen.clone(),
            ts,
        });
        chosen
    }

    /// A custom scanner's scores; symbols outside the universe are reported and left out,
    /// and a symbol returned twice keeps its first score.
    fn custom_scores(
        &mut self,
        name: &str,
        label: &str,
        day: &TradingDay,
        cutoff: Timestamp,
        universe: &[Symbol],
    ) -> Vec<(Symbol, f64)> {
        let Some(scanner) = self.scanners.get_mut(name) else {
            return Vec::new();
        };
        let mut view = ScanView {
            source: &mut *self.source,
            interval: self.config.base_interval,
            as_of: cutoff,
            day,
            universe,
        };
        let returned = scanner.scan(&mut view);
        let mut scored: Vec<(Symbol, f64)> = Vec::with_capacity(returned.len());
        for (symbol, score) in returned {
            if !universe.contains(&symbol) {
                let reason =
                    format!("scanner {label} returned {symbol}, which is not in the universe");
                self.fault(symbol, day.date, FaultKind::UnknownSymbol, reason);
            } else if !scored.iter().any(|(s, _)| *s == symbol) {
                scored.push((symbol, score));
            }
        }
        scored
    }

    /// A built-in scanner's scores. Candidates whose data cannot be read are reported and left
    /// out.
    fn builtin_scores(
        &mut self,
        spec: &ScannerSpec,
        day: &TradingDay,
        cutoff: Timestamp,
        universe: &[Symbol],
    ) -> Vec<(Symbol, f64)> {
        let base = self.config.base_interval;
        let previous = self.config.calendar.previous_trading_day(day.date).ok();
        let mut trailing: Vec<TradingDay> = Vec::new();
        if spec.kind == ScannerKind::RelativeVolume {
            let mut date = day.date;
            for _ in 0..spec.lookback_days {
                let Ok(prev) = self.config.calendar.previous_trading_day(date) else {
                    break;
                };
                date = prev.date;
                trailing.push(prev);
            }
        }
        let today_from = previous.as_ref().map_or(day.open, |p| p.close);
        let offset = cutoff.as_nanos() - day.open.as_nanos();
        let mut scored = Vec::new();
        for symbol in universe {
            let mut input = ScanInput::default();
            let known = |bars: BarSlice, until: Timestamp, d: &TradingDay| -> Vec<Bar> {
                bars.iter()
                    .filter(|b| bar_close(b, d) <= until)
                    .copied()
                    .collect()
            };
            let read = |source: &mut dyn BarSource, from: Timestamp, to: Timestamp| {
                source.bars(*symbol, base, from, to)
            };
            let result = (|| -> Result<(), SourceError> {
                if let Some(p) = &previous {
                    input.previous = read(&mut *self.source, p.open, p.close)?.to_vec();
                    let (expected, present, _) = p.coverage(base, &input.previous);
                    input.previous_quality =
                        (expected > 0).then(|| f64::from(present) * 100.0 / f64::from(expected));
                }
                if cutoff > today_from {
                    input.today = known(read(&mut *self.source, today_from, cutoff)?, cutoff, day);
                }
                for t in &trailing {
                    let until = Timestamp::from_nanos(t.open.as_nanos() + offset);
                    let bars = known(read(&mut *self.source, t.open, until)?, until, t);
                    input
                        .trailing_volumes
                        .push(bars.iter().map(|b| b.volume().to_f64()).sum());
                }
                Ok(())
            })();
            if let Err(e) = result {
                self.fault(*symbol, day.date, FaultKind::SourceFailed, e.0);
                continue;
            }
            input.session_open = input
                .today
                .iter()
                .find(|b| b.ts_event() >= day.open)
                .map(|b| b.open().to_f64());
            if let Some(score) = spec.score(&input) {
                scored.push((*symbol, score));
            }
        }
        scored
    }

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
        let Some(&slot) = self.data.index.get(&symbol) else {
            return Ok(());
        };
        let now = self.clock.now();
        let split = self.data.symbols[slot]
            .day_bars
            .partition_point(|b| bar_close(b, day) <= now);
        self.catching_up = true;
        for _ in 0..split {
            self.deliver_base(slot, now)?;
        }
        // Windows whose time is already up.
        let mut late = Vec::new();
        for r in &mut self.data.symbols[slot].resamplers {
            late.extend(r.close_until(now)?);
        }
        for bar in late {
            self.deliver_derived(slot, bar, now)?;
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
        queues.rerank(&self.data);
        queues.next[slot] = split;
        queues.queue(&self.data, slot, day);
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
                    let derived = self
                        .config
                        .derived
                        .iter()
                        .map(|d| resample_day(hday, symbol, base, *d, &bars))
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
        let built: Vec<(usize, Box<dyn openbell_indicators::Indicator>)> = match carried {
            Some(c) => c.into_iter().enumerate().collect(),
            None => self.config.build_indicators(),
        };
        let mut indicators: Vec<RegisteredIndicator> = built
            .into_iter()
            .map(|(i, indicator)| {
                let interval = self.config.indicators[i].interval;
                RegisteredIndicator {
                    label: self.config.indicators[i].label.as_str().into(),
                    interval,
                    indicator,
                    values: Vec::with_capacity(self.slots_of(interval).len()),
                }
            })
            .collect();
        // Each indicator sees only its own interval, so each interval is fed on its own.
        let intervals: Vec<Interval> = std::iter::once(base)
            .chain(self.config.derived.iter().copied())
            .collect();
        for (h, bars) in history.iter().filter(|_| warm) {
            let session = history_days[*h].open;
            for (k, interval) in intervals.iter().enumerate() {
                if !indicators.iter().any(|ind| ind.interval == *interval) {
                    continue;
                }
                let series: &[Bar] = if k == 0 {
                    &bars.base
                } else {
                    &bars.derived[k - 1]
                };
                for bar in series {
                    let candle = Candle::from_bar(bar, session);
                    for ind in indicators
                        .iter_mut()
                        .filter(|ind| ind.interval == *interval)
                    {
                        ind.indicator.update(&candle);
                    }
                }
            }
        }
        let resamplers = self
            .config
            .derived
            .iter()
            .map(|d| Resampler::with_slots(Arc::clone(self.slots_of(*d)), symbol, base, *d))
            .collect::<Result<Vec<_>, _>>()?;
        let slots = |iv: Interval| self.slots_of(iv).len();
        Ok(SymbolData {
            symbol,
            base_interval: base,
            history: history.into_iter().map(|(_, bars)| bars).collect(),
            day_bars: BarSlice::default(),
            delivered: 0,
            derived_intervals: self.config.derived.clone(),
            derived: self
                .config
                .derived
                .iter()
                .map(|iv| Vec::with_capacity(slots(*iv)))
                .collect(),
            indicators,
            metrics: Metrics::default(),
            quality: DayQuality::default(),
            resamplers,
        })
    }

    /// Delivers the day's bars in time order, pausing for mid-session scans; returns how many
    /// base bars were delivered.
    fn stream(
        &mut self,
        day: &TradingDay,
        universe: &[Symbol],
        history_days: &[TradingDay],
    ) -> Result<u64, EngineError> {
        let mut queues = Queues::default();
        queues.rerank(&self.data);
        for slot in 0..self.data.symbols.len() {
            queues.queue(&self.data, slot, day);
        }
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
            let next_close = queues.heap.peek().map(|Reverse(q)| q.close());
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
            let Some(&Reverse(next)) = queues.heap.peek() else {
                break;
            };
            let group_close = next.close();
            // Windows that ended strictly before this group without their last bar; a window
            // ending exactly now still gets this group's bar.
            self.advance_clock(Timestamp::from_nanos(group_close.as_nanos() - 1))?;
            self.clock.advance_to(group_close);
            // Every base bar closing now, by symbol, each with the derived bars it completes.
            while let Some(&Reverse(q)) = queues.heap.peek() {
                if q.close() != group_close {
                    break;
                }
                queues.heap.pop();
                let slot = q.slot();
                queues.queue(&self.data, slot, day);
                self.deliver_base(slot, group_close)?;
                delivered += 1;
            }
            if self.trading.is_some() {
                self.record_equity(group_close)?;
            }
        }
        // The clock never passes the close.
        self.close_windows(day.close)?;
        Ok(delivered)
    }

    /// Emits derived windows whose close is at or before `until`, in close order.
    fn close_windows(&mut self, until: Timestamp) -> Result<(), EngineError> {
        let mut late: Vec<(Timestamp, Symbol, Interval, usize, Bar)> = Vec::new();
        let day_close = self.data.day.as_ref().map_or(until, |d| d.close);
        for (slot, data) in self.data.symbols.iter_mut().enumerate() {
            for r in &mut data.resamplers {
                if let Some(bar) = r.close_until(until)? {
                    let close = bar.ts_close_nominal().min(day_close);
                    late.push((close, data.symbol, bar.interval(), slot, bar));
                }
            }
        }
        late.sort_by_key(|(close, symbol, interval, _, _)| (*close, *symbol, *interval));
        for (close, _, _, slot, bar) in late {
            self.clock.advance_to(close);
            self.deliver_derived(slot, bar, close)?;
        }
        Ok(())
    }

    /// Delivers the next base bar of `slot` at clock `ts`, then the derived bars it completes.
    #[inline]
    fn deliver_base(&mut self, slot: usize, ts: Timestamp) -> Result<(), EngineError> {
        let session = self.data.day.as_ref().map_or(ts, |d| d.open);
        let events = self.out.wants_bars;
        let data = &mut self.data.symbols[slot];
        let Some(bar) = data.day_bars.get(data.delivered) else {
            return Ok(());
        };
        let candle = Candle::from_bar(bar, session);
        data.metrics.update(bar, &candle);
        let mut derived = std::mem::take(&mut self.derived_scratch);
        for r in &mut data.resamplers {
            r.push(bar, &mut derived)?;
        }
        let interval = bar.interval();
        for ind in &mut data.indicators {
            if ind.interval == interval
                && let Some(output) = ind.indicator.update(&candle)
            {
                ind.values.push((ts, output));
                self.summary.indicator_values += 1;
                if events {
                    self.outputs_scratch
                        .push((interval, Arc::clone(&ind.label), output));
                }
            }
        }
        let bar = (events || self.trading.is_some()).then_some(*bar);
        data.delivered += 1;
        self.summary.base_bars += 1;
        // Events go out once the session data holds the bar and its values.
        if let Some(bar) = bar {
            if events {
                self.emit_bar(bar, false, ts);
            }
            self.trade_base_bar(bar)?;
        }
        if !derived.is_empty() {
            derived.sort_by_key(Bar::interval);
            for d in derived.drain(..) {
                self.deliver_derived(slot, d, ts)?;
            }
        }
        self.derived_scratch = derived;
        Ok(())
    }

    /// Delivers a derived bar of `slot` at clock `ts`.
    fn deliver_derived(&mut self, slot: usize, bar: Bar, ts: Timestamp) -> Result<(), EngineError> {
        let session = self.data.day.as_ref().map_or(ts, |d| d.open);
        let events = self.out.wants_bars;
        let data = &mut self.data.symbols[slot];
        let interval = bar.interval();
        let Some(k) = data.derived_intervals.iter().position(|iv| *iv == interval) else {
            return Ok(());
        };
        self.summary.derived_bars += 1;
        let mut candle: Option<Candle> = None;
        for ind in &mut data.indicators {
            if ind.interval != interval {
                continue;
            }
            let candle = candle.get_or_insert_with(|| Candle::from_bar(&bar, session));
            if let Some(output) = ind.indicator.update(candle) {
                ind.values.push((ts, output));
                self.summary.indicator_values += 1;
                if events {
                    self.outputs_scratch
                        .push((interval, Arc::clone(&ind.label), output));
                }
            }
        }
        data.derived[k].push(bar);
        if events {
            self.emit_bar(bar, true, ts);
        }
        self.trade_bar(bar)
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

/// The event for what the broker did.
fn broker_event(event: BrokerEvent, ts: Timestamp) -> Event {
    match event {
        BrokerEvent::Accepted(order) => Event::OrderAccepted { order, ts },
        BrokerEvent::Rejected(order, reason) => Event::OrderRejected { order, reason, ts },
        BrokerEvent::Filled(fill, _, _) => Event::OrderFilled { fill, ts },
        BrokerEvent::Closed(order, reason) => Event::OrderClosed { order, reason, ts },
    }
}

/// When a bar becomes known: its open plus the interval, but never after the day's close (the
/// last bar of an early close, or of a day that does not divide evenly, is short).
fn bar_close(bar: &Bar, day: &TradingDay) -> Timestamp {
    bar.ts_close_nominal().min(day.close)
}
