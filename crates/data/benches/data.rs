//! Bar store throughput on generated 1m bars: decode (the engine's read path), import (CSV
//! parse and validate), resample, and write.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use openbell_calendar::{Calendar, resample_day};
use openbell_data::{BarStore, GenerateOptions, ImportOptions, generate, import_files};
use openbell_model::{Interval, Symbol, Timestamp};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = BarStore::open(dir.path().join("data")).unwrap();
    let opts = GenerateOptions {
        symbols: 1,
        days: 250,
        start: "2024-01-02".parse().unwrap(),
        seed: 1,
        interval: Interval::M1,
    };
    generate(&store, &opts).unwrap();
    let symbol = Symbol::parse("SIM001").unwrap();
    let bars = store
        .read_vec(symbol, Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    let n = bars.len() as u64;

    let mut group = c.benchmark_group("store");
    group
        .throughput(Throughput::Elements(n))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("decode 1 symbol x 250 days of 1m bars", |b| {
        b.iter(|| {
            let mut count = 0usize;
            for batch in store
                .read(symbol, Interval::M1, Timestamp::MIN, Timestamp::MAX)
                .unwrap()
            {
                count += batch.unwrap().len();
            }
            count
        });
    });
    group.bench_function("write 1 symbol x 250 days of 1m bars", |b| {
        b.iter_with_setup(
            || {
                let d = tempfile::tempdir().unwrap();
                let s = BarStore::open(d.path()).unwrap();
                (d, s)
            },
            |(_d, s)| s.write("XNYS", &bars).unwrap(),
        );
    });
    group.finish();

    // The same bars as a CSV in the shared format.
    let csv = dir.path().join("SIM001_1m.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    writeln!(file, "ts,symbol,open,high,low,close,volume").unwrap();
    for bar in &bars {
        writeln!(
            file,
            "{},{},{},{},{},{},{}",
            bar.ts_event(),
            bar.symbol(),
            bar.open(),
            bar.high(),
            bar.low(),
            bar.close(),
            bar.volume()
        )
        .unwrap();
    }
    drop(file);
    let import_opts = ImportOptions::new(Calendar::builtin("XNYS").unwrap());
    let mut group = c.benchmark_group("import");
    group
        .throughput(Throughput::Elements(n))
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.bench_function(
        "csv 1 symbol x 250 days of 1m bars into an empty store",
        |b| {
            b.iter_with_setup(
                || {
                    let d = tempfile::tempdir().unwrap();
                    let s = BarStore::open(d.path()).unwrap();
                    (d, s)
                },
                |(_d, s)| {
                    import_files(
                        &s,
                        std::slice::from_ref(&csv),
                        &import_opts,
                        &mut |_, _, _| {},
                    )
                    .unwrap()
                },
            );
        },
    );
    group.finish();

    let cal = Calendar::builtin("XNYS").unwrap();
    let days = cal
        .trading_days("2024-01-02".parse().unwrap(), "2024-12-31".parse().unwrap())
        .unwrap();
    let per_day: Vec<_> = days
        .iter()
        .map(|d| {
            let lo = bars.partition_point(|b| b.ts_event() < d.open);
            let hi = bars.partition_point(|b| b.ts_event() < d.close);
            (d.clone(), &bars[lo..hi])
        })
        .filter(|(_, b)| !b.is_empty())
        .collect();
    let mut group = c.benchmark_group("resample");
    group.throughput(Throughput::Elements(n));
    group.bench_function("1m to 5m, 250 days", |b| {
        b.iter(|| {
            per_day
                .iter()
                .map(|(day, b)| {
                    resample_day(day, symbol, Interval::M1, Interval::M5, b)
                        .unwrap()
                        .len()
                })
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
