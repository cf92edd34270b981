//! Session rows: create, list, status moves, bad input, and runners that die.

use std::sync::Arc;

use chrono::Utc;
use openbell_model::SessionStatus;
use openbell_store::{SessionFilter, StoreError};

use crate::{backends, batch, new_session};

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
