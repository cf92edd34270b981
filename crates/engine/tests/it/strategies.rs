//! Built-in strategies on hand-made bars: exact SMA ties, and the opening-range breakout's
//! entry, stop and flat close.

use openbell_engine::{
    BrokerConfig, Engine, Event, MemorySource, Param, Params, RiskConfig, SimulatedClock,
    StrategyRegistry, VecSink,
};
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Side, Timestamp};

use crate::{config, date, sym, xnys};

const DAY: &str = "2024-07-08";

/// 1m AAA bars on DAY with the given closes (open = close, high/low ±0.05).
fn source(closes: &[i128]) -> MemorySource {
    let day = xnys().trading_day(date(DAY)).unwrap().unwrap();
    let bars = day
        .bar_opens(Interval::M1)
        .into_iter()
        .zip(closes)
        .map(|(open, cents)| {
            let c = Price::from_raw(cents * 10_000_000);
            let ohlcv = Ohlcv {
                open: c,
                high: Price::from_raw(c.raw() + 50_000_000),
                low: Price::from_raw(c.raw() - 50_000_000),
                close: c,
                volume: Quantity::from_units(1_000).unwrap(),
            };
            Bar::try_new(sym("AAA"), Interval::M1, open, ohlcv).unwrap()
        })
        .collect::<Vec<_>>();
    let mut src = MemorySource::new();
    src.add(bars);
    src
}

fn run(src: &mut MemorySource, name: &str, params: &[(&str, f64)]) -> Vec<Event> {
    let mut cfg = config(&["AAA"], DAY, DAY);
    cfg.derived.clear();
    cfg.indicators.clear();
    let params: Params = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Param::Number(*v)))
        .collect();
    let mut strategy = StrategyRegistry::default()
        .create(name, &params, Interval::M1)
        .unwrap();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    Engine::new(cfg, src, &mut clock, &mut sink)
        .unwrap()
        .with_strategy(
            strategy.as_mut(),
            BrokerConfig::default(),
            RiskConfig::default(),
        )
        .run()
        .unwrap();
    sink.0
}

fn fills(events: &[Event]) -> Vec<(Side, Price, Timestamp)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderFilled { fill, .. } => Some((fill.side(), fill.price(), fill.ts_event())),
            _ => None,
        })
        .collect()
}

#[test]
fn equal_smas_are_a_tie_not_a_cross() {
    // SMA(2) and SMA(4) over 100, 100, 100, 100: equal (a tie); then 101 lifts fast above
    // slow: a cross up, and the buy fills at the next bar's open.
    let mut closes = vec![10_000; 4];
    closes.extend([10_100, 10_100, 10_100]);
    closes.resize(390, 10_100);
    let mut src = source(&closes);
    let events = run(
        &mut src,
        "sma_cross",
        &[("fast", 2.0), ("slow", 4.0), ("qty", 10.0)],
    );
    let f = fills(&events);
    let day = xnys().trading_day(date(DAY)).unwrap().unwrap();
    let minute = |i: i64| Timestamp::from_nanos(day.open.as_nanos() + i * 60_000_000_000);
    assert_eq!(
        f,
        [(Side::Buy, Price::from_raw(101_000_000_000), minute(5))]
    );

    // Below, then equal: 102, 102, 100, 100 gives SMA(2) 100 < SMA(4) 101, then 100 vs
    // 100.5, then 100 forever: SMA(2) == SMA(4) exactly on every later bar. Ties are not
    // crosses: no signal, no trade.
    let mut closes = vec![10_200, 10_200, 10_000, 10_000];
    closes.resize(390, 10_000);
    let mut src = source(&closes);
    let events = run(
        &mut src,
        "sma_cross",
        &[("fast", 2.0), ("slow", 4.0), ("qty", 10.0)],
    );
    assert!(fills(&events).is_empty(), "{:?}", fills(&events));
    let signals = events
        .iter()
        .filter(|e| matches!(e, Event::Signal { .. }))
        .count();
    assert_eq!(signals, 0);
}

#[test]
fn opening_range_breakout_enters_once_with_a_stop_and_is_flat_at_the_close() {
    // 30 minutes ranging 99.95..100.05, then a close of 100.20 breaks out; the price holds.
    let mut closes = vec![10_000; 30];
    closes.extend([10_020; 360]);
    let mut src = source(&closes);
    let events = run(
        &mut src,
        "opening_range_breakout",
        &[("minutes", 30.0), ("qty", 10.0)],
    );
    let f = fills(&events);
    let day = xnys().trading_day(date(DAY)).unwrap().unwrap();
    let minute = |i: i64| Timestamp::from_nanos(day.open.as_nanos() + i * 60_000_000_000);
    // Bought at bar 31's open after bar 30 closed above the range; sold at the last bar's open.
    assert_eq!(
        f,
        [
            (Side::Buy, Price::from_raw(100_200_000_000), minute(31)),
            (Side::Sell, Price::from_raw(100_200_000_000), minute(389)),
        ]
    );
    // The stop at the range low was placed, then cancelled before the exit.
    let stops = events
        .iter()
        .filter(|e| matches!(e, Event::OrderClosed { reason, .. } if reason.contains("cancelled by the strategy")))
        .count();
    assert_eq!(stops, 1);
    let last_position = events
        .iter()
        .filter_map(|e| match e {
            Event::PositionChanged { quantity, .. } => Some(*quantity),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert!(last_position.is_zero());
}

/// `sma_cross` on three symbols over the shared multi-day source, with records kept or not:
/// the events and the report.
fn sma_session(keep: bool) -> (Vec<Event>, openbell_engine::OwnedTradingReport) {
    let mut cfg = config(&["AAA", "BBB", "CCC"], "2024-07-01", "2024-07-09");
    cfg.indicators.clear();
    let params: Params = [("fast", 3.0), ("slow", 8.0), ("qty", 10.0)]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Param::Number(*v)))
        .collect();
    let mut strategy = StrategyRegistry::default()
        .create("sma_cross", &params, Interval::M1)
        .unwrap();
    let mut src = crate::source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let report = {
        let mut engine = Engine::new(cfg, &mut src, &mut clock, &mut sink)
            .unwrap()
            .with_strategy(
                strategy.as_mut(),
                BrokerConfig::default(),
                RiskConfig::default(),
            );
        if !keep {
            engine = engine.without_records();
        }
        engine.run().unwrap();
        engine.into_report().unwrap()
    };
    (sink.0, report)
}

#[test]
fn without_records_the_events_carry_every_order_and_round_trip_and_the_metrics_are_the_same() {
    let (kept_events, kept) = sma_session(true);
    let (events, report) = sma_session(false);
    assert!(kept.trades.len() > 20, "the session should trade");
    // The engine does the same; only what it keeps differs.
    assert_eq!(events, kept_events);
    assert_eq!(report.metrics, kept.metrics);
    assert_eq!(report.final_equity, kept.final_equity);
    assert!(report.trades.is_empty() && report.equity.is_empty());
    assert!(report.orders.iter().all(|r| r.order.status().is_open()));

    // Every finished order arrives once, in its final state, and with the working ones left
    // at the end they are exactly the orders a kept record holds.
    let mut orders: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::OrderFinished { record, .. } => Some(record.clone()),
            _ => None,
        })
        .collect();
    assert!(orders.iter().all(|r| r.order.status().is_terminal()));
    orders.extend(report.orders.iter().cloned());
    orders.sort_by_key(|r| r.order.id());
    assert_eq!(orders, kept.orders);

    // Round trips arrive as they close, in closing order.
    let trades: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::TradeClosed { trade, .. } => Some(trade.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(trades, kept.trades);

    // Each order finishes after its last fill.
    for (i, e) in events.iter().enumerate() {
        if let Event::OrderFilled { fill, .. } = e {
            let finished = events.iter().position(|later| {
                matches!(later, Event::OrderFinished { record, .. } if record.order.id() == fill.order_id())
            });
            if let Some(at) = finished {
                assert!(
                    at > i,
                    "order {:?} finished before its fill",
                    fill.order_id()
                );
            }
        }
    }
}
