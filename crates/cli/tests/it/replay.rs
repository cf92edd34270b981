use openbell_calendar::Calendar;

use crate::{openbell, stderr, stdout};

#[test]
fn replay_runs_stored_bars_through_the_engine() {
    let home = tempfile::tempdir().unwrap();
    crate::generate(home.path(), 2, 3, "2024-07-02", 42);
    let out = openbell(
        home.path(),
        &[
            "replay",
            "--from",
            "2024-07-02",
            "--to",
            "2024-07-08",
            "--derived",
            "5m,15m",
            "--indicator",
            "sma:period=5@5m",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // 2024-07-02 (390), 07-03 (early close, 210), 07-05 (390) were generated; 07-08 has no bars.
    let cal = Calendar::builtin("XNYS").unwrap();
    let days = cal
        .trading_days("2024-07-02".parse().unwrap(), "2024-07-08".parse().unwrap())
        .unwrap();
    let base: usize = days[..3]
        .iter()
        .map(|d| d.bar_slots(openbell_model::Interval::M1).len())
        .sum();
    let derived: usize = days[..3]
        .iter()
        .map(|d| {
            d.bar_slots(openbell_model::Interval::M5).len()
                + d.bar_slots(openbell_model::Interval::M15).len()
        })
        .sum();
    assert!(
        text.starts_with(&format!(
            "4 trading days, {} base bars, {} derived bars,",
            2 * base,
            2 * derived
        )),
        "{text}"
    );
    assert!(text.contains(", 2 faults in "), "{text}");
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("skipped 2024-07-08 SIM00"))
            .count(),
        2,
        "{}",
        stderr(&out)
    );
}

#[test]
fn replay_errors_are_one_line() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["replay", "--from", "2024-07-08", "--to", "2024-07-02"][..],
            "reversed range",
        ),
        (
            &["replay", "--from", "2024-07-02", "--to", "2024-07-08"][..],
            "no 1m bars",
        ),
        (
            &[
                "replay",
                "--from",
                "2024-07-02",
                "--to",
                "2024-07-08",
                "--indicator",
                "sma:period",
            ][..],
            "not key=value",
        ),
    ];
    crate::assert_one_line_errors(home.path(), cases);
}

/// The summary line without its timing.
fn counts(text: &str) -> String {
    text.split(" in ").next().unwrap_or_default().to_owned()
}

#[test]
fn replay_from_a_config_file_equals_the_same_flags() {
    let home = tempfile::tempdir().unwrap();
    crate::generate(home.path(), 3, 4, "2024-07-02", 42);
    let flags = openbell(
        home.path(),
        &[
            "replay",
            "--from",
            "2024-07-02",
            "--to",
            "2024-07-09",
            "--symbols",
            "SIM001,SIM003",
            "--derived",
            "5m,15m",
            "--indicator",
            "sma:period=5@5m",
            "--indicator",
            "rsi",
            "--history-days",
            "2",
        ],
    );
    assert!(flags.status.success(), "{}", stderr(&flags));
    let config = home.path().join("replay.toml");
    std::fs::write(
        &config,
        r#"[session]
start = "2024-07-02"
end = "2024-07-09"
history_days = 2

[data]
derived = ["5m", "15m"]

[universe]
symbols = ["SIM001", "SIM003"]

[[indicator]]
name = "sma"
interval = "5m"
params = { period = 5 }

[[indicator]]
name = "rsi"
"#,
    )
    .unwrap();
    let file = openbell(
        home.path(),
        &["replay", "--config", config.to_str().unwrap()],
    );
    assert!(file.status.success(), "{}", stderr(&file));
    assert_eq!(counts(&stdout(&file)), counts(&stdout(&flags)));
    assert!(
        stdout(&file).contains(" indicator values,"),
        "{}",
        stdout(&file)
    );
}

#[test]
fn replay_config_errors_name_the_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("bad.toml");
    std::fs::write(
        &config,
        "[session]\nstart = \"2024-07-02\"\nend = \"2024-07-09\"\n\n[universe]\nsymbols = [\"SPY\"]\n\n[[indicator]]\nname = \"sma\"\ninterval = \"5m\"\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let unknown = home.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "[session]\nstart = \"2024-07-02\"\nend = \"2024-07-09\"\nspeed = 2\n[universe]\nall = true\n",
    )
    .unwrap();
    let missing = home.path().join("missing.toml");
    let expected_bad = format!("{path}:10: indicator[0].interval: 5m is neither");
    let expected_unknown = format!("{}:4: unknown field `speed`", unknown.display());
    let cases: &[(&[&str], &str)] = &[
        (&["replay", "--config", path][..], &expected_bad),
        (
            &["replay", "--config", unknown.to_str().unwrap()][..],
            &expected_unknown,
        ),
        (
            &["replay", "--config", missing.to_str().unwrap()][..],
            "reading config",
        ),
        (
            &["replay", "--config", path, "--from", "2024-07-02"][..],
            "cannot be used with",
        ),
    ];
    crate::assert_one_line_errors(home.path(), cases);
}
