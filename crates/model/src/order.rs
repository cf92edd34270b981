//! [`Order`]: an instruction to buy or sell, with its type, time in force and fill progress.
//!
//! The order type carries its prices (`Limit { limit }`), so a limit order without a limit
//! price cannot be written down. Status changes go through [`OrderStatus::transition`]; fills go
//! through [`Order::apply_fill`], which keeps `filled <= quantity`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Fill, ModelError, OrderStatus, Price, Quantity, SignalId, Symbol, Timestamp};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Increase a long position or cover a short.
    Buy,
    /// Reduce a long position or open a short.
    Sell,
}

impl Side {
    /// The stored text value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }

    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// `+1` for buys and `-1` for sells: the sign a fill applies to a position.
    #[must_use]
    pub const fn sign(self) -> i128 {
        match self {
            Self::Buy => 1,
            Self::Sell => -1,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Side {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "buy" => Ok(Self::Buy),
            "sell" => Ok(Self::Sell),
            _ => Err(ModelError::parse("side", s, "expected buy or sell")),
        }
    }
}

/// How an order's price is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderType {
    /// At the next available price.
    Market,
    /// At `limit` or better.
    Limit {
        /// The worst acceptable price.
        limit: Price,
    },
    /// Becomes a market order once the market trades through `stop`.
    Stop {
        /// The trigger price.
        stop: Price,
    },
    /// Becomes a limit order at `limit` once the market trades through `stop`.
    StopLimit {
        /// The trigger price.
        stop: Price,
        /// The worst acceptable price once triggered.
        limit: Price,
    },
}

impl OrderType {
    /// The stored text value of the type's name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit { .. } => "limit",
            Self::Stop { .. } => "stop",
            Self::StopLimit { .. } => "stop_limit",
        }
    }

    /// The limit and stop prices, where the type has them.
    #[must_use]
    pub const fn limit_and_stop(self) -> (Option<Price>, Option<Price>) {
        match self {
            Self::Market => (None, None),
            Self::Limit { limit } => (Some(limit), None),
            Self::Stop { stop } => (None, Some(stop)),
            Self::StopLimit { stop, limit } => (Some(limit), Some(stop)),
        }
    }

    /// True for types with a trigger.
    #[must_use]
    pub const fn has_stop(self) -> bool {
        matches!(self, Self::Stop { .. } | Self::StopLimit { .. })
    }
}

/// How long an order stays working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Until the close of the trading day it was submitted in (or, if submitted while closed,
    /// of the next one).
    Day,
    /// Until filled or cancelled.
    Gtc,
    /// Fill what is possible on the first opportunity, cancel the rest.
    Ioc,
}

impl TimeInForce {
    /// The stored text value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Gtc => "gtc",
            Self::Ioc => "ioc",
        }
    }
}

impl FromStr for TimeInForce {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(Self::Day),
            "gtc" => Ok(Self::Gtc),
            "ioc" => Ok(Self::Ioc),
            _ => Err(ModelError::parse(
                "time in force",
                s,
                "expected day, gtc or ioc",
            )),
        }
    }
}

/// An order's number within its session, assigned in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "O-{}", self.0)
    }
}

/// An order and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    id: OrderId,
    symbol: Symbol,
    side: Side,
    order_type: OrderType,
    time_in_force: TimeInForce,
    quantity: Quantity,
    filled: Quantity,
    status: OrderStatus,
    ts_init: Timestamp,
    signal_id: Option<SignalId>,
}

impl Order {
    /// A new order in status [`OrderStatus::New`].
    ///
    /// # Errors
    /// [`ModelError::Invalid`] when `quantity` is not positive, or a limit or stop price is not
    /// positive.
    pub fn try_new(
        id: OrderId,
        symbol: Symbol,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        quantity: Quantity,
        ts_init: Timestamp,
    ) -> Result<Self, ModelError> {
        if !quantity.is_positive() {
            return Err(ModelError::invalid(
                "order",
                format!("{id} {symbol}: quantity {quantity} must be positive"),
            ));
        }
        let prices: &[(&str, Price)] = match &order_type {
            OrderType::Market => &[],
            OrderType::Limit { limit } => &[("limit", *limit)],
            OrderType::Stop { stop } => &[("stop", *stop)],
            OrderType::StopLimit { stop, limit } => &[("stop", *stop), ("limit", *limit)],
        };
        if let Some((name, price)) = prices.iter().find(|(_, p)| !p.is_positive()) {
            return Err(ModelError::invalid(
                "order",
                format!("{id} {symbol}: {name} price {price} must be positive"),
            ));
        }
        Ok(Self {
            id,
            symbol,
            side,
            order_type,
            time_in_force,
            quantity,
            filled: Quantity::ZERO,
            status: OrderStatus::New,
            ts_init,
            signal_id: None,
        })
    }

    /// Links the order to the signal that caused it.
    #[must_use]
    pub const fn with_signal(mut self, signal_id: SignalId) -> Self {
        self.signal_id = Some(signal_id);
        self
    }

    /// The order's id.
    #[must_use]
    pub const fn id(&self) -> OrderId {
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

    /// Market, limit, stop or stop-limit, with prices.
    #[must_use]
    pub const fn order_type(&self) -> OrderType {
        self.order_type
    }

    /// Day, GTC or IOC.
    #[must_use]
    pub const fn time_in_force(&self) -> TimeInForce {
        self.time_in_force
    }

    /// The ordered quantity (always positive).
    #[must_use]
    pub const fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// The quantity filled so far.
    #[must_use]
    pub const fn filled(&self) -> Quantity {
        self.filled
    }

    /// The quantity still to fill.
    #[must_use]
    pub fn remaining(&self) -> Quantity {
        Quantity::from_raw(self.quantity.raw() - self.filled.raw())
    }

    /// The current status.
    #[must_use]
    pub const fn status(&self) -> OrderStatus {
        self.status
    }

    /// When the order was submitted.
    #[must_use]
    pub const fn ts_init(&self) -> Timestamp {
        self.ts_init
    }

    /// The signal the order was submitted for, if any.
    #[must_use]
    pub const fn signal_id(&self) -> Option<SignalId> {
        self.signal_id
    }

    /// Moves the order to `to`.
    ///
    /// # Errors
    /// [`ModelError::InvalidTransition`] for moves the lifecycle does not allow, including
    /// `triggered` for an order without a stop and `filled` while quantity remains.
    pub fn transition(&mut self, to: OrderStatus) -> Result<(), ModelError> {
        let invalid = || ModelError::InvalidTransition {
            what: "order",
            from: self.status.to_string(),
            to: to.to_string(),
        };
        if to == OrderStatus::Triggered && !self.order_type.has_stop() {
            return Err(invalid());
        }
        if to == OrderStatus::Filled && self.filled != self.quantity {
            return Err(invalid());
        }
        self.status = self.status.transition(to)?;
        Ok(())
    }

    /// Records a fill against the order and moves it to partially filled or filled.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] when the fill is for another order, symbol or side, or exceeds
    /// the remaining quantity; [`ModelError::InvalidTransition`] when the order cannot fill in
    /// its current status.
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<(), ModelError> {
        let mismatch = |what: String| {
            ModelError::invalid("fill", format!("{what} does not match order {}", self.id))
        };
        if fill.order_id() != self.id {
            return Err(mismatch(format!("order id {}", fill.order_id())));
        }
        if fill.symbol() != self.symbol {
            return Err(mismatch(format!("symbol {}", fill.symbol())));
        }
        if fill.side() != self.side {
            return Err(mismatch(format!("side {}", fill.side())));
        }
        let filled = self.filled.checked_add(fill.quantity())?;
        if filled > self.quantity {
            return Err(ModelError::invalid(
                "fill",
                format!(
                    "quantity {} exceeds the {} remaining on order {}",
                    fill.quantity(),
                    self.remaining(),
                    self.id
                ),
            ));
        }
        let to = if filled == self.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        self.status = self.status.transition(to)?;
        self.filled = filled;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Money;

    fn sym() -> Symbol {
        Symbol::parse("SPY").unwrap()
    }

    fn ts() -> Timestamp {
        Timestamp::parse("2024-01-02T14:31:00Z").unwrap()
    }

    fn qty(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    fn order(order_type: OrderType) -> Order {
        Order::try_new(
            OrderId(1),
            sym(),
            Side::Buy,
            order_type,
            TimeInForce::Day,
            qty("100"),
            ts(),
        )
        .unwrap()
    }

    fn fill(quantity: &str) -> Fill {
        Fill::try_new(
            OrderId(1),
            sym(),
            Side::Buy,
            qty(quantity),
            "470.5".parse().unwrap(),
            Money::ZERO,
            ts(),
        )
        .unwrap()
    }

    #[test]
    fn validates_quantity_and_prices() {
        let err = Order::try_new(
            OrderId(7),
            sym(),
            Side::Sell,
            OrderType::Market,
            TimeInForce::Gtc,
            Quantity::ZERO,
            ts(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid order: O-7 SPY: quantity 0 must be positive"
        );
        let err = Order::try_new(
            OrderId(8),
            sym(),
            Side::Buy,
            OrderType::StopLimit {
                stop: "10".parse().unwrap(),
                limit: Price::ZERO,
            },
            TimeInForce::Day,
            qty("1"),
            ts(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("limit price 0 must be positive"),
            "{err}"
        );
    }

    #[test]
    fn fills_move_the_status() {
        let mut o = order(OrderType::Market);
        o.transition(OrderStatus::Accepted).unwrap();
        o.apply_fill(&fill("40")).unwrap();
        assert_eq!(
            (o.status(), o.filled(), o.remaining()),
            (OrderStatus::PartiallyFilled, qty("40"), qty("60"))
        );
        let err = o.apply_fill(&fill("61")).unwrap_err();
        assert!(
            err.to_string().contains("exceeds the 60 remaining"),
            "{err}"
        );
        o.apply_fill(&fill("60")).unwrap();
        assert_eq!(o.status(), OrderStatus::Filled);
        assert!(o.apply_fill(&fill("1")).is_err());
    }

    #[test]
    fn cannot_fill_before_acceptance_or_trigger_without_stop() {
        let mut o = order(OrderType::Limit {
            limit: "470".parse().unwrap(),
        });
        assert!(o.apply_fill(&fill("1")).is_err());
        assert_eq!(o.filled(), Quantity::ZERO);
        o.transition(OrderStatus::Accepted).unwrap();
        assert!(o.transition(OrderStatus::Triggered).is_err());
        assert!(o.transition(OrderStatus::Filled).is_err());
        let mut s = order(OrderType::Stop {
            stop: "471".parse().unwrap(),
        });
        s.transition(OrderStatus::Accepted).unwrap();
        s.transition(OrderStatus::Triggered).unwrap();
    }

    #[test]
    fn serializes_type_with_prices() {
        let o = order(OrderType::StopLimit {
            stop: "471".parse().unwrap(),
            limit: "472.5".parse().unwrap(),
        });
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["order_type"]["type"], "stop_limit");
        assert_eq!(json["order_type"]["limit"], "472.5");
        assert_eq!(serde_json::from_value::<Order>(json).unwrap(), o);
    }
}
