use openbell_data::{GenerateOptions, generate};
use openbell_model::{Interval, Timestamp};

use crate::{snapshot, store, sym};

fn options(seed: u64) -> GenerateOptions {
    GenerateOptions {
        symbols: 3,
        days: 5,
        start: "2024-07-01".parse().unwrap(),
        seed,
        interval: Interval::M1,
    }
}

#[test]
fn the_same_seed_gives_the_same_files() {
    let (a, one) = store();
    let (b, two) = store();
    generate(&one, &options(7)).unwrap();
    generate(&two, &options(7)).unwrap();
    assert_eq!(snapshot(a.path()), snapshot(b.path()));
    let (c, three) = store();
    generate(&three, &options(8)).unwrap();
    assert_ne!(snapshot(a.path()), snapshot(c.path()));
}

#[test]
fn bars_follow_the_calendar_with_a_u_shaped_volume() {
    let (_d, store) = store();
    let report = generate(&store, &options(42)).unwrap();
    // 2024-07-01..08: the 4th is a holiday and the 3rd closes at 13:00.
    assert_eq!(report.days, 5);
    assert_eq!(report.bars, 3 * (4 * 390 + 210));
    assert_eq!(report.symbols, ["SIM001", "SIM002", "SIM003"]);
    let bars = store
        .read_vec(sym("SIM001"), Interval::M1, Timestamp::MIN, Timestamp::MAX)
        .unwrap();
    let first_day = &bars[..390];
    let mean = |s: &[openbell_model::Bar]| {
        s.iter().map(|b| b.volume().to_f64()).sum::<f64>() / s.len() as f64
    };
    let (open, mid, close) = (
        mean(&first_day[..30]),
        mean(&first_day[180..210]),
        mean(&first_day[360..]),
    );
    assert!(
        open > 2.0 * mid && close > 2.0 * mid,
        "open {open} mid {mid} close {close}"
    );
}
