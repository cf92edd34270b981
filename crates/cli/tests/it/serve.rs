//! `openbell serve`: the binary listens, answers, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

/// One HTTP/1.1 request on a fresh connection; returns the whole response text.
fn http(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_answers_over_tcp_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
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
    // The account it registered is in the registry the next process opens.
    assert!(home.path().join("openbell.db").exists());
}
