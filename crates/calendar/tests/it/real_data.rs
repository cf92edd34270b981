//! Checks against real minute bars (`../shared/data/real`, or `OPENBELL_REAL_DATA`).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use openbell_calendar::Calendar;
use openbell_model::{Interval, Timestamp};
use openbell_testkit::{read_real_csv, real_data_dir};

/// In-session bar opens per trading day, keyed by date.
fn in_session_bars(file: &str, cal: &Calendar) -> Option<BTreeMap<NaiveDate, Vec<Timestamp>>> {
    let dir = real_data_dir(&format!("calendar real-data check on {file}"))?;
    let mut by_day: BTreeMap<NaiveDate, Vec<Timestamp>> = BTreeMap::new();
    for row in read_real_csv(&dir, file) {
        let ts = Timestamp::parse(&row.ts).unwrap();
        if let Some(day) = cal.trading_day_at(ts).unwrap() {
            by_day.entry(day.date).or_default().push(ts);
        }
    }
    Some(by_day)
}

#[test]
fn first_bar_at_the_open_and_last_at_close_minus_one_minute() {
    let cal = Calendar::builtin("XNYS").unwrap();
    let mut checked = 0;
    for (file, expected_days) in [("SPY_1m.csv", 50), ("AAPL_1m.csv", 3), ("GOOG_1m.csv", 3)] {
        let Some(by_day) = in_session_bars(file, &cal) else {
            return;
        };
        assert_eq!(
            by_day.len(),
            expected_days,
            "{file}: trading days with bars"
        );
        for (date, bars) in &by_day {
            let day = cal.trading_day(*date).unwrap().unwrap();
            let last_slot = *day.bar_opens(Interval::M1).last().unwrap();
            assert_eq!(
                bars.first(),
                Some(&day.open),
                "{file} {date}: first in-session bar"
            );
            assert_eq!(
                bars.last(),
                Some(&last_slot),
                "{file} {date}: last in-session bar"
            );
            assert_eq!(
                last_slot
                    .checked_add_nanos(Interval::M1.as_nanos())
                    .unwrap(),
                day.close,
                "{file} {date}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 56);
}

#[test]
fn goog_closes_at_13_00_new_york_on_2015_12_24() {
    let cal = Calendar::builtin("XNYS").unwrap();
    let day = cal
        .trading_day("2015-12-24".parse().unwrap())
        .unwrap()
        .unwrap();
    assert!(day.early_close);
    assert_eq!(
        day.close_local().format("%H:%M %:z").to_string(),
        "13:00 -05:00"
    );
    let Some(by_day) = in_session_bars("GOOG_1m.csv", &cal) else {
        return;
    };
    let bars = &by_day[&day.date];
    assert_eq!(bars.len(), 210);
    let last = bars
        .last()
        .unwrap()
        .to_zoned(day.tz)
        .format("%H:%M")
        .to_string();
    assert_eq!(last, "12:59");
}
