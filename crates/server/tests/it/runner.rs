//! The session runner over HTTP: a created backtest is stored before the answer and runs to
//! its end with the same fills as a direct run; sessions beyond the limit wait; stops and a
//! shutdown end sessions at a safe point with the reason; the event stream replays the record
//! and then follows the session live.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate};
use openbell_data::{BarStore, GenerateOptions};
use openbell_engine::{Event, EventSink};
use openbell_model::Interval;
use openbell_server::run::backtest::{Hooks, backtest, new_session_id};
use openbell_server::run::config::parse_config;
use openbell_server::run::registry::fill_row;
use openbell_server::runner::RunnerConfig;
use openbell_store::FillRow;

use crate::*;

/// A month, three symbols: done in well under a second.
pub(crate) const SHORT: &str = r#"
[session]
name = "short"
start = "2024-01-02"
end = "2024-01-31"
[universe]
symbols = ["SIM001", "SIM002", "SIM003"]
[strategy]
name = "sma_cross"
fast = 5
slow = 20
qty = 10
"#;

/// Half a year of every symbol: long enough to be caught running.
const LONG: &str = r#"
[session]
name = "long"
start = "2024-01-02"
end = "2024-06-28"
[universe]
all = true
[strategy]
name = "sma_cross"
fast = 5
slow = 20
qty = 10
"#;

/// The generated bar store these tests read, built once per test run.
pub(crate) fn bars() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runner-bars-v1");
        let complete = dir.with_extension("complete");
        if complete.is_file() {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        let store = BarStore::open(&dir).unwrap();
        openbell_data::generate(
            &store,
            &GenerateOptions {
                symbols: 12,
                days: 125,
                start: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
                seed: 7,
                interval: Interval::M1,
            },
        )
        .unwrap();
        std::fs::write(&complete, "").unwrap();
        dir
    })
}

pub(crate) fn app(store: &Store, max_running: usize, max_queued: usize) -> (AppState, Router) {
    let unused = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("collected-unused");
    app_collecting(store, max_running, max_queued, &unused)
}

/// [`app`], with collect sessions writing into `collect_dir`.
pub(crate) fn app_collecting(
    store: &Store,
    max_running: usize,
    max_queued: usize,
    collect_dir: &Path,
) -> (AppState, Router) {
    let config = ServerConfig {
        runner: RunnerConfig {
            max_running,
            max_queued,
            data_dir: bars().to_owned(),
            collect_dir: collect_dir.to_owned(),
        },
        ..ServerConfig::default()
    };
    let state = AppState::new(store.clone(), config);
    let router = router(state.clone());
    (state, router)
}

async fn create(app: &Router, token: &str, config: &str) -> (StatusCode, Value) {
    let body = json!({"kind": "backtest", "name": "test", "config": config}).to_string();
    call(
        app,
        Method::POST,
        "/api/v1/sessions",
        Some(token),
        Some(body),
    )
    .await
}

pub(crate) async fn created(app: &Router, token: &str, config: &str) -> String {
    let (status, body) = create(app, token, config).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn get(app: &Router, token: &str, id: &str) -> Value {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/api/v1/sessions/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `POST /sessions/{id}/stop`.
pub(crate) async fn stop(app: &Router, token: &str, id: &str) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        &format!("/api/v1/sessions/{id}/stop"),
        Some(token),
        None,
    )
    .await
}

/// Polls the session until `done` holds of it (30 s at most).
pub(crate) async fn wait(
    app: &Router,
    token: &str,
    id: &str,
    done: impl Fn(&str) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = get(app, token, id).await;
        if done(row["status"].as_str().unwrap()) {
            return row;
        }
        assert!(Instant::now() < deadline, "session {id} stayed {row}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) fn ended(status: &str) -> bool {
    matches!(status, "completed" | "stopped" | "failed")
}

fn time(row: &Value, field: &str) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(row[field].as_str().unwrap()).unwrap()
}

/// The fills of the same config run directly through the engine, numbered as stored.
pub(crate) fn direct_fills(config: &str) -> Vec<FillRow> {
    struct Fills(Vec<FillRow>);
    impl EventSink for Fills {
        fn emit(&mut self, event: &Event) {
            if let Event::OrderFilled { fill, .. } = event {
                let seq = i64::try_from(self.0.len()).unwrap() + 1;
                self.0.push(fill_row(seq, fill));
            }
        }
    }
    let cfg = parse_config(config, "direct.toml").unwrap();
    let store = BarStore::open(bars()).unwrap();
    let mut fills = Fills(Vec::new());
    let hooks = Hooks {
        tap: Some(&mut fills),
        ..Hooks::default()
    };
    backtest(&store, &cfg, new_session_id().unwrap(), hooks).unwrap();
    fills.0
}

#[tokio::test]
async fn a_created_backtest_is_stored_before_the_answer_and_completes_with_a_direct_runs_fills() {
    let want = direct_fills(SHORT);
    assert!(!want.is_empty());
    for (name, store, _db, _dir) in backends("runner create").await {
        let (_, app) = app(&store, 2, 100);
        let (alice_id, alice) = account(&app, "alice").await;
        let (_, bob) = account(&app, "bob").await;
        let (status, body) = create(&app, &alice, SHORT).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert_eq!(body["status"], "queued", "{name}");
        assert_eq!(body["kind"], "backtest", "{name}");
        assert_eq!(body["owner_id"], alice_id, "{name}");
        assert_eq!(body["config"], SHORT, "{name}");
        let id = body["id"].as_str().unwrap().to_owned();
        // Readable at once, by its owner only.
        assert_eq!(get(&app, &alice, &id).await["id"], id, "{name}");
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/api/v1/sessions/{id}"),
            Some(&bob),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");

        let row = wait(&app, &alice, &id, ended).await;
        assert_eq!(row["status"], "completed", "{name}: {row}");
        let days = openbell_calendar::Calendar::builtin("XNYS")
            .unwrap()
            .trading_days(
                NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
                NaiveDate::from_ymd_opt(2024, 1, 31).unwrap(),
            )
            .unwrap()
            .len();
        assert_eq!(row["summary"]["trading_days"], days, "{name}: {row}");
        assert!(row["data_fingerprint"].is_string(), "{name}: {row}");
        let sid = SessionId::parse(&id).unwrap();
        assert_eq!(store.fills(sid).await.unwrap(), want, "{name}");
        assert_eq!(store.session_days(sid).await.unwrap().len(), days, "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn sessions_beyond_the_limit_wait_queued_and_never_run_more_than_it_at_once() {
    for (name, store, _db, _dir) in backends("runner limit").await {
        let (_, app) = app(&store, 2, 100);
        let (_, alice) = account(&app, "alice").await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            let (status, body) = create(&app, &alice, SHORT).await;
            assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
            assert_eq!(body["status"], "queued", "{name}");
            ids.push(body["id"].as_str().unwrap().to_owned());
        }
        let mut spans = Vec::new();
        for id in &ids {
            let row = wait(&app, &alice, id, ended).await;
            assert_eq!(row["status"], "completed", "{name}: {row}");
            spans.push((time(&row, "started_at"), time(&row, "ended_at")));
        }
        // At the start of each run, at most two runs (itself included) are under way.
        for (start, _) in &spans {
            let running = spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count();
            assert!(running <= 2, "{name}: {running} at once: {spans:?}");
        }
        store.close().await;
    }
}

#[tokio::test]
async fn stopping_a_running_and_a_queued_session_ends_both_stopped_with_the_reason() {
    for (name, store, _db, _dir) in backends("runner stop").await {
        let (_, app) = app(&store, 1, 100);
        let (_, alice) = account(&app, "alice").await;
        let long = created(&app, &alice, LONG).await;
        let short = created(&app, &alice, SHORT).await;
        wait(&app, &alice, &long, |s| s != "queued" && s != "starting").await;
        for id in [&short, &long] {
            let (status, body) = stop(&app, &alice, id).await;
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
            assert_eq!(body["status"], "stopping", "{name}");
        }
        let short_row = wait(&app, &alice, &short, ended).await;
        assert_eq!(short_row["status"], "stopped", "{name}: {short_row}");
        assert_eq!(
            short_row["error"], "stopped on request before it started",
            "{name}"
        );
        assert!(short_row["started_at"].is_null(), "{name}: {short_row}");

        let long_row = wait(&app, &alice, &long, ended).await;
        assert_eq!(long_row["status"], "stopped", "{name}: {long_row}");
        let reason = long_row["error"].as_str().unwrap();
        let days = stored(&store, &long).await.0.len();
        assert!(
            reason.starts_with(&format!("stopped on request after {days} of ")),
            "{name}: {reason} ({days} days stored)"
        );
        assert!(long_row["summary"]["stopped"] == true, "{name}: {long_row}");
        store.close().await;
    }
}

#[tokio::test]
async fn a_shutdown_stops_every_session_at_a_safe_point_and_refuses_new_ones() {
    for (name, store, _db, _dir) in backends("runner shutdown").await {
        let (state, app) = app(&store, 1, 100);
        let (_, alice) = account(&app, "alice").await;
        let long = created(&app, &alice, LONG).await;
        let short = created(&app, &alice, SHORT).await;
        wait(&app, &alice, &long, |s| s == "running").await;
        state.shut_down("the server shut down").await;
        // Returned only once both ended: no polling needed.
        let long_row = get(&app, &alice, &long).await;
        assert_eq!(long_row["status"], "stopped", "{name}: {long_row}");
        let days = stored(&store, &long).await.0.len();
        assert!(
            long_row["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("the server shut down after {days} of ")),
            "{name}: {long_row}"
        );
        let short_row = get(&app, &alice, &short).await;
        assert_eq!(short_row["status"], "stopped", "{name}: {short_row}");
        assert_eq!(
            short_row["error"], "the server shut down before it started",
            "{name}"
        );
        let (status, body) = create(&app, &alice, SHORT).await;
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            name,
        );
        assert_eq!(state.runner().held(), 0, "{name}");
        store.close().await;
    }
}

#[tokio::test]
async fn bad_creates_are_refused_with_the_reason_and_store_nothing() {
    for (name, store, _db, _dir) in backends("runner refusals").await {
        let (_, app) = app(&store, 1, 0);
        let (_, alice) = account(&app, "alice").await;
        let bad = [
            (
                json!({"kind": "backtest", "config": "[session]\nstart = \"2024-01-02\"\nend = \"2024-01-31\"\nbogus = 1\n"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                "bogus",
            ),
            (
                json!({"kind": "backtest", "config": format!("{SHORT}\n[data]\ndir = \"/etc\"\n")}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                "[data] dir",
            ),
            (
                json!({"kind": "backtest", "config": SHORT.replace("[session]", "[session]\nexchange = \"/etc/passwd\"")}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                "unknown exchange",
            ),
            (
                json!({"kind": "backtest", "config": SHORT.replace("[strategy]\nname = \"sma_cross\"\nfast = 5\nslow = 20\nqty = 10\n", "")}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                "[strategy]",
            ),
            (
                json!({"kind": "sideways", "config": SHORT}),
                StatusCode::BAD_REQUEST,
                "bad_request",
                "kind",
            ),
            (
                json!({"kind": "backtest", "name": "n".repeat(201), "config": SHORT}),
                StatusCode::BAD_REQUEST,
                "bad_request",
                "name",
            ),
            (
                json!({"kind": "backtest", "config": SHORT, "owner_id": 1}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                "owner_id",
            ),
        ];
        for (body, want, code, mentions) in bad {
            let (status, answer) = call(
                &app,
                Method::POST,
                "/api/v1/sessions",
                Some(&alice),
                Some(body.to_string()),
            )
            .await;
            let ctx = format!("{name}: {body}");
            assert_error(status, &answer, want, code, &ctx);
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(mentions), "{ctx}: {message}");
        }
        let all = store
            .sessions(&openbell_store::SessionFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(all.is_empty(), "{name}: {all:?}");

        // With no room to wait, a second session while one runs is refused.
        let long = created(&app, &alice, LONG).await;
        let (status, body) = create(&app, &alice, SHORT).await;
        assert_error(
            status,
            &body,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sessions",
            name,
        );
        let (status, body) = stop(&app, &alice, &long).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{name}: {body} {}",
            get(&app, &alice, &long).await
        );
        wait(&app, &alice, &long, ended).await;
        store.close().await;
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    kind: String,
    data: Value,
}

/// Reads the event stream of `id` to its end.
async fn events(app: &Router, token: &str, id: &str) -> Vec<Sse> {
    let req = Request::builder()
        .uri(format!("/api/v1/sessions/{id}/events"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let bytes = tokio::time::timeout(
        Duration::from_secs(60),
        axum::body::to_bytes(res.into_body(), usize::MAX),
    )
    .await
    .expect("the stream ends when the session does")
    .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    text.split("\n\n")
        .filter_map(|block| {
            // As the SSE format says: the data lines of one event, joined by newlines.
            let mut kind = None;
            let mut data: Option<String> = None;
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = Some(k.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(match data {
                        Some(before) => format!("{before}\n{d}"),
                        None => d.to_owned(),
                    });
                }
            }
            Some(Sse {
                kind: kind?,
                data: serde_json::from_str(&data?).unwrap(),
            })
        })
        .collect()
}

/// The stored days and fills of a session, as JSON.
async fn stored(store: &Store, id: &str) -> (Vec<Value>, Vec<Value>) {
    let id = SessionId::parse(id).unwrap();
    let days = store
        .session_days(id)
        .await
        .unwrap()
        .into_iter()
        .map(|(date, bars, equity)| json!({"date": date, "bars": bars, "equity": equity}))
        .collect();
    (days, values(&store.fills(id).await.unwrap()))
}

fn of_kind<'a>(events: &'a [Sse], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| &e.data)
        .collect()
}

#[tokio::test]
async fn the_event_stream_replays_a_finished_session_and_follows_a_running_one_live() {
    for (name, store, _db, _dir) in backends("runner events").await {
        let (_, app) = app(&store, 2, 100);
        let (_, alice) = account(&app, "alice").await;

        // Finished: the record, between its status twice.
        let done = created(&app, &alice, SHORT).await;
        wait(&app, &alice, &done, ended).await;
        let replayed = events(&app, &alice, &done).await;
        let (days, fills) = stored(&store, &done).await;
        assert!(!fills.is_empty(), "{name}");
        let first = &replayed[0];
        let last = replayed.last().unwrap();
        assert_eq!(
            (first.kind.as_str(), &first.data["status"]),
            ("status", &json!("completed")),
            "{name}"
        );
        assert_eq!(last, first, "{name}");
        let kinds: Vec<&str> = replayed.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds.len(),
            2 + days.len() + fills.len(),
            "{name}: {kinds:?}"
        );
        assert_eq!(of_kind(&replayed, "day"), days.iter().collect::<Vec<_>>());
        assert_eq!(of_kind(&replayed, "fill"), fills.iter().collect::<Vec<_>>());

        // Running: subscribed while queued, it sees the phases live and every day and fill
        // exactly once, in order, ending with the final status.
        let live = created(&app, &alice, LONG).await;
        let seen = events(&app, &alice, &live).await;
        let (days, fills) = stored(&store, &live).await;
        assert_eq!(seen[0].kind, "status", "{name}");
        let last = seen.last().unwrap();
        assert_eq!(
            (last.kind.as_str(), &last.data["status"]),
            ("status", &json!("completed")),
            "{name}"
        );
        // Phases are live only (not stored); the last day's seven come in order.
        let phases: Vec<&str> = of_kind(&seen, "phase")
            .iter()
            .map(|p| p["phase"].as_str().unwrap())
            .collect();
        assert!(phases.len() >= 7, "{name}: {phases:?}");
        assert_eq!(
            phases[phases.len() - 7..],
            [
                "reset",
                "pre_session_scan",
                "register",
                "load",
                "activate",
                "stream",
                "end_of_day"
            ],
            "{name}"
        );
        assert_eq!(of_kind(&seen, "day"), days.iter().collect::<Vec<_>>());
        assert_eq!(of_kind(&seen, "fill"), fills.iter().collect::<Vec<_>>());
        assert!(!of_kind(&seen, "equity").is_empty(), "{name}");
        let statuses: Vec<&Value> = of_kind(&seen, "status")
            .into_iter()
            .map(|s| &s["status"])
            .collect();
        assert!(
            statuses.contains(&&json!("running")),
            "{name}: {statuses:?}"
        );
        store.close().await;
    }
}
