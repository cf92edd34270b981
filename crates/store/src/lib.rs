//! The session registry: every session and everything it produced, in SQLite (the embedded
//! default) or PostgreSQL, behind one interface. The same code runs on both: each operation is
//! written once and compiled for each backend's pool.
//!
//! The database row is the truth. Creating a session commits the row before the id is
//! returned; status moves go through [`openbell_model::transition`] and a compare-and-set
//! update, so a lost race is an error naming the status that won, never a silent overwrite.

mod accounts;
mod batch;
mod migrations;
mod records;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openbell_model::{ModelError, SessionId, SessionKind, SessionStatus, transition};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use crate::accounts::{MAX_USERNAME_CHARS, UserRow};
pub use crate::migrations::{Backend, MIGRATIONS, Migration, head};
pub use crate::records::{
    Batch, DayRow, EquityRow, FillRow, OrderRow, PositionRow, QualityRow, RiskRow, ScanRow,
    SignalRow, TradeRow,
};
pub use crate::writer::Written;

/// The largest config text a session may carry.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;
/// The longest session name.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused a statement.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The URL names no backend openbell knows.
    #[error("database URL {0:?}: expected sqlite://PATH, sqlite::memory: or postgres://…")]
    Url(String),
    /// No session has this id.
    #[error("session {0} not found")]
    NotFound(SessionId),
    /// Another writer moved the session first.
    #[error("session {id} is {current}, not {expected}: another writer moved it first")]
    Conflict {
        /// The session.
        id: SessionId,
        /// The status the move expected.
        expected: SessionStatus,
        /// The status it has.
        current: SessionStatus,
    },
    /// The move is not allowed from the session's status.
    #[error("session {id}: {source}")]
    Transition {
        /// The session.
        id: SessionId,
        /// The rule it broke.
        source: ModelError,
    },
    /// Input that must not be stored: too large or malformed.
    #[error("{0}")]
    Input(String),
    /// A session's batch writer stopped unexpectedly.
    #[error("batch writer: {0}")]
    Writer(String),
    /// A stored value did not decode.
    #[error("stored {what} {value:?} is not valid: {message}")]
    Corrupt {
        /// The column.
        what: &'static str,
        /// The stored text.
        value: String,
        /// Why.
        message: String,
    },
    /// The schema is newer than this build knows.
    #[error(
        "the database schema is at version {found}, newer than this openbell's {head}; upgrade openbell"
    )]
    TooNew {
        /// Applied version.
        found: i64,
        /// This build's head.
        head: i64,
    },
}

impl StoreError {
    /// True when SQLite reported the database busy or locked by another process: worth
    /// retrying after a moment (a fresh database switching to WAL mode, say).
    #[must_use]
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("5" | "6" | "261" | "517"))
                    || e.message().contains("database is locked")
            }
            _ => false,
        }
    }
}

/// A single-row update's outcome: the row, or [`StoreError::NotFound`].
const fn one_row(changed: u64, id: SessionId) -> Result<(), StoreError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(id))
    }
}

/// Pool sizes (PostgreSQL; SQLite uses one writer and a few readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// The most connections.
    pub max_connections: u32,
    /// Connections kept open.
    pub min_connections: u32,
    /// How long to wait for a connection.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The registry's connection.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// PostgreSQL only: whether this role may set `session_replication_role`, so a batch can
    /// lock its session row once and skip the per-row foreign-key checks
    /// ([`Store::checks_session_per_batch`]).
    checks_session_per_batch: bool,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Its id.
    pub id: SessionId,
    /// Its kind.
    pub kind: SessionKind,
    /// Its status.
    pub status: SessionStatus,
    /// Its name.
    pub name: String,
    /// The owning user, if any.
    pub owner_id: Option<i64>,
    /// The runner working on it, if any.
    pub runner_id: Option<String>,
    /// The config as given.
    pub config: String,
    /// The openbell version that created it.
    pub version: String,
    /// The data fingerprint, once known.
    pub data_fingerprint: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it failed or stopped.
    pub error: Option<String>,
    /// Summary metrics (JSON), once known.
    pub summary: Option<String>,
}

/// A session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Its id (time-ordered).
    pub id: SessionId,
    /// Its kind.
    pub kind: SessionKind,
    /// Its name.
    pub name: String,
    /// The owning user, if any.
    pub owner_id: Option<i64>,
    /// The config as given (already validated by the caller).
    pub config: String,
    /// The openbell version.
    pub version: String,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this kind.
    pub kind: Option<SessionKind>,
    /// Only this status.
    pub status: Option<SessionStatus>,
    /// Only this owner.
    pub owner_id: Option<i64>,
    /// Only sessions older than this id (paging cursor: the last id of the previous page).
    pub before: Option<SessionId>,
    /// Only sessions newer than this id. Ids are ordered by creation time, so an id made
    /// from an instant bounds the creation time.
    pub after: Option<SessionId>,
    /// At most this many (newest first).
    pub limit: u32,
}

/// The schema version and what is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The applied version (0 for an empty database).
    pub current: i64,
    /// This build's newest version.
    pub head: i64,
    /// Applied migrations: version, name, when.
    pub applied: Vec<(i64, String, DateTime<Utc>)>,
}

/// Serializes migrations across processes on PostgreSQL (held until the transaction ends).
const PG_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(8143001)";

const SESSION_COLUMNS: &str = "id, kind, status, name, owner_id, runner_id, config, version, data_fingerprint, created_at, started_at, ended_at, error, summary";

fn corrupt(what: &'static str, value: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        value: value.to_owned(),
        message: e.to_string(),
    }
}

fn session_from_row<R: Row>(row: &R) -> Result<SessionRow, StoreError>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(SessionRow {
        id: SessionId::parse(&id).map_err(|e| corrupt("session id", &id, e))?,
        kind: SessionKind::from_str(&kind).map_err(|e| corrupt("session kind", &kind, e))?,
        status: SessionStatus::from_str(&status)
            .map_err(|e| corrupt("session status", &status, e))?,
        name: row.try_get("name")?,
        owner_id: row.try_get("owner_id")?,
        runner_id: row.try_get("runner_id")?,
        config: row.try_get("config")?,
        version: row.try_get("version")?,
        data_fingerprint: row.try_get("data_fingerprint")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        error: row.try_get("error")?,
        summary: row.try_get("summary")?,
    })
}

impl Store {
    /// Connects to `url`: `sqlite://PATH` (created if missing, WAL mode, foreign keys on, a
    /// 16 MiB page cache),
    /// `sqlite::memory:`, or `postgres://…` with a pool sized by `pool`.
    ///
    /// # Errors
    /// [`StoreError::Url`] for an unknown scheme; [`StoreError::Db`] when it cannot connect.
    pub async fn connect(url: &str, pool: &PoolConfig) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                // A 16 MiB page cache (SQLite's default is 2 MiB): a session's batch touches
                // the growing end of every child table and index, and with 2 MiB the writer
                // reads pages back from the file between batches.
                .pragma("cache_size", "-16384")
                // Session batches insert into ten tables in ten statement sizes each
                // (`sqlite_ranges`): room for all of them beside the other queries.
                .statement_cache_capacity(256);
            let in_memory = url.contains(":memory:");
            let p = SqlitePoolOptions::new()
                // One connection for an in-memory database: each would be its own database.
                .max_connections(if in_memory {
                    1
                } else {
                    pool.max_connections.max(1)
                })
                .min_connections(if in_memory { 1 } else { 0 })
                .acquire_timeout(pool.acquire_timeout)
                .connect_with(options)
                .await?;
            return Ok(Self {
                pool: Pool::Sqlite(p),
                checks_session_per_batch: false,
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let p = PgPoolOptions::new()
                .max_connections(pool.max_connections.max(1))
                .min_connections(pool.min_connections)
                .acquire_timeout(pool.acquire_timeout)
                .connect(url)
                .await?;
            let checks_session_per_batch = may_set_replication_role(&p).await?;
            return Ok(Self {
                pool: Pool::Postgres(p),
                checks_session_per_batch,
            });
        }
        Err(StoreError::Url(url.to_owned()))
    }

    /// Connects (as [`Store::connect`]) and applies pending migrations; returns the store and
    /// the versions it applied. Several processes opening a fresh SQLite file at once can find
    /// it briefly locked (switching to WAL mode, migrating), so this tries again for up to five
    /// seconds while SQLite reports it busy.
    ///
    /// # Errors
    /// As [`Store::connect`] and [`Store::migrate`].
    pub async fn open(url: &str, pool: &PoolConfig) -> Result<(Self, Vec<i64>), StoreError> {
        let mut attempt = 0;
        loop {
            let opened = match Self::connect(url, pool).await {
                Ok(store) => store.migrate().await.map(|applied| (store, applied)),
                Err(e) => Err(e),
            };
            match opened {
                Err(e) if e.is_busy() && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                result => return result,
            }
        }
    }

    /// Whether a batch checks its session once rather than row by row: on PostgreSQL when
    /// the role may set `session_replication_role` (a superuser, or on PostgreSQL 15 and
    /// later a role granted `SET ON PARAMETER session_replication_role`). Such a batch takes
    /// the lock the foreign key's per-row checks would take (`FOR KEY SHARE` on the session
    /// row) once, fails at once if the session does not exist, and then writes its rows with
    /// the per-row checks switched off for its own transaction only. While the lock is held the
    /// session cannot be deleted, so the rows are as sound as if each had been checked; a
    /// delete waits for the batch and then cascades to its rows. Always false on SQLite, whose
    /// checks are cheap.
    #[must_use]
    pub const fn checks_session_per_batch(&self) -> bool {
        self.checks_session_per_batch
    }

    /// Which backend this is.
    #[must_use]
    pub const fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs one administrative statement (creating or dropping a database, say).
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn execute_admin(&self, sql: &str) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query(sql).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await);
    }

    async fn ensure_migrations_table(&self) -> Result<(), StoreError> {
        let ts = match self.backend() {
            Backend::Sqlite => "TEXT",
            Backend::Postgres => "TIMESTAMPTZ",
        };
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at {ts} NOT NULL)"
        );
        // Several processes may start on a fresh database at once: on PostgreSQL concurrent
        // CREATE TABLE IF NOT EXISTS can collide, so it runs under the migration lock.
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            if self.backend() == Backend::Postgres {
                sqlx::query(PG_MIGRATION_LOCK).execute(&mut *tx).await?;
            }
            sqlx::query(&sql).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The applied schema version and history.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn status(&self) -> Result<SchemaStatus, StoreError> {
        self.ensure_migrations_table().await?;
        let sql = "SELECT version, name, applied_at FROM schema_migrations ORDER BY version";
        let applied: Vec<(i64, String, DateTime<Utc>)> = on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("version")?, r.try_get("name")?, r.try_get("applied_at")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(SchemaStatus {
            current: applied.last().map_or(0, |a| a.0),
            head: head(),
            applied,
        })
    }

    /// Applies every migration after the current version, each in its own transaction;
    /// returns the versions applied.
    ///
    /// # Errors
    /// [`StoreError::TooNew`] when the database is ahead of this build; [`StoreError::Db`].
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        self.migrate_to(head()).await
    }

    /// As [`Store::migrate`], stopping at `target` (tests build databases at older versions).
    ///
    /// # Errors
    /// As [`Store::migrate`].
    pub async fn migrate_to(&self, target: i64) -> Result<Vec<i64>, StoreError> {
        let status = self.status().await?;
        if status.current > head() {
            return Err(StoreError::TooNew {
                found: status.current,
                head: head(),
            });
        }
        let backend = self.backend();
        let mut applied = Vec::new();
        for m in MIGRATIONS
            .iter()
            .filter(|m| m.version > status.current && m.version <= target)
        {
            let statements = m.statements(backend);
            let now = Utc::now();
            let lock = match backend {
                Backend::Postgres => PG_MIGRATION_LOCK,
                // Any write takes SQLite's write lock for the rest of the transaction.
                Backend::Sqlite => {
                    "UPDATE schema_migrations SET version = version WHERE version < 0"
                }
            };
            let applied_here = on_pool!(self, p => {
                let mut tx = p.begin().await?;
                sqlx::query(lock).execute(&mut *tx).await?;
                // Another process may have applied it while this one waited for the lock.
                let current: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM schema_migrations")
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("v")?;
                if current.unwrap_or(0) >= m.version {
                    tx.rollback().await?;
                    false
                } else {
                for statement in &statements {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                true
                }
            });
            if applied_here {
                applied.push(m.version);
            }
        }
        Ok(applied)
    }

    /// Inserts a session in status `queued` and commits; only then is the row returned.
    ///
    /// # Errors
    /// [`StoreError::Input`] for an oversized name or config; [`StoreError::Db`].
    pub async fn create_session(&self, new: &NewSession) -> Result<SessionRow, StoreError> {
        if new.name.chars().count() > MAX_NAME_CHARS || new.name.chars().any(char::is_control) {
            return Err(StoreError::Input(format!(
                "session name must be at most {MAX_NAME_CHARS} characters without control characters"
            )));
        }
        if new.config.len() > MAX_CONFIG_BYTES || new.config.contains('\0') {
            return Err(StoreError::Input(format!(
                "session config must be text of at most {MAX_CONFIG_BYTES} bytes"
            )));
        }
        let sql = "INSERT INTO sessions (id, kind, status, name, owner_id, config, version, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let now = Utc::now();
        on_pool!(self, p => {
            sqlx::query(sql)
                .bind(new.id.to_string())
                .bind(new.kind.as_str())
                .bind(SessionStatus::Queued.as_str())
                .bind(&new.name)
                .bind(new.owner_id)
                .bind(&new.config)
                .bind(&new.version)
                .bind(now)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        self.session(new.id)
            .await?
            .ok_or(StoreError::NotFound(new.id))
    }

    /// A session by id.
    ///
    /// # Errors
    /// [`StoreError::Db`], or [`StoreError::Corrupt`] for a row that does not decode.
    pub async fn session(&self, id: SessionId) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        on_pool!(self, p => {
            match sqlx::query(&sql).bind(id.to_string()).fetch_optional(p).await? {
                Some(row) => Ok(Some(session_from_row(&row)?)),
                None => Ok(None),
            }
        })
    }

    /// Sessions matching `filter`, newest first.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionRow>, StoreError> {
        let mut sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        let mut n = 0;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&format!(" AND {clause} ${n}"));
        };
        if let Some(kind) = filter.kind {
            next(&mut sql, "kind =");
            args.push(kind.as_str().to_owned());
        }
        if let Some(status) = filter.status {
            next(&mut sql, "status =");
            args.push(status.as_str().to_owned());
        }
        if let Some(before) = filter.before {
            next(&mut sql, "id <");
            args.push(before.to_string());
        }
        if let Some(after) = filter.after {
            next(&mut sql, "id >");
            args.push(after.to_string());
        }
        let owner = filter.owner_id;
        if owner.is_some() {
            n += 1;
            sql.push_str(&format!(" AND owner_id = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            filter.limit.clamp(1, 10_000)
        ));
        on_pool!(self, p => {
            let mut q = sqlx::query(&sql);
            for a in &args {
                q = q.bind(a);
            }
            if let Some(owner) = owner {
                q = q.bind(owner);
            }
            let rows = q.fetch_all(p).await?;
            rows.iter().map(session_from_row).collect()
        })
    }

    /// Moves a session from `expected` to `to` if, and only if, it still is `expected` and the
    /// move is allowed. Terminal moves stamp `ended_at`, a move to running stamps `started_at`;
    /// `error` records why (failed, stopped).
    ///
    /// # Errors
    /// [`StoreError::Transition`] for a move the rules forbid; [`StoreError::Conflict`] when
    /// another writer moved it first; [`StoreError::NotFound`].
    pub async fn transition(
        &self,
        id: SessionId,
        expected: SessionStatus,
        to: SessionStatus,
        error: Option<&str>,
    ) -> Result<SessionRow, StoreError> {
        transition(expected, to).map_err(|source| StoreError::Transition { id, source })?;
        let now = Utc::now();
        let started = (to == SessionStatus::Running).then_some(now);
        let ended = to.is_terminal().then_some(now);
        let sql = "UPDATE sessions SET status = $1, started_at = COALESCE(started_at, $2), ended_at = COALESCE($3, ended_at), error = COALESCE($4, error) WHERE id = $5 AND status = $6";
        let changed = on_pool!(self, p => {
            sqlx::query(sql)
                .bind(to.as_str())
                .bind(started)
                .bind(ended)
                .bind(error)
                .bind(id.to_string())
                .bind(expected.as_str())
                .execute(p)
                .await?
                .rows_affected()
        });
        let row = self.session(id).await?.ok_or(StoreError::NotFound(id))?;
        if changed == 1 {
            Ok(row)
        } else {
            Err(StoreError::Conflict {
                id,
                expected,
                current: row.status,
            })
        }
    }

    /// Asks a session to stop: writes `stopping` (from whatever live status it is in) with a
    /// compare-and-set. A second stop of the same session is refused, so two concurrent stops
    /// make exactly one move.
    ///
    /// # Errors
    /// [`StoreError::Transition`] when it is not live or already stopping;
    /// [`StoreError::Conflict`] when it moved meanwhile; [`StoreError::NotFound`].
    pub async fn request_stop(&self, id: SessionId) -> Result<SessionRow, StoreError> {
        self.request_stop_with(id, None).await
    }

    /// [`Store::request_stop`], recording `reason` as why it stops (a shutting-down server
    /// gives one; the runner then writes it with the final `stopped`).
    ///
    /// # Errors
    /// As [`Store::request_stop`].
    pub async fn request_stop_with(
        &self,
        id: SessionId,
        reason: Option<&str>,
    ) -> Result<SessionRow, StoreError> {
        let mut current = self
            .session(id)
            .await?
            .ok_or(StoreError::NotFound(id))?
            .status;
        loop {
            match self
                .transition(id, current, SessionStatus::Stopping, reason)
                .await
            {
                // Its runner moved it on (queued to starting to running): still live and not
                // stopping, so the stop applies to where it is now.
                Err(StoreError::Conflict { current: now, .. })
                    if now.is_live() && now != SessionStatus::Stopping && now != current =>
                {
                    current = now;
                }
                outcome => return outcome,
            }
        }
    }

    /// Claims a session for runner `runner` with a lease until `lease_until`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Db`].
    pub async fn claim(
        &self,
        id: SessionId,
        runner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET runner_id = $1, lease_expires_at = $2 WHERE id = $3";
        let changed = on_pool!(self, p => {
            sqlx::query(sql)
                .bind(runner)
                .bind(lease_until)
                .bind(id.to_string())
                .execute(p)
                .await?
                .rows_affected()
        });
        one_row(changed, id)
    }

    /// Extends the lease of every live session of runner `runner`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn heartbeat(
        &self,
        runner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE sessions SET lease_expires_at = $1 WHERE runner_id = $2 AND status IN ('queued', 'starting', 'running', 'paused', 'stopping')";
        Ok(on_pool!(self, p => {
            sqlx::query(sql)
                .bind(lease_until)
                .bind(runner)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }

    /// Marks `failed`, with the reason, every live session whose runner's lease expired
    /// before `now` (a runner that died: killed, crashed, lost its machine). Nothing else is
    /// touched. Returns the sessions it failed.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn recover_expired(&self, now: DateTime<Utc>) -> Result<Vec<SessionId>, StoreError> {
        let select = "SELECT id, status, runner_id, lease_expires_at FROM sessions WHERE lease_expires_at < $1 AND status IN ('queued', 'starting', 'running', 'paused', 'stopping')";
        let expired: Vec<(String, String, Option<String>, DateTime<Utc>)> = on_pool!(self, p => {
            let rows = sqlx::query(select).bind(now).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("status")?, r.try_get("runner_id")?, r.try_get("lease_expires_at")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut failed = Vec::new();
        for (id, status, runner, lease) in expired {
            let id = SessionId::parse(&id).map_err(|e| corrupt("session id", &id, e))?;
            let status = SessionStatus::from_str(&status)
                .map_err(|e| corrupt("session status", &status, e))?;
            let reason = format!(
                "runner {} stopped renewing its lease (expired {}); the session did not finish",
                runner.as_deref().unwrap_or("?"),
                lease.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            // A session that moved meanwhile (it finished after all) is left as it is.
            match self
                .transition(id, status, SessionStatus::Failed, Some(&reason))
                .await
            {
                Ok(_) => failed.push(id),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(failed)
    }

    /// Records a session's data fingerprint and summary metrics (JSON).
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Db`].
    pub async fn set_result(
        &self,
        id: SessionId,
        data_fingerprint: Option<&str>,
        summary: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE sessions SET data_fingerprint = COALESCE($1, data_fingerprint), summary = COALESCE($2, summary) WHERE id = $3";
        let changed = on_pool!(self, p => {
            sqlx::query(sql)
                .bind(data_fingerprint)
                .bind(summary)
                .bind(id.to_string())
                .execute(p)
                .await?
                .rows_affected()
        });
        one_row(changed, id)
    }

    /// The trading days of a session, oldest first: date, base bars, closing equity.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn session_days(
        &self,
        id: SessionId,
    ) -> Result<Vec<(String, i64, Option<String>)>, StoreError> {
        let sql = "SELECT date, bars, equity FROM session_days WHERE session_id = $1 ORDER BY date";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(id.to_string()).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("date")?, r.try_get("bars")?, r.try_get("equity")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// How many sessions the registry holds in each status (statuses with none are absent).
    ///
    /// # Errors
    /// [`StoreError::Db`]; a status the model does not know (a corrupt row).
    pub async fn session_counts(&self) -> Result<Vec<(SessionStatus, i64)>, StoreError> {
        let sql = "SELECT status, COUNT(*) AS n FROM sessions GROUP BY status ORDER BY status";
        let rows: Vec<(String, i64)> = on_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        rows.into_iter()
            .map(|(status, n)| {
                SessionStatus::from_str(&status)
                    .map(|s| (s, n))
                    .map_err(|e| corrupt("session status", &status, e))
            })
            .collect()
    }

    /// Deletes a session and, by cascade, every row it produced; false if there was none.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn delete_session(&self, id: SessionId) -> Result<bool, StoreError> {
        let deleted = on_pool!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id.to_string())
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(deleted == 1)
    }

    /// How many rows each child table holds for a session.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn child_counts(
        &self,
        id: SessionId,
    ) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut out = Vec::new();
        for table in records::CHILD_TABLES {
            let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE session_id = $1");
            let n: i64 = on_pool!(self, p => {
                sqlx::query(&sql).bind(id.to_string()).fetch_one(p).await?.try_get("n")?
            });
            out.push((*table, n));
        }
        Ok(out)
    }
}

/// Whether the pool's role may set `session_replication_role`: a superuser, or (PostgreSQL 15
/// and later) a role granted `SET` on the parameter. An older server without
/// `has_parameter_privilege` answers no for anyone but a superuser.
async fn may_set_replication_role(pool: &sqlx::PgPool) -> Result<bool, StoreError> {
    let superuser: String = sqlx::query_scalar("SELECT current_setting('is_superuser')")
        .fetch_one(pool)
        .await?;
    if superuser == "on" {
        return Ok(true);
    }
    let granted: Result<bool, sqlx::Error> =
        sqlx::query_scalar("SELECT has_parameter_privilege('session_replication_role', 'SET')")
            .fetch_one(pool)
            .await;
    Ok(granted.unwrap_or(false))
}
