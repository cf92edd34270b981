//! The session registry over HTTP: who may see what, paging, stop and delete, hostile input.

use crate::*;

#[tokio::test]
async fn every_session_endpoint_needs_a_live_token_and_hides_other_users_sessions() {
    for (name, store, _db, _dir) in backends("session access").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        let (_admin_id, admin) = account(&app, "admin").await;
        let (alice_id, alice) = account(&app, "alice").await;
        let (_bob_id, bob) = account(&app, "bob").await;
        let id = session(&store, 1, Some(alice_id)).await;
        // A token that expired an hour ago.
        let expired = "obt_expired";
        store
            .insert_token(
                alice_id,
                &token_hash(expired),
                Utc::now() - chrono::Duration::hours(1),
            )
            .await
            .unwrap();
        // The endpoints naming the session come first.
        let endpoints = [
            (Method::GET, format!("/api/v1/sessions/{id}")),
            (Method::GET, format!("/api/v1/sessions/{id}/events")),
            (Method::POST, format!("/api/v1/sessions/{id}/stop")),
            (Method::DELETE, format!("/api/v1/sessions/{id}")),
            (Method::GET, "/api/v1/me".to_owned()),
            (Method::GET, "/api/v1/sessions".to_owned()),
            (Method::POST, "/api/v1/sessions".to_owned()),
            (Method::POST, "/api/v1/auth/logout".to_owned()),
        ];
        let naming_the_session = 4;
        for (method, uri) in &endpoints {
            for token in [None, Some(expired), Some("obt_made_up")] {
                let (status, body) = call(&app, method.clone(), uri, token, None).await;
                let ctx = format!("{name}: {method} {uri} with {token:?}");
                assert_error(
                    status,
                    &body,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &ctx,
                );
            }
        }
        // Another user's token: the session does not exist for them.
        for (method, uri) in &endpoints[..naming_the_session] {
            let (status, body) = call(&app, method.clone(), uri, Some(&bob), None).await;
            let ctx = format!("{name}: {method} {uri} as bob");
            assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", &ctx);
        }
        let (_, list) = call(&app, Method::GET, "/api/v1/sessions", Some(&bob), None).await;
        assert_eq!(list["sessions"], json!([]), "{name}");
        // Nothing changed.
        let row = store.session(id).await.unwrap().unwrap();
        assert_eq!(row.status, SessionStatus::Queued, "{name}");
        // The owner and the admin see it.
        for token in [&alice, &admin] {
            let (status, body) = call(
                &app,
                Method::GET,
                &format!("/api/v1/sessions/{id}"),
                Some(token),
                None,
            )
            .await;
            assert_eq!(
                (status, &body["id"]),
                (StatusCode::OK, &json!(id.to_string())),
                "{name}"
            );
        }
        store.close().await;
    }
}

#[tokio::test]
async fn sessions_page_by_cursor_stop_once_and_delete_when_ended() {
    for (name, store, _db, _dir) in backends("session list").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        let (_, admin) = account(&app, "admin").await;
        let (alice_id, alice) = account(&app, "alice").await;
        let mut mine = Vec::new();
        for n in 0..7 {
            mine.push(session(&store, n, Some(alice_id)).await);
        }
        let unowned = session(&store, 100, None).await;
        mine.reverse(); // newest first
        let mut seen = Vec::new();
        let mut uri = "/api/v1/sessions?limit=3".to_owned();
        loop {
            let (status, page) = call(&app, Method::GET, &uri, Some(&alice), None).await;
            assert_eq!(status, StatusCode::OK, "{name}: {page}");
            for s in page["sessions"].as_array().unwrap() {
                seen.push(s["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => uri = format!("/api/v1/sessions?limit=3&cursor={c}"),
                None => break,
            }
        }
        let want: Vec<String> = mine.iter().map(ToString::to_string).collect();
        assert_eq!(seen, want, "{name}: every own session once, newest first");
        let (_, all) = call(
            &app,
            Method::GET,
            "/api/v1/sessions?limit=500",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(
            all["sessions"].as_array().unwrap().len(),
            8,
            "{name}: the admin sees all"
        );
        assert_eq!(
            all["sessions"][0]["id"],
            json!(unowned.to_string()),
            "{name}"
        );
        for bad in [
            "limit=0",
            "limit=501",
            "kind=nope",
            "status=done",
            "cursor=x",
        ] {
            let (status, body) = call(
                &app,
                Method::GET,
                &format!("/api/v1/sessions?{bad}"),
                Some(&alice),
                None,
            )
            .await;
            assert_error(
                status,
                &body,
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("{name}: {bad}"),
            );
        }
        let (status, body) = call(
            &app,
            Method::GET,
            "/api/v1/sessions?kind=backtest&status=queued",
            Some(&alice),
            None,
        )
        .await;
        assert_eq!(
            (status, body["sessions"].as_array().unwrap().len()),
            (StatusCode::OK, 7),
            "{name}"
        );

        let id = mine[0];
        let stop = format!("/api/v1/sessions/{id}/stop");
        let (status, body) = call(&app, Method::POST, &stop, Some(&alice), None).await;
        assert_eq!(
            (status, &body["status"]),
            (StatusCode::OK, &json!("stopping")),
            "{name}"
        );
        let (status, body) = call(&app, Method::POST, &stop, Some(&alice), None).await;
        assert_error(status, &body, StatusCode::CONFLICT, "conflict", name);
        let one = format!("/api/v1/sessions/{id}");
        let (status, body) = call(&app, Method::DELETE, &one, Some(&alice), None).await;
        assert_error(status, &body, StatusCode::CONFLICT, "conflict", name);
        store
            .transition(
                id,
                SessionStatus::Stopping,
                SessionStatus::Stopped,
                Some("test"),
            )
            .await
            .unwrap();
        let (status, _) = call(&app, Method::DELETE, &one, Some(&alice), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}");
        let (status, body) = call(&app, Method::GET, &one, Some(&alice), None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", name);
        assert!(store.session(id).await.unwrap().is_none(), "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn injection_and_traversal_strings_get_a_4xx_and_change_nothing() {
    let hostile = [
        "' OR '1'='1",
        "1; DROP TABLE sessions; --",
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        "\") OR 1=1 --",
    ];
    for (name, store, _db, _dir) in backends("hostile input").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        let (alice_id, alice) = account(&app, "alice").await;
        let id = session(&store, 1, Some(alice_id)).await;
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        for h in hostile {
            let e = enc(h);
            let uris = [
                (Method::GET, format!("/api/v1/sessions/{e}")),
                (Method::POST, format!("/api/v1/sessions/{e}/stop")),
                (Method::DELETE, format!("/api/v1/sessions/{e}")),
                (Method::GET, format!("/api/v1/sessions?kind={e}")),
                (Method::GET, format!("/api/v1/sessions?status={e}")),
                (Method::GET, format!("/api/v1/sessions?cursor={e}")),
                (Method::GET, format!("/api/v1/sessions?limit={e}")),
            ];
            for (method, uri) in uris {
                let (status, body) = call(&app, method.clone(), &uri, Some(&alice), None).await;
                assert!(
                    status.is_client_error(),
                    "{name}: {method} {uri}: {status} {body}"
                );
                assert!(
                    body["error"]["code"].is_string(),
                    "{name}: {method} {uri}: {body}"
                );
            }
            let (status, _) = login(&app, h, h).await;
            assert!(status.is_client_error(), "{name}: login as {h:?}");
            let (status, _) = register(&app, h).await;
            assert!(
                status.is_client_error() || status == StatusCode::CREATED,
                "{name}: {h:?}"
            );
        }
        let row = store.session(id).await.unwrap().unwrap();
        assert_eq!(row.status, SessionStatus::Queued, "{name}");
        let (_, list) = call(&app, Method::GET, "/api/v1/sessions", Some(&alice), None).await;
        assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{name}");
        assert!(
            store.user_by_name("alice").await.unwrap().is_some(),
            "{name}"
        );
        store.close().await;
    }
}
