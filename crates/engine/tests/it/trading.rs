//! The simulated broker's fill rules, time in force, costs, cash and risk checks, through the
//! engine with a scripted strategy on hand-made bars.

use openbell_engine::{
    BrokerConfig, Commission, Context, Engine, Event, MemorySource, OrderRequest, RiskConfig,
    ScanView, Scanner, ScannerKind, ScannerSpec, Schedule, SimulatedClock, Slippage, Strategy,
    VecSink,
};
use openbell_model::{
    Bar, Fill, Interval, Money, Ohlcv, OrderStatus, OrderType, Price, Quantity, Side, TimeInForce,
    Timestamp,
};

use crate::{config, date, sym, xnys};

const DAY1: &str = "2024-07-08";
const DAY2: &str = "2024-07-09";

fn px(s: &str) -> Price {
    s.parse().unwrap()
}

/// Flat 1m bars for AAA on both days (open 100, high 100.5, low 99.5, close 100, volume 100),
/// with `edit(day, index)` returning replacement `(open, high, low, close)`.
fn bars(
    edit: impl Fn(usize, usize) -> Option<(&'static str, &'static str, &'static str, &'static str)>,
) -> MemorySource {
    let mut out = Vec::new();
    for (d, day) in xnys()
        .trading_days(date(DAY1), date(DAY2))
        .unwrap()
        .iter()
        .enumerate()
    {
        for (i, open) in day.bar_opens(Interval::M1).into_iter().enumerate() {
            let (o, h, l, c) = edit(d, i).unwrap_or(("100", "100.5", "99.5", "100"));
            let ohlcv = Ohlcv {
                open: px(o),
                high: px(h),
                low: px(l),
                close: px(c),
                volume: Quantity::from_units(100).unwrap(),
            };
            out.push(Bar::try_new(sym("AAA"), Interval::M1, open, ohlcv).unwrap());
        }
    }
    let mut src = MemorySource::new();
    src.add(out);
    src
}

/// Submits `orders[k]` right after the `at[k]`-th base bar (0-based, counted over the run).
struct Script {
    orders: Vec<(usize, OrderRequest)>,
    seen: usize,
    fills: Vec<Fill>,
}

impl Strategy for Script {
    fn on_bar(&mut self, ctx: &mut Context<'_>, _bar: &Bar) {
        for (at, request) in &self.orders {
            if *at == self.seen {
                ctx.submit(*request);
            }
        }
        self.seen += 1;
    }

    fn on_fill(&mut self, _ctx: &mut Context<'_>, fill: &Fill) {
        self.fills.push(*fill);
    }
}

fn order(side: Side, qty: i128, order_type: OrderType, tif: TimeInForce) -> OrderRequest {
    OrderRequest {
        symbol: sym("AAA"),
        side,
        quantity: Quantity::from_units(qty).unwrap(),
        order_type,
        time_in_force: tif,
        signal: None,
    }
}

fn market(side: Side, qty: i128) -> OrderRequest {
    order(side, qty, OrderType::Market, TimeInForce::Day)
}

struct Run {
    events: Vec<Event>,
    fills: Vec<Fill>,
}

fn run(
    src: &mut MemorySource,
    orders: Vec<(usize, OrderRequest)>,
    broker: BrokerConfig,
    risk: RiskConfig,
) -> Run {
    run_keeping(src, orders, broker, risk, true).0
}

/// [`run`], with every record kept or with finished ones forgotten
/// ([`Engine::without_records`]); also the orders the engine hands over at the end, which its
/// report and `into_report` hold alike.
fn run_keeping(
    src: &mut MemorySource,
    orders: Vec<(usize, OrderRequest)>,
    broker: BrokerConfig,
    risk: RiskConfig,
    keep: bool,
) -> (Run, Vec<openbell_engine::OrderRecord>) {
    let mut cfg = config(&["AAA"], DAY1, DAY2);
    cfg.derived.clear();
    cfg.indicators.clear();
    let mut script = Script {
        orders,
        seen: 0,
        fills: Vec::new(),
    };
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let handed = {
        let mut engine = Engine::new(cfg, src, &mut clock, &mut sink)
            .unwrap()
            .with_strategy(&mut script, broker, risk);
        if !keep {
            engine = engine.without_records();
        }
        engine.run().unwrap();
        let seen: Vec<_> = engine
            .report()
            .unwrap()
            .orders
            .into_iter()
            .cloned()
            .collect();
        let handed = engine.into_report().unwrap().orders;
        assert_eq!(seen, handed, "report and into_report hold the same orders");
        handed
    };
    let run = Run {
        events: sink.0,
        fills: script.fills,
    };
    (run, handed)
}

fn open_of(day: &str, index: i64) -> Timestamp {
    let d = xnys().trading_day(date(day)).unwrap().unwrap();
    Timestamp::from_nanos(d.open.as_nanos() + index * 60_000_000_000)
}

fn rejections(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderRejected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn closes(events: &[Event]) -> Vec<(OrderStatus, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::OrderClosed { order, reason, .. } => Some((order.status(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn market_orders_fill_at_the_next_bars_open_never_on_the_known_bar() {
    let mut src = bars(|d, i| (d == 0 && i == 11).then_some(("100.25", "100.5", "99.5", "100")));
    let r = run(
        &mut src,
        vec![(10, market(Side::Buy, 10))],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    assert_eq!(r.fills.len(), 1);
    assert_eq!(r.fills[0].price(), px("100.25"));
    assert_eq!(r.fills[0].ts_event(), open_of(DAY1, 11));
    // The fill event comes at the clock of bar 11's close, after the order was accepted.
    let accepted = r
        .events
        .iter()
        .position(|e| matches!(e, Event::OrderAccepted { .. }))
        .unwrap();
    let filled = r
        .events
        .iter()
        .position(|e| matches!(e, Event::OrderFilled { .. }))
        .unwrap();
    assert!(accepted < filled);
    assert_eq!(r.events[accepted].ts(), open_of(DAY1, 11));
    assert_eq!(r.events[filled].ts(), open_of(DAY1, 12));
}

#[test]
fn limit_orders_fill_when_traded_through_at_the_better_of_open_and_limit() {
    let mut src = bars(|d, i| match (d, i) {
        (0, 11) => Some(("100", "100.5", "99.8", "100")),
        (0, 12) => Some(("99", "99.6", "98.9", "99.5")),
        (0, 21) => Some(("100.2", "101.6", "100", "101")),
        _ => None,
    });
    let r = run(
        &mut src,
        vec![
            (
                10,
                order(
                    Side::Buy,
                    10,
                    OrderType::Limit { limit: px("99.5") },
                    TimeInForce::Gtc,
                ),
            ),
            (
                20,
                order(
                    Side::Sell,
                    10,
                    OrderType::Limit { limit: px("101.5") },
                    TimeInForce::Gtc,
                ),
            ),
        ],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    let got: Vec<(Price, Timestamp)> = r.fills.iter().map(|f| (f.price(), f.ts_event())).collect();
    // Bar 11's low 99.8 does not reach 99.5; bar 12 gaps to 99: filled at the open.
    // The sell limit fills inside bar 21 at the limit.
    assert_eq!(
        got,
        [
            (px("99"), open_of(DAY1, 12)),
            (px("101.5"), open_of(DAY1, 21))
        ]
    );
}

#[test]
fn stop_orders_fill_at_the_worse_of_open_and_stop_and_stop_limits_respect_the_limit() {
    let mut src = bars(|d, i| match (d, i) {
        (0, 12) => Some(("100.1", "100.9", "100", "100.5")),
        (0, 31) => Some(("99", "99.2", "98.8", "99")),
        (0, 41) => Some(("100.9", "101", "100.88", "100.95")),
        (0, 42) => Some(("100.9", "101", "100.8", "100.9")),
        _ => None,
    });
    let r = run(
        &mut src,
        vec![
            (
                10,
                order(
                    Side::Buy,
                    10,
                    OrderType::Stop { stop: px("100.8") },
                    TimeInForce::Gtc,
                ),
            ),
            (
                30,
                order(
                    Side::Sell,
                    10,
                    OrderType::Stop { stop: px("99.5") },
                    TimeInForce::Gtc,
                ),
            ),
            (
                40,
                order(
                    Side::Buy,
                    5,
                    OrderType::StopLimit {
                        stop: px("100.8"),
                        limit: px("100.85"),
                    },
                    TimeInForce::Gtc,
                ),
            ),
        ],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    let got: Vec<(Price, Timestamp)> = r.fills.iter().map(|f| (f.price(), f.ts_event())).collect();
    assert_eq!(
        got,
        [
            // Bar 11's high 100.5 misses the stop; bar 12 reaches it: filled at the stop.
            (px("100.8"), open_of(DAY1, 12)),
            // Bar 31 gaps below the sell stop: filled at the open, not the stop.
            (px("99"), open_of(DAY1, 31)),
            // The stop-limit triggers on bar 41's gap to 100.9, above its limit: no fill there;
            // bar 42 trades down to 100.8: filled at the limit.
            (px("100.85"), open_of(DAY1, 42)),
        ]
    );
    let triggered = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::OrderFilled { .. }))
        .count();
    assert_eq!(triggered, 3);
}

#[test]
fn an_order_at_the_close_waits_for_the_next_open_and_day_orders_expire() {
    let last = 389; // the 390th bar of DAY1 closes at the close
    let mut src = bars(|d, i| (d == 1 && i == 0).then_some(("101", "101.5", "100.5", "101")));
    let r = run(
        &mut src,
        vec![
            (
                5,
                order(
                    Side::Buy,
                    10,
                    OrderType::Limit { limit: px("90") },
                    TimeInForce::Day,
                ),
            ),
            (
                5,
                order(
                    Side::Buy,
                    10,
                    OrderType::Limit { limit: px("90") },
                    TimeInForce::Gtc,
                ),
            ),
            (last, market(Side::Buy, 10)),
        ],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    assert_eq!(r.fills.len(), 1);
    assert_eq!(r.fills[0].price(), px("101"));
    assert_eq!(r.fills[0].ts_event(), open_of(DAY2, 0));
    let closed = closes(&r.events);
    // The day limit expires at DAY1's close; the GTC one lives on (and expires never).
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].0, OrderStatus::Expired);
    assert!(closed[0].1.contains("expired at the close"));
}

#[test]
fn ioc_cancels_what_the_first_bar_cannot_fill_and_participation_splits_fills() {
    let mut src = bars(|_, _| None);
    let broker = BrokerConfig {
        participation: Some(0.1),
        ..BrokerConfig::default()
    };
    let r = run(
        &mut src,
        vec![
            (
                10,
                order(
                    Side::Buy,
                    10,
                    OrderType::Limit { limit: px("90") },
                    TimeInForce::Ioc,
                ),
            ),
            (20, market(Side::Buy, 25)),
            (
                40,
                order(Side::Sell, 25, OrderType::Market, TimeInForce::Ioc),
            ),
        ],
        broker,
        RiskConfig::default(),
    );
    let closed = closes(&r.events);
    assert_eq!(closed[0].0, OrderStatus::Cancelled);
    assert!(closed[0].1.contains("ioc"), "{closed:?}");
    // 10% of a 100-share bar: 10, 10, then the last 5.
    let buys: Vec<(i128, Timestamp)> = r
        .fills
        .iter()
        .filter(|f| f.side() == Side::Buy)
        .map(|f| (f.quantity().raw() / 1_000_000_000, f.ts_event()))
        .collect();
    assert_eq!(
        buys,
        [
            (10, open_of(DAY1, 21)),
            (10, open_of(DAY1, 22)),
            (5, open_of(DAY1, 23))
        ]
    );
    // The IOC sell takes 10 on its first bar and cancels the rest.
    let sells: Vec<i128> = r
        .fills
        .iter()
        .filter(|f| f.side() == Side::Sell)
        .map(|f| f.quantity().raw() / 1_000_000_000)
        .collect();
    assert_eq!(sells, [10]);
    assert!(
        closed
            .iter()
            .any(|(s, why)| *s == OrderStatus::Cancelled && why.contains("remainder"))
    );
}

#[test]
fn commissions_and_slippage_follow_their_models() {
    let money = |s: &str| s.parse::<Money>().unwrap();
    let cases: Vec<(BrokerConfig, Price, Money)> = vec![
        (
            BrokerConfig {
                commission: Commission::PerShare {
                    rate: px("0.005"),
                    min: money("1"),
                    max: None,
                },
                ..BrokerConfig::default()
            },
            px("100"),
            money("1"), // 10 × 0.005 = 0.05, raised to the minimum
        ),
        (
            BrokerConfig {
                commission: Commission::PerShare {
                    rate: px("0.5"),
                    min: money("1"),
                    max: Some(money("3")),
                },
                ..BrokerConfig::default()
            },
            px("100"),
            money("3"), // 10 × 0.5 = 5, capped
        ),
        (
            BrokerConfig {
                commission: Commission::CentiBps(1_000), // 10 bps of 1000
                ..BrokerConfig::default()
            },
            px("100"),
            money("1"),
        ),
        (
            BrokerConfig {
                commission: Commission::PerOrder(money("2.5")),
                slippage: Slippage::CentiBps(1_000), // 10 bps
                ..BrokerConfig::default()
            },
            px("100.1"),
            money("2.5"),
        ),
        (
            BrokerConfig {
                slippage: Slippage::Ticks {
                    ticks: 2,
                    tick: px("0.01"),
                },
                ..BrokerConfig::default()
            },
            px("100.02"),
            Money::ZERO,
        ),
    ];
    for (broker, price, commission) in cases {
        let mut src = bars(|_, _| None);
        let r = run(
            &mut src,
            vec![(10, market(Side::Buy, 10))],
            broker.clone(),
            RiskConfig::default(),
        );
        assert_eq!(r.fills.len(), 1, "{broker:?}");
        assert_eq!(
            (r.fills[0].price(), r.fills[0].commission()),
            (price, commission),
            "{broker:?}"
        );
    }
}

#[test]
fn cash_short_and_risk_rules_reject_with_a_reason() {
    let mut src = bars(|_, _| None);
    let r = run(
        &mut src,
        vec![(10, market(Side::Buy, 2_000)), (11, market(Side::Sell, 5))],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    let why = rejections(&r.events);
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].contains("insufficient buying power"), "{}", why[0]);
    assert!(why[1].contains("short selling is off"), "{}", why[1]);
    assert!(r.fills.is_empty());

    let risk = RiskConfig {
        max_position: Some(Quantity::from_units(15).unwrap()),
        max_orders_per_day: Some(3),
        ..RiskConfig::default()
    };
    let r = run(
        &mut src,
        vec![
            (10, market(Side::Buy, 10)),
            (11, market(Side::Buy, 10)),
            (12, market(Side::Sell, 5)),
            (13, market(Side::Buy, 1)),
            (14, market(Side::Buy, 1)),
            (400, market(Side::Buy, 1)),
        ],
        BrokerConfig::default(),
        risk,
    );
    let why = rejections(&r.events);
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].contains("max_position"), "{}", why[0]);
    assert!(why[1].contains("max_orders_per_day"), "{}", why[1]);
    // The next day the count starts again.
    assert_eq!(r.fills.len(), 4);
}

#[test]
fn max_daily_loss_blocks_new_entries_for_the_rest_of_the_day() {
    // The price falls from 100 to 90 at bar 21 of day one.
    let mut src = bars(|d, i| (d == 0 && i > 20).then_some(("90", "90.5", "89.5", "90")));
    let risk = RiskConfig {
        max_daily_loss: Some("50".parse().unwrap()),
        ..RiskConfig::default()
    };
    let r = run(
        &mut src,
        vec![
            (10, market(Side::Buy, 10)),
            (30, market(Side::Buy, 10)),
            (31, market(Side::Sell, 5)),
            (400, market(Side::Buy, 1)),
        ],
        BrokerConfig::default(),
        risk,
    );
    let why = rejections(&r.events);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("max_daily_loss"));
    // The exit is allowed; the next day entries are allowed again.
    assert_eq!(r.fills.len(), 3);
}

#[test]
fn flatten_at_close_closes_every_position_at_the_last_price() {
    let mut src = bars(|d, i| (d == 0 && i == 389).then_some(("100", "100.5", "99.5", "100.4")));
    let broker = BrokerConfig {
        flatten_at_close: true,
        ..BrokerConfig::default()
    };
    let r = run(
        &mut src,
        vec![(10, market(Side::Buy, 10))],
        broker,
        RiskConfig::default(),
    );
    let fills: Vec<Fill> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::OrderFilled { fill, .. } => Some(*fill),
            _ => None,
        })
        .collect();
    assert_eq!(fills.len(), 2);
    assert_eq!(fills[1].side(), Side::Sell);
    assert_eq!(fills[1].price(), px("100.4"));
    let close = xnys().trading_day(date(DAY1)).unwrap().unwrap().close;
    assert_eq!(fills[1].ts_event(), close);
    let equity: Vec<Money> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Equity { equity, .. } => Some(*equity),
            _ => None,
        })
        .collect();
    // Bought 10 at 100, sold at 100.4: +4 on 100,000.
    assert_eq!(*equity.last().unwrap(), "100004".parse().unwrap());
}

#[test]
fn shorting_and_margin_are_opt_in() {
    let mut src = bars(|_, _| None);
    let broker = BrokerConfig {
        allow_short: true,
        margin: 2.0,
        ..BrokerConfig::default()
    };
    // A short sale from flat, and a buy worth 1.5x the cash.
    let r = run(
        &mut src,
        vec![(10, market(Side::Sell, 5)), (20, market(Side::Buy, 1_505))],
        broker,
        RiskConfig::default(),
    );
    assert!(
        rejections(&r.events).is_empty(),
        "{:?}",
        rejections(&r.events)
    );
    let sides: Vec<(Side, i128)> = r
        .fills
        .iter()
        .map(|f| (f.side(), f.quantity().raw() / 1_000_000_000))
        .collect();
    assert_eq!(sides, [(Side::Sell, 5), (Side::Buy, 1_505)]);
    let last_cash = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Equity { cash, .. } => Some(*cash),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert!(last_cash.is_negative(), "{last_cash}");
}

/// One equity record per delivery time: every base bar's close once, and the close itself
/// once, after the day's end has run (so it counts what happened at the close).
#[test]
fn equity_is_recorded_once_per_delivery_time() {
    let mut src = bars(|_, _| None);
    let r = run(
        &mut src,
        vec![(5, market(Side::Buy, 10))],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    let mut stamps = Vec::new();
    let mut opens = Vec::new();
    let mut day_ends = Vec::new();
    for e in &r.events {
        match e {
            Event::Equity { ts, open, .. } => {
                stamps.push(*ts);
                opens.push(*open);
            }
            Event::PhaseStarted {
                phase: openbell_engine::Phase::EndOfDay,
                ts,
                ..
            } => day_ends.push((*ts, stamps.len())),
            _ => {}
        }
    }
    // Both days are full: 390 one-minute bars, the last closing at the close.
    assert_eq!(stamps.len(), 2 * 390);
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    for (k, day) in [DAY1, DAY2].into_iter().enumerate() {
        let close = xnys().trading_day(date(day)).unwrap().unwrap().close;
        let (end_ts, before) = day_ends[k];
        assert_eq!(end_ts, close);
        // The close's record comes after the day's end started, and is the day's last.
        assert_eq!(stamps[before], close);
        assert_eq!(before + 1, (k + 1) * 390);
    }
    // Bought after the 6th bar, filled at the 7th bar's open, held to the end.
    assert_eq!(opens.iter().position(|o| *o), Some(6));
    assert!(opens[6..].iter().all(|o| *o));
}

/// Records the number each symbol has whenever the strategy asks.
#[derive(Default)]
struct Numbering {
    on_bars: std::collections::BTreeMap<openbell_model::Symbol, std::collections::BTreeSet<usize>>,
    on_fills: Vec<(openbell_model::Symbol, Option<usize>)>,
    unknown: Vec<Option<usize>>,
    /// What the bar's symbol number reads in hooks other than `on_bar`.
    outside_bars: Vec<Option<usize>>,
    /// Symbols registered so far, as seen on each day's bars.
    registered: std::collections::BTreeSet<(chrono::NaiveDate, usize)>,
}

impl Strategy for Numbering {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        let number = ctx.symbol_number(bar.symbol()).unwrap();
        // The bar's own symbol, read without a lookup.
        assert_eq!(ctx.bar_symbol_number(), Some(number), "{}", bar.symbol());
        let first = !self.on_bars.contains_key(&bar.symbol());
        self.on_bars.entry(bar.symbol()).or_default().insert(number);
        if first {
            ctx.market(
                bar.symbol(),
                Side::Buy,
                Quantity::from_units(1).unwrap(),
                None,
            );
        }
        self.unknown.push(ctx.symbol_number(sym("ZZZ")));
        let date = ctx.data().date().unwrap();
        self.registered.insert((date, ctx.symbols_registered()));
    }

    fn on_fill(&mut self, ctx: &mut Context<'_>, fill: &Fill) {
        self.on_fills
            .push((fill.symbol(), ctx.symbol_number(fill.symbol())));
        self.outside_bars.push(ctx.bar_symbol_number());
    }

    fn on_day_start(&mut self, ctx: &mut Context<'_>) {
        self.outside_bars.push(ctx.bar_symbol_number());
    }
}

/// Chooses AAA and BBB on the first day, CCC and AAA on the second.
struct DayPicks;

impl Scanner for DayPicks {
    fn scan(&mut self, view: &mut ScanView<'_>) -> Vec<(openbell_model::Symbol, f64)> {
        let picks = if view.day().date == date(DAY1) {
            ["AAA", "BBB"]
        } else {
            ["CCC", "AAA"]
        };
        vec![(sym(picks[0]), 2.0), (sym(picks[1]), 1.0)]
    }
}

/// Every symbol keeps one number for the whole session, on every day and in every hook; the
/// numbers run from 0 without gaps, across days whose symbols differ; a symbol never
/// registered has none.
#[test]
fn symbols_keep_one_dense_number_for_the_whole_session() {
    let mut src = MemorySource::new();
    for s in ["AAA", "BBB", "CCC"] {
        src.add(crate::minute_bars(s, DAY1, DAY2, |_, _| false));
    }
    let mut cfg = config(&["AAA", "BBB", "CCC"], DAY1, DAY2);
    cfg.derived.clear();
    cfg.indicators.clear();
    cfg.scanners = vec![ScannerSpec {
        label: "picks".into(),
        kind: ScannerKind::Custom("picks".into()),
        schedule: Schedule::PreSession {
            minutes_before_open: 0,
        },
        top: 2,
        filters: openbell_engine::Filters::default(),
        lookback_days: 0,
    }];
    let mut strategy = Numbering::default();
    let mut picks = DayPicks;
    let (mut clock, mut sink) = (SimulatedClock::default(), VecSink::default());
    Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .with_scanner("picks", &mut picks)
        .with_strategy(
            &mut strategy,
            BrokerConfig::default(),
            RiskConfig::default(),
        )
        .run()
        .unwrap();
    assert_eq!(strategy.on_bars.len(), 3);
    // Numbered per day, CCC would share a number with AAA or BBB on the second day.
    let mut numbers: Vec<usize> = strategy
        .on_bars
        .values()
        .map(|n| {
            assert_eq!(n.len(), 1, "{n:?}");
            *n.first().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![0, 1, 2]);
    assert!(strategy.on_bars[&sym("CCC")].contains(&2));
    // Two symbols registered by the first day, the third only on the second.
    let registered: Vec<(chrono::NaiveDate, usize)> = strategy.registered.iter().copied().collect();
    assert_eq!(registered, vec![(date(DAY1), 2), (date(DAY2), 3)]);
    // Fills reach the strategy outside a bar of their symbol: the same number.
    assert_eq!(strategy.on_fills.len(), 3);
    for (symbol, number) in &strategy.on_fills {
        let on_bar = strategy.on_bars[symbol].first().copied();
        assert_eq!(*number, on_bar, "{symbol}");
    }
    assert!(strategy.unknown.iter().all(Option::is_none));
    // Two day starts and three fills, none of them a bar's hook.
    assert_eq!(strategy.outside_bars, vec![None; 5]);
}

#[test]
fn each_fill_reports_the_position_it_left() {
    // Two orders of AAA after one bar fill on the next: each position event follows its fill.
    let mut src = bars(|_, _| None);
    let r = run(
        &mut src,
        vec![
            (10, market(Side::Buy, 10)),
            (10, market(Side::Buy, 5)),
            (20, market(Side::Sell, 12)),
            (30, market(Side::Sell, 3)),
        ],
        BrokerConfig::default(),
        RiskConfig::default(),
    );
    assert_eq!(r.fills.len(), 4);
    let mut held = 0_i128;
    let mut seen = Vec::new();
    for e in &r.events {
        match e {
            Event::OrderFilled { fill, .. } => {
                held += match fill.side() {
                    Side::Buy => fill.quantity().raw(),
                    Side::Sell => -fill.quantity().raw(),
                };
            }
            Event::PositionChanged { quantity, .. } => {
                assert_eq!(quantity.raw(), held, "{e:?}");
                seen.push(held);
            }
            _ => {}
        }
    }
    let units = |n: i128| Quantity::from_units(n).unwrap().raw();
    assert_eq!(seen, [units(10), units(15), units(3), units(0)]);
}

/// On a bar of one symbol, orders another: AAA trades at 100, BBB at 10.
struct Crosswise {
    seen: [usize; 2],
}

impl Strategy for Crosswise {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        let k = usize::from(bar.symbol() == sym("BBB"));
        let buy = |symbol: &str, qty: i128| OrderRequest {
            symbol: sym(symbol),
            ..market(Side::Buy, qty)
        };
        match (k, self.seen[k]) {
            // 9,000 of 10,000 at BBB's price (90,000 at AAA's).
            (0, 5) => {
                ctx.submit(buy("BBB", 900));
            }
            // 1,500 against the 1,000 left at AAA's price (150 at BBB's).
            (1, 20) => {
                ctx.submit(buy("AAA", 15));
            }
            // Past the 950 position limit with the 900 BBB held (AAA holds none).
            (0, 30) => {
                ctx.submit(buy("BBB", 100));
            }
            _ => {}
        }
        self.seen[k] += 1;
    }
}

#[test]
fn an_order_for_another_symbol_is_checked_at_that_symbols_price_and_position() {
    let mut out = Vec::new();
    let day = xnys().trading_day(date(DAY1)).unwrap().unwrap();
    for (symbol, price) in [("AAA", "100"), ("BBB", "10")] {
        for open in day.bar_opens(Interval::M1) {
            let ohlcv = Ohlcv::flat(px(price), Quantity::from_units(100).unwrap());
            out.push(Bar::try_new(sym(symbol), Interval::M1, open, ohlcv).unwrap());
        }
    }
    let mut src = MemorySource::new();
    src.add(out);
    let mut cfg = config(&["AAA", "BBB"], DAY1, DAY1);
    cfg.derived.clear();
    cfg.indicators.clear();
    let broker = BrokerConfig {
        initial_cash: Money::from_units(10_000).unwrap(),
        ..BrokerConfig::default()
    };
    let risk = RiskConfig {
        max_position: Some(Quantity::from_units(950).unwrap()),
        ..RiskConfig::default()
    };
    let mut strategy = Crosswise { seen: [0; 2] };
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .with_strategy(&mut strategy, broker, risk)
        .run()
        .unwrap();
    let fills: Vec<(String, Quantity, Price)> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            Event::OrderFilled { fill, .. } => {
                Some((fill.symbol().to_string(), fill.quantity(), fill.price()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        fills,
        [(
            "BBB".to_owned(),
            Quantity::from_units(900).unwrap(),
            px("10")
        )]
    );
    let why = rejections(&sink.0);
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].contains("insufficient buying power"), "{}", why[0]);
    assert!(why[1].contains("max_position"), "{}", why[1]);
}

#[test]
fn without_records_the_orders_still_working_are_reported_in_their_latest_state() {
    // One unit a bar (1% of 100): the 5,000-unit buy is still filling when the run ends.
    let broker = BrokerConfig {
        initial_cash: "1000000".parse().unwrap(),
        participation: Some(0.01),
        ..BrokerConfig::default()
    };
    let gtc = |side, qty, order_type| order(side, qty, order_type, TimeInForce::Gtc);
    let orders = vec![
        (0, gtc(Side::Buy, 5_000, OrderType::Market)),
        // Triggers on the next bar (high 100.5), but the trigger price misses the limit, which
        // no later bar reaches (low 99.5).
        (
            0,
            gtc(
                Side::Buy,
                10,
                OrderType::StopLimit {
                    stop: px("100.2"),
                    limit: px("99"),
                },
            ),
        ),
        (0, gtc(Side::Buy, 10, OrderType::Limit { limit: px("90") })),
        // Fills whole on the next bar and finishes.
        (5, market(Side::Buy, 1)),
    ];
    let orders_of = |keep| {
        let mut src = bars(|_, _| None);
        let risk = RiskConfig::default();
        run_keeping(&mut src, orders.clone(), broker.clone(), risk, keep).1
    };
    let (kept, forgotten) = (orders_of(true), orders_of(false));

    let status = |records: &[openbell_engine::OrderRecord]| -> Vec<OrderStatus> {
        records.iter().map(|r| r.order.status()).collect()
    };
    assert_eq!(
        status(&kept),
        [
            OrderStatus::PartiallyFilled,
            OrderStatus::Triggered,
            OrderStatus::Accepted,
            OrderStatus::Filled
        ]
    );
    // Without records the finished order is gone; the working ones are there as the kept
    // records hold them, fills included.
    let working: Vec<_> = kept
        .iter()
        .filter(|r| r.order.status().is_open())
        .cloned()
        .collect();
    assert_eq!(forgotten, working);
    assert!(forgotten[0].order.filled() > Quantity::ZERO);
    assert!(forgotten[0].order.remaining() > Quantity::ZERO);
}
