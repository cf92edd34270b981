use openbell_calendar::Calendar;

use crate::{openbell, stderr, stdout};

#[test]
fn days_csv_matches_the_library_for_2024() {
    let home = tempfile::tempdir().unwrap();
    let out = openbell(
        home.path(),
        &[
            "calendar",
            "days",
            "--exchange",
            "XNYS",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
            "--format",
            "csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("date,open_utc,close_utc,open_local,close_local,early_close")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let days = Calendar::builtin("XNYS")
        .unwrap()
        .trading_days("2024-01-01".parse().unwrap(), "2024-12-31".parse().unwrap())
        .unwrap();
    assert_eq!(rows.len(), days.len());
    for (row, day) in rows.iter().zip(&days) {
        assert_eq!(row[0], day.date.to_string());
        assert_eq!(row[1], day.open.to_string());
        assert_eq!(row[2], day.close.to_string());
        assert_eq!(row[5], day.early_close.to_string());
    }
    // 2024-07-03: early close, summer time.
    let july3 = rows.iter().find(|r| r[0] == "2024-07-03").unwrap();
    assert_eq!(
        july3.join(","),
        "2024-07-03,2024-07-03T13:30:00Z,2024-07-03T17:00:00Z,2024-07-03T09:30:00-04:00,2024-07-03T13:00:00-04:00,true"
    );
    // 2024-01-02: winter time.
    assert_eq!(rows[0][3], "2024-01-02T09:30:00-05:00");
}

#[test]
fn days_table_is_aligned_with_a_count() {
    let home = tempfile::tempdir().unwrap();
    let out = openbell(
        home.path(),
        &[
            "calendar",
            "days",
            "--from",
            "2024-11-27",
            "--to",
            "2024-12-02",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("date  "));
    assert!(
        lines[2].starts_with("2024-11-29") && lines[2].ends_with("true"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"3 trading days"));
}

#[test]
fn next_after_a_date_or_an_instant() {
    let home = tempfile::tempdir().unwrap();
    let run = |after: &str, count: &str| {
        let out = openbell(
            home.path(),
            &[
                "calendar",
                "next",
                "--exchange",
                "XNYS",
                "--after",
                after,
                "--count",
                count,
                "--format",
                "csv",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .skip(1)
            .map(|l| l[..10].to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(run("2024-07-03", "1"), ["2024-07-05"]);
    assert_eq!(run("2024-07-03T15:00:00Z", "1"), ["2024-07-05"]);
    assert_eq!(run("2024-07-03T09:00:00-04:00", "1"), ["2024-07-03"]);
    assert_eq!(
        run("2024-12-23", "3"),
        ["2024-12-24", "2024-12-26", "2024-12-27"]
    );
}

#[test]
fn bad_arguments_give_one_line_naming_the_value() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "calendar",
                "days",
                "--exchange",
                "XLON",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-31",
            ],
            "\"XLON\"",
        ),
        (
            &[
                "calendar",
                "days",
                "--from",
                "2024-12-31",
                "--to",
                "2024-01-01",
            ],
            "reversed range: from 2024-12-31",
        ),
        (
            &[
                "calendar",
                "days",
                "--from",
                "2024-13-01",
                "--to",
                "2024-12-31",
            ],
            "\"2024-13-01\"",
        ),
        (
            &[
                "calendar",
                "days",
                "--from",
                "2024-01-01",
                "--to",
                "yesterday",
            ],
            "\"yesterday\"",
        ),
        (
            &[
                "calendar",
                "days",
                "--from",
                "1980-01-01",
                "--to",
                "1980-12-31",
            ],
            "1980-01-01 is outside",
        ),
        (
            &[
                "calendar",
                "days",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-31",
                "--format",
                "xml",
            ],
            "'xml'",
        ),
        (&["calendar", "next", "--after", "soon"], "\"soon\""),
        (&["calendar", "days", "--from", "2024-01-01"], "--to"),
        (
            &[
                "calendar",
                "days",
                "--exchange",
                "missing.toml",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-31",
            ],
            "missing.toml",
        ),
    ];
    crate::assert_one_line_errors(home.path(), cases);
}

const TEST_EXCHANGE: &str = r#"
code = "XTST"
name = "Test exchange"
timezone = "Europe/London"
open = "08:00"
close = "16:30"
holidays = ["2024-12-25", "2024-12-26"]
early_closes = [{ date = "2024-12-24", close = "12:30" }]
"#;

#[test]
fn custom_calendars_by_path_and_by_code_in_home() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("calendars");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("XTST.toml");
    std::fs::write(&file, TEST_EXCHANGE).unwrap();
    let args = |exchange: &str| {
        [
            "calendar",
            "days",
            "--exchange",
            exchange,
            "--from",
            "2024-12-23",
            "--to",
            "2024-12-27",
            "--format",
            "csv",
        ]
        .map(str::to_owned)
    };
    let by_code = openbell(home.path(), &args("XTST").each_ref().map(String::as_str));
    assert!(by_code.status.success(), "{}", stderr(&by_code));
    let path = file.display().to_string();
    let by_path = openbell(home.path(), &args(&path).each_ref().map(String::as_str));
    assert_eq!(stdout(&by_code), stdout(&by_path));
    let text = stdout(&by_code);
    assert_eq!(
        text.lines().skip(1).collect::<Vec<_>>(),
        [
            "2024-12-23,2024-12-23T08:00:00Z,2024-12-23T16:30:00Z,2024-12-23T08:00:00+00:00,2024-12-23T16:30:00+00:00,false",
            "2024-12-24,2024-12-24T08:00:00Z,2024-12-24T12:30:00Z,2024-12-24T08:00:00+00:00,2024-12-24T12:30:00+00:00,true",
            "2024-12-27,2024-12-27T08:00:00Z,2024-12-27T16:30:00Z,2024-12-27T08:00:00+00:00,2024-12-27T16:30:00+00:00,false",
        ]
    );
    let ls = stdout(&openbell(home.path(), &["calendar", "ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("XTST ") && l.contains("Europe/London")),
        "{ls}"
    );

    std::fs::write(&file, format!("{TEST_EXCHANGE}\nopening = \"09:00\"\n")).unwrap();
    let bad = openbell(home.path(), &args("XTST").each_ref().map(String::as_str));
    let err = stderr(&bad);
    assert!(!bad.status.success());
    assert!(
        err.contains("XTST.toml")
            && err.contains("line 10")
            && err.contains("unknown field `opening`"),
        "{err}"
    );
}

#[test]
fn a_reader_that_goes_away_is_not_a_failure() {
    let home = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_openbell"))
        .args([
            "calendar",
            "days",
            "--exchange",
            "XNYS",
            "--from",
            "2000-01-01",
            "--to",
            "2030-12-31",
            "--format",
            "csv",
        ])
        .env("OPENBELL_HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read the header line, then go away: the rest (far more than a pipe holds) meets a
    // closed pipe.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut header).unwrap();
    assert!(header.starts_with("date,open_utc"), "{header}");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}
