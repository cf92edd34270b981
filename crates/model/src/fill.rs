//! [`Fill`]: one execution against an order.

use serde::{Deserialize, Serialize};

use crate::{ModelError, Money, OrderId, Price, Quantity, Side, Symbol, Timestamp};

/// An execution: `quantity` of `symbol` at `price`, with the commission charged for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fill {
    order_id: OrderId,
    symbol: Symbol,
    side: Side,
    quantity: Quantity,
    price: Price,
    commission: Money,
    ts_event: Timestamp,
}

impl Fill {
    /// Builds a fill.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] when `quantity` or `price` is not positive or `commission` is
    /// negative.
    pub fn try_new(
        order_id: OrderId,
        symbol: Symbol,
        side: Side,
        quantity: Quantity,
        price: Price,
        commission: Money,
        ts_event: Timestamp,
    ) -> Result<Self, ModelError> {
        let reason = if !quantity.is_positive() {
            Some(format!("quantity {quantity} must be positive"))
        } else if !price.is_positive() {
            Some(format!("price {price} must be positive"))
        } else if commission.is_negative() {
            Some(format!("commission {commission} must not be negative"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ModelError::invalid(
                "fill",
                format!("{order_id} {symbol}: {reason}"),
            ));
        }
        Ok(Self {
            order_id,
            symbol,
            side,
            quantity,
            price,
            commission,
            ts_event,
        })
    }

    /// The order this fill executes.
    #[must_use]
    pub const fn order_id(&self) -> OrderId {
        self.order_id
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

    /// The executed quantity (positive).
    #[must_use]
    pub const fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// The execution price.
    #[must_use]
    pub const fn price(&self) -> Price {
        self.price
    }

    /// The commission charged.
    #[must_use]
    pub const fn commission(&self) -> Money {
        self.commission
    }

    /// When the fill happened.
    #[must_use]
    pub const fn ts_event(&self) -> Timestamp {
        self.ts_event
    }

    /// The signed position change: `+quantity` for a buy, `-quantity` for a sell.
    #[must_use]
    pub fn signed_quantity(&self) -> Quantity {
        Quantity::from_raw(self.side.sign() * self.quantity.raw())
    }
}
