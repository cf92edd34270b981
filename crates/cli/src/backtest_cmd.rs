//! `openbell backtest`: a config's strategy over stored bars through the full trading-day
//! lifecycle, with a summary and, with `--out`, every record as files and an HTML report.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use clap::Args;
use openbell_config::SessionConfig;
use openbell_data::BarStore;
use openbell_engine::{
    Engine, Event, EventSink, OrderRecord, Performance, SimulatedClock, StrategyRegistry,
};
use openbell_model::{Money, SessionId, Symbol, Timestamp};

use crate::home::data_dir_or;
use crate::report;
use crate::session_config::load_config;
use crate::store_source::StoreSource;

#[derive(Debug, Args)]
pub(crate) struct BacktestArgs {
    /// The session config (TOML with [session], [data], [universe], [[scanner]],
    /// [[indicator]], [strategy], [broker], [risk]).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Write summary.json, fills.csv, orders.csv, trades.csv, equity.csv, quality.csv,
    /// scans.csv and report.html here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The bar store folder (default: $OPENBELL_DATA, else the config's data.dir, else
    /// $OPENBELL_HOME/data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The session registry (default: $OPENBELL_DB, else sqlite://$OPENBELL_HOME/openbell.db).
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

/// One symbol-day's quality.
#[derive(Debug, Clone)]
pub(crate) struct QualityRow {
    pub(crate) date: NaiveDate,
    pub(crate) symbol: Symbol,
    pub(crate) expected: u32,
    pub(crate) present: u32,
    pub(crate) missing: Vec<(Timestamp, Timestamp)>,
}

/// One scan.
#[derive(Debug, Clone)]
pub(crate) struct ScanRow {
    pub(crate) ts: Timestamp,
    pub(crate) scanner: String,
    pub(crate) as_of: Timestamp,
    pub(crate) candidates: Vec<(Symbol, f64)>,
    pub(crate) chosen: Vec<Symbol>,
}

/// Keeps what a backtest reports, and shows progress on a terminal.
struct Recorder {
    days_total: usize,
    days: usize,
    bars: u64,
    started: Instant,
    progress: bool,
    equity: Option<Money>,
    /// The output files, written as the records arrive.
    outputs: Option<report::Outputs>,
    /// The first error writing the output files.
    output_error: Option<anyhow::Error>,
    fill_count: usize,
    order_count: usize,
    signals: usize,
    quality: Vec<QualityRow>,
    scans: Vec<ScanRow>,
    faults: Vec<String>,
    symbols: BTreeSet<Symbol>,
    /// The registry's writer, fed as the session runs.
    stream: Option<crate::registry::StreamWriter>,
}

impl Recorder {
    /// Hands a record to the output files; the first failure is kept and stops the writing.
    fn output(&mut self, write: impl FnOnce(&mut report::Outputs) -> Result<()>) {
        if let Some(outputs) = self.outputs.as_mut()
            && let Err(e) = write(outputs)
        {
            self.output_error = Some(e);
            self.outputs = None;
        }
    }
}

impl EventSink for Recorder {
    fn emit(&mut self, event: &Event) {
        if let Some(stream) = self.stream.as_mut() {
            stream.on_event(event);
        }
        match event {
            Event::OrderFilled { fill, .. } => {
                self.fill_count += 1;
                self.output(|o| o.fill(fill));
            }
            Event::TradeClosed { trade, .. } => self.output(|o| o.trade(trade)),
            Event::OrderFinished { record, .. } => self.output(|o| o.order(record.clone())),
            Event::OrderAccepted { .. } | Event::OrderRejected { .. } => self.order_count += 1,
            Event::Signal { .. } => self.signals += 1,
            Event::Equity {
                equity, open, ts, ..
            } => {
                self.equity = Some(*equity);
                self.output(|o| o.equity(*ts, *equity, *open));
            }
            Event::SymbolAdded { symbol, .. } => {
                self.symbols.insert(*symbol);
            }
            Event::Quality {
                symbol,
                date,
                expected,
                present,
                missing,
                ..
            } => self.quality.push(QualityRow {
                date: *date,
                symbol: *symbol,
                expected: *expected,
                present: *present,
                missing: missing.clone(),
            }),
            Event::ScanCompleted {
                scanner,
                as_of,
                candidates,
                chosen,
                ts,
            } => self.scans.push(ScanRow {
                ts: *ts,
                scanner: scanner.clone(),
                as_of: *as_of,
                candidates: candidates.clone(),
                chosen: chosen.clone(),
            }),
            Event::Fault {
                symbol,
                date,
                reason,
                ..
            } => self.faults.push(format!("{date} {symbol}: {reason}")),
            Event::DayEnded { bars, .. } => {
                self.days += 1;
                self.bars += bars;
                if self.progress {
                    let secs = self.started.elapsed().as_secs_f64().max(1e-9);
                    #[allow(clippy::cast_precision_loss)]
                    let rate = self.bars as f64 / secs / 1e6;
                    let equity = self
                        .equity
                        .map_or_else(String::new, |e| format!(", equity {:.2}", e.to_f64()));
                    let _ = write!(
                        std::io::stderr(),
                        "\r{}/{} days, {rate:.2}M bars/s{equity}   ",
                        self.days,
                        self.days_total
                    );
                }
            }
            _ => {}
        }
    }

    fn wants_bars(&self) -> bool {
        false
    }
}

/// Everything a finished backtest reports.
pub(crate) struct BacktestResult {
    pub(crate) session_id: SessionId,
    pub(crate) name: Option<String>,
    pub(crate) strategy: String,
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
    pub(crate) trading_days: u32,
    /// Trading days the config covers.
    pub(crate) days_planned: usize,
    /// True when a stop request ended it early.
    pub(crate) stopped: bool,
    pub(crate) symbols: Vec<Symbol>,
    pub(crate) bars: u64,
    /// The orders still working at the end (the rest reached the registry and the output
    /// files as they finished).
    pub(crate) orders: Vec<OrderRecord>,
    /// Orders submitted.
    pub(crate) order_count: usize,
    /// Fills made.
    pub(crate) fill_count: usize,
    pub(crate) signals: usize,
    pub(crate) quality: Vec<QualityRow>,
    pub(crate) scans: Vec<ScanRow>,
    pub(crate) faults: Vec<String>,
    pub(crate) metrics: Performance,
    pub(crate) initial: Money,
    pub(crate) final_equity: Money,
    pub(crate) realized: Money,
    pub(crate) fingerprint: String,
    pub(crate) elapsed_ms: u128,
    pub(crate) config_text: String,
    pub(crate) interval: openbell_model::Interval,
    pub(crate) range: (Timestamp, Timestamp),
}

impl BacktestResult {
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn bars_per_second(&self) -> f64 {
        self.bars as f64 / (self.elapsed_ms.max(1) as f64 / 1000.0)
    }
}

/// A new time-ordered session id.
pub(crate) fn new_session_id() -> Result<SessionId> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let now = Timestamp::from_nanos(nanos);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(now.as_nanos());
    hasher.write_u32(std::process::id());
    let a = hasher.finish().to_le_bytes();
    hasher.write_u8(1);
    let b = hasher.finish().to_le_bytes();
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&a);
    random[8..].copy_from_slice(&b[..2]);
    Ok(SessionId::from_parts(now, random)?)
}

/// Runs a parsed config's strategy over `store`.
pub(crate) fn backtest(
    store: &BarStore,
    cfg: &SessionConfig,
    session_id: SessionId,
    progress: bool,
    stream: Option<crate::registry::StreamWriter>,
    stop: Option<&std::sync::atomic::AtomicBool>,
    out_dir: Option<&Path>,
) -> Result<(BacktestResult, Option<report::Outputs>)> {
    let strategy_cfg = cfg
        .strategy
        .as_ref()
        .context("the config has no [strategy] table: a backtest needs one")?;
    let registry = StrategyRegistry::default();
    let mut strategy = registry
        .create(
            &strategy_cfg.name,
            &strategy_cfg.params,
            cfg.engine.base_interval,
        )
        .map_err(anyhow::Error::msg)?;
    let days_total = cfg
        .engine
        .calendar
        .trading_days(cfg.engine.start, cfg.engine.end)?
        .len();
    let mut source = StoreSource::new(store);
    let mut clock = SimulatedClock::default();
    let range = session_range(cfg)?;
    let mut recorder = Recorder {
        days_total,
        days: 0,
        bars: 0,
        started: Instant::now(),
        progress,
        equity: None,
        outputs: out_dir
            .map(|dir| report::Outputs::create(dir, range, cfg.broker.initial_cash))
            .transpose()?,
        output_error: None,
        fill_count: 0,
        order_count: 0,
        signals: 0,
        quality: Vec::new(),
        scans: Vec::new(),
        faults: Vec::new(),
        symbols: BTreeSet::new(),
        stream,
    };
    let started = Instant::now();
    let mut engine = Engine::new(cfg.engine.clone(), &mut source, &mut clock, &mut recorder)?
        .with_strategy(strategy.as_mut(), cfg.broker.clone(), cfg.risk);
    if let Some(stop) = stop {
        engine = engine.with_stop(stop);
    }
    // Nothing that grows with the session is kept: every record reaches the registry and the
    // output files as it happens.
    engine = engine.without_records();
    let summary = engine.run()?;
    let report = engine
        .into_report()
        .context("the engine kept no trading record")?;
    if let Some(stream) = recorder.stream.as_mut() {
        stream.close();
    }
    let elapsed_ms = started.elapsed().as_millis();
    if progress {
        let _ = writeln!(std::io::stderr());
    }
    let fingerprint = store.files_digest(source.files())?;
    // Quality in (date, symbol) order, as the registry returns it.
    recorder.quality.sort_by_key(|q| (q.date, q.symbol));
    if let Some(e) = recorder.output_error.take() {
        return Err(e);
    }
    let outputs = recorder.outputs.take();
    let result = BacktestResult {
        session_id,
        name: cfg.name.clone(),
        strategy: strategy_cfg.name.clone(),
        start: cfg.engine.start,
        end: cfg.engine.end,
        trading_days: summary.days,
        days_planned: days_total,
        stopped: summary.stopped,
        symbols: recorder.symbols.into_iter().collect(),
        bars: summary.base_bars,
        orders: report.orders,
        order_count: recorder.order_count,
        fill_count: recorder.fill_count,
        signals: recorder.signals,
        quality: recorder.quality,
        scans: recorder.scans,
        faults: recorder.faults,
        metrics: report.metrics,
        initial: report.portfolio.initial_cash(),
        final_equity: report.final_equity,
        realized: report.portfolio.realized_pnl(),
        fingerprint,
        elapsed_ms,
        config_text: cfg.text.clone(),
        interval: cfg.engine.base_interval,
        range,
    };
    Ok((result, outputs))
}

/// The first open and last close of the session's trading days.
fn session_range(cfg: &SessionConfig) -> Result<(Timestamp, Timestamp)> {
    let days = cfg
        .engine
        .calendar
        .trading_days(cfg.engine.start, cfg.engine.end)?;
    Ok(match (days.first(), days.last()) {
        (Some(first), Some(last)) => (first.open, last.close),
        _ => (Timestamp::from_nanos(0), Timestamp::from_nanos(0)),
    })
}

/// Prints the summary of a finished backtest.
pub(crate) fn print_summary(r: &BacktestResult, out: &mut dyn Write) -> Result<()> {
    let m = &r.metrics;
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    writeln!(out, "session   {}", r.session_id)?;
    writeln!(
        out,
        "strategy  {} on {} symbols, {} to {} ({} trading days)",
        r.strategy,
        r.symbols.len(),
        r.start,
        r.end,
        r.trading_days
    )?;
    writeln!(
        out,
        "bars      {} in {:.2}s ({:.2}M bars/s)",
        r.bars,
        r.elapsed_ms as f64 / 1000.0,
        r.bars_per_second() / 1e6
    )?;
    writeln!(
        out,
        "trading   {} signals, {} orders, {} fills, {} round trips",
        r.signals, r.order_count, r.fill_count, m.trades
    )?;
    writeln!(
        out,
        "equity    {:.2} -> {:.2} (total return {}, CAGR {})",
        r.initial.to_f64(),
        r.final_equity.to_f64(),
        pct(m.total_return),
        pct(m.cagr)
    )?;
    writeln!(
        out,
        "risk      max drawdown {} over {} days, volatility {}, Sharpe {}, Sortino {}, Calmar {}",
        pct(m.max_drawdown),
        m.max_drawdown_days,
        pct(m.volatility),
        opt(m.sharpe),
        opt(m.sortino),
        opt(m.calmar)
    )?;
    writeln!(
        out,
        "trades    win rate {}, profit factor {}, exposure {}, turnover {:.2}, commissions {:.2}",
        m.win_rate.map_or_else(|| "-".to_owned(), pct),
        opt(m.profit_factor),
        pct(m.exposure),
        m.turnover,
        m.commissions
    )?;
    if !r.faults.is_empty() {
        writeln!(
            out,
            "faults    {} symbol-days skipped (see quality.csv)",
            r.faults.len()
        )?;
    }
    Ok(())
}

pub(crate) fn run(a: &BacktestArgs, out: &mut dyn Write) -> Result<()> {
    let cfg = load_config(&a.config)?;
    let store = BarStore::open(data_dir_or(a.data.as_deref(), cfg.data_dir.as_deref()))?;
    let name = cfg.name.clone().unwrap_or_else(|| {
        a.config.file_stem().map_or_else(
            || "backtest".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    });
    let url = crate::registry::db_url(a.db.as_deref())?;
    run_recorded(&store, &cfg, &name, &url, a.out.as_deref(), out)
}

/// Runs a backtest recorded in the registry at `url`: the session row exists (running) before
/// the first bar, every record is committed before it is `completed`, and a failure leaves it
/// `failed` with the reason.
pub(crate) fn run_recorded(
    store: &BarStore,
    cfg: &SessionConfig,
    name: &str,
    url: &str,
    out_dir: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    cfg.strategy
        .as_ref()
        .context("the config has no [strategy] table: a backtest needs one")?;
    if let Some(dir) = out_dir {
        // An output folder that cannot be made fails before the session starts.
        ensure_dir(dir)?;
    }
    let rt = crate::registry::runtime()?;
    let registry = rt.block_on(crate::registry::open(url))?;
    let id = new_session_id()?;
    let runner = crate::registry::runner_id();
    rt.block_on(crate::registry::start(
        &registry, id, &runner, name, &cfg.text,
    ))?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heartbeat = rt.spawn(crate::registry::heartbeat(
        registry.clone(),
        runner,
        id,
        std::sync::Arc::clone(&stop),
    ));
    let (stream, writer) =
        crate::registry::stream(&rt, &registry, id, std::sync::Arc::clone(&stop));
    let outcome = (|| -> Result<(BacktestResult, openbell_store::Written)> {
        let (result, outputs) = backtest(
            store,
            cfg,
            id,
            std::io::stderr().is_terminal(),
            Some(stream),
            Some(&stop),
            out_dir,
        )?;
        let summary = report::summary_json(&result)?;
        let streamed = rt
            .block_on(writer)
            .context("the registry writer stopped")??;
        let rest = rt.block_on(crate::registry::finish(&registry, &result, &summary))?;
        if let Some(mut outputs) = outputs {
            match outputs.orders_from() {
                // Too many orders waited on a working one: the rest, by id, a page at a time
                // from the registry, which now has them all.
                Some(from) => rt.block_on(crate::export::for_each_row(
                    i64::try_from(from).unwrap_or(i64::MAX).saturating_sub(1),
                    async |after, n| registry.orders_page(id, after, n).await,
                    |o| o.order_id,
                    async |o| outputs.rest(crate::export::order(o)?),
                ))?,
                None => {
                    for rec in &result.orders {
                        outputs.rest(rec.clone())?;
                    }
                }
            }
            outputs.finish(&result, store)?;
        }
        Ok((result, streamed.and(rest)))
    })();
    heartbeat.abort();
    let (result, written) = match outcome {
        Ok(done) => done,
        Err(e) => {
            rt.block_on(crate::registry::fail(&registry, id, &format!("{e:#}")));
            return Err(e);
        }
    };
    print_summary(&result, out)?;
    if result.stopped {
        writeln!(
            out,
            "stopped   on request after {} of {} trading days",
            result.trading_days, result.days_planned
        )?;
    }
    let rate = written.rate();
    writeln!(
        out,
        "registry  {} rows in {:.2}s of writes ({:.0}k rows/s), {}",
        written.rows,
        written.secs,
        rate / 1e3,
        crate::registry::shown(url)
    )?;
    if let Some(dir) = out_dir {
        writeln!(out, "report    {}", dir.join("report.html").display())?;
    }
    rt.block_on(registry.close());
    Ok(())
}

/// Creates `dir` if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}
