use chrono::NaiveTime;
use openbell_engine::{
    ConfigError, Engine, EngineError, Event, Filters, Observer, ScannerKind, ScannerSpec, Schedule,
    SessionData, SimulatedClock, Universe, VecSink,
};
use openbell_indicators::{Candle, create};
use openbell_model::{Bar, Interval, Symbol, Timestamp};

use crate::{config, date, minute_bars, source, sym, xnys};

const DAY: &str = "2024-07-08";

fn scanner(label: &str, kind: ScannerKind, schedule: Schedule, top: usize) -> ScannerSpec {
    ScannerSpec {
        label: label.into(),
        kind,
        schedule,
        top,
        filters: Filters::default(),
        lookback_days: 2,
    }
}

fn at(h: u32, m: u32) -> Schedule {
    Schedule::At(vec![NaiveTime::from_hms_opt(h, m, 0).unwrap()])
}

/// The same bars as `source()`, for independent expectations.
fn bars_of(symbol: &str) -> Vec<Bar> {
    match symbol {
        "AAA" => minute_bars("AAA", "2024-06-26", "2024-07-09", |d, i| {
            d == 4 && (100..110).contains(&i)
        }),
        "BBB" => minute_bars("BBB", "2024-06-26", "2024-07-09", |_, _| false),
        _ => minute_bars("CCC", "2024-06-26", "2024-07-09", |_, i| i % 97 == 0),
    }
}

#[test]
fn pre_session_scan_chooses_the_days_symbols_by_previous_dollar_volume() {
    let mut cfg = config(&["AAA", "BBB", "CCC"], DAY, DAY);
    cfg.scanners = vec![scanner(
        "liquid",
        ScannerKind::TopVolume,
        Schedule::PreSession {
            minutes_before_open: 30,
        },
        2,
    )];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let mut engine = Engine::new(cfg, &mut src, &mut clock, &mut sink).unwrap();
    engine.run().unwrap();
    let registered: Vec<Symbol> = engine.session_data().symbols().collect();

    // Previous day (2024-07-05) dollar volume, computed here from the bars themselves.
    let prev = xnys().trading_day(date("2024-07-05")).unwrap().unwrap();
    let mut expected: Vec<(Symbol, f64)> = ["AAA", "BBB", "CCC"]
        .iter()
        .map(|s| {
            let dv = bars_of(s)
                .iter()
                .filter(|b| prev.open <= b.ts_event() && b.ts_event() < prev.close)
                .map(|b| b.close().to_f64() * b.volume().to_f64())
                .sum();
            (sym(s), dv)
        })
        .collect();
    expected.sort_by(|a, b| b.1.total_cmp(&a.1));
    let day = xnys().trading_day(date(DAY)).unwrap().unwrap();
    let scan = sink
        .0
        .iter()
        .find_map(|e| match e {
            Event::ScanCompleted {
                scanner,
                as_of,
                candidates,
                chosen,
                ts,
            } => Some((
                scanner.clone(),
                *as_of,
                candidates.clone(),
                chosen.clone(),
                *ts,
            )),
            _ => None,
        })
        .unwrap();
    assert_eq!(scan.0, "liquid");
    assert_eq!(
        scan.1,
        Timestamp::from_nanos(day.open.as_nanos() - 30 * 60_000_000_000)
    );
    assert_eq!(scan.4, day.open, "the clock reads the open during phase 1");
    assert_eq!(
        scan.2.iter().map(|c| c.0).collect::<Vec<_>>(),
        expected.iter().map(|c| c.0).collect::<Vec<_>>()
    );
    for (got, want) in scan.2.iter().zip(&expected) {
        assert!(
            (got.1 - want.1).abs() <= 1e-9 * want.1,
            "{got:?} vs {want:?}"
        );
    }
    assert_eq!(scan.3, vec![expected[0].0, expected[1].0]);
    let mut chosen = scan.3;
    chosen.sort();
    assert_eq!(registered, chosen);
}

/// Checks on every event that nothing in the session data lies beyond the clock.
#[derive(Default)]
struct LookAheadProbe {
    checks: u64,
    after_insert: Vec<(Symbol, usize, usize)>,
}

impl Observer for LookAheadProbe {
    fn observe(&mut self, event: &Event, now: Timestamp, data: &SessionData) {
        let Some(day) = data.day() else { return };
        for symbol in data.symbols() {
            let s = data.symbol(symbol).unwrap();
            for (interval, bars) in s.intervals() {
                for bar in bars {
                    let known_at = bar.ts_close_nominal().min(day.close);
                    assert!(
                        known_at <= now,
                        "{symbol} {interval} bar closing {known_at} readable at {now}"
                    );
                }
            }
            for ind in &s.indicators {
                assert!(
                    ind.values.iter().all(|(ts, _)| *ts <= now),
                    "{symbol} {} value ahead of {now}",
                    ind.label
                );
            }
            assert!(s.history().all(|b| b.ts_event() < day.open));
            self.checks += 1;
        }
        if let Event::SymbolAdded {
            symbol, caught_up, ..
        } = event
            && *caught_up > 0
        {
            let held = data.bars(*symbol, Interval::M1).len();
            self.after_insert.push((*symbol, *caught_up, held));
        }
    }
}

#[test]
fn mid_session_insertion_catches_up_to_the_clock_and_never_sees_ahead() {
    let mut cfg = config(&["AAA", "BBB", "CCC"], DAY, DAY);
    cfg.indicators = vec![crate::spec(
        "sma_20",
        "sma",
        Interval::M1,
        &[("period", 20.0)],
    )];
    cfg.scanners = vec![
        scanner(
            "morning",
            ScannerKind::TopVolume,
            Schedule::PreSession {
                minutes_before_open: 15,
            },
            1,
        ),
        scanner("movers", ScannerKind::PctChange, at(11, 0), 3),
    ];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let mut probe = LookAheadProbe::default();
    let mut engine = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .with_observer(&mut probe);
    engine.run().unwrap();
    let data = engine.session_data();
    assert_eq!(
        data.symbols().count(),
        3,
        "two symbols were inserted at 11:00"
    );
    let day = xnys().trading_day(date(DAY)).unwrap().unwrap();
    let eleven = Timestamp::from_local(date(DAY).and_hms_opt(11, 0, 0).unwrap(), day.tz).unwrap();
    // Inserted symbols end the day with every bar from the open, as if they had been there.
    for symbol in data.symbols() {
        let expected = bars_of(symbol.as_str())
            .into_iter()
            .filter(|b| day.open <= b.ts_event() && b.ts_event() < day.close)
            .count();
        assert_eq!(data.bars(symbol, Interval::M1).len(), expected, "{symbol}");
    }
    drop(engine);
    assert!(probe.checks > 1_000);
    assert_eq!(probe.after_insert.len(), 2);
    for (symbol, caught_up, held) in &probe.after_insert {
        // 09:30..11:00 is 90 minutes; CCC misses slot 0 of every 97.
        let expected = bars_of(symbol.as_str())
            .iter()
            .filter(|b| {
                day.open <= b.ts_event()
                    && b.ts_event().as_nanos() + 60_000_000_000 <= eleven.as_nanos()
            })
            .count();
        assert_eq!((*caught_up, *held), (expected, expected), "{symbol}");
    }
    let scan_times: Vec<Timestamp> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            Event::ScanCompleted { scanner, ts, .. } if scanner == "movers" => Some(*ts),
            _ => None,
        })
        .collect();
    assert_eq!(scan_times, [eleven]);
    // The inserted symbol's first SMA after insertion equals the continuous computation.
    let inserted = probe.after_insert[0].0;
    let first_value = sink
        .0
        .iter()
        .find_map(|e| match e {
            Event::Indicator {
                symbol, ts, output, ..
            } if *symbol == inserted && *ts > eleven => Some((*ts, output.value())),
            _ => None,
        })
        .unwrap();
    let mut sma = create("sma", &[("period".to_owned(), 20.0)].into()).unwrap();
    let mut want = None;
    for bar in bars_of(inserted.as_str()) {
        if bar.ts_close_nominal() > first_value.0 {
            break;
        }
        let d = xnys().trading_day_at(bar.ts_event()).unwrap().unwrap();
        want = sma
            .update(&Candle::from_bar(&bar, d.open))
            .map(|o| o.value());
    }
    let want = want.unwrap();
    assert!(
        (first_value.1 - want).abs() <= 1e-9 * want,
        "{} vs {want}",
        first_value.1
    );
}

#[test]
fn every_session_without_insertion_passes_the_look_ahead_probe() {
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let mut probe = LookAheadProbe::default();
    Engine::new(
        config(&["AAA", "BBB", "CCC"], "2024-07-01", "2024-07-09"),
        &mut src,
        &mut clock,
        &mut sink,
    )
    .unwrap()
    .with_observer(&mut probe)
    .run()
    .unwrap();
    assert!(probe.checks > 10_000);
}

#[test]
fn a_universe_of_all_symbols_comes_from_the_source() {
    let mut cfg = config(&["AAA"], DAY, DAY);
    cfg.universe = Universe::All;
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let mut engine = Engine::new(cfg, &mut src, &mut clock, &mut sink).unwrap();
    engine.run().unwrap();
    assert_eq!(
        engine
            .session_data()
            .symbols()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ["AAA", "BBB", "CCC"]
    );
}

#[test]
fn filters_and_relative_volume() {
    let mut cfg = config(&["AAA", "BBB", "CCC"], DAY, DAY);
    let mut rv = scanner(
        "rvol",
        ScannerKind::RelativeVolume,
        Schedule::Every { minutes: 60 },
        3,
    );
    rv.filters = Filters {
        min_price: Some(1e9),
        ..Filters::default()
    };
    cfg.scanners = vec![scanner("gap", ScannerKind::Gap, at(9, 45), 1), rv];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .run()
        .unwrap();
    let scans: Vec<(String, usize, Timestamp)> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            Event::ScanCompleted {
                scanner,
                candidates,
                ts,
                ..
            } => Some((scanner.clone(), candidates.len(), *ts)),
            _ => None,
        })
        .collect();
    // Gap once at 09:45 with all three; relative volume hourly (10:30 … 15:30), filtered to none.
    assert_eq!(
        scans
            .iter()
            .filter(|s| s.0 == "gap")
            .map(|s| s.1)
            .collect::<Vec<_>>(),
        [3]
    );
    let rvol: Vec<_> = scans.iter().filter(|s| s.0 == "rvol").collect();
    assert_eq!(rvol.len(), 6);
    assert!(rvol.iter().all(|s| s.1 == 0));
}

#[test]
fn scanner_config_errors_name_the_key() {
    let mut cfg = config(&["AAA"], DAY, DAY);
    cfg.scanners = vec![scanner(
        "x",
        ScannerKind::Gap,
        Schedule::Every { minutes: 0 },
        1,
    )];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let err = Engine::new(cfg.clone(), &mut src, &mut clock, &mut sink).unwrap_err();
    assert!(
        matches!(&err, EngineError::Config(ConfigError { key, .. }) if key == "scanner[0].every_minutes"),
        "{err}"
    );
    cfg.scanners[0] = scanner("x", ScannerKind::Gap, at(10, 0), 0);
    let err = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap_err()
        .to_string();
    assert!(err.contains("scanner[0].top"), "{err}");
}
