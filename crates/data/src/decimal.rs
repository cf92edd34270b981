//! Fast decimal text to fixed-point raw units (10^-9), for imports.
//!
//! Accepts what vendors write: `167.43`, `-0.5`, `+7`, `.5`, `1.`, `1e-05`, `1.2E3`. More than
//! nine decimals are rounded half to even and reported, never silently truncated. `NaN` and
//! infinities are reported as non-finite so the import can name them.

use openbell_model::fixed::DECIMALS;

/// Why a field is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// Not a number at all.
    Malformed,
    /// `NaN`, `inf` or `infinity`.
    NonFinite,
    /// Too large for the fixed-point range.
    TooLarge,
}

/// A parsed value: raw units, and whether rounding to nine decimals changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) raw: i128,
    pub(crate) rounded: bool,
}

pub(crate) fn parse(text: &[u8]) -> Result<Parsed, DecimalError> {
    let text = text.trim_ascii();
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        Some(_) => (false, text),
        None => return Err(DecimalError::Malformed),
    };
    if body.first().is_some_and(|b| b.is_ascii_alphabetic()) {
        let lower = body.to_ascii_lowercase();
        return Err(
            if matches!(lower.as_slice(), b"nan" | b"inf" | b"infinity") {
                DecimalError::NonFinite
            } else {
                DecimalError::Malformed
            },
        );
    }
    let (mantissa, exponent) = match body.iter().position(|b| *b == b'e' || *b == b'E') {
        Some(i) => {
            let exp = std::str::from_utf8(&body[i + 1..])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or(DecimalError::Malformed)?;
            (&body[..i], exp)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|b| *b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &mantissa[..0]),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.iter().chain(frac_part).all(u8::is_ascii_digit)
    {
        return Err(DecimalError::Malformed);
    }
    // The digits D = int_part ++ frac_part with the decimal point after position `point`.
    let int_len = i64::try_from(int_part.len()).map_err(|_| DecimalError::TooLarge)?;
    let len = int_len + i64::try_from(frac_part.len()).map_err(|_| DecimalError::TooLarge)?;
    let digit = |k: i64| -> u8 {
        if k < 0 || k >= len {
            0
        } else if k < int_len {
            int_part[usize::try_from(k).unwrap_or(0)] - b'0'
        } else {
            frac_part[usize::try_from(k - int_len).unwrap_or(0)] - b'0'
        }
    };
    let first_nonzero = (0..len).find(|k| digit(*k) != 0);
    let Some(first_nonzero) = first_nonzero else {
        return Ok(Parsed {
            raw: 0,
            rounded: false,
        });
    };
    let point = int_len
        .checked_add(exponent)
        .ok_or(DecimalError::TooLarge)?;
    // Whole units have at most 30 digits in range; reject larger before looping.
    if point - first_nonzero > 30 {
        return Err(DecimalError::TooLarge);
    }
    let decimals = i64::from(DECIMALS);
    let mut magnitude: u128 = 0;
    for k in first_nonzero.min(point)..point + decimals {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit(k))))
            .ok_or(DecimalError::TooLarge)?;
    }
    // Half to even on the first dropped digit, with any later non-zero digit as a tie-breaker.
    let round_digit = digit(point + decimals);
    let sticky = ((point + decimals + 1).max(0)..len).any(|k| digit(k) != 0);
    let rounded = round_digit != 0 || sticky;
    let round_up = round_digit > 5 || (round_digit == 5 && (sticky || magnitude % 2 == 1));
    if round_up {
        magnitude = magnitude.checked_add(1).ok_or(DecimalError::TooLarge)?;
    }
    let raw = if negative {
        0i128
            .checked_sub_unsigned(magnitude)
            .ok_or(DecimalError::TooLarge)?
    } else {
        i128::try_from(magnitude).map_err(|_| DecimalError::TooLarge)?
    };
    Ok(Parsed { raw, rounded })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("167.43", 167_430_000_000, false)]
    #[case("-0.5", -500_000_000, false)]
    #[case("+7", 7_000_000_000, false)]
    #[case(".5", 500_000_000, false)]
    #[case("1.", 1_000_000_000, false)]
    #[case("1e-05", 10_000, false)]
    #[case("1.2E3", 1_200_000_000_000, false)]
    #[case(" 42 ", 42_000_000_000, false)]
    #[case("0.0000000015", 2, true)] // 1.5e-9 -> 2e-9 (half to even)
    #[case("0.0000000025", 2, true)] // 2.5e-9 -> 2e-9
    #[case("0.00000000251", 3, true)]
    #[case("134918704.76320000001", 134_918_704_763_200_000, true)]
    #[case("5e-10", 0, true)]
    #[case("1.0000000000", 1_000_000_000, false)]
    #[case("0.05", 50_000_000, false)]
    #[case("1e-1000000000", 0, true)]
    #[case("0e5", 0, false)]
    fn parses(#[case] text: &str, #[case] raw: i128, #[case] rounded: bool) {
        assert_eq!(
            parse(text.as_bytes()),
            Ok(Parsed { raw, rounded }),
            "{text}"
        );
    }

    #[rstest]
    #[case("", DecimalError::Malformed)]
    #[case("abc", DecimalError::Malformed)]
    #[case("1.2.3", DecimalError::Malformed)]
    #[case("1e", DecimalError::Malformed)]
    #[case("NaN", DecimalError::NonFinite)]
    #[case("-inf", DecimalError::NonFinite)]
    #[case("Infinity", DecimalError::NonFinite)]
    #[case("1e40", DecimalError::TooLarge)]
    #[case("1e99999999999999999999", DecimalError::Malformed)]
    #[case(".", DecimalError::Malformed)]
    fn rejects(#[case] text: &str, #[case] err: DecimalError) {
        assert_eq!(parse(text.as_bytes()), Err(err), "{text}");
    }

    proptest! {
        #[test]
        fn agrees_with_the_model_parser(int in 0u64..1_000_000_000_000, frac in 0u32..1_000_000_000, neg: bool) {
            let text = format!("{}{int}.{frac:09}", if neg { "-" } else { "" });
            let model: openbell_model::Price = text.parse().unwrap();
            prop_assert_eq!(parse(text.as_bytes()).unwrap(), Parsed { raw: model.raw(), rounded: false });
        }

        #[test]
        fn rounding_matches_exact_arithmetic(units in 0u64..1_000_000, frac in 0u64..1_000_000_000_000_000) {
            // 15 decimals, rounded to 9 with integer arithmetic as the reference.
            let text = format!("{units}.{frac:015}");
            let digits = u128::from(units) * 1_000_000_000_000_000 + u128::from(frac);
            let (q, r) = (digits / 1_000_000, digits % 1_000_000);
            let expected = if r > 500_000 || (r == 500_000 && q % 2 == 1) { q + 1 } else { q };
            let parsed = parse(text.as_bytes()).unwrap();
            prop_assert_eq!(parsed.raw, i128::try_from(expected).unwrap());
            prop_assert_eq!(parsed.rounded, r != 0);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse(&bytes);
        }
    }
}
