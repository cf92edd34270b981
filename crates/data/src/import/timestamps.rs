//! Timestamp text as vendors write it.
//!
//! - ISO-8601 with an offset: `2013-10-07T13:30:00Z`, `2013-10-07 09:30:00-04:00`.
//! - Epoch integers, unit by magnitude: below 1e11 seconds, below 1e14 milliseconds, below 1e17
//!   microseconds, else nanoseconds (each covers 1973 to 5138 at least).
//! - Naive local times, which need a time zone (`--tz`): `2013-10-07 09:30[:00[.fff]]`, with `T`
//!   or a space, `2013/10/07 09:30:00`, and NinjaTrader's `20131007 093000`.
//! - Dates alone (`2013-10-07`, `20131007`), for daily bars.

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use openbell_model::Timestamp;

/// A parsed timestamp field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsValue {
    /// An instant.
    Instant(Timestamp),
    /// A calendar date without a time (daily bars).
    Date(NaiveDate),
}

const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%Y%m%d %H%M%S",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d %H:%M",
];

/// Fast path for the most common form, `YYYY-MM-DDTHH:MM:SSZ`.
fn parse_utc_seconds(b: &[u8]) -> Option<Timestamp> {
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let dt = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Timestamp::from_datetime(&dt.and_utc()).ok()
}

fn epoch(value: i64) -> Result<Timestamp, String> {
    let magnitude = value.unsigned_abs();
    let ts = if magnitude < 100_000_000_000 {
        Timestamp::from_secs(value)
    } else if magnitude < 100_000_000_000_000 {
        Timestamp::from_millis(value)
    } else if magnitude < 100_000_000_000_000_000 {
        Timestamp::from_micros(value)
    } else {
        Ok(Timestamp::from_nanos(value))
    };
    ts.map_err(|e| e.to_string())
}

/// Parses one timestamp field. `tz` resolves naive local times.
pub(crate) fn parse(text: &str, tz: Option<Tz>) -> Result<TsValue, String> {
    let text = text.trim();
    if let Some(ts) = parse_utc_seconds(text.as_bytes()) {
        return Ok(TsValue::Instant(ts));
    }
    if text.len() == 10
        && let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
    {
        return Ok(TsValue::Date(date));
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if text.len() == 8
            && let Ok(date) = NaiveDate::parse_from_str(text, "%Y%m%d")
        {
            return Ok(TsValue::Date(date));
        }
        let value: i64 = text
            .parse()
            .map_err(|_| format!("epoch value {text:?} is out of range"))?;
        return epoch(value).map(TsValue::Instant);
    }
    if let Ok(ts) = Timestamp::parse(text) {
        return Ok(TsValue::Instant(ts));
    }
    for format in NAIVE_FORMATS {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            let Some(tz) = tz else {
                return Err(format!(
                    "{text:?} has no UTC offset; pass --tz to say which time zone it is in"
                ));
            };
            return Timestamp::from_local(local, tz)
                .map(TsValue::Instant)
                .map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "{text:?} is not a timestamp (ISO-8601 with offset, epoch number, or local time with --tz)"
    ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn instant(s: &str) -> TsValue {
        TsValue::Instant(Timestamp::parse(s).unwrap())
    }

    #[rstest]
    #[case("2013-10-07T13:30:00Z", "2013-10-07T13:30:00Z")]
    #[case("2013-10-07 09:30:00-04:00", "2013-10-07T13:30:00Z")]
    #[case("1381152600", "2013-10-07T13:30:00Z")]
    #[case("1381152600000", "2013-10-07T13:30:00Z")]
    #[case("1381152600000000", "2013-10-07T13:30:00Z")]
    #[case("1381152600000000000", "2013-10-07T13:30:00Z")]
    fn instants(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(parse(text, None).unwrap(), instant(expected));
    }

    #[rstest]
    #[case("2013-10-07 09:30:00", "2013-10-07T13:30:00Z")]
    #[case("2013-10-07T09:30", "2013-10-07T13:30:00Z")]
    #[case("20131007 093000", "2013-10-07T13:30:00Z")]
    #[case("2013/10/07 09:30:00", "2013-10-07T13:30:00Z")]
    #[case("2013-12-02 09:30:00.5", "2013-12-02T14:30:00.5Z")]
    fn naive_local_times_need_a_zone(#[case] text: &str, #[case] expected: &str) {
        let ny = chrono_tz::America::New_York;
        assert_eq!(parse(text, Some(ny)).unwrap(), instant(expected));
        assert!(parse(text, None).unwrap_err().contains("--tz"));
    }

    #[test]
    fn dates_and_garbage() {
        let date = TsValue::Date(NaiveDate::from_ymd_opt(2013, 10, 7).unwrap());
        assert_eq!(parse("2013-10-07", None).unwrap(), date);
        assert_eq!(parse("20131007", None).unwrap(), date);
        assert!(parse("yesterday", None).is_err());
        assert!(parse("2013-02-30T00:00:00Z", None).is_err());
        assert!(parse("99999999999999999999", None).is_err());
        let skipped = parse("2011-03-13 02:30:00", Some(chrono_tz::America::New_York)).unwrap_err();
        assert!(skipped.contains("skipped"), "{skipped}");
    }
}
