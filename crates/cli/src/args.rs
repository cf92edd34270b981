//! Turning command-line text into values, with errors that name the flag and the value.

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use openbell_model::Timestamp;

/// Parses a flag's value with the type's own parser.
pub(crate) fn parse<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>()
        .map_err(|e| anyhow::anyhow!("invalid value {text:?} for {flag}: {e}"))
}

/// Parses a `YYYY-MM-DD` flag.
pub(crate) fn parse_date(text: &str, flag: &str) -> Result<NaiveDate> {
    text.parse::<NaiveDate>()
        .with_context(|| format!("invalid date {text:?} for {flag}: expected YYYY-MM-DD"))
}

/// Parses optional `--from`/`--to` dates and checks they are in order.
pub(crate) fn date_range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<NaiveDate>, Option<NaiveDate>)> {
    let from = from.map(|d| parse_date(d, "--from")).transpose()?;
    let to = to.map(|d| parse_date(d, "--to")).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        bail!("reversed range: from {f} is after to {t}");
    }
    Ok((from, to))
}

/// Parses required `--from`/`--to` dates and checks they are in order.
pub(crate) fn required_range(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate)> {
    let (from, to) = (parse_date(from, "--from")?, parse_date(to, "--to")?);
    if from > to {
        bail!("reversed range: from {from} is after to {to}");
    }
    Ok((from, to))
}

/// The instant a date begins in a time zone (its first moment, if midnight is skipped).
pub(crate) fn local_midnight(date: NaiveDate, tz: Tz) -> Result<Timestamp> {
    let local = date
        .and_time(NaiveTime::MIN)
        .and_local_timezone(tz)
        .earliest()
        .with_context(|| format!("{date} has no midnight in {}", tz.name()))?;
    Ok(Timestamp::from_datetime(&local)?)
}
