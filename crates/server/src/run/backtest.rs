//! Running a session: a backtest (a config's strategy over stored bars, the clock jumping
//! from bar to bar) or a paper session (the same engine, strategy and broker on a clock paced
//! against wall time, fed by a [`Feed`]), its record streamed to the registry as it happens,
//! and what it reports at the end.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use openbell_config::SessionConfig;
use openbell_data::BarStore;
use openbell_engine::{
    Clock, Engine, Event, EventSink, Mode, OrderRecord, PacedClock, Pacer, Performance,
    SimulatedClock, StrategyRegistry,
};
use openbell_model::{Interval, Money, SessionId, Symbol, Timestamp};
use serde_json::json;

use crate::run::registry::StreamWriter;
use crate::run::source::{Feed, StoreSource};

/// One symbol-day's quality.
#[derive(Debug, Clone)]
pub struct QualityRow {
    /// The trading day.
    pub date: NaiveDate,
    /// The symbol.
    pub symbol: Symbol,
    /// Bars the calendar expects.
    pub expected: u32,
    /// Bars the store has.
    pub present: u32,
    /// The missing runs, `[first, last]` bar opens.
    pub missing: Vec<(Timestamp, Timestamp)>,
}

/// One scan.
#[derive(Debug, Clone)]
pub struct ScanRow {
    /// When it ran (the clock).
    pub ts: Timestamp,
    /// The scanner's name.
    pub scanner: String,
    /// The data it saw ended here.
    pub as_of: Timestamp,
    /// Every candidate with its score.
    pub candidates: Vec<(Symbol, f64)>,
    /// The symbols it chose.
    pub chosen: Vec<Symbol>,
}

/// What a backtest is connected to while it runs.
#[derive(Default)]
pub struct Hooks<'a> {
    /// The registry's writer, fed every record as it happens.
    pub stream: Option<StreamWriter>,
    /// Set to end the session at the next safe point.
    pub stop: Option<&'a AtomicBool>,
    /// Sees every event after the registry's writer (output files, progress, live events).
    pub tap: Option<&'a mut dyn EventSink>,
}

/// Keeps what a backtest reports.
struct Recorder<'a> {
    fill_count: usize,
    order_count: usize,
    signals: usize,
    quality: Vec<QualityRow>,
    scans: Vec<ScanRow>,
    faults: Vec<String>,
    symbols: BTreeSet<Symbol>,
    stream: Option<StreamWriter>,
    tap: Option<&'a mut dyn EventSink>,
}

impl EventSink for Recorder<'_> {
    fn emit(&mut self, event: &Event) {
        if let Some(stream) = self.stream.as_mut() {
            stream.on_event(event);
        }
        match event {
            Event::OrderFilled { .. } => self.fill_count += 1,
            Event::OrderAccepted { .. } | Event::OrderRejected { .. } => self.order_count += 1,
            Event::Signal { .. } => self.signals += 1,
            Event::SymbolAdded { symbol, .. } => {
                self.symbols.insert(*symbol);
            }
            Event::Quality {
                symbol,
                date,
                expected,
                present,
                missing,
                ..
            } => self.quality.push(QualityRow {
                date: *date,
                symbol: *symbol,
                expected: *expected,
                present: *present,
                missing: missing.clone(),
            }),
            Event::ScanCompleted {
                scanner,
                as_of,
                candidates,
                chosen,
                ts,
            } => self.scans.push(ScanRow {
                ts: *ts,
                scanner: scanner.clone(),
                as_of: *as_of,
                candidates: candidates.clone(),
                chosen: chosen.clone(),
            }),
            Event::Fault { .. } => self.faults.extend(event.fault_line()),
            _ => {}
        }
        if let Some(tap) = self.tap.as_mut() {
            tap.emit(event);
        }
    }

    fn wants_bars(&self) -> bool {
        self.tap.as_ref().is_some_and(|t| t.wants_bars())
    }
}

/// Everything a finished backtest reports.
#[derive(Debug)]
pub struct BacktestResult {
    /// The session.
    pub session_id: SessionId,
    /// The config's name.
    pub name: Option<String>,
    /// The strategy's name.
    pub strategy: String,
    /// The config's first date.
    pub start: NaiveDate,
    /// The config's last date.
    pub end: NaiveDate,
    /// Trading days run.
    pub trading_days: u32,
    /// Trading days the config covers.
    pub days_planned: usize,
    /// True when a stop request ended it early.
    pub stopped: bool,
    /// Every symbol the session traded or watched.
    pub symbols: Vec<Symbol>,
    /// Base bars delivered.
    pub bars: u64,
    /// The orders still working at the end (the rest reached the registry and the tap as they
    /// finished).
    pub orders: Vec<OrderRecord>,
    /// Orders submitted.
    pub order_count: usize,
    /// Fills made.
    pub fill_count: usize,
    /// Signals emitted.
    pub signals: usize,
    /// Every symbol-day's quality, by (date, symbol).
    pub quality: Vec<QualityRow>,
    /// Every scan, in order.
    pub scans: Vec<ScanRow>,
    /// Symbol-days skipped, with the reason.
    pub faults: Vec<String>,
    /// The performance metrics.
    pub metrics: Performance,
    /// Starting cash.
    pub initial: Money,
    /// Equity at the end.
    pub final_equity: Money,
    /// Realized profit and loss.
    pub realized: Money,
    /// The digest of every store file read.
    pub fingerprint: String,
    /// Wall time of the run.
    pub elapsed_ms: u128,
    /// The config as given.
    pub config_text: String,
    /// The base interval.
    pub interval: Interval,
    /// The first open and the last close.
    pub range: (Timestamp, Timestamp),
}

impl BacktestResult {
    /// Base bars per second of wall time.
    #[allow(clippy::cast_precision_loss)]
    #[must_use]
    pub fn bars_per_second(&self) -> f64 {
        self.bars as f64 / (self.elapsed_ms.max(1) as f64 / 1000.0)
    }

    /// What the registry needs to close the session.
    #[must_use]
    pub fn finished(&self) -> crate::run::registry::Finished<'_> {
        crate::run::registry::Finished {
            session_id: self.session_id,
            orders: &self.orders,
            fingerprint: &self.fingerprint,
            trading_days: self.trading_days,
            days_planned: self.days_planned,
        }
    }

    /// The result as the registry keeps it (and `summary.json` holds it).
    ///
    /// # Errors
    /// Only when serialisation fails.
    pub fn summary_json(&self) -> Result<String> {
        let m = &self.metrics;
        let value = json!({
            "session_id": self.session_id.to_string(),
            "name": self.name,
            "strategy": self.strategy,
            "start": self.start.to_string(),
            "end": self.end.to_string(),
            "trading_days": self.trading_days,
            "symbols": self.symbols.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "bars_processed": self.bars,
            "signals": self.signals,
            "orders": self.order_count,
            "fills": self.fill_count,
            "round_trips": m.trades,
            "initial_equity": self.initial.to_string(),
            "final_equity": self.final_equity.to_string(),
            "realized_pnl": self.realized.to_string(),
            "total_return": m.total_return,
            "cagr": m.cagr,
            "volatility": m.volatility,
            "sharpe": m.sharpe,
            "sortino": m.sortino,
            "calmar": m.calmar,
            "max_drawdown": m.max_drawdown,
            "max_drawdown_days": m.max_drawdown_days,
            "win_rate": m.win_rate,
            "profit_factor": m.profit_factor,
            "avg_win": m.avg_win,
            "avg_loss": m.avg_loss,
            "exposure": m.exposure,
            "turnover": m.turnover,
            "trades": m.trades,
            "commissions": m.commissions,
            "faults": self.faults.len(),
            "stopped": self.stopped,
            "data_fingerprint": self.fingerprint,
            "version": env!("CARGO_PKG_VERSION"),
            "elapsed_ms": self.elapsed_ms,
            "bars_per_second": self.bars_per_second(),
        });
        Ok(serde_json::to_string_pretty(&value)? + "\n")
    }
}

/// A new time-ordered session id.
///
/// # Errors
/// When the clock reads before 1970 or past the id's range.
pub fn new_session_id() -> Result<SessionId> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let now = Timestamp::from_nanos(nanos);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(now.as_nanos());
    hasher.write_u32(std::process::id());
    let a = hasher.finish().to_le_bytes();
    hasher.write_u8(1);
    let b = hasher.finish().to_le_bytes();
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&a);
    random[8..].copy_from_slice(&b[..2]);
    Ok(SessionId::from_parts(now, random)?)
}

/// The trading days a config covers.
///
/// # Errors
/// When the calendar does not cover the config's dates.
pub fn days_planned(cfg: &SessionConfig) -> Result<usize> {
    Ok(cfg
        .engine
        .calendar
        .trading_days(cfg.engine.start, cfg.engine.end)?
        .len())
}

/// Runs a parsed config's strategy over `store`, the clock jumping from bar to bar.
///
/// # Errors
/// A config without a strategy, an unknown strategy, a calendar or source failure.
pub fn backtest(
    store: &BarStore,
    cfg: &SessionConfig,
    session_id: SessionId,
    hooks: Hooks<'_>,
) -> Result<BacktestResult> {
    let mut source = StoreSource::new(store);
    let mut clock = SimulatedClock::default();
    trade(&mut source, &mut clock, cfg, session_id, hooks)
}

/// Runs a parsed config's strategy on a clock paced against wall time at the config's
/// `[feed] speed`, from its first trading day's open, with bars from `feed`: the same engine,
/// strategy, broker and record as a backtest. It runs until its last day ends or a stop.
///
/// # Errors
/// As [`backtest`].
pub fn paper(
    feed: &mut dyn Feed,
    cfg: &SessionConfig,
    session_id: SessionId,
    hooks: Hooks<'_>,
) -> Result<BacktestResult> {
    let (cfg, mut clock) = paced(cfg, hooks.stop)?;
    trade(feed, &mut clock, &cfg, session_id, hooks)
}

/// A clock-driven session's config (stepping at its `[feed] step_seconds`) and its clock,
/// paced against wall time at its `[feed] speed` from the first trading day's open.
///
/// # Errors
/// When the calendar does not cover the config's dates.
pub fn paced<'a>(
    cfg: &SessionConfig,
    stop: Option<&'a AtomicBool>,
) -> Result<(SessionConfig, PacedClock<WallPacer<'a>>)> {
    let mut cfg = cfg.clone();
    cfg.engine.mode = Mode::ClockDriven {
        step_nanos: cfg.feed.step_nanos,
    };
    let clock = PacedClock::new(session_range(&cfg)?.0, WallPacer::new(cfg.feed.speed, stop));
    Ok((cfg, clock))
}

/// Paces a clock against wall time: `speed` simulated seconds per real second, in short
/// sleeps, and not at all once a stop is requested (so a stop never waits out the pace).
#[derive(Debug)]
pub struct WallPacer<'a> {
    speed: f64,
    stop: Option<&'a AtomicBool>,
}

impl<'a> WallPacer<'a> {
    /// A pacer at `speed` (above 0) that gives up waiting once `stop` is set.
    #[must_use]
    pub const fn new(speed: f64, stop: Option<&'a AtomicBool>) -> Self {
        Self { speed, stop }
    }

    fn stopped(&self) -> bool {
        self.stop
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Pacer for WallPacer<'_> {
    fn wait(&mut self, nanos: i64) {
        const SLICE: std::time::Duration = std::time::Duration::from_millis(50);
        #[allow(clippy::cast_precision_loss)]
        let real = std::time::Duration::from_secs_f64((nanos.max(0) as f64 / 1e9) / self.speed);
        let until = Instant::now() + real;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

/// The trading run both kinds share.
fn trade(
    source: &mut dyn Feed,
    clock: &mut dyn Clock,
    cfg: &SessionConfig,
    session_id: SessionId,
    hooks: Hooks<'_>,
) -> Result<BacktestResult> {
    let strategy_cfg = cfg
        .strategy
        .as_ref()
        .context("the config has no [strategy] table: a backtest needs one")?;
    let registry = StrategyRegistry::default();
    let mut strategy = registry
        .create(
            &strategy_cfg.name,
            &strategy_cfg.params,
            cfg.engine.base_interval,
        )
        .map_err(anyhow::Error::msg)?;
    let days_planned = days_planned(cfg)?;
    let range = session_range(cfg)?;
    let mut recorder = Recorder {
        fill_count: 0,
        order_count: 0,
        signals: 0,
        quality: Vec::new(),
        scans: Vec::new(),
        faults: Vec::new(),
        symbols: BTreeSet::new(),
        stream: hooks.stream,
        tap: hooks.tap,
    };
    let started = Instant::now();
    let mut engine = Engine::new(cfg.engine.clone(), &mut *source, clock, &mut recorder)?
        .with_strategy(strategy.as_mut(), cfg.broker.clone(), cfg.risk);
    if let Some(stop) = hooks.stop {
        engine = engine.with_stop(stop);
    }
    // Nothing that grows with the session is kept: every record reaches the registry and the
    // tap as it happens.
    engine = engine.without_records();
    let summary = engine.run()?;
    let report = engine
        .into_report()
        .context("the engine kept no trading record")?;
    if let Some(stream) = recorder.stream.as_mut() {
        stream.close();
    }
    let elapsed_ms = started.elapsed().as_millis();
    let fingerprint = source.fingerprint()?;
    // Quality in (date, symbol) order, as the registry returns it.
    recorder.quality.sort_by_key(|q| (q.date, q.symbol));
    Ok(BacktestResult {
        session_id,
        name: cfg.name.clone(),
        strategy: strategy_cfg.name.clone(),
        start: cfg.engine.start,
        end: cfg.engine.end,
        trading_days: summary.days,
        days_planned,
        stopped: summary.stopped,
        symbols: recorder.symbols.into_iter().collect(),
        bars: summary.base_bars,
        orders: report.orders,
        order_count: recorder.order_count,
        fill_count: recorder.fill_count,
        signals: recorder.signals,
        quality: recorder.quality,
        scans: recorder.scans,
        faults: recorder.faults,
        metrics: report.metrics,
        initial: report.portfolio.initial_cash(),
        final_equity: report.final_equity,
        realized: report.portfolio.realized_pnl(),
        fingerprint,
        elapsed_ms,
        config_text: cfg.text.clone(),
        interval: cfg.engine.base_interval,
        range,
    })
}

/// The first open and last close of the session's trading days.
///
/// # Errors
/// When the calendar does not cover the config's dates.
pub fn session_range(cfg: &SessionConfig) -> Result<(Timestamp, Timestamp)> {
    let days = cfg
        .engine
        .calendar
        .trading_days(cfg.engine.start, cfg.engine.end)?;
    Ok(match (days.first(), days.last()) {
        (Some(first), Some(last)) => (first.open, last.close),
        _ => (Timestamp::from_nanos(0), Timestamp::from_nanos(0)),
    })
}
