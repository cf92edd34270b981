use crate::{openbell, openbell_env, stderr, stdout};

const CSV: &str = "ts,symbol,open,high,low,close,volume
2024-01-02T14:30:00Z,SPY,470.5,471,470,470.75,1000
2024-01-02T14:31:00Z,SPY,470.75,471.2,470.6,471.1,800
2024-01-02T14:31:00Z,SPY,470.75,471.2,470.6,471.1,800
2024-01-02T14:32:00Z,SPY,471.1,470,470.9,471,700
2024-01-02T14:33:00Z,SPY,471,471.3,470.9,471.2,650
";

#[test]
fn import_list_quality_resample_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("SPY_1m.csv");
    std::fs::write(&file, CSV).unwrap();
    let path = file.display().to_string();

    let out = openbell(home.path(), &["data", "import", &path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.contains("5 rows, 3 imported, 2 rejected"),
        "{summary}"
    );
    assert!(
        summary.contains("rejected duplicate") && summary.contains("rejected ohlc"),
        "{summary}"
    );
    assert!(summary.contains("merged into SPY 1m: added 3"), "{summary}");
    let errors = stderr(&out);
    assert!(errors.contains(&format!("{path}:4: duplicate")), "{errors}");
    assert!(errors.contains(&format!("{path}:5: ohlc")), "{errors}");

    // The default store is $OPENBELL_HOME/data.
    assert!(home.path().join("data/bars/1m/SPY/2024.parquet").is_file());
    let ls = stdout(&openbell(home.path(), &["data", "ls", "--format", "csv"]));
    let rows: Vec<&str> = ls.lines().collect();
    assert_eq!(rows[0], "symbol,interval,exchange,first,last,bars,bytes");
    assert!(
        rows[1].starts_with("SPY,1m,XNYS,2024-01-02T14:30:00Z,2024-01-02T14:33:00Z,3,"),
        "{ls}"
    );

    let q = openbell(
        home.path(),
        &["data", "quality", "--symbol", "SPY", "--format", "csv"],
    );
    assert!(q.status.success(), "{}", stderr(&q));
    let text = stdout(&q);
    let row = text.lines().nth(1).unwrap();
    assert!(row.starts_with("2024-01-02,390,3,0.77,387,"), "{row}");
    assert!(
        row.contains(
            "2024-01-02T14:32:00Z/2024-01-02T14:33:00Z;2024-01-02T14:34:00Z/2024-01-02T21:00:00Z"
        ),
        "{row}"
    );
    assert!(row.ends_with(",1,1,0,false"), "{row}");

    let r = openbell(
        home.path(),
        &[
            "data",
            "resample",
            "--symbol",
            "SPY",
            "--from-interval",
            "1m",
            "--to-interval",
            "5m",
        ],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(
        stdout(&r).contains("1 days, 3 source bars, 1 derived bars"),
        "{}",
        stdout(&r)
    );
    let ls = stdout(&openbell(home.path(), &["data", "ls", "--format", "csv"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("SPY,5m,XNYS,2024-01-02T14:30:00Z,2024-01-02T14:30:00Z,1,")),
        "{ls}"
    );
}

#[test]
fn strict_import_fails_and_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("SPY_1m.csv");
    std::fs::write(&file, CSV).unwrap();
    let data = home.path().join("store");
    let out = openbell(
        home.path(),
        &[
            "data",
            "--data",
            &data.display().to_string(),
            "import",
            "--strict",
            &file.display().to_string(),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("2 row(s) rejected") && err.contains("SPY_1m.csv:4: duplicate"),
        "{err}"
    );
    let ls = stdout(&openbell(
        home.path(),
        &[
            "data",
            "--data",
            &data.display().to_string(),
            "ls",
            "--format",
            "csv",
        ],
    ));
    assert_eq!(ls.lines().count(), 1, "{ls}");
}

#[test]
fn generate_is_deterministic_and_flags_override_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let dir = |name: &str| home.path().join(name).display().to_string();
    let run = |name: &str, seed: &str| {
        let out = openbell(
            home.path(),
            &[
                "data",
                "--data",
                &dir(name),
                "generate",
                "--symbols",
                "2",
                "--days",
                "3",
                "--start",
                "2024-03-01",
                "--seed",
                seed,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read(home.path().join(name).join("bars/1m/SIM001/2024.parquet")).unwrap()
    };
    let a = run("a", "7");
    assert_eq!(a, run("b", "7"));
    assert_ne!(a, run("c", "8"));

    // --data beats $OPENBELL_DATA, which beats $OPENBELL_HOME/data.
    let env_dir = home.path().join("a");
    let by_env = stdout(&openbell_env(
        home.path(),
        &[("OPENBELL_DATA", &env_dir)],
        &["data", "ls"],
    ));
    assert!(
        by_env.contains("SIM001") && by_env.contains("1170"),
        "{by_env}"
    );
    let by_flag = stdout(&openbell_env(
        home.path(),
        &[("OPENBELL_DATA", &env_dir)],
        &["data", "--data", &dir("empty"), "ls"],
    ));
    assert!(!by_flag.contains("SIM001"), "{by_flag}");
    let by_home = stdout(&openbell(home.path(), &["data", "ls"]));
    assert!(
        by_home.contains(&format!(
            "0 series in {}",
            home.path().join("data").display()
        )),
        "{by_home}"
    );
}

#[test]
fn data_errors_are_one_line() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["data", "import", "/nonexistent/SPY_1m.csv"],
            "/nonexistent/SPY_1m.csv",
        ),
        (&["data", "import", "--interval", "7x", "x.csv"], "\"7x\""),
        (
            &["data", "import", "--tz", "Mars/Base", "x.csv"],
            "\"Mars/Base\"",
        ),
        (&["data", "quality", "--symbol", "NOPE"], "no NOPE 1m bars"),
        (&["data", "quality", "--symbol", "spy"], "\"spy\""),
        (
            &["data", "resample", "--symbol", "SPY", "--to-interval", "5m"],
            "no SPY 1m bars",
        ),
        (
            &["data", "generate", "--start", "2024-02-30"],
            "\"2024-02-30\"",
        ),
        (&["data", "generate", "--days", "0"], "at least 1"),
    ];
    crate::assert_one_line_errors(home.path(), cases);
}
