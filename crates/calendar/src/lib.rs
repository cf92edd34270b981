//! Exchange calendars: which dates are trading days, when each opens and closes, and where the
//! bars of an interval fall within a day.
//!
//! Built in: `XNYS` (New York Stock Exchange) and `XNAS` (Nasdaq), computed by rule from
//! 1993-01-01 to 2099-12-31 and checked day by day against the `exchange_calendars` package for
//! 1993–2030; `CRYPTO`, a 24/7 calendar of UTC days. Any other exchange is a TOML file
//! ([`Calendar::from_toml_file`]). Every rule set describes a day in exchange-local wall-clock
//! time and one function resolves it to UTC, so daylight saving is handled in one place.
//!
//! [`Resampler`] builds derived bars aligned to a day's open; the data store and the engine
//! share it.

mod custom;
mod day_spec;
mod error;
mod resample;
mod trading_day;
mod xnys;

use std::path::Path;

use chrono::{Days, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use openbell_model::Timestamp;

use crate::custom::CustomRules;
use crate::day_spec::{DaySpec, LocalTime};
pub use crate::error::CalendarError;
pub use crate::resample::{ResampleError, Resampler, resample_day, resample_raw_day};
pub use crate::trading_day::{BarSlot, Break, TradingDay, coverage_of, coverage_of_stamps};

/// The codes of the built-in calendars.
pub const BUILTIN_CODES: [&str; 3] = ["XNYS", "XNAS", "CRYPTO"];

#[derive(Debug, Clone)]
enum Rules {
    Nyse,
    AlwaysOpen,
    Custom(Box<CustomRules>),
}

/// An exchange calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    code: String,
    name: String,
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
    rules: Rules,
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

impl Calendar {
    /// A built-in calendar by code (case-insensitive): `XNYS`, `XNAS` or `CRYPTO` (also `24/7`).
    ///
    /// # Errors
    /// [`CalendarError::UnknownExchange`] naming the code and listing the built-in ones.
    pub fn builtin(code: &str) -> Result<Self, CalendarError> {
        let (y0, m0, d0) = xnys::FIRST;
        let (y1, m1, d1) = xnys::LAST;
        let nyse = |code: &str, name: &str| Self {
            code: code.to_owned(),
            name: name.to_owned(),
            tz: chrono_tz::America::New_York,
            first: date(y0, m0, d0),
            last: date(y1, m1, d1),
            rules: Rules::Nyse,
        };
        match code.to_ascii_uppercase().as_str() {
            "XNYS" => Ok(nyse("XNYS", "New York Stock Exchange")),
            "XNAS" => Ok(nyse("XNAS", "Nasdaq")),
            "CRYPTO" | "24/7" => Ok(Self {
                code: "CRYPTO".to_owned(),
                name: "24/7 market, UTC days".to_owned(),
                tz: chrono_tz::UTC,
                first: date(1970, 1, 1),
                last: date(2199, 12, 31),
                rules: Rules::AlwaysOpen,
            }),
            _ => Err(CalendarError::UnknownExchange {
                code: code.to_owned(),
                known: BUILTIN_CODES.join(", "),
            }),
        }
    }

    /// A calendar from TOML text; `origin` names the text in errors (a path, say). The format
    /// is documented in the README and in `custom.rs`.
    ///
    /// # Errors
    /// [`CalendarError::Definition`] naming the line, key and value that is wrong.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, CalendarError> {
        let rules = CustomRules::parse(text, origin)?;
        Ok(Self {
            code: rules.code.clone(),
            name: rules.name.clone(),
            tz: rules.tz,
            first: rules.first,
            last: rules.last,
            rules: Rules::Custom(Box::new(rules)),
        })
    }

    /// A calendar from a TOML file.
    ///
    /// # Errors
    /// [`CalendarError::Io`] when the file cannot be read, else as [`Calendar::from_toml_str`].
    pub fn from_toml_file(path: &Path) -> Result<Self, CalendarError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The calendar's code, e.g. `XNYS`.
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// A descriptive name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exchange time zone.
    #[must_use]
    pub const fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first and last dates the calendar answers for.
    #[must_use]
    pub const fn range(&self) -> (NaiveDate, NaiveDate) {
        (self.first, self.last)
    }

    fn check(&self, date: NaiveDate) -> Result<(), CalendarError> {
        if date < self.first || date > self.last {
            return Err(CalendarError::OutOfRange {
                calendar: self.code.clone(),
                date,
                first: self.first,
                last: self.last,
            });
        }
        Ok(())
    }

    fn spec(&self, date: NaiveDate) -> Option<DaySpec> {
        match &self.rules {
            Rules::Nyse => xnys::session(date),
            Rules::AlwaysOpen => Some(DaySpec {
                open: LocalTime::same_day(NaiveTime::MIN),
                close: LocalTime {
                    day_offset: 1,
                    time: NaiveTime::MIN,
                },
                breaks: Vec::new(),
                early_close: false,
                late_open: false,
            }),
            Rules::Custom(rules) => rules.session(date),
        }
    }

    /// The trading day on `date`, or `None` when the exchange is closed that date.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] for dates outside [`Calendar::range`].
    pub fn trading_day(&self, date: NaiveDate) -> Result<Option<TradingDay>, CalendarError> {
        self.check(date)?;
        self.spec(date)
            .map(|spec| spec.resolve(date, self.tz, &self.code))
            .transpose()
    }

    /// True when `date` is a trading day.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] for dates outside [`Calendar::range`].
    pub fn is_trading_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.check(date)?;
        Ok(self.spec(date).is_some())
    }

    fn step(&self, from: NaiveDate, forward: bool) -> Result<TradingDay, CalendarError> {
        let mut date = from;
        loop {
            let next = if forward {
                date.checked_add_days(Days::new(1))
            } else {
                date.checked_sub_days(Days::new(1))
            };
            date = next.unwrap_or(if forward {
                NaiveDate::MAX
            } else {
                NaiveDate::MIN
            });
            if let Some(day) = self.trading_day(date)? {
                return Ok(day);
            }
        }
    }

    /// The first trading day strictly after `date`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] when the search leaves the calendar's range.
    pub fn next_trading_day(&self, date: NaiveDate) -> Result<TradingDay, CalendarError> {
        self.step(date, true)
    }

    /// The last trading day strictly before `date`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] when the search leaves the calendar's range.
    pub fn previous_trading_day(&self, date: NaiveDate) -> Result<TradingDay, CalendarError> {
        self.step(date, false)
    }

    /// The trading days from `from` to `to`, both inclusive, in order.
    ///
    /// # Errors
    /// [`CalendarError::ReversedRange`] when `from > to`; [`CalendarError::OutOfRange`] when
    /// either end is outside [`Calendar::range`].
    pub fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, CalendarError> {
        if from > to {
            return Err(CalendarError::ReversedRange { from, to });
        }
        self.check(from)?;
        self.check(to)?;
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter_map(|d| {
                self.spec(d)
                    .map(|spec| spec.resolve(d, self.tz, &self.code))
            })
            .collect()
    }

    /// The first trading day that opens strictly after the instant `ts`.
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] when the search leaves the calendar's range.
    pub fn next_open_after(&self, ts: Timestamp) -> Result<TradingDay, CalendarError> {
        // Sessions may open the evening before their date, so start a day early.
        let start = ts
            .date_in(self.tz)
            .checked_sub_days(Days::new(1))
            .unwrap_or(NaiveDate::MIN);
        let mut date = start.max(self.first);
        loop {
            if let Some(day) = self.trading_day(date)?
                && day.open > ts
            {
                return Ok(day);
            }
            date = self.next_trading_day(date)?.date;
        }
    }

    /// The trading day whose hours `[open, close)` contain `ts`, if any (breaks included).
    ///
    /// # Errors
    /// [`CalendarError::OutOfRange`] when `ts` is outside [`Calendar::range`].
    pub fn trading_day_at(&self, ts: Timestamp) -> Result<Option<TradingDay>, CalendarError> {
        let local = ts.date_in(self.tz);
        for date in [Some(local), local.checked_add_days(Days::new(1))]
            .into_iter()
            .flatten()
        {
            if date > self.last {
                continue;
            }
            if let Some(day) = self.trading_day(date)?
                && day.open <= ts
                && ts < day.close
            {
                return Ok(Some(day));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
