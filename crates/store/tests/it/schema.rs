//! Connecting, and migrating: from empty, from every earlier version, from many processes at once.

use std::sync::Arc;

use openbell_store::{PoolConfig, Store, head};

use crate::records::full_batch;
use crate::{backends, batch, new_session};

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
async fn unknown_urls_are_named() {
    let err = Store::connect("mysql://x", &PoolConfig::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mysql://x"), "{err}");
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
async fn the_clustering_migration_keeps_every_row_and_the_cascade() {
    for (name, store, _db, dir) in backends("clustering migration").await {
        store.migrate_to(3).await.unwrap();
        let s = new_session(60);
        store.create_session(&s).await.unwrap();
        let b = full_batch(30);
        store.write_batch(s.id, &b).await.unwrap();
        let counts = store.child_counts(s.id).await.unwrap();
        assert_eq!(store.migrate().await.unwrap(), vec![4], "{name}");
        assert_eq!(store.child_counts(s.id).await.unwrap(), counts, "{name}");
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
            store.days_page(id, None, 100).await.unwrap(),
            b.days,
            "{name}"
        );
        // The rebuilt tables still take new rows and merge rewritten ones.
        let more = new_session(61);
        store.create_session(&more).await.unwrap();
        store.write_batch(more.id, &full_batch(5)).await.unwrap();
        let mut rewritten = batch(5).orders;
        for o in &mut rewritten {
            o.status = "cancelled".into();
        }
        let orders = openbell_store::Batch {
            orders: rewritten.clone(),
            ..openbell_store::Batch::default()
        };
        store.write_batch(more.id, &orders).await.unwrap();
        assert_eq!(store.orders(more.id).await.unwrap(), rewritten, "{name}");
        // And their foreign keys still cascade.
        assert!(store.delete_session(id).await.unwrap(), "{name}");
        let left: i64 = store
            .child_counts(id)
            .await
            .unwrap()
            .iter()
            .map(|c| c.1)
            .sum();
        assert_eq!(left, 0, "{name}");
        store.close().await;
        if let Some(dir) = dir {
            // On SQLite every session table but `scans` is now clustered by its key.
            let url = format!("sqlite://{}", dir.path().join("registry.db").display());
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            let tables: Vec<(String, String)> =
                sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for (table, sql) in tables {
                if !counts.iter().any(|(t, _)| *t == table) {
                    continue;
                }
                assert_eq!(
                    sql.ends_with("WITHOUT ROWID"),
                    table != "scans",
                    "{table}: {sql}"
                );
            }
        }
    }
}
