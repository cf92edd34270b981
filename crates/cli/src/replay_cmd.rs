//! `openbell replay`: stored bars through the engine's trading-day lifecycle, without a
//! strategy: derived bars, indicators and quality, with a summary and the throughput.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use openbell_data::BarStore;
use openbell_engine::{
    Engine, EngineConfig, Event, EventSink, IndicatorSpec, Mode, SimulatedClock, Universe,
};
use openbell_model::{Interval, Symbol};

use crate::args::{parse, required_range};
use openbell_server::run::config::load_config;
use openbell_server::run::config::resolve;
use openbell_server::run::home::{data_dir, data_dir_or};
use openbell_server::run::source::StoreSource;

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Symbols, comma separated (default: every symbol stored at --interval).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// A session config file (TOML: [session], [data], [universe], [[scanner]],
    /// [[indicator]]); it replaces every other flag except --data.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["symbols", "from", "to", "derived", "indicators", "exchange"])]
    config: Option<PathBuf>,
    /// First date, YYYY-MM-DD.
    #[arg(long, required_unless_present = "config")]
    from: Option<String>,
    /// Last date, YYYY-MM-DD (inclusive).
    #[arg(long, required_unless_present = "config")]
    to: Option<String>,
    /// The base interval read from the store.
    #[arg(long, default_value = "1m")]
    interval: String,
    /// Intervals built live, comma separated, e.g. 5m,15m.
    #[arg(long, value_delimiter = ',')]
    derived: Vec<String>,
    /// An indicator as NAME[:k=v[;k=v]...][@INTERVAL], e.g. sma:period=50@5m (repeatable).
    #[arg(long = "indicator", value_name = "SPEC")]
    indicators: Vec<String>,
    /// Trading days of history loaded before each day for indicator warm-up.
    #[arg(long, default_value_t = 1)]
    history_days: u32,
    /// The exchange calendar (default: the one the first symbol's series is stored with).
    #[arg(long)]
    exchange: Option<String>,
    /// The bar store folder (default: $OPENBELL_DATA, else $OPENBELL_HOME/data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Counts events instead of keeping them.
#[derive(Default)]
struct Counts {
    scans: u64,
    faults: Vec<String>,
}

impl EventSink for Counts {
    fn emit(&mut self, event: &Event) {
        match event {
            Event::ScanCompleted { .. } => self.scans += 1,
            Event::Fault { .. } => self.faults.extend(event.fault_line()),
            _ => {}
        }
    }

    fn wants_bars(&self) -> bool {
        false
    }
}

fn parse_indicator(text: &str, base: Interval, i: usize) -> Result<IndicatorSpec> {
    let (body, interval) = match text.split_once('@') {
        Some((b, iv)) => (
            b,
            iv.parse::<Interval>()
                .map_err(|e| anyhow::anyhow!("--indicator {text:?}: {e}"))?,
        ),
        None => (text, base),
    };
    let (name, params) = body.split_once(':').unwrap_or((body, ""));
    let mut map = BTreeMap::new();
    for kv in params.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--indicator {text:?}: {kv:?} is not key=value"))?;
        let v: f64 = v
            .parse()
            .with_context(|| format!("--indicator {text:?}: {v:?} is not a number"))?;
        map.insert(k.to_owned(), v);
    }
    Ok(IndicatorSpec {
        label: format!("{i}:{body}@{interval}"),
        name: name.to_owned(),
        interval,
        params: map,
    })
}

pub(crate) fn run(a: &ReplayArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(path) = &a.config {
        let cfg = load_config(path)?;
        let store = BarStore::open(data_dir_or(a.data.as_deref(), cfg.data_dir.as_deref()))?;
        return replay(&store, cfg.engine, out);
    }
    let from = a.from.clone().unwrap_or_default();
    let to = a.to.clone().unwrap_or_default();
    let (start, end) = required_range(&from, &to)?;
    let base: Interval = parse(&a.interval, "--interval")?;
    let derived = a
        .derived
        .iter()
        .map(|d| parse(d, "--derived"))
        .collect::<Result<Vec<Interval>>>()?;
    let symbols = a
        .symbols
        .iter()
        .map(|s| parse(s, "--symbols"))
        .collect::<Result<Vec<Symbol>>>()?;
    let indicators = a
        .indicators
        .iter()
        .enumerate()
        .map(|(i, t)| parse_indicator(t, base, i))
        .collect::<Result<Vec<_>>>()?;
    let store = BarStore::open(data_dir(a.data.as_deref()))?;
    let exchange = match &a.exchange {
        Some(e) => e.clone(),
        None => {
            let first = store.series()?.into_iter().find(|s| {
                s.interval == base && (symbols.is_empty() || symbols.contains(&s.symbol))
            });
            first
                .map(|s| s.exchange)
                .with_context(|| format!("no {base} bars in {}", store.root().display()))?
        }
    };
    let config = EngineConfig {
        calendar: resolve(&exchange)?,
        start,
        end,
        base_interval: base,
        derived,
        universe: if symbols.is_empty() {
            Universe::All
        } else {
            Universe::List(symbols)
        },
        scanners: Vec::new(),
        indicators,
        history_days: a.history_days,
        mode: Mode::DataDriven,
    };
    replay(&store, config, out)
}

/// Runs `config` over the store and prints the summary.
fn replay(store: &BarStore, config: EngineConfig, out: &mut dyn Write) -> Result<()> {
    let mut source = StoreSource::new(store);
    let mut clock = SimulatedClock::default();
    let mut counts = Counts::default();
    let started = Instant::now();
    let summary = Engine::new(config, &mut source, &mut clock, &mut counts)?.run()?;
    let secs = started.elapsed().as_secs_f64();
    for fault in counts.faults.iter().take(20) {
        writeln!(std::io::stderr(), "skipped {fault}")?;
    }
    writeln!(
        out,
        "{} trading days, {} base bars, {} derived bars, {} indicator values, {} faults in {secs:.2}s ({:.2}M base bars/s)",
        summary.days,
        summary.base_bars,
        summary.derived_bars,
        summary.indicator_values,
        counts.faults.len(),
        summary.base_bars as f64 / secs.max(1e-9) / 1e6
    )?;
    Ok(())
}
