//! `openbell backtest`: a config's strategy over stored bars through the full trading-day
//! lifecycle, with a summary and, with `--out`, every record as files and an HTML report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Args;
use openbell_config::SessionConfig;
use openbell_data::BarStore;
use openbell_engine::{Event, EventSink};
use openbell_model::{Money, SessionId};
use openbell_server::run::backtest::{
    BacktestResult, Hooks, days_planned, new_session_id, session_range,
};
use openbell_server::run::config::load_config;
use openbell_server::run::home::data_dir_or;
use openbell_server::run::registry::{self, StreamWriter};

use crate::report;

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

/// The command line's view of a running backtest: the output files, written as the records
/// arrive, and progress on a terminal.
struct Tap {
    days_total: usize,
    days: usize,
    bars: u64,
    started: Instant,
    progress: bool,
    equity: Option<Money>,
    outputs: Option<report::Outputs>,
    /// The first error writing the output files.
    output_error: Option<anyhow::Error>,
}

impl Tap {
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

impl EventSink for Tap {
    fn emit(&mut self, event: &Event) {
        match event {
            Event::OrderFilled { fill, .. } => self.output(|o| o.fill(fill)),
            Event::TradeClosed { trade, .. } => self.output(|o| o.trade(trade)),
            Event::OrderFinished { record, .. } => self.output(|o| o.order(record.clone())),
            Event::Equity {
                equity, open, ts, ..
            } => {
                self.equity = Some(*equity);
                self.output(|o| o.equity(*ts, *equity, *open));
            }
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

/// Runs a parsed config's strategy over `store`, with progress on a terminal and, with
/// `out_dir`, the output files written as the records arrive.
pub(crate) fn backtest(
    store: &BarStore,
    cfg: &SessionConfig,
    session_id: SessionId,
    progress: bool,
    stream: Option<StreamWriter>,
    stop: Option<&std::sync::atomic::AtomicBool>,
    out_dir: Option<&Path>,
) -> Result<(BacktestResult, Option<report::Outputs>)> {
    let range = session_range(cfg)?;
    let mut tap = Tap {
        days_total: days_planned(cfg)?,
        days: 0,
        bars: 0,
        started: Instant::now(),
        progress,
        equity: None,
        outputs: out_dir
            .map(|dir| report::Outputs::create(dir, range, cfg.broker.initial_cash))
            .transpose()?,
        output_error: None,
    };
    let hooks = Hooks {
        stream,
        stop,
        tap: Some(&mut tap),
    };
    let result = openbell_server::run::backtest::backtest(store, cfg, session_id, hooks)?;
    if progress {
        let _ = writeln!(std::io::stderr());
    }
    if let Some(e) = tap.output_error.take() {
        return Err(e);
    }
    Ok((result, tap.outputs.take()))
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
    let url = registry::db_url(a.db.as_deref())?;
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
    let rt = registry::runtime()?;
    let handle = rt.handle().clone();
    let registry = rt.block_on(registry::open(url))?;
    let id = new_session_id()?;
    let runner = registry::runner_id("cli");
    rt.block_on(registry::start(&registry, id, &runner, name, &cfg.text))?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heartbeat = rt.spawn(registry::heartbeat(
        registry.clone(),
        runner,
        id,
        std::sync::Arc::clone(&stop),
    ));
    let (stream, writer) = registry::stream(&handle, &registry, id, std::sync::Arc::clone(&stop));
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
        let summary = result.summary_json()?;
        // Usually every order is in hand: the files are finished while the writer commits
        // its last rows. Otherwise they wait for the registry, from the order named.
        let waiting = match outputs {
            Some(mut done) => match done.orders_from() {
                None => {
                    for rec in &result.orders {
                        done.rest(rec.clone())?;
                    }
                    done.finish(&result, store)?;
                    None
                }
                Some(from) => Some((done, from)),
            },
            None => None,
        };
        let streamed = rt
            .block_on(writer)
            .context("the registry writer stopped")??;
        let rest = rt.block_on(registry::finish(&registry, &result.finished(), &summary))?;
        if let Some((mut outputs, from)) = waiting {
            // Too many orders waited on a working one: the rest, by id, a page at a time from
            // the registry, which now has them all.
            rt.block_on(crate::export::for_each_row(
                i64::try_from(from).unwrap_or(i64::MAX).saturating_sub(1),
                async |after, n| registry.orders_page(id, after, n).await,
                |o| o.order_id,
                async |o| outputs.rest(crate::export::order(o)?),
            ))?;
            outputs.finish(&result, store)?;
        }
        Ok((result, streamed.and(rest)))
    })();
    heartbeat.abort();
    let (result, written) = match outcome {
        Ok(done) => done,
        Err(e) => {
            rt.block_on(registry::fail(&registry, id, &format!("{e:#}")));
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
        registry::shown(url)
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
