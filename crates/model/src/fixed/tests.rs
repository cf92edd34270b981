use proptest::prelude::*;
use rstest::rstest;

use super::*;

#[rstest]
#[case("167.43", 167_430_000_000)]
#[case("0", 0)]
#[case("-0.5", -500_000_000)]
#[case("+7", 7_000_000_000)]
#[case("0.000000001", 1)]
#[case("0.10785000", 107_850_000)]
#[case("1000000", 1_000_000_000_000_000)]
fn parses_decimals(#[case] text: &str, #[case] raw: i128) {
    assert_eq!(text.parse::<Price>().unwrap().raw(), raw);
}

#[rstest]
#[case("")]
#[case("abc")]
#[case("1.")]
#[case(".5")]
#[case("1.2.3")]
#[case("1e5")]
#[case("NaN")]
#[case("inf")]
#[case("0.0000000001")]
#[case("--1")]
#[case(" 1")]
fn rejects_malformed_decimals(#[case] text: &str) {
    let err = text.parse::<Price>().unwrap_err();
    assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
}

#[test]
fn displays_shortest_exact_decimal() {
    assert_eq!(Price::from_raw(167_430_000_000).to_string(), "167.43");
    assert_eq!(Price::from_raw(-500_000_000).to_string(), "-0.5");
    assert_eq!(Quantity::from_raw(1).to_string(), "0.000000001");
    assert_eq!(Money::from_raw(42 * SCALE).to_string(), "42");
    assert_eq!(Money::MIN.to_string().parse::<Money>().unwrap(), Money::MIN);
}

#[test]
fn holds_documented_extremes() {
    let price = Price::from_units(1_000_000).unwrap();
    let volume = Quantity::from_units(1_000_000_000_000).unwrap();
    let notional = price.checked_mul_qty(volume).unwrap();
    assert_eq!(
        notional,
        Money::from_units(1_000_000_000_000_000_000).unwrap()
    );
    assert!(Price::from_units(MAX_WHOLE).is_ok());
    assert!(Price::from_units(MAX_WHOLE + 1).is_err());
}

#[test]
fn overflow_is_an_error_never_a_wrap() {
    assert!(matches!(
        Money::MAX.checked_add(Money::from_raw(1)),
        Err(ModelError::Overflow { .. })
    ));
    assert!(Money::MIN.checked_sub(Money::from_raw(1)).is_err());
    assert!(Money::MIN.checked_neg().is_err());
    assert!(
        Price::MAX
            .checked_mul_qty(Quantity::from_units(2).unwrap())
            .is_err()
    );
    assert!(Price::MAX.checked_mul_int(2).is_err());
}

#[rstest]
#[case(5, 2, 2)] // 2.5 -> 2
#[case(7, 2, 4)] // 3.5 -> 4
#[case(-5, 2, -2)]
#[case(-7, 2, -4)]
#[case(10, 3, 3)]
#[case(11, 3, 4)]
#[case(-11, 3, -4)]
#[case(6, -4, -2)] // -1.5 -> -2
fn rounds_half_to_even(#[case] num: i128, #[case] den: i128, #[case] expected: i128) {
    assert_eq!(div_round_half_even(num, den), Some(expected));
}

#[test]
fn price_times_quantity_is_exact() {
    let p: Price = "167.43".parse().unwrap();
    let q: Quantity = "300".parse().unwrap();
    assert_eq!(p.checked_mul_qty(q).unwrap().to_string(), "50229");
    let p: Price = "0.00000001".parse().unwrap();
    let q: Quantity = "0.5".parse().unwrap();
    // 5e-9 has exactly nine decimals.
    assert_eq!(p.checked_mul_qty(q).unwrap().raw(), 5);
    let q: Quantity = "0.25".parse().unwrap();
    // 2.5e-9 rounds half to even: 2e-9.
    assert_eq!(p.checked_mul_qty(q).unwrap().raw(), 2);
}

#[test]
fn money_divides_into_price_and_ratio() {
    let cost: Money = "1000".parse().unwrap();
    let avg = cost.checked_div_qty("3".parse().unwrap()).unwrap();
    assert_eq!(avg.to_string(), "333.333333333");
    let part = cost
        .checked_mul_ratio("1".parse().unwrap(), "3".parse().unwrap())
        .unwrap();
    assert_eq!(part.to_string(), "333.333333333");
    assert!(cost.checked_div_qty(Quantity::ZERO).is_err());
    assert!(
        cost.checked_mul_ratio(Quantity::ZERO, Quantity::ZERO)
            .is_err()
    );
}

#[test]
fn f64_conversions_are_checked() {
    assert_eq!(Price::from_f64(0.1).unwrap().raw(), 100_000_000);
    assert_eq!(Price::from_f64(-2.5).unwrap().to_string(), "-2.5");
    assert!(Price::from_f64(f64::NAN).is_err());
    assert!(Price::from_f64(f64::INFINITY).is_err());
    assert!(Price::from_f64(1e30).is_err());
    assert!((Price::from_raw(167_430_000_000).to_f64() - 167.43).abs() < 1e-12);
}

#[test]
fn serializes_as_a_decimal_string() {
    let p: Price = "167.43".parse().unwrap();
    assert_eq!(serde_json::to_string(&p).unwrap(), "\"167.43\"");
    assert_eq!(serde_json::from_str::<Price>("\"167.43\"").unwrap(), p);
    assert!(serde_json::from_str::<Price>("\"1.0000000001\"").is_err());
}

proptest! {
    /// An amount divided by a quantity is the exact quotient of the scaled amount, rounded half
    /// to even, whether the quantity is whole (divided as a count of units) or not.
    #[test]
    fn money_over_quantity_is_the_rounded_quotient(
        amount in -1_000_000_000_000_000_000i128..1_000_000_000_000_000_000,
        units in 1i128..1_000_000,
        fraction in prop_oneof![Just(0i128), 1i128..1_000_000_000],
        negative in any::<bool>(),
    ) {
        let q = (units * SCALE + fraction) * if negative { -1 } else { 1 };
        let expected = div_round_half_even_wide(amount * SCALE, q).unwrap();
        let got = Money::from_raw(amount).checked_div_qty(Quantity::from_raw(q)).unwrap();
        prop_assert_eq!(got.raw(), expected);
    }

    #[test]
    fn display_parse_round_trip(raw in any::<i128>()) {
        let value = Money::from_raw(raw);
        prop_assert_eq!(value.to_string().parse::<Money>().unwrap(), value);
    }

    #[test]
    #[allow(clippy::cast_precision_loss)]
    fn to_f64_takes_the_same_value_on_every_path(raw in any::<i64>(), wide in any::<i128>()) {
        // Below 2^53 raw units one division; past it the conversion splits whole and
        // fractional units, and in 64 bits and in 128 bits that must give the same number.
        for raw in [i128::from(raw), wide] {
            let expected = if raw.unsigned_abs() < 1 << 53 {
                raw as f64 / SCALE as f64
            } else {
                (raw / SCALE) as f64 + (raw % SCALE) as f64 / SCALE as f64
            };
            prop_assert_eq!(Money::from_raw(raw).to_f64().to_bits(), expected.to_bits());
        }
        // Raw values kept in 64 bits convert to the same number.
        let narrow = Price::from_raw(i128::from(raw)).to_f64();
        prop_assert_eq!(raw64_to_f64(raw).to_bits(), narrow.to_bits());
    }

    #[test]
    fn text_matches_display(raw in any::<i128>(), small in any::<i64>()) {
        for raw in [raw, i128::from(small)] {
            let (price, money) = (Price::from_raw(raw), Money::from_raw(raw));
            prop_assert_eq!(price.to_text(), price.to_string());
            let mut pushed = String::from("v=");
            money.push_text(&mut pushed);
            prop_assert_eq!(pushed, format!("v={money}"));
        }
    }

    #[test]
    fn parse_display_round_trip(int in 0u64..=u64::MAX, frac in 0u32..1_000_000_000, neg: bool) {
        let text = format!("{}{int}.{frac:09}", if neg { "-" } else { "" });
        let value: Price = text.parse().unwrap();
        let expected = i128::from(int) * SCALE + i128::from(frac);
        prop_assert_eq!(value.raw(), if neg { -expected } else { expected });
        prop_assert_eq!(value.to_string().parse::<Price>().unwrap(), value);
    }

    #[test]
    fn add_sub_are_inverse_or_overflow(a in any::<i128>(), b in any::<i128>()) {
        let (a, b) = (Money::from_raw(a), Money::from_raw(b));
        match a.checked_add(b) {
            Ok(sum) => prop_assert_eq!(sum.checked_sub(b).unwrap(), a),
            Err(_) => prop_assert!(a.raw().checked_add(b.raw()).is_none()),
        }
    }

    #[test]
    fn rounding_error_is_at_most_half_a_unit(num in -(1i128 << 100)..(1i128 << 100), den in 1i128..1_000_000_000_000) {
        let q = div_round_half_even(num, den).unwrap();
        // |num - q*den| <= den/2, compared exactly in integers.
        let residual = (num - q * den).abs();
        prop_assert!(residual * 2 <= den);
    }

    #[test]
    fn price_times_quantity_is_the_rounded_product(
        price in any::<i128>(),
        small_price in -(1i128 << 60)..(1i128 << 60),
        units in -1_000_000_000i128..1_000_000_000,
        fraction in 0i128..1_000_000_000,
    ) {
        for p in [price, small_price] {
            for q in [units * SCALE, units * SCALE + fraction, units] {
                let expected = p.checked_mul(q).and_then(|x| div_round_half_even_wide(x, SCALE));
                let got = Price::from_raw(p).checked_mul_qty(Quantity::from_raw(q));
                prop_assert_eq!(got.ok().map(Money::raw), expected);
            }
        }
    }

    #[test]
    fn the_64_bit_path_divides_like_the_128_bit_one(
        num in any::<i64>(),
        den in any::<i64>().prop_filter("non-zero", |d| *d != 0),
        small in -1000i64..1000,
    ) {
        for (n, d) in [(num, den), (num, small.max(1)), (small, den), (num, -1), (i64::MIN, den)] {
            let (n, d) = (i128::from(n), i128::from(d));
            prop_assert_eq!(div_round_half_even(n, d), div_round_half_even_wide(n, d));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        let _ = text.parse::<Quantity>();
    }
}

#[test]
fn display_covers_every_magnitude_and_pads() {
    assert_eq!(Money::ZERO.to_string(), "0");
    assert_eq!(Price::from_raw(1_000_000_000).to_string(), "1");
    assert_eq!(Price::from_raw(-1).to_string(), "-0.000000001");
    assert_eq!(Price::from_raw(10_000_000_010).to_string(), "10.00000001");
    // Past u64 raw units: the wide path.
    let wide = Money::from_raw(i128::from(u64::MAX) * 10 + 5);
    assert_eq!(wide.to_string(), "184467440737.095516155");
    assert_eq!(
        Money::MAX.to_string(),
        format!("{}.{:09}", i128::MAX / SCALE, i128::MAX % SCALE)
    );
    assert_eq!(
        Money::MIN.to_string(),
        format!("-{}.{:09}", -(i128::MIN / SCALE), -(i128::MIN % SCALE))
    );
    assert_eq!(format!("{:>8}", Price::from_raw(1_500_000_000)), "     1.5");
    assert_eq!(
        format!("{:<6}|", Quantity::from_raw(2_000_000_000)),
        "2     |"
    );
}

#[test]
fn whole_units_are_counted_only_for_whole_quantities_in_64_bits() {
    assert_eq!(Quantity::from_units(100).unwrap().whole_units(), Some(100));
    assert_eq!(Quantity::from_units(-7).unwrap().whole_units(), Some(-7));
    assert_eq!(Quantity::ZERO.whole_units(), Some(0));
    assert_eq!(Quantity::from_raw(1_500_000_000).whole_units(), None);
    assert_eq!(Quantity::from_raw(-1).whole_units(), None);
    // 2^64 whole units: whole, but its raw count is past 64 bits.
    assert_eq!(
        Quantity::from_raw((1_i128 << 64) * SCALE).whole_units(),
        None
    );
}
