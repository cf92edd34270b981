//! `coverage_of` against a brute-force reading of its definition, for bars in any order.

use openbell_calendar::{BarSlot, Calendar, TradingDay, coverage_of};
use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol, Timestamp};
use proptest::prelude::*;

fn bar(ts: Timestamp) -> Bar {
    let ohlcv = Ohlcv::flat(
        Price::from_raw(100_000_000_000),
        Quantity::from_units(1).unwrap(),
    );
    Bar::try_new(Symbol::parse("SPY").unwrap(), Interval::M1, ts, ohlcv).unwrap()
}

/// 2024-11-29, which closes early at 13:00, and its 210 one-minute slots.
fn early_close() -> (TradingDay, Vec<BarSlot>) {
    let day = Calendar::builtin("XNYS")
        .unwrap()
        .trading_day("2024-11-29".parse().unwrap())
        .unwrap()
        .unwrap();
    let slots = day.bar_slots(Interval::M1);
    (day, slots)
}

/// The definition, slot by slot: a slot is present when some bar opens at its open; runs of
/// adjacent missing slots are merged.
fn oracle(slots: &[BarSlot], bars: &[Bar]) -> (u32, u32, Vec<(Timestamp, Timestamp)>) {
    let mut present = 0;
    let mut missing: Vec<(Timestamp, Timestamp)> = Vec::new();
    for slot in slots {
        if bars.iter().any(|b| b.ts_event() == slot.open) {
            present += 1;
        } else if let Some(run) = missing.last_mut().filter(|r| r.1 == slot.open) {
            run.1 = slot.close;
        } else {
            missing.push((slot.open, slot.close));
        }
    }
    (slots.len() as u32, present, missing)
}

proptest! {
    /// Any subset of the day's slots, plus stray stamps (off the grid, before the open, after
    /// the close), duplicated and in any order, is scored as the definition says.
    #[test]
    fn coverage_matches_the_definition(
        keep in prop::collection::vec(any::<bool>(), 210),
        strays in prop::collection::vec(-600i64..30_000, 0..6),
        duplicates in prop::collection::vec(0usize..210, 0..4),
        shuffle in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let (day, slots) = early_close();
        prop_assert_eq!(slots.len(), 210);
        let mut bars: Vec<Bar> = slots
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(s, _)| bar(s.open))
            .collect();
        for d in duplicates {
            bars.push(bar(slots[d].open));
        }
        for s in strays {
            // Seconds from the open: off the minute grid when not a multiple of 60.
            bars.push(bar(Timestamp::from_nanos(day.open.as_nanos() + s * 1_000_000_000 + 7)));
        }
        bars.sort_by_key(Bar::ts_event);
        let expected = oracle(&slots, &bars);
        prop_assert_eq!(&coverage_of(&slots, &bars), &expected);
        let n = bars.len();
        if n > 1 {
            for (i, j) in shuffle.iter().map(|ix| ix.index(n)).zip((0..n).rev()) {
                bars.swap(i, j);
            }
        }
        prop_assert_eq!(&coverage_of(&slots, &bars), &expected);
    }
}

/// Out-of-order bars after the last slot still send the whole day through the sorting path:
/// the bar at the last slot's open is counted although a later bar came before it.
#[test]
fn disorder_after_the_last_slot_is_noticed() {
    let (day, slots) = early_close();
    let last = slots[slots.len() - 1];
    let bars = vec![bar(slots[0].open), bar(day.close), bar(last.open)];
    let (expected, present, missing) = coverage_of(&slots, &bars);
    assert_eq!((expected, present), (210, 2));
    assert_eq!(missing, vec![(slots[1].open, last.open)]);
}

/// A whole day, in order and out of order, and a whole day's count of bars with one slot
/// missing and one stray stamp: the answers of the definition.
#[test]
fn whole_days_and_look_alikes() {
    let (day, slots) = early_close();
    let mut bars: Vec<Bar> = slots.iter().map(|s| bar(s.open)).collect();
    assert_eq!(coverage_of(&slots, &bars), (210, 210, Vec::new()));
    bars.swap(3, 150);
    assert_eq!(coverage_of(&slots, &bars), (210, 210, Vec::new()));
    bars.sort_by_key(Bar::ts_event);
    bars.remove(17);
    bars.push(bar(Timestamp::from_nanos(
        day.close.as_nanos() + 60_000_000_000,
    )));
    let expected = oracle(&slots, &bars);
    assert_eq!(expected.1, 209);
    assert_eq!(coverage_of(&slots, &bars), expected);
}
