//! Backtests are recorded in the session registry, on SQLite and on PostgreSQL, and
//! `openbell sessions` and `openbell db` read and manage them.

use std::path::Path;
use std::process::Command;

use openbell_testkit::PgDatabase;

use crate::{openbell, stderr, stdout};

fn generated(home: &Path) -> String {
    crate::generate(home, 4, 10, "2024-01-02", 3)
}

fn run_ok(home: &Path, args: &[&str]) -> String {
    let out = openbell(home, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn backtests_are_recorded_and_the_registry_lists_shows_and_deletes_them() {
    let home = tempfile::tempdir().unwrap();
    let data = generated(home.path());
    let config = home.path().join("hold.toml");
    std::fs::write(
        &config,
        "[session]\nname = \"hold\"\nstart = \"2024-01-02\"\nend = \"2024-01-12\"\n[universe]\nall = true\n[strategy]\nname = \"buy_and_hold\"\nqty = 10\n",
    )
    .unwrap();
    let (urls, _pg) = registries(home.path(), "recorded");
    for url in &urls {
        let id = recorded_backtest(home.path(), &config, &data, url, &[]);
        let listed = run_ok(home.path(), &["sessions", "ls", "--db", url]);
        assert!(
            listed.contains(&id) && listed.contains("completed") && listed.contains("hold"),
            "{listed}"
        );
        assert!(listed.ends_with("1 sessions\n"), "{listed}");
        let shown = run_ok(home.path(), &["sessions", "show", &id, "--db", url]);
        assert!(shown.contains("status    completed"), "{shown}");
        assert!(
            shown.contains("fills 4,") && shown.contains("orders 4,"),
            "{shown}"
        );
        assert!(
            shown.contains("days      9 (2024-01-02 to 2024-01-12)"),
            "{shown}"
        );
        let none = run_ok(
            home.path(),
            &["sessions", "ls", "--status", "failed", "--db", url],
        );
        assert!(none.ends_with("0 sessions\n"), "{none}");
        let status = run_ok(home.path(), &["db", "status", "--db", url]);
        assert!(status.contains("(up to date)"), "{status}");
        // PostgreSQL says how its batches check their session (the tests' role is a superuser).
        assert_eq!(
            status.contains("writes    session checked once per batch"),
            url.starts_with("postgres"),
            "{status}"
        );
        // A finished session cannot be stopped; it can be deleted, with everything it made.
        let stop = openbell(home.path(), &["sessions", "stop", &id, "--db", url]);
        assert!(!stop.status.success());
        assert!(stderr(&stop).contains("completed"), "{}", stderr(&stop));
        run_ok(home.path(), &["sessions", "rm", &id, "--db", url]);
        let gone = openbell(home.path(), &["sessions", "show", &id, "--db", url]);
        assert!(stderr(&gone).contains("not found"), "{}", stderr(&gone));
    }
}

#[test]
fn the_default_registry_is_a_sqlite_file_in_the_home_and_db_migrate_reports() {
    let home = tempfile::tempdir().unwrap();
    let text = run_ok(home.path(), &["db", "migrate"]);
    assert!(
        text.contains("openbell.db: applied 1, 2, 3, 4; schema at version 4"),
        "{text}"
    );
    assert!(home.path().join("openbell.db").is_file());
    let again = run_ok(home.path(), &["db", "migrate"]);
    assert!(again.contains("up to date"), "{again}");
}

#[test]
fn registry_errors_are_one_line() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["sessions", "show", "nope"][..], "not a session id"),
        (
            &["sessions", "show", "01a1fddf-c81e-7f69-910a-36f61ea70830"][..],
            "not found",
        ),
        (&["sessions", "ls", "--kind", "livee"][..], "--kind"),
        (&["sessions", "ls", "--db", "mysql://x"][..], "mysql://x"),
        (
            &[
                "db",
                "status",
                "--db",
                "postgres://root:secret@127.0.0.1:1/none",
            ][..],
            "root:***@",
        ),
    ];
    crate::assert_one_line_errors(home.path(), cases);
    for (var, value) in [
        ("OPENBELL_DB_ACQUIRE_SECS", "soon"),
        ("OPENBELL_LEASE_SECS", "0"),
    ] {
        let bad = crate::openbell_env(home.path(), &[(var, Path::new(value))], &["sessions", "ls"]);
        assert!(!bad.status.success());
        let err = stderr(&bad);
        assert!(
            err.contains(&format!("{var}={value:?}")) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
}

/// The registries every test here runs on: a SQLite file in `home`, and a fresh PostgreSQL
/// database when one is reachable (dropped with the returned handle).
fn registries(home: &Path, name: &str) -> (Vec<String>, Option<PgDatabase>) {
    let sqlite = format!("sqlite://{}", home.join("registry.db").display());
    let pg = PgDatabase::create(name);
    let mut urls = vec![sqlite];
    urls.extend(pg.as_ref().map(PgDatabase::url));
    (urls, pg)
}

/// Runs `openbell backtest` on `config` recorded at `url` (plus `extra` arguments) and returns
/// its session id.
fn recorded_backtest(home: &Path, config: &Path, data: &str, url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "backtest",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data,
        "--db",
        url,
    ];
    args.extend_from_slice(extra);
    session_of(&run_ok(home, &args))
}

/// The session id a backtest prints on its first line.
fn session_of(text: &str) -> String {
    text.lines()
        .next()
        .unwrap()
        .trim_start_matches("session")
        .trim()
        .to_owned()
}

/// `openbell` with extra environment, not waited for.
fn spawn(home: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openbell"));
    cmd.args(args)
        .env("OPENBELL_HOME", home)
        .env_remove("OPENBELL_DATA")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawning openbell")
}

fn with_lease(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args(args)
        .env("OPENBELL_HOME", home)
        .env("OPENBELL_LEASE_SECS", "2")
        .output()
        .unwrap()
}

fn rows_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("rows"))
        .unwrap_or_default()
        .to_owned()
}

/// 40 symbols x 250 days of generated bars (about 3.9 million) and a config trading all of them
/// with `sma_cross`: a backtest long enough to act on while it runs, whichever registry records
/// it. Returns (data folder, config path).
fn long_backtest(home: &Path, seed: u32) -> (String, std::path::PathBuf) {
    let data = crate::generate(home, 40, 250, "2024-01-02", seed);
    let long = home.join("long.toml");
    std::fs::write(
        &long,
        "[session]\nstart = \"2024-01-02\"\nend = \"2024-12-27\"\n[universe]\nall = true\n[strategy]\nname = \"sma_cross\"\n[broker]\ninitial_cash = 10000000\n",
    )
    .unwrap();
    (data, long)
}

/// Polls the registry at `url` until a session is running with fills committed; returns its
/// id and fill count. Fails if the backtest ends first, or after a minute.
fn wait_running(home: &Path, url: &str, child: &mut std::process::Child) -> (String, i64) {
    let started = std::time::Instant::now();
    loop {
        let listed = run_ok(
            home,
            &["sessions", "ls", "--status", "running", "--db", url],
        );
        if let Some(line) = listed.lines().nth(1).filter(|l| l.contains("running")) {
            let id = line[..36].to_owned();
            let fills = fills_of(&run_ok(home, &["sessions", "show", &id, "--db", url]));
            if fills > 0 {
                return (id, fills);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("{url}: the backtest ended ({status}) before it was seen running: {err}");
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "{url}: no running session with fills within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_backtest_killed_midway_is_failed_with_the_reason_after_restart_and_nothing_else_changes() {
    let home = tempfile::tempdir().unwrap();
    let (data, long) = long_backtest(home.path(), 5);
    let short = home.path().join("short.toml");
    std::fs::write(
        &short,
        "[session]\nstart = \"2024-01-02\"\nend = \"2024-01-10\"\n[universe]\nall = true\n[strategy]\nname = \"buy_and_hold\"\nqty = 5\n",
    )
    .unwrap();
    let (urls, _pg) = registries(home.path(), "killed");
    for url in &urls {
        // A finished session whose rows must not change.
        let kept = recorded_backtest(home.path(), &short, &data, url, &[]);
        let before = rows_line(&run_ok(
            home.path(),
            &["sessions", "show", &kept, "--db", url],
        ));

        let mut child = spawn(
            home.path(),
            &[("OPENBELL_LEASE_SECS", "2")],
            &[
                "backtest",
                "--config",
                long.to_str().unwrap(),
                "--data",
                &data,
                "--db",
                url,
            ],
        );
        // Wait until it is running with records committed, then kill it without warning.
        let (killed, committed) = wait_running(home.path(), url, &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        // After the lease runs out, the next start marks it failed with the reason.
        std::thread::sleep(std::time::Duration::from_millis(2_500));
        let shown = with_lease(home.path(), &["sessions", "show", &killed, "--db", url]);
        let text = stdout(&shown);
        assert!(text.contains("status    failed"), "{url}: {text}");
        assert!(text.contains("stopped renewing its lease"), "{url}: {text}");
        assert!(
            String::from_utf8_lossy(&shown.stderr).contains(&format!("session {killed} failed")),
            "{url}"
        );
        // Every row committed before the kill is still there.
        assert!(fills_of(&text) >= committed, "{url}: {text}");
        // The other session is exactly as it was.
        let after_show = run_ok(home.path(), &["sessions", "show", &kept, "--db", url]);
        assert!(after_show.contains("status    completed"), "{after_show}");
        assert_eq!(rows_line(&after_show), before, "{url}");
    }
}

#[test]
fn sessions_stop_brings_a_running_backtest_to_a_safe_point_and_marks_it_stopped() {
    let home = tempfile::tempdir().unwrap();
    let (data, long) = long_backtest(home.path(), 6);
    let (urls, _pg) = registries(home.path(), "stopped");
    for url in &urls {
        let mut child = Command::new(env!("CARGO_BIN_EXE_openbell"))
            .args([
                "backtest",
                "--config",
                long.to_str().unwrap(),
                "--data",
                &data,
                "--db",
                url,
            ])
            .env("OPENBELL_HOME", home.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Stopped once fills are committed, so the safe point has rows to keep.
        let (id, committed) = wait_running(home.path(), url, &mut child);
        let stop = run_ok(home.path(), &["sessions", "stop", &id, "--db", url]);
        assert!(stop.contains("is stopping"), "{stop}");
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("stopped   on request after"), "{text}");
        let shown = run_ok(home.path(), &["sessions", "show", &id, "--db", url]);
        assert!(shown.contains("status    stopped"), "{shown}");
        assert!(
            shown.contains("reason    stopped on request after"),
            "{shown}"
        );
        assert!(fills_of(&shown) >= committed, "{shown}");
    }
}

#[test]
fn sessions_export_writes_the_same_files_as_backtest_out() {
    let home = tempfile::tempdir().unwrap();
    let data = crate::generate(home.path(), 8, 62, "2024-01-02", 7);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let (urls, _pg) = registries(home.path(), "export");
    for (n, url) in urls.iter().enumerate() {
        let export = |id: &str, dir: &Path| {
            run_ok(
                home.path(),
                &[
                    "sessions",
                    "export",
                    id,
                    "--out",
                    dir.to_str().unwrap(),
                    "--data",
                    &data,
                    "--db",
                    url,
                ],
            );
        };
        for example in ["demo.toml", "vwap_reversion.toml"] {
            let config = examples.join(example);
            let (a, b) = (
                home.path().join(format!("a{n}{example}")),
                home.path().join(format!("b{n}{example}")),
            );
            let id = recorded_backtest(
                home.path(),
                &config,
                &data,
                url,
                &["--out", a.to_str().unwrap()],
            );
            export(&id, &b);
            for file in crate::OUTPUTS {
                let (x, y) = (
                    std::fs::read(a.join(file)).unwrap(),
                    std::fs::read(b.join(file)).unwrap(),
                );
                assert!(
                    x == y,
                    "{url} {example}: exported {file} differs from backtest --out"
                );
            }
            // Without --out the run keeps no record of its own: everything reaches the
            // registry as it happens, and an export of it has the same rows.
            let id = recorded_backtest(home.path(), &config, &data, url, &[]);
            let c = home.path().join(format!("c{n}{example}"));
            export(&id, &c);
            for file in crate::OUTPUTS.iter().filter(|f| f.ends_with(".csv")) {
                let (x, z) = (
                    std::fs::read(a.join(file)).unwrap(),
                    std::fs::read(c.join(file)).unwrap(),
                );
                assert!(
                    x == z,
                    "{url} {example}: {file} of a run without --out differs"
                );
            }
            let summary = |dir: &Path| -> serde_json::Value {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap())
                        .unwrap();
                for key in ["session_id", "elapsed_ms", "bars_per_second"] {
                    v.as_object_mut().unwrap().remove(key);
                }
                v
            };
            assert_eq!(summary(&a), summary(&c), "{url} {example}");
        }
    }
    let missing = openbell(
        home.path(),
        &[
            "sessions",
            "export",
            "01a1fddf-c81e-7f69-910a-36f61ea70830",
            "--out",
            "/tmp/x",
        ],
    );
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and
/// restored: the database becoming unreachable mid-session, without stopping the server other
/// tests share.
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(target: &'static str) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, live2) = (std::sync::Arc::clone(&up), std::sync::Arc::clone(&live));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                // Checked again under the lock `cut` holds: a pair opened while the cut runs is
                // either shut down by it or dropped here, never left working through it.
                let mut keep = live2.lock().unwrap();
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                keep.push(client.try_clone().unwrap());
                keep.push(server.try_clone().unwrap());
                drop(keep);
                let (mut c_in, mut c_out) = (client.try_clone().unwrap(), client);
                let (mut s_in, mut s_out) = (server.try_clone().unwrap(), server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Self { port, up, live }
    }

    fn cut(&self) {
        let mut live = self.live.lock().unwrap();
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in live.drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn fills_of(shown: &str) -> i64 {
    rows_line(shown)
        .split(", ")
        .find_map(|part| {
            part.trim_start_matches("rows")
                .trim()
                .strip_prefix("fills ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn postgres_unreachable_mid_session_ends_it_failed_with_the_reason_and_keeps_committed_rows() {
    let Some(pg) = PgDatabase::create("dbdown") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let (data, long) = long_backtest(home.path(), 8);
    let direct = pg.url();
    let proxy = Proxy::start("127.0.0.1:5432");
    let via_proxy = format!("postgres://root@127.0.0.1:{}/{}", proxy.port, pg.name());
    run_ok(home.path(), &["db", "migrate", "--db", &direct]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args([
            "backtest",
            "--config",
            long.to_str().unwrap(),
            "--data",
            &data,
            "--db",
            &via_proxy,
        ])
        .env("OPENBELL_HOME", home.path())
        .env("OPENBELL_LEASE_SECS", "4")
        // A call that cannot get a connection fails after a second: the outage below is longer.
        .env("OPENBELL_DB_ACQUIRE_SECS", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some of its records are committed.
    let (id, committed) = wait_running(home.path(), &direct, &mut child);
    proxy.cut();
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    proxy.restore();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the backtest claimed success without its records"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: "), "{err}");
    let shown = run_ok(home.path(), &["sessions", "show", &id, "--db", &direct]);
    assert!(shown.contains("status    failed"), "{shown}");
    assert!(
        shown.contains("reason    the registry writer stopped")
            || shown.contains("reason    writing the session"),
        "{shown}"
    );
    assert!(fills_of(&shown) >= committed, "{shown}");
}
