//! The HTTP API on both backends (SQLite in a temporary file, PostgreSQL in a fresh database
//! per test at `127.0.0.1:5432`), through the real router. Without PostgreSQL the PostgreSQL
//! half prints that it was skipped; under `CI=true` it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod browser;
mod data;
mod feeds;
mod metrics;
mod openapi;
mod records;
mod runner;
mod sessions;
mod web;

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
pub(crate) async fn backends(
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

/// Stored rows as JSON, as the record endpoints answer them.
pub(crate) fn values<T: serde::Serialize>(rows: &[T]) -> Vec<Value> {
    rows.iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect()
}

/// One request through the router: (status, JSON body or Null).
pub(crate) async fn call(
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
pub(crate) fn assert_error(
    status: StatusCode,
    body: &Value,
    want: StatusCode,
    code: &str,
    ctx: &str,
) {
    assert_eq!(status, want, "{ctx}: {body}");
    assert_eq!(body["error"]["code"], code, "{ctx}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{ctx}: {body}"
    );
}

pub(crate) async fn register(app: &Router, user: &str) -> (StatusCode, Value) {
    let body = json!({"username": user, "password": "correct horse"}).to_string();
    call(app, Method::POST, "/api/v1/auth/register", None, Some(body)).await
}

pub(crate) async fn login(app: &Router, user: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": user, "password": password}).to_string();
    call(app, Method::POST, "/api/v1/auth/login", None, Some(body)).await
}

/// Registers and logs in; returns (user id, token).
pub(crate) async fn account(app: &Router, user: &str) -> (i64, String) {
    let (status, body) = register(app, user).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = login(app, user, "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["user"]["id"].as_i64().unwrap(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn session(store: &Store, n: u32, owner: Option<i64>) -> SessionId {
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
