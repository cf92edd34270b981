//! The New York Stock Exchange calendar by rule (also used for Nasdaq, XNAS, whose sessions
//! are identical over the supported range).
//!
//! Regular hours are 09:30–16:00 America/New_York. The rules below are those in force from
//! 1993 on, which is where this calendar starts ([`FIRST`]); they are checked day by day
//! against the `exchange_calendars` package for 1993–2030 (`tests/fixtures`). Later years
//! follow the same standing rules; one-off closures are only known once they happen.
//!
//! Holidays (with observance: Saturday moves to Friday and Sunday to Monday, except New Year's
//! Day, which is not observed on the Friday before):
//! New Year's Day, Martin Luther King Jr. Day (third Monday of January, from 1998),
//! Washington's Birthday (third Monday of February), Good Friday, Memorial Day (last Monday of
//! May), Juneteenth (June 19, from 2022), Independence Day, Labor Day (first Monday of
//! September), Thanksgiving (fourth Thursday of November), Christmas Day.
//!
//! Early closes at 13:00: the day after Thanksgiving; Christmas Eve on Monday to Thursday;
//! July 3 on a Monday, Tuesday or Thursday, and on a Wednesday from 2013; Friday July 5 before
//! 2013 (when July 4 fell on a Thursday); and the one-off days 1997-12-26, 1999-12-31 and
//! 2003-12-26.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::day_spec::{DaySpec, LocalTime, hm};

/// The first date the rules cover.
pub(crate) const FIRST: (i32, u32, u32) = (1993, 1, 1);
/// The last date the rules are offered for.
pub(crate) const LAST: (i32, u32, u32) = (2099, 12, 31);

/// Closures that no standing rule explains: national days of mourning, 9/11, Hurricane Sandy.
const SPECIAL_CLOSURES: &[(i32, u32, u32)] = &[
    (1994, 4, 27), // President Nixon's funeral
    (2001, 9, 11), // September 11 attacks
    (2001, 9, 12),
    (2001, 9, 13),
    (2001, 9, 14),
    (2004, 6, 11),  // President Reagan's funeral
    (2007, 1, 2),   // President Ford's funeral
    (2012, 10, 29), // Hurricane Sandy
    (2012, 10, 30),
    (2018, 12, 5), // President George H. W. Bush's funeral
    (2025, 1, 9),  // President Carter's funeral
];

/// Early closes that no standing rule explains.
const SPECIAL_EARLY_CLOSES: &[(i32, u32, u32)] = &[(1997, 12, 26), (1999, 12, 31), (2003, 12, 26)];

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

fn listed(date: NaiveDate, list: &[(i32, u32, u32)]) -> bool {
    list.iter().any(|&(y, m, d)| ymd(y, m, d) == Some(date))
}

/// The `n`th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    nth_weekday(year, month, weekday, 5).or_else(|| nth_weekday(year, month, weekday, 4))
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
pub(crate) fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// A fixed-date holiday moved off the weekend: Saturday to Friday, Sunday to Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date.pred_opt().unwrap_or(date),
        Weekday::Sun => date.succ_opt().unwrap_or(date),
        _ => date,
    }
}

fn is_holiday(date: NaiveDate) -> bool {
    let y = date.year();
    let new_year = ymd(y, 1, 1)
        .filter(|d| d.weekday() != Weekday::Sat)
        .map(observed);
    let good_friday = easter(y).and_then(|e| e.checked_sub_days(chrono::Days::new(2)));
    let rules = [
        new_year,
        nth_weekday(y, 1, Weekday::Mon, 3).filter(|_| y >= 1998),
        nth_weekday(y, 2, Weekday::Mon, 3),
        good_friday,
        last_weekday(y, 5, Weekday::Mon),
        ymd(y, 6, 19).filter(|_| y >= 2022).map(observed),
        ymd(y, 7, 4).map(observed),
        nth_weekday(y, 9, Weekday::Mon, 1),
        nth_weekday(y, 11, Weekday::Thu, 4),
        ymd(y, 12, 25).map(observed),
    ];
    rules.contains(&Some(date)) || listed(date, SPECIAL_CLOSURES)
}

fn is_early_close(date: NaiveDate) -> bool {
    let y = date.year();
    let weekday = date.weekday();
    let after_thanksgiving = nth_weekday(y, 11, Weekday::Thu, 4).and_then(|d| d.succ_opt());
    let (month, day) = (date.month(), date.day());
    let christmas_eve = month == 12 && day == 24 && weekday.number_from_monday() <= 4;
    let july_3 = month == 7
        && day == 3
        && match weekday {
            Weekday::Mon | Weekday::Tue | Weekday::Thu => true,
            Weekday::Wed => y >= 2013,
            _ => false,
        };
    let july_5 = month == 7 && day == 5 && weekday == Weekday::Fri && y < 2013;
    after_thanksgiving == Some(date)
        || christmas_eve
        || july_3
        || july_5
        || listed(date, SPECIAL_EARLY_CLOSES)
}

/// The session on `date`, or `None` for weekends and holidays. The caller checks the range.
pub(crate) fn session(date: NaiveDate) -> Option<DaySpec> {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || is_holiday(date) {
        return None;
    }
    let early_close = is_early_close(date);
    Some(DaySpec {
        open: LocalTime::same_day(hm(9, 30)),
        close: LocalTime::same_day(if early_close { hm(13, 0) } else { hm(16, 0) }),
        breaks: Vec::new(),
        early_close,
        late_open: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_matches_known_dates() {
        for (y, m, d) in [
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2038, 4, 25),
        ] {
            assert_eq!(easter(y), ymd(y, m, d), "{y}");
        }
    }

    #[test]
    fn new_year_on_saturday_is_not_observed_on_friday() {
        // 2022-01-01 was a Saturday; NYSE traded on Friday 2021-12-31.
        assert!(session(ymd(2021, 12, 31).unwrap()).is_some());
        // 2023-01-01 was a Sunday; Monday 2023-01-02 was closed.
        assert!(session(ymd(2023, 1, 2).unwrap()).is_none());
    }
}
