//! Custom calendars from TOML: how a user adds any exchange.
//!
//! ```toml
//! code = "XLON"                      # required: what --exchange names it
//! name = "London Stock Exchange"     # optional
//! timezone = "Europe/London"         # required: an IANA zone
//! first_date = "2000-01-01"          # optional (default 1970-01-01)
//! last_date = "2030-12-31"           # optional (default 2199-12-31)
//! weekdays = ["mon", "tue", "wed", "thu", "fri"]   # optional (default Monday to Friday)
//! open = "08:00"                     # regular hours, local time
//! close = "16:30"                    # "24:00" closes at the next midnight
//! breaks = [{ start = "12:00", end = "12:02" }]    # optional
//! holidays = ["2024-12-25", "2024-12-26"]
//! early_closes = [{ date = "2024-12-24", close = "12:30" }]
//! late_opens = [{ date = "2024-01-02", open = "09:00" }]
//!
//! [hours.fri]                        # optional per-weekday hours
//! open = "08:00"
//! close = "13:00"
//! ```
//!
//! A `close` at or before `open` means the session opens the evening before its date, as on
//! futures exchanges (`open = "17:00"`, `close = "16:00"`): the session dated Tuesday runs from
//! Monday 17:00 to Tuesday 16:00, and `weekdays` lists the dates of the closes. Dates and times
//! are quoted strings. Unknown keys are errors, and every error names its line.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::CalendarError;
use crate::day_spec::{DaySpec, LocalTime};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    code: Spanned<String>,
    name: Option<String>,
    timezone: Spanned<String>,
    first_date: Option<Spanned<String>>,
    last_date: Option<Spanned<String>>,
    weekdays: Option<Vec<Spanned<String>>>,
    open: Spanned<String>,
    close: Spanned<String>,
    #[serde(default)]
    breaks: Vec<BreakDef>,
    #[serde(default)]
    hours: BTreeMap<String, HoursDef>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    #[serde(default)]
    early_closes: Vec<EarlyCloseDef>,
    #[serde(default)]
    late_opens: Vec<LateOpenDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakDef {
    start: Spanned<String>,
    end: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursDef {
    open: Spanned<String>,
    close: Spanned<String>,
    #[serde(default)]
    breaks: Vec<BreakDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EarlyCloseDef {
    date: Spanned<String>,
    close: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LateOpenDef {
    date: Spanned<String>,
    open: Spanned<String>,
}

/// Minutes from midnight of the session date; negative for the evening before.
type Minute = i32;

/// A weekday's regular session, in minutes relative to the session date.
#[derive(Debug, Clone)]
struct Hours {
    open: Minute,
    close: Minute,
    breaks: Vec<(Minute, Minute)>,
}

/// A parsed, validated custom calendar.
#[derive(Debug, Clone)]
pub(crate) struct CustomRules {
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) tz: Tz,
    pub(crate) first: NaiveDate,
    pub(crate) last: NaiveDate,
    /// Regular hours by `Weekday::num_days_from_monday`; `None` for non-trading weekdays.
    weekly: [Option<Hours>; 7],
    holidays: BTreeSet<NaiveDate>,
    early_closes: BTreeMap<NaiveDate, Minute>,
    late_opens: BTreeMap<NaiveDate, Minute>,
}

/// Reports errors with the origin and the line of the offending value.
struct Reporter<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Reporter<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text
            .get(..offset)
            .map_or(1, |before| before.matches('\n').count() + 1)
    }

    fn at<T>(&self, value: &Spanned<T>, message: impl std::fmt::Display) -> CalendarError {
        CalendarError::Definition {
            origin: self.origin.to_owned(),
            message: format!("line {}: {message}", self.line_of(value.span().start)),
        }
    }

    fn plain(&self, message: impl std::fmt::Display) -> CalendarError {
        CalendarError::Definition {
            origin: self.origin.to_owned(),
            message: message.to_string(),
        }
    }

    fn date(&self, value: &Spanned<String>, key: &str) -> Result<NaiveDate, CalendarError> {
        NaiveDate::from_str(value.get_ref()).map_err(|_| {
            self.at(
                value,
                format!("{key} {:?} is not a date like 2024-12-25", value.get_ref()),
            )
        })
    }

    /// A local time `HH:MM` or `HH:MM:SS` as minutes after midnight; `24:00` is 1440.
    fn minute(&self, value: &Spanned<String>, key: &str) -> Result<Minute, CalendarError> {
        let text = value.get_ref();
        if text == "24:00" || text == "24:00:00" {
            return Ok(1440);
        }
        let time = NaiveTime::parse_from_str(text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
            .map_err(|_| self.at(value, format!("{key} {text:?} is not a time like 09:30")))?;
        if time.second() != 0 {
            return Err(self.at(value, format!("{key} {text:?}: seconds are not supported")));
        }
        // hour < 24 and minute < 60, so the casts are lossless.
        Ok(Minute::try_from(time.hour() * 60 + time.minute()).unwrap_or(0))
    }

    fn hours(
        &self,
        open: &Spanned<String>,
        close: &Spanned<String>,
        breaks: &[BreakDef],
    ) -> Result<Hours, CalendarError> {
        let open_min = self.minute(open, "open")?;
        let close_min = self.minute(close, "close")?;
        if open_min == 1440 {
            return Err(self.at(open, "open \"24:00\" is not a time of day"));
        }
        // A close at or before the open belongs to the next day: the session opens the
        // evening before its date.
        let open_rel = if close_min <= open_min {
            open_min - 1440
        } else {
            open_min
        };
        let mut hours = Hours {
            open: open_rel,
            close: close_min,
            breaks: Vec::new(),
        };
        let relative = |m: Minute| {
            if open_rel < 0 && m >= open_min {
                m - 1440
            } else {
                m
            }
        };
        let mut previous_end = hours.open;
        for b in breaks {
            let start = relative(self.minute(&b.start, "break start")?);
            let end = relative(self.minute(&b.end, "break end")?);
            if !(previous_end < start && start < end && end < hours.close) {
                return Err(self.at(
                    &b.start,
                    format!(
                        "break {}-{} must lie inside the session {}-{}, in order, without overlap",
                        b.start.get_ref(),
                        b.end.get_ref(),
                        open.get_ref(),
                        close.get_ref()
                    ),
                ));
            }
            hours.breaks.push((start, end));
            previous_end = end;
        }
        Ok(hours)
    }
}

fn weekday(name: &str) -> Option<Weekday> {
    match name.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Some(Weekday::Mon),
        "tue" | "tuesday" => Some(Weekday::Tue),
        "wed" | "wednesday" => Some(Weekday::Wed),
        "thu" | "thursday" => Some(Weekday::Thu),
        "fri" | "friday" => Some(Weekday::Fri),
        "sat" | "saturday" => Some(Weekday::Sat),
        "sun" | "sunday" => Some(Weekday::Sun),
        _ => None,
    }
}

fn to_local(minute: Minute) -> LocalTime {
    let day_offset = minute.div_euclid(1440);
    let within = minute.rem_euclid(1440);
    let time = NaiveTime::from_hms_opt(
        u32::try_from(within / 60).unwrap_or(0),
        u32::try_from(within % 60).unwrap_or(0),
        0,
    )
    .unwrap_or(NaiveTime::MIN);
    LocalTime {
        day_offset: i8::try_from(day_offset).unwrap_or(0),
        time,
    }
}

impl CustomRules {
    /// Parses and validates a TOML definition. `origin` names it in errors (usually the path).
    pub(crate) fn parse(text: &str, origin: &str) -> Result<Self, CalendarError> {
        let report = Reporter { origin, text };
        let file: CalendarFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", report.line_of(s.start)))
                .unwrap_or_default();
            report.plain(format!("{line}{}", e.message().trim()))
        })?;

        let code = file.code.get_ref().trim().to_owned();
        if code.is_empty()
            || !code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            return Err(report.at(
                &file.code,
                format!("code {code:?} must be letters, digits, _ or -"),
            ));
        }
        let tz = Tz::from_str(file.timezone.get_ref()).map_err(|_| {
            report.at(
                &file.timezone,
                format!(
                    "timezone {:?} is not an IANA zone such as Europe/London",
                    file.timezone.get_ref()
                ),
            )
        })?;
        let first = match &file.first_date {
            Some(d) => report.date(d, "first_date")?,
            None => NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN),
        };
        let last = match &file.last_date {
            Some(d) => report.date(d, "last_date")?,
            None => NaiveDate::from_ymd_opt(2199, 12, 31).unwrap_or(NaiveDate::MAX),
        };
        if first > last {
            return Err(report.plain(format!("first_date {first} is after last_date {last}")));
        }

        let regular = report.hours(&file.open, &file.close, &file.breaks)?;
        let mut weekly: [Option<Hours>; 7] = Default::default();
        let default_days =
            ["mon", "tue", "wed", "thu", "fri"].map(|d| Spanned::new(0..0, d.to_owned()));
        let days = file.weekdays.as_deref().unwrap_or(&default_days);
        for day in days {
            let wd = weekday(day.get_ref()).ok_or_else(|| {
                report.at(
                    day,
                    format!("weekday {:?} is not one of mon..sun", day.get_ref()),
                )
            })?;
            weekly[wd.num_days_from_monday() as usize] = Some(regular.clone());
        }
        for (name, def) in &file.hours {
            let wd = weekday(name).ok_or_else(|| {
                report.at(
                    &def.open,
                    format!("[hours.{name}]: {name:?} is not one of mon..sun"),
                )
            })?;
            if weekly[wd.num_days_from_monday() as usize].is_none() {
                return Err(report.at(
                    &def.open,
                    format!("[hours.{name}]: {name} is not listed in weekdays"),
                ));
            }
            weekly[wd.num_days_from_monday() as usize] =
                Some(report.hours(&def.open, &def.close, &def.breaks)?);
        }

        let mut rules = Self {
            code,
            name: file.name.unwrap_or_default(),
            tz,
            first,
            last,
            weekly,
            holidays: BTreeSet::new(),
            early_closes: BTreeMap::new(),
            late_opens: BTreeMap::new(),
        };
        for h in &file.holidays {
            let date = report.date(h, "holiday")?;
            rules.holidays.insert(date);
        }
        for ec in &file.early_closes {
            let date = report.date(&ec.date, "early close date")?;
            let hours = rules.regular_hours(date).ok_or_else(|| {
                report.at(
                    &ec.date,
                    format!("early close on {date}, which is not a trading day"),
                )
            })?;
            let close = report.minute(&ec.close, "early close")?;
            if !(hours.open < close && close < hours.close) {
                return Err(report.at(
                    &ec.close,
                    format!(
                        "early close {} on {date} is not between the open and the regular close",
                        ec.close.get_ref()
                    ),
                ));
            }
            rules.early_closes.insert(date, close);
        }
        for lo in &file.late_opens {
            let date = report.date(&lo.date, "late open date")?;
            let hours = rules.regular_hours(date).ok_or_else(|| {
                report.at(
                    &lo.date,
                    format!("late open on {date}, which is not a trading day"),
                )
            })?;
            let open = report.minute(&lo.open, "late open")?;
            let open = if hours.open < 0 && open >= hours.open + 1440 {
                open - 1440
            } else {
                open
            };
            let close = rules
                .early_closes
                .get(&date)
                .copied()
                .unwrap_or(hours.close);
            if !(hours.open < open && open < close) {
                return Err(report.at(
                    &lo.open,
                    format!(
                        "late open {} on {date} is not between the regular open and the close",
                        lo.open.get_ref()
                    ),
                ));
            }
            rules.late_opens.insert(date, open);
        }
        Ok(rules)
    }

    fn regular_hours(&self, date: NaiveDate) -> Option<&Hours> {
        if self.holidays.contains(&date) {
            return None;
        }
        self.weekly[date.weekday().num_days_from_monday() as usize].as_ref()
    }

    /// The session on `date`, or `None`. The caller checks the range.
    pub(crate) fn session(&self, date: NaiveDate) -> Option<DaySpec> {
        let hours = self.regular_hours(date)?;
        let early = self.early_closes.get(&date).copied();
        let late = self.late_opens.get(&date).copied();
        let open = late.unwrap_or(hours.open);
        let close = early.unwrap_or(hours.close);
        let breaks = hours
            .breaks
            .iter()
            .filter(|(start, end)| *start >= open && *end <= close)
            .map(|(start, end)| (to_local(*start), to_local(*end)))
            .collect();
        Some(DaySpec {
            open: to_local(open),
            close: to_local(close),
            breaks,
            early_close: early.is_some(),
            late_open: late.is_some(),
        })
    }
}
