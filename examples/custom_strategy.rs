//! A complete custom strategy, registered by name and selected from a config like the
//! built-ins: `cargo run --release -p openbell-cli --example custom_strategy`.
//!
//! `three_bar_momentum` buys `qty` after `up` higher closes in a row when flat, and sells to
//! flat after `down` lower closes in a row. It generates sample data in a temporary folder,
//! runs one month, and prints the metrics.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use openbell_calendar::Calendar;
use openbell_config::{Resolver, parse};
use openbell_data::{BarStore, GenerateOptions, generate};
use openbell_engine::{
    Context, Engine, MemorySource, NullSink, Param, Params, SimulatedClock, Strategy,
    StrategyRegistry,
};
use openbell_model::{Bar, Interval, Price, Quantity, Side, Symbol, Timestamp};

/// Consecutive up and down closes per symbol.
pub struct ThreeBarMomentum {
    up: u32,
    down: u32,
    qty: Quantity,
    streaks: BTreeMap<Symbol, (Option<Price>, u32, u32)>,
}

/// Builds it from `[strategy]` parameters (every key but `name`).
pub fn build(params: &Params, _base: Interval) -> Result<Box<dyn Strategy>, String> {
    let number = |key: &str, default: f64| match params.get(key) {
        None => Ok(default),
        Some(Param::Number(v)) => Ok(*v),
        Some(other) => Err(format!("{key} must be a number, not {other:?}")),
    };
    if let Some(unknown) = params
        .keys()
        .find(|k| !["up", "down", "qty"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown parameter {unknown:?} (known: up, down, qty)"
        ));
    }
    let count = |key: &str, default: f64| -> Result<u32, String> {
        let v = number(key, default)?;
        if v < 1.0 || v.fract() != 0.0 || v > 100.0 {
            return Err(format!(
                "{key} must be a whole number from 1 to 100, not {v}"
            ));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(v as u32)
    };
    let qty = Quantity::from_f64(number("qty", 100.0)?).map_err(|e| e.to_string())?;
    if !qty.is_positive() {
        return Err("qty must be positive".to_owned());
    }
    Ok(Box::new(ThreeBarMomentum {
        up: count("up", 3.0)?,
        down: count("down", 2.0)?,
        qty,
        streaks: BTreeMap::new(),
    }))
}

impl Strategy for ThreeBarMomentum {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        let symbol = bar.symbol();
        let (last, ups, downs) = self.streaks.entry(symbol).or_insert((None, 0, 0));
        match last.map(|l| bar.close().cmp(&l)) {
            Some(std::cmp::Ordering::Greater) => (*ups, *downs) = (*ups + 1, 0),
            Some(std::cmp::Ordering::Less) => (*ups, *downs) = (0, *downs + 1),
            _ => (*ups, *downs) = (0, 0),
        }
        *last = Some(bar.close());
        let held = ctx.position(symbol);
        if held.is_zero() && *ups >= self.up {
            let signal = ctx.signal(symbol, Side::Buy, 1.0, format!("{ups} higher closes"));
            ctx.market(symbol, Side::Buy, self.qty, Some(signal));
        } else if held.is_positive() && *downs >= self.down {
            let signal = ctx.signal(symbol, Side::Sell, 1.0, format!("{downs} lower closes"));
            ctx.market(symbol, Side::Sell, held, Some(signal));
        }
    }
}

const CONFIG: &str = r#"
[session]
start = "2024-01-02"
end = "2024-01-31"

[universe]
all = true

[strategy]
name = "three_bar_momentum"
up = 3
down = 2
qty = 50

[broker]
initial_cash = 100000
commission = "per_share"
commission_rate = 0.005
commission_min = 1
"#;

/// Generates sample data under `dir`, runs the config, and returns (fills, total return).
pub fn run(dir: &Path) -> Result<(usize, f64), Box<dyn Error>> {
    let store = BarStore::open(dir.join("data"))?;
    if store.series()?.is_empty() {
        let start = "2024-01-02".parse()?;
        generate(
            &store,
            &GenerateOptions {
                symbols: 3,
                days: 21,
                start,
                seed: 11,
                interval: Interval::M1,
            },
        )?;
    }
    let mut registry = StrategyRegistry::default();
    registry.register("three_bar_momentum", build);
    let calendar = |code: &str| Calendar::builtin(code).map_err(|e| e.to_string());
    let cfg = parse(
        CONFIG,
        "custom_strategy.toml",
        &Resolver {
            calendar: &calendar,
            custom_scanners: &[],
            strategies: &registry,
        },
    )?;
    let mut source = MemorySource::new();
    for series in store.series()? {
        if let (Some(first), Some(last)) = (series.first, series.last) {
            let end = Timestamp::from_nanos(last.as_nanos() + 1);
            source.add(store.read_vec(series.symbol, series.interval, first, end)?);
        }
    }
    let chosen = cfg.strategy.as_ref().ok_or("no [strategy]")?;
    let mut strategy = registry.create(&chosen.name, &chosen.params, cfg.engine.base_interval)?;
    let (mut clock, mut sink) = (SimulatedClock::default(), NullSink);
    let mut engine = Engine::new(cfg.engine, &mut source, &mut clock, &mut sink)?.with_strategy(
        strategy.as_mut(),
        cfg.broker,
        cfg.risk,
    );
    engine.run()?;
    let report = engine.report().ok_or("no trading report")?;
    let fills = report
        .orders
        .iter()
        .filter(|o| !o.order.filled().is_zero())
        .count();
    Ok((fills, report.metrics.total_return))
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join("openbell-custom-strategy");
    let (orders_filled, total_return) = run(&dir)?;
    println!(
        "three_bar_momentum: {orders_filled} orders filled, total return {:.2}%",
        total_return * 100.0
    );
    Ok(())
}
