use openbell_calendar::resample_day;
use openbell_engine::{
    BarSource, ConfigError, Engine, EngineError, Event, FaultKind, Mode, PacedClock, Pacer, Phase,
    SimulatedClock, VecSink,
};
use openbell_indicators::{Candle, create};
use openbell_model::{Interval, Timestamp};

use crate::{config, date, minute_bars, source, spec, sym, xnys};

/// 2024-07-01..09: crosses the July 3 early close, the July 4 holiday and a weekend.
const FROM: &str = "2024-07-01";
const TO: &str = "2024-07-09";

fn run(
    cfg: openbell_engine::EngineConfig,
    src: &mut openbell_engine::MemorySource,
) -> (Vec<Event>, openbell_engine::Summary) {
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let summary = Engine::new(cfg, src, &mut clock, &mut sink)
        .unwrap()
        .run()
        .unwrap();
    (sink.0, summary)
}

#[test]
fn every_day_runs_its_phases_in_order_and_the_clock_stays_inside_it() {
    let mut src = source();
    let (events, summary) = run(config(&["AAA", "BBB", "CCC"], FROM, TO), &mut src);
    let days = xnys().trading_days(date(FROM), date(TO)).unwrap();
    assert_eq!(days.len(), 6);
    assert!(days.iter().any(|d| d.early_close));
    // Each day exactly once, in order.
    let started: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::DayStarted { date, ts } => Some((*date, *ts)),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        days.iter().map(|d| (d.date, d.open)).collect::<Vec<_>>()
    );
    assert_eq!(summary.days, 6);
    // The clock never decreases.
    for pair in events.windows(2) {
        assert!(
            pair[0].ts() <= pair[1].ts(),
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    for day in &days {
        let phases: Vec<Phase> = events
            .iter()
            .filter_map(|e| match e {
                Event::PhaseStarted { date, phase, .. } if *date == day.date => Some(*phase),
                _ => None,
            })
            .collect();
        assert_eq!(phases, Phase::ALL, "{}", day.date);
        // Everything of the day happens between its open and its close.
        let start = events
            .iter()
            .position(|e| matches!(e, Event::DayStarted { date, .. } if *date == day.date))
            .unwrap();
        let end = events
            .iter()
            .position(|e| matches!(e, Event::DayEnded { date, .. } if *date == day.date))
            .unwrap();
        for e in &events[start..=end] {
            assert!(
                day.open <= e.ts() && e.ts() <= day.close,
                "{} {e:?}",
                day.date
            );
        }
        // Every base bar is delivered at its close.
        for e in &events[start..=end] {
            if let Event::Bar {
                bar,
                derived: false,
                ts,
            } = e
            {
                assert_eq!(*ts, bar.ts_close_nominal().min(day.close));
            }
        }
    }
    // Every bar the source holds for the run's days, read back from the source itself.
    let (first, last) = (days[0].open, days[days.len() - 1].close);
    let mut reference = source();
    let expected_bars: usize = ["AAA", "BBB", "CCC"]
        .iter()
        .map(|s| {
            reference
                .bars(sym(s), Interval::M1, first, last)
                .unwrap()
                .len()
        })
        .sum();
    assert!(expected_bars > 0);
    assert_eq!(summary.base_bars as usize, expected_bars);
    // The summary's counts agree with the events.
    let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count() as u64;
    assert_eq!(
        summary.derived_bars,
        count(|e| matches!(e, Event::Bar { derived: true, .. }))
    );
    let values = count(|e| matches!(e, Event::Indicator { .. }));
    assert!(values > 0);
    assert_eq!(summary.indicator_values, values);
}

#[test]
fn each_day_starts_from_nothing_and_the_last_day_stays_readable() {
    let days = xnys().trading_days(date(FROM), date(TO)).unwrap();
    for day in &days {
        let mut src = source();
        let cfg = config(&["AAA", "BBB", "CCC"], FROM, &day.date.to_string());
        let mut clock = SimulatedClock::default();
        let mut sink = VecSink::default();
        let mut engine = Engine::new(cfg, &mut src, &mut clock, &mut sink).unwrap();
        engine.run().unwrap();
        let data = engine.session_data();
        assert_eq!(data.date(), Some(day.date));
        assert_eq!(data.symbols().count(), 3);
        for symbol in data.symbols() {
            let s = data.symbol(symbol).unwrap();
            for (interval, bars) in s.intervals() {
                assert!(!bars.is_empty(), "{symbol} {interval}");
                assert!(
                    bars.iter()
                        .all(|b| day.open <= b.ts_event() && b.ts_event() < day.close),
                    "{symbol} {interval} holds another day's bar"
                );
            }
            for ind in &s.indicators {
                assert!(!ind.values.is_empty(), "{symbol} {}", ind.label);
                assert!(
                    ind.values
                        .iter()
                        .all(|(ts, _)| day.open < *ts && *ts <= day.close),
                    "{symbol} {} holds another day's value",
                    ind.label
                );
            }
            assert!(s.history().all(|b| b.ts_event() < day.open));
            assert_eq!(s.metrics().bars() as usize, s.bars(Interval::M1).len());
            assert_eq!(s.quality.expected, if day.early_close { 210 } else { 390 });
            assert_eq!(s.quality.present as usize, s.bars(Interval::M1).len());
        }
    }
}

#[test]
fn live_derived_bars_equal_the_offline_resampler() {
    let mut src = source();
    // Some intervals tile others (10m and 15m are built from 5m, 1h from 15m, the day from
    // 1h) and 7m tiles none; every one must equal the offline resampling of the base bars.
    let mut cfg = config(&["AAA", "CCC"], FROM, TO);
    let (ten, seven) = (
        Interval::from_secs(600).unwrap(),
        Interval::from_secs(420).unwrap(),
    );
    cfg.derived = vec![
        Interval::D1,
        Interval::M15,
        Interval::M5,
        ten,
        Interval::H1,
        seven,
    ];
    let (events, _) = run(cfg.clone(), &mut src);
    for symbol in ["AAA", "CCC"] {
        let all = if symbol == "AAA" {
            minute_bars("AAA", "2024-06-26", TO, |d, i| {
                d == 4 && (100..110).contains(&i)
            })
        } else {
            minute_bars("CCC", "2024-06-26", TO, |_, i| i % 97 == 0)
        };
        for &target in &cfg.derived {
            let live = live_derived(&events, symbol, target);
            // Each arrives when its window closes, whether its last minute came or not.
            for (bar, ts) in &live {
                let day = xnys().trading_day_at(bar.ts_event()).unwrap().unwrap();
                assert_eq!(*ts, bar.ts_close_nominal().min(day.close), "{bar:?}");
            }
            let live: Vec<_> = live.into_iter().map(|(bar, _)| bar).collect();
            let offline = offline_derived(&all, symbol, target);
            assert!(!live.is_empty());
            assert_eq!(live.len(), offline.len(), "{symbol} {target}");
            for (l, o) in live.iter().zip(&offline) {
                assert_eq!(l, o, "{symbol} {target}");
            }
        }
    }
}

#[test]
fn warmed_indicators_equal_one_continuous_computation() {
    let mut src = source();
    let (events, _) = run(config(&["BBB"], FROM, TO), &mut src);
    // One continuous pass over the same bars from the first history day (2024-06-27) on.
    let first_history_open = xnys()
        .trading_day(date("2024-06-27"))
        .unwrap()
        .unwrap()
        .open;
    let all: Vec<_> = minute_bars("BBB", "2024-06-26", TO, |_, _| false)
        .into_iter()
        .filter(|b| b.ts_event() >= first_history_open)
        .collect();
    let mut sma = create("sma", &[("period".to_owned(), 20.0)].into()).unwrap();
    let mut ema = create("ema", &[("period".to_owned(), 20.0)].into()).unwrap();
    // RSI(14) on 5m bars converges slowly: only a continuous computation gives these values.
    let mut rsi = create("rsi", &std::collections::BTreeMap::new()).unwrap();
    let mut expected = std::collections::BTreeMap::new();
    let cal = xnys();
    for bar in &all {
        let day = cal.trading_day_at(bar.ts_event()).unwrap().unwrap();
        let c = Candle::from_bar(bar, day.open);
        let ts = bar.ts_close_nominal().min(day.close);
        if let Some(v) = sma.update(&c) {
            expected.insert(("sma_20", ts), v.value());
        }
        if let Some(v) = ema.update(&c) {
            expected.insert(("ema_20", ts), v.value());
        }
    }
    for day in cal.trading_days(date("2024-06-27"), date(TO)).unwrap() {
        let bars: Vec<_> = all
            .iter()
            .filter(|b| day.open <= b.ts_event() && b.ts_event() < day.close)
            .copied()
            .collect();
        let five =
            openbell_calendar::resample_day(&day, sym("BBB"), Interval::M1, Interval::M5, &bars)
                .unwrap();
        for bar in &five {
            if let Some(v) = rsi.update(&Candle::from_bar(bar, day.open)) {
                expected.insert(("rsi_14", bar.ts_close_nominal().min(day.close)), v.value());
            }
        }
    }
    let mut checked = 0;
    for e in &events {
        if let Event::Indicator {
            label, output, ts, ..
        } = e
            && let Some(want) = expected.get(&(&**label, *ts))
        {
            let got = output.value();
            assert!(
                (got - want).abs() <= 1e-9 * want.abs(),
                "{label} at {ts}: {got} vs {want}"
            );
            checked += 1;
        }
    }
    // SMA and EMA on every in-session minute, RSI on every in-session 5m bar, from the first
    // bar of the first day.
    let in_session = minute_bars("BBB", FROM, TO, |_, _| false).len();
    let five_minute: usize = cal
        .trading_days(date(FROM), date(TO))
        .unwrap()
        .iter()
        .map(|d| d.bar_slots(Interval::M5).len())
        .sum();
    assert_eq!(checked, 2 * in_session + five_minute);
}

/// The derived bars of `symbol` at `target` the run delivered, with their delivery times.
fn live_derived(
    events: &[Event],
    symbol: &str,
    target: Interval,
) -> Vec<(openbell_model::Bar, Timestamp)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Bar {
                bar,
                derived: true,
                ts,
            } if bar.symbol() == sym(symbol) && bar.interval() == target => Some((*bar, *ts)),
            _ => None,
        })
        .collect()
}

/// The offline resampler's bars of `symbol` at `target` over the session's days, day by day.
fn offline_derived(
    all: &[openbell_model::Bar],
    symbol: &str,
    target: Interval,
) -> Vec<openbell_model::Bar> {
    let mut offline = Vec::new();
    for day in xnys().trading_days(date(FROM), date(TO)).unwrap() {
        let bars: Vec<_> = all
            .iter()
            .copied()
            .filter(|b| day.open <= b.ts_event() && b.ts_event() < day.close)
            .collect();
        offline.extend(resample_day(&day, sym(symbol), Interval::M1, target, &bars).unwrap());
    }
    offline
}

/// BBB's bars under another name, with huge volumes on two days: on 2024-07-02 every bar fits
/// the raw 64-bit form but five of them summed do not (a 5m window outgrows it); on 2024-07-08
/// every bar is past it (the day streams its bars whole).
fn huge_volume_bars() -> Vec<openbell_model::Bar> {
    minute_bars("BBB", "2024-06-26", TO, |_, _| false)
        .into_iter()
        .map(|b| {
            let date = b.ts_event().to_utc().date_naive();
            let units: i128 = match date.to_string().as_str() {
                "2024-07-02" => 4_000_000_000,
                "2024-07-08" => 10_000_000_000 + i128::from(b.ts_event().as_nanos() % 7),
                _ => {
                    return openbell_model::Bar::try_new(
                        sym("WID"),
                        b.interval(),
                        b.ts_event(),
                        b.ohlcv(),
                    )
                    .unwrap();
                }
            };
            let ohlcv = openbell_model::Ohlcv {
                volume: openbell_model::Quantity::from_units(units).unwrap(),
                ..b.ohlcv()
            };
            openbell_model::Bar::try_new(sym("WID"), b.interval(), b.ts_event(), ohlcv).unwrap()
        })
        .collect()
}

#[test]
fn bars_past_the_raw_form_stream_like_every_other() {
    let wide = huge_volume_bars();
    assert!(
        wide.iter().any(|b| openbell_model::RawBar::of(b).is_none()),
        "some bars are past the raw form"
    );
    let mut src = source();
    src.add(wide.clone());
    let mut cfg = config(&["BBB", "WID"], FROM, TO);
    cfg.derived.push(Interval::from_secs(420).unwrap());
    cfg.indicators.push(spec("obv", "obv", Interval::M1, &[]));
    let (events, summary) = run(cfg.clone(), &mut src);
    assert_eq!(summary.days, 6);
    // Derived bars of WID: the offline resampler's, day by day, volumes and all.
    for &target in &cfg.derived {
        let live: Vec<_> = live_derived(&events, "WID", target)
            .into_iter()
            .map(|(bar, _)| bar)
            .collect();
        assert_eq!(live, offline_derived(&wide, "WID", target), "{target}");
    }
    // Close-based indicators of WID equal BBB's, which has the same prices; OBV follows the
    // huge volumes, value for value as a continuous computation over WID's bars.
    let values = |symbol: &str| -> Vec<(String, Timestamp, f64)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Indicator {
                    symbol: s,
                    label,
                    output,
                    ts,
                    ..
                } if *s == sym(symbol) => Some((label.to_string(), *ts, output.value())),
                _ => None,
            })
            .collect()
    };
    let (bbb, wid) = (values("BBB"), values("WID"));
    let close_based = |v: &[(String, Timestamp, f64)]| -> Vec<(String, Timestamp, f64)> {
        v.iter().filter(|(l, _, _)| l != "obv").cloned().collect()
    };
    assert!(!close_based(&wid).is_empty());
    assert_eq!(close_based(&bbb), close_based(&wid));
    let first_history_open = xnys()
        .trading_day(date("2024-06-27"))
        .unwrap()
        .unwrap()
        .open;
    let mut obv = create("obv", &std::collections::BTreeMap::new()).unwrap();
    let mut expected = std::collections::BTreeMap::new();
    for bar in wide.iter().filter(|b| b.ts_event() >= first_history_open) {
        let day = xnys().trading_day_at(bar.ts_event()).unwrap().unwrap();
        if let Some(v) = obv.update(&Candle::from_bar(bar, day.open)) {
            expected.insert(bar.ts_close_nominal().min(day.close), v.value());
        }
    }
    let got: Vec<_> = wid.iter().filter(|(l, _, _)| l == "obv").collect();
    assert_eq!(got.len(), minute_bars("BBB", FROM, TO, |_, _| false).len());
    for (_, ts, value) in got {
        assert_eq!(Some(value), expected.get(ts), "obv at {ts}");
    }
}

/// Records how much simulated time it was asked to wait.
#[derive(Debug, Default)]
struct RecordingPacer {
    waited: i64,
    waits: u64,
}

impl Pacer for RecordingPacer {
    fn wait(&mut self, nanos: i64) {
        self.waited += nanos;
        self.waits += 1;
    }
}

#[test]
fn clock_driven_mode_steps_the_clock_and_delivers_the_same_bars() {
    let mut cfg = config(&["AAA", "BBB"], "2024-07-08", "2024-07-08");
    cfg.derived.extend([Interval::H1, Interval::D1]);
    let mut src = source();
    let (data_driven, _) = run(cfg.clone(), &mut src);
    let mut src = source();
    let mut clock = PacedClock::new(Timestamp::EPOCH, RecordingPacer::default());
    let mut sink = VecSink::default();
    let stepped = openbell_engine::EngineConfig {
        mode: Mode::ClockDriven {
            step_nanos: 15_000_000_000,
        },
        ..cfg
    };
    Engine::new(stepped, &mut src, &mut clock, &mut sink)
        .unwrap()
        .run()
        .unwrap();
    let bars = |events: &[Event]| {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Bar { bar, ts, .. } => Some((*bar, *ts)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(bars(&sink.0), bars(&data_driven));
    let day = xnys().trading_day(date("2024-07-08")).unwrap().unwrap();
    // From the epoch to the open in one wait, then 15-second steps through the 6.5-hour day.
    assert_eq!(clock.pacer().waited, day.close.as_nanos());
    assert!(
        clock.pacer().waits >= 390 * 4,
        "{} waits",
        clock.pacer().waits
    );
}

#[test]
fn data_faults_are_reported_and_skipped() {
    let mut src = source();
    let day = xnys().trading_day(date("2024-07-08")).unwrap().unwrap();
    src.fail(sym("CCC"), day.open, day.close);
    let (events, summary) = run(config(&["AAA", "CCC", "ZZZ"], FROM, TO), &mut src);
    let faults: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Fault {
                symbol, date, kind, ..
            } => Some((symbol.to_string(), *date, kind.clone())),
            _ => None,
        })
        .collect();
    assert!(
        faults.contains(&("CCC".into(), day.date, FaultKind::SourceFailed)),
        "{faults:?}"
    );
    assert_eq!(
        faults.iter().filter(|f| f.0 == "ZZZ").count(),
        6,
        "ZZZ has no data on any day"
    );
    assert_eq!(summary.faults["no_data"], 6);
    assert_eq!(summary.faults["source_failed"], 1);
    assert_eq!(summary.days, 6);
    let days_ended: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::DayEnded { date, .. } => Some(*date),
            _ => None,
        })
        .collect();
    assert_eq!(days_ended.len(), 6, "the session went on");
}

#[test]
fn invalid_config_fails_before_the_first_day_naming_the_key() {
    let mut cfg = config(&["AAA"], FROM, TO);
    cfg.indicators.push(spec("bad", "kama", Interval::M1, &[]));
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let err = Engine::new(cfg, &mut src, &mut clock, &mut sink).unwrap_err();
    assert!(
        matches!(&err, EngineError::Config(ConfigError { key, .. }) if key == "indicator[3]"),
        "{err}"
    );
    assert!(sink.0.is_empty());
    let mut cfg = config(&["AAA"], FROM, TO);
    cfg.derived.push(Interval::from_secs(90).unwrap());
    let err = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(err.contains("data.derived[2]"), "{err}");
    let mut cfg = config(&["AAA"], FROM, TO);
    cfg.derived.push(cfg.derived[0]);
    let err = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data.derived[2]") && err.contains("twice"),
        "{err}"
    );
    let mut cfg = config(&["AAA"], FROM, TO);
    cfg.indicators[0].interval = Interval::H1;
    let err = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(err.contains("indicator[0].interval"), "{err}");
}

#[test]
fn two_engines_run_side_by_side_without_touching_each_other() {
    let alone_a = run(config(&["AAA"], FROM, TO), &mut source()).0;
    let alone_b = run(config(&["BBB", "CCC"], "2024-07-02", TO), &mut source()).0;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run(config(&["AAA"], FROM, TO), &mut source()).0);
        let b = s.spawn(|| run(config(&["BBB", "CCC"], "2024-07-02", TO), &mut source()).0);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a, alone_a);
    assert_eq!(b, alone_b);
}

/// Sets the stop flag when it sees the 50th bar of the second day.
struct StopMidway<'s> {
    stop: &'s std::sync::atomic::AtomicBool,
    days: u32,
    bars: u32,
}

impl openbell_engine::Observer for StopMidway<'_> {
    fn observe(
        &mut self,
        event: &Event,
        _now: openbell_model::Timestamp,
        _data: &openbell_engine::SessionData,
    ) {
        match event {
            Event::DayStarted { .. } => {
                self.days += 1;
                self.bars = 0;
            }
            Event::Bar { derived: false, .. } if self.days == 2 => {
                self.bars += 1;
                if self.bars == 50 {
                    self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_stop_request_ends_the_session_at_a_safe_point() {
    let mut src = source();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut observer = StopMidway {
        stop: &stop,
        days: 0,
        bars: 0,
    };
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let summary = Engine::new(
        config(&["AAA", "BBB"], FROM, TO),
        &mut src,
        &mut clock,
        &mut sink,
    )
    .unwrap()
    .with_stop(&stop)
    .with_observer(&mut observer)
    .run()
    .unwrap();
    assert!(summary.stopped);
    assert_eq!(summary.days, 2);
    let started = sink
        .0
        .iter()
        .filter(|e| matches!(e, Event::DayStarted { .. }))
        .count();
    let ended = sink
        .0
        .iter()
        .filter(|e| matches!(e, Event::DayEnded { .. }))
        .count();
    assert_eq!((started, ended), (2, 2));
    // The second day stopped after the delivery time of its 50th bar of the first symbol;
    // both symbols' bars of that time were delivered (a delivery time is never split).
    let second_day_bars = sink
        .0
        .iter()
        .skip_while(|e| !matches!(e, Event::DayStarted { .. }))
        .skip(1)
        .skip_while(|e| !matches!(e, Event::DayStarted { .. }))
        .filter(|e| matches!(e, Event::Bar { derived: false, .. }))
        .count();
    assert!((50..=52).contains(&second_day_bars), "{second_day_bars}");
    assert!(matches!(
        sink.0.last(),
        Some(Event::SessionEnded { days: 2, .. })
    ));
}
