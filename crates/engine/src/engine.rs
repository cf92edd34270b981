//! The day loop (ARCHITECTURE.md, phases 0–6) and chronological streaming.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use chrono::NaiveDate;
use openbell_calendar::{Resampler, TradingDay, resample_day};
use openbell_indicators::Candle;
use openbell_model::{Bar, Interval, Symbol, Timestamp};
use tracing::{debug, info, info_span, warn};

use crate::clock::Clock;
use crate::config::{EngineConfig, Mode, Universe};
use crate::event::{Event, EventSink, FaultKind, Observer, Phase};
use crate::scanner::{ScanInput, ScannerKind, rank};
use crate::session_data::{DayQuality, Metrics, RegisteredIndicator, SessionData, SymbolData};
use crate::source::{BarSource, SourceError};

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
    /// Faults by kind: symbol-days skipped because the source failed or had no data.
    pub faults: BTreeMap<String, u64>,
}

/// One bar waiting in a day queue, ordered by (close time, symbol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    close: Timestamp,
    symbol: Symbol,
    index: usize,
}

/// A session engine: pure and synchronous; time comes from the clock, bars from the source,
/// and every event goes to the sink.
pub struct Engine<'a> {
    config: EngineConfig,
    source: &'a mut dyn BarSource,
    clock: &'a mut dyn Clock,
    sink: &'a mut dyn EventSink,
    data: SessionData,
    summary: Summary,
    reported: std::collections::BTreeSet<(Symbol, NaiveDate)>,
    observer: Option<&'a mut dyn Observer>,
    /// Reused per delivery, so the hot path does not allocate.
    scratch: Vec<(Interval, std::sync::Arc<str>, openbell_indicators::Output)>,
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
            sink,
            data: SessionData::default(),
            summary: Summary::default(),
            reported: std::collections::BTreeSet::new(),
            observer: None,
            scratch: Vec::new(),
        })
    }

    /// Adds an observer that sees every event with the session data of that moment.
    #[must_use]
    pub fn with_observer(mut self, observer: &'a mut dyn Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Sends an event to the sink, then shows it to the observer.
    fn emit(&mut self, event: &Event) {
        self.sink.emit(event);
        if let Some(observer) = self.observer.as_mut() {
            observer.observe(event, self.clock.now(), &self.data);
        }
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
        let _session =
            info_span!("session", start = %self.config.start, end = %self.config.end).entered();
        let days = self
            .config
            .calendar
            .trading_days(self.config.start, self.config.end)?;
        for (n, day) in days.iter().enumerate() {
            let _day = info_span!("trading_day", date = %day.date).entered();
            self.run_day(day, n > 0)?;
            self.summary.days += 1;
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

    fn run_day(&mut self, day: &TradingDay, clear: bool) -> Result<(), EngineError> {
        let date = day.date;
        // Phase 0: clear and move to the open.
        if clear {
            self.data = SessionData::default();
        }
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

        // Phase 2: register symbols with trailing history and warmed indicators.
        self.phase(date, Phase::Register);
        let history_days = self.history_days(day);
        for symbol in symbols {
            let data = self.register(symbol, day, &history_days)?;
            let history_bars = data.history.len();
            self.data.symbols.insert(symbol, data);
            self.emit(&Event::SymbolAdded {
                symbol,
                history_bars,
                caught_up: 0,
                ts: self.clock.now(),
            });
        }

        // Phase 3: load the day's queues.
        self.phase(date, Phase::Load);
        let mut queues: BTreeMap<Symbol, Vec<Bar>> = BTreeMap::new();
        let registered: Vec<Symbol> = self.data.symbols.keys().copied().collect();
        for symbol in registered {
            if let Some(bars) = self.load_day(symbol, day) {
                queues.insert(symbol, bars);
            }
        }

        // Phase 4: activate.
        self.phase(date, Phase::Activate);

        // Phase 5: stream, pausing for mid-session scans and insertions.
        self.phase(date, Phase::Stream);
        let delivered = self.stream(day, queues, &universe, &history_days)?;

        // Phase 6: end of day.
        self.clock.advance_to(day.close);
        self.phase(date, Phase::EndOfDay);
        let symbols: Vec<Symbol> = self.data.symbols.keys().copied().collect();
        for symbol in symbols {
            let mut late = Vec::new();
            if let Some(data) = self.data.symbols.get_mut(&symbol) {
                for r in &mut data.resamplers {
                    late.extend(r.finish()?);
                }
            }
            for bar in late {
                self.deliver(bar, true, day.close);
            }
        }
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

    /// Loads a registered symbol's bars for the day and scores their quality. `None` (with a
    /// fault event, and the symbol dropped for the day) when the source fails.
    fn load_day(&mut self, symbol: Symbol, day: &TradingDay) -> Option<Vec<Bar>> {
        let date = day.date;
        match self
            .source
            .bars(symbol, self.config.base_interval, day.open, day.close)
        {
            Ok(bars) => {
                if bars.is_empty() {
                    let reason = format!(
                        "no {} bars for {symbol} on {date}",
                        self.config.base_interval
                    );
                    self.fault(symbol, date, FaultKind::NoData, reason);
                }
                if let Some(data) = self.data.symbols.get_mut(&symbol) {
                    let (expected, present, missing) =
                        day.coverage(self.config.base_interval, &bars);
                    data.quality = DayQuality {
                        expected,
                        present,
                        missing,
                    };
                }
                Some(bars)
            }
            Err(e) => {
                self.fault(symbol, date, FaultKind::SourceFailed, e.0);
                self.data.symbols.remove(&symbol);
                None
            }
        }
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
            let known = |bars: Vec<Bar>, until: Timestamp, d: &TradingDay| -> Vec<Bar> {
                bars.into_iter()
                    .filter(|b| bar_close(b, d) <= until)
                    .collect()
            };
            let read = |source: &mut dyn BarSource, from: Timestamp, to: Timestamp| {
                source.bars(*symbol, base, from, to)
            };
            let result = (|| -> Result<(), SourceError> {
                if let Some(p) = &previous {
                    input.previous = read(&mut *self.source, p.open, p.close)?;
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

    /// Inserts a symbol mid-session: history and warmed indicators, then today's bars up to
    /// the clock, and only then its remaining bars join the queues.
    fn insert(
        &mut self,
        symbol: Symbol,
        day: &TradingDay,
        history_days: &[TradingDay],
        queues: &mut BTreeMap<Symbol, Vec<Bar>>,
        heap: &mut BinaryHeap<Reverse<Queued>>,
    ) -> Result<(), EngineError> {
        let data = self.register(symbol, day, history_days)?;
        let history_bars = data.history.len();
        self.data.symbols.insert(symbol, data);
        let Some(bars) = self.load_day(symbol, day) else {
            return Ok(());
        };
        let now = self.clock.now();
        let split = bars.partition_point(|b| bar_close(b, day) <= now);
        for bar in &bars[..split] {
            let mut derived = Vec::new();
            if let Some(data) = self.data.symbols.get_mut(&symbol) {
                for r in &mut data.resamplers {
                    r.push(bar, &mut derived)?;
                }
            }
            self.deliver(*bar, false, now);
            derived.sort_by_key(Bar::interval);
            for d in derived {
                self.deliver(d, true, now);
            }
        }
        // Windows whose time is already up.
        let mut late = Vec::new();
        if let Some(data) = self.data.symbols.get_mut(&symbol) {
            for r in &mut data.resamplers {
                late.extend(r.close_until(now)?);
            }
        }
        for bar in late {
            self.deliver(bar, true, now);
        }
        // Added and ready: history, warmed indicators and today's bars up to the clock.
        self.emit(&Event::SymbolAdded {
            symbol,
            history_bars,
            caught_up: split,
            ts: now,
        });
        let rest = bars[split..].to_vec();
        if let Some(first) = rest.first() {
            heap.push(Reverse(Queued {
                close: bar_close(first, day),
                symbol,
                index: 0,
            }));
        }
        queues.insert(symbol, rest);
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

    /// Builds a symbol's data for the day: trailing history loaded day by day (one bad
    /// symbol-day costs only that day), indicators warmed on it.
    fn register(
        &mut self,
        symbol: Symbol,
        day: &TradingDay,
        history_days: &[TradingDay],
    ) -> Result<SymbolData, EngineError> {
        let mut history = Vec::new();
        for hday in history_days {
            match self
                .source
                .bars(symbol, self.config.base_interval, hday.open, hday.close)
            {
                Ok(bars) => history.extend(bars),
                Err(e) => self.fault(symbol, hday.date, FaultKind::SourceFailed, e.0),
            }
        }
        let base = self.config.base_interval;
        let mut indicators: Vec<RegisteredIndicator> = self
            .config
            .build_indicators()
            .into_iter()
            .map(|(i, indicator)| RegisteredIndicator {
                label: self.config.indicators[i].label.as_str().into(),
                interval: self.config.indicators[i].interval,
                indicator,
                values: Vec::new(),
            })
            .collect();
        // Warm up day by day, so derived bars and session resets match a continuous run.
        let mut cursor = 0;
        for hday in history_days {
            let lo = cursor + history[cursor..].partition_point(|b| b.ts_event() < hday.open);
            let hi = lo + history[lo..].partition_point(|b| b.ts_event() < hday.close);
            cursor = hi;
            let bars = &history[lo..hi];
            if bars.is_empty() {
                continue;
            }
            let mut by_interval: BTreeMap<Interval, Vec<Bar>> = BTreeMap::new();
            by_interval.insert(base, bars.to_vec());
            for d in &self.config.derived {
                by_interval.insert(*d, resample_day(hday, symbol, base, *d, bars)?);
            }
            // Feed in delivery order: by close time, then interval.
            let mut feed: Vec<(Timestamp, Interval, Bar)> = by_interval
                .iter()
                .flat_map(|(iv, bars)| bars.iter().map(|b| (bar_close(b, hday), *iv, *b)))
                .collect();
            feed.sort_by_key(|(close, iv, _)| (*close, *iv));
            for (_, iv, bar) in &feed {
                let candle = Candle::from_bar(bar, hday.open);
                for ind in indicators.iter_mut().filter(|ind| ind.interval == *iv) {
                    ind.indicator.update(&candle);
                }
            }
        }
        let resamplers = self
            .config
            .derived
            .iter()
            .map(|d| Resampler::new(day, symbol, base, *d))
            .collect::<Result<Vec<_>, _>>()?;
        for ind in &mut indicators {
            ind.values.clear();
        }
        Ok(SymbolData {
            history,
            bars: BTreeMap::new(),
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
        mut queues: BTreeMap<Symbol, Vec<Bar>>,
        universe: &[Symbol],
        history_days: &[TradingDay],
    ) -> Result<u64, EngineError> {
        let mut heap: BinaryHeap<Reverse<Queued>> = BinaryHeap::new();
        for (symbol, bars) in &queues {
            if let Some(first) = bars.first() {
                heap.push(Reverse(Queued {
                    close: bar_close(first, day),
                    symbol: *symbol,
                    index: 0,
                }));
            }
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
            let next_close = heap.peek().map(|Reverse(q)| q.close);
            // One pause mechanism: scans (and the insertions they cause) run between groups,
            // after every bar closing at or before their time.
            while let Some(&(t, i)) = scans.get(next_scan) {
                if next_close.is_some_and(|g| g <= t) {
                    break;
                }
                next_scan += 1;
                self.advance_clock(t)?;
                for symbol in self.scan(i, day, t, universe) {
                    if !self.data.symbols.contains_key(&symbol) {
                        self.insert(symbol, day, history_days, &mut queues, &mut heap)?;
                    }
                }
            }
            let Some(Reverse(next)) = heap.peek().copied() else {
                break;
            };
            let group_close = next.close;
            // Windows that ended strictly before this group without their last bar; a window
            // ending exactly now still gets this group's bar.
            self.advance_clock(Timestamp::from_nanos(group_close.as_nanos() - 1))?;
            self.clock.advance_to(group_close);
            // Every base bar closing now, by symbol, then the derived bars they complete.
            let mut group: Vec<(Symbol, Bar)> = Vec::new();
            while let Some(Reverse(q)) = heap.peek().copied() {
                if q.close != group_close {
                    break;
                }
                heap.pop();
                let bars = &queues[&q.symbol];
                group.push((q.symbol, bars[q.index]));
                if let Some(next_bar) = bars.get(q.index + 1) {
                    heap.push(Reverse(Queued {
                        close: bar_close(next_bar, day),
                        symbol: q.symbol,
                        index: q.index + 1,
                    }));
                }
            }
            for (symbol, bar) in group {
                let mut derived = Vec::new();
                if let Some(data) = self.data.symbols.get_mut(&symbol) {
                    for r in &mut data.resamplers {
                        r.push(&bar, &mut derived)?;
                    }
                }
                self.deliver(bar, false, group_close);
                delivered += 1;
                derived.sort_by_key(Bar::interval);
                for d in derived {
                    self.deliver(d, true, group_close);
                }
            }
        }
        // The clock never passes the close.
        self.close_windows(day.close)?;
        Ok(delivered)
    }

    /// Emits derived windows whose close is at or before `until`, in close order.
    fn close_windows(&mut self, until: Timestamp) -> Result<(), EngineError> {
        let mut late: Vec<(Timestamp, Symbol, Interval, Bar)> = Vec::new();
        let day_close = self.data.day.as_ref().map_or(until, |d| d.close);
        for (symbol, data) in &mut self.data.symbols {
            for r in &mut data.resamplers {
                if let Some(bar) = r.close_until(until)? {
                    let close = bar.ts_close_nominal().min(day_close);
                    late.push((close, *symbol, bar.interval(), bar));
                }
            }
        }
        late.sort_by_key(|(close, symbol, interval, _)| (*close, *symbol, *interval));
        for (close, _, _, bar) in late {
            self.clock.advance_to(close);
            self.deliver(bar, true, close);
        }
        Ok(())
    }

    fn deliver(&mut self, bar: Bar, derived: bool, ts: Timestamp) {
        let symbol = bar.symbol();
        let session = self.data.day.as_ref().map_or(ts, |d| d.open);
        let Some(data) = self.data.symbols.get_mut(&symbol) else {
            return;
        };
        if derived {
            self.summary.derived_bars += 1;
        } else {
            self.summary.base_bars += 1;
            data.metrics.update(&bar);
        }
        data.bars.entry(bar.interval()).or_default().push(bar);
        // Converted to floating point only when an indicator runs on this interval.
        let mut candle: Option<Candle> = None;
        let mut outputs = std::mem::take(&mut self.scratch);
        for ind in data
            .indicators
            .iter_mut()
            .filter(|i| i.interval == bar.interval())
        {
            let candle = candle.get_or_insert_with(|| Candle::from_bar(&bar, session));
            if let Some(output) = ind.indicator.update(candle) {
                ind.values.push((ts, output));
                outputs.push((ind.interval, ind.label.clone(), output));
            }
        }
        // Events go out once the session data holds the bar and its values.
        self.emit(&Event::Bar { bar, derived, ts });
        for (interval, label, output) in outputs {
            self.emit(&Event::Indicator {
                symbol,
                interval,
                label,
                output,
                ts,
            });
        }
    }
}

/// When a bar becomes known: its open plus the interval, but never after the day's close (the
/// last bar of an early close, or of a day that does not divide evenly, is short).
fn bar_close(bar: &Bar, day: &TradingDay) -> Timestamp {
    bar.ts_close_nominal().min(day.close)
}
