//! [`Interval`]: the length of a bar, from one second to one day.
//!
//! Stored as whole seconds. Text is `<count><unit>` with unit `s`, `m`, `h` or `d` ("1m", "5m",
//! "15m", "1h", "1d") and prints in the largest unit that divides it evenly, so "60m" prints as
//! "1h". A `1d` bar spans a whole trading day; its nominal duration is 24 hours, and the exchange
//! calendar, not this type, says where a daily bar opens and closes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;
use crate::timestamp::NANOS_PER_SECOND;

const SECONDS_PER_DAY: u32 = 86_400;

/// A bar length between one second and one day.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    secs: u32,
}

impl Interval {
    /// One second.
    pub const S1: Self = Self { secs: 1 };
    /// One minute.
    pub const M1: Self = Self { secs: 60 };
    /// Five minutes.
    pub const M5: Self = Self { secs: 300 };
    /// Fifteen minutes.
    pub const M15: Self = Self { secs: 900 };
    /// Thirty minutes.
    pub const M30: Self = Self { secs: 1_800 };
    /// One hour.
    pub const H1: Self = Self { secs: 3_600 };
    /// One day.
    pub const D1: Self = Self {
        secs: SECONDS_PER_DAY,
    };

    /// An interval of `secs` seconds.
    ///
    /// # Errors
    /// [`ModelError::OutOfRange`] unless `1 <= secs <= 86400`.
    pub fn from_secs(secs: u32) -> Result<Self, ModelError> {
        if (1..=SECONDS_PER_DAY).contains(&secs) {
            Ok(Self { secs })
        } else {
            Err(ModelError::OutOfRange {
                kind: "interval",
                value: format!("{secs}s (allowed: 1s to 1d)"),
            })
        }
    }

    /// The length in whole seconds.
    #[must_use]
    pub const fn as_secs(self) -> u32 {
        self.secs
    }

    /// The length in nanoseconds.
    #[must_use]
    pub const fn as_nanos(self) -> i64 {
        self.secs as i64 * NANOS_PER_SECOND
    }

    /// The length as a [`Duration`].
    #[must_use]
    pub const fn duration(self) -> Duration {
        Duration::from_secs(self.secs as u64)
    }

    /// True for the one-day interval, whose bars follow the trading day rather than the clock.
    #[must_use]
    pub const fn is_daily(self) -> bool {
        self.secs == SECONDS_PER_DAY
    }
}

impl FromStr for Interval {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ModelError::parse("interval", text, reason);
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (count, unit) = text.split_at(split);
        if count.is_empty() {
            return Err(err("expected a count and a unit such as 1m, 5m, 1h or 1d"));
        }
        let unit_secs: u32 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => SECONDS_PER_DAY,
            _ => return Err(err("unit must be s, m, h or d, as in 1m, 5m, 1h or 1d")),
        };
        let count: u32 = count.parse().map_err(|_| err("count is too large"))?;
        let secs = count
            .checked_mul(unit_secs)
            .ok_or_else(|| err("longer than 1d"))?;
        if secs == 0 {
            return Err(err("must be at least 1s"));
        }
        if secs > SECONDS_PER_DAY {
            return Err(err("longer than 1d"));
        }
        Ok(Self { secs })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if self.secs.is_multiple_of(SECONDS_PER_DAY) {
            format!("{}d", self.secs / SECONDS_PER_DAY)
        } else if self.secs.is_multiple_of(3_600) {
            format!("{}h", self.secs / 3_600)
        } else if self.secs.is_multiple_of(60) {
            format!("{}m", self.secs / 60)
        } else {
            format!("{}s", self.secs)
        };
        f.pad(&text)
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interval({self})")
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("1s", 1)]
    #[case("1m", 60)]
    #[case("5m", 300)]
    #[case("15m", 900)]
    #[case("1h", 3_600)]
    #[case("4h", 14_400)]
    #[case("1d", 86_400)]
    #[case("90s", 90)]
    fn parses_with_duration(#[case] text: &str, #[case] secs: u64) {
        let interval: Interval = text.parse().unwrap();
        assert_eq!(interval.duration(), Duration::from_secs(secs));
        assert_eq!(
            interval.as_nanos(),
            i64::try_from(secs).unwrap() * NANOS_PER_SECOND
        );
    }

    #[rstest]
    #[case("")]
    #[case("m")]
    #[case("0m")]
    #[case("2d")]
    #[case("25h")]
    #[case("1w")]
    #[case("1M")]
    #[case("-1m")]
    #[case("1 m")]
    #[case("99999999999m")]
    fn rejects_bad_text(#[case] text: &str) {
        let err = text.parse::<Interval>().unwrap_err();
        assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
    }

    #[test]
    fn prints_in_the_largest_even_unit() {
        assert_eq!("60m".parse::<Interval>().unwrap().to_string(), "1h");
        assert_eq!("90s".parse::<Interval>().unwrap().to_string(), "90s");
        assert_eq!("24h".parse::<Interval>().unwrap(), Interval::D1);
        assert!(Interval::D1.is_daily());
        assert!(Interval::from_secs(0).is_err());
        assert!(Interval::from_secs(86_401).is_err());
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(secs in 1u32..=86_400) {
            let interval = Interval::from_secs(secs).unwrap();
            prop_assert_eq!(interval.to_string().parse::<Interval>().unwrap(), interval);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,12}") {
            let _ = text.parse::<Interval>();
        }
    }
}
