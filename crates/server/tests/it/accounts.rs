//! Health checks, registration, login, logout and the login rate limit.

use crate::*;

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
