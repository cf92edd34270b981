//! [`Signal`]: a strategy's stated intent, recorded whether or not an order follows.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ModelError, Side, Symbol, Timestamp};

/// A signal's number within its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignalId(pub u64);

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-{}", self.0)
    }
}

/// A strategy's signal: which way, how strongly, and why.
///
/// `strength` is a conviction score in `[0, 1]`, not money, so it is a float.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    id: SignalId,
    symbol: Symbol,
    side: Side,
    strength: f64,
    /// Usually a fixed text: borrowed, so a strategy's signal allocates nothing.
    reason: Cow<'static, str>,
    ts_event: Timestamp,
}

impl Signal {
    /// Builds a signal.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] when `strength` is not a finite number in `[0, 1]` or `reason` is
    /// blank.
    pub fn try_new(
        id: SignalId,
        symbol: Symbol,
        side: Side,
        strength: f64,
        reason: impl Into<Cow<'static, str>>,
        ts_event: Timestamp,
    ) -> Result<Self, ModelError> {
        let reason = reason.into();
        if !(0.0..=1.0).contains(&strength) {
            return Err(ModelError::invalid(
                "signal",
                format!("{id} {symbol}: strength {strength} is not in [0, 1]"),
            ));
        }
        if reason.trim().is_empty() {
            return Err(ModelError::invalid(
                "signal",
                format!("{id} {symbol}: reason is empty"),
            ));
        }
        Ok(Self {
            id,
            symbol,
            side,
            strength,
            reason,
            ts_event,
        })
    }

    /// The signal's id.
    #[must_use]
    pub const fn id(&self) -> SignalId {
        self.id
    }

    /// The instrument.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Buy or sell.
    #[must_use]
    pub const fn side(&self) -> Side {
        self.side
    }

    /// Conviction in `[0, 1]`.
    #[must_use]
    pub const fn strength(&self) -> f64 {
        self.strength
    }

    /// Why the strategy emitted it.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// When it was emitted (the engine clock).
    #[must_use]
    pub const fn ts_event(&self) -> Timestamp {
        self.ts_event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_strength_and_reason() {
        let sym = Symbol::parse("SPY").unwrap();
        let ts = Timestamp::EPOCH;
        assert!(Signal::try_new(SignalId(1), sym, Side::Buy, 0.5, "fast crossed slow", ts).is_ok());
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            let err = Signal::try_new(SignalId(1), sym, Side::Buy, bad, "x", ts).unwrap_err();
            assert!(err.to_string().contains("strength"), "{err}");
        }
        assert!(Signal::try_new(SignalId(1), sym, Side::Sell, 1.0, "  ", ts).is_err());
    }
}
