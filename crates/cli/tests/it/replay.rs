use openbell_calendar::Calendar;

use crate::{openbell, stderr, stdout};

#[test]
fn replay_runs_stored_bars_through_the_engine() {
    let home = tempfile::tempdir().unwrap();
    let generated = openbell(
        home.path(),
        &[
            "data",
            "generate",
            "--symbols",
            "2",
            "--days",
            "3",
            "--start",
            "2024-07-02",
        ],
    );
    assert!(generated.status.success(), "{}", stderr(&generated));
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
