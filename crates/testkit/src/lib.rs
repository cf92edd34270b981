//! Test support shared by openbell's crates.
//!
//! The real historical bars live outside the repository (`../shared/data/real/` beside the
//! checkout, or wherever `OPENBELL_REAL_DATA` points). Tests that use them call
//! [`real_data_dir`]: when the folder is absent it prints that the test was skipped and why,
//! and under `CI=true` it panics instead, so CI can never pass without the real-data checks.
//! Tests that need PostgreSQL take a [`PgDatabase`] of their own, which skips the same way.

mod postgres;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::postgres::PgDatabase;

/// The environment variable that overrides the real-data location.
pub const REAL_DATA_ENV: &str = "OPENBELL_REAL_DATA";

/// The workspace root (two levels above the manifest of the crate under test). Cargo names
/// that manifest's folder when it runs a test; the folder this crate was built in is the
/// fallback. The first is right even when the build came from a cache another checkout of the
/// workspace filled.
#[must_use]
pub fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../..")
}

/// True when running under CI (`CI=true`), where skipping is a failure.
#[must_use]
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing prerequisite: prints a skip line and returns, or panics under CI.
///
/// # Panics
/// Under `CI=true`, always: CI must not pass without the check.
pub fn skip(test: &str, why: &str) {
    assert!(!in_ci(), "{test}: cannot run under CI=true: {why}");
    // Written to the handle, not with `eprintln!`, so that the test harness's output capture
    // does not swallow it: a skip must be visible in a normal test run.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The real-data folder, or `None` after reporting the skip (see [`skip`]).
///
/// # Panics
/// Under `CI=true` when the folder is missing.
#[must_use]
pub fn real_data_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(REAL_DATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data/real"));
    if dir.join("SOURCES.md").is_file() {
        Some(dir)
    } else {
        skip(
            test,
            &format!(
                "real data not found at {} (set {REAL_DATA_ENV})",
                dir.display()
            ),
        );
        None
    }
}

/// One row of a real-data CSV (`ts,symbol,open,high,low,close,volume`), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvBar {
    /// 1-based line number in the file.
    pub line: usize,
    /// ISO-8601 UTC open time.
    pub ts: String,
    /// The symbol.
    pub symbol: String,
    /// Open, high, low, close, volume as decimal text.
    pub fields: [String; 5],
}

/// Reads a real-data CSV by file name, e.g. `"SPY_1m.csv"`.
///
/// # Panics
/// When the file is missing or malformed: the shared data set is a fixed input.
#[must_use]
pub fn read_real_csv(dir: &Path, name: &str) -> Vec<CsvBar> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split(',').collect();
            assert_eq!(
                cols.len(),
                7,
                "{}:{}: expected 7 columns",
                path.display(),
                i + 1
            );
            CsvBar {
                line: i + 1,
                ts: cols[0].to_owned(),
                symbol: cols[1].to_owned(),
                fields: [cols[2], cols[3], cols[4], cols[5], cols[6]].map(str::to_owned),
            }
        })
        .collect()
}
