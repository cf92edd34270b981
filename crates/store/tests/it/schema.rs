//! Connecting, and migrating: from empty, from every earlier version, from many processes at once.

use std::sync::Arc;

use openbell_store::{PoolConfig, Store, head};

use crate::backends;

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
