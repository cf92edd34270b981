//! `GET /metrics` in the Prometheus text format: sessions by status (from the registry, so
//! every runner's), the base bars this server's sessions processed, the batches waiting for
//! their registry writers, the sessions its runner holds, and HTTP request counts and latency
//! histograms by method and route.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use openbell_model::SessionStatus;

use crate::AppState;
use crate::error::ApiError;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// One route's latency histogram.
#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Requests at or under each bound (not cumulative here; summed when written).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counts and latencies, by (method, route) and by (method, route, status).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    statuses: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl HttpMetrics {
    fn record(&self, method: &str, route: &str, status: u16, secs: f64) {
        {
            let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            let h = latency
                .entry((method.to_owned(), route.to_owned()))
                .or_default();
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
                h.buckets[i] += 1;
            }
            h.count += 1;
            h.sum += secs;
        }
        let mut statuses = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
        *statuses
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    fn write(&self, out: &mut String) {
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        out.push_str("# HELP openbell_http_request_duration_seconds HTTP request latency, by method and route.\n");
        out.push_str("# TYPE openbell_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &latency {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "openbell_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "openbell_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "openbell_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "openbell_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        let statuses = self
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        out.push_str("# HELP openbell_http_requests_total HTTP requests answered, by method, route and status.\n");
        out.push_str("# TYPE openbell_http_requests_total counter\n");
        for ((method, route, status), n) in &statuses {
            let _ = writeln!(
                out,
                "openbell_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Times every request and counts it under its route template (`unmatched` for a path no
/// route has, so arbitrary paths cannot grow the label set).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    state.http.record(
        &method,
        &route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// `GET /metrics`.
///
/// # Errors
/// 500 when the registry cannot be read.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 500, description = "The registry cannot be read", body = crate::error::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let counts = state.store.session_counts().await?;
    let mut out = String::new();
    out.push_str("# HELP openbell_sessions Sessions in the registry, by status.\n");
    out.push_str("# TYPE openbell_sessions gauge\n");
    for &status in SessionStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "openbell_sessions{{status=\"{status}\"}} {n}");
    }
    let runner = state.runner();
    out.push_str(
        "# HELP openbell_bars_processed_total Base bars processed by this server's sessions.\n",
    );
    out.push_str("# TYPE openbell_bars_processed_total counter\n");
    let _ = writeln!(
        out,
        "openbell_bars_processed_total {}",
        runner.bars_processed()
    );
    out.push_str("# HELP openbell_writer_queue_depth Record batches waiting for the registry writers of this server's running sessions.\n");
    out.push_str("# TYPE openbell_writer_queue_depth gauge\n");
    let _ = writeln!(out, "openbell_writer_queue_depth {}", runner.queue_depth());
    let (running, waiting) = runner.counts();
    out.push_str(
        "# HELP openbell_runner_sessions Sessions this server's runner holds, by state.\n",
    );
    out.push_str("# TYPE openbell_runner_sessions gauge\n");
    let _ = writeln!(
        out,
        "openbell_runner_sessions{{state=\"running\"}} {running}"
    );
    let _ = writeln!(
        out,
        "openbell_runner_sessions{{state=\"waiting\"}} {waiting}"
    );
    state.http.write(&mut out);
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response())
}
