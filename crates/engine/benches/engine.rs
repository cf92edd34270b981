//! Engine throughput: 10 symbols x 20 trading days of 1m bars, 5m and 15m derived bars, three
//! indicators per symbol, no orders, events dropped; and `sma_cross` on the bars of the
//! end-to-end backtest (`openbell data generate`, 10 symbols x 250 trading days, seed 1).

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{generated, sma_cross_run};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openbell_calendar::Calendar;
use openbell_engine::{
    Engine, EngineConfig, Event, EventSink, IndicatorSpec, MemorySource, Mode, NullSink,
    SimulatedClock, Universe,
};
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol};

fn bars(symbols: &[Symbol], cal: &Calendar, from: &str, to: &str) -> Vec<Bar> {
    let mut out = Vec::new();
    for (k, symbol) in symbols.iter().enumerate() {
        let mut cents: i128 = 10_000 + k as i128 * 100;
        for day in cal
            .trading_days(from.parse().unwrap(), to.parse().unwrap())
            .unwrap()
        {
            for (i, open) in day.bar_opens(Interval::M1).into_iter().enumerate() {
                cents += (i as i128 * 7 + k as i128) % 11 - 5;
                let p = Price::from_raw(cents * 10_000_000);
                let ohlcv = Ohlcv {
                    open: p,
                    high: Price::from_raw(p.raw() + 30_000_000),
                    low: Price::from_raw(p.raw() - 30_000_000),
                    close: p,
                    volume: Quantity::from_units(100).unwrap(),
                };
                out.push(Bar::try_new(*symbol, Interval::M1, open, ohlcv).unwrap());
            }
        }
    }
    out
}

/// Takes every event, bars and indicator values included, and counts them.
struct CountingSink(u64);

impl EventSink for CountingSink {
    fn emit(&mut self, event: &Event) {
        self.0 += u64::from(matches!(event, Event::Bar { .. } | Event::Indicator { .. }));
    }
}

fn bench(c: &mut Criterion) {
    let cal = Calendar::builtin("XNYS").unwrap();
    let symbols: Vec<Symbol> = (1..=10)
        .map(|i| Symbol::parse(&format!("SIM{i:03}")).unwrap())
        .collect();
    let mut source = MemorySource::new();
    source.add(bars(&symbols, &cal, "2024-01-02", "2024-02-01"));
    let spec = |label: &str, name: &str, interval| IndicatorSpec {
        label: label.into(),
        name: name.into(),
        interval,
        params: BTreeMap::new(),
    };
    let config = EngineConfig {
        calendar: cal.clone(),
        start: "2024-01-03".parse().unwrap(),
        end: "2024-01-31".parse().unwrap(),
        base_interval: Interval::M1,
        derived: vec![Interval::M5, Interval::M15],
        universe: Universe::List(symbols.clone()),
        scanners: vec![],
        indicators: vec![
            spec("sma", "sma", Interval::M1),
            spec("ema", "ema", Interval::M5),
            spec("rsi", "rsi", Interval::M15),
        ],
        history_days: 1,
        mode: Mode::DataDriven,
    };
    let days = cal.trading_days(config.start, config.end).unwrap().len() as u64;
    let mut group = c.benchmark_group("engine");
    group
        .throughput(Throughput::Elements(days * 390 * symbols.len() as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("10 symbols x 20 days, 5m+15m derived, 3 indicators", |b| {
        b.iter(|| {
            let mut clock = SimulatedClock::default();
            let mut sink = NullSink;
            Engine::new(config.clone(), &mut source, &mut clock, &mut sink)
                .unwrap()
                .run()
                .unwrap()
        });
    });
    // The same run with parts left out, to show what each part costs.
    let parts = [
        (
            "parts: streaming only (no derived bars, indicators or history)",
            vec![],
            false,
            0,
        ),
        (
            "parts: + 5m and 15m derived bars",
            config.derived.clone(),
            false,
            0,
        ),
        ("parts: + three indicators", config.derived.clone(), true, 0),
    ];
    for (name, derived, indicators, history_days) in parts {
        let mut cfg = config.clone();
        cfg.derived = derived;
        if !indicators {
            cfg.indicators.clear();
        }
        cfg.history_days = history_days;
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut clock = SimulatedClock::default();
                let mut sink = NullSink;
                Engine::new(cfg.clone(), &mut source, &mut clock, &mut sink)
                    .unwrap()
                    .run()
                    .unwrap()
            });
        });
    }
    group.bench_function(
        "sma_cross 10/30 trading every symbol, no derived bars or indicators",
        |b| b.iter(|| sma_cross_run(&config, &mut source, false)),
    );
    group.bench_function("same, with every bar and indicator event built", |b| {
        b.iter(|| {
            let mut clock = SimulatedClock::default();
            let mut sink = CountingSink(0);
            Engine::new(config.clone(), &mut source, &mut clock, &mut sink)
                .unwrap()
                .run()
                .unwrap();
            sink.0
        });
    });
    // 977,100 base bars: the run's trading days, early closes included.
    group.throughput(Throughput::Elements(977_100));
    let mut generated = generated(&symbols);
    let mut year = config.clone();
    year.start = "2022-01-03".parse().unwrap();
    year.end = "2022-12-30".parse().unwrap();
    // As `openbell backtest` runs the engine (no record kept beside the events), then with
    // every record kept for the report.
    for (name, kept) in [
        (
            "sma_cross 10/30 qty 100 on the end-to-end backtest's 250 days of generated bars",
            false,
        ),
        ("same, every order, round trip and equity record kept", true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let summary = sma_cross_run(&year, &mut generated, kept);
                assert_eq!(summary.base_bars, 977_100);
                summary
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
