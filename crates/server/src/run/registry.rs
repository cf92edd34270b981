//! The session registry as runners use it: which database, claiming and renewing sessions,
//! and recording a backtest in it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use openbell_model::{SessionId, SessionKind, SessionStatus, Side, Timestamp};
use openbell_store::{
    Batch, DayRow, EquityRow, FillRow, NewSession, OrderRow, PoolConfig, PositionRow, QualityRow,
    RiskRow, ScanRow, SignalRow, Store, TradeRow, Written,
};

/// What the registry needs of a session that ran to its end (or to a stop).
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// The session.
    pub session_id: SessionId,
    /// Orders still working at the end (the rest were streamed as they finished).
    pub orders: &'a [openbell_engine::OrderRecord],
    /// The data fingerprint.
    pub fingerprint: &'a str,
    /// Trading days run.
    pub trading_days: u32,
    /// Trading days the config covers.
    pub days_planned: usize,
}
use crate::run::home::openbell_home;

/// The database: `--db`, else `$OPENBELL_DB`, else a SQLite file at
/// `$OPENBELL_HOME/openbell.db` (its folder is created).
pub fn db_url(flag: Option<&str>) -> Result<String> {
    if let Some(url) = flag {
        return Ok(url.to_owned());
    }
    if let Some(url) = std::env::var_os("OPENBELL_DB").filter(|v| !v.is_empty()) {
        return Ok(url.to_string_lossy().into_owned());
    }
    let home: PathBuf = openbell_home();
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    Ok(format!("sqlite://{}", home.join("openbell.db").display()))
}

/// A runtime for the registry's async calls, with one worker so a lease heartbeat keeps
/// running while the engine works on the calling thread.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `$name` as a whole number of at least 1; `default` when it is unset.
fn env_count(name: &str, default: u32) -> Result<u32> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .with_context(|| format!("{name}={v:?}: expected a whole number, at least 1")),
    }
}

/// Default seconds of a lease.
const LEASE_SECS: u32 = 30;

/// How long a runner's claim on a session lasts without a heartbeat:
/// `$OPENBELL_LEASE_SECS`, default 30 seconds. It is renewed every third of that. An invalid
/// value is refused when the registry opens ([`open`]).
pub fn lease() -> chrono::Duration {
    let secs = env_count("OPENBELL_LEASE_SECS", LEASE_SECS).unwrap_or(LEASE_SECS);
    chrono::Duration::seconds(i64::from(secs))
}

/// The registry's connection pool: `$OPENBELL_DB_MAX_CONNECTIONS` connections at most
/// (default 4 on SQLite, which runs one writer at a time and whose every connection is a
/// thread; 10 on PostgreSQL), and `$OPENBELL_DB_ACQUIRE_SECS` (default 10) seconds to get one
/// before a call fails (an unreachable database fails the writes of a running session after
/// that long).
///
/// # Errors
/// An invalid value in either variable.
pub fn pool_config(url: &str) -> Result<PoolConfig> {
    let default = if url.starts_with("sqlite:") { 4 } else { 10 };
    Ok(PoolConfig {
        max_connections: env_count("OPENBELL_DB_MAX_CONNECTIONS", default)?,
        acquire_timeout: std::time::Duration::from_secs(u64::from(env_count(
            "OPENBELL_DB_ACQUIRE_SECS",
            10,
        )?)),
        ..PoolConfig::default()
    })
}

/// This process's runner id.
pub fn runner_id(role: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!(
        "{role}-{}-{:08x}",
        std::process::id(),
        h.finish() & 0xffff_ffff
    )
}

/// Connects, applies pending migrations (on start, as `openbell db migrate` would), and fails
/// the sessions of runners whose lease expired (a killed or crashed process), with the reason.
pub async fn open(url: &str) -> Result<Store> {
    env_count("OPENBELL_LEASE_SECS", LEASE_SECS)?;
    let (store, _) = Store::open(url, &pool_config(url)?)
        .await
        .with_context(|| format!("opening the session registry at {}", shown(url)))?;
    for id in store.recover_expired(Utc::now()).await? {
        eprintln!("session {id} failed: its runner stopped before it finished");
    }
    Ok(store)
}

/// Renews this runner's leases, and watches `session` for a stop request (its status turning
/// `stopping`, as `openbell sessions stop` writes it), until aborted.
pub async fn heartbeat(
    store: Store,
    runner: String,
    session: SessionId,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let renew = (lease() / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(10));
    let watch = std::time::Duration::from_millis(250).min(renew);
    let mut since_renewal = std::time::Duration::ZERO;
    loop {
        tokio::time::sleep(watch).await;
        since_renewal += watch;
        if let Ok(Some(row)) = store.session(session).await
            && row.status == SessionStatus::Stopping
        {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if since_renewal >= renew {
            since_renewal = std::time::Duration::ZERO;
            let _ = store.heartbeat(&runner, Utc::now() + lease()).await;
        }
    }
}

/// A URL fit to print: without a password.
pub fn shown(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates the session row, claims it for `runner`, and moves it to running: the row exists
/// before any work starts.
///
/// # Errors
/// A database failure.
pub async fn start(
    store: &Store,
    id: SessionId,
    runner: &str,
    name: &str,
    config: &str,
) -> Result<()> {
    store
        .create_session(&NewSession {
            id,
            kind: SessionKind::Backtest,
            name: name.to_owned(),
            owner_id: None,
            config: config.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .await?;
    begin(store, id, runner).await
}

/// Claims a queued session for `runner` and moves it through `starting` to `running`.
///
/// # Errors
/// A database failure, or [`openbell_store::StoreError::Conflict`] when it is no longer
/// queued (a stop arrived first).
pub async fn begin(store: &Store, id: SessionId, runner: &str) -> Result<()> {
    store.claim(id, runner, Utc::now() + lease()).await?;
    store
        .transition(id, SessionStatus::Queued, SessionStatus::Starting, None)
        .await?;
    store
        .transition(id, SessionStatus::Starting, SessionStatus::Running, None)
        .await?;
    Ok(())
}

/// Marks a session failed with the reason (best effort: the reason is also printed).
///
/// When the registry itself is unreachable, it keeps trying for a while (the database may be
/// restarting): the session then ends `failed` with the reason as soon as it is back. If it
/// never comes back in time, the lease expires and the next start fails the session instead.
pub async fn fail(store: &Store, id: SessionId, reason: &str) {
    let deadline = std::time::Instant::now() + (lease() * 3).to_std().unwrap_or_default();
    loop {
        match store.session(id).await {
            Ok(Some(row)) if row.status.is_live() => {
                if store
                    .transition(id, row.status, SessionStatus::Failed, Some(reason))
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            Ok(_) => return,
            Err(_) => {}
        }
        if std::time::Instant::now() >= deadline {
            eprintln!("could not record the failure of session {id}; the next start will");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Rows per transaction for what is written at the end of a session.
const BATCH_ROWS: usize = 20_000;

/// Writes what is known only at the end (the orders still working), then the result, and only
/// then marks the session completed. The rest was streamed during the run.
pub async fn finish(store: &Store, r: &Finished<'_>, summary_json: &str) -> Result<Written> {
    // Finished orders and round trips were streamed as they happened; what is left are the
    // orders still working at the end, written in parts as the writer takes them.
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(1);
    let feed = async move {
        for part in r.orders.chunks(BATCH_ROWS) {
            let batch = Batch {
                orders: part.iter().map(order_row).collect(),
                ..Batch::default()
            };
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    };
    let ((), written) = tokio::join!(feed, store.write_all(r.session_id, rx));
    let written = written?;
    store
        .set_result(r.session_id, Some(r.fingerprint), Some(summary_json))
        .await?;
    let current = store.session(r.session_id).await?;
    let (status, asked) = current.map_or((SessionStatus::Running, None), |row| {
        (row.status, row.error)
    });
    if status == SessionStatus::Stopping {
        // The reason given with the stop request (a shutting-down server gives one), else a
        // user's request.
        let reason = format!(
            "{} after {} of {} trading days",
            asked.as_deref().unwrap_or("stopped on request"),
            r.trading_days,
            r.days_planned
        );
        store
            .transition(
                r.session_id,
                SessionStatus::Stopping,
                SessionStatus::Stopped,
                Some(&reason),
            )
            .await?;
    } else {
        store
            .transition(
                r.session_id,
                SessionStatus::Running,
                SessionStatus::Completed,
                None,
            )
            .await?;
    }
    Ok(written)
}

fn side(s: Side) -> String {
    s.as_str().to_owned()
}

/// An order in its latest state, as a row.
fn order_row(rec: &openbell_engine::OrderRecord) -> OrderRow {
    let o = &rec.order;
    let (limit, stop) = o.order_type().limit_and_stop();
    OrderRow {
        order_id: i64::try_from(o.id().0).unwrap_or(i64::MAX),
        ts: to_utc(o.ts_init()),
        symbol: o.symbol().to_string(),
        side: side(o.side()),
        order_type: o.order_type().as_str().to_owned(),
        limit_price: limit.map(|p| p.to_text()),
        stop_price: stop.map(|p| p.to_text()),
        time_in_force: o.time_in_force().as_str().to_owned(),
        quantity: o.quantity().to_text(),
        filled: o.filled().to_text(),
        status: o.status().as_str().to_owned(),
        signal_id: o
            .signal_id()
            .map(|s| i64::try_from(s.0).unwrap_or(i64::MAX)),
        reason: rec.reason.clone(),
    }
}

/// A round trip, as row number `seq`.
fn trade_row(seq: i64, t: &openbell_engine::Trade) -> TradeRow {
    TradeRow {
        seq,
        symbol: t.symbol.to_string(),
        side: if t.side == Side::Buy { "long" } else { "short" }.to_owned(),
        quantity: t.quantity.to_text(),
        entry_ts: to_utc(t.entry_ts),
        exit_ts: to_utc(t.exit_ts),
        entry_price: t.entry_price.to_text(),
        exit_price: t.exit_price.to_text(),
        gross_pnl: t.gross_pnl.to_text(),
        commission: t.commission.to_text(),
    }
}

/// Rows per batch sent to the writer while a session runs: large batches keep the database's
/// per-statement and per-transaction costs small.
const STREAM_ROWS: usize = 20_000;

/// The longest a row waits in the sink before it is sent to the writer, so a slow (paper or
/// live) session's record stays current.
const STREAM_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Batches waiting for the writer before the engine waits: backpressure, never loss.
const STREAM_DEPTH: usize = 2;

/// Turns engine events into rows and hands them, in batches, to the session's one writer
/// through a bounded channel. When the channel is full the engine waits.
pub struct StreamWriter {
    /// Set when the writer fails, so the session stops at a safe point instead of running on
    /// without a record.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    batch: Batch,
    tx: Option<tokio::sync::mpsc::Sender<Batch>>,
    fills: i64,
    positions: i64,
    trades: i64,
    scans: i64,
    risk: i64,
    /// The latest equity, for the day's row.
    equity: Option<openbell_model::Money>,
    sent: u64,
    last_send: std::time::Instant,
}

/// Starts the writer task for `session` on `rt`; returns the sink half and the task, which
/// ends with the rows it committed (or the first error).
pub fn stream(
    rt: &tokio::runtime::Handle,
    store: &Store,
    session: SessionId,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (StreamWriter, tokio::task::JoinHandle<Result<Written>>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(STREAM_DEPTH);
    let store = store.clone();
    let task = rt.spawn(async move {
        store
            .write_all(session, rx)
            .await
            .context("writing the session's records")
    });
    let writer = StreamWriter {
        stop: Some(stop),
        batch: Batch::default(),
        tx: Some(tx),
        fills: 0,
        positions: 0,
        trades: 0,
        scans: 0,
        risk: 0,
        equity: None,
        sent: 0,
        last_send: std::time::Instant::now(),
    };
    (writer, task)
}

impl StreamWriter {
    /// Takes one event's rows.
    pub fn on_event(&mut self, event: &openbell_engine::Event) {
        use openbell_engine::Event;
        let b = &mut self.batch;
        match event {
            Event::Signal { signal, .. } => b.signals.push(SignalRow {
                signal_id: i64::try_from(signal.id().0).unwrap_or(i64::MAX),
                ts: to_utc(signal.ts_event()),
                symbol: signal.symbol().to_string(),
                side: side(signal.side()),
                strength: signal.strength(),
                reason: signal.reason().to_owned(),
            }),
            Event::OrderFilled { fill, .. } => {
                self.fills += 1;
                b.fills.push(fill_row(self.fills, fill));
            }
            Event::OrderFinished { record, .. } => b.orders.push(order_row(record)),
            Event::TradeClosed { trade, .. } => {
                self.trades += 1;
                b.trades.push(trade_row(self.trades, trade));
            }
            Event::PositionChanged {
                symbol,
                quantity,
                realized,
                ts,
            } => {
                self.positions += 1;
                b.positions.push(PositionRow {
                    seq: self.positions,
                    ts: to_utc(*ts),
                    symbol: symbol.to_string(),
                    quantity: quantity.to_text(),
                    realized: realized.to_text(),
                });
            }
            Event::Equity {
                equity, cash, ts, ..
            } => {
                self.equity = Some(*equity);
                b.equity.push(EquityRow {
                    ts: to_utc(*ts),
                    equity: equity.to_text(),
                    cash: cash.to_text(),
                });
            }
            Event::Quality {
                symbol,
                date,
                expected,
                present,
                missing,
                ..
            } => {
                let runs: Vec<String> = missing.iter().map(|(a, z)| format!("{a}/{z}")).collect();
                b.quality.push(QualityRow {
                    date: date.to_string(),
                    symbol: symbol.to_string(),
                    expected: i64::from(*expected),
                    present: i64::from(*present),
                    missing: runs.join(";"),
                });
            }
            Event::ScanCompleted {
                scanner,
                as_of,
                candidates,
                chosen,
                ts,
            } => {
                self.scans += 1;
                let candidates: Vec<serde_json::Value> = candidates
                    .iter()
                    .map(|(sym, score)| serde_json::json!({"symbol": sym.to_string(), "score": score}))
                    .collect();
                let chosen: Vec<String> = chosen.iter().map(ToString::to_string).collect();
                b.scans.push(ScanRow {
                    seq: self.scans,
                    ts: to_utc(*ts),
                    scanner: scanner.clone(),
                    as_of: to_utc(*as_of),
                    candidates: serde_json::to_string(&candidates).unwrap_or_default(),
                    chosen: serde_json::to_string(&chosen).unwrap_or_default(),
                });
            }
            Event::OrderRejected { order, reason, ts } if reason.starts_with("risk:") => {
                self.risk += 1;
                b.risk.push(RiskRow {
                    seq: self.risk,
                    ts: to_utc(*ts),
                    order_id: i64::try_from(order.id().0).unwrap_or(i64::MAX),
                    symbol: order.symbol().to_string(),
                    reason: reason.clone(),
                });
            }
            Event::DayEnded { date, bars, .. } => b.days.push(day_row(*date, *bars, self.equity)),
            _ => return,
        }
        if self.batch.len() >= STREAM_ROWS || self.last_send.elapsed() >= STREAM_INTERVAL {
            self.send(true);
        }
    }

    /// Hands the current batch to the writer, waiting while the channel is full; with `more`
    /// to come, the next batch starts with room for as many rows.
    fn send(&mut self, more: bool) {
        if self.batch.is_empty() {
            return;
        }
        let room = if more {
            Batch::with_room_of(&self.batch)
        } else {
            Batch::default()
        };
        let batch = std::mem::replace(&mut self.batch, room);
        self.sent += batch.len() as u64;
        self.last_send = std::time::Instant::now();
        // A writer that failed has dropped its end; its error is reported when it is joined.
        if let Some(tx) = &self.tx
            && tx.blocking_send(batch).is_err()
        {
            self.tx = None;
            if let Some(stop) = &self.stop {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// A handle on the channel to the writer that does not keep it open: how many batches
    /// wait in it.
    #[must_use]
    pub fn probe(&self) -> tokio::sync::mpsc::WeakSender<Batch> {
        self.tx.as_ref().map_or_else(
            || tokio::sync::mpsc::channel::<Batch>(1).0.downgrade(),
            tokio::sync::mpsc::Sender::downgrade,
        )
    }

    /// Sends what is left and closes the channel.
    pub fn close(&mut self) {
        self.send(false);
        self.tx = None;
    }
}

/// Fill number `seq` of a session, as a row.
#[must_use]
pub fn fill_row(seq: i64, fill: &openbell_model::Fill) -> FillRow {
    FillRow {
        seq,
        ts: to_utc(fill.ts_event()),
        order_id: i64::try_from(fill.order_id().0).unwrap_or(i64::MAX),
        symbol: fill.symbol().to_string(),
        side: side(fill.side()),
        quantity: fill.quantity().to_text(),
        price: fill.price().to_text(),
        commission: fill.commission().to_text(),
    }
}

/// A trading day's row: its base bars and the equity at its close.
#[must_use]
pub fn day_row(
    date: chrono::NaiveDate,
    bars: u64,
    equity: Option<openbell_model::Money>,
) -> DayRow {
    DayRow {
        date: date.to_string(),
        bars: i64::try_from(bars).unwrap_or(i64::MAX),
        equity: equity.map(|e| e.to_text()),
    }
}

/// A timestamp as the registry stores it.
#[must_use]
pub fn to_utc(ts: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ts.as_nanos())
}
