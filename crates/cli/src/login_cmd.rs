//! `openbell login` and `openbell logout`: a bearer token from an `openbell serve` for the
//! command line, kept in `$OPENBELL_HOME/credentials.json` (readable by its owner only).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use openbell_server::run::home::openbell_home;
use serde_json::{Value, json};

/// The server when neither `--server` nor `$OPENBELL_SERVER` names one.
const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The server (default: $OPENBELL_SERVER, else http://127.0.0.1:8000).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The username (asked for when not given).
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
    /// Read the password from the first line of standard input instead of asking for it.
    #[arg(long)]
    password_stdin: bool,
}

/// Where the token is kept.
fn credentials_path() -> PathBuf {
    openbell_home().join("credentials.json")
}

/// `host:port` and the path prefix of an `http://` server URL.
fn endpoint(server: &str) -> Result<(String, String)> {
    let Some(rest) = server.strip_prefix("http://") else {
        bail!(
            "--server {server:?}: only http:// servers are supported (put a TLS proxy in front \
             of openbell serve and log in on the machine it runs on)"
        );
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        bail!("--server {server:?}: no host");
    }
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, format!("/{}", path.trim_end_matches('/'))))
}

/// One HTTP/1.1 request with a JSON body; the status and the JSON answer.
fn request(
    server: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let (authority, prefix) = endpoint(server)?;
    let mut stream =
        TcpStream::connect(&authority).with_context(|| format!("connecting to {server}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let path = format!("{}{path}", prefix.trim_end_matches('/'));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer of {server}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .with_context(|| format!("{server} did not answer HTTP"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{server} did not answer HTTP"))?;
    let json = serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null);
    Ok((status, json))
}

/// The API's error message in an answer, or the status.
fn failure(status: u16, answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

/// Reads one line of standard input, without its line ending.
fn read_line(prompt: Option<&str>, hidden: bool) -> Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if let Some(p) = prompt.filter(|_| terminal) {
        eprint!("{p}");
        std::io::stderr().flush()?;
    }
    // A password typed at a terminal is not echoed.
    let quiet = hidden && terminal && stty("-echo");
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if quiet {
        stty("echo");
        eprintln!();
    }
    read.context("reading standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn stty(mode: &str) -> bool {
    std::process::Command::new("stty")
        .arg(mode)
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn login(a: &LoginArgs, out: &mut dyn Write) -> Result<()> {
    let server = a
        .server
        .clone()
        .or_else(|| {
            std::env::var("OPENBELL_SERVER")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    endpoint(&server)?;
    let username = match &a.username {
        Some(u) => u.clone(),
        None => read_line(Some("username: "), false)?,
    };
    if !a.password_stdin && !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password on: pass --password-stdin and pipe it in");
    }
    let password = read_line(Some("password: "), true)?;
    let (status, answer) = request(
        &server,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&json!({"username": username, "password": password})),
    )?;
    if status != 200 {
        bail!(
            "logging in to {server} failed: {}",
            failure(status, &answer)
        );
    }
    let token = answer["token"]
        .as_str()
        .context("the server's answer has no token")?;
    let record = json!({
        "server": server,
        "username": answer["user"]["username"],
        "token": token,
        "expires_at": answer["expires_at"],
    });
    let path = credentials_path();
    std::fs::create_dir_all(openbell_home())
        .with_context(|| format!("creating {}", openbell_home().display()))?;
    write_private(&path, &serde_json::to_string_pretty(&record)?)?;
    writeln!(
        out,
        "logged in to {server} as {}; token stored in {} (expires {})",
        answer["user"]["username"].as_str().unwrap_or(&username),
        path.display(),
        answer["expires_at"].as_str().unwrap_or("-")
    )?;
    Ok(())
}

/// Writes `text` to `path`, readable and writable by the owner only.
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        // An existing file keeps its mode on open: narrow it too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
    }
    #[cfg(not(unix))]
    {
        options
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

pub(crate) fn logout(out: &mut dyn Write) -> Result<()> {
    let path = credentials_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            writeln!(out, "not logged in ({} does not exist)", path.display())?;
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let record: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let (Some(server), Some(token)) = (record["server"].as_str(), record["token"].as_str()) else {
        bail!("{} has no server or token", path.display());
    };
    let (status, answer) = request(server, "POST", "/api/v1/auth/logout", Some(token), None)?;
    // 401: the token had expired or was revoked already; it is gone either way.
    if status != 204 && status != 401 {
        bail!(
            "logging out of {server} failed: {}",
            failure(status, &answer)
        );
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    writeln!(out, "logged out of {server}; token revoked and removed")?;
    Ok(())
}
