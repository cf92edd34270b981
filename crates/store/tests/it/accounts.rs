//! Users and API tokens.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use openbell_store::StoreError;

use crate::backends;

#[tokio::test]
async fn the_first_user_is_the_only_admin_even_when_many_register_at_once() {
    for (name, store, _db, _dir) in backends("first user is admin").await {
        store.migrate().await.unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for n in 0..16 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store.create_user(&format!("user{n}"), "hash", false).await
            }));
        }
        let mut admins = 0;
        for t in tasks {
            admins += usize::from(t.await.unwrap().unwrap().unwrap().is_admin);
        }
        assert_eq!(admins, 1, "{name}");
        let later = store
            .create_user("late", "hash", false)
            .await
            .unwrap()
            .unwrap();
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
        store.create_user("alice", "h1", false).await.unwrap();
        let taken = store.create_user("alice", "h2", false).await.unwrap_err();
        assert!(
            matches!(taken, StoreError::Input(ref m) if m.contains("taken")),
            "{name}: {taken}"
        );
        for bad in ["", "a b", "tab\there", &"x".repeat(65)] {
            let e = store.create_user(bad, "h", false).await.unwrap_err();
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
        let alice = store
            .create_user("alice", "h", false)
            .await
            .unwrap()
            .unwrap();
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

#[tokio::test]
async fn closed_registration_writes_only_a_first_user_even_when_many_try_at_once() {
    for (name, store, _db, _dir) in backends("first user only").await {
        store.migrate().await.unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for n in 0..8 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store.create_user(&format!("user{n}"), "hash", true).await
            }));
        }
        let mut created = Vec::new();
        for t in tasks {
            created.extend(t.await.unwrap().unwrap());
        }
        assert_eq!(created.len(), 1, "{name}: {created:?}");
        assert!(created[0].is_admin, "{name}");
        for n in 0..8 {
            let stored = store.user_by_name(&format!("user{n}")).await.unwrap();
            assert_eq!(
                stored.is_some(),
                format!("user{n}") == created[0].username,
                "{name}"
            );
        }
        store.close().await;
    }
}
