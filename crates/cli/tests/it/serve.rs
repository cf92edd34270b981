//! `openbell serve`: the binary listens, answers, runs sessions, and on SIGTERM stops the one
//! running at a safe point, records why, and exits cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// One HTTP/1.1 request on a fresh connection; returns the whole response text.
fn http(addr: &str, method: &str, path: &str, body: &str) -> String {
    http_as(addr, method, path, body, None)
}

/// [`http`] with a bearer token.
fn http_as(addr: &str, method: &str, path: &str, body: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// `openbell login` as alice, the password piped in.
fn cli_login(addr: &str, home: &std::path::Path, password: &str) -> std::process::Output {
    let mut login = Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args([
            "login",
            "--server",
            &format!("http://{addr}"),
            "--username",
            "alice",
            "--password-stdin",
        ])
        .env("OPENBELL_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(login.stdin.take().unwrap(), "{password}").unwrap();
    login.wait_with_output().unwrap()
}

/// The JSON body of a response.
fn json_body(response: &str) -> serde_json::Value {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

#[test]
fn serve_answers_over_tcp_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let generated = Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args(["data", "generate", "--symbols", "12", "--days", "125"])
        .env("OPENBELL_HOME", home.path())
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("OPENBELL_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "openbell serving http://127.0.0.1:PORT/api/v1 (registry ...)"
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let health = http(&addr, "GET", "/healthz", "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = http(&addr, "GET", "/readyz", "");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("\"ready\""),
        "{ready}"
    );
    let register = http(
        &addr,
        "POST",
        "/api/v1/auth/register",
        r#"{"username":"alice","password":"correct horse"}"#,
    );
    assert!(register.starts_with("HTTP/1.1 201"), "{register}");
    let denied = http(&addr, "GET", "/api/v1/sessions", "");
    assert!(
        denied.starts_with("HTTP/1.1 401") && denied.contains("\"unauthorized\""),
        "{denied}"
    );

    // `openbell login` keeps a token for the command line, readable by its owner only;
    // `openbell logout` revokes it and forgets it.
    let done = cli_login(&addr, home.path(), "correct horse");
    assert!(done.status.success(), "{done:?}");
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("logged in to"),
        "{done:?}"
    );
    let credentials = home.path().join("credentials.json");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&credentials).unwrap()).unwrap();
    let token = kept["token"].as_str().unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let me = http_as(&addr, "GET", "/api/v1/me", "", Some(&token));
    assert!(
        me.starts_with("HTTP/1.1 200") && me.contains("alice"),
        "{me}"
    );
    let logout = Command::new(env!("CARGO_BIN_EXE_openbell"))
        .arg("logout")
        .env("OPENBELL_HOME", home.path())
        .output()
        .unwrap();
    assert!(logout.status.success(), "{logout:?}");
    assert!(!credentials.exists());
    let revoked = http_as(&addr, "GET", "/api/v1/me", "", Some(&token));
    assert!(revoked.starts_with("HTTP/1.1 401"), "{revoked}");
    // A wrong password is an error that says so, and keeps nothing.
    let failed = cli_login(&addr, home.path(), "wrong horse");
    assert!(!failed.status.success());
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("wrong username or password"),
        "{failed:?}"
    );
    assert!(!credentials.exists());

    let login = http(
        &addr,
        "POST",
        "/api/v1/auth/login",
        r#"{"username":"alice","password":"correct horse"}"#,
    );
    let token = json_body(&login)["token"].as_str().unwrap().to_owned();
    let config = "[session]\nstart = \"2024-01-02\"\nend = \"2024-06-28\"\n[universe]\nall = true\n[strategy]\nname = \"sma_cross\"\nfast = 5\nslow = 20\nqty = 10\n";
    let body = serde_json::json!({"kind": "backtest", "name": "long", "config": config});
    let created = http_as(
        &addr,
        "POST",
        "/api/v1/sessions",
        &body.to_string(),
        Some(&token),
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let id = json_body(&created)["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let row = json_body(&http_as(
            &addr,
            "GET",
            &format!("/api/v1/sessions/{id}"),
            "",
            Some(&token),
        ));
        if row["status"] == "running" {
            break;
        }
        assert!(
            row["status"] == "queued" || row["status"] == "starting",
            "{row}"
        );
        assert!(std::time::Instant::now() < deadline, "{row}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status} after SIGTERM");
    // The session it was running is stopped with the reason, in the registry the next
    // process opens.
    let shown = Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args(["sessions", "show", &id])
        .env("OPENBELL_HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{shown:?}");
    assert!(text.contains("stopped"), "{text}");
    assert!(text.contains("the server shut down after"), "{text}");
}
