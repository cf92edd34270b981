//! Calendar query speed: the engine asks for every trading day of a backtest and the bar
//! boundaries of each, so these sit on the start-up path of every session.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use openbell_calendar::Calendar;
use openbell_model::Interval;

fn bench(c: &mut Criterion) {
    let xnys = Calendar::builtin("XNYS").unwrap();
    let from: NaiveDate = "1993-01-01".parse().unwrap();
    let to: NaiveDate = "2030-12-31".parse().unwrap();
    c.bench_function("xnys trading_days 1993-2030 (9,562 sessions)", |b| {
        b.iter(|| {
            xnys.trading_days(black_box(from), black_box(to))
                .unwrap()
                .len()
        });
    });
    let date: NaiveDate = "2024-07-03".parse().unwrap();
    c.bench_function("xnys next_trading_day", |b| {
        b.iter(|| xnys.next_trading_day(black_box(date)).unwrap());
    });
    let day = xnys
        .trading_day("2024-01-02".parse().unwrap())
        .unwrap()
        .unwrap();
    c.bench_function("bar_slots 1m (390 bars)", |b| {
        b.iter(|| day.bar_slots(black_box(Interval::M1)).len());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
