//! Times the engine bench's `sma_cross` run outside criterion: `sma_cross` 10/30, qty 100, on a
//! 10M account, over the end-to-end backtest's bars (`openbell data generate`, 10 symbols x 250
//! trading days, seed 1) held in memory, events dropped. Prints the best and the median of N
//! runs (default 10).
//!
//! `cargo run --release -p openbell-engine --example sma_cross_timing [-- N]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use openbell_calendar::Calendar;
use openbell_engine::{
    BrokerConfig, Engine, EngineConfig, MemorySource, Mode, NullSink, Param, RiskConfig,
    SimulatedClock, StrategyRegistry, Summary, Universe,
};
use openbell_model::{Interval, Symbol, Timestamp};

/// One run, as the criterion bench's `sma_cross_run`.
fn run(config: &EngineConfig, source: &mut MemorySource) -> Summary {
    let params = [
        ("fast".to_owned(), Param::Number(10.0)),
        ("slow".to_owned(), Param::Number(30.0)),
        ("qty".to_owned(), Param::Number(100.0)),
    ]
    .into_iter()
    .collect();
    let mut strategy = StrategyRegistry::default()
        .create("sma_cross", &params, Interval::M1)
        .unwrap();
    let broker = BrokerConfig {
        initial_cash: "10000000".parse().unwrap(),
        ..BrokerConfig::default()
    };
    let (mut clock, mut sink) = (SimulatedClock::default(), NullSink);
    Engine::new(config.clone(), source, &mut clock, &mut sink)
        .unwrap()
        .with_strategy(strategy.as_mut(), broker, RiskConfig::default())
        .run()
        .unwrap()
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(10, |n| n.parse().expect("the number of runs"));
    let symbols: Vec<Symbol> = (1..=10)
        .map(|i| Symbol::parse(&format!("SIM{i:03}")).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = openbell_data::BarStore::open(dir.path()).unwrap();
    let options = openbell_data::GenerateOptions {
        symbols: 10,
        days: 251,
        start: "2022-01-03".parse().unwrap(),
        seed: 1,
        interval: Interval::M1,
    };
    openbell_data::generate(&store, &options).unwrap();
    let mut source = MemorySource::new();
    let (from, to) = (Timestamp::from_nanos(0), Timestamp::from_nanos(i64::MAX));
    for symbol in &symbols {
        source.add(store.read_vec(*symbol, Interval::M1, from, to).unwrap());
    }
    let config = EngineConfig {
        calendar: Calendar::builtin("XNYS").unwrap(),
        start: "2022-01-03".parse().unwrap(),
        end: "2022-12-30".parse().unwrap(),
        base_interval: Interval::M1,
        derived: Vec::new(),
        universe: Universe::List(symbols),
        scanners: Vec::new(),
        indicators: Vec::new(),
        history_days: 0,
        mode: Mode::DataDriven,
    };
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut bars = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        bars = run(&config, &mut source).base_bars;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    let rate = |t: Duration| bars as f64 / t.as_secs_f64() / 1e6;
    let (best, median) = (times[0], times[times.len() / 2]);
    println!(
        "{bars} base bars, {} runs: best {:.1} ms ({:.1}M bars/s), median {:.1} ms ({:.1}M bars/s)",
        times.len(),
        best.as_secs_f64() * 1e3,
        rate(best),
        median.as_secs_f64() * 1e3,
        rate(median),
    );
}
