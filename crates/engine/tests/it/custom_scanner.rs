//! Scanners written in Rust: they see only bars closed by the cutoff, and a symbol outside the
//! universe is reported and left out while the session goes on.

use openbell_engine::{
    ConfigError, Engine, EngineError, Event, FaultKind, ScanView, Scanner, ScannerKind,
    ScannerSpec, Schedule, SimulatedClock, VecSink,
};
use openbell_model::{Symbol, Timestamp};

use crate::{config, minute_bars, source, sym, xnys};

const DAY: &str = "2024-07-08";

/// Scores each universe symbol by how many of today's bars it can read when it asks for the
/// whole day, and also names a symbol nobody trades, twice.
#[derive(Default)]
struct Greedy {
    /// (cutoff, symbol, bars seen, latest close seen)
    seen: Vec<(Timestamp, Symbol, usize, Option<Timestamp>)>,
}

impl Scanner for Greedy {
    fn scan(&mut self, view: &mut ScanView<'_>) -> Vec<(Symbol, f64)> {
        let (open, close) = (view.day().open, view.day().close);
        let mut out = vec![(sym("ZZZ"), 1e9)];
        for symbol in view.universe().to_vec() {
            let bars = view.bars(symbol, open, close).unwrap();
            let latest = bars.iter().map(|b| b.ts_close_nominal()).max();
            self.seen.push((view.as_of(), symbol, bars.len(), latest));
            #[allow(clippy::cast_precision_loss)]
            out.push((symbol, bars.len() as f64));
        }
        out.push((sym("ZZZ"), 2e9));
        out
    }
}

fn greedy_spec(schedule: Schedule) -> ScannerSpec {
    ScannerSpec {
        label: "greedy".into(),
        kind: ScannerKind::Custom("greedy".into()),
        schedule,
        top: 2,
        filters: openbell_engine::Filters::default(),
        lookback_days: 0,
    }
}

#[test]
fn a_custom_scanner_cannot_read_ahead_and_its_unknown_symbols_are_faults() {
    let mut cfg = config(&["AAA", "BBB", "CCC"], DAY, DAY);
    cfg.scanners = vec![greedy_spec(Schedule::Every { minutes: 30 })];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let mut greedy = Greedy::default();
    let summary = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .with_scanner("greedy", &mut greedy)
        .run()
        .unwrap();

    // Every half hour from 10:00 to 15:30: twelve scans, each seeing exactly the bars that
    // closed by its cutoff (counted here from the generated bars themselves).
    let day = xnys().trading_day(crate::date(DAY)).unwrap().unwrap();
    assert_eq!(greedy.seen.len(), 12 * 3);
    for (as_of, symbol, seen, latest) in &greedy.seen {
        let expected = match symbol.as_str() {
            "AAA" => minute_bars("AAA", "2024-06-26", "2024-07-09", |d, i| {
                d == 4 && (100..110).contains(&i)
            }),
            "BBB" => minute_bars("BBB", "2024-06-26", "2024-07-09", |_, _| false),
            _ => minute_bars("CCC", "2024-06-26", "2024-07-09", |_, i| i % 97 == 0),
        }
        .iter()
        .filter(|b| b.ts_event() >= day.open && b.ts_close_nominal() <= *as_of)
        .count();
        assert_eq!(*seen, expected, "{symbol} at {as_of}");
        assert!(
            latest.is_some_and(|l| l <= *as_of),
            "{symbol} read past {as_of}"
        );
    }

    // ZZZ is reported once for the day, counted, and never ranked.
    let faults: Vec<_> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            Event::Fault {
                symbol,
                kind: FaultKind::UnknownSymbol,
                reason,
                ..
            } => Some((*symbol, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].0, sym("ZZZ"));
    assert!(
        faults[0].1.contains("greedy returned ZZZ"),
        "{}",
        faults[0].1
    );
    assert_eq!(summary.faults.get("unknown_symbol"), Some(&1));
    let scans: Vec<_> = sink
        .0
        .iter()
        .filter_map(|e| match e {
            Event::ScanCompleted {
                candidates, chosen, ..
            } => Some((candidates.clone(), chosen.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(scans.len(), 12);
    for (candidates, chosen) in &scans {
        assert_eq!(candidates.len(), 3);
        assert!(candidates.iter().all(|(s, _)| *s != sym("ZZZ")));
        assert_eq!(chosen.len(), 2);
    }
    // The session went on to the close.
    assert_eq!(summary.days, 1);
    assert!(sink.0.iter().any(|e| matches!(e, Event::DayEnded { .. })));
}

#[test]
fn a_custom_scanner_before_the_open_sees_nothing_of_today() {
    let mut cfg = config(&["AAA", "BBB", "CCC"], DAY, DAY);
    cfg.scanners = vec![greedy_spec(Schedule::PreSession {
        minutes_before_open: 15,
    })];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let mut greedy = Greedy::default();
    Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .with_scanner("greedy", &mut greedy)
        .run()
        .unwrap();
    assert_eq!(greedy.seen.len(), 3);
    assert!(greedy.seen.iter().all(|(_, _, seen, _)| *seen == 0));
}

#[test]
fn a_custom_scanner_that_is_not_attached_fails_before_the_first_day() {
    let mut cfg = config(&["AAA"], DAY, DAY);
    cfg.scanners = vec![greedy_spec(Schedule::Every { minutes: 30 })];
    let mut src = source();
    let mut clock = SimulatedClock::default();
    let mut sink = VecSink::default();
    let err = Engine::new(cfg, &mut src, &mut clock, &mut sink)
        .unwrap()
        .run()
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Config(ConfigError { key, .. }) if key == "scanner[0].kind"),
        "{err}"
    );
    assert!(sink.0.is_empty());
}
