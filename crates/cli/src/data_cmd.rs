//! `openbell data ...`: the bar store.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use openbell_data::{
    BarStore, GenerateOptions, ImportOptions, ImportReport, SessionFilter, Stamp, generate,
    import_files, ledger, resample_series,
};
use openbell_model::{Interval, Symbol, Timestamp};

use crate::args::{date_range, local_midnight, parse, parse_date};
use crate::calendar_cmd::Format;
use openbell_server::run::config::resolve;
use openbell_server::run::home::data_dir;

#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// The bar store folder (default: $OPENBELL_DATA, else $OPENBELL_HOME/data, else
    /// ~/.openbell/data).
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Import bar files (CSV or Parquet), validating every row.
    Import(ImportArgs),
    /// List the stored series: symbols, intervals, first and last bar, counts.
    Ls(LsArgs),
    /// The quality ledger of a series: expected and present bars, gaps, rejects per day.
    Quality(QualityArgs),
    /// Build a larger interval from a stored smaller one and store it.
    Resample(ResampleArgs),
    /// Write deterministic synthetic bars on the XNYS calendar.
    Generate(GenerateArgs),
    /// Write a series as CSV (ts,symbol,open,high,low,close,volume) to stdout.
    Export(SeriesArgs),
    /// The dataset fingerprint of a series (what sessions record to be re-runnable).
    Fingerprint(SeriesArgs),
}

#[derive(Debug, Args)]
struct SeriesArgs {
    /// The symbol.
    #[arg(long)]
    symbol: String,
    /// The interval.
    #[arg(long, default_value = "1m")]
    interval: String,
    /// First date, YYYY-MM-DD, in the exchange's time zone (default: the first stored bar).
    #[arg(long)]
    from: Option<String>,
    /// Last date, YYYY-MM-DD, inclusive (default: the last stored bar).
    #[arg(long)]
    to: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StampArg {
    /// Bars are stamped at their open.
    Open,
    /// Bars are stamped at their close (shifted back one interval).
    Close,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SessionArg {
    /// Keep regular-hours bars; drop the rest.
    Regular,
    /// Also keep pre- and post-market bars of trading days.
    Extended,
    /// Keep every bar.
    All,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Files to import.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Symbol of every row (default: the file's symbol column, else the file name: SPY_1m.csv).
    #[arg(long)]
    symbol: Option<String>,
    /// Bar interval (default: from the file name: SPY_1m.csv is 1m).
    #[arg(long)]
    interval: Option<String>,
    /// Time zone of naive local timestamps, e.g. America/New_York.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// How the source stamps its bars.
    #[arg(long, value_enum, default_value = "open")]
    stamp: StampArg,
    /// Column map, e.g. "ts=Date,volume=Vol" (names with a header, 0-based numbers without).
    #[arg(long, value_name = "MAP")]
    columns: Option<String>,
    /// Which bars to keep relative to regular trading hours.
    #[arg(long, value_enum, default_value = "regular")]
    session: SessionArg,
    /// Import nothing if any row is rejected.
    #[arg(long)]
    strict: bool,
    /// Exchange calendar the bars trade on.
    #[arg(long, default_value = "XNYS")]
    exchange: String,
    /// How many rejected rows to print (all are counted).
    #[arg(long, default_value_t = 20, value_name = "N")]
    show_rejections: usize,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
struct QualityArgs {
    #[command(flatten)]
    series: SeriesArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
struct ResampleArgs {
    /// The symbol.
    #[arg(long)]
    symbol: String,
    /// The stored interval to build from.
    #[arg(long, default_value = "1m")]
    from_interval: String,
    /// The interval to build (5m, 15m, 1h, 1d, ...).
    #[arg(long)]
    to_interval: String,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// How many symbols (SIM001, SIM002, ...).
    #[arg(long, default_value_t = 10)]
    symbols: u32,
    /// How many trading days.
    #[arg(long, default_value_t = 20)]
    days: u32,
    /// The first date (the first XNYS trading day on or after it).
    #[arg(long, default_value = "2024-01-02")]
    start: String,
    /// The random seed; the same seed always writes the same bars.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Bar interval.
    #[arg(long, default_value = "1m")]
    interval: String,
}

/// A series and its optional inclusive date range, checked.
fn parse_series(
    a: &SeriesArgs,
) -> Result<(Symbol, Interval, Option<NaiveDate>, Option<NaiveDate>)> {
    let symbol: Symbol = parse(&a.symbol, "--symbol")?;
    let interval: Interval = parse(&a.interval, "--interval")?;
    let (from, to) = date_range(a.from.as_deref(), a.to.as_deref())?;
    Ok((symbol, interval, from, to))
}

/// The exchange calendar a stored series was written with.
fn series_calendar(
    store: &BarStore,
    symbol: Symbol,
    interval: Interval,
) -> Result<openbell_calendar::Calendar> {
    let exchange = store
        .exchange(symbol, interval)?
        .with_context(|| format!("no {symbol} {interval} bars in {}", store.root().display()))?;
    resolve(&exchange)
}

/// The series and the instant range `[start, end)` that `--from`/`--to` (exchange-local dates,
/// inclusive) name.
fn series_range(
    store: &BarStore,
    a: &SeriesArgs,
) -> Result<(Symbol, Interval, Timestamp, Timestamp)> {
    let (symbol, interval, from, to) = parse_series(a)?;
    let tz = series_calendar(store, symbol, interval)?.timezone();
    let midnight = |d: NaiveDate| local_midnight(d, tz);
    let start = from.map(midnight).transpose()?.unwrap_or(Timestamp::MIN);
    let end = to
        .and_then(|d| d.succ_opt())
        .map(midnight)
        .transpose()?
        .unwrap_or(Timestamp::MAX);
    Ok((symbol, interval, start, end))
}

fn open_store(args: &DataArgs) -> Result<BarStore> {
    let dir = data_dir(args.data.as_deref());
    BarStore::open(&dir).with_context(|| format!("opening the bar store at {}", dir.display()))
}

pub(crate) fn run(args: DataArgs, out: &mut dyn Write) -> Result<()> {
    let store = open_store(&args)?;
    match args.command {
        DataCommand::Import(a) => import(&store, a, out),
        DataCommand::Ls(a) => list(&store, a.format, out),
        DataCommand::Quality(a) => quality(&store, &a, out),
        DataCommand::Resample(a) => {
            let symbol: Symbol = parse(&a.symbol, "--symbol")?;
            let from: Interval = parse(&a.from_interval, "--from-interval")?;
            let to: Interval = parse(&a.to_interval, "--to-interval")?;
            let calendar = series_calendar(&store, symbol, from)?;
            let started = Instant::now();
            let r = resample_series(&store, &calendar, symbol, from, to)?;
            writeln!(
                out,
                "{symbol} {from} -> {to}: {} days, {} source bars, {} derived bars (added {}, replaced {}, unchanged {}), {} outside regular hours skipped, {:.2}s",
                r.days,
                r.source_bars,
                r.derived_bars,
                r.merge.added,
                r.merge.replaced,
                r.merge.unchanged,
                r.skipped,
                started.elapsed().as_secs_f64()
            )?;
            Ok(())
        }
        DataCommand::Export(a) => {
            let (symbol, interval, start, end) = series_range(&store, &a)?;
            writeln!(out, "ts,symbol,open,high,low,close,volume")?;
            for batch in store.read(symbol, interval, start, end)? {
                for b in batch? {
                    writeln!(
                        out,
                        "{},{},{},{},{},{},{}",
                        b.ts_event(),
                        b.symbol(),
                        b.open(),
                        b.high(),
                        b.low(),
                        b.close(),
                        b.volume()
                    )?;
                }
            }
            Ok(())
        }
        DataCommand::Fingerprint(a) => {
            let (symbol, interval, start, end) = series_range(&store, &a)?;
            let started = Instant::now();
            let f = store.fingerprint(symbol, interval, start, end)?;
            let secs = started.elapsed().as_secs_f64();
            writeln!(
                out,
                "{} {symbol} {interval} {} bars ({:.3}s, {:.1}M bars/s)",
                f.digest,
                f.bars,
                secs,
                f.bars as f64 / secs.max(1e-9) / 1e6
            )?;
            Ok(())
        }
        DataCommand::Generate(a) => {
            let opts = GenerateOptions {
                symbols: a.symbols,
                days: a.days,
                start: parse_date(&a.start, "--start")?,
                seed: a.seed,
                interval: parse(&a.interval, "--interval")?,
            };
            let started = Instant::now();
            let r = generate(&store, &opts)?;
            writeln!(
                out,
                "generated {} symbols x {} trading days = {} bars (seed {}) in {}, {:.2}s",
                r.symbols.len(),
                r.days,
                r.bars,
                opts.seed,
                store.root().display(),
                started.elapsed().as_secs_f64()
            )?;
            Ok(())
        }
    }
}

/// A progress line on stderr while large files import, when stderr is a terminal.
struct Progress {
    enabled: bool,
    last_pct: u64,
}

impl Progress {
    fn update(&mut self, path: &Path, done: u64, total: u64) {
        if !self.enabled || total < 4 * 1024 * 1024 {
            return;
        }
        let pct = done.saturating_mul(100) / total.max(1);
        if pct == self.last_pct && done < total {
            return;
        }
        self.last_pct = pct;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let filled = usize::try_from(pct / 4).unwrap_or(25);
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(25 - filled.min(25)));
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r{name} [{bar}] {pct:>3}% of {:.1} MB",
            total as f64 / 1e6
        );
        if done >= total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

fn import(store: &BarStore, a: ImportArgs, out: &mut dyn Write) -> Result<()> {
    let opts = ImportOptions {
        symbol: a
            .symbol
            .as_deref()
            .map(|s| parse(s, "--symbol"))
            .transpose()?,
        interval: a
            .interval
            .as_deref()
            .map(|s| parse(s, "--interval"))
            .transpose()?,
        tz: a
            .tz
            .as_deref()
            .map(|s| parse::<chrono_tz::Tz>(s, "--tz"))
            .transpose()?,
        stamp: match a.stamp {
            StampArg::Open => Stamp::Open,
            StampArg::Close => Stamp::Close,
        },
        columns: a.columns,
        session: match a.session {
            SessionArg::Regular => SessionFilter::Regular,
            SessionArg::Extended => SessionFilter::Extended,
            SessionArg::All => SessionFilter::All,
        },
        strict: a.strict,
        calendar: resolve(&a.exchange)?,
    };
    let mut progress = Progress {
        enabled: std::io::stderr().is_terminal(),
        last_pct: u64::MAX,
    };
    let started = Instant::now();
    let reports = import_files(store, &a.files, &opts, &mut |path, done, total| {
        progress.update(path, done, total)
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut err = std::io::stderr();
    let mut shown = 0;
    for report in &reports {
        for rejection in &report.rejections {
            if shown < a.show_rejections {
                writeln!(err, "{rejection}")?;
            }
            shown += 1;
        }
    }
    if shown > a.show_rejections {
        writeln!(
            err,
            "... and {} more rejected rows (--show-rejections N prints more)",
            shown - a.show_rejections
        )?;
    }
    for report in &reports {
        write_summary(report, out)?;
    }
    let rows: u64 = reports.iter().map(|r| r.rows).sum();
    if reports.len() > 1 || elapsed > 1.0 {
        writeln!(
            out,
            "{} files, {rows} rows in {elapsed:.2}s ({:.0} rows/s)",
            reports.len(),
            rows as f64 / elapsed.max(1e-9)
        )?;
    }
    Ok(())
}

fn write_summary(r: &ImportReport, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{}: {} rows, {} imported, {} rejected",
        r.file,
        r.rows,
        r.imported,
        r.rejected_total()
    )?;
    for (reason, n) in &r.rejected {
        writeln!(out, "  rejected {:<16} {n}", reason.as_str())?;
    }
    if r.dropped_outside_session > 0 {
        writeln!(
            out,
            "  dropped outside the session filter: {}",
            r.dropped_outside_session
        )?;
    }
    if r.extended_kept > 0 {
        writeln!(out, "  kept outside regular hours: {}", r.extended_kept)?;
    }
    if r.rounded > 0 {
        writeln!(out, "  values rounded to 9 decimals: {}", r.rounded)?;
    }
    writeln!(
        out,
        "  merged into {}: added {}, replaced {}, unchanged {}",
        if r.series.is_empty() {
            "nothing".to_owned()
        } else {
            r.series.join(", ")
        },
        r.merge.added,
        r.merge.replaced,
        r.merge.unchanged
    )?;
    Ok(())
}

fn list(store: &BarStore, format: Format, out: &mut dyn Write) -> Result<()> {
    let series = store.series()?;
    let opt = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    match format {
        Format::Csv => {
            writeln!(out, "symbol,interval,exchange,first,last,bars,bytes")?;
            for s in &series {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    s.symbol,
                    s.interval,
                    s.exchange,
                    opt(s.first),
                    opt(s.last),
                    s.bars,
                    s.bytes
                )?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{:<12} {:<8} {:<8} {:<22} {:<22} {:>10} {:>10}",
                "symbol", "interval", "exchange", "first", "last", "bars", "size"
            )?;
            for s in &series {
                writeln!(
                    out,
                    "{:<12} {:<8} {:<8} {:<22} {:<22} {:>10} {:>10}",
                    s.symbol.as_str(),
                    s.interval.to_string(),
                    s.exchange,
                    opt(s.first),
                    opt(s.last),
                    s.bars,
                    human_bytes(s.bytes)
                )?;
            }
            writeln!(out, "{} series in {}", series.len(), store.root().display())?;
        }
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

fn quality(store: &BarStore, a: &QualityArgs, out: &mut dyn Write) -> Result<()> {
    let (symbol, interval, from, to) = parse_series(&a.series)?;
    let calendar = series_calendar(store, symbol, interval)?;
    let exchange = calendar.code().to_owned();
    let rows = ledger(store, &calendar, symbol, interval, from, to)?;
    let tz = calendar.timezone();
    let local = |t: Timestamp| t.to_zoned(tz).format("%H:%M").to_string();
    match a.format {
        Format::Csv => {
            writeln!(
                out,
                "date,expected,present,quality_pct,missing_bars,missing_ranges,duplicates,invalid,extended,early_close"
            )?;
            for q in &rows {
                let ranges = q
                    .missing
                    .iter()
                    .map(|(s, e)| format!("{s}/{e}"))
                    .collect::<Vec<_>>()
                    .join(";");
                writeln!(
                    out,
                    "{},{},{},{:.2},{},{},{},{},{},{}",
                    q.date,
                    q.expected,
                    q.present,
                    q.quality_pct(),
                    q.expected - q.present,
                    ranges,
                    q.duplicates,
                    q.invalid,
                    q.extended,
                    q.early_close
                )?;
            }
        }
        Format::Table => {
            writeln!(
                out,
                "{:<10}  {:>8} {:>7} {:>8} {:>5} {:>7} {:>8}  gaps (local time)",
                "date", "expected", "present", "quality", "dups", "invalid", "extended"
            )?;
            for q in &rows {
                let gaps = q
                    .missing
                    .iter()
                    .map(|(s, e)| format!("{}-{}", local(*s), local(*e)))
                    .collect::<Vec<_>>();
                let gaps = if gaps.len() > 6 {
                    format!("{} ... ({} gaps)", gaps[..6].join(" "), gaps.len())
                } else {
                    gaps.join(" ")
                };
                writeln!(
                    out,
                    "{:<10}  {:>8} {:>7} {:>7.1}% {:>5} {:>7} {:>8}  {gaps}{}",
                    q.date.to_string(),
                    q.expected,
                    q.present,
                    q.quality_pct(),
                    q.duplicates,
                    q.invalid,
                    q.extended,
                    if q.early_close { " (early close)" } else { "" }
                )?;
            }
            let expected: u64 = rows.iter().map(|q| u64::from(q.expected)).sum();
            let present: u64 = rows.iter().map(|q| u64::from(q.present)).sum();
            writeln!(
                out,
                "{symbol} {interval} on {exchange}: {} trading days, {present} of {expected} bars ({:.2}%)",
                rows.len(),
                if expected == 0 {
                    100.0
                } else {
                    present as f64 * 100.0 / expected as f64
                }
            )?;
        }
    }
    Ok(())
}
