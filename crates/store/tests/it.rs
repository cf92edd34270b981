//! The registry on both backends: SQLite in a temporary file and PostgreSQL in a fresh
//! database per test (`127.0.0.1:5432`, trust auth). Without PostgreSQL the PostgreSQL half
//! prints that it was skipped; under `CI=true` it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use openbell_model::{SessionId, SessionKind, SessionStatus, Timestamp};
use openbell_store::{
    Batch, EquityRow, FillRow, NewSession, OrderRow, PoolConfig, SessionFilter, Store, StoreError,
    head,
};
use openbell_testkit::PgDatabase;

/// A fresh, empty database on each backend available: (name, store, the PostgreSQL database's
/// guard, the SQLite file's folder).
async fn backends(
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

fn new_session(n: u32) -> NewSession {
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

#[tokio::test]
async fn migrations_bring_an_empty_database_and_every_earlier_version_to_head() {
    for (name, store, _db, _dir) in backends("migrations").await {
        let status = store.status().await.unwrap();
        assert_eq!(status.current, 0, "{name}");
        assert_eq!(
            store.migrate().await.unwrap(),
            (1..=head()).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(store.status().await.unwrap().current, head(), "{name}");
        // Migrating again changes nothing.
        assert!(store.migrate().await.unwrap().is_empty(), "{name}");
        store.close().await;
    }
    for version in 1..head() {
        for (name, store, _db, _dir) in backends("migrations from an earlier version").await {
            store.migrate_to(version).await.unwrap();
            assert_eq!(store.status().await.unwrap().current, version, "{name}");
            let applied = store.migrate().await.unwrap();
            assert_eq!(
                applied,
                ((version + 1)..=head()).collect::<Vec<_>>(),
                "{name}"
            );
            let status = store.status().await.unwrap();
            assert_eq!(status.current, head(), "{name}");
            assert_eq!(status.applied.len() as i64, head(), "{name}");
            store.close().await;
        }
    }
}

#[tokio::test]
async fn a_get_right_after_a_create_returns_the_session() {
    for (name, store, _db, _dir) in backends("get after create").await {
        store.migrate().await.unwrap();
        let new = new_session(1);
        let created = store.create_session(&new).await.unwrap();
        assert_eq!(created.status, SessionStatus::Queued, "{name}");
        let got = store
            .session(new.id)
            .await
            .unwrap()
            .expect("the row exists");
        assert_eq!(got, created, "{name}");
        assert_eq!(got.config, new.config);
        store.close().await;
    }
}

#[tokio::test]
async fn two_hundred_concurrent_creates_are_all_listed() {
    for (name, store, _db, _dir) in backends("200 concurrent creates").await {
        store.migrate().await.unwrap();
        let store = Arc::new(store);
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.create_session(&new_session(n)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let listed = store
            .sessions(&SessionFilter {
                limit: 1_000,
                ..SessionFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 200, "{name}");
        // Newest first, and paging by cursor walks them all exactly once.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .sessions(&SessionFilter {
                    limit: 64,
                    before,
                    ..SessionFilter::default()
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            seen.extend(page.iter().map(|s| s.id));
        }
        assert_eq!(
            seen,
            listed.iter().map(|s| s.id).collect::<Vec<_>>(),
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn two_concurrent_stops_make_exactly_one_move_and_lost_races_are_errors() {
    for (name, store, _db, _dir) in backends("concurrent stops").await {
        store.migrate().await.unwrap();
        let new = new_session(7);
        store.create_session(&new).await.unwrap();
        store
            .transition(new.id, SessionStatus::Queued, SessionStatus::Starting, None)
            .await
            .unwrap();
        let running = store
            .transition(
                new.id,
                SessionStatus::Starting,
                SessionStatus::Running,
                None,
            )
            .await
            .unwrap();
        assert!(running.started_at.is_some(), "{name}");
        let store = Arc::new(store);
        let (a, b) = tokio::join!(
            {
                let s = Arc::clone(&store);
                async move { s.request_stop(new.id).await }
            },
            {
                let s = Arc::clone(&store);
                async move { s.request_stop(new.id).await }
            }
        );
        let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
        assert_eq!(wins, 1, "{name}: {a:?} {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(
            matches!(
                loser,
                Err(StoreError::Conflict { .. } | StoreError::Transition { .. })
            ),
            "{name}: {loser:?}"
        );
        assert_eq!(
            store.session(new.id).await.unwrap().unwrap().status,
            SessionStatus::Stopping
        );
        // A compare-and-set from a stale status names the status that won.
        let err = store
            .transition(
                new.id,
                SessionStatus::Running,
                SessionStatus::Completed,
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    current: SessionStatus::Stopping,
                    ..
                }
            ),
            "{name}: {err}"
        );
        let stopped = store
            .transition(
                new.id,
                SessionStatus::Stopping,
                SessionStatus::Stopped,
                Some("asked to stop"),
            )
            .await
            .unwrap();
        assert!(stopped.ended_at.is_some());
        assert_eq!(stopped.error.as_deref(), Some("asked to stop"));
        // Terminal: nothing moves it.
        let err = store.request_stop(new.id).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Transition { .. }),
            "{name}: {err}"
        );
        drop(store);
    }
}

fn ts(minute: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_704_205_800 + minute * 60, 0).unwrap()
}

fn batch(n: i64) -> Batch {
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

#[tokio::test]
async fn batches_commit_whole_sessions_keep_their_own_rows_and_delete_cascades() {
    for (name, store, _db, _dir) in backends("batches and cascade").await {
        store.migrate().await.unwrap();
        let (a, b) = (new_session(1), new_session(2));
        store.create_session(&a).await.unwrap();
        store.create_session(&b).await.unwrap();
        store.write_batch(a.id, &batch(1_200)).await.unwrap();
        store.write_batch(b.id, &batch(3)).await.unwrap();
        let count = |counts: Vec<(&str, i64)>, table: &str| {
            counts.iter().find(|(t, _)| *t == table).unwrap().1
        };
        let ca = store.child_counts(a.id).await.unwrap();
        assert_eq!(
            (
                count(ca.clone(), "orders"),
                count(ca.clone(), "fills"),
                count(ca, "equity")
            ),
            (1_200, 1_200, 1_200),
            "{name}"
        );
        // A batch with a duplicate row fails whole: nothing of it is stored.
        let err = store.write_batch(b.id, &batch(4)).await.unwrap_err();
        assert!(matches!(err, StoreError::Db(_)), "{name}: {err}");
        let cb = store.child_counts(b.id).await.unwrap();
        assert_eq!(count(cb, "fills"), 3, "{name}");
        // A batch for a session that does not exist is refused by the foreign key.
        assert!(
            store
                .write_batch(new_session(99).id, &batch(1))
                .await
                .is_err(),
            "{name}"
        );
        // Delete cascades to every child row, and only that session's.
        assert!(store.delete_session(a.id).await.unwrap());
        assert!(
            store
                .child_counts(a.id)
                .await
                .unwrap()
                .iter()
                .all(|(_, n)| *n == 0),
            "{name}"
        );
        assert_eq!(
            count(store.child_counts(b.id).await.unwrap(), "orders"),
            3,
            "{name}"
        );
        assert!(store.session(a.id).await.unwrap().is_none());
        assert!(!store.delete_session(a.id).await.unwrap());
        // Text with separators, quotes, newlines and backslashes comes back as written.
        let odd = [
            "plain",
            "comma, \"quoted\" and\nnewline",
            "back\\slash",
            "",
            "NULL",
        ];
        let signals: Vec<openbell_store::SignalRow> = odd
            .iter()
            .enumerate()
            .map(|(i, reason)| openbell_store::SignalRow {
                signal_id: i as i64 + 1,
                ts: ts(i as i64),
                symbol: "BRK.B".into(),
                side: "sell".into(),
                strength: 0.25,
                reason: (*reason).to_owned(),
            })
            .collect();
        store
            .write_batch(
                b.id,
                &Batch {
                    signals: signals.clone(),
                    ..Batch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(store.signals(b.id).await.unwrap(), signals, "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn oversized_or_malformed_input_is_rejected_and_never_stored() {
    for (name, store, _db, _dir) in backends("bad input").await {
        store.migrate().await.unwrap();
        let mut big = new_session(3);
        big.config = "x".repeat(openbell_store::MAX_CONFIG_BYTES + 1);
        assert!(
            matches!(store.create_session(&big).await, Err(StoreError::Input(_))),
            "{name}"
        );
        let mut control = new_session(4);
        control.name = "bad\u{7}name".into();
        assert!(
            matches!(
                store.create_session(&control).await,
                Err(StoreError::Input(_))
            ),
            "{name}"
        );
        // An SQL-injection attempt is just a name.
        let mut sneaky = new_session(5);
        sneaky.name = "x'); DROP TABLE sessions; --".into();
        let row = store.create_session(&sneaky).await.unwrap();
        assert_eq!(row.name, sneaky.name);
        let all = store
            .sessions(&SessionFilter {
                limit: 10,
                ..SessionFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{name}");
        // Enum CHECK constraints refuse values the model does not know.
        let mut bad = batch(1);
        bad.orders[0].status = "exploded".into();
        assert!(store.write_batch(sneaky.id, &bad).await.is_err(), "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn unknown_urls_are_named() {
    let err = Store::connect("mysql://x", &PoolConfig::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mysql://x"), "{err}");
}

#[tokio::test]
async fn sessions_of_a_dead_runner_fail_with_the_reason_and_nothing_else_moves() {
    for (name, store, _db, _dir) in backends("lease expiry").await {
        store.migrate().await.unwrap();
        let now = Utc::now();
        let past = now - chrono::Duration::seconds(60);
        let future = now + chrono::Duration::seconds(60);
        let (dead, alive, done, renewed) = (
            new_session(10),
            new_session(11),
            new_session(12),
            new_session(13),
        );
        for s in [&dead, &alive, &done, &renewed] {
            store.create_session(s).await.unwrap();
            store
                .transition(s.id, SessionStatus::Queued, SessionStatus::Starting, None)
                .await
                .unwrap();
            store
                .transition(s.id, SessionStatus::Starting, SessionStatus::Running, None)
                .await
                .unwrap();
        }
        store.claim(dead.id, "runner-a", past).await.unwrap();
        store.claim(alive.id, "runner-b", future).await.unwrap();
        store.claim(done.id, "runner-a", past).await.unwrap();
        store
            .transition(
                done.id,
                SessionStatus::Running,
                SessionStatus::Completed,
                None,
            )
            .await
            .unwrap();
        store.claim(renewed.id, "runner-c", past).await.unwrap();
        assert_eq!(
            store.heartbeat("runner-c", future).await.unwrap(),
            1,
            "{name}"
        );
        store.write_batch(dead.id, &batch(5)).await.unwrap();

        let failed = store.recover_expired(now).await.unwrap();
        assert_eq!(failed, vec![dead.id], "{name}");
        let row = store.session(dead.id).await.unwrap().unwrap();
        assert_eq!(row.status, SessionStatus::Failed);
        assert!(
            row.error
                .unwrap()
                .contains("runner runner-a stopped renewing its lease"),
            "{name}"
        );
        assert!(row.ended_at.is_some());
        // Its committed rows stay; the other sessions did not move.
        let fills = store.child_counts(dead.id).await.unwrap();
        assert_eq!(
            fills.iter().find(|(t, _)| *t == "fills").unwrap().1,
            5,
            "{name}"
        );
        for (s, status) in [
            (&alive, SessionStatus::Running),
            (&done, SessionStatus::Completed),
            (&renewed, SessionStatus::Running),
        ] {
            assert_eq!(
                store.session(s.id).await.unwrap().unwrap().status,
                status,
                "{name}"
            );
        }
        // Recovery is idempotent.
        assert!(
            store.recover_expired(now).await.unwrap().is_empty(),
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn two_sessions_written_at_once_each_keep_only_their_own_rows() {
    for (name, store, _db, _dir) in backends("concurrent writers").await {
        store.migrate().await.unwrap();
        let (a, b) = (new_session(21), new_session(22));
        store.create_session(&a).await.unwrap();
        store.create_session(&b).await.unwrap();
        let store = Arc::new(store);
        // Each writer sends ten batches of its own session, interleaved with the other's.
        let writer = |id: SessionId, offset: i64, n: i64| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for k in 0..10 {
                    let mut part = batch(n);
                    for (i, f) in part.fills.iter_mut().enumerate() {
                        f.seq = k * 1_000 + i as i64 + 1;
                        f.price = format!("{}.5", offset + k);
                    }
                    for (i, o) in part.orders.iter_mut().enumerate() {
                        o.order_id = k * 1_000 + i as i64 + 1;
                    }
                    for (i, e) in part.equity.iter_mut().enumerate() {
                        e.ts = ts(k * 1_000 + i as i64);
                    }
                    store.write_batch(id, &part).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let (ta, tb) = (writer(a.id, 100, 30), writer(b.id, 900, 7));
        ta.await.unwrap();
        tb.await.unwrap();
        let count = |counts: &[(&str, i64)], table: &str| {
            counts.iter().find(|(t, _)| *t == table).unwrap().1
        };
        let (ca, cb) = (
            store.child_counts(a.id).await.unwrap(),
            store.child_counts(b.id).await.unwrap(),
        );
        assert_eq!(
            (count(&ca, "fills"), count(&cb, "fills")),
            (300, 70),
            "{name}"
        );
        assert_eq!(
            (count(&ca, "equity"), count(&cb, "equity")),
            (300, 70),
            "{name}"
        );
        drop(store);
    }
}

#[tokio::test]
async fn concurrent_migrations_on_a_fresh_database_apply_each_step_once() {
    for (name, store, _db, _dir) in backends("concurrent migrations").await {
        let store = Arc::new(store);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.migrate().await })
            })
            .collect();
        let mut applied = Vec::new();
        for t in tasks {
            applied.extend(t.await.unwrap().unwrap());
        }
        applied.sort_unstable();
        assert_eq!(applied, (1..=head()).collect::<Vec<_>>(), "{name}");
        assert_eq!(store.status().await.unwrap().current, head(), "{name}");
        drop(store);
    }
}

#[tokio::test]
async fn separate_connections_opening_a_fresh_sqlite_file_all_succeed() {
    // Like several processes starting at once: each has its own pool.
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::open(&url, &PoolConfig::default()).await })
            })
            .collect();
        let mut applied = Vec::new();
        for t in tasks {
            let (store, versions) = t.await.unwrap().unwrap();
            applied.extend(versions);
            assert_eq!(store.status().await.unwrap().current, head());
            store.close().await;
        }
        applied.sort_unstable();
        assert_eq!(applied, (1..=head()).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn rewritten_orders_and_days_take_their_latest_state() {
    for (name, store, _db, _dir) in backends("order updates").await {
        store.migrate().await.unwrap();
        let s = new_session(31);
        store.create_session(&s).await.unwrap();
        let mut first = batch(3);
        for o in &mut first.orders {
            o.status = "accepted".into();
            o.filled = "0".into();
        }
        first.days.push(openbell_store::DayRow {
            date: "2024-01-02".into(),
            bars: 10,
            equity: None,
        });
        store.write_batch(s.id, &first).await.unwrap();
        // A later batch carries order 2 filled, a new order 4 and the day's final totals.
        let mut later = Batch::default();
        let mut filled = batch(4).orders;
        filled.retain(|o| o.order_id == 2 || o.order_id == 4);
        later.orders = filled;
        later.days.push(openbell_store::DayRow {
            date: "2024-01-02".into(),
            bars: 390,
            equity: Some("100100.5".into()),
        });
        store.write_batch(s.id, &later).await.unwrap();
        let orders = store.orders(s.id).await.unwrap();
        let states: Vec<(i64, &str, &str)> = orders
            .iter()
            .map(|o| (o.order_id, o.status.as_str(), o.filled.as_str()))
            .collect();
        assert_eq!(
            states,
            [
                (1, "accepted", "0"),
                (2, "filled", "100"),
                (3, "accepted", "0"),
                (4, "filled", "100")
            ],
            "{name}"
        );
        assert_eq!(
            store.session_days(s.id).await.unwrap(),
            [("2024-01-02".to_owned(), 390, Some("100100.5".to_owned()))],
            "{name}"
        );
        // The fills of the first batch are still there once, next to nothing else.
        assert_eq!(store.fills(s.id).await.unwrap().len(), 3, "{name}");
        store.close().await;
    }
}

/// Batch `k` of a stream: `n` fills numbered from `k * n + 1`.
fn part(k: i64, n: i64) -> Batch {
    let mut b = batch(n);
    b.orders.clear();
    b.equity.clear();
    for f in &mut b.fills {
        f.seq += k * n;
        f.order_id = f.seq;
    }
    b
}

#[tokio::test]
async fn the_writer_commits_batches_in_order_and_stops_at_the_first_failure() {
    for (name, store, _db, _dir) in backends("batch writer").await {
        store.migrate().await.unwrap();
        let (a, b) = (new_session(41), new_session(42));
        store.create_session(&a).await.unwrap();
        store.create_session(&b).await.unwrap();

        // Twelve batches through a channel of two: all committed, counted and in order.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let feed = tokio::spawn(async move {
            for k in 0..12 {
                tx.send(part(k, 250)).await.unwrap();
            }
        });
        let written = store.write_all(a.id, rx).await.unwrap();
        feed.await.unwrap();
        assert_eq!(written.rows, 12 * 250, "{name}");
        assert!(written.secs > 0.0, "{name}");
        let seqs: Vec<i64> = store
            .fills(a.id)
            .await
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs, (1..=3_000).collect::<Vec<_>>(), "{name}");

        // Batch 5 repeats a fill of batch 2: the writer fails there, and what is stored is
        // exactly the batches before it; the sender then finds the channel closed.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let feed = tokio::spawn(async move {
            let mut sent = 0;
            for k in 0..40 {
                let p = if k == 5 { part(2, 100) } else { part(k, 100) };
                if tx.send(p).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        });
        let err = store.write_all(b.id, rx).await.unwrap_err();
        assert!(matches!(err, StoreError::Db(_)), "{name}: {err}");
        assert!(
            feed.await.unwrap() < 40,
            "{name}: the sender was not stopped"
        );
        let seqs: Vec<i64> = store
            .fills(b.id)
            .await
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(seqs, (1..=500).collect::<Vec<_>>(), "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn orders_read_a_page_at_a_time_by_id() {
    for (name, store, _db, _dir) in backends("order pages").await {
        store.migrate().await.unwrap();
        let s = new_session(51);
        store.create_session(&s).await.unwrap();
        let mut b = batch(25);
        b.orders.reverse();
        store.write_batch(s.id, &b).await.unwrap();
        let page = |after: i64, limit: i64| {
            let store = &store;
            async move {
                store
                    .orders_page(s.id, after, limit)
                    .await
                    .unwrap()
                    .iter()
                    .map(|o| o.order_id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(page(0, 10).await, (1..=10).collect::<Vec<_>>(), "{name}");
        assert_eq!(page(10, 10).await, (11..=20).collect::<Vec<_>>(), "{name}");
        assert_eq!(page(20, 10).await, (21..=25).collect::<Vec<_>>(), "{name}");
        assert!(page(25, 10).await.is_empty(), "{name}");
        assert_eq!(store.orders(s.id).await.unwrap().len(), 25, "{name}");
        // Fills and equity page the same way (equity by time).
        let fills: Vec<i64> = store
            .fills_page(s.id, 20, 10)
            .await
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect();
        assert_eq!(fills, (21..=25).collect::<Vec<_>>(), "{name}");
        let first = store.equity_page(s.id, None, 10).await.unwrap();
        assert_eq!(first.len(), 10, "{name}");
        let rest = store
            .equity_page(s.id, Some(first[9].ts), 100)
            .await
            .unwrap();
        let mut all: Vec<_> = first.iter().chain(&rest).map(|e| e.ts).collect();
        assert_eq!(all.len(), 25, "{name}");
        let sorted = {
            let mut v = all.clone();
            v.sort();
            v
        };
        assert_eq!(all, sorted, "{name}");
        all.dedup();
        assert_eq!(all.len(), 25, "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn every_table_reads_back_what_was_written_whole_or_a_page_at_a_time() {
    use openbell_store::{PositionRow, QualityRow, ScanRow, SignalRow, TradeRow};
    for (name, store, _db, _dir) in backends("read back").await {
        store.migrate().await.unwrap();
        let s = new_session(52);
        store.create_session(&s).await.unwrap();
        let n = 12;
        let mut b = batch(n);
        b.signals = (1..=n)
            .map(|i| SignalRow {
                signal_id: i,
                ts: ts(i),
                symbol: "QQQ".into(),
                side: "sell".into(),
                strength: 0.5,
                reason: format!("reason {i}"),
            })
            .collect();
        b.trades = (1..=n)
            .map(|i| TradeRow {
                seq: i,
                symbol: "SPY".into(),
                side: "long".into(),
                quantity: "100".into(),
                entry_ts: ts(i),
                exit_ts: ts(i + 2),
                entry_price: "470.25".into(),
                exit_price: format!("471.{i}"),
                gross_pnl: format!("{i}.5"),
                commission: "2".into(),
            })
            .collect();
        b.positions = (1..=n)
            .map(|i| PositionRow {
                seq: i,
                ts: ts(i + 1),
                symbol: "SPY".into(),
                quantity: format!("{}", i % 2 * 100),
                realized: format!("-{i}.25"),
            })
            .collect();
        b.quality = (1..=n)
            .map(|i| QualityRow {
                date: "2024-01-02".into(),
                symbol: format!("S{i:02}"),
                expected: 390,
                present: 390 - i,
                missing: "[]".into(),
            })
            .collect();
        b.scans = (1..=n)
            .map(|i| ScanRow {
                seq: i,
                ts: ts(i),
                scanner: "gap".into(),
                as_of: ts(i - 1),
                candidates: "[]".into(),
                chosen: format!("[\"S{i:02}\"]"),
            })
            .collect();
        // Written in reverse: reads come back in each table's order, not the writing order.
        let mut reversed = b.clone();
        reversed.signals.reverse();
        reversed.trades.reverse();
        reversed.positions.reverse();
        reversed.quality.reverse();
        reversed.scans.reverse();
        store.write_batch(s.id, &reversed).await.unwrap();
        let id = s.id;
        assert_eq!(store.signals(id).await.unwrap(), b.signals, "{name}");
        assert_eq!(store.orders(id).await.unwrap(), b.orders, "{name}");
        assert_eq!(store.fills(id).await.unwrap(), b.fills, "{name}");
        assert_eq!(store.trades(id).await.unwrap(), b.trades, "{name}");
        assert_eq!(store.positions(id).await.unwrap(), b.positions, "{name}");
        assert_eq!(store.equity(id).await.unwrap(), b.equity, "{name}");
        assert_eq!(store.quality(id).await.unwrap(), b.quality, "{name}");
        assert_eq!(store.scans(id).await.unwrap(), b.scans, "{name}");
        assert_eq!(
            store.trades_page(id, 5, 4).await.unwrap(),
            b.trades[5..9],
            "{name}"
        );
        assert_eq!(
            store.positions_page(id, 10, 4).await.unwrap(),
            b.positions[10..],
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn the_first_user_is_the_only_admin_even_when_many_register_at_once() {
    for (name, store, _db, _dir) in backends("first user is admin").await {
        store.migrate().await.unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for n in 0..16 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store.create_user(&format!("user{n}"), "hash").await
            }));
        }
        let mut admins = 0;
        for t in tasks {
            admins += usize::from(t.await.unwrap().unwrap().is_admin);
        }
        assert_eq!(admins, 1, "{name}");
        let later = store.create_user("late", "hash").await.unwrap();
        assert!(!later.is_admin, "{name}");
        let (found, hash) = store.user_by_name("late").await.unwrap().unwrap();
        assert_eq!((found, hash.as_str()), (later, "hash"), "{name}");
        assert!(
            store.user_by_name("nobody").await.unwrap().is_none(),
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn usernames_are_unique_and_checked() {
    for (name, store, _db, _dir) in backends("usernames").await {
        store.migrate().await.unwrap();
        store.create_user("alice", "h1").await.unwrap();
        let taken = store.create_user("alice", "h2").await.unwrap_err();
        assert!(
            matches!(taken, StoreError::Input(ref m) if m.contains("taken")),
            "{name}: {taken}"
        );
        for bad in ["", "a b", "tab\there", &"x".repeat(65)] {
            let e = store.create_user(bad, "h").await.unwrap_err();
            assert!(matches!(e, StoreError::Input(_)), "{name}: {bad:?}: {e}");
        }
        // The stored hash is the first one: the refused registration changed nothing.
        assert_eq!(
            store.user_by_name("alice").await.unwrap().unwrap().1,
            "h1",
            "{name}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn a_token_names_its_user_until_it_expires_or_is_revoked() {
    for (name, store, _db, _dir) in backends("tokens").await {
        store.migrate().await.unwrap();
        let alice = store.create_user("alice", "h").await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap();
        let hour = chrono::Duration::hours(1);
        store
            .insert_token(alice.id, "tok-a", now + hour)
            .await
            .unwrap();
        store
            .insert_token(alice.id, "tok-b", now + hour)
            .await
            .unwrap();
        assert_eq!(
            store.user_for_token("tok-a", now).await.unwrap(),
            Some(alice.clone()),
            "{name}"
        );
        assert_eq!(
            store.user_for_token("tok-a", now + hour).await.unwrap(),
            None,
            "{name}: expired"
        );
        assert_eq!(
            store.user_for_token("nope", now).await.unwrap(),
            None,
            "{name}"
        );
        assert!(store.revoke_token("tok-a", now).await.unwrap(), "{name}");
        assert!(
            !store.revoke_token("tok-a", now).await.unwrap(),
            "{name}: revoked twice"
        );
        assert_eq!(
            store.user_for_token("tok-a", now).await.unwrap(),
            None,
            "{name}: revoked"
        );
        // Revoking one token leaves the user's others alone.
        assert_eq!(
            store.user_for_token("tok-b", now).await.unwrap(),
            Some(alice),
            "{name}"
        );
        store.close().await;
    }
}
