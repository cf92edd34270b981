use openbell_engine::{
    Engine, EngineConfig, Event, MemorySource, Mode, SimulatedClock, Universe, VecSink,
};
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, RawBar};
use proptest::prelude::*;

use crate::{date, sym, xnys};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the input, the engine delivers exactly the in-session input bars, once each,
    /// ordered by close time, then symbol.
    #[test]
    fn output_is_ordered_and_exactly_the_input(
        picks in proptest::collection::vec((0usize..4, 0usize..2, 0usize..390), 0..300),
    ) {
        let names = ["AAA", "BB", "C.D", "ZZ"];
        let days = xnys().trading_days(date("2024-07-02"), date("2024-07-03")).unwrap();
        let mut input: Vec<Bar> = Vec::new();
        for (s, d, i) in picks {
            let day = &days[d];
            let opens = day.bar_opens(Interval::M1);
            let Some(open) = opens.get(i) else { continue };
            let ohlcv = Ohlcv::flat(Price::from_units(100).unwrap(), Quantity::from_units(1).unwrap());
            input.push(Bar::try_new(sym(names[s]), Interval::M1, *open, ohlcv).unwrap());
        }
        input.sort_by_key(|b| (b.ts_event(), b.symbol()));
        input.dedup();
        let mut src = MemorySource::new();
        src.add(input.clone());
        let cfg = EngineConfig {
            calendar: xnys(),
            start: date("2024-07-02"),
            end: date("2024-07-03"),
            base_interval: Interval::M1,
            derived: vec![],
            universe: Universe::List(names.iter().map(|n| sym(n)).collect()),
            scanners: vec![],
            indicators: vec![],
            history_days: 0,
            mode: Mode::DataDriven,
        };
        let mut clock = SimulatedClock::default();
        let mut sink = VecSink::default();
        Engine::new(cfg, &mut src, &mut clock, &mut sink).unwrap().run().unwrap();
        let delivered: Vec<(Bar, openbell_model::Timestamp)> = sink.0.iter().filter_map(|e| match e { Event::Bar { bar, ts, .. } => Some((*bar, *ts)), _ => None }).collect();
        for pair in delivered.windows(2) {
            prop_assert!((pair[0].1, pair[0].0.symbol()) < (pair[1].1, pair[1].0.symbol()));
        }
        let mut got: Vec<Bar> = delivered.iter().map(|(b, _)| *b).collect();
        got.sort_by_key(|b| (b.ts_event(), b.symbol()));
        prop_assert_eq!(got, input);
    }
}

proptest! {
    /// A read from any cursor gives the same bars as a filter over the whole slice, and leaves
    /// the cursor at the end of what it read; a slice that keeps the raw form gives the raw form
    /// of exactly those bars, unless one bar has none.
    #[test]
    fn reads_near_a_cursor_are_exact(
        minutes in proptest::collection::btree_set(0i64..2_000, 0..200),
        reads in proptest::collection::vec((0i64..2_100, 0i64..300, 0usize..250), 1..8),
        huge in proptest::option::of(0usize..200),
    ) {
        let at = |m: i64| openbell_model::Timestamp::from_nanos(1_720_000_000_000_000_000 + m * 60_000_000_000);
        let bars: Vec<Bar> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                // Past the raw form's range for the chosen bar.
                let units = if Some(i) == huge { 10_000_000_000 } else { 1 + *m as i128 };
                let ohlcv = Ohlcv::flat(Price::from_units(100).unwrap(), Quantity::from_units(units).unwrap());
                Bar::try_new(sym("AAA"), Interval::M1, at(*m), ohlcv).unwrap()
            })
            .collect();
        let slice = openbell_engine::BarSlice::from(bars.clone());
        let with_raw = openbell_engine::BarSlice::with_raw(bars.clone());
        let has_raw = huge.is_none_or(|h| h >= bars.len());
        prop_assert!(slice.raw().is_none());
        for (from, len, cursor) in reads {
            let (start, end) = (at(from), at(from + len));
            let expected: Vec<Bar> = bars.iter().filter(|b| start <= b.ts_event() && b.ts_event() < end).copied().collect();
            let cursor_from = cursor;
            let mut cursor = cursor;
            let got = slice.between_near(start, end, &mut cursor);
            prop_assert_eq!(&got[..], &expected[..]);
            prop_assert_eq!(&slice.between(start, end)[..], &expected[..]);
            prop_assert_eq!(cursor, bars.iter().filter(|b| b.ts_event() < end).count());
            // The raw rows are searched when kept, from any cursor, to the same range.
            let mut raw_cursor = cursor_from;
            let got = with_raw.between_near(start, end, &mut raw_cursor);
            prop_assert_eq!(&got[..], &expected[..]);
            prop_assert_eq!(raw_cursor, cursor);
            match got.raw() {
                Some(raw) => {
                    prop_assert!(has_raw);
                    let want: Vec<RawBar> = expected.iter().map(|b| RawBar::of(b).unwrap()).collect();
                    prop_assert_eq!(&raw[..], &want[..]);
                }
                None => prop_assert!(!has_raw),
            }
        }
    }
}
