//! `sma_cross` 10/30 on real SPY minutes against a separate, straightforward implementation:
//! exact integer SMAs, crossovers, fills at the next regular-hours bar's open.

use openbell_calendar::Calendar;
use openbell_engine::{
    BrokerConfig, Engine, Event, MemorySource, Param, RiskConfig, SimulatedClock, StrategyRegistry,
    VecSink,
};
use openbell_model::{Bar, Interval, Ohlcv, Quantity, Side, Symbol, Timestamp};
use openbell_testkit::{read_real_csv, real_data_dir};

/// Decimal text to an integer count of 1e-9 units, without the model's parser.
fn nanos_of(text: &str) -> i128 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut frac = frac.to_owned();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    whole.parse::<i128>().unwrap() * 1_000_000_000 + frac.parse::<i128>().unwrap()
}

#[test]
fn sma_cross_fills_equal_an_independent_computation_on_spy_minutes() {
    let Some(dir) = real_data_dir("sma_cross independent check on SPY_1m.csv") else {
        return;
    };
    let cal = Calendar::builtin("XNYS").unwrap();
    // Regular-hours rows only, in time order: (open time, open, close), integers.
    let mut rows: Vec<(Timestamp, i128, i128)> = Vec::new();
    let mut bars = Vec::new();
    for row in read_real_csv(&dir, "SPY_1m.csv") {
        let ts = Timestamp::parse(&row.ts).unwrap();
        if cal.trading_day_at(ts).unwrap().is_none() {
            continue;
        }
        let [o, h, l, c, v] = &row.fields;
        rows.push((ts, nanos_of(o), nanos_of(c)));
        let ohlcv = Ohlcv {
            open: o.parse().unwrap(),
            high: h.parse().unwrap(),
            low: l.parse().unwrap(),
            close: c.parse().unwrap(),
            volume: v.parse().unwrap(),
        };
        bars.push(Bar::try_new(Symbol::parse("SPY").unwrap(), Interval::M1, ts, ohlcv).unwrap());
    }
    rows.sort_by_key(|r| r.0);
    assert!(rows.len() > 15_000, "{} regular-hours rows", rows.len());

    // The reference: a signal on bar k fills at bar k+1's open (the next day's first bar
    // when k is a day's last).
    let (fast, slow) = (10usize, 30usize);
    let mut expected: Vec<(Timestamp, Side, i128)> = Vec::new();
    let mut long = false;
    let mut previous: Option<std::cmp::Ordering> = None;
    for k in 0..rows.len() {
        if k + 1 < slow {
            continue;
        }
        let sum = |n: usize| rows[k + 1 - n..=k].iter().map(|r| r.2).sum::<i128>();
        let now = (sum(fast) * slow as i128).cmp(&(sum(slow) * fast as i128));
        if let Some(prev) = previous.replace(now)
            && let Some(next) = rows.get(k + 1)
        {
            use std::cmp::Ordering::{Greater, Less};
            if !long && now == Greater && prev != Greater {
                expected.push((next.0, Side::Buy, next.1));
                long = true;
            } else if long && now == Less && prev != Less {
                expected.push((next.0, Side::Sell, next.1));
                long = false;
            }
        }
    }
    assert!(expected.len() > 100, "{} reference fills", expected.len());

    let mut source = MemorySource::new();
    source.add(bars);
    let mut cfg = crate::config(&["SPY"], "2011-01-03", "2023-08-03");
    cfg.derived.clear();
    cfg.indicators.clear();
    cfg.history_days = 0;
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
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    Engine::new(cfg, &mut source, &mut clock, &mut sink)
        .unwrap()
        .with_strategy(
            strategy.as_mut(),
            BrokerConfig::default(),
            RiskConfig::default(),
        )
        .run()
        .unwrap();
    let got: Vec<(Timestamp, Side, i128)> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            Event::OrderFilled { fill, .. } => {
                assert_eq!(fill.quantity(), Quantity::from_units(100).unwrap());
                Some((fill.ts_event(), fill.side(), fill.price().raw()))
            }
            _ => None,
        })
        .collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "fill {i} differs");
    }
    assert_eq!(got.len(), expected.len());
    // At least one signal on a day's last bar filled at the next day's first open.
    let overnight = expected.iter().any(|(ts, _, _)| {
        cal.trading_day_at(*ts)
            .unwrap()
            .is_some_and(|d| d.open == *ts)
    });
    assert!(overnight, "no close-to-open fill in the sample");
}
