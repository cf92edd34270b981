//! Streaming technical indicators.
//!
//! Every indicator takes one [`Candle`] per bar, costs O(1) per update (amortized O(1) for the
//! rolling extremes), and returns `None` until it has seen enough bars: warm-up is explicit,
//! never a half-formed value. Definitions are TA-Lib's, and so is the order of floating-point
//! operations, so values agree with TA-Lib to the last few bits on the same input (the tests
//! check 1e-9 relative against TA-Lib fixtures on real SPY minute bars). Session VWAP, which
//! TA-Lib lacks, is the cumulative typical price × volume over cumulative volume since the
//! session's first bar.
//!
//! Indicators are `f64`: they are statistics, not money. [`Candle::from_bar_fields`] is the one
//! place fixed-point bar values become floating point ([`Candle::from_bar`] converts them all).

mod atr;
mod bbands;
mod ema;
mod macd;
mod obv;
mod roc;
mod rolling;
mod rsi;
mod sma;
mod stddev;
mod stoch;
mod vwap;
mod window;
mod wma;

use std::collections::BTreeMap;

use openbell_model::{Bar, RawBar, Timestamp};

pub use crate::atr::Atr;
pub use crate::bbands::BollingerBands;
pub use crate::ema::Ema;
pub use crate::macd::Macd;
pub use crate::obv::Obv;
pub use crate::roc::Roc;
pub use crate::rolling::{RollingHigh, RollingHighLow, RollingLow};
pub use crate::rsi::Rsi;
pub use crate::sma::Sma;
pub use crate::stddev::StdDev;
pub use crate::stoch::Stochastic;
pub use crate::vwap::SessionVwap;
pub use crate::wma::Wma;

/// One bar as indicators see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    /// The bar's open time.
    pub ts_event: Timestamp,
    /// Identifies the trading session the bar belongs to (the session's open time, say);
    /// session indicators reset when it changes.
    pub session: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl Candle {
    /// Converts every field of a bar ([`Candle::from_bar_fields`] with [`Inputs::ALL`]).
    #[must_use]
    #[inline]
    pub fn from_bar(bar: &Bar, session: Timestamp) -> Self {
        Self::from_bar_fields(bar, session, Inputs::ALL)
    }

    /// Converts the fields of a bar in `inputs`, leaving the others at 0: the one place
    /// fixed-point prices become `f64`. For indicators whose [`Indicator::inputs`] are within
    /// `inputs`, the values are the same as from the whole candle, and the conversions left
    /// out cost nothing.
    #[must_use]
    #[inline(always)]
    pub fn from_bar_fields(bar: &Bar, session: Timestamp, inputs: Inputs) -> Self {
        Self::converted(bar.ts_event(), session, inputs, |field| match field {
            Field::Open => bar.open().to_f64(),
            Field::High => bar.high().to_f64(),
            Field::Low => bar.low().to_f64(),
            Field::Close => bar.close().to_f64(),
            Field::Volume => bar.volume().to_f64(),
        })
    }

    /// [`Candle::from_bar_fields`] of the bar `row` was taken from: the same numbers, converted
    /// from the raw 64-bit values ([`openbell_model::fixed::raw64_to_f64`], the conversion
    /// [`openbell_model::Price::to_f64`] makes for them).
    #[must_use]
    #[inline(always)]
    pub fn from_raw(row: &RawBar, session: Timestamp, inputs: Inputs) -> Self {
        let ts_event = Timestamp::from_nanos(row.ts_event());
        Self::converted(ts_event, session, inputs, |field| {
            openbell_model::fixed::raw64_to_f64(match field {
                Field::Open => row.open(),
                Field::High => row.high(),
                Field::Low => row.low(),
                Field::Close => row.close(),
                Field::Volume => row.volume(),
            })
        })
    }

    /// A candle whose fields in `inputs` are `value(field)` (each converted only when taken),
    /// the others 0.
    #[inline(always)]
    fn converted(
        ts_event: Timestamp,
        session: Timestamp,
        inputs: Inputs,
        value: impl Fn(Field) -> f64,
    ) -> Self {
        let mut c = Self {
            ts_event,
            session: session.as_nanos(),
            open: 0.0,
            high: 0.0,
            low: 0.0,
            close: 0.0,
            volume: 0.0,
        };
        // The close alone is the usual need (moving averages, RSI, MACD, ...).
        if inputs == Inputs::CLOSE {
            c.close = value(Field::Close);
            return c;
        }
        if inputs.contains(Inputs::OPEN) {
            c.open = value(Field::Open);
        }
        if inputs.contains(Inputs::HIGH) {
            c.high = value(Field::High);
        }
        if inputs.contains(Inputs::LOW) {
            c.low = value(Field::Low);
        }
        if inputs.contains(Inputs::CLOSE) {
            c.close = value(Field::Close);
        }
        if inputs.contains(Inputs::VOLUME) {
            c.volume = value(Field::Volume);
        }
        c
    }
}

/// A price or volume field of a bar.
#[derive(Clone, Copy)]
enum Field {
    Open,
    High,
    Low,
    Close,
    Volume,
}

/// The price and volume fields of a [`Candle`] an indicator reads ([`Indicator::inputs`]). A
/// set of fields: combine them with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Inputs(u8);

impl Inputs {
    /// No field.
    pub const NONE: Self = Self(0);
    /// The open.
    pub const OPEN: Self = Self(1);
    /// The high.
    pub const HIGH: Self = Self(1 << 1);
    /// The low.
    pub const LOW: Self = Self(1 << 2);
    /// The close.
    pub const CLOSE: Self = Self(1 << 3);
    /// The volume.
    pub const VOLUME: Self = Self(1 << 4);
    /// Every field.
    pub const ALL: Self = Self(0b1_1111);

    /// Whether every field of `other` is in the set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Inputs {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Inputs {
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

/// An indicator's values for one bar: one to three numbers, named by
/// [`Indicator::output_names`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Output {
    values: [f64; 3],
    len: u8,
}

impl Output {
    /// One value.
    #[must_use]
    pub const fn one(v: f64) -> Self {
        Self {
            values: [v, 0.0, 0.0],
            len: 1,
        }
    }

    /// Two values.
    #[must_use]
    pub const fn two(a: f64, b: f64) -> Self {
        Self {
            values: [a, b, 0.0],
            len: 2,
        }
    }

    /// Three values.
    #[must_use]
    pub const fn three(a: f64, b: f64, c: f64) -> Self {
        Self {
            values: [a, b, c],
            len: 3,
        }
    }

    /// The values.
    #[must_use]
    pub fn as_slice(&self) -> &[f64] {
        &self.values[..usize::from(self.len)]
    }

    /// The first value.
    #[must_use]
    pub const fn value(&self) -> f64 {
        self.values[0]
    }
}

/// A streaming indicator.
pub trait Indicator: std::fmt::Debug + Send {
    /// Feeds one bar; returns the indicator's values once warmed up.
    fn update(&mut self, candle: &Candle) -> Option<Output>;

    /// As [`Indicator::update`], writing the values into `out` (left as it was while warming
    /// up); returns whether it wrote. The values go straight to their destination rather than
    /// through a returned copy, which a caller storing every value reads back at once.
    #[inline]
    fn update_into(&mut self, candle: &Candle, out: &mut Output) -> bool {
        match self.update(candle) {
            Some(values) => {
                *out = values;
                true
            }
            None => false,
        }
    }

    /// The price and volume fields of the candle it reads (the times are always there). A
    /// caller may leave the other fields at 0 ([`Candle::from_bar_fields`]); the default is
    /// every field, so an indicator that does not say reads a whole candle.
    fn inputs(&self) -> Inputs {
        Inputs::ALL
    }

    /// Bars needed before the first value (TA-Lib's lookback + 1).
    fn warmup(&self) -> usize;

    /// The names of the output values, e.g. `["macd", "signal", "hist"]`.
    fn output_names(&self) -> &'static [&'static str];
}

/// Why an indicator could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndicatorError {
    /// No indicator has this name.
    #[error("unknown indicator {name:?} (known: {known})")]
    Unknown {
        /// The name as given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A parameter the indicator does not take.
    #[error("{indicator} has no parameter {param:?} (it takes: {takes})")]
    UnknownParam {
        /// The indicator.
        indicator: String,
        /// The parameter as given.
        param: String,
        /// The parameters it takes.
        takes: String,
    },
    /// A parameter value out of range.
    #[error("{indicator}: {param} = {value} is invalid: {reason}")]
    BadParam {
        /// The indicator.
        indicator: String,
        /// The parameter.
        param: String,
        /// The value as given.
        value: String,
        /// What is allowed.
        reason: String,
    },
}

/// The indicators [`create`] knows, with their parameters and defaults.
pub const CATALOG: &[(&str, &[(&str, f64)])] = &[
    ("sma", &[("period", 20.0)]),
    ("ema", &[("period", 20.0)]),
    ("wma", &[("period", 20.0)]),
    ("rsi", &[("period", 14.0)]),
    ("macd", &[("fast", 12.0), ("slow", 26.0), ("signal", 9.0)]),
    ("bbands", &[("period", 20.0), ("k", 2.0)]),
    ("atr", &[("period", 14.0)]),
    ("vwap", &[]),
    ("stoch", &[("k", 14.0), ("smooth", 3.0), ("d", 3.0)]),
    ("obv", &[]),
    ("high_low", &[("period", 20.0)]),
    ("stddev", &[("period", 20.0)]),
    ("roc", &[("period", 10.0)]),
];

/// Creates an indicator by name with `params` (names from [`CATALOG`]; unset ones take their
/// defaults).
///
/// # Errors
/// [`IndicatorError`] naming the unknown indicator or parameter, or the invalid value.
pub fn create(
    name: &str,
    params: &BTreeMap<String, f64>,
) -> Result<Box<dyn Indicator>, IndicatorError> {
    let Some((name, defaults)) = CATALOG.iter().find(|(n, _)| *n == name) else {
        return Err(IndicatorError::Unknown {
            name: name.to_owned(),
            known: CATALOG
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    if let Some(param) = params
        .keys()
        .find(|p| !defaults.iter().any(|(d, _)| d == p))
    {
        return Err(IndicatorError::UnknownParam {
            indicator: (*name).to_owned(),
            param: param.clone(),
            takes: if defaults.is_empty() {
                "no parameters".to_owned()
            } else {
                defaults
                    .iter()
                    .map(|(d, _)| *d)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }
    let get = |param: &str| {
        params
            .get(param)
            .copied()
            .or_else(|| defaults.iter().find(|(d, _)| *d == param).map(|(_, v)| *v))
            .unwrap_or(0.0)
    };
    let period = |param: &str| -> Result<usize, IndicatorError> {
        let v = get(param);
        if v.fract() == 0.0 && (1.0..=100_000.0).contains(&v) {
            // Checked to be a whole number in range just above.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(v as usize)
        } else {
            Err(IndicatorError::BadParam {
                indicator: (*name).to_owned(),
                param: param.to_owned(),
                value: v.to_string(),
                reason: "must be a whole number from 1 to 100000".to_owned(),
            })
        }
    };
    let needs_two = |param: &str, n: usize| -> Result<usize, IndicatorError> {
        if n < 2 {
            return Err(IndicatorError::BadParam {
                indicator: (*name).to_owned(),
                param: param.to_owned(),
                value: n.to_string(),
                reason: "must be at least 2".to_owned(),
            });
        }
        Ok(n)
    };
    Ok(match *name {
        "sma" => Box::new(Sma::new(period("period")?)),
        "ema" => Box::new(Ema::new(period("period")?)),
        "wma" => Box::new(Wma::new(period("period")?)),
        "rsi" => Box::new(Rsi::new(period("period")?)),
        "macd" => {
            let (fast, slow) = (period("fast")?, period("slow")?);
            if fast >= slow {
                return Err(IndicatorError::BadParam {
                    indicator: "macd".into(),
                    param: "fast".into(),
                    value: fast.to_string(),
                    reason: format!("must be below slow ({slow})"),
                });
            }
            Box::new(Macd::new(fast, slow, period("signal")?))
        }
        "bbands" => {
            let k = get("k");
            if !(k.is_finite() && k > 0.0) {
                return Err(IndicatorError::BadParam {
                    indicator: "bbands".into(),
                    param: "k".into(),
                    value: k.to_string(),
                    reason: "must be a positive number".into(),
                });
            }
            Box::new(BollingerBands::new(
                needs_two("period", period("period")?)?,
                k,
            ))
        }
        "atr" => Box::new(Atr::new(period("period")?)),
        "vwap" => Box::new(SessionVwap::new()),
        "stoch" => Box::new(Stochastic::new(
            period("k")?,
            period("smooth")?,
            period("d")?,
        )),
        "obv" => Box::new(Obv::new()),
        "high_low" => Box::new(RollingHighLow::new(period("period")?)),
        "stddev" => Box::new(StdDev::new(needs_two("period", period("period")?)?)),
        _ => Box::new(Roc::new(period("period")?)),
    })
}

/// TA-Lib's test for "zero" when guarding divisions.
pub(crate) fn is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// TA-Lib's test for "zero or negative".
pub(crate) fn is_zero_or_neg(v: f64) -> bool {
    v < 0.000_000_01
}

#[cfg(test)]
mod tests;
