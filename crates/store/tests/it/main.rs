//! The registry on both backends: SQLite in a temporary file and PostgreSQL in a fresh
//! database per test (`127.0.0.1:5432`, trust auth). Without PostgreSQL the PostgreSQL half
//! prints that it was skipped; under `CI=true` it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod records;
mod schema;
mod sessions;

use chrono::{TimeZone, Utc};
use openbell_model::{SessionId, SessionKind, Timestamp};
use openbell_store::{Batch, EquityRow, FillRow, NewSession, OrderRow, PoolConfig, Store};
use openbell_testkit::PgDatabase;

/// A fresh, empty database on each backend available: (name, store, the PostgreSQL database's
/// guard, the SQLite file's folder).
pub(crate) async fn backends(
    test: &str,
) -> Vec<(
    &'static str,
    Store,
    Option<PgDatabase>,
    Option<tempfile::TempDir>,
)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let sqlite = Store::connect(&url, &PoolConfig::default()).await.unwrap();
    let mut out = vec![("sqlite", sqlite, None, Some(dir))];
    if let Some(db) = PgDatabase::create(test) {
        let pool = PoolConfig {
            max_connections: 20,
            ..PoolConfig::default()
        };
        let pg = Store::connect(&db.url(), &pool).await.unwrap();
        out.push(("postgres", pg, Some(db), None));
    }
    out
}

pub(crate) fn new_session(n: u32) -> NewSession {
    let ts = Timestamp::from_nanos(1_790_000_000_000_000_000 + i64::from(n) * 1_000_000);
    let mut random = [0u8; 10];
    random[..4].copy_from_slice(&n.to_le_bytes());
    NewSession {
        id: SessionId::from_parts(ts, random).unwrap(),
        kind: SessionKind::Backtest,
        name: format!("session {n}"),
        owner_id: None,
        config: "[session]\nstart = \"2024-01-02\"\n".into(),
        version: "0.1.0".into(),
    }
}

pub(crate) fn ts(minute: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_704_205_800 + minute * 60, 0).unwrap()
}

pub(crate) fn batch(n: i64) -> Batch {
    Batch {
        orders: (1..=n)
            .map(|i| OrderRow {
                order_id: i,
                ts: ts(i),
                symbol: "SPY".into(),
                side: "buy".into(),
                order_type: "market".into(),
                limit_price: None,
                stop_price: None,
                time_in_force: "gtc".into(),
                quantity: "100".into(),
                filled: "100".into(),
                status: "filled".into(),
                signal_id: Some(i),
                reason: None,
            })
            .collect(),
        fills: (1..=n)
            .map(|i| FillRow {
                seq: i,
                ts: ts(i + 1),
                order_id: i,
                symbol: "SPY".into(),
                side: "buy".into(),
                quantity: "100".into(),
                price: "470.25".into(),
                commission: "1".into(),
            })
            .collect(),
        equity: (1..=n)
            .map(|i| EquityRow {
                ts: ts(i),
                equity: format!("100000.{i}"),
                cash: "5000".into(),
            })
            .collect(),
        ..Batch::default()
    }
}
