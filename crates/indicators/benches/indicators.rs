//! Update cost of each indicator over 100,000 synthetic minute candles.

#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openbell_indicators::{CATALOG, Candle, create};
use openbell_model::Timestamp;

fn bench(c: &mut Criterion) {
    let candles: Vec<Candle> = (0..100_000i64)
        .map(|i| {
            let x = i as f64;
            let close = 100.0 + (x * 0.01).sin() * 5.0 + (x * 0.37).cos() * 0.2;
            Candle {
                ts_event: Timestamp::from_nanos(i * 60_000_000_000),
                session: i / 390,
                open: close - 0.01,
                high: close + 0.05,
                low: close - 0.05,
                close,
                volume: 1_000.0 + (x * 0.1).sin().abs() * 500.0,
            }
        })
        .collect();
    let mut group = c.benchmark_group("indicator update");
    group.throughput(Throughput::Elements(candles.len() as u64));
    for (name, _) in CATALOG {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut ind = create(name, &BTreeMap::new()).unwrap();
                let mut last = 0.0;
                for candle in &candles {
                    if let Some(o) = ind.update(black_box(candle)) {
                        last = o.value();
                    }
                }
                last
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
