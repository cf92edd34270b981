use std::collections::BTreeMap;

use openbell_model::Timestamp;
use proptest::prelude::*;
use rstest::rstest;

use super::*;

fn candle(i: usize, session: i64, close: f64) -> Candle {
    Candle {
        ts_event: Timestamp::from_nanos(i64::try_from(i).unwrap() * 60_000_000_000),
        session,
        open: close,
        high: close + 0.5,
        low: close - 0.5,
        close,
        volume: 100.0 + i as f64,
    }
}

fn params(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[rstest]
#[case("sma", 20)]
#[case("ema", 20)]
#[case("wma", 20)]
#[case("rsi", 15)]
#[case("macd", 34)]
#[case("bbands", 20)]
#[case("atr", 15)]
#[case("vwap", 1)]
#[case("stoch", 18)]
#[case("obv", 1)]
#[case("high_low", 20)]
#[case("stddev", 20)]
#[case("roc", 11)]
fn no_value_until_warm_then_a_value_every_bar(#[case] name: &str, #[case] warmup: usize) {
    let mut ind = create(name, &BTreeMap::new()).unwrap();
    assert_eq!(ind.warmup(), warmup, "{name}");
    for i in 0..100 {
        let out = ind.update(&candle(i, 0, 100.0 + (i as f64 * 0.7).sin()));
        assert_eq!(out.is_some(), i + 1 >= warmup, "{name} at bar {i}");
        if let Some(o) = out {
            assert_eq!(o.as_slice().len(), ind.output_names().len());
            assert!(o.as_slice().iter().all(|v| v.is_finite()), "{name}: {o:?}");
        }
    }
}

#[test]
fn update_into_writes_what_update_returns_and_nothing_while_warming_up() {
    for (name, _) in CATALOG {
        let mut a = create(name, &BTreeMap::new()).unwrap();
        let mut b = create(name, &BTreeMap::new()).unwrap();
        let untouched = Output::three(-1.0, -2.0, -3.0);
        for i in 0..60 {
            let c = candle(i, 0, 100.0 + (i as f64 * 0.3).cos());
            let mut out = untouched;
            let wrote = b.update_into(&c, &mut out);
            match a.update(&c) {
                Some(values) => assert!(wrote && out == values, "{name} at bar {i}"),
                None => assert!(!wrote && out == untouched, "{name} at bar {i}"),
            }
        }
    }
}

#[test]
fn an_indicator_reads_only_the_fields_its_inputs_name() {
    for (name, _) in CATALOG {
        let mut whole = create(name, &BTreeMap::new()).unwrap();
        let mut masked = create(name, &BTreeMap::new()).unwrap();
        let inputs = masked.inputs();
        for i in 0..80_i32 {
            let x = f64::from(i);
            let c = Candle {
                ts_event: Timestamp::from_nanos(i64::from(i) * 60_000_000_000),
                session: i64::from(i >= 40),
                open: 100.0 + (x * 0.3).sin(),
                high: 101.5 + (x * 0.7).cos(),
                low: 98.5 - (x * 0.5).sin(),
                close: 100.0 + (x * 0.2).cos(),
                volume: 100.0 + 7.0 * x,
            };
            // Every field outside the inputs is replaced by a value far from the real one.
            let other = -1e6 - x;
            let keep = |field: Inputs, v: f64| if inputs.contains(field) { v } else { other };
            let m = Candle {
                open: keep(Inputs::OPEN, c.open),
                high: keep(Inputs::HIGH, c.high),
                low: keep(Inputs::LOW, c.low),
                close: keep(Inputs::CLOSE, c.close),
                volume: keep(Inputs::VOLUME, c.volume),
                ..c
            };
            assert_eq!(whole.update(&c), masked.update(&m), "{name} at bar {i}");
        }
    }
}

#[test]
fn a_candle_from_some_fields_converts_those_and_leaves_the_rest_at_zero() {
    use openbell_model::{Bar, Interval, Ohlcv, Price, Quantity, Symbol};
    let price = |s: &str| s.parse::<Price>().unwrap();
    let ohlcv = Ohlcv {
        open: price("10.25"),
        high: price("11.5"),
        low: price("9.75"),
        close: price("10.5"),
        volume: Quantity::from_units(1234).unwrap(),
    };
    let ts = Timestamp::from_nanos(1_704_205_800_000_000_000);
    let bar = Bar::try_new(Symbol::parse("SPY").unwrap(), Interval::M1, ts, ohlcv).unwrap();
    let session = Timestamp::from_nanos(1_704_205_800_000_000_000);
    let whole = Candle::from_bar(&bar, session);
    assert_eq!(
        (whole.open, whole.high, whole.low, whole.close, whole.volume),
        (10.25, 11.5, 9.75, 10.5, 1234.0)
    );
    for bits in 0..32 {
        let inputs = Inputs(bits);
        let c = Candle::from_bar_fields(&bar, session, inputs);
        let or_zero = |field: Inputs, v: f64| if inputs.contains(field) { v } else { 0.0 };
        let expected = Candle {
            open: or_zero(Inputs::OPEN, whole.open),
            high: or_zero(Inputs::HIGH, whole.high),
            low: or_zero(Inputs::LOW, whole.low),
            close: or_zero(Inputs::CLOSE, whole.close),
            volume: or_zero(Inputs::VOLUME, whole.volume),
            ..whole
        };
        assert_eq!(c, expected, "{bits:05b}");
        // The bar's raw form converts to the same candle.
        let raw = openbell_model::RawBar::of(&bar).unwrap();
        assert_eq!(Candle::from_raw(&raw, session, inputs), c, "{bits:05b}");
    }
    assert_eq!(
        Inputs::OPEN | Inputs::HIGH | Inputs::LOW | Inputs::CLOSE | Inputs::VOLUME,
        Inputs::ALL
    );
    assert!(Inputs::ALL.contains(Inputs::CLOSE) && !Inputs::CLOSE.contains(Inputs::HIGH));
}

#[test]
fn session_vwap_resets_each_session() {
    let mut vwap = create("vwap", &BTreeMap::new()).unwrap();
    let a = vwap.update(&candle(0, 1, 100.0)).unwrap().value();
    let b = vwap.update(&candle(1, 1, 102.0)).unwrap().value();
    assert!((a - 100.0).abs() < 1e-12);
    assert!(b > 100.0 && b < 102.0);
    let next_day = vwap.update(&candle(2, 2, 90.0)).unwrap().value();
    assert!((next_day - 90.0).abs() < 1e-12, "{next_day}");
}

#[test]
fn simple_values_by_hand() {
    let mut sma = Sma::new(3);
    let out: Vec<Option<f64>> = [1.0, 2.0, 3.0, 4.0]
        .iter()
        .enumerate()
        .map(|(i, c)| sma.update(&candle(i, 0, *c)).map(|o| o.value()))
        .collect();
    assert_eq!(out, [None, None, Some(2.0), Some(3.0)]);
    let mut roc = Roc::new(2);
    let out: Vec<Option<f64>> = [100.0, 50.0, 110.0]
        .iter()
        .enumerate()
        .map(|(i, c)| roc.update(&candle(i, 0, *c)).map(|o| o.value()))
        .collect();
    assert_eq!(out, [None, None, Some(10.000000000000009)]);
    let mut obv = Obv::new();
    let out: Vec<f64> = [10.0, 11.0, 11.0, 9.0]
        .iter()
        .enumerate()
        .map(|(i, c)| obv.update(&candle(i, 0, *c)).unwrap().value())
        .collect();
    assert_eq!(out, [100.0, 201.0, 201.0, 98.0]);
}

#[rstest]
#[case("kama", &[], "unknown indicator \"kama\"")]
#[case("sma", &[("length", 5.0)], "sma has no parameter \"length\" (it takes: period)")]
#[case("sma", &[("period", 0.0)], "period = 0 is invalid")]
#[case("sma", &[("period", 2.5)], "period = 2.5 is invalid")]
#[case("macd", &[("fast", 30.0)], "must be below slow")]
#[case("bbands", &[("k", -1.0)], "k = -1 is invalid")]
#[case("stddev", &[("period", 1.0)], "must be at least 2")]
#[case("vwap", &[("period", 3.0)], "it takes: no parameters")]
fn creation_errors_name_the_problem(
    #[case] name: &str,
    #[case] p: &[(&str, f64)],
    #[case] expected: &str,
) {
    let err = create(name, &params(p)).unwrap_err().to_string();
    assert!(err.contains(expected), "{err}");
}

proptest! {
    #[test]
    fn rolling_extremes_match_a_scan(values in proptest::collection::vec(-1e3f64..1e3, 1..200), period in 1usize..30) {
        let mut hl = RollingHighLow::new(period);
        for (i, v) in values.iter().enumerate() {
            let c = Candle { high: *v + 1.0, low: *v - 1.0, ..candle(i, 0, *v) };
            let out = hl.update(&c);
            if i + 1 >= period {
                let window = &values[i + 1 - period..=i];
                let max = window.iter().copied().fold(f64::MIN, f64::max) + 1.0;
                let min = window.iter().copied().fold(f64::MAX, f64::min) - 1.0;
                let out = out.unwrap();
                prop_assert_eq!(out.as_slice(), &[max, min][..]);
            } else {
                prop_assert!(out.is_none());
            }
        }
    }

    #[test]
    fn stddev_matches_two_pass_on_decimal_prices(cents in proptest::collection::vec(1_000i64..100_000, 2..120), period in 2usize..25) {
        let prices: Vec<f64> = cents.iter().map(|c| *c as f64 / 100.0).collect();
        let mut sd = StdDev::new(period);
        for (i, p) in prices.iter().enumerate() {
            let out = sd.update(&candle(i, 0, *p));
            if i + 1 >= period {
                let w = &prices[i + 1 - period..=i];
                let mean = w.iter().sum::<f64>() / period as f64;
                let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / period as f64;
                let expected = if var < 1e-8 { 0.0 } else { var.sqrt() };
                let got = out.unwrap().value();
                prop_assert!((got - expected).abs() <= 1e-9 * expected.max(1e-3), "{} vs {}", got, expected);
            }
        }
    }
}
