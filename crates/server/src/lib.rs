//! openbell's HTTP API under `/api/v1`: accounts with bearer tokens, the session registry
//! (create, list, show, stop, delete, live events) with its runner, and health checks. Every
//! error has one JSON shape ([`error::ApiError`]); every session read is scoped to its owner
//! (admins see all).

pub mod auth;
pub mod data;
pub mod error;
pub mod events;
pub mod metrics;
pub mod records;
pub mod run;
pub mod runner;
pub mod sessions;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use openbell_store::{Store, head};
use serde_json::{Value, json};
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::runner::{Runner, RunnerConfig};

/// The largest request body accepted: a session config (1 MiB) and its envelope.
pub const MAX_BODY_BYTES: usize = (1 << 20) + (64 << 10);

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether anyone may register; when false, only the first user (the admin) can.
    pub open_registration: bool,
    /// How long a login token lives.
    pub token_ttl: chrono::Duration,
    /// How sessions run.
    pub runner: RunnerConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            open_registration: true,
            token_ttl: chrono::Duration::days(30),
            runner: RunnerConfig::default(),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    store: Store,
    config: Arc<ServerConfig>,
    limiter: Arc<auth::LoginLimiter>,
    runner: Runner,
    http: Arc<metrics::HttpMetrics>,
    /// Turns true when the server begins to shut down: live streams end.
    closing: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State over a migrated store. Its runner starts sessions on the current runtime.
    #[must_use]
    pub fn new(store: Store, config: ServerConfig) -> Self {
        let runner = Runner::new(store.clone(), config.runner.clone());
        Self {
            store,
            config: Arc::new(config),
            limiter: Arc::default(),
            runner,
            http: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// The session runner.
    #[must_use]
    pub const fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Ends live streams, then stops every session the runner holds at a safe point (marked
    /// `stopped` with `reason`) and waits until their records are flushed.
    pub async fn shut_down(&self, reason: &str) {
        self.closing.send_replace(true);
        self.runner.shutdown(reason).await;
    }
}

/// Every route, with the OpenAPI document built from the same handlers (each carries its
/// `#[utoipa::path]`), served at `/api/v1/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (app, doc) = documented_routes().split_for_parts();
    let doc = Arc::new(with_security(doc));
    app.merge(web::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = Arc::clone(&doc);
                async move { Json(doc) }
            }),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The OpenAPI document alone.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    with_security(documented_routes().split_for_parts().1)
}

fn documented_routes() -> OpenApiRouter<AppState> {
    let info = utoipa::openapi::InfoBuilder::new()
        .title("openbell")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Accounts, the session registry and its runner, live session events, the bar \
             store and calendars. Errors are {\"error\": {\"code\", \"message\"}}.",
        ))
        .build();
    let api = OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(sessions::list, sessions::create))
        .routes(routes!(sessions::show, sessions::delete))
        .routes(routes!(sessions::stop))
        .routes(routes!(events::events))
        .routes(routes!(records::rows))
        .routes(routes!(data::symbols))
        .routes(routes!(data::bars))
        .routes(routes!(data::quality))
        .routes(routes!(data::calendar_days))
        .fallback(not_found);
    OpenApiRouter::with_openapi(utoipa::openapi::OpenApiBuilder::new().info(info).build())
        .nest("/api/v1", api)
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics::metrics))
}

/// Declares the bearer token scheme the operations refer to.
fn with_security(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("obt_ token from POST /api/v1/auth/login")
                    .build(),
            ),
        );
    doc
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
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up")))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and its schema is this build's.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "The database answers and its schema is current"),
        (status = 503, description = "The database is unreachable or its schema is behind", body = ErrorBody)))]
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

/// Serves the API on `bind` until SIGINT or SIGTERM, then stops accepting requests, stops
/// every running session at a safe point (`stopped`, with the reason) and flushes its
/// records, and lets the requests in flight finish; `ready` gets the bound address (port 0
/// picks a free one).
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
    let maintenance = tokio::spawn(state.runner.clone().maintain());
    let (signalled, mut on_signal) = watch::channel(false);
    let signalled = Arc::new(signalled);
    let stopping = {
        let state = state.clone();
        tokio::spawn(async move {
            let _ = on_signal.wait_for(|s| *s).await;
            tracing::info!("shutting down: stopping running sessions");
            state.shut_down("the server shut down").await;
        })
    };
    let on_shutdown = Arc::clone(&signalled);
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            on_shutdown.send_replace(true);
        })
        .await;
    // Without a signal (the server failed), the sessions stop all the same.
    signalled.send_replace(true);
    let _ = stopping.await;
    maintenance.abort();
    served
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
