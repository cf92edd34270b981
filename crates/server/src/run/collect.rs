//! A data-collection session: the engine on a paced clock, without a strategy, recording
//! every base bar its [`Feed`] delivers into a bar store, a trading day at a time. The
//! session's record keeps the per-day quality ledger as every session's does, and the bar
//! store keeps its own.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, Result};
use openbell_config::SessionConfig;
use openbell_data::BarStore;
use openbell_engine::{Engine, Event, EventSink};
use openbell_model::{Bar, SessionId, Symbol};
use serde_json::json;

use crate::run::backtest::{Hooks, days_planned, paced};
use crate::run::registry::{Finished, StreamWriter};
use crate::run::source::Feed;

/// What a finished collect session reports.
#[derive(Debug)]
pub struct CollectResult {
    /// The session.
    pub session_id: SessionId,
    /// Trading days run.
    pub trading_days: u32,
    /// Trading days the config covers.
    pub days_planned: usize,
    /// True when a stop ended it early.
    pub stopped: bool,
    /// Base bars the feed delivered.
    pub bars: u64,
    /// Bars written to the bar store, by symbol.
    pub written: BTreeMap<Symbol, u64>,
    /// Symbol-days skipped, with the reason.
    pub faults: Vec<String>,
    /// The digest of the store files the feed read.
    pub fingerprint: String,
    /// Wall time of the run.
    pub elapsed_ms: u128,
}

impl CollectResult {
    /// What the registry needs to close the session.
    #[must_use]
    pub fn finished(&self) -> Finished<'_> {
        Finished {
            session_id: self.session_id,
            orders: &[],
            fingerprint: &self.fingerprint,
            trading_days: self.trading_days,
            days_planned: self.days_planned,
        }
    }

    /// The result as the registry keeps it.
    ///
    /// # Errors
    /// Only when serialisation fails.
    pub fn summary_json(&self, feed: &str) -> Result<String> {
        let value = json!({
            "session_id": self.session_id.to_string(),
            "kind": "collect",
            "feed": feed,
            "trading_days": self.trading_days,
            "bars_processed": self.bars,
            "bars_collected": self.written.values().sum::<u64>(),
            "symbols": self.written.keys().map(ToString::to_string).collect::<Vec<_>>(),
            "faults": self.faults.len(),
            "stopped": self.stopped,
            "data_fingerprint": self.fingerprint,
            "version": env!("CARGO_PKG_VERSION"),
            "elapsed_ms": self.elapsed_ms,
        });
        Ok(serde_json::to_string_pretty(&value)? + "\n")
    }
}

/// Takes the delivered base bars and writes each day's into the bar store when it ends.
struct Collector<'a> {
    dest: &'a BarStore,
    exchange: String,
    day: BTreeMap<Symbol, Vec<Bar>>,
    written: BTreeMap<Symbol, u64>,
    faults: Vec<String>,
    stream: Option<StreamWriter>,
    tap: Option<&'a mut dyn EventSink>,
    /// The first write failure; the session stops on it.
    error: Option<anyhow::Error>,
    stop: Option<&'a std::sync::atomic::AtomicBool>,
}

impl Collector<'_> {
    fn flush(&mut self) {
        for (symbol, bars) in std::mem::take(&mut self.day) {
            if self.error.is_some() {
                return;
            }
            match self.dest.write(&self.exchange, &bars) {
                Ok(_) => *self.written.entry(symbol).or_default() += bars.len() as u64,
                Err(e) => {
                    self.error = Some(anyhow::Error::new(e).context(format!(
                        "writing {symbol}'s bars to {}",
                        self.dest.root().display()
                    )));
                    if let Some(stop) = self.stop {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

impl EventSink for Collector<'_> {
    fn emit(&mut self, event: &Event) {
        if let Some(stream) = self.stream.as_mut() {
            stream.on_event(event);
        }
        match event {
            Event::Bar {
                bar,
                derived: false,
                ..
            } => self.day.entry(bar.symbol()).or_default().push(*bar),
            Event::Fault { .. } => self.faults.extend(event.fault_line()),
            Event::DayEnded { .. } => self.flush(),
            _ => {}
        }
        if let Some(tap) = self.tap.as_mut() {
            tap.emit(event);
        }
    }
}

/// Runs a collect session: `feed`'s bars, paced at the config's `[feed] speed`, into `dest`.
///
/// # Errors
/// A calendar or feed failure, or a bar store write that fails (the session stops on it).
pub fn collect<'a>(
    feed: &mut dyn Feed,
    dest: &'a BarStore,
    cfg: &SessionConfig,
    session_id: SessionId,
    hooks: Hooks<'a>,
) -> Result<CollectResult> {
    let (cfg, mut clock) = paced(cfg, hooks.stop)?;
    let days_planned = days_planned(&cfg)?;
    let mut collector = Collector {
        dest,
        exchange: cfg.engine.calendar.code().to_owned(),
        day: BTreeMap::new(),
        written: BTreeMap::new(),
        faults: Vec::new(),
        stream: hooks.stream,
        tap: hooks.tap,
        error: None,
        stop: hooks.stop,
    };
    let started = Instant::now();
    let mut engine = Engine::new(cfg.engine, &mut *feed, &mut clock, &mut collector)?;
    if let Some(stop) = hooks.stop {
        engine = engine.with_stop(stop);
    }
    let summary = engine.run()?;
    drop(engine);
    // A day cut short by a stop still keeps what it delivered.
    collector.flush();
    if let Some(stream) = collector.stream.as_mut() {
        stream.close();
    }
    if let Some(e) = collector.error.take() {
        return Err(e);
    }
    Ok(CollectResult {
        session_id,
        trading_days: summary.days,
        days_planned,
        stopped: summary.stopped,
        bars: summary.base_bars,
        written: collector.written,
        faults: collector.faults,
        fingerprint: feed.fingerprint().context("the feed's data fingerprint")?,
        elapsed_ms: started.elapsed().as_millis(),
    })
}
