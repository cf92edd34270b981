//! `openbell backtest` and `openbell demo` on generated data: every example config runs, runs
//! are byte-for-byte repeatable, and the report renders in a real browser.

use std::path::{Path, PathBuf};

use crate::{OUTPUTS, openbell, stderr, stdout};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The demo's sample data: 8 symbols x 62 trading days from 2024-01-02, seed 7.
fn generated(home: &Path) -> PathBuf {
    PathBuf::from(crate::generate(home, 8, 62, "2024-01-02", 7))
}

fn backtest(home: &Path, config: &Path, data: &Path, out: &Path) -> String {
    let run = openbell(
        home,
        &[
            "backtest",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        run.status.success(),
        "{}: {}",
        config.display(),
        stderr(&run)
    );
    stdout(&run)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_example_config_runs_and_writes_every_output() {
    let home = tempfile::tempdir().unwrap();
    let data = generated(home.path());
    let mut configs: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 5, "{configs:?}");
    for config in &configs {
        let out = home.path().join(config.file_stem().unwrap());
        let text = backtest(home.path(), config, &data, &out);
        assert!(text.contains("report    "), "{text}");
        for name in OUTPUTS {
            assert!(
                out.join(name).is_file(),
                "{} lacks {name}",
                config.display()
            );
        }
        let summary: serde_json::Value =
            serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
        for key in [
            "session_id",
            "strategy",
            "start",
            "end",
            "trading_days",
            "symbols",
            "bars_processed",
            "orders",
            "fills",
            "round_trips",
            "total_return",
            "cagr",
            "volatility",
            "sharpe",
            "sortino",
            "calmar",
            "max_drawdown",
            "win_rate",
            "profit_factor",
            "avg_win",
            "avg_loss",
            "exposure",
            "turnover",
            "trades",
            "commissions",
            "initial_equity",
            "final_equity",
            "realized_pnl",
            "data_fingerprint",
            "version",
            "elapsed_ms",
            "bars_per_second",
        ] {
            assert!(
                summary.get(key).is_some(),
                "{} summary lacks {key}",
                config.display()
            );
        }
        let fills = read(&out.join("fills.csv"));
        assert!(fills.starts_with("ts,symbol,side,qty,price,commission,order_id\n"));
        assert_eq!(
            summary["fills"].as_u64().unwrap() as usize,
            fills.lines().count() - 1
        );
        assert!(summary["bars_processed"].as_u64().unwrap() > 0);
        assert!(
            summary["fills"].as_u64().unwrap() > 0,
            "{} made no fills",
            config.display()
        );
        // Final equity = initial + realized - commissions + open positions' value change,
        // so with every position closed by trades.csv, trades sum to realized.
        let equity = read(&out.join("equity.csv"));
        let last = equity.lines().last().unwrap();
        assert!(
            last.contains(summary["final_equity"].as_str().unwrap()),
            "{last}"
        );
    }
}

#[test]
fn the_same_config_gives_byte_identical_fills_and_equity_and_matches_the_golden_file() {
    let home = tempfile::tempdir().unwrap();
    let data = generated(home.path());
    let config = examples().join("demo.toml");
    let (a, b) = (home.path().join("a"), home.path().join("b"));
    backtest(home.path(), &config, &data, &a);
    backtest(home.path(), &config, &data, &b);
    for name in OUTPUTS.iter().filter(|f| f.ends_with(".csv")) {
        assert!(
            read(&a.join(name)) == read(&b.join(name)),
            "{name} differs between runs"
        );
    }
    let sa: serde_json::Value = serde_json::from_str(&read(&a.join("summary.json"))).unwrap();
    let sb: serde_json::Value = serde_json::from_str(&read(&b.join("summary.json"))).unwrap();
    assert_eq!(sa["data_fingerprint"], sb["data_fingerprint"]);
    assert_ne!(sa["session_id"], sb["session_id"]);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/demo_fills.csv");
    if std::env::var_os("OPENBELL_BLESS").is_some() {
        std::fs::copy(a.join("fills.csv"), &golden).unwrap();
    }
    assert!(
        read(&a.join("fills.csv")) == read(&golden),
        "fills.csv of examples/demo.toml changed; if intended, rerun with OPENBELL_BLESS=1"
    );
}

#[test]
fn demo_generates_its_data_once_and_reports_where_the_report_is() {
    let home = tempfile::tempdir().unwrap();
    let first = openbell(home.path(), &["demo"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(
        text.starts_with("sample data: 8 symbols x 62 trading days"),
        "{text}"
    );
    assert!(text.contains("strategy  sma_cross"), "{text}");
    let report = home.path().join("demo/out/report.html");
    assert!(text.contains(&report.display().to_string()), "{text}");
    let html = read(&report);
    assert!(
        html.contains("<svg") && html.contains("Round trips"),
        "report lacks charts"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "the report must not load anything from the network"
    );
    assert!(
        !html.contains("<script"),
        "the report must not need scripts"
    );
    let second = openbell(home.path(), &["demo"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        !stdout(&second).contains("sample data:"),
        "{}",
        stdout(&second)
    );
}

#[test]
fn backtest_errors_are_one_line() {
    let home = tempfile::tempdir().unwrap();
    let no_strategy = home.path().join("no_strategy.toml");
    std::fs::write(
        &no_strategy,
        "[session]\nstart = \"2024-01-02\"\nend = \"2024-01-05\"\n[universe]\nall = true\n",
    )
    .unwrap();
    let bad = home.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[session]\nstart = \"2024-01-02\"\nend = \"2024-01-05\"\n[universe]\nall = true\n[strategy]\nname = \"sma_cross\"\nfast = 40\n",
    )
    .unwrap();
    let missing = home.path().join("missing.toml");
    let expected_bad = format!(
        "{}:6: strategy: fast (40) must be shorter than slow (30)",
        bad.display()
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["backtest", "--config", no_strategy.to_str().unwrap()][..],
            "no [strategy] table",
        ),
        (
            &["backtest", "--config", bad.to_str().unwrap()][..],
            &expected_bad,
        ),
        (
            &["backtest", "--config", missing.to_str().unwrap()][..],
            "reading config",
        ),
        (&["backtest"][..], "--config"),
    ];
    crate::assert_one_line_errors(home.path(), cases);
    // Nothing was recorded for configs that were refused.
    let listed = openbell(home.path(), &["sessions", "ls"]);
    assert!(
        stdout(&listed).ends_with("0 sessions\n"),
        "{}",
        stdout(&listed)
    );
}

/// The report renders in headless Chromium; the screenshot is kept with the test output.
#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        openbell_testkit::skip(
            "report rendering in Chromium",
            "no chromium on PATH (apt-get install chromium)",
        );
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let demo = openbell(home.path(), &["demo"]);
    assert!(demo.status.success(), "{}", stderr(&demo));
    let report = home.path().join("demo/out/report.html");
    let url = format!("file://{}", report.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
    ];
    let dom = std::process::Command::new(chromium)
        .args(flags)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<svg") && dom.contains("Summary") && dom.contains("Equity"),
        "{dom:.300}"
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    let run = std::process::Command::new(chromium)
        .args(flags)
        .args([
            "--hide-scrollbars",
            "--window-size=1200,1800",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    eprintln!("report screenshot: {}", shot.display());
}
