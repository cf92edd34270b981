//! [`Timestamp`]: one instant, as nanoseconds since the Unix epoch in UTC.
//!
//! One representation everywhere (events, bars, storage) keeps comparisons and arithmetic
//! integer-exact. Local exchange time exists only at the edges, through [`Timestamp::to_zoned`]
//! and [`Timestamp::from_local`]. The `i64` nanosecond range covers 1677-09-21 to 2262-04-11.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// An instant in UTC with nanosecond resolution.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Self = Self(0);
    /// The earliest representable instant.
    pub const MIN: Self = Self(i64::MIN);
    /// The latest representable instant.
    pub const MAX: Self = Self(i64::MAX);

    /// An instant from nanoseconds since the epoch.
    #[must_use]
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// Nanoseconds since the epoch.
    #[must_use]
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// An instant from whole seconds since the epoch.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] outside 1677..2262.
    pub fn from_secs(secs: i64) -> Result<Self, ModelError> {
        Self::scaled(secs, NANOS_PER_SECOND, "seconds")
    }

    /// An instant from milliseconds since the epoch.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] outside 1677..2262.
    pub fn from_millis(millis: i64) -> Result<Self, ModelError> {
        Self::scaled(millis, 1_000_000, "milliseconds")
    }

    /// An instant from microseconds since the epoch.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] outside 1677..2262.
    pub fn from_micros(micros: i64) -> Result<Self, ModelError> {
        Self::scaled(micros, 1_000, "microseconds")
    }

    fn scaled(value: i64, factor: i64, unit: &'static str) -> Result<Self, ModelError> {
        value
            .checked_mul(factor)
            .map(Self)
            .ok_or_else(|| ModelError::OutOfRange {
                kind: "timestamp",
                value: format!("{value} {unit} since the epoch"),
            })
    }

    /// Converts a UTC date-time.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] outside 1677..2262.
    pub fn from_datetime<Z: TimeZone>(dt: &DateTime<Z>) -> Result<Self, ModelError> {
        dt.timestamp_nanos_opt()
            .map(Self)
            .ok_or_else(|| ModelError::OutOfRange {
                kind: "timestamp",
                value: dt.to_utc().to_rfc3339(),
            })
    }

    /// The instant a UTC date begins.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] outside 1677..2262.
    pub fn utc_midnight(date: chrono::NaiveDate) -> Result<Self, ModelError> {
        Self::from_datetime(&date.and_time(chrono::NaiveTime::MIN).and_utc())
    }

    /// The instant as a UTC `chrono` date-time.
    #[must_use]
    pub fn to_utc(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// The instant in the given time zone.
    #[must_use]
    pub fn to_zoned(self, tz: Tz) -> DateTime<Tz> {
        self.to_utc().with_timezone(&tz)
    }

    /// The calendar date of the instant in the given time zone.
    #[must_use]
    pub fn date_in(self, tz: Tz) -> NaiveDate {
        self.to_zoned(tz).date_naive()
    }

    /// The instant of a wall-clock time in a time zone.
    ///
    /// # Errors
    /// [`ModelError::LocalTime`] when the local time does not exist (skipped by a daylight-saving
    /// change) or is ambiguous (repeated when clocks fall back); [`ModelError::OutOfRange`]
    /// outside 1677..2262.
    pub fn from_local(local: NaiveDateTime, tz: Tz) -> Result<Self, ModelError> {
        let err = |reason| ModelError::LocalTime {
            local: local.to_string(),
            zone: tz.name().to_owned(),
            reason,
        };
        match tz.from_local_datetime(&local) {
            LocalResult::Single(dt) => Self::from_datetime(&dt),
            LocalResult::None => Err(err("skipped by a daylight-saving change")),
            LocalResult::Ambiguous(..) => {
                Err(err("ambiguous: it occurs twice when daylight saving ends"))
            }
        }
    }

    /// `self + nanos`.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] past the representable range.
    pub fn checked_add_nanos(self, nanos: i64) -> Result<Self, ModelError> {
        self.0
            .checked_add(nanos)
            .map(Self)
            .ok_or_else(|| ModelError::overflow(format!("{self} + {nanos}ns")))
    }

    /// `self - nanos`.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] past the representable range.
    pub fn checked_sub_nanos(self, nanos: i64) -> Result<Self, ModelError> {
        self.0
            .checked_sub(nanos)
            .map(Self)
            .ok_or_else(|| ModelError::overflow(format!("{self} - {nanos}ns")))
    }

    /// Parses an ISO-8601 / RFC 3339 instant with a UTC offset, e.g. `2024-01-02T14:30:00Z`,
    /// `2024-01-02T09:30:00-05:00` or `2024-01-02 14:30:00.5+00:00`. Text without an offset is
    /// rejected: a naive time needs a zone, see [`Timestamp::from_local`].
    ///
    /// # Errors
    /// [`ModelError::Parse`] naming the text.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let dt = DateTime::parse_from_rfc3339(text).map_err(|e| {
            let reason = if NaiveDateTime::from_str(text).is_ok() {
                "missing UTC offset (add Z or +HH:MM)".to_owned()
            } else {
                format!("expected ISO-8601 such as 2024-01-02T14:30:00Z ({e})")
            };
            ModelError::parse("timestamp", text, reason)
        })?;
        Self::from_datetime(&dt)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with `Z`; fractional seconds only when non-zero, in 3, 6 or 9 digits
    /// (as chrono's `SecondsFormat::AutoSi`). Written digit by digit on the stack: recording a
    /// session formats hundreds of thousands of these.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.rfc3339(&mut [0; 30]))
    }
}

impl Timestamp {
    /// Appends the RFC 3339 text (as `Display` writes it) to `out`, without the formatting
    /// machinery.
    pub fn push_rfc3339(self, out: &mut String) {
        out.push_str(self.rfc3339(&mut [0; 30]));
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z`, written into `buf`. The `i64` range keeps the
    /// year within 1677..=2262, so four digits always suffice.
    fn rfc3339(self, buf: &mut [u8; 30]) -> &str {
        /// Writes `v` as `width` digits at `at`.
        fn digits(buf: &mut [u8; 30], at: usize, width: usize, mut v: u64) {
            for i in (at..at + width).rev() {
                if let Some(slot) = buf.get_mut(i) {
                    // A remainder of 10 is below 10: the narrowing cannot fail.
                    *slot = b'0' + u8::try_from(v % 10).unwrap_or(0);
                }
                v /= 10;
            }
        }
        let secs = self.0.div_euclid(NANOS_PER_SECOND);
        let nanos = self.0.rem_euclid(NANOS_PER_SECOND).unsigned_abs();
        let (date, time) = (
            secs.div_euclid(86_400),
            secs.rem_euclid(86_400).unsigned_abs(),
        );
        // Days since the epoch to a proleptic Gregorian date (Hinnant's `civil_from_days`).
        let z = date + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        *buf = *b"0000-00-00T00:00:00.000000000Z";
        digits(buf, 0, 4, year.unsigned_abs());
        digits(buf, 5, 2, month.unsigned_abs());
        digits(buf, 8, 2, day.unsigned_abs());
        digits(buf, 11, 2, time / 3_600);
        digits(buf, 14, 2, time / 60 % 60);
        digits(buf, 17, 2, time % 60);
        let (frac, width) = match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        let len = if width == 0 {
            buf[19] = b'Z';
            20
        } else {
            digits(buf, 20, width, frac);
            buf[20 + width] = b'Z';
            21 + width
        };
        // Only ASCII digits and separators were written.
        buf.get(..len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, SecondsFormat};
    use proptest::prelude::*;

    use super::*;

    fn ny() -> Tz {
        chrono_tz::America::New_York
    }

    fn local(date: &str, time: &str) -> NaiveDateTime {
        NaiveDate::from_str(date)
            .unwrap()
            .and_time(NaiveTime::from_str(time).unwrap())
    }

    #[test]
    fn parses_and_prints_iso8601() {
        let ts = Timestamp::parse("2013-10-07T13:30:00Z").unwrap();
        assert_eq!(ts.as_nanos(), 1_381_152_600 * NANOS_PER_SECOND);
        assert_eq!(ts.to_string(), "2013-10-07T13:30:00Z");
        let offset = Timestamp::parse("2013-10-07T09:30:00-04:00").unwrap();
        assert_eq!(offset, ts);
        let frac = Timestamp::parse("2013-10-07T13:30:00.000000123Z").unwrap();
        assert_eq!(frac.as_nanos() - ts.as_nanos(), 123);
        assert_eq!(frac.to_string(), "2013-10-07T13:30:00.000000123Z");
        assert_eq!(Timestamp::parse("2013-10-07 13:30:00+00:00").unwrap(), ts);
    }

    #[test]
    fn rejects_naive_and_malformed_text() {
        let err = Timestamp::parse("2013-10-07T13:30:00")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing UTC offset"), "{err}");
        let err = Timestamp::parse("2013-13-07T13:30:00Z")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"2013-13-07T13:30:00Z\""), "{err}");
        assert!(Timestamp::parse("").is_err());
        assert!(Timestamp::parse("9999-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn converts_to_and_from_new_york_across_dst() {
        // 09:30 New York is 14:30Z in winter (EST) and 13:30Z in summer (EDT).
        let winter = Timestamp::from_local(local("2011-03-11", "09:30:00"), ny()).unwrap();
        assert_eq!(winter.to_string(), "2011-03-11T14:30:00Z");
        let summer = Timestamp::from_local(local("2011-03-14", "09:30:00"), ny()).unwrap();
        assert_eq!(summer.to_string(), "2011-03-14T13:30:00Z");
        assert_eq!(
            summer.to_zoned(ny()).to_rfc3339(),
            "2011-03-14T09:30:00-04:00"
        );
        assert_eq!(
            summer.date_in(ny()),
            NaiveDate::from_ymd_opt(2011, 3, 14).unwrap()
        );
    }

    #[test]
    fn rejects_skipped_and_ambiguous_local_times() {
        let skipped = Timestamp::from_local(local("2011-03-13", "02:30:00"), ny()).unwrap_err();
        assert!(skipped.to_string().contains("skipped"), "{skipped}");
        let ambiguous = Timestamp::from_local(local("2011-11-06", "01:30:00"), ny()).unwrap_err();
        assert!(ambiguous.to_string().contains("ambiguous"), "{ambiguous}");
    }

    #[test]
    fn epoch_units_are_checked() {
        assert_eq!(
            Timestamp::from_secs(1).unwrap().as_nanos(),
            NANOS_PER_SECOND
        );
        assert_eq!(Timestamp::from_millis(1).unwrap().as_nanos(), 1_000_000);
        assert_eq!(Timestamp::from_micros(1).unwrap().as_nanos(), 1_000);
        assert!(Timestamp::from_secs(i64::MAX).is_err());
        assert!(Timestamp::MAX.checked_add_nanos(1).is_err());
        assert!(Timestamp::MIN.checked_sub_nanos(1).is_err());
    }

    /// What chrono writes for the same instant.
    fn chrono_rfc3339(nanos: i64) -> String {
        DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    #[test]
    fn display_matches_chrono_at_the_edges() {
        for nanos in [
            i64::MIN,
            i64::MAX,
            0,
            // The last instant of 1969.
            -1,
            1,
            -1_000_000_000,
            999_999_999,
            1_000_000,
            1_000,
            // 2000-02-29 and 2000-03-01 (a leap day of a century divisible by 400).
            951_782_400_000_000_000,
            951_868_800_000_000_000,
            // 1900-03-01 (1900 has no leap day).
            -2_203_891_200_000_000_000,
        ] {
            assert_eq!(
                Timestamp::from_nanos(nanos).to_string(),
                chrono_rfc3339(nanos)
            );
        }
        assert_eq!(
            format!("[{:>22}]", Timestamp::EPOCH),
            "[  1970-01-01T00:00:00Z]"
        );
    }

    proptest! {
        #[test]
        fn display_matches_chrono(nanos in any::<i64>(), round in 0u32..4) {
            // Whole seconds, milliseconds and microseconds as often as arbitrary nanoseconds.
            let unit = 10i64.pow(3 * (3 - round));
            let nanos = nanos / unit * unit;
            prop_assert_eq!(Timestamp::from_nanos(nanos).to_string(), chrono_rfc3339(nanos));
            let mut pushed = String::from("ts=");
            Timestamp::from_nanos(nanos).push_rfc3339(&mut pushed);
            prop_assert_eq!(pushed, format!("ts={}", chrono_rfc3339(nanos)));
        }

        #[test]
        fn display_parse_round_trip(nanos in any::<i64>()) {
            let ts = Timestamp::from_nanos(nanos);
            prop_assert_eq!(Timestamp::parse(&ts.to_string()).unwrap(), ts);
        }

        #[test]
        fn zoned_round_trip(secs in -2_000_000_000i64..4_000_000_000) {
            let ts = Timestamp::from_secs(secs).unwrap();
            let zoned = ts.to_zoned(ny());
            let back = Timestamp::from_datetime(&zoned).unwrap();
            prop_assert_eq!(back, ts);
            let reparsed = Timestamp::parse(&zoned.to_rfc3339()).unwrap();
            prop_assert_eq!(reparsed, ts);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = Timestamp::parse(&text);
        }
    }
}
