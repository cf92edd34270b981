//! openbell's HTTP API under `/api/v1`: accounts with bearer tokens, and the session registry
//! (list, show, stop, delete), with health checks. Every error has one JSON shape
//! ([`error::ApiError`]); every session read is scoped to its owner (admins see all).

pub mod auth;
pub mod error;
pub mod run;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use openbell_store::{Store, head};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The largest request body accepted: a session config (1 MiB) and its envelope.
pub const MAX_BODY_BYTES: usize = (1 << 20) + (64 << 10);

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether anyone may register; when false, only the first user (the admin) can.
    pub open_registration: bool,
    /// How long a login token lives.
    pub token_ttl: chrono::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            open_registration: true,
            token_ttl: chrono::Duration::days(30),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    store: Store,
    config: Arc<ServerConfig>,
    limiter: Arc<auth::LoginLimiter>,
}

impl AppState {
    /// State over a migrated store.
    #[must_use]
    pub fn new(store: Store, config: ServerConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            limiter: Arc::default(),
        }
    }
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/sessions", get(sessions::list))
        .route(
            "/sessions/{id}",
            get(sessions::show).delete(sessions::delete),
        )
        .route("/sessions/{id}/stop", post(sessions::stop))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// `GET /healthz`: the process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and its schema is this build's.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let status = state.store.status().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check: database unreachable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the database is unreachable",
        )
    })?;
    if status.current != head() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!(
                "the database schema is at version {}, this build needs {}; run openbell db migrate",
                status.current,
                head()
            ),
        ));
    }
    Ok(Json(
        json!({"status": "ready", "schema_version": status.current}),
    ))
}

/// Serves the API on `bind` until SIGINT or SIGTERM, then stops accepting requests and lets
/// the ones in flight finish; `ready` gets the bound address (port 0 picks a free one).
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(
    state: AppState,
    bind: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    ready(listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; SIGINT still stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
