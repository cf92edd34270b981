//! Fixed-point [`Price`], [`Quantity`] and [`Money`].
//!
//! All three are an `i128` count of units of 10^-9 ([`SCALE`] = 1,000,000,000, [`DECIMALS`] =
//! 9). One scale for all three keeps conversions exact and the storage uniform. Nine decimals
//! hold every real price we have seen (crypto crosses quote to 8 decimals) and fractional coin
//! volumes exactly.
//!
//! Range: the raw `i128` spans ±1.7e38, so each type holds magnitudes up to
//! [`MAX_WHOLE`] ≈ ±1.7e29 whole units: far beyond a 1e6 price, a 1e12 volume or the 1e18
//! notional of their product. `Price * Quantity` works on the raw product (scale 10^18) before
//! rescaling, so it is exact and overflow-free while `|price × quantity|` stays below about
//! 1.7e20 whole units; beyond that it returns [`ModelError::Overflow`].
//!
//! Every operation is checked: overflow returns an error, never wraps. Rounding happens only
//! where a result has more than nine decimals (a product or a quotient), and is half-to-even
//! ("banker's rounding"), so repeated rounding does not drift in one direction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ModelError;

/// Raw units per whole unit: every fixed-point value is `raw / SCALE`.
pub const SCALE: i128 = 1_000_000_000;
/// Decimal places carried by every fixed-point value.
pub const DECIMALS: u32 = 9;
/// The largest whole-unit magnitude any fixed-point type holds (`i128::MAX / SCALE`).
pub const MAX_WHOLE: i128 = i128::MAX / SCALE;

/// Divides `num` by `den` rounding half to even. `den` must be non-zero.
///
/// Operands that fit in 64 bits take the processor's own division: 128-bit division is a
/// library call several times slower, and prices, quantities and most of their products fit.
#[inline]
fn div_round_half_even(num: i128, den: i128) -> Option<i128> {
    match (i64::try_from(num), i64::try_from(den)) {
        (Ok(n), Ok(d)) if d != 0 && !(n == i64::MIN && d == -1) => {
            let (q, r) = (n / d, n % d);
            if r == 0 {
                return Some(i128::from(q));
            }
            // |r| < |d| <= 2^63, so twice it fits in 64 unsigned bits.
            let twice = r.unsigned_abs() * 2;
            let step = if (n < 0) != (d < 0) { -1 } else { 1 };
            let q = i128::from(q);
            Some(match twice.cmp(&d.unsigned_abs()) {
                std::cmp::Ordering::Less => q,
                std::cmp::Ordering::Equal if q % 2 == 0 => q,
                _ => q + step,
            })
        }
        _ => div_round_half_even_wide(num, den),
    }
}

/// [`div_round_half_even`] in 128 bits.
#[cold]
fn div_round_half_even_wide(num: i128, den: i128) -> Option<i128> {
    let q = num.checked_div(den)?;
    let r = num.checked_rem(den)?;
    if r == 0 {
        return Some(q);
    }
    let twice = r.unsigned_abs().checked_mul(2)?;
    let den_abs = den.unsigned_abs();
    let away = (num < 0) != (den < 0);
    let step = if away { -1 } else { 1 };
    match twice.cmp(&den_abs) {
        std::cmp::Ordering::Less => Some(q),
        std::cmp::Ordering::Greater => q.checked_add(step),
        std::cmp::Ordering::Equal if q % 2 == 0 => Some(q),
        std::cmp::Ordering::Equal => q.checked_add(step),
    }
}

/// Parses a plain decimal (`-12.345`, `+7`, `0.000000001`) into raw units.
fn parse_decimal(kind: &'static str, text: &str) -> Result<i128, ModelError> {
    let err = |reason: &str| ModelError::parse(kind, text, reason);
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        Some(_) => (false, text),
        None => return Err(err("empty")),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("expected a decimal number such as 123.45"));
    }
    // The magnitude is built unsigned so that `i128::MIN` parses like every other value.
    let too_large = || err("too large");
    let mut magnitude: u128 = 0;
    for b in int_part.bytes() {
        magnitude = magnitude
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(b - b'0')))
            .ok_or_else(too_large)?;
    }
    magnitude = magnitude
        .checked_mul(SCALE.unsigned_abs())
        .ok_or_else(too_large)?;
    if let Some(frac) = frac_part {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("expected digits after the decimal point"));
        }
        let significant = frac.trim_end_matches('0');
        if significant.len() > DECIMALS as usize {
            return Err(err("more than 9 decimal places"));
        }
        let mut frac_raw: u128 = 0;
        for b in significant.bytes() {
            frac_raw = frac_raw * 10 + u128::from(b - b'0');
        }
        for _ in significant.len()..DECIMALS as usize {
            frac_raw *= 10;
        }
        magnitude = magnitude.checked_add(frac_raw).ok_or_else(too_large)?;
    }
    if negative {
        0i128.checked_sub_unsigned(magnitude).ok_or_else(too_large)
    } else {
        i128::try_from(magnitude).map_err(|_| too_large())
    }
}

/// Raw units as the shortest exact decimal, written digit by digit into `buf` (recording a
/// session formats millions of these), in 64-bit arithmetic whenever the value fits.
fn decimal_text(raw: i128, buf: &mut [u8; 64]) -> &str {
    /// Prepends `byte`.
    fn put(buf: &mut [u8; 64], pos: &mut usize, byte: u8) {
        *pos -= 1;
        if let Some(slot) = buf.get_mut(*pos) {
            *slot = byte;
        }
    }
    /// The digit of `v`'s units, as text.
    fn digit(v: u64) -> u8 {
        b'0' + u8::try_from(v % 10).unwrap_or(0)
    }
    const SCALE_U64: u64 = 1_000_000_000;
    let abs = raw.unsigned_abs();
    let (mut int_part, frac): (u128, u64) = match u64::try_from(abs) {
        Ok(small) => (u128::from(small / SCALE_U64), small % SCALE_U64),
        Err(_) => {
            let scale = SCALE.unsigned_abs();
            (abs / scale, u64::try_from(abs % scale).unwrap_or(0))
        }
    };
    // i128::MAX has 39 digits: 30 whole, a point, 9 decimals and a sign fit in 64 bytes.
    let mut pos = buf.len();
    if frac != 0 {
        let (mut digits, mut n) = (frac, 9);
        while digits % 10 == 0 {
            digits /= 10;
            n -= 1;
        }
        for _ in 0..n {
            put(buf, &mut pos, digit(digits));
            digits /= 10;
        }
        put(buf, &mut pos, b'.');
    }
    // The whole part's low digits in 128-bit arithmetic only while it does not fit 64 bits.
    while u64::try_from(int_part).is_err() {
        put(
            buf,
            &mut pos,
            digit(u64::try_from(int_part % 10).unwrap_or(0)),
        );
        int_part /= 10;
    }
    let mut whole = u64::try_from(int_part).unwrap_or(0);
    loop {
        put(buf, &mut pos, digit(whole));
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    if raw < 0 {
        put(buf, &mut pos, b'-');
    }
    // Only ASCII digits, a point and a sign were written.
    buf.get(pos..)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or_default()
}

/// Raw units held in 64 bits as `f64`: exactly what `to_f64` gives for the same raw value (it
/// takes this path whenever the raw value fits), for callers that keep raw values in 64 bits.
#[must_use]
#[inline]
#[allow(clippy::cast_precision_loss)]
pub fn raw64_to_f64(raw: i64) -> f64 {
    const EXACT: i64 = 1 << 53;
    if -EXACT < raw && raw < EXACT {
        // Both operands are exact in f64, so IEEE division rounds once.
        raw as f64 / SCALE as f64
    } else {
        wide_to_f64(i128::from(raw))
    }
}

/// The error of an operation that left the range, naming it. Out of line and cold, so that the
/// checked operations inline with nothing but their test of the result.
#[cold]
#[inline(never)]
fn overflow(op: fmt::Arguments<'_>) -> ModelError {
    ModelError::overflow(op.to_string())
}

/// `to_f64` for magnitudes past 2^53 raw units. Out of line and cold: inlined, the compiler
/// evaluates it speculatively next to the fast path, and 128-bit division and conversion are
/// library calls that would dominate the engine's per-bar cost.
#[cold]
#[inline(never)]
#[allow(clippy::cast_precision_loss)]
fn wide_to_f64(raw: i128) -> f64 {
    // The same quotient, remainder and conversions in 64 bits while the value fits (amounts
    // up to about 9.2 billion units: an account's equity), without 128-bit division calls.
    if let Ok(raw) = i64::try_from(raw) {
        const SCALE_I64: i64 = 1_000_000_000;
        return (raw / SCALE_I64) as f64 + (raw % SCALE_I64) as f64 / SCALE_I64 as f64;
    }
    let whole = (raw / SCALE) as f64;
    let frac = (raw % SCALE) as f64 / SCALE as f64;
    whole + frac
}

macro_rules! fixed_point {
    ($name:ident, $kind:literal) => {
        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// The largest representable value.
            pub const MAX: Self = Self(i128::MAX);
            /// The smallest representable value.
            pub const MIN: Self = Self(i128::MIN);

            /// Wraps a raw count of 10^-9 units.
            #[must_use]
            pub const fn from_raw(raw: i128) -> Self {
                Self(raw)
            }

            /// The raw count of 10^-9 units.
            #[must_use]
            pub const fn raw(self) -> i128 {
                self.0
            }

            /// A whole number of units.
            ///
            /// # Errors
            /// [`ModelError::Overflow`] if `units` exceeds [`MAX_WHOLE`].
            pub fn from_units(units: i128) -> Result<Self, ModelError> {
                units
                    .checked_mul(SCALE)
                    .map(Self)
                    .ok_or_else(|| ModelError::overflow(format!("{units} * 10^9")))
            }

            /// Converts from `f64`, rounding half to even at nine decimals. This is for edges that
            /// receive floating point (vendor feeds, indicator outputs), never for arithmetic.
            ///
            /// # Errors
            /// [`ModelError::OutOfRange`] for NaN, infinities and magnitudes beyond the range.
            pub fn from_f64(value: f64) -> Result<Self, ModelError> {
                let out_of_range = || ModelError::OutOfRange {
                    kind: $kind,
                    value: value.to_string(),
                };
                if !value.is_finite() {
                    return Err(out_of_range());
                }
                // Exact decimal rendering, then the exact decimal parser, avoids binary scaling
                // error: 0.1 becomes 100_000_000 raw, not 99_999_999.
                let text = format!("{value:.9}");
                parse_decimal($kind, &text)
                    .map(Self)
                    .map_err(|_| out_of_range())
            }

            /// The value as `f64`: the one conversion point into floating point (indicators,
            /// statistics). Below about 9e6 whole units the result is the `f64` nearest to the
            /// exact decimal value (one correctly rounded division); beyond that it may lose
            /// precision past about 15 significant digits.
            #[must_use]
            #[inline]
            #[allow(clippy::cast_precision_loss)]
            pub fn to_f64(self) -> f64 {
                // Going through i64 avoids a slow 128-bit conversion.
                match i64::try_from(self.0) {
                    Ok(raw) => raw64_to_f64(raw),
                    Err(_) => wide_to_f64(self.0),
                }
            }

            /// `self + rhs`.
            ///
            /// # Errors
            /// [`ModelError::Overflow`] when the sum is out of range.
            #[inline]
            pub fn checked_add(self, rhs: Self) -> Result<Self, ModelError> {
                match self.0.checked_add(rhs.0) {
                    Some(raw) => Ok(Self(raw)),
                    None => Err(overflow(format_args!("{self} + {rhs}"))),
                }
            }

            /// `self - rhs`.
            ///
            /// # Errors
            /// [`ModelError::Overflow`] when the difference is out of range.
            #[inline]
            pub fn checked_sub(self, rhs: Self) -> Result<Self, ModelError> {
                match self.0.checked_sub(rhs.0) {
                    Some(raw) => Ok(Self(raw)),
                    None => Err(overflow(format_args!("{self} - {rhs}"))),
                }
            }

            /// `-self`.
            ///
            /// # Errors
            /// [`ModelError::Overflow`] for [`Self::MIN`].
            #[inline]
            pub fn checked_neg(self) -> Result<Self, ModelError> {
                match self.0.checked_neg() {
                    Some(raw) => Ok(Self(raw)),
                    None => Err(overflow(format_args!("-({self})"))),
                }
            }

            /// `|self|`.
            ///
            /// # Errors
            /// [`ModelError::Overflow`] for [`Self::MIN`].
            #[inline]
            pub fn checked_abs(self) -> Result<Self, ModelError> {
                match self.0.checked_abs() {
                    Some(raw) => Ok(Self(raw)),
                    None => Err(overflow(format_args!("|{self}|"))),
                }
            }

            /// Multiplies by a whole number.
            ///
            /// # Errors
            /// [`ModelError::Overflow`] when the product is out of range.
            pub fn checked_mul_int(self, factor: i128) -> Result<Self, ModelError> {
                self.0
                    .checked_mul(factor)
                    .map(Self)
                    .ok_or_else(|| ModelError::overflow(format!("{self} * {factor}")))
            }

            /// Appends the value's text (as its `Display` writes it) to `out`, without the
            /// formatting machinery: for writers that turn millions of values into text.
            pub fn push_text(self, out: &mut String) {
                out.push_str(decimal_text(self.0, &mut [0; 64]));
            }

            /// The value's text (as `to_string` gives it), without the formatting machinery.
            #[must_use]
            pub fn to_text(self) -> String {
                decimal_text(self.0, &mut [0; 64]).to_owned()
            }

            /// Divides by a whole number, rounding half to even.
            ///
            /// # Errors
            /// [`ModelError::Invalid`] when `divisor` is zero.
            pub fn checked_div_int(self, divisor: i128) -> Result<Self, ModelError> {
                if divisor == 0 {
                    return Err(ModelError::invalid(
                        $kind,
                        format!("{self} divided by zero"),
                    ));
                }
                div_round_half_even(self.0, divisor)
                    .map(Self)
                    .ok_or_else(|| ModelError::overflow(format!("{self} / {divisor}")))
            }

            /// True when the value is exactly zero.
            #[must_use]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// True when the value is strictly positive.
            #[must_use]
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            /// True when the value is strictly negative.
            #[must_use]
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(decimal_text(self.0, &mut [0; 64]))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            /// Parses a plain decimal with at most nine decimal places, e.g. `167.43`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_decimal($kind, s).map(Self)
            }
        }

        impl Serialize for $name {
            /// Serialized as a decimal string so JSON consumers never round through `f64`.
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A price per unit of an instrument, in its quote currency. May be negative (some futures
/// have traded below zero); order and bar validation decide where that is allowed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(i128);

/// An amount of an instrument: order sizes, fills, bar volumes (shares, contracts or coins) and
/// signed positions (negative is short).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(i128);

/// An amount of currency: cash, notional, commissions, profit and loss.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i128);

fixed_point!(Price, "price");
fixed_point!(Quantity, "quantity");
fixed_point!(Money, "money");

/// [`SCALE`] as an `i64`.
const SCALE_I64: i64 = 1_000_000_000;

impl Quantity {
    /// The quantity as a count of whole units, when it is one that fits in 64 bits (the usual
    /// quantity, a whole number of shares): products and quotients with it need no rescaling.
    #[must_use]
    #[inline]
    pub fn whole_units(self) -> Option<i64> {
        let raw = i64::try_from(self.0).ok()?;
        (raw % SCALE_I64 == 0).then_some(raw / SCALE_I64)
    }
}

impl Price {
    /// The notional `self × quantity`, exact when the product has at most nine decimals and
    /// rounded half to even otherwise.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when `|price × quantity|` exceeds about 1.7e20.
    #[inline]
    pub fn checked_mul_qty(self, quantity: Quantity) -> Result<Money, ModelError> {
        // 64-bit operands cannot overflow 128 bits, and a whole quantity needs no division:
        // the price times the count of units. This common case inlines; the rest does not.
        if let (Ok(p), Some(units)) = (i64::try_from(self.0), quantity.whole_units()) {
            return Ok(Money(i128::from(p) * i128::from(units)));
        }
        self.mul_qty_rounded(quantity)
    }

    /// [`Price::checked_mul_qty`] for a fractional quantity or an operand beyond 64 bits.
    #[inline(never)]
    fn mul_qty_rounded(self, quantity: Quantity) -> Result<Money, ModelError> {
        match (i64::try_from(self.0), i64::try_from(quantity.0)) {
            (Ok(p), Ok(q)) => div_round_half_even(i128::from(p) * i128::from(q), SCALE),
            _ => self
                .0
                .checked_mul(quantity.0)
                .and_then(|p| div_round_half_even(p, SCALE)),
        }
        .map(Money)
        .ok_or_else(|| ModelError::overflow(format!("{self} * {quantity}")))
    }
}

impl Money {
    /// The per-unit price `self / quantity`, rounded half to even at nine decimals.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] when `quantity` is zero; [`ModelError::Overflow`] when the
    /// quotient is out of range.
    pub fn checked_div_qty(self, quantity: Quantity) -> Result<Price, ModelError> {
        if quantity.is_zero() {
            return Err(ModelError::invalid(
                "money",
                format!("{self} divided by zero quantity"),
            ));
        }
        // A whole quantity divides the amount by its count of units: the same quotient, rounded
        // the same way, without scaling the amount past 64 bits first.
        if let Some(units) = quantity.whole_units()
            && let Some(price) = div_round_half_even(self.0, i128::from(units))
        {
            return Ok(Price(price));
        }
        self.0
            .checked_mul(SCALE)
            .and_then(|n| div_round_half_even(n, quantity.0))
            .map(Price)
            .ok_or_else(|| ModelError::overflow(format!("{self} / {quantity}")))
    }

    /// `self × numerator / denominator` with one rounding (half to even) at the end: the share
    /// of a cost basis that a partial close removes.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] for a zero denominator; [`ModelError::Overflow`] when the
    /// intermediate product `raw(self) × raw(numerator)` exceeds `i128`.
    pub fn checked_mul_ratio(
        self,
        numerator: Quantity,
        denominator: Quantity,
    ) -> Result<Self, ModelError> {
        if denominator.is_zero() {
            return Err(ModelError::invalid(
                "money",
                format!("{self} scaled by {numerator}/0"),
            ));
        }
        self.0
            .checked_mul(numerator.0)
            .and_then(|n| div_round_half_even(n, denominator.0))
            .map(Self)
            .ok_or_else(|| ModelError::overflow(format!("{self} * {numerator} / {denominator}")))
    }
}

#[cfg(test)]
mod tests;
