//! Batch-writer throughput on both backends: a backtest's mix of rows (equity, orders, fills,
//! signals, positions, round trips) for one session, in 20,000-row batches (the size the CLI's
//! writer sends) through
//! [`Store::write_all`], and the same batches written one after the other with
//! [`Store::write_batch`]. Prints rows/s (median of three runs) per backend.
//!
//! `cargo bench -p openbell-store --bench writer`; PostgreSQL from `$OPENBELL_BENCH_PG`
//! (default `postgres://root@127.0.0.1:5432/postgres`), where a scratch database is created
//! and dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openbell_model::{SessionId, SessionKind, Timestamp};
use openbell_store::{
    Batch, EquityRow, FillRow, NewSession, OrderRow, PoolConfig, PositionRow, SignalRow, Store,
    TradeRow,
};

/// Rows per run: the 250-day `sma_cross` backtest of BENCHMARKS.md writes 270k.
const ROWS: usize = 270_000;
const BATCH: usize = 20_000;
const RUNS: usize = 3;

fn ts(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_205_800 + minute * 60, 0).unwrap()
}

/// One session's rows in batches: per fill, one signal, one order, one fill, one position
/// change, half a round trip and 2.5 equity points (the backtest's proportions).
fn batches() -> Vec<Batch> {
    let mut out = Vec::new();
    let mut b = Batch::default();
    let (mut n, mut minute, mut k) = (0usize, 0i64, 0i64);
    while n < ROWS {
        k += 1;
        minute += 1;
        let symbol = format!("SYM{:02}", k % 10);
        let side = if k % 2 == 0 { "sell" } else { "buy" };
        b.signals.push(SignalRow {
            signal_id: k,
            ts: ts(minute),
            symbol: symbol.clone(),
            side: side.into(),
            strength: 1.0,
            reason: "fast SMA crossed above slow".into(),
        });
        b.orders.push(OrderRow {
            order_id: k,
            ts: ts(minute),
            symbol: symbol.clone(),
            side: side.into(),
            order_type: "market".into(),
            limit_price: None,
            stop_price: None,
            time_in_force: "gtc".into(),
            quantity: "100".into(),
            filled: "100".into(),
            status: "filled".into(),
            signal_id: Some(k),
            reason: None,
        });
        b.fills.push(FillRow {
            seq: k,
            ts: ts(minute + 1),
            order_id: k,
            symbol: symbol.clone(),
            side: side.into(),
            quantity: "100".into(),
            price: format!("{}.{:02}", 400 + k % 97, k % 100),
            commission: "0.5".into(),
        });
        b.positions.push(PositionRow {
            seq: k,
            ts: ts(minute + 1),
            symbol: symbol.clone(),
            quantity: if k % 2 == 0 { "0" } else { "100" }.into(),
            realized: format!("{}.25", k * 3),
        });
        n += 4;
        if k % 2 == 0 {
            b.trades.push(TradeRow {
                seq: k / 2,
                symbol,
                side: "long".into(),
                quantity: "100".into(),
                entry_ts: ts(minute - 1),
                exit_ts: ts(minute + 1),
                entry_price: "401.10".into(),
                exit_price: "402.20".into(),
                gross_pnl: "110".into(),
                commission: "1".into(),
            });
            n += 1;
        }
        for _ in 0..(2 + k % 2) {
            minute += 1;
            b.equity.push(EquityRow {
                ts: ts(minute),
                equity: format!("{}.{:02}", 10_000_000 + k * 7, k % 100),
                cash: format!("{}.00", 9_000_000 - k),
            });
            n += 1;
        }
        if b.len() >= BATCH {
            out.push(std::mem::take(&mut b));
        }
    }
    out.push(b);
    out
}

fn session(n: u32) -> NewSession {
    let mut random = [0u8; 10];
    random[..4].copy_from_slice(&n.to_le_bytes());
    NewSession {
        id: SessionId::from_parts(Timestamp::from_nanos(1_790_000_000_000_000_000), random)
            .unwrap(),
        kind: SessionKind::Backtest,
        name: format!("writer bench {n}"),
        owner_id: None,
        config: String::new(),
        version: "bench".into(),
    }
}

/// Median rows/s of [`RUNS`] runs, each into a new session.
async fn measure(store: &Store, pipelined: bool, first: u32) -> f64 {
    let mut rates = Vec::new();
    for run in 0..RUNS {
        let s = session(first + u32::try_from(run).unwrap());
        store.create_session(&s).await.unwrap();
        let parts = batches();
        let rows: usize = parts.iter().map(Batch::len).sum();
        let started = Instant::now();
        if pipelined {
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let feed = tokio::spawn(async move {
                for part in parts {
                    tx.send(part).await.unwrap();
                }
            });
            store.write_all(s.id, rx).await.unwrap();
            feed.await.unwrap();
        } else {
            for part in &parts {
                store.write_batch(s.id, part).await.unwrap();
            }
        }
        let took = started.elapsed();
        #[allow(clippy::cast_precision_loss)]
        rates.push(rows as f64 / took.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    rates[RUNS / 2]
}

async fn report(name: &str, store: &Store) {
    store.migrate().await.unwrap();
    let one_by_one = measure(store, false, 100).await;
    let pipelined = measure(store, true, 200).await;
    println!(
        "{name:<10} {:>7.0}k rows/s written one batch after another, {:>7.0}k rows/s through write_all",
        one_by_one / 1e3,
        pipelined / 1e3
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total: usize = batches().iter().map(Batch::len).sum();
    println!("{total} rows per run in {BATCH}-row batches, median of {RUNS} runs");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = Store::connect(&url, &PoolConfig::default()).await.unwrap();
    report("sqlite", &sqlite).await;
    sqlite.close().await;

    let admin_url = std::env::var("OPENBELL_BENCH_PG")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
    let pool = PoolConfig {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        ..PoolConfig::default()
    };
    let Ok(admin) = Store::connect(&admin_url, &pool).await else {
        println!("postgres   skipped: {admin_url} is not reachable");
        return;
    };
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b)
        .to_owned();
    // Once as the connecting role and once as an ordinary role that owns its database: the
    // first checks each batch's session once when it may (a superuser), the second row by row.
    let id = std::process::id();
    let role = format!("openbell_bench_role_{id}");
    admin
        .execute_admin(&format!("CREATE ROLE {role} LOGIN"))
        .await
        .unwrap();
    for owner in [None, Some(role.as_str())] {
        let name = format!("openbell_bench_{id}_{}", u8::from(owner.is_some()));
        let create = owner.map_or(format!("CREATE DATABASE {name}"), |r| {
            format!("CREATE DATABASE {name} OWNER {r}")
        });
        admin.execute_admin(&create).await.unwrap();
        let url = match owner {
            Some(r) => format!("{}/{name}", with_user(&base, r)),
            None => format!("{base}/{name}"),
        };
        let pg = Store::connect(&url, &pool).await.unwrap();
        let checks = if pg.checks_session_per_batch() {
            "session checked once per batch"
        } else {
            "session checked row by row"
        };
        println!("postgres   ({checks})");
        report("postgres", &pg).await;
        pg.close().await;
        admin
            .execute_admin(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .unwrap();
    }
    admin
        .execute_admin(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
}

/// `scheme://user@host` with `user` in place of the URL's own.
fn with_user(base: &str, user: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}
