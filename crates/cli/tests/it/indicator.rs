use crate::{openbell, stderr, stdout};

const CSV: &str = "ts,symbol,open,high,low,close,volume
2024-01-02T20:57:00Z,SPY,10,10,10,10,1
2024-01-02T20:58:00Z,SPY,11,11,11,11,1
2024-01-02T20:59:00Z,SPY,12,12,12,12,1
2024-01-03T14:30:00Z,SPY,13,13,13,13,1
2024-01-03T14:31:00Z,SPY,15,15,15,15,1
";

#[test]
fn values_warm_up_on_earlier_days_and_print_only_the_range() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("SPY_1m.csv");
    std::fs::write(&file, CSV).unwrap();
    assert!(
        openbell(
            home.path(),
            &["data", "import", &file.display().to_string()]
        )
        .status
        .success()
    );
    let out = openbell(
        home.path(),
        &[
            "indicator",
            "sma",
            "--symbol",
            "SPY",
            "--from",
            "2024-01-03",
            "--to",
            "2024-01-03",
            "--param",
            "period=3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The first bar of 2024-01-03 averages two bars of 2024-01-02 with itself: (11+12+13)/3.
    assert_eq!(
        stdout(&out),
        "ts,sma\n2024-01-03T14:30:00Z,12\n2024-01-03T14:31:00Z,13.333333333333334\n"
    );
    let macd = stdout(&openbell(
        home.path(),
        &[
            "indicator",
            "macd",
            "--symbol",
            "SPY",
            "--from",
            "2024-01-02",
            "--to",
            "2024-01-03",
        ],
    ));
    assert_eq!(
        macd, "ts,macd,signal,hist\n",
        "too few bars for MACD: header only"
    );
    let vwap = stdout(&openbell(
        home.path(),
        &[
            "indicator",
            "vwap",
            "--symbol",
            "SPY",
            "--from",
            "2024-01-03",
            "--to",
            "2024-01-03",
        ],
    ));
    assert_eq!(
        vwap, "ts,vwap\n2024-01-03T14:30:00Z,13\n2024-01-03T14:31:00Z,14\n",
        "VWAP resets with the session"
    );
}

#[test]
fn indicator_errors_are_one_line() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "indicator",
                "kama",
                "--symbol",
                "SPY",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "unknown indicator \"kama\"",
        ),
        (
            &[
                "indicator",
                "sma",
                "--symbol",
                "SPY",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
                "--param",
                "period",
            ],
            "key=value",
        ),
        (
            &[
                "indicator",
                "sma",
                "--symbol",
                "SPY",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
                "--param",
                "period=x",
            ],
            "\"x\" is not a number",
        ),
        (
            &[
                "indicator",
                "sma",
                "--symbol",
                "SPY",
                "--from",
                "2024-01-03",
                "--to",
                "2024-01-02",
            ],
            "reversed range",
        ),
        (
            &[
                "indicator",
                "sma",
                "--symbol",
                "SPY",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "no SPY 1m bars",
        ),
    ];
    crate::assert_one_line_errors(home.path(), cases);
}
