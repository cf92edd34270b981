//! The model's one error type. Every variant carries the offending value so that a message read
//! in a log or a terminal says exactly what was wrong.

/// An error raised while constructing or operating on a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Text could not be parsed as the named kind of value.
    #[error("invalid {kind} {value:?}: {reason}")]
    Parse {
        /// What was being parsed, e.g. "price" or "interval".
        kind: &'static str,
        /// The text as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Fixed-point or timestamp arithmetic left the representable range.
    #[error("arithmetic overflow: {op}")]
    Overflow {
        /// The operation with its operands, e.g. "123.5 * 1000000".
        op: String,
    },
    /// A value is out of the range its type allows.
    #[error("{kind} out of range: {value}")]
    OutOfRange {
        /// What kind of value.
        kind: &'static str,
        /// The value, rendered.
        value: String,
    },
    /// A bar violates an OHLCV invariant.
    #[error("invalid bar {symbol} {interval} at {ts_event}: {reason}")]
    InvalidBar {
        /// The bar's symbol.
        symbol: String,
        /// The bar's interval.
        interval: String,
        /// The bar's open time.
        ts_event: String,
        /// Which invariant failed, with the values involved.
        reason: String,
    },
    /// A lifecycle move that the rules do not allow.
    #[error("{what} cannot move from {from} to {to}")]
    InvalidTransition {
        /// "session" or "order".
        what: &'static str,
        /// The current state.
        from: String,
        /// The requested state.
        to: String,
    },
    /// An order, fill, position or signal was given inconsistent data.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being built or updated.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A local time that does not exist or is ambiguous in its time zone.
    #[error("local time {local} in {zone} is {reason}")]
    LocalTime {
        /// The naive local time.
        local: String,
        /// The IANA zone name.
        zone: String,
        /// "skipped by a daylight-saving change" or "ambiguous ...".
        reason: &'static str,
    },
}

impl ModelError {
    pub(crate) fn parse(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Self::Parse {
            kind,
            value: value.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn overflow(op: impl Into<String>) -> Self {
        Self::Overflow { op: op.into() }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }
}
