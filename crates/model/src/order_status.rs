//! [`OrderStatus`]: where an order is in its life, and the moves allowed between states.
//!
//! ```text
//! new -> accepted | rejected | cancelled
//! accepted -> triggered | partially_filled | filled | cancelled | expired
//! triggered -> partially_filled | filled | cancelled | expired      (stop and stop-limit only)
//! partially_filled -> partially_filled | filled | cancelled | expired
//! filled, cancelled, expired, rejected: terminal
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The lifecycle state of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created by a strategy, not yet checked by the broker.
    New,
    /// Passed the broker's checks and is working.
    Accepted,
    /// A stop or stop-limit order whose stop price was reached.
    Triggered,
    /// Some, not all, of the quantity has filled.
    PartiallyFilled,
    /// All of the quantity has filled.
    Filled,
    /// Cancelled by the strategy, or the unfilled rest of an IOC order.
    Cancelled,
    /// A day order that reached the close.
    Expired,
    /// Refused by the broker or a risk rule.
    Rejected,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 8] = [
        Self::New,
        Self::Accepted,
        Self::Triggered,
        Self::PartiallyFilled,
        Self::Filled,
        Self::Cancelled,
        Self::Expired,
        Self::Rejected,
    ];

    /// True for states no order ever leaves.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Cancelled | Self::Expired | Self::Rejected
        )
    }

    /// True while the order can still fill.
    #[must_use]
    pub const fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// The stored text value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Accepted => "accepted",
            Self::Triggered => "triggered",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Rejected => "rejected",
        }
    }

    /// Whether `self -> to` is an allowed move.
    #[must_use]
    pub const fn can_move_to(self, to: Self) -> bool {
        use OrderStatus::{
            Accepted, Cancelled, Expired, Filled, New, PartiallyFilled, Rejected, Triggered,
        };
        matches!(
            (self, to),
            (New, Accepted | Rejected | Cancelled)
                | (
                    Accepted,
                    Triggered | PartiallyFilled | Filled | Cancelled | Expired
                )
                | (Triggered, PartiallyFilled | Filled | Cancelled | Expired)
                | (
                    PartiallyFilled,
                    PartiallyFilled | Filled | Cancelled | Expired
                )
        )
    }

    /// Checks the move `self -> to`.
    ///
    /// # Errors
    /// [`ModelError::InvalidTransition`] when the move is not allowed.
    pub fn transition(self, to: Self) -> Result<Self, ModelError> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(ModelError::InvalidTransition {
                what: "order",
                from: self.to_string(),
                to: to.to_string(),
            })
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ModelError::parse("order status", s, "unknown status"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn any_status() -> impl Strategy<Value = OrderStatus> {
        proptest::sample::select(OrderStatus::ALL.to_vec())
    }

    #[test]
    fn a_partially_filled_order_can_complete() {
        let s = OrderStatus::New.transition(OrderStatus::Accepted).unwrap();
        let s = s.transition(OrderStatus::PartiallyFilled).unwrap();
        let s = s.transition(OrderStatus::PartiallyFilled).unwrap();
        assert_eq!(
            s.transition(OrderStatus::Filled).unwrap(),
            OrderStatus::Filled
        );
    }

    #[test]
    fn rejects_skipping_acceptance() {
        let err = OrderStatus::New
            .transition(OrderStatus::Filled)
            .unwrap_err();
        assert_eq!(err.to_string(), "order cannot move from new to filled");
    }

    #[test]
    fn text_round_trips() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("done".parse::<OrderStatus>().is_err());
    }

    proptest! {
        #[test]
        fn terminal_states_never_move(from in any_status(), to in any_status()) {
            if from.is_terminal() {
                prop_assert!(from.transition(to).is_err());
            }
        }

        #[test]
        fn transition_agrees_with_the_table(from in any_status(), to in any_status()) {
            prop_assert_eq!(from.transition(to).is_ok(), from.can_move_to(to));
        }

        #[test]
        fn random_walks_never_leave_a_terminal_state_or_return_to_new(
            steps in proptest::collection::vec(any_status(), 0..20),
        ) {
            let mut state = OrderStatus::New;
            let mut terminal_reached = None;
            for step in steps {
                if let Ok(next) = state.transition(step) {
                    prop_assert_ne!(next, OrderStatus::New);
                    state = next;
                }
                if state.is_terminal() {
                    prop_assert!(terminal_reached.is_none_or(|t| t == state));
                    terminal_reached = Some(state);
                }
            }
        }
    }
}
