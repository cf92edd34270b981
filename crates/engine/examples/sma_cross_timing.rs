//! Times the engine bench's `sma_cross` run outside criterion: `sma_cross` 10/30, qty 100, on a
//! 10M account, over the end-to-end backtest's bars (`openbell data generate`, 10 symbols x 250
//! trading days, seed 1) held in memory, events dropped, and no record kept beside them (as
//! `openbell backtest` runs the engine; `--kept` keeps every order, round trip and equity
//! record). Prints the best and the median of N runs (default 10).
//!
//! `cargo run --release -p openbell-engine --example sma_cross_timing [-- N] [--kept]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{generated, sma_cross_run};
use openbell_calendar::Calendar;
use openbell_engine::{EngineConfig, Mode, Universe};
use openbell_model::{Interval, Symbol};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kept = args.iter().any(|a| a == "--kept");
    let runs: usize = args
        .iter()
        .find(|a| *a != "--kept")
        .map_or(10, |n| n.parse().expect("the number of runs, or --kept"));
    let symbols: Vec<Symbol> = (1..=10)
        .map(|i| Symbol::parse(&format!("SIM{i:03}")).unwrap())
        .collect();
    let mut source = generated(&symbols);
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
        bars = sma_cross_run(&config, &mut source, kept).base_bars;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    let rate = |t: Duration| bars as f64 / t.as_secs_f64() / 1e6;
    let (best, median) = (times[0], times[times.len() / 2]);
    let records = if kept {
        "records kept"
    } else {
        "no records kept"
    };
    println!(
        "{bars} base bars, {records}, {} runs: best {:.1} ms ({:.1}M bars/s), median {:.1} ms ({:.1}M bars/s)",
        times.len(),
        best.as_secs_f64() * 1e3,
        rate(best),
        median.as_secs_f64() * 1e3,
        rate(median),
    );
}
