//! The `openbell` binary, run as a user runs it.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backtest;
mod calendar;
mod custom_strategy;
mod data;
mod indicator;
mod replay;
mod serve;
mod sessions;

use std::path::Path;
use std::process::{Command, Output};

/// Every file `backtest --out` (and `sessions export`) writes.
pub(crate) const OUTPUTS: [&str; 8] = [
    "summary.json",
    "fills.csv",
    "orders.csv",
    "trades.csv",
    "equity.csv",
    "quality.csv",
    "scans.csv",
    "report.html",
];

/// Runs `openbell` with `args`, with `OPENBELL_HOME` pointed at `home`.
pub(crate) fn openbell(home: &Path, args: &[&str]) -> Output {
    openbell_env(home, &[], args)
}

/// Runs `openbell` with extra environment variables.
pub(crate) fn openbell_env(home: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_openbell"));
    cmd.args(args)
        .env("OPENBELL_HOME", home)
        .env_remove("OPENBELL_DATA");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().expect("running openbell")
}

/// Generates `symbols` x `days` trading days of sample 1m bars from `start` with `seed` into
/// `<home>/data` (the default bar store of that home); returns the folder.
pub(crate) fn generate(home: &Path, symbols: u32, days: u32, start: &str, seed: u32) -> String {
    let data = home.join("data");
    let out = openbell(
        home,
        &[
            "data",
            "--data",
            data.to_str().unwrap(),
            "generate",
            "--symbols",
            &symbols.to_string(),
            "--days",
            &days.to_string(),
            "--start",
            start,
            "--seed",
            &seed.to_string(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    data.to_str().unwrap().to_owned()
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Runs each failing command and checks its error: a non-zero exit, nothing on stdout, and one
/// `error: ` line on stderr that contains the expected text.
pub(crate) fn assert_one_line_errors(home: &Path, cases: &[(&[&str], &str)]) {
    for (args, needle) in cases {
        let out = openbell(home, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err} lacks {needle}");
    }
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn help_and_version() {
    let home = tempfile::tempdir().unwrap();
    let help = openbell(home.path(), &["--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("calendar"), "{}", stdout(&help));
    let version = openbell(home.path(), &["--version"]);
    assert_eq!(
        stdout(&version).trim(),
        format!("openbell {}", env!("CARGO_PKG_VERSION"))
    );
    for sub in [
        &["calendar", "--help"][..],
        &["calendar", "days", "--help"],
        &["calendar", "next", "--help"],
    ] {
        let out = openbell(home.path(), sub);
        assert!(out.status.success(), "{sub:?}");
        assert!(stdout(&out).contains("Usage:"), "{sub:?}");
    }
}
