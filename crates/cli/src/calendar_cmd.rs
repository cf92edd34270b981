//! `openbell calendar ...`: trading days and next sessions of an exchange.

use std::io::Write;

use anyhow::{Result, bail};
use chrono::{NaiveDate, SecondsFormat};
use clap::{Args, Subcommand, ValueEnum};
use openbell_calendar::{BUILTIN_CODES, Calendar, TradingDay};
use openbell_model::Timestamp;

use crate::args::parse_date;
use openbell_server::run::config::{resolve, user_calendars};

#[derive(Debug, Subcommand)]
pub(crate) enum CalendarCommand {
    /// One row per trading day between two dates (inclusive).
    Days(DaysArgs),
    /// The next trading day(s) after a date or an instant.
    Next(NextArgs),
    /// The calendars available: built in, and TOML files in $OPENBELL_HOME/calendars.
    Ls,
}

#[derive(Debug, Args)]
pub(crate) struct ExchangeArg {
    /// Calendar: XNYS, XNAS, CRYPTO, a code defined in $OPENBELL_HOME/calendars/<CODE>.toml,
    /// or the path of a calendar TOML file.
    #[arg(long, short = 'e', default_value = "XNYS")]
    exchange: String,
}

#[derive(Debug, Args)]
pub(crate) struct DaysArgs {
    #[command(flatten)]
    exchange: ExchangeArg,
    /// First date, YYYY-MM-DD.
    #[arg(long)]
    from: String,
    /// Last date, YYYY-MM-DD (inclusive).
    #[arg(long)]
    to: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct NextArgs {
    #[command(flatten)]
    exchange: ExchangeArg,
    /// A date (YYYY-MM-DD: the next trading day after it) or an ISO-8601 instant with an
    /// offset (the next session that opens after it).
    #[arg(long)]
    after: String,
    /// How many trading days to list.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Comma-separated, with a header row.
    Csv,
    /// Aligned columns for reading.
    Table,
}

pub(crate) fn run(cmd: CalendarCommand, out: &mut dyn Write) -> Result<()> {
    match cmd {
        CalendarCommand::Days(args) => {
            let cal = resolve(&args.exchange.exchange)?;
            let from = parse_date(&args.from, "--from")?;
            let to = parse_date(&args.to, "--to")?;
            let days = cal.trading_days(from, to)?;
            write_days(out, &days, args.format)
        }
        CalendarCommand::Next(args) => {
            let cal = resolve(&args.exchange.exchange)?;
            if args.count == 0 {
                bail!("invalid value 0 for --count: must be at least 1");
            }
            let first = match args.after.parse::<NaiveDate>() {
                Ok(date) => cal.next_trading_day(date)?,
                Err(_) => {
                    let ts = Timestamp::parse(&args.after).map_err(|_| {
                        anyhow::anyhow!(
                            "invalid value {:?} for --after: expected a date (2024-07-03) or an \
                             instant with an offset (2024-07-03T15:00:00Z)",
                            args.after
                        )
                    })?;
                    cal.next_open_after(ts)?
                }
            };
            let mut days = vec![first];
            while days.len() < args.count as usize {
                let last = days.last().map(|d| d.date).unwrap_or_default();
                days.push(cal.next_trading_day(last)?);
            }
            write_days(out, &days, args.format)
        }
        CalendarCommand::Ls => list(out),
    }
}

fn list(out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{:<8} {:<20} {:<25} source",
        "code", "timezone", "range"
    )?;
    for code in BUILTIN_CODES {
        let cal = Calendar::builtin(code)?;
        write_listing(out, &cal, &format!("built in: {}", cal.name()))?;
    }
    for (code, path) in user_calendars() {
        match Calendar::from_toml_file(&path) {
            Ok(cal) => write_listing(out, &cal, &path.display().to_string())?,
            Err(err) => writeln!(out, "{code:<8} invalid: {err}")?,
        }
    }
    Ok(())
}

fn write_listing(out: &mut dyn Write, cal: &Calendar, source: &str) -> Result<()> {
    let (first, last) = cal.range();
    writeln!(
        out,
        "{:<8} {:<20} {:<25} {source}",
        cal.code(),
        cal.timezone().name(),
        format!("{first}..{last}")
    )?;
    Ok(())
}

fn day_fields(day: &TradingDay) -> [String; 6] {
    let local = |ts: Timestamp| {
        ts.to_zoned(day.tz)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    };
    [
        day.date.to_string(),
        day.open.to_string(),
        day.close.to_string(),
        local(day.open),
        local(day.close),
        day.early_close.to_string(),
    ]
}

const HEADER: [&str; 6] = [
    "date",
    "open_utc",
    "close_utc",
    "open_local",
    "close_local",
    "early_close",
];

fn write_days(out: &mut dyn Write, days: &[TradingDay], format: Format) -> Result<()> {
    let rows: Vec<[String; 6]> = days.iter().map(day_fields).collect();
    match format {
        Format::Csv => {
            writeln!(out, "{}", HEADER.join(","))?;
            for row in &rows {
                writeln!(out, "{}", row.join(","))?;
            }
        }
        Format::Table => {
            let mut widths = HEADER.map(str::len);
            for row in &rows {
                for (w, field) in widths.iter_mut().zip(row) {
                    *w = (*w).max(field.len());
                }
            }
            let line = |fields: [&str; 6]| {
                fields
                    .iter()
                    .zip(widths)
                    .map(|(f, w)| format!("{f:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            writeln!(out, "{}", line(HEADER).trim_end())?;
            for row in &rows {
                writeln!(
                    out,
                    "{}",
                    line(row.each_ref().map(String::as_str)).trim_end()
                )?;
            }
            writeln!(
                out,
                "{} trading day{}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(())
}
