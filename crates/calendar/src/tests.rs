use chrono::{Datelike, NaiveDate, Weekday};
use openbell_model::{Interval, Timestamp};
use proptest::prelude::*;
use rstest::rstest;

use super::*;

fn d(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn xnys() -> Calendar {
    Calendar::builtin("XNYS").unwrap()
}

#[rstest]
#[case("2024-07-03", "2024-07-03T13:30:00Z", "2024-07-03T17:00:00Z", true)]
#[case("2024-07-05", "2024-07-05T13:30:00Z", "2024-07-05T20:00:00Z", false)]
#[case("2024-01-02", "2024-01-02T14:30:00Z", "2024-01-02T21:00:00Z", false)]
#[case("2015-12-24", "2015-12-24T14:30:00Z", "2015-12-24T18:00:00Z", true)]
#[case("2002-07-05", "2002-07-05T13:30:00Z", "2002-07-05T17:00:00Z", true)]
fn xnys_sessions(#[case] date: &str, #[case] open: &str, #[case] close: &str, #[case] early: bool) {
    let day = xnys().trading_day(d(date)).unwrap().unwrap();
    assert_eq!(
        (day.open, day.close, day.early_close),
        (ts(open), ts(close), early)
    );
}

#[rstest]
#[case("2024-07-04")] // Independence Day
#[case("2024-03-29")] // Good Friday
#[case("2022-06-20")] // Juneteenth observed on Monday
#[case("2021-12-24")] // Christmas observed on Friday
#[case("2025-01-09")] // National day of mourning
#[case("2012-10-30")] // Hurricane Sandy
#[case("2024-07-06")] // Saturday
fn xnys_closures(#[case] date: &str) {
    assert_eq!(xnys().trading_day(d(date)).unwrap(), None);
}

#[test]
fn local_times_follow_daylight_saving() {
    let cal = xnys();
    for date in ["2011-03-11", "2011-03-14", "2024-11-01", "2024-11-04"] {
        let day = cal.trading_day(d(date)).unwrap().unwrap();
        assert_eq!(
            day.open_local().format("%H:%M").to_string(),
            "09:30",
            "{date}"
        );
        assert_eq!(
            day.close_local().format("%H:%M").to_string(),
            "16:00",
            "{date}"
        );
    }
    let winter = cal.trading_day(d("2011-03-11")).unwrap().unwrap();
    let summer = cal.trading_day(d("2011-03-14")).unwrap().unwrap();
    assert_eq!(winter.open, ts("2011-03-11T14:30:00Z"));
    assert_eq!(summer.open, ts("2011-03-14T13:30:00Z"));
}

#[test]
fn navigation_and_ranges() {
    let cal = xnys();
    // Thursday before Good Friday 2024 -> Monday after Easter.
    assert_eq!(
        cal.next_trading_day(d("2024-03-28")).unwrap().date,
        d("2024-04-01")
    );
    assert_eq!(
        cal.previous_trading_day(d("2024-04-01")).unwrap().date,
        d("2024-03-28")
    );
    let days = cal.trading_days(d("2024-01-01"), d("2024-12-31")).unwrap();
    assert_eq!(days.len(), 252);
    assert!(matches!(
        cal.trading_days(d("2024-12-31"), d("2024-01-01")),
        Err(CalendarError::ReversedRange { .. })
    ));
    let err = cal.trading_day(d("1990-01-02")).unwrap_err().to_string();
    assert_eq!(
        err,
        "XNYS is defined from 1993-01-01 to 2099-12-31; 1990-01-02 is outside that range"
    );
    assert!(cal.next_trading_day(d("2099-12-31")).is_err());
}

#[test]
fn next_open_after_an_instant() {
    let cal = xnys();
    // During the 2024-07-03 early-close session: the next open is 07-05.
    assert_eq!(
        cal.next_open_after(ts("2024-07-03T15:00:00Z"))
            .unwrap()
            .date,
        d("2024-07-05")
    );
    // Before the open on the same day: that day.
    assert_eq!(
        cal.next_open_after(ts("2024-07-03T13:29:59Z"))
            .unwrap()
            .date,
        d("2024-07-03")
    );
    // Exactly at the open: strictly after, so the next day.
    assert_eq!(
        cal.next_open_after(ts("2024-07-03T13:30:00Z"))
            .unwrap()
            .date,
        d("2024-07-05")
    );
    assert_eq!(
        cal.trading_day_at(ts("2024-07-03T16:59:00Z"))
            .unwrap()
            .unwrap()
            .date,
        d("2024-07-03")
    );
    assert_eq!(
        cal.trading_day_at(ts("2024-07-03T17:00:00Z")).unwrap(),
        None
    );
}

#[test]
fn unknown_exchange_names_the_code() {
    let err = Calendar::builtin("XLON").unwrap_err().to_string();
    assert!(
        err.contains("\"XLON\"") && err.contains("XNYS, XNAS, CRYPTO"),
        "{err}"
    );
    assert_eq!(Calendar::builtin("xnas").unwrap().code(), "XNAS");
}

#[test]
fn bar_slots_align_to_the_open() {
    let cal = xnys();
    let day = cal.trading_day(d("2024-01-02")).unwrap().unwrap();
    let m1 = day.bar_opens(Interval::M1);
    assert_eq!(m1.len(), 390);
    assert_eq!(m1[0], day.open);
    assert_eq!(*m1.last().unwrap(), ts("2024-01-02T20:59:00Z"));
    let m5 = day.bar_opens(Interval::M5);
    assert_eq!(
        &m5[..3],
        &[
            ts("2024-01-02T14:30:00Z"),
            ts("2024-01-02T14:35:00Z"),
            ts("2024-01-02T14:40:00Z")
        ]
    );
    let h1 = day.bar_slots(Interval::H1);
    assert_eq!(h1.len(), 7);
    assert_eq!(h1[0].open, ts("2024-01-02T14:30:00Z"));
    let last = h1.last().unwrap();
    assert_eq!(
        (last.open, last.close),
        (ts("2024-01-02T20:30:00Z"), ts("2024-01-02T21:00:00Z"))
    );
    let daily = day.bar_slots(Interval::D1);
    assert_eq!(
        (daily.len(), daily[0].open, daily[0].close),
        (1, day.open, day.close)
    );

    // Early close: 1h bars end at 13:00 with a short last bar 12:30-13:00.
    let early = cal.trading_day(d("2024-11-29")).unwrap().unwrap();
    let h1 = early.bar_slots(Interval::H1);
    let last = h1.last().unwrap();
    assert_eq!(
        last.open.to_zoned(early.tz).format("%H:%M").to_string(),
        "12:30"
    );
    assert_eq!(last.close, early.close);
    assert_eq!(early.bar_opens(Interval::M1).len(), 210);
}

#[test]
fn crypto_is_open_every_utc_day() {
    let cal = Calendar::builtin("24/7").unwrap();
    let days = cal.trading_days(d("2024-03-09"), d("2024-03-11")).unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[0].open, ts("2024-03-09T00:00:00Z"));
    assert_eq!(days[0].close, ts("2024-03-10T00:00:00Z"));
    assert_eq!(days[0].bar_opens(Interval::M1).len(), 1440);
}

const XLON: &str = r#"
code = "XLON"
name = "London Stock Exchange"
timezone = "Europe/London"
first_date = "2024-01-01"
last_date = "2024-12-31"
open = "08:00"
close = "16:30"
breaks = [{ start = "12:00", end = "12:02" }]
holidays = ["2024-12-25", "2024-12-26"]
early_closes = [{ date = "2024-12-24", close = "12:30" }]
late_opens = [{ date = "2024-01-02", open = "09:00" }]

[hours.fri]
open = "08:00"
close = "14:00"
"#;

#[test]
fn custom_calendar_from_toml() {
    let cal = Calendar::from_toml_str(XLON, "xlon.toml").unwrap();
    assert_eq!((cal.code(), cal.name()), ("XLON", "London Stock Exchange"));
    // Summer time: 08:00 London is 07:00Z.
    let day = cal.trading_day(d("2024-07-02")).unwrap().unwrap();
    assert_eq!(
        (day.open, day.close),
        (ts("2024-07-02T07:00:00Z"), ts("2024-07-02T15:30:00Z"))
    );
    assert_eq!(
        day.breaks,
        vec![Break {
            start: ts("2024-07-02T11:00:00Z"),
            end: ts("2024-07-02T11:02:00Z")
        }]
    );
    assert!(!day.is_open_at(ts("2024-07-02T11:01:00Z")));
    assert!(day.is_open_at(ts("2024-07-02T11:02:00Z")));
    // Bars are aligned per segment: 5m bars run 11:55 then resume at 12:02 London.
    let opens: Vec<String> = day
        .bar_slots(Interval::M5)
        .iter()
        .map(|s| s.open.to_zoned(day.tz).format("%H:%M").to_string())
        .collect();
    let at_break = opens.iter().position(|o| o == "11:55").unwrap();
    assert_eq!(opens[at_break + 1], "12:02");
    // Per-weekday hours, holidays, early close and late open.
    let friday = cal.trading_day(d("2024-07-05")).unwrap().unwrap();
    assert_eq!(friday.close, ts("2024-07-05T13:00:00Z"));
    assert_eq!(cal.trading_day(d("2024-12-25")).unwrap(), None);
    let eve = cal.trading_day(d("2024-12-24")).unwrap().unwrap();
    assert!(eve.early_close);
    assert_eq!(eve.close, ts("2024-12-24T12:30:00Z"));
    assert_eq!(
        eve.breaks.len(),
        1,
        "the 12:00 break comes before the 12:30 early close"
    );
    let late = cal.trading_day(d("2024-01-02")).unwrap().unwrap();
    assert!(late.late_open);
    assert_eq!(late.open, ts("2024-01-02T09:00:00Z"));
    assert!(cal.trading_day(d("2025-01-02")).is_err());
}

#[test]
fn breaks_after_an_early_close_are_dropped() {
    let toml = r#"
code = "TEST"
timezone = "UTC"
open = "09:00"
close = "17:00"
breaks = [{ start = "12:00", end = "13:00" }]
early_closes = [{ date = "2024-01-03", close = "11:00" }]
"#;
    let cal = Calendar::from_toml_str(toml, "test.toml").unwrap();
    let regular = cal.trading_day(d("2024-01-02")).unwrap().unwrap();
    assert_eq!(regular.segments().len(), 2);
    let early = cal.trading_day(d("2024-01-03")).unwrap().unwrap();
    assert!(early.breaks.is_empty());
    assert_eq!(early.bar_slots(Interval::H1).len(), 2);
}

#[test]
fn overnight_sessions_open_the_evening_before() {
    let toml = r#"
code = "CMEFX"
timezone = "America/Chicago"
open = "17:00"
close = "16:00"
"#;
    let cal = Calendar::from_toml_str(toml, "cme.toml").unwrap();
    // The session dated Tuesday 2024-01-09 opens Monday 17:00 CT (23:00Z).
    let day = cal.trading_day(d("2024-01-09")).unwrap().unwrap();
    assert_eq!(
        (day.open, day.close),
        (ts("2024-01-08T23:00:00Z"), ts("2024-01-09T22:00:00Z"))
    );
    assert_eq!(
        cal.trading_day_at(ts("2024-01-08T23:30:00Z"))
            .unwrap()
            .unwrap()
            .date,
        d("2024-01-09")
    );
    assert_eq!(
        cal.next_open_after(ts("2024-01-08T22:30:00Z"))
            .unwrap()
            .date,
        d("2024-01-09")
    );
}

#[rstest]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nopen = \"09:00\"\nclose = \"17:00\"\nholiday = [\"2024-01-01\"]\n",
    "line 5: unknown field `holiday`"
)]
#[case(
    "code = \"X\"\ntimezone = \"Mars/Olympus\"\nopen = \"09:00\"\nclose = \"17:00\"\n",
    "line 2: timezone \"Mars/Olympus\""
)]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nopen = \"9am\"\nclose = \"17:00\"\n",
    "line 3: open \"9am\" is not a time"
)]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nopen = \"09:00\"\nclose = \"17:00\"\nholidays = [\"2024-13-01\"]\n",
    "line 5: holiday \"2024-13-01\""
)]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nopen = \"09:00\"\nclose = \"17:00\"\nearly_closes = [{ date = \"2024-01-06\", close = \"12:00\" }]\n",
    "line 5: early close on 2024-01-06, which is not a trading day"
)]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nopen = \"09:00\"\nclose = \"17:00\"\nbreaks = [{ start = \"18:00\", end = \"18:30\" }]\n",
    "line 5: break 18:00-18:30 must lie inside"
)]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nopen = \"09:00\"\nclose = \"17:00\"\nweekdays = [\"mon\", \"funday\"]\n",
    "line 5: weekday \"funday\""
)]
#[case(
    "code = \"X\"\ntimezone = \"UTC\"\nclose = \"17:00\"\n",
    "missing field `open`"
)]
fn custom_errors_name_line_and_value(#[case] toml: &str, #[case] expected: &str) {
    let err = Calendar::from_toml_str(toml, "bad.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("calendar bad.toml: "), "{err}");
    assert!(err.contains(expected), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    (0u64..(107 * 365)).prop_map(|n| d("1993-01-01") + chrono::Days::new(n))
}

proptest! {
    #[test]
    fn next_and_previous_are_adjacent_trading_days(date in any_date()) {
        let cal = xnys();
        if let (Ok(next), Ok(prev)) = (cal.next_trading_day(date), cal.previous_trading_day(date)) {
            prop_assert!(prev.date < date && date < next.date);
            for between in prev.date.succ_opt().unwrap().iter_days().take_while(|x| *x < next.date) {
                prop_assert_eq!(cal.is_trading_day(between).unwrap(), between == date && cal.is_trading_day(date).unwrap());
            }
            prop_assert_eq!(cal.previous_trading_day(next.date).unwrap().date,
                if cal.is_trading_day(date).unwrap() { date } else { prev.date });
        }
    }

    #[test]
    fn days_are_ordered_and_well_formed(start in any_date(), len in 0u64..60) {
        let cal = xnys();
        let end = (start + chrono::Days::new(len)).min(d("2099-12-31"));
        let days = cal.trading_days(start, end).unwrap();
        for pair in days.windows(2) {
            prop_assert!(pair[0].date < pair[1].date);
            prop_assert!(pair[0].close < pair[1].open);
        }
        for day in &days {
            prop_assert!(day.open < day.close);
            prop_assert!(!matches!(day.date.weekday(), Weekday::Sat | Weekday::Sun));
            prop_assert_eq!(day.open_local().format("%H:%M").to_string(), "09:30");
        }
    }

    #[test]
    fn bar_slots_tile_the_day(date in any_date(), secs in 1u32..=86_400) {
        let cal = xnys();
        if let Some(day) = cal.trading_day(date).unwrap() {
            let interval = Interval::from_secs(secs).unwrap();
            let slots = day.bar_slots(interval);
            prop_assert_eq!(slots.first().unwrap().open, day.open);
            prop_assert_eq!(slots.last().unwrap().close, day.close);
            for pair in slots.windows(2) {
                prop_assert_eq!(pair[0].close, pair[1].open);
            }
            for (i, slot) in slots.iter().enumerate() {
                let len = slot.close.as_nanos() - slot.open.as_nanos();
                prop_assert!(len > 0);
                if interval.is_daily() || i + 1 < slots.len() {
                    prop_assert!(interval.is_daily() || len == interval.as_nanos());
                } else {
                    prop_assert!(len <= interval.as_nanos());
                }
            }
        }
    }
}
