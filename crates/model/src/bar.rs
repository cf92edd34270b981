//! [`Bar`]: open, high, low, close and volume of one symbol over one interval.
//!
//! A bar is stamped with its **open** time (`ts_event`) and becomes known at its close, so the
//! engine clock reads `ts_event + interval` when a bar is delivered. [`Bar::try_new`] is the only
//! way to build one and it enforces the OHLC invariants, so every `Bar` in the system is sound.

use serde::{Deserialize, Serialize};

use crate::{Interval, ModelError, Price, Quantity, Symbol, Timestamp};

/// The price and volume fields of a bar, before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ohlcv {
    /// First traded price of the interval.
    pub open: Price,
    /// Highest traded price.
    pub high: Price,
    /// Lowest traded price.
    pub low: Price,
    /// Last traded price.
    pub close: Price,
    /// Traded amount (shares, contracts or coins, as the source gives it).
    pub volume: Quantity,
}

impl Ohlcv {
    /// Open, high, low and close all at `price`: an interval with no range (one trade, or
    /// several at one price).
    #[must_use]
    pub const fn flat(price: Price, volume: Quantity) -> Self {
        Self {
            open: price,
            high: price,
            low: price,
            close: price,
            volume,
        }
    }
}

/// A validated OHLCV bar.
///
/// Invariants: `low <= min(open, close)`, `max(open, close) <= high` and `volume >= 0`. Values
/// are fixed-point, so they are always finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "BarFields")]
pub struct Bar {
    symbol: Symbol,
    interval: Interval,
    ts_event: Timestamp,
    #[serde(flatten)]
    ohlcv: Ohlcv,
}

#[derive(Deserialize)]
struct BarFields {
    symbol: Symbol,
    interval: Interval,
    ts_event: Timestamp,
    #[serde(flatten)]
    ohlcv: Ohlcv,
}

impl TryFrom<BarFields> for Bar {
    type Error = ModelError;

    fn try_from(f: BarFields) -> Result<Self, Self::Error> {
        Self::try_new(f.symbol, f.interval, f.ts_event, f.ohlcv)
    }
}

impl Bar {
    /// Builds a bar, checking its invariants.
    ///
    /// # Errors
    /// [`ModelError::InvalidBar`] naming the bar and the failed invariant with its values.
    #[inline]
    pub fn try_new(
        symbol: Symbol,
        interval: Interval,
        ts_event: Timestamp,
        ohlcv: Ohlcv,
    ) -> Result<Self, ModelError> {
        let o = &ohlcv;
        if o.low > o.open.min(o.close) || o.high < o.open.max(o.close) || o.volume.is_negative() {
            return Err(Self::invalid(symbol, interval, ts_event, ohlcv));
        }
        Ok(Self {
            symbol,
            interval,
            ts_event,
            ohlcv,
        })
    }

    /// The error for fields that break an invariant, naming the first one broken. Out of line,
    /// so that building a valid bar stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn invalid(
        symbol: Symbol,
        interval: Interval,
        ts_event: Timestamp,
        ohlcv: Ohlcv,
    ) -> ModelError {
        let Ohlcv {
            open,
            high,
            low,
            close,
            volume,
        } = ohlcv;
        let reason = if low > open.min(close) {
            format!("low {low} is above min(open {open}, close {close})")
        } else if high < open.max(close) {
            format!("high {high} is below max(open {open}, close {close})")
        } else {
            format!("volume {volume} is negative")
        };
        ModelError::InvalidBar {
            symbol: symbol.to_string(),
            interval: interval.to_string(),
            ts_event: ts_event.to_string(),
            reason,
        }
    }

    /// The instrument.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Extends the bar by a later bar of its series: the highest high, the lowest low, the later
    /// bar's close and the summed volume, as a longer bar built from both. The invariants hold
    /// by construction (the low stays at or below the first open and the later close, the high
    /// at or above them, and volumes are not negative), so nothing is checked again.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when the summed volume is out of range; the bar is unchanged.
    #[inline]
    pub fn absorb(&mut self, later: &Self) -> Result<(), ModelError> {
        let o = &mut self.ohlcv;
        let volume = o.volume.checked_add(later.volume())?;
        o.high = o.high.max(later.high());
        o.low = o.low.min(later.low());
        o.close = later.close();
        o.volume = volume;
        Ok(())
    }

    /// The same prices and volume as a bar of `interval` opening at `ts_event`.
    #[must_use]
    pub const fn with_time(self, interval: Interval, ts_event: Timestamp) -> Self {
        Self {
            interval,
            ts_event,
            ..self
        }
    }

    /// Whether the bar is of `symbol` at `interval` (compared in place, without copying the
    /// symbol out).
    #[must_use]
    #[inline]
    pub fn is_series(&self, symbol: &Symbol, interval: Interval) -> bool {
        self.symbol == *symbol && self.interval == interval
    }

    /// The bar length.
    #[must_use]
    pub const fn interval(&self) -> Interval {
        self.interval
    }

    /// The open time of the bar.
    #[must_use]
    pub const fn ts_event(&self) -> Timestamp {
        self.ts_event
    }

    /// The nominal close time, `ts_event + interval`. Daily bars and the short last bar of an
    /// early close end earlier; the calendar knows the real close.
    #[must_use]
    pub fn ts_close_nominal(&self) -> Timestamp {
        Timestamp::from_nanos(
            self.ts_event
                .as_nanos()
                .saturating_add(self.interval.as_nanos()),
        )
    }

    /// All price and volume fields.
    #[must_use]
    pub const fn ohlcv(&self) -> Ohlcv {
        self.ohlcv
    }

    /// The open price.
    #[must_use]
    pub const fn open(&self) -> Price {
        self.ohlcv.open
    }

    /// The high price.
    #[must_use]
    pub const fn high(&self) -> Price {
        self.ohlcv.high
    }

    /// The low price.
    #[must_use]
    pub const fn low(&self) -> Price {
        self.ohlcv.low
    }

    /// The close price.
    #[must_use]
    pub const fn close(&self) -> Price {
        self.ohlcv.close
    }

    /// The volume.
    #[must_use]
    pub const fn volume(&self) -> Quantity {
        self.ohlcv.volume
    }
}

/// A bar's open time and values as raw fixed-point units held in 64 bits: the compact form the
/// engine streams a day from (48 bytes, against a [`Bar`]'s 128, and no 128-bit arithmetic).
///
/// [`RawBar::of`] is the only way to build one, from a valid bar whose values all fit, so a
/// `RawBar` satisfies the bar invariants. It carries no symbol or interval: whoever holds it
/// knows the series it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawBar {
    ts_event: i64,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: i64,
}

impl RawBar {
    /// The bar's time and values, or `None` when a value does not fit in 64 raw bits (beyond
    /// about ±9.2 billion whole units).
    #[must_use]
    #[inline]
    pub fn of(bar: &Bar) -> Option<Self> {
        let o = &bar.ohlcv;
        Some(Self {
            ts_event: bar.ts_event.as_nanos(),
            open: i64::try_from(o.open.raw()).ok()?,
            high: i64::try_from(o.high.raw()).ok()?,
            low: i64::try_from(o.low.raw()).ok()?,
            close: i64::try_from(o.close.raw()).ok()?,
            volume: i64::try_from(o.volume.raw()).ok()?,
        })
    }

    /// The open time, in nanoseconds since the epoch.
    #[must_use]
    #[inline]
    pub const fn ts_event(&self) -> i64 {
        self.ts_event
    }

    /// The same values opening at `ts_event` (nanoseconds since the epoch): a longer bar built
    /// from this one, stamped with its own open.
    #[must_use]
    #[inline]
    pub const fn at(self, ts_event: i64) -> Self {
        Self { ts_event, ..self }
    }

    /// The open price in raw units.
    #[must_use]
    #[inline]
    pub const fn open(&self) -> i64 {
        self.open
    }

    /// The high price in raw units.
    #[must_use]
    #[inline]
    pub const fn high(&self) -> i64 {
        self.high
    }

    /// The low price in raw units.
    #[must_use]
    #[inline]
    pub const fn low(&self) -> i64 {
        self.low
    }

    /// The close price in raw units.
    #[must_use]
    #[inline]
    pub const fn close(&self) -> i64 {
        self.close
    }

    /// The volume in raw units.
    #[must_use]
    #[inline]
    pub const fn volume(&self) -> i64 {
        self.volume
    }

    /// [`Bar::absorb`] in raw form: extends the bar by a later bar of its series (the highest
    /// high, the lowest low, the later close and the summed volume). False, with the bar
    /// unchanged, when the summed volume does not fit in 64 bits.
    #[must_use]
    #[inline]
    pub fn absorb(&mut self, later: &Self) -> bool {
        let Some(volume) = self.volume.checked_add(later.volume) else {
            return false;
        };
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume = volume;
        true
    }
}

impl Bar {
    /// The bar `row` was taken from, given its series. The row's values satisfy the invariants
    /// (it was built from a valid bar), so nothing is checked again.
    #[must_use]
    #[inline]
    pub fn from_raw(symbol: Symbol, interval: Interval, row: &RawBar) -> Self {
        Self {
            symbol,
            interval,
            ts_event: Timestamp::from_nanos(row.ts_event),
            ohlcv: Ohlcv {
                open: Price::from_raw(i128::from(row.open)),
                high: Price::from_raw(i128::from(row.high)),
                low: Price::from_raw(i128::from(row.low)),
                close: Price::from_raw(i128::from(row.close)),
                volume: Quantity::from_raw(i128::from(row.volume)),
            },
        }
    }

    /// [`Bar::absorb`] of the later bar `row` was taken from.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when the summed volume is out of range; the bar is unchanged.
    #[inline]
    pub fn absorb_raw(&mut self, later: &RawBar) -> Result<(), ModelError> {
        let o = &mut self.ohlcv;
        let volume = o
            .volume
            .checked_add(Quantity::from_raw(i128::from(later.volume)))?;
        o.high = o.high.max(Price::from_raw(i128::from(later.high)));
        o.low = o.low.min(Price::from_raw(i128::from(later.low)));
        o.close = Price::from_raw(i128::from(later.close));
        o.volume = volume;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ohlcv(o: i128, h: i128, l: i128, c: i128, v: i128) -> Ohlcv {
        Ohlcv {
            open: Price::from_raw(o),
            high: Price::from_raw(h),
            low: Price::from_raw(l),
            close: Price::from_raw(c),
            volume: Quantity::from_raw(v),
        }
    }

    fn build(fields: Ohlcv) -> Result<Bar, ModelError> {
        Bar::try_new(
            Symbol::parse("SPY").unwrap(),
            Interval::M1,
            Timestamp::parse("2013-10-07T13:30:00Z").unwrap(),
            fields,
        )
    }

    #[test]
    fn accepts_a_real_bar() {
        // SPY 2011-01-03 09:00Z from the shared sample: 126.35 126.39 126.35 126.39 1579.
        let fields = Ohlcv {
            open: "126.35".parse().unwrap(),
            high: "126.39".parse().unwrap(),
            low: "126.35".parse().unwrap(),
            close: "126.39".parse().unwrap(),
            volume: "1579".parse().unwrap(),
        };
        let bar = build(fields).unwrap();
        assert_eq!(bar.ohlcv(), fields);
        assert_eq!(bar.ts_close_nominal().to_string(), "2013-10-07T13:31:00Z");
    }

    #[test]
    fn names_the_broken_invariant() {
        let err = build(ohlcv(10, 12, 11, 10, 1)).unwrap_err().to_string();
        assert!(err.contains("low 0.000000011 is above min"), "{err}");
        assert!(err.contains("SPY 1m at 2013-10-07T13:30:00Z"), "{err}");
        let err = build(ohlcv(10, 11, 9, 12, 1)).unwrap_err().to_string();
        assert!(err.contains("high 0.000000011 is below max"), "{err}");
        let err = build(ohlcv(10, 11, 9, 10, -1)).unwrap_err().to_string();
        assert!(err.contains("volume -0.000000001 is negative"), "{err}");
    }

    #[test]
    fn deserializing_validates() {
        let good = build(ohlcv(10, 12, 9, 11, 5)).unwrap();
        let json = serde_json::to_string(&good).unwrap();
        assert_eq!(serde_json::from_str::<Bar>(&json).unwrap(), good);
        let bad = json.replace("\"low\":\"0.000000009\"", "\"low\":\"0.000000013\"");
        assert_ne!(bad, json);
        assert!(serde_json::from_str::<Bar>(&bad).is_err());
    }

    proptest! {
        /// Absorbing bars one after another gives the bar the constructor builds from the first
        /// open, the highest high, the lowest low, the last close and the summed volume.
        #[test]
        fn absorbing_later_bars_is_the_checked_fold(
            raw in proptest::collection::vec(
                (-1000i128..1000, 0i128..50, 0i128..50, -1000i128..1000, 0i128..1000),
                1..12,
            ),
        ) {
            // Each bar: open o, close c, high above both by dh, low below both by dl.
            let bars: Vec<Bar> = raw
                .iter()
                .map(|(o, dh, dl, c, v)| {
                    build(ohlcv(*o, o.max(c) + dh, o.min(c) - dl, *c, *v)).unwrap()
                })
                .collect();
            let mut merged = bars[0];
            for later in &bars[1..] {
                merged.absorb(later).unwrap();
            }
            let fold = Ohlcv {
                open: bars[0].open(),
                high: bars.iter().map(Bar::high).max().unwrap(),
                low: bars.iter().map(Bar::low).min().unwrap(),
                close: bars[bars.len() - 1].close(),
                volume: Quantity::from_raw(bars.iter().map(|b| b.volume().raw()).sum()),
            };
            prop_assert_eq!(merged, build(fold).unwrap());
            let later = Timestamp::parse("2013-10-07T13:35:00Z").unwrap();
            let moved = merged.with_time(Interval::M5, later);
            prop_assert_eq!(
                (moved.symbol(), moved.interval(), moved.ts_event(), moved.ohlcv()),
                (merged.symbol(), Interval::M5, later, merged.ohlcv())
            );
        }

        /// A bar whose values fit in 64 bits comes back whole from its raw form, and absorbing
        /// the raw form of a later bar is absorbing that bar; a value past 64 bits has no raw form.
        #[test]
        fn raw_bars_are_the_bars_they_were_taken_from(
            first in (-1000i64..1000, 0i64..50, 0i64..50, -1000i64..1000, 0i64..1000),
            later in (-1000i64..1000, 0i64..50, 0i64..50, -1000i64..1000, 0i64..1000),
            scale in prop_oneof![Just(1i128), Just(1_000_000_000), Just(9_000_000_000_000_000)],
            wide in 0usize..5,
        ) {
            let make = |(o, dh, dl, c, v): (i64, i64, i64, i64, i64), minute: i64| {
                let (o, c) = (i128::from(o) * scale, i128::from(c) * scale);
                let (dh, dl, v) = (i128::from(dh) * scale, i128::from(dl) * scale, i128::from(v) * scale);
                let ts = Timestamp::from_nanos(1_381_152_600_000_000_000 + minute * 60_000_000_000);
                Bar::try_new(
                    Symbol::parse("SPY").unwrap(),
                    Interval::M1,
                    ts,
                    ohlcv(o, o.max(c) + dh, o.min(c) - dl, c, v),
                )
                .unwrap()
            };
            let (a, b) = (make(first, 0), make(later, 1));
            let fits = |bar: &Bar| {
                let o = bar.ohlcv();
                [o.open.raw(), o.high.raw(), o.low.raw(), o.close.raw(), o.volume.raw()]
                    .iter()
                    .all(|v| i64::try_from(*v).is_ok())
            };
            match (RawBar::of(&a), RawBar::of(&b)) {
                (Some(ra), Some(rb)) => {
                    prop_assert!(fits(&a) && fits(&b));
                    prop_assert_eq!(Bar::from_raw(a.symbol(), a.interval(), &ra), a);
                    prop_assert_eq!(ra.ts_event(), a.ts_event().as_nanos());
                    let (mut whole, mut raw) = (a, a);
                    whole.absorb(&b).unwrap();
                    raw.absorb_raw(&rb).unwrap();
                    prop_assert_eq!(raw, whole);
                    let mut row = ra;
                    let fits = ra.volume().checked_add(rb.volume()).is_some();
                    prop_assert_eq!(row.absorb(&rb), fits);
                    if fits {
                        prop_assert_eq!(Bar::from_raw(a.symbol(), a.interval(), &row), whole);
                    } else {
                        prop_assert_eq!(row, ra);
                    }
                }
                (ra, rb) => prop_assert_eq!((ra.is_some(), rb.is_some()), (fits(&a), fits(&b))),
            }
            // One value past 64 bits, whichever it is, leaves the bar without a raw form.
            let big = i128::from(i64::MAX) + 1;
            let mut o = a.ohlcv();
            let (up, down) = (Price::from_raw(big), Price::from_raw(-big - 1));
            match wide {
                0 => o.high = up,
                1 => o.low = down,
                2 => (o.open, o.high) = (up, up),
                3 => (o.close, o.low) = (down, down),
                _ => o.volume = Quantity::from_raw(big),
            }
            let bar = Bar::try_new(a.symbol(), a.interval(), a.ts_event(), o).unwrap();
            prop_assert_eq!(RawBar::of(&bar), None);
        }

        #[test]
        fn constructor_accepts_exactly_the_invariant(
            o in -1000i128..1000, h in -1000i128..1000, l in -1000i128..1000,
            c in -1000i128..1000, v in -10i128..1000,
        ) {
            let holds = l <= o.min(c) && o.max(c) <= h && v >= 0;
            let built = build(ohlcv(o, h, l, c, v));
            prop_assert_eq!(built.is_ok(), holds);
            if let Ok(bar) = built {
                prop_assert!(bar.low() <= bar.open().min(bar.close()));
                prop_assert!(bar.high() >= bar.open().max(bar.close()));
                prop_assert!(!bar.volume().is_negative());
            }
        }
    }
}
