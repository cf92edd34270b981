//! [`DaySpec`]: a session described in exchange-local wall-clock terms, before time-zone
//! resolution. Every rule set (NYSE rules, 24/7, custom TOML) produces these; one function
//! turns them into UTC [`TradingDay`]s, so daylight saving is handled in exactly one place.

use chrono::{Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use chrono_tz::Tz;
use openbell_model::Timestamp;

use crate::CalendarError;
use crate::trading_day::{Break, TradingDay};

/// A wall-clock time relative to the session date: `day_offset` days after it (`-1` for
/// sessions that open the evening before, `1` for a close at the following midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalTime {
    pub(crate) day_offset: i8,
    pub(crate) time: NaiveTime,
}

impl LocalTime {
    pub(crate) const fn same_day(time: NaiveTime) -> Self {
        Self {
            day_offset: 0,
            time,
        }
    }

    fn on(self, date: NaiveDate) -> Option<NaiveDateTime> {
        let day = if self.day_offset >= 0 {
            date.checked_add_days(Days::new(u64::from(self.day_offset.unsigned_abs())))
        } else {
            date.checked_sub_days(Days::new(u64::from(self.day_offset.unsigned_abs())))
        }?;
        Some(day.and_time(self.time))
    }
}

/// One session in local terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DaySpec {
    pub(crate) open: LocalTime,
    pub(crate) close: LocalTime,
    pub(crate) breaks: Vec<(LocalTime, LocalTime)>,
    pub(crate) early_close: bool,
    pub(crate) late_open: bool,
}

/// The instant of a local wall-clock time. An ambiguous time (clocks falling back) resolves to
/// its first occurrence; a time skipped by clocks springing forward resolves to the instant
/// the skipped hour would have been, one hour on: an exchange that opens at 02:30 on the day
/// clocks jump from 02:00 to 03:00 opens at 03:30 local.
fn resolve(local: NaiveDateTime, tz: Tz) -> Option<Timestamp> {
    let dt = match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => dt,
        LocalResult::None => tz
            .from_local_datetime(&(local + TimeDelta::hours(1)))
            .earliest()?,
    };
    Timestamp::from_datetime(&dt).ok()
}

impl DaySpec {
    pub(crate) fn resolve(
        &self,
        date: NaiveDate,
        tz: Tz,
        code: &str,
    ) -> Result<TradingDay, CalendarError> {
        let instant = |t: LocalTime| {
            t.on(date)
                .and_then(|local| resolve(local, tz))
                .ok_or_else(|| CalendarError::Definition {
                    origin: code.to_owned(),
                    message: format!(
                        "{date}: local time {} is outside the timestamp range",
                        t.time
                    ),
                })
        };
        let breaks = self
            .breaks
            .iter()
            .map(|(start, end)| {
                Ok(Break {
                    start: instant(*start)?,
                    end: instant(*end)?,
                })
            })
            .collect::<Result<Vec<_>, CalendarError>>()?;
        Ok(TradingDay {
            date,
            open: instant(self.open)?,
            close: instant(self.close)?,
            early_close: self.early_close,
            late_open: self.late_open,
            breaks,
            tz,
        })
    }
}

/// `HH:MM` as a time; for rule tables written as literals.
pub(crate) const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    }
}
