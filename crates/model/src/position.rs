//! [`Position`]: the net holding in one symbol, its cost basis and realized profit.
//!
//! The position keeps its signed quantity and signed cost basis (`Σ quantity × price` of the
//! open lots; negative for shorts) instead of an average price, so the basis is exact. A fill
//! that reduces the position removes the proportional share of the basis (one rounding, half to
//! even) and realizes the difference; a fill that crosses zero closes the old side fully and
//! opens the rest on the other side. Commissions are the portfolio's business, not the
//! position's.

use serde::{Deserialize, Serialize};

use crate::{Fill, ModelError, Money, Price, Quantity, Symbol};

/// The net position in one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    symbol: Symbol,
    quantity: Quantity,
    cost_basis: Money,
    realized_pnl: Money,
}

impl Position {
    /// A flat position.
    #[must_use]
    pub const fn flat(symbol: Symbol) -> Self {
        Self {
            symbol,
            quantity: Quantity::ZERO,
            cost_basis: Money::ZERO,
            realized_pnl: Money::ZERO,
        }
    }

    /// The instrument.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Signed quantity: positive long, negative short, zero flat.
    #[must_use]
    pub const fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// Signed cost of the open quantity.
    #[must_use]
    pub const fn cost_basis(&self) -> Money {
        self.cost_basis
    }

    /// Profit realized by closing fills so far (before commissions).
    #[must_use]
    pub const fn realized_pnl(&self) -> Money {
        self.realized_pnl
    }

    /// True when no quantity is held.
    #[must_use]
    pub const fn is_flat(&self) -> bool {
        self.quantity.is_zero()
    }

    /// The average entry price of the open quantity, or `None` when flat.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] if the quotient is out of range.
    pub fn avg_price(&self) -> Result<Option<Price>, ModelError> {
        if self.is_flat() {
            return Ok(None);
        }
        self.cost_basis.checked_div_qty(self.quantity).map(Some)
    }

    /// Market value at `price` (signed).
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when out of range.
    pub fn market_value(&self, price: Price) -> Result<Money, ModelError> {
        price.checked_mul_qty(self.quantity)
    }

    /// Unrealized profit at `price`: market value minus cost basis.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when out of range.
    pub fn unrealized_pnl(&self, price: Price) -> Result<Money, ModelError> {
        self.market_value(price)?.checked_sub(self.cost_basis)
    }

    /// Applies a fill and returns the profit it realized.
    ///
    /// # Errors
    /// [`ModelError::Invalid`] for a fill of another symbol; [`ModelError::Overflow`] when a
    /// value leaves its range, in which case the position is unchanged.
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<Money, ModelError> {
        if fill.symbol() != self.symbol {
            return Err(ModelError::invalid(
                "position",
                format!(
                    "fill for {} applied to position in {}",
                    fill.symbol(),
                    self.symbol
                ),
            ));
        }
        let delta = fill.signed_quantity();
        let price = fill.price();
        let same_direction =
            self.quantity.is_zero() || (self.quantity.raw() > 0) == (delta.raw() > 0);
        let mut next = *self;
        let realized = if same_direction {
            next.quantity = self.quantity.checked_add(delta)?;
            next.cost_basis = self.cost_basis.checked_add(price.checked_mul_qty(delta)?)?;
            Money::ZERO
        } else {
            let held = self.quantity.checked_abs()?;
            let traded = delta.checked_abs()?;
            let closed = traded.min(held);
            let closed_signed = Quantity::from_raw(delta.raw().signum() * closed.raw());
            let removed_basis = if closed == held {
                self.cost_basis
            } else {
                self.cost_basis.checked_mul_ratio(closed, held)?
            };
            // Closing `closed_signed` at `price` turns `removed_basis` into cash:
            // realized = -(closed_signed × price) - removed_basis, for longs and shorts alike.
            let proceeds = price.checked_mul_qty(closed_signed)?.checked_neg()?;
            let realized = proceeds.checked_sub(removed_basis)?;
            let opened = delta.checked_sub(closed_signed)?;
            next.quantity = self.quantity.checked_add(delta)?;
            next.cost_basis = self
                .cost_basis
                .checked_sub(removed_basis)?
                .checked_add(price.checked_mul_qty(opened)?)?;
            next.realized_pnl = self.realized_pnl.checked_add(realized)?;
            realized
        };
        *self = next;
        Ok(realized)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{OrderId, Side, Timestamp};

    fn sym() -> Symbol {
        Symbol::parse("AAPL").unwrap()
    }

    fn fill(side: Side, qty: i128, price_cents: i128) -> Fill {
        Fill::try_new(
            OrderId(1),
            sym(),
            side,
            Quantity::from_units(qty).unwrap(),
            Price::from_raw(price_cents * 10_000_000),
            Money::ZERO,
            Timestamp::EPOCH,
        )
        .unwrap()
    }

    fn money(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn long_round_trip_realizes_the_difference() {
        let mut p = Position::flat(sym());
        p.apply_fill(&fill(Side::Buy, 100, 10_000)).unwrap();
        p.apply_fill(&fill(Side::Buy, 100, 10_200)).unwrap();
        assert_eq!(p.avg_price().unwrap().unwrap().to_string(), "101");
        let realized = p.apply_fill(&fill(Side::Sell, 50, 10_500)).unwrap();
        assert_eq!(realized, money("200")); // 50 × (105 - 101)
        assert_eq!(p.quantity(), Quantity::from_units(150).unwrap());
        assert_eq!(p.cost_basis(), money("15150"));
        assert_eq!(
            p.unrealized_pnl("100".parse().unwrap()).unwrap(),
            money("-150")
        );
    }

    #[test]
    fn flipping_closes_then_opens() {
        let mut p = Position::flat(sym());
        p.apply_fill(&fill(Side::Buy, 10, 5_000)).unwrap();
        let realized = p.apply_fill(&fill(Side::Sell, 30, 4_900)).unwrap();
        assert_eq!(realized, money("-10"));
        assert_eq!(p.quantity(), Quantity::from_units(-20).unwrap());
        assert_eq!(p.avg_price().unwrap().unwrap().to_string(), "49");
        let realized = p.apply_fill(&fill(Side::Buy, 20, 4_800)).unwrap();
        assert_eq!(realized, money("20")); // short 20 from 49, covered at 48
        assert!(p.is_flat());
        assert_eq!(p.cost_basis(), Money::ZERO);
        assert_eq!(p.realized_pnl(), money("10"));
    }

    #[test]
    fn rejects_other_symbols() {
        let mut p = Position::flat(Symbol::parse("MSFT").unwrap());
        assert!(p.apply_fill(&fill(Side::Buy, 1, 100)).is_err());
        assert!(p.is_flat());
    }

    proptest! {
        /// Netting conserves value: with no commissions, cash spent plus what remains open
        /// equals what was realized, to the rounding of partial closes (at most half a raw unit
        /// per fill).
        #[test]
        fn netting_conserves_value(
            fills in proptest::collection::vec((any::<bool>(), 1i128..500, 1i128..100_000), 1..40)
        ) {
            let mut p = Position::flat(sym());
            let mut cash = Money::ZERO;
            let mut net_qty = 0i128;
            for (buy, qty, cents) in &fills {
                let side = if *buy { Side::Buy } else { Side::Sell };
                let f = fill(side, *qty, *cents);
                p.apply_fill(&f).unwrap();
                cash = cash.checked_sub(f.price().checked_mul_qty(f.signed_quantity()).unwrap()).unwrap();
                net_qty += side.sign() * qty;
            }
            prop_assert_eq!(p.quantity(), Quantity::from_units(net_qty).unwrap());
            if p.is_flat() {
                prop_assert_eq!(p.cost_basis(), Money::ZERO);
            }
            // cash + basis of what is still open == realized (+ rounding slack).
            let lhs = cash.checked_add(p.cost_basis()).unwrap();
            let slack = i128::try_from(fills.len()).unwrap();
            prop_assert!((lhs.raw() - p.realized_pnl().raw()).abs() <= slack, "{lhs} vs {}", p.realized_pnl());
        }
    }
}
