//! `openbell indicator NAME ...`: an indicator over a stored series.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use openbell_calendar::TradingDay;
use openbell_data::BarStore;
use openbell_indicators::{CATALOG, Candle, create};
use openbell_model::{Interval, Symbol, Timestamp};

use crate::args::{local_midnight, parse, required_range};
use crate::calendar_cmd::Format;
use openbell_server::run::config::resolve;
use openbell_server::run::home::data_dir;

#[derive(Debug, Args)]
pub(crate) struct IndicatorArgs {
    /// The indicator: sma, ema, wma, rsi, macd, bbands, atr, vwap, stoch, obv, high_low, stddev,
    /// roc.
    name: String,
    /// The symbol.
    #[arg(long)]
    symbol: String,
    /// The bar interval.
    #[arg(long, default_value = "1m")]
    interval: String,
    /// First date to print, YYYY-MM-DD (the indicator warms up on all earlier bars).
    #[arg(long)]
    from: String,
    /// Last date to print, YYYY-MM-DD (inclusive).
    #[arg(long)]
    to: String,
    /// A parameter, e.g. --param period=50 (repeatable).
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// The bar store folder (default: $OPENBELL_DATA, else $OPENBELL_HOME/data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

pub(crate) fn run(a: &IndicatorArgs, out: &mut dyn Write) -> Result<()> {
    let mut params = BTreeMap::new();
    for p in &a.params {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("invalid --param {p:?}: expected key=value"))?;
        let value: f64 = v
            .trim()
            .parse()
            .with_context(|| format!("invalid --param {p:?}: {v:?} is not a number"))?;
        params.insert(k.trim().to_owned(), value);
    }
    let mut indicator = create(&a.name, &params)?;
    let symbol: Symbol = parse(&a.symbol, "--symbol")?;
    let interval: Interval = parse(&a.interval, "--interval")?;
    let (from, to) = required_range(&a.from, &a.to)?;
    let store = BarStore::open(data_dir(a.data.as_deref()))?;
    let exchange = store
        .exchange(symbol, interval)?
        .with_context(|| format!("no {symbol} {interval} bars in {}", store.root().display()))?;
    let calendar = resolve(&exchange)?;
    let tz = calendar.timezone();
    let midnight = |d: NaiveDate| local_midnight(d, tz);
    let start = midnight(from)?;
    let end = midnight(to.succ_opt().context("date out of range")?)?;

    let names = indicator.output_names();
    let mut rows: Vec<(Timestamp, Vec<f64>)> = Vec::new();
    let mut day: Option<TradingDay> = None;
    // Warm up on every stored bar before the range, as a session does with its history.
    for batch in store.read(symbol, interval, Timestamp::MIN, end)? {
        for bar in batch? {
            let ts = bar.ts_event();
            if day.as_ref().is_none_or(|d| ts < d.open || ts >= d.close) {
                day = calendar.trading_day_at(ts)?;
            }
            // Bars outside any session (extended hours) belong to their local date.
            let session = day
                .as_ref()
                .map_or_else(|| midnight(ts.date_in(tz)).unwrap_or(ts), |d| d.open);
            let value = indicator.update(&Candle::from_bar(&bar, session));
            if ts >= start
                && let Some(v) = value
            {
                rows.push((ts, v.as_slice().to_vec()));
            }
        }
    }
    match a.format {
        Format::Csv => {
            writeln!(out, "ts,{}", names.join(","))?;
            for (ts, values) in &rows {
                let cells: Vec<String> = values.iter().map(f64::to_string).collect();
                writeln!(out, "{ts},{}", cells.join(","))?;
            }
        }
        Format::Table => {
            let header: Vec<String> = names.iter().map(|n| format!("{n:>14}")).collect();
            writeln!(out, "{:<22}{}", "ts", header.join(""))?;
            for (ts, values) in &rows {
                let cells: Vec<String> = values.iter().map(|v| format!("{v:>14.6}")).collect();
                writeln!(out, "{:<22}{}", ts.to_string(), cells.join(""))?;
            }
            let params: Vec<String> = CATALOG
                .iter()
                .find(|(n, _)| *n == a.name)
                .map(|(_, defaults)| {
                    defaults
                        .iter()
                        .map(|(k, d)| format!("{k}={}", params.get(*k).unwrap_or(d)))
                        .collect()
                })
                .unwrap_or_default();
            writeln!(
                out,
                "{} {} {symbol} {interval}: {} values",
                a.name,
                params.join(" "),
                rows.len()
            )?;
        }
    }
    Ok(())
}
