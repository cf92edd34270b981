//! The server's session runner. A created session is committed `queued` and claimed by this
//! runner before the request is answered; a bounded number run at once and the rest wait
//! `queued`. Memory holds only handles to the tasks (a stop flag, a wake-up, the live event
//! channel); the database row is the session's state.
//!
//! A stop request writes `stopping` first and then signals the task, which flushes its writer
//! and writes `stopped`. Shutting down does the same for every session this runner holds, with
//! the reason, and waits for each to reach its safe point.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use chrono::Utc;
use openbell_config::SessionConfig;
use openbell_data::BarStore;
use openbell_engine::{Event, EventSink};
use openbell_model::{Money, SessionId, SessionKind, SessionStatus};
use openbell_store::{NewSession, SessionFilter, SessionRow, Store, StoreError};
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio::task::JoinHandle;

use crate::run::backtest::{Hooks, backtest, new_session_id, paper};
use crate::run::collect::collect;
use crate::run::registry;
use crate::run::source::StoreSource;

/// How the runner works.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Sessions running at once; the rest wait `queued`.
    pub max_running: usize,
    /// Sessions waiting at most; a create beyond that is refused (429) until some finish.
    pub max_queued: usize,
    /// The bar store sessions read.
    pub data_dir: PathBuf,
    /// The bar store collect sessions write.
    pub collect_dir: PathBuf,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            max_running: 2,
            max_queued: 1000,
            data_dir: crate::run::home::data_dir(None),
            collect_dir: crate::run::home::openbell_home().join("collected"),
        }
    }
}

/// Why a create was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The config does not validate; the message names the line and key.
    #[error("{0}")]
    Invalid(String),
    /// As many sessions wait as the runner allows.
    #[error("{0} sessions are waiting already; try again when some have finished")]
    Full(usize),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closing,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SubmitError> for crate::error::ApiError {
    fn from(e: SubmitError) -> Self {
        use axum::http::StatusCode;
        match e {
            SubmitError::Invalid(m) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", m)
            }
            SubmitError::Full(_) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sessions",
                e.to_string(),
            ),
            SubmitError::Closing => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            SubmitError::Store(e) => e.into(),
        }
    }
}

/// One live event of a running session, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    /// `phase`, `day`, `fill`, `equity` or `status`.
    pub kind: &'static str,
    /// Where it stands in the session's record, so a reader that replayed the record first
    /// can skip what it has already sent.
    pub key: EventKey,
    /// The event as JSON.
    pub data: String,
}

/// A live event's place in the stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKey {
    /// Not stored (phases, equity samples, status changes).
    None,
    /// A trading day's row, by date.
    Day(String),
    /// A fill's row, by number.
    Fill(i64),
}

/// Events a slow reader may fall behind by before it re-reads the record.
const LIVE_CAPACITY: usize = 1024;

/// The least wall time between two live equity samples.
const EQUITY_EVERY: Duration = Duration::from_millis(250);

/// How often stop requests written by other processes are looked for.
const STOP_POLL: Duration = Duration::from_secs(1);

/// What the runner holds of a session it owns.
struct Live {
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    events: broadcast::Sender<Arc<LiveEvent>>,
    task: Option<JoinHandle<()>>,
    /// The registry writer's channel, once the session runs (for its queue depth).
    writer: Option<tokio::sync::mpsc::WeakSender<openbell_store::Batch>>,
    /// Set before the session's final status is written, so that whoever reads that status
    /// no longer counts the session as held.
    ending: bool,
}

struct Inner {
    store: Store,
    id: String,
    config: RunnerConfig,
    permits: Arc<Semaphore>,
    live: Mutex<HashMap<SessionId, Live>>,
    closing: AtomicBool,
    bars: Arc<AtomicU64>,
}

/// The session runner; cheap to clone.
#[derive(Clone)]
pub struct Runner(Arc<Inner>);

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("id", &self.0.id).finish()
    }
}

impl Runner {
    /// A runner over `store`. Call [`Runner::maintain`] on the server's runtime to renew its
    /// leases and pick up stop requests written by other processes.
    #[must_use]
    pub fn new(store: Store, config: RunnerConfig) -> Self {
        Self(Arc::new(Inner {
            store,
            id: registry::runner_id("serve"),
            permits: Arc::new(Semaphore::new(config.max_running.max(1))),
            config,
            live: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            bars: Arc::new(AtomicU64::new(0)),
        }))
    }

    /// This runner's id, as the session rows record it.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Base bars processed by this runner's sessions.
    #[must_use]
    pub fn bars_processed(&self) -> u64 {
        self.0.bars.load(Ordering::Relaxed)
    }

    /// The bar store sessions read.
    #[must_use]
    pub fn data_dir(&self) -> &std::path::Path {
        &self.0.config.data_dir
    }

    /// Batches waiting for the registry writers of the running sessions.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.lock()
            .values()
            .filter_map(|l| l.writer.as_ref()?.upgrade())
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }

    /// Sessions this runner holds: (running, waiting to start).
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        let live = self.lock();
        let held = live.values().filter(|l| !l.ending);
        let running = held.clone().filter(|l| l.writer.is_some()).count();
        (running, held.count() - running)
    }

    /// Sessions this runner holds, waiting or running.
    #[must_use]
    pub fn held(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Live>> {
        self.0.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Validates a backtest config, commits its session `queued` and claimed by this runner,
    /// and starts its task; returns the stored row. The row exists before this returns.
    ///
    /// # Errors
    /// [`SubmitError::Invalid`] for a config that does not validate (or names a data folder:
    /// the server chooses it); [`SubmitError::Full`]; [`SubmitError::Closing`];
    /// [`SubmitError::Store`].
    pub async fn submit(
        &self,
        owner: i64,
        kind: SessionKind,
        name: &str,
        config: &str,
    ) -> Result<SessionRow, SubmitError> {
        if self.0.closing.load(Ordering::Relaxed) {
            return Err(SubmitError::Closing);
        }
        let limit = self.0.config.max_running.max(1) + self.0.config.max_queued;
        if self.held() >= limit {
            return Err(SubmitError::Full(self.0.config.max_queued));
        }
        let text = config.to_owned();
        let cfg = tokio::task::spawn_blocking(move || validate(&text, kind))
            .await
            .map_err(|e| SubmitError::Invalid(format!("validating the config failed: {e}")))?
            .map_err(|e| SubmitError::Invalid(format!("{e:#}")))?;
        let id = new_session_id().map_err(|e| SubmitError::Invalid(e.to_string()))?;
        let store = &self.0.store;
        store
            .create_session(&NewSession {
                id,
                kind,
                name: name.to_owned(),
                owner_id: Some(owner),
                config: config.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .await?;
        if let Err(e) = store
            .claim(id, &self.0.id, Utc::now() + registry::lease())
            .await
        {
            // An unclaimed queued row would wait for no one: it fails with the reason.
            let reason = format!("the runner could not claim it: {e}");
            let _ = store
                .transition(
                    id,
                    SessionStatus::Queued,
                    SessionStatus::Failed,
                    Some(&reason),
                )
                .await;
            return Err(e.into());
        }
        let row = store.session(id).await?.ok_or(StoreError::NotFound(id))?;
        let (events, _) = broadcast::channel(LIVE_CAPACITY);
        let live = Live {
            stop: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(Notify::new()),
            events,
            task: None,
            writer: None,
            ending: false,
        };
        let task = Task {
            runner: self.clone(),
            id,
            kind,
            cfg,
            stop: Arc::clone(&live.stop),
            wake: Arc::clone(&live.wake),
            events: live.events.clone(),
        };
        self.lock().insert(id, live);
        let handle = tokio::spawn(task.drive());
        if let Some(live) = self.lock().get_mut(&id) {
            live.task = Some(handle);
        }
        Ok(row)
    }

    /// Signals the task of a session whose row was just moved to `stopping`: it stops at the
    /// next safe point (a waiting one at once). Does nothing for a session this runner does
    /// not hold.
    pub fn signal_stop(&self, id: SessionId) {
        if let Some(live) = self.lock().get(&id) {
            live.stop.store(true, Ordering::Relaxed);
            live.wake.notify_one();
        }
    }

    /// The live events of a session this runner holds, from now on; `None` otherwise.
    #[must_use]
    pub fn subscribe(&self, id: SessionId) -> Option<broadcast::Receiver<Arc<LiveEvent>>> {
        self.lock().get(&id).map(|l| l.events.subscribe())
    }

    /// Renews this runner's leases, fails the sessions of runners whose leases expired, and
    /// signals the sessions that another process asked to stop; runs until the runner shuts
    /// down.
    pub async fn maintain(self) {
        let renew = (registry::lease() / 3)
            .to_std()
            .unwrap_or(Duration::from_secs(10));
        let mut last_renewal = Instant::now();
        while !self.0.closing.load(Ordering::Relaxed) {
            tokio::time::sleep(STOP_POLL).await;
            let store = &self.0.store;
            if self.held() > 0 {
                let filter = SessionFilter {
                    status: Some(SessionStatus::Stopping),
                    limit: 500,
                    ..SessionFilter::default()
                };
                if let Ok(rows) = store.sessions(&filter).await {
                    for row in rows {
                        if row.runner_id.as_deref() == Some(self.id()) {
                            self.signal_stop(row.id);
                        }
                    }
                }
            }
            if last_renewal.elapsed() >= renew {
                last_renewal = Instant::now();
                if let Err(e) = store
                    .heartbeat(&self.0.id, Utc::now() + registry::lease())
                    .await
                {
                    tracing::warn!(error = %e, "renewing the runner's leases failed");
                }
                match store.recover_expired(Utc::now()).await {
                    Ok(failed) => {
                        for id in failed {
                            tracing::warn!(session = %id, "failed: its runner stopped renewing its lease");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "looking for expired leases failed"),
                }
            }
        }
    }

    /// Stops taking sessions, brings every session this runner holds to a safe point and
    /// marks it `stopped` with `reason` (a waiting one before it starts), and waits until
    /// each has flushed its writer.
    pub async fn shutdown(&self, reason: &str) {
        self.0.closing.store(true, Ordering::Relaxed);
        self.0.permits.close();
        let held: Vec<SessionId> = self.lock().keys().copied().collect();
        for id in &held {
            // A session that ended meanwhile has nothing to stop.
            let _ = self.0.store.request_stop_with(*id, Some(reason)).await;
            self.signal_stop(*id);
        }
        let tasks: Vec<JoinHandle<()>> = self
            .lock()
            .values_mut()
            .filter_map(|l| l.task.take())
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// Parses a config sent over HTTP: calendars by code only, no data folder of its own, and a
/// strategy for a backtest or a paper session (a collect session runs none).
fn validate(text: &str, kind: SessionKind) -> Result<SessionConfig> {
    let cfg = crate::run::config::parse_config_with(
        text,
        "config",
        crate::run::config::CalendarPaths::CodesOnly,
    )?;
    if cfg.data_dir.is_some() {
        anyhow::bail!(
            "config: [data] dir is not accepted over HTTP; the server reads its own bar store"
        );
    }
    match (kind, &cfg.strategy) {
        (SessionKind::Collect, Some(_)) => {
            anyhow::bail!("config: a collect session runs no strategy; remove the [strategy] table")
        }
        (SessionKind::Collect, None) => {}
        (_, None) => anyhow::bail!("config: no [strategy] table; a {kind} session needs one"),
        (_, Some(_)) => {}
    }
    Ok(cfg)
}

/// One session's task.
struct Task {
    runner: Runner,
    id: SessionId,
    kind: SessionKind,
    cfg: SessionConfig,
    stop: Arc<AtomicBool>,
    wake: Arc<Notify>,
    events: broadcast::Sender<Arc<LiveEvent>>,
}

impl Task {
    async fn drive(self) {
        let inner = Arc::clone(&self.runner.0);
        let store = inner.store.clone();
        let permit = tokio::select! {
            permit = Arc::clone(&inner.permits).acquire_owned() => permit.ok(),
            () = self.wake.notified() => None,
        };
        let started = match permit {
            Some(permit) if !self.stop.load(Ordering::Relaxed) => {
                match registry::begin(&store, self.id, &inner.id).await {
                    Ok(()) => Some(permit),
                    Err(e) => {
                        let conflict = e
                            .downcast_ref::<StoreError>()
                            .is_some_and(|e| matches!(e, StoreError::Conflict { .. }));
                        if !conflict {
                            self.ending();
                            registry::fail(&store, self.id, &format!("{e:#}")).await;
                        }
                        None
                    }
                }
            }
            _ => None,
        };
        match started {
            Some(_permit) => {
                self.publish_status(&store).await;
                if let Err(e) = self.run(&store).await {
                    self.ending();
                    registry::fail(&store, self.id, &format!("{e:#}")).await;
                }
            }
            None => {
                self.ending();
                stop_unstarted(&store, self.id).await;
            }
        }
        self.publish_status(&store).await;
        // Dropping the handle closes the live channel: readers then read the final record.
        self.runner.lock().remove(&self.id);
    }

    /// Runs the backtest on a blocking thread, its records streamed to the registry, and
    /// marks it completed (or stopped) once every record is committed.
    async fn run(&self, store: &Store) -> Result<()> {
        let handle = tokio::runtime::Handle::current();
        let (stream, writer) = registry::stream(&handle, store, self.id, Arc::clone(&self.stop));
        if let Some(live) = self.runner.lock().get_mut(&self.id) {
            live.writer = Some(stream.probe());
        }
        let data_dir = self.runner.0.config.data_dir.clone();
        let collect_dir = self.runner.0.config.collect_dir.clone();
        let kind = self.kind;
        let cfg = self.cfg.clone();
        let id = self.id;
        let stop = Arc::clone(&self.stop);
        let mut tap = LiveTap {
            events: self.events.clone(),
            fills: 0,
            equity: None,
            last_equity: None,
            bars: Arc::clone(&self.runner.0.bars),
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let bars = BarStore::open(&data_dir)
                .with_context(|| format!("opening the bar store {}", data_dir.display()))?;
            let hooks = Hooks {
                stream: Some(stream),
                stop: Some(&stop),
                tap: Some(&mut tap),
            };
            Ok::<_, anyhow::Error>(match kind {
                SessionKind::Backtest => {
                    Outcome::Trade(Box::new(backtest(&bars, &cfg, id, hooks)?))
                }
                SessionKind::Paper => {
                    let mut feed = StoreSource::new(&bars);
                    Outcome::Trade(Box::new(paper(&mut feed, &cfg, id, hooks)?))
                }
                SessionKind::Collect => {
                    let dest = BarStore::open(&collect_dir).with_context(|| {
                        format!("opening the collect store {}", collect_dir.display())
                    })?;
                    let mut feed = StoreSource::new(&bars);
                    Outcome::Collect(collect(&mut feed, &dest, &cfg, id, hooks)?)
                }
            })
        })
        .await
        .map_err(|e| anyhow!("the session's task ended abnormally: {e}"))?;
        let result = match outcome {
            Ok(result) => result,
            Err(e) => {
                // The writer ends once the engine's side is dropped; its error, if any, is
                // the cause to report.
                if let Ok(Err(write)) = writer.await {
                    return Err(write);
                }
                return Err(e);
            }
        };
        let (summary, finished) = match &result {
            Outcome::Trade(r) => (r.summary_json()?, r.finished()),
            Outcome::Collect(r) => (r.summary_json("replay")?, r.finished()),
        };
        writer.await.context("the registry writer stopped")??;
        self.ending();
        registry::finish(store, &finished, &summary).await?;
        Ok(())
    }

    /// The session is about to get its final status: the runner stops counting it.
    fn ending(&self) {
        if let Some(live) = self.runner.lock().get_mut(&self.id) {
            live.ending = true;
        }
    }

    async fn publish_status(&self, store: &Store) {
        if let Ok(Some(row)) = store.session(self.id).await {
            let _ = self.events.send(Arc::new(status_event(row)));
        }
    }
}

/// What a session's run produced.
enum Outcome {
    /// A backtest or a paper session.
    Trade(Box<crate::run::backtest::BacktestResult>),
    /// A collect session.
    Collect(crate::run::collect::CollectResult),
}

/// A session that never started: a stop request or the shutdown moved it to `stopping`
/// (this writes that if nothing did yet), and it ends `stopped` with the reason.
async fn stop_unstarted(store: &Store, id: SessionId) {
    // Still queued: nothing asked it to stop but the server shutting down. Already stopping:
    // the request's reason stands.
    let _ = store
        .request_stop_with(id, Some("the server shut down"))
        .await;
    let Ok(Some(row)) = store.session(id).await else {
        return;
    };
    if row.status != SessionStatus::Stopping {
        return;
    }
    let reason = format!(
        "{} before it started",
        row.error.as_deref().unwrap_or("stopped on request")
    );
    if let Err(e) = store
        .transition(
            id,
            SessionStatus::Stopping,
            SessionStatus::Stopped,
            Some(&reason),
        )
        .await
    {
        tracing::warn!(session = %id, error = %e, "recording a stop failed");
    }
}

/// A session row as a `status` event.
#[must_use]
pub fn status_event(row: SessionRow) -> LiveEvent {
    LiveEvent {
        kind: "status",
        key: EventKey::None,
        data: serde_json::to_string(&crate::sessions::SessionJson::from(row)).unwrap_or_default(),
    }
}

/// Turns engine events into live events (on the engine's thread).
struct LiveTap {
    events: broadcast::Sender<Arc<LiveEvent>>,
    fills: i64,
    equity: Option<Money>,
    last_equity: Option<Instant>,
    bars: Arc<AtomicU64>,
}

impl LiveTap {
    fn send(&self, kind: &'static str, key: EventKey, data: &impl serde::Serialize) {
        // No reader is not an error: the record is in the registry.
        if self.events.receiver_count() > 0 {
            let data = serde_json::to_string(data).unwrap_or_default();
            let _ = self.events.send(Arc::new(LiveEvent { kind, key, data }));
        }
    }
}

impl EventSink for LiveTap {
    fn emit(&mut self, event: &Event) {
        match event {
            Event::PhaseStarted { date, phase, ts } => self.send(
                "phase",
                EventKey::None,
                &serde_json::json!({
                    "date": date.to_string(),
                    "phase": phase.as_str(),
                    "ts": registry::to_utc(*ts),
                }),
            ),
            Event::OrderFilled { fill, .. } => {
                self.fills += 1;
                let row = registry::fill_row(self.fills, fill);
                self.send("fill", EventKey::Fill(self.fills), &row);
            }
            Event::Equity {
                equity, cash, ts, ..
            } => {
                self.equity = Some(*equity);
                if self.last_equity.is_none_or(|t| t.elapsed() >= EQUITY_EVERY) {
                    self.last_equity = Some(Instant::now());
                    self.send(
                        "equity",
                        EventKey::None,
                        &openbell_store::EquityRow {
                            ts: registry::to_utc(*ts),
                            equity: equity.to_string(),
                            cash: cash.to_string(),
                        },
                    );
                }
            }
            Event::DayEnded { date, bars, .. } => {
                self.bars.fetch_add(*bars, Ordering::Relaxed);
                let row = registry::day_row(*date, *bars, self.equity);
                self.send("day", EventKey::Day(row.date.clone()), &row);
            }
            _ => {}
        }
    }

    fn wants_bars(&self) -> bool {
        false
    }
}
