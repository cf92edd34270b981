//! What sessions produce: batches, the writer, and reading every table back.

use std::sync::Arc;

use openbell_model::SessionId;
use openbell_store::{Batch, StoreError};

use crate::{backends, batch, new_session, ts};

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
    for (name, store, _db, _dir) in backends("read back").await {
        store.migrate().await.unwrap();
        let s = new_session(52);
        store.create_session(&s).await.unwrap();
        let b = full_batch(12);
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

/// `n` rows in every table of a batch.
pub(crate) fn full_batch(n: i64) -> Batch {
    use openbell_store::{DayRow, PositionRow, QualityRow, RiskRow, ScanRow, SignalRow, TradeRow};
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
    b.risk = (1..=n)
        .map(|i| RiskRow {
            seq: i,
            ts: ts(i),
            order_id: i,
            symbol: "SPY".into(),
            reason: format!("risk: rule {i}"),
        })
        .collect();
    b.days = (1..=n)
        .map(|i| DayRow {
            date: format!("2024-01-{i:02}"),
            bars: 390 * i,
            equity: Some(format!("100000.{i}")),
        })
        .collect();
    b
}

/// Every child row a session has, over all tables.
async fn rows_of(store: &openbell_store::Store, id: SessionId) -> i64 {
    let counts = store.child_counts(id).await.unwrap();
    counts.iter().map(|(_, n)| n).sum()
}

/// Writes, refuses and deletes as every backend must, whichever way it checks the session.
async fn batches_keep_to_live_sessions(name: &str, store: &openbell_store::Store) {
    store.migrate().await.unwrap();
    let s = new_session(40);
    store.create_session(&s).await.unwrap();
    store.write_batch(s.id, &batch(500)).await.unwrap();
    let counts = store.child_counts(s.id).await.unwrap();
    for table in ["orders", "fills", "equity"] {
        let n = counts.iter().find(|(t, _)| *t == table).unwrap().1;
        assert_eq!(n, 500, "{name}: {table}");
    }
    // A batch for a session that does not exist stores nothing.
    let ghost = new_session(41);
    assert!(
        store.write_batch(ghost.id, &batch(10)).await.is_err(),
        "{name}"
    );
    assert_eq!(rows_of(store, ghost.id).await, 0, "{name}");
    // A session deleted while a batch is being written leaves no rows behind: the delete
    // either waits for the batch and cascades to it, or comes first and the batch is refused.
    for round in 0..4 {
        let s = new_session(50 + round);
        store.create_session(&s).await.unwrap();
        let big = batch(3_000);
        let (written, deleted) =
            tokio::join!(store.write_batch(s.id, &big), store.delete_session(s.id));
        assert!(deleted.unwrap(), "{name}");
        if let Err(e) = written {
            assert!(
                matches!(e, StoreError::NotFound(_) | StoreError::Db(_)),
                "{name}: {e}"
            );
        }
        assert_eq!(
            rows_of(store, s.id).await,
            0,
            "{name}: rows outlived their deleted session"
        );
    }
}

#[tokio::test]
async fn sessions_are_checked_once_per_batch_when_the_role_may_and_row_by_row_otherwise() {
    for (name, store, _db, _dir) in backends("session checks").await {
        // The tests' PostgreSQL role is a superuser; SQLite always checks row by row.
        assert_eq!(
            store.checks_session_per_batch(),
            name == "postgres",
            "{name}"
        );
        batches_keep_to_live_sessions(name, &store).await;
    }
    // An ordinary role checks row by row, unless it is granted SET on the parameter.
    for granted in [false, true] {
        let Some(mut db) = openbell_testkit::PgDatabase::create("session checks, ordinary role")
        else {
            break;
        };
        let url = db.ordinary_owner_url(granted);
        let store = openbell_store::Store::connect(&url, &openbell_store::PoolConfig::default())
            .await
            .unwrap();
        assert_eq!(
            store.checks_session_per_batch(),
            granted,
            "granted: {granted}"
        );
        let name = if granted {
            "postgres, ordinary role granted SET"
        } else {
            "postgres, ordinary role"
        };
        batches_keep_to_live_sessions(name, &store).await;
        store.close().await;
    }
}
