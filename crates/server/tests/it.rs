//! The HTTP API on both backends (SQLite in a temporary file, PostgreSQL in a fresh database
//! per test at `127.0.0.1:5432`), through the real router. Without PostgreSQL the PostgreSQL
//! half prints that it was skipped; under `CI=true` it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Utc;
use openbell_model::{SessionId, SessionKind, SessionStatus, Timestamp};
use openbell_server::{AppState, ServerConfig, auth::token_hash, router};
use openbell_store::{NewSession, PoolConfig, Store};
use openbell_testkit::PgDatabase;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A database on each backend available, migrated: (name, store, the PostgreSQL database's
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
    let (sqlite, _) = Store::open(&url, &PoolConfig::default()).await.unwrap();
    let mut out = vec![("sqlite", sqlite, None, Some(dir))];
    if let Some(db) = PgDatabase::create(test) {
        let (pg, _) = Store::open(&db.url(), &PoolConfig::default())
            .await
            .unwrap();
        out.push(("postgres", pg, Some(db), None));
    }
    out
}

/// One request through the router: (status, JSON body or Null).
async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status} answered non-JSON ({e}): {bytes:?}"))
    };
    (status, value)
}

/// The body is the one error shape, with this code.
fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str, ctx: &str) {
    assert_eq!(status, want, "{ctx}: {body}");
    assert_eq!(body["error"]["code"], code, "{ctx}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{ctx}: {body}"
    );
}

async fn register(app: &Router, user: &str) -> (StatusCode, Value) {
    let body = json!({"username": user, "password": "correct horse"}).to_string();
    call(app, Method::POST, "/api/v1/auth/register", None, Some(body)).await
}

async fn login(app: &Router, user: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": user, "password": password}).to_string();
    call(app, Method::POST, "/api/v1/auth/login", None, Some(body)).await
}

/// Registers and logs in; returns (user id, token).
async fn account(app: &Router, user: &str) -> (i64, String) {
    let (status, body) = register(app, user).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = login(app, user, "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["user"]["id"].as_i64().unwrap(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn session(store: &Store, n: u32, owner: Option<i64>) -> SessionId {
    let ts = Timestamp::from_nanos(1_790_000_000_000_000_000 + i64::from(n) * 1_000_000);
    let mut random = [0u8; 10];
    random[..4].copy_from_slice(&n.to_le_bytes());
    let id = SessionId::from_parts(ts, random).unwrap();
    store
        .create_session(&NewSession {
            id,
            kind: SessionKind::Backtest,
            name: format!("session {n}"),
            owner_id: owner,
            config: "[session]\n".into(),
            version: "0.1.0".into(),
        })
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn health_and_readiness() {
    for (name, store, _db, _dir) in backends("health").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        let (status, body) = call(&app, Method::GET, "/healthz", None, None).await;
        assert_eq!(
            (status, &body["status"]),
            (StatusCode::OK, &json!("ok")),
            "{name}"
        );
        let (status, body) = call(&app, Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(body["schema_version"], openbell_store::head(), "{name}");
        let (status, body) = call(&app, Method::GET, "/api/v1/nowhere", None, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found", name);
        let (status, body) = call(&app, Method::PUT, "/api/v1/sessions", None, None).await;
        assert_error(
            status,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            name,
        );
        store.close().await;
    }
    // A database behind this build's schema is not ready.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let store = Store::connect(&url, &PoolConfig::default()).await.unwrap();
    store.migrate_to(1).await.unwrap();
    let app = router(AppState::new(store.clone(), ServerConfig::default()));
    let (status, body) = call(&app, Method::GET, "/readyz", None, None).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "old schema",
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("db migrate"),
        "{body}"
    );
    store.close().await;
}

#[tokio::test]
async fn registration_login_and_logout() {
    for (name, store, _db, _dir) in backends("accounts").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        let (status, first) = register(&app, "alice").await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {first}");
        assert_eq!(
            first["is_admin"], true,
            "{name}: the first user is the admin"
        );
        let (status, second) = register(&app, "bob").await;
        assert_eq!(
            (status, &second["is_admin"]),
            (StatusCode::CREATED, &json!(false)),
            "{name}"
        );
        let (status, body) = register(&app, "bob").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request", name);
        let short = json!({"username": "carol", "password": "short"}).to_string();
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(short),
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request", name);
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some("{bad".into()),
        )
        .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request", name);
        let huge = json!({"username": "x", "password": "y".repeat(2 << 20)}).to_string();
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(huge),
        )
        .await;
        assert_error(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            name,
        );

        // A wrong password and an unknown user get the same answer.
        let (status, wrong) = login(&app, "alice", "not the password").await;
        assert_error(
            status,
            &wrong,
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            name,
        );
        let (status, unknown) = login(&app, "nobody", "not the password").await;
        assert_eq!(
            (status, &unknown),
            (StatusCode::UNAUTHORIZED, &wrong),
            "{name}"
        );

        let (status, token) = login(&app, "alice", "correct horse").await;
        assert_eq!(status, StatusCode::OK, "{name}: {token}");
        let token = token["token"].as_str().unwrap().to_owned();
        let (status, me) = call(&app, Method::GET, "/api/v1/me", Some(&token), None).await;
        assert_eq!(
            (status, &me["username"]),
            (StatusCode::OK, &json!("alice")),
            "{name}"
        );
        let (status, _) = call(
            &app,
            Method::POST,
            "/api/v1/auth/logout",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{name}");
        let (status, body) = call(&app, Method::GET, "/api/v1/me", Some(&token), None).await;
        assert_error(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            name,
        );
        store.close().await;
    }
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_username() {
    for (name, store, _db, _dir) in backends("login rate limit").await {
        let app = router(AppState::new(store.clone(), ServerConfig::default()));
        account(&app, "alice").await;
        for _ in 0..5 {
            let (status, _) = login(&app, "alice", "guess guess").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        }
        // Even the right password waits now.
        let (status, body) = login(&app, "alice", "correct horse").await;
        assert_error(
            status,
            &body,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            name,
        );
        // Other usernames are not affected.
        account(&app, "bob").await;
        store.close().await;
    }
}

#[tokio::test]
async fn closed_registration_admits_only_the_first_user() {
    for (name, store, _db, _dir) in backends("closed registration").await {
        let config = ServerConfig {
            open_registration: false,
            ..ServerConfig::default()
        };
        let app = router(AppState::new(store.clone(), config));
        let (status, body) = register(&app, "root").await;
        assert_eq!(
            (status, &body["is_admin"]),
            (StatusCode::CREATED, &json!(true)),
            "{name}"
        );
        let (status, body) = register(&app, "mallory").await;
        assert_error(
            status,
            &body,
            StatusCode::FORBIDDEN,
            "registration_closed",
            name,
        );
        assert!(
            store.user_by_name("mallory").await.unwrap().is_none(),
            "{name}"
        );
        store.close().await;
    }
}

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
        let endpoints = [
            (Method::GET, "/api/v1/me".to_owned()),
            (Method::GET, "/api/v1/sessions".to_owned()),
            (Method::GET, format!("/api/v1/sessions/{id}")),
            (Method::POST, format!("/api/v1/sessions/{id}/stop")),
            (Method::DELETE, format!("/api/v1/sessions/{id}")),
            (Method::POST, "/api/v1/auth/logout".to_owned()),
        ];
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
        for (method, uri) in &endpoints[2..5] {
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
