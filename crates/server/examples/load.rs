//! Load on loopback: 1,000 session creates from 50 concurrent clients (every one must be
//! listed afterwards, none may answer 5xx), then `GET /api/v1/sessions` latency from 50
//! clients with 10,000 sessions stored.
//!
//! `cargo run --release -p openbell-server --example load [-- --db URL]` (default: a SQLite
//! file in a temporary folder). Exits non-zero when a create fails or a session is missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openbell_data::{BarStore, GenerateOptions};
use openbell_model::{Interval, SessionKind, Timestamp};
use openbell_server::runner::RunnerConfig;
use openbell_server::{AppState, ServerConfig, router};
use openbell_store::{NewSession, Store};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The allocator `openbell serve` runs with.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const CLIENTS: usize = 50;
const CREATES: usize = 1_000;
const STORED: usize = 10_000;
const LISTS_PER_CLIENT: usize = 40;

const CONFIG: &str = "[session]\nstart = \"2024-01-02\"\nend = \"2024-01-02\"\n[universe]\nsymbols = [\"SIM001\"]\n[strategy]\nname = \"buy_and_hold\"\nqty = 1\n";

/// One keep-alive HTTP/1.1 connection.
struct Client {
    stream: TcpStream,
    token: Option<String>,
}

impl Client {
    async fn connect(addr: &str) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            token: None,
        }
    }

    async fn call(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (status, payload) = self.raw(method, path, body).await;
        (
            status,
            serde_json::from_slice(&payload).unwrap_or(Value::Null),
        )
    }

    /// The status and the body's bytes, unparsed (the client's CPU is the server's too).
    async fn raw(&mut self, method: &str, path: &str, body: Option<&Value>) -> (u16, Vec<u8>) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let auth = self
            .token
            .as_ref()
            .map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: load\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 16384];
        let split = loop {
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let n = self.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut payload = raw[split + 4..].to_vec();
        while payload.len() < len {
            let n = self.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the connection mid-body");
            payload.extend_from_slice(&buf[..n]);
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, payload)
    }
}

/// The `next_cursor` of a page, found without parsing the page.
fn next_cursor(page: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(page).ok()?;
    let at = text.rfind("\"next_cursor\":\"")? + 15;
    let end = text[at..].find('"')?;
    Some(text[at..at + end].to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().unwrap();
    let url = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("load.db").display()));
    let data = dir.path().join("data");
    let bars = BarStore::open(&data).unwrap();
    openbell_data::generate(
        &bars,
        &GenerateOptions {
            symbols: 1,
            days: 2,
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            seed: 1,
            interval: Interval::M1,
        },
    )
    .unwrap();
    // The pool `openbell serve` opens (`$OPENBELL_DB_MAX_CONNECTIONS` overrides it).
    let pool = openbell_server::run::registry::pool_config(&url).unwrap();
    let (store, _) = Store::open(&url, &pool).await.unwrap();
    let config = ServerConfig {
        runner: RunnerConfig {
            max_running: 2,
            max_queued: STORED,
            data_dir: data,
            collect_dir: dir.path().join("collected"),
        },
        ..ServerConfig::default()
    };
    let state = AppState::new(store.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "server on {addr}, registry {}",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    // 50 users, each logged in on its own connection.
    let mut clients = Vec::new();
    let mut user_ids = Vec::new();
    for i in 0..CLIENTS {
        let mut c = Client::connect(&addr).await;
        let creds = json!({"username": format!("user{i}"), "password": "correct horse"});
        let (status, user) = c.call("POST", "/api/v1/auth/register", Some(&creds)).await;
        assert_eq!(status, 201, "{user}");
        user_ids.push(user["id"].as_i64().unwrap());
        let (status, login) = c.call("POST", "/api/v1/auth/login", Some(&creds)).await;
        assert_eq!(status, 200, "{login}");
        c.token = Some(login["token"].as_str().unwrap().to_owned());
        clients.push(c);
    }
    let admin_token = clients[0].token.clone().unwrap();

    // 1,000 creates from 50 clients at once.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for n in 0..CREATES / CLIENTS {
                let body =
                    json!({"kind": "backtest", "name": format!("load {i}-{n}"), "config": CONFIG});
                let t = Instant::now();
                let (status, row) = c.call("POST", "/api/v1/sessions", Some(&body)).await;
                out.push((status, t.elapsed(), row["id"].as_str().map(str::to_owned)));
            }
            (c, out)
        }));
    }
    let mut clients = Vec::new();
    let mut create_times = Vec::new();
    let mut created = BTreeSet::new();
    let mut failures = Vec::new();
    for t in tasks {
        let (c, out) = t.await.unwrap();
        clients.push(c);
        for (status, took, id) in out {
            create_times.push(took);
            match (status, id) {
                (201, Some(id)) => {
                    created.insert(id);
                }
                (status, _) => failures.push(status),
            }
        }
    }
    let create_wall = started.elapsed();
    create_times.sort();
    println!(
        "creates: {} in {:.2} s ({:.0}/s); {} failed {:?}; latency p50 {}, p99 {}, max {}",
        create_times.len(),
        create_wall.as_secs_f64(),
        create_times.len() as f64 / create_wall.as_secs_f64(),
        failures.len(),
        failures.iter().collect::<BTreeSet<_>>(),
        ms(percentile(&create_times, 0.5)),
        ms(percentile(&create_times, 0.99)),
        ms(*create_times.last().unwrap()),
    );

    // Every one is listed (the first user is the admin and sees all), paging by cursor.
    let mut admin = Client::connect(&addr).await;
    admin.token = Some(admin_token);
    let mut listed = BTreeSet::new();
    let mut uri = "/api/v1/sessions?limit=500".to_owned();
    loop {
        let (status, page) = admin.call("GET", &uri, None).await;
        assert_eq!(status, 200, "{page}");
        for s in page["sessions"].as_array().unwrap() {
            listed.insert(s["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/sessions?limit=500&cursor={c}"),
            None => break,
        }
    }
    let missing = created.difference(&listed).count();
    println!(
        "listed afterwards: {} of {} created, {missing} missing",
        listed.len(),
        created.len()
    );

    // Let the runner finish them, so the listing is measured on a quiet server.
    let drain = Instant::now();
    while state.runner().held() > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "runner drained the queue in {:.2} s",
        drain.elapsed().as_secs_f64()
    );

    // Up to 10,000 stored, spread over the users.
    let base = 1_790_000_000_000_000_000_i64;
    for n in created.len()..STORED {
        let ts = Timestamp::from_nanos(base + i64::try_from(n).unwrap() * 1_000_000);
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&(n as u64).to_le_bytes());
        store
            .create_session(&NewSession {
                id: openbell_model::SessionId::from_parts(ts, random).unwrap(),
                kind: SessionKind::Backtest,
                name: format!("stored {n}"),
                owner_id: Some(user_ids[n % CLIENTS]),
                config: CONFIG.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .await
            .unwrap();
    }

    // GET /sessions from 50 clients at once: first pages, a filter, and a later page.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut c in clients {
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut errors = 0;
            let mut cursor: Option<String> = None;
            for n in 0..LISTS_PER_CLIENT {
                // The default page (50): the newest, the next ones by cursor, and a filter.
                let uri = match (n % 3, &cursor) {
                    (1, _) => "/api/v1/sessions?status=completed".to_owned(),
                    (2, Some(c)) => format!("/api/v1/sessions?cursor={c}"),
                    _ => "/api/v1/sessions".to_owned(),
                };
                let t = Instant::now();
                let (status, page) = c.raw("GET", &uri, None).await;
                times.push(t.elapsed());
                if status >= 500 {
                    errors += 1;
                }
                cursor = next_cursor(&page).or(cursor);
            }
            (times, errors)
        }));
    }
    let mut times = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (mut t, e) = t.await.unwrap();
        times.append(&mut t);
        errors += e;
    }
    let wall = started.elapsed();
    times.sort();
    let stored = store
        .session_counts()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum::<i64>();
    println!(
        "GET /sessions with {stored} stored: {} requests in {:.2} s ({:.0}/s), {errors} 5xx; p50 {}, p90 {}, p99 {}, max {}",
        times.len(),
        wall.as_secs_f64(),
        times.len() as f64 / wall.as_secs_f64(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap()),
    );
    state.shut_down("the load test ended").await;
    store.close().await;
    if !failures.is_empty() || missing > 0 || errors > 0 {
        eprintln!(
            "FAILED: {} creates failed, {missing} sessions missing, {errors} 5xx",
            failures.len()
        );
        std::process::exit(1);
    }
}
