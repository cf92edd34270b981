//! The schema's forward-only history. Each migration is written once and rendered for each
//! backend: `{id}`, `{ts}` and `{real}` become that backend's key, timezone-aware timestamp and
//! floating-point types.
//!
//! Rules every table follows: child rows carry `session_id` NOT NULL with a foreign key that
//! cascades on delete; enums are stored as their text values under CHECK constraints; money,
//! prices and quantities are exact decimal text; per-session reads in time order go through the
//! primary keys (session id, then a sequence number or time that grows with the session's clock).

/// Which database a migration is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// One step of the schema history.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version: 1, 2, …
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    /// The one backend it is for, if it is for one only; on the other it is recorded as
    /// applied with nothing to do.
    only: Option<Backend>,
    sql: &'static str,
}

impl Migration {
    /// The statements for `backend`, in order.
    #[must_use]
    pub fn statements(&self, backend: Backend) -> Vec<String> {
        if self.only.is_some_and(|only| only != backend) {
            return Vec::new();
        }
        let (id, ts, real) = match backend {
            Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT", "REAL"),
            Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ", "DOUBLE PRECISION"),
        };
        self.sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.replace("{id}", id)
                    .replace("{ts}", ts)
                    .replace("{real}", real)
            })
            .collect()
    }
}

/// Every migration, oldest first. Never edit one that has shipped: add the next.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts and sessions",
        only: None,
        sql: r"
CREATE TABLE users (
    id {id},
    username TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at {ts} NOT NULL
);
CREATE TABLE api_tokens (
    id {id},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at {ts} NOT NULL,
    expires_at {ts} NOT NULL,
    revoked_at {ts}
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    kind TEXT NOT NULL CHECK (kind IN ('backtest', 'paper', 'collect', 'live')),
    status TEXT NOT NULL CHECK (status IN ('queued', 'starting', 'running', 'paused', 'stopping', 'stopped', 'completed', 'failed')),
    name TEXT NOT NULL CHECK (length(name) <= 200),
    owner_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    runner_id TEXT,
    lease_expires_at {ts},
    config TEXT NOT NULL,
    version TEXT NOT NULL,
    data_fingerprint TEXT,
    created_at {ts} NOT NULL,
    started_at {ts},
    ended_at {ts},
    error TEXT,
    summary TEXT
);
CREATE INDEX sessions_status ON sessions (status, id);
CREATE INDEX sessions_kind ON sessions (kind, id);
CREATE INDEX sessions_owner ON sessions (owner_id, id);
CREATE INDEX sessions_runner ON sessions (runner_id);
CREATE TABLE watchlists (
    id {id},
    owner_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    symbols TEXT NOT NULL,
    created_at {ts} NOT NULL,
    UNIQUE (owner_id, name)
)
",
    },
    Migration {
        version: 2,
        name: "what sessions produce",
        only: None,
        sql: r"
CREATE TABLE session_days (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    bars BIGINT NOT NULL,
    equity TEXT,
    PRIMARY KEY (session_id, date)
);
CREATE TABLE signals (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    signal_id BIGINT NOT NULL,
    ts {ts} NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    strength {real} NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (session_id, signal_id)
);
CREATE INDEX signals_time ON signals (session_id, ts);
CREATE TABLE orders (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    order_id BIGINT NOT NULL,
    ts {ts} NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type TEXT NOT NULL CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    limit_price TEXT,
    stop_price TEXT,
    time_in_force TEXT NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc')),
    quantity TEXT NOT NULL,
    filled TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'accepted', 'triggered', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected')),
    signal_id BIGINT,
    reason TEXT,
    PRIMARY KEY (session_id, order_id)
);
CREATE INDEX orders_time ON orders (session_id, ts);
CREATE TABLE fills (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    fill_seq BIGINT NOT NULL,
    ts {ts} NOT NULL,
    order_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity TEXT NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    PRIMARY KEY (session_id, fill_seq)
);
CREATE INDEX fills_time ON fills (session_id, ts);
CREATE TABLE trades (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    trade_seq BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    quantity TEXT NOT NULL,
    entry_ts {ts} NOT NULL,
    exit_ts {ts} NOT NULL,
    entry_price TEXT NOT NULL,
    exit_price TEXT NOT NULL,
    gross_pnl TEXT NOT NULL,
    commission TEXT NOT NULL,
    PRIMARY KEY (session_id, trade_seq)
);
CREATE INDEX trades_time ON trades (session_id, exit_ts);
CREATE TABLE positions (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    position_seq BIGINT NOT NULL,
    ts {ts} NOT NULL,
    symbol TEXT NOT NULL,
    quantity TEXT NOT NULL,
    realized TEXT NOT NULL,
    PRIMARY KEY (session_id, position_seq)
);
CREATE INDEX positions_time ON positions (session_id, ts);
CREATE TABLE equity (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ts {ts} NOT NULL,
    equity TEXT NOT NULL,
    cash TEXT NOT NULL,
    PRIMARY KEY (session_id, ts)
);
CREATE TABLE quality (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    expected BIGINT NOT NULL,
    present BIGINT NOT NULL,
    missing TEXT NOT NULL,
    PRIMARY KEY (session_id, date, symbol)
);
CREATE TABLE scans (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    scan_seq BIGINT NOT NULL,
    ts {ts} NOT NULL,
    scanner TEXT NOT NULL,
    as_of {ts} NOT NULL,
    candidates TEXT NOT NULL,
    chosen TEXT NOT NULL,
    PRIMARY KEY (session_id, scan_seq)
);
CREATE INDEX scans_time ON scans (session_id, ts);
CREATE TABLE risk_events (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    ts {ts} NOT NULL,
    order_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (session_id, event_seq)
)
",
    },
    Migration {
        version: 3,
        name: "time-ordered reads through the primary keys",
        only: None,
        sql: r"
DROP INDEX signals_time;
DROP INDEX orders_time;
DROP INDEX fills_time;
DROP INDEX trades_time;
DROP INDEX positions_time;
DROP INDEX scans_time
",
    },
    Migration {
        version: 4,
        name: "session rows stored in primary-key order (SQLite)",
        // On SQLite a table with a composite primary key is a rowid table plus an index that
        // repeats the key; `WITHOUT ROWID` keeps the rows in the key's order instead, one
        // b-tree instead of two, so a session's rows take a third less space and half the
        // b-tree work to write. PostgreSQL has no such distinction. `scans` keeps its rowid:
        // its candidate lists make rows too large for a clustered b-tree to pay.
        only: Some(Backend::Sqlite),
        sql: r"
CREATE TABLE session_days_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    bars BIGINT NOT NULL,
    equity TEXT,
    PRIMARY KEY (session_id, date)
) WITHOUT ROWID;
INSERT INTO session_days_clustered SELECT * FROM session_days;
DROP TABLE session_days;
ALTER TABLE session_days_clustered RENAME TO session_days;
CREATE TABLE signals_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    signal_id BIGINT NOT NULL,
    ts TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    strength REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (session_id, signal_id)
) WITHOUT ROWID;
INSERT INTO signals_clustered SELECT * FROM signals;
DROP TABLE signals;
ALTER TABLE signals_clustered RENAME TO signals;
CREATE TABLE orders_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    order_id BIGINT NOT NULL,
    ts TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type TEXT NOT NULL CHECK (order_type IN ('market', 'limit', 'stop', 'stop_limit')),
    limit_price TEXT,
    stop_price TEXT,
    time_in_force TEXT NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc')),
    quantity TEXT NOT NULL,
    filled TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('new', 'accepted', 'triggered', 'partially_filled', 'filled', 'cancelled', 'expired', 'rejected')),
    signal_id BIGINT,
    reason TEXT,
    PRIMARY KEY (session_id, order_id)
) WITHOUT ROWID;
INSERT INTO orders_clustered SELECT * FROM orders;
DROP TABLE orders;
ALTER TABLE orders_clustered RENAME TO orders;
CREATE TABLE fills_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    fill_seq BIGINT NOT NULL,
    ts TEXT NOT NULL,
    order_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity TEXT NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    PRIMARY KEY (session_id, fill_seq)
) WITHOUT ROWID;
INSERT INTO fills_clustered SELECT * FROM fills;
DROP TABLE fills;
ALTER TABLE fills_clustered RENAME TO fills;
CREATE TABLE trades_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    trade_seq BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('long', 'short')),
    quantity TEXT NOT NULL,
    entry_ts TEXT NOT NULL,
    exit_ts TEXT NOT NULL,
    entry_price TEXT NOT NULL,
    exit_price TEXT NOT NULL,
    gross_pnl TEXT NOT NULL,
    commission TEXT NOT NULL,
    PRIMARY KEY (session_id, trade_seq)
) WITHOUT ROWID;
INSERT INTO trades_clustered SELECT * FROM trades;
DROP TABLE trades;
ALTER TABLE trades_clustered RENAME TO trades;
CREATE TABLE positions_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    position_seq BIGINT NOT NULL,
    ts TEXT NOT NULL,
    symbol TEXT NOT NULL,
    quantity TEXT NOT NULL,
    realized TEXT NOT NULL,
    PRIMARY KEY (session_id, position_seq)
) WITHOUT ROWID;
INSERT INTO positions_clustered SELECT * FROM positions;
DROP TABLE positions;
ALTER TABLE positions_clustered RENAME TO positions;
CREATE TABLE equity_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    ts TEXT NOT NULL,
    equity TEXT NOT NULL,
    cash TEXT NOT NULL,
    PRIMARY KEY (session_id, ts)
) WITHOUT ROWID;
INSERT INTO equity_clustered SELECT * FROM equity;
DROP TABLE equity;
ALTER TABLE equity_clustered RENAME TO equity;
CREATE TABLE quality_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    expected BIGINT NOT NULL,
    present BIGINT NOT NULL,
    missing TEXT NOT NULL,
    PRIMARY KEY (session_id, date, symbol)
) WITHOUT ROWID;
INSERT INTO quality_clustered SELECT * FROM quality;
DROP TABLE quality;
ALTER TABLE quality_clustered RENAME TO quality;
CREATE TABLE risk_events_clustered (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    ts TEXT NOT NULL,
    order_id BIGINT NOT NULL,
    symbol TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (session_id, event_seq)
) WITHOUT ROWID;
INSERT INTO risk_events_clustered SELECT * FROM risk_events;
DROP TABLE risk_events;
ALTER TABLE risk_events_clustered RENAME TO risk_events
",
    },
];

/// The newest schema version.
#[must_use]
pub fn head() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
