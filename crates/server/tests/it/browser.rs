//! The web UI end to end in real headless Chromium, driven over WebDriver (chromedriver):
//! register, log out and in again, start a backtest from the UI, watch it reach `completed`,
//! and find the equity chart and the fills table on its page. Screenshots of each step are
//! written to `$OPENBELL_E2E_ARTIFACTS` (default: `screenshots/` under Cargo's test temporary
//! folder). Without Chromium and chromedriver the test prints that it was skipped; under
//! `CI=true` it fails instead.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::runner::{app, bars};
use crate::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The config the test pastes into the new-backtest form.
const CONFIG: &str = "[session]\nname = \"from the browser\"\nstart = \"2024-01-02\"\nend = \"2024-02-29\"\n[universe]\nsymbols = [\"SIM001\", \"SIM002\", \"SIM003\"]\n[strategy]\nname = \"sma_cross\"\nfast = 5\nslow = 20\nqty = 10\n";

/// One HTTP/1.1 exchange with chromedriver: (status, JSON body).
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then exactly the body it announces (chromedriver may keep the
    // connection open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "chromedriver closed the connection mid-response");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let lower = head.to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        while payload.len() < len {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "chromedriver closed the connection mid-body");
            payload.extend_from_slice(&buf[..n]);
        }
        payload.truncate(len);
    } else if lower.contains("transfer-encoding: chunked") {
        while !payload.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            payload.extend_from_slice(&buf[..n]);
        }
        payload = unchunk(&payload);
    } else {
        stream.read_to_end(&mut payload).unwrap();
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_slice(&payload).unwrap_or(Value::Null),
    )
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..end])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}

/// A browser session over WebDriver.
struct Browser {
    port: u16,
    session: String,
    driver: Child,
    shots: PathBuf,
}

/// The key that presses Enter.
const ENTER: &str = "\u{E007}";

impl Browser {
    fn start(shots: PathBuf) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--window-size=1366,900"]
            }
        }}});
        let (status, body) = http(port, "POST", "/session", Some(&caps));
        assert_eq!(status, 200, "new WebDriver session: {body}");
        let session = body["value"]["sessionId"].as_str().unwrap().to_owned();
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            port,
            session,
            driver,
            shots,
        }
    }

    fn call(&self, method: &str, tail: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{tail}", self.session);
        let (status, answer) = http(self.port, method, &path, body);
        assert_eq!(status, 200, "{method} {tail}: {answer}");
        answer["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// Waits (10 s at most) until the page's URL satisfies `ok`, as a navigation a click
    /// started completes; returns it.
    fn wait_url(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url();
            if ok(&url) {
                return url;
            }
            assert!(Instant::now() < deadline, "{what}: still at {url}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The element matching `css`, if there is one now.
    fn find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let (status, answer) = http(
            self.port,
            "POST",
            &path,
            Some(&json!({"using": "css selector", "value": css})),
        );
        (status == 200).then(|| {
            answer["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
    }

    fn count(&self, css: &str) -> usize {
        self.call(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .map_or(0, Vec::len)
    }

    fn element(&self, css: &str) -> String {
        self.find(css)
            .unwrap_or_else(|| panic!("no {css} on {}", self.url()))
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(&json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/click"), Some(&json!({})));
    }

    fn text(&self, css: &str) -> Option<String> {
        let e = self.find(css)?;
        let path = format!("/session/{}/element/{e}/text", self.session);
        let (status, answer) = http(self.port, "GET", &path, None);
        (status == 200).then(|| answer["value"].as_str().unwrap_or_default().to_owned())
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let png = base64_decode(self.call("GET", "/screenshot", None).as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn shots_dir() -> PathBuf {
    std::env::var_os("OPENBELL_E2E_ARTIFACTS").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    )
}

/// Drives the UI at `base` (blocking: WebDriver calls).
fn drive(base: &str, shots: &Path) {
    let b = Browser::start(shots.to_owned());

    // 1. Register (the first account), log out, and log in again by keyboard.
    b.go(&format!("{base}/register"));
    b.type_into("#username", "alice");
    b.type_into("#password", "correct horse");
    b.screenshot("01-register");
    b.click("button[type=submit]");
    b.wait_url("after register", |u| u.ends_with("/sessions"));
    assert_eq!(b.text("h1").as_deref(), Some("Sessions"));
    b.click("nav form button");
    b.wait_url("after logout", |u| u.contains("/login"));
    b.type_into("#username", "alice");
    b.type_into("#password", &format!("correct horse{ENTER}"));
    b.wait_url("after login", |u| u.ends_with("/sessions"));
    b.screenshot("02-sessions-empty");

    // 2. Start a backtest from the UI, with a pasted config.
    b.go(&format!("{base}/sessions/new"));
    b.type_into("#name", "from the browser");
    b.type_into("#config", CONFIG);
    b.screenshot("03-new-backtest");
    b.click("#start");
    let detail = b.wait_url("after start", |u| u.contains("/sessions/0"));

    // 3. Watch it reach completed (the page follows the session live, then reloads).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut shot_running = false;
    loop {
        let status = b.text("#status").unwrap_or_default();
        if status == "completed" {
            break;
        }
        assert!(
            !matches!(status.as_str(), "failed" | "stopped"),
            "the session ended {status}: {:?}",
            b.text("#reason")
        );
        if !shot_running && status == "running" {
            b.screenshot("04-running");
            shot_running = true;
        }
        assert!(Instant::now() < deadline, "still {status}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // 4. Its detail page: the equity chart and the fills table.
    b.go(&detail);
    assert_eq!(b.text("#status").as_deref(), Some("completed"));
    assert!(b.find("#equity-chart svg path").is_some(), "no equity line");
    assert!(b.find("#drawdown-chart svg").is_some(), "no drawdown chart");
    assert!(
        b.find("#price-chart svg polygon").is_some(),
        "no fill markers"
    );
    assert!(b.count("#fills-table tbody tr") > 0, "no fills rows");
    assert!(
        b.text("#summary")
            .unwrap_or_default()
            .contains("Total return")
    );
    b.screenshot("05-completed");

    // 5. The history lists it; the data catalog shows the store and its heat-map.
    b.go(&format!("{base}/sessions?status=completed"));
    assert!(
        b.text("#sessions-table")
            .unwrap_or_default()
            .contains("from the browser")
    );
    b.screenshot("06-history");
    b.go(&format!("{base}/data"));
    assert!(b.count("#quality-heatmap rect") > 0, "no heat-map cells");
    b.screenshot("07-data");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_registers_starts_a_backtest_and_shows_it_completed() {
    let test = "the_web_ui_registers_starts_a_backtest_and_shows_it_completed";
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(tool).is_file() {
            openbell_testkit::skip(
                test,
                &format!("{tool} is missing (Debian packages chromium and chromium-driver)"),
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let (store, _) = Store::open(&url, &PoolConfig::default()).await.unwrap();
    let (state, router) = app(&store, 2, 10);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    bars();
    let shots = shots_dir();
    let driven = tokio::task::spawn_blocking(move || drive(&base, &shots)).await;
    state.shut_down("the test ended").await;
    server.abort();
    store.close().await;
    if let Err(e) = driven {
        std::panic::resume_unwind(e.into_panic());
    }
    eprintln!("screenshots in {}", shots_dir().display());
}
