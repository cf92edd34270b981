//! The portfolio: cash, positions held as lots, realized and unrealized profit, equity.
//!
//! Every amount is fixed-point and exact. Positions are lots of `(quantity, cost)`; reducing a
//! position takes lots first-in-first-out, last-in-first-out, or from one averaged lot, and
//! the profit realized follows that method.

use std::collections::VecDeque;

use openbell_model::{Fill, ModelError, Money, Price, Quantity, Symbol, SymbolHashing, SymbolMap};

/// Which lots a reducing fill closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LotMethod {
    /// The oldest lot first.
    #[default]
    Fifo,
    /// The newest lot first.
    Lifo,
    /// One lot at the average cost.
    Average,
}

impl LotMethod {
    /// Parses `fifo`, `lifo` or `average`.
    ///
    /// # Errors
    /// The accepted names.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "fifo" => Ok(Self::Fifo),
            "lifo" => Ok(Self::Lifo),
            "average" => Ok(Self::Average),
            _ => Err(format!("{name:?} is not fifo, lifo or average")),
        }
    }
}

/// Part of a position: a signed quantity and what it cost (signed like the quantity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lot {
    quantity: Quantity,
    cost: Money,
}

/// One symbol's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    symbol: Symbol,
    quantity: Quantity,
    lots: VecDeque<Lot>,
    realized: Money,
    last: Option<Price>,
}

impl Holding {
    fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            quantity: Quantity::ZERO,
            lots: VecDeque::new(),
            realized: Money::ZERO,
            last: None,
        }
    }

    /// The symbol.
    #[must_use]
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// The signed quantity held (negative is short).
    #[must_use]
    pub const fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// Profit realized on this symbol so far.
    #[must_use]
    pub const fn realized_pnl(&self) -> Money {
        self.realized
    }

    /// The latest price it was marked at.
    #[must_use]
    pub const fn last_price(&self) -> Option<Price> {
        self.last
    }

    /// What the open lots cost (signed like the quantity).
    #[must_use]
    pub fn cost_basis(&self) -> Money {
        Money::from_raw(self.lots.iter().map(|l| l.cost.raw()).sum())
    }

    /// The position's value at the last price (zero before any price).
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when the value leaves its range.
    pub fn market_value(&self) -> Result<Money, ModelError> {
        self.last
            .map_or(Ok(Money::ZERO), |p| p.checked_mul_qty(self.quantity))
    }

    /// Unrealized profit at the last price.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub fn unrealized_pnl(&self) -> Result<Money, ModelError> {
        if self.last.is_none() {
            return Ok(Money::ZERO);
        }
        self.market_value()?.checked_sub(self.cost_basis())
    }
}

/// Where one symbol's holding is in one portfolio, valid while that portfolio's holdings keep
/// their positions ([`Portfolio::mark_hinted`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HoldingHint {
    /// The portfolio's generation the slot was read at; zero is never current.
    generation: u64,
    slot: Option<usize>,
}

/// Cash and holdings.
#[derive(Debug, Clone)]
pub struct Portfolio {
    initial: Money,
    cash: Money,
    /// By symbol, in symbol order.
    holdings: Vec<Holding>,
    /// Each symbol's position in `holdings`: looked up on every bar (marks, the strategy's
    /// position checks).
    slots: SymbolMap<usize>,
    /// Changes whenever a holding is added (and the positions in `holdings` move); from 1, so
    /// a default [`HoldingHint`] is never current.
    generation: u64,
    method: LotMethod,
    realized: Money,
    commissions: Money,
    /// Σ |quantity × price| over every fill.
    traded: Money,
    /// A lot list kept for the next fill's working copy, so booking a fill allocates nothing
    /// once the session is under way.
    spare_lots: VecDeque<Lot>,
    /// Each holding's whole units and last price in raw units (0 before any mark), in
    /// `holdings` order, while every holding is in that form (`narrow`): the equity at a
    /// delivery time is the sum of their products, read from a few bytes per holding.
    marks: Vec<(i64, i64)>,
    /// Whether `marks` holds every holding; else the equity takes the general sum.
    narrow: bool,
}

impl Portfolio {
    /// A portfolio holding `initial` cash.
    #[must_use]
    pub const fn new(initial: Money, method: LotMethod) -> Self {
        Self {
            initial,
            cash: initial,
            holdings: Vec::new(),
            slots: SymbolMap::with_hasher(SymbolHashing),
            generation: 1,
            method,
            realized: Money::ZERO,
            commissions: Money::ZERO,
            traded: Money::ZERO,
            spare_lots: VecDeque::new(),
            marks: Vec::new(),
            narrow: true,
        }
    }

    /// The starting cash.
    #[must_use]
    pub const fn initial_cash(&self) -> Money {
        self.initial
    }

    /// Cash now.
    #[must_use]
    pub const fn cash(&self) -> Money {
        self.cash
    }

    /// The signed quantity held of `symbol`.
    #[must_use]
    pub fn position(&self, symbol: Symbol) -> Quantity {
        self.holding(symbol).map_or(Quantity::ZERO, |h| h.quantity)
    }

    /// [`Portfolio::position`], through `hint` while it is current
    /// ([`Portfolio::mark_hinted`]) instead of looking the symbol up.
    #[inline]
    pub(crate) fn position_hinted(&self, hint: &HoldingHint, symbol: Symbol) -> Quantity {
        if hint.generation != self.generation {
            return self.position(symbol);
        }
        hint.slot
            .and_then(|slot| self.holdings.get(slot))
            .map_or(Quantity::ZERO, |h| h.quantity)
    }

    /// A symbol's holding, if it ever traded.
    #[must_use]
    pub fn holding(&self, symbol: Symbol) -> Option<&Holding> {
        self.slots
            .get(&symbol)
            .and_then(|&slot| self.holdings.get(slot))
    }

    /// Every symbol that has traded, flat or not.
    pub fn holdings(&self) -> impl Iterator<Item = &Holding> {
        self.holdings.iter()
    }

    /// Profit realized so far, before commissions.
    #[must_use]
    pub const fn realized_pnl(&self) -> Money {
        self.realized
    }

    /// Commissions paid so far.
    #[must_use]
    pub const fn commissions(&self) -> Money {
        self.commissions
    }

    /// Σ |quantity × price| over every fill so far.
    #[must_use]
    pub const fn traded_notional(&self) -> Money {
        self.traded
    }

    /// Cash plus the value of every position at its last price.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub fn equity(&self) -> Result<Money, ModelError> {
        self.equity_and_open().map(|(equity, _)| equity)
    }

    /// [`Portfolio::equity`], and whether any position is open, in one pass.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub fn equity_and_open(&self) -> Result<(Money, bool), ModelError> {
        // It runs at every delivery time. While every holding is a whole number of units at a
        // price in 64 bits, each adds one exact product; anything else takes the general sum,
        // which gives the same total. A flat holding is zero units and adds nothing, so the
        // loop does not branch on which holdings are open (that changes with every fill).
        if !self.narrow {
            return self.equity_and_open_general();
        }
        let (mut total, mut open) = (self.cash.raw(), false);
        for &(units, last) in &self.marks {
            open |= units != 0;
            let Some(sum) = total.checked_add(i128::from(units) * i128::from(last)) else {
                return self.equity_and_open_general();
            };
            total = sum;
        }
        Ok((Money::from_raw(total), open))
    }

    /// [`Portfolio::equity_and_open`] holding by holding, through the checked arithmetic.
    #[cold]
    fn equity_and_open_general(&self) -> Result<(Money, bool), ModelError> {
        let (mut equity, mut open) = (self.cash, false);
        for h in &self.holdings {
            if !h.quantity.is_zero() {
                equity = equity.checked_add(h.market_value()?)?;
                open = true;
            }
        }
        Ok((equity, open))
    }

    /// Σ |value| of every position at its last price.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub fn gross_exposure(&self) -> Result<Money, ModelError> {
        let mut gross = Money::ZERO;
        for h in &self.holdings {
            gross = gross.checked_add(h.market_value()?.checked_abs()?)?;
        }
        Ok(gross)
    }

    /// Unrealized profit over every position.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub fn unrealized_pnl(&self) -> Result<Money, ModelError> {
        let mut total = Money::ZERO;
        for h in &self.holdings {
            total = total.checked_add(h.unrealized_pnl()?)?;
        }
        Ok(total)
    }

    /// Marks `symbol` at `price` (a position's value follows its last price).
    pub fn mark(&mut self, symbol: Symbol, price: Price) {
        self.mark_hinted(&mut HoldingHint::default(), &symbol, price);
    }

    /// Marks `symbol` at `price`, with `hint` remembering where the symbol's holding is (or
    /// that it has none) until a holding is added: a symbol marked on every bar is looked up
    /// once, not on each.
    #[inline]
    pub(crate) fn mark_hinted(&mut self, hint: &mut HoldingHint, symbol: &Symbol, price: Price) {
        if hint.generation != self.generation {
            *hint = HoldingHint {
                generation: self.generation,
                slot: self.slots.get(symbol).copied(),
            };
        }
        if let Some(slot) = hint.slot
            && let Some(h) = self.holdings.get_mut(slot)
        {
            h.last = Some(price);
            match (i64::try_from(price.raw()), self.marks.get_mut(slot)) {
                (Ok(raw), Some(mark)) => mark.1 = raw,
                _ => self.narrow = false,
            }
        }
    }

    /// Writes `marks` again from every holding: after one is added, or when a fill may bring
    /// the portfolio back to the narrow form.
    fn remark(&mut self) {
        self.marks.clear();
        self.narrow = true;
        for h in &self.holdings {
            let last = h.last.map_or(Ok(0), |p| i64::try_from(p.raw()));
            match (h.quantity.whole_units(), last) {
                (Some(units), Ok(last)) => self.marks.push((units, last)),
                _ => {
                    self.narrow = false;
                    self.marks.push((0, 0));
                }
            }
        }
    }

    /// Books a fill: cash moves by the notional and the commission, lots open or close by the
    /// lot method, and the profit it realized is returned. Nothing changes on error.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub fn apply_fill(&mut self, fill: &Fill) -> Result<Money, ModelError> {
        self.book(fill, true).map(|(realized, _)| realized)
    }

    /// [`Portfolio::apply_fill`], with the position the fill found in its symbol.
    ///
    /// # Errors
    /// [`ModelError::Overflow`] when a value leaves its range.
    pub(crate) fn apply_fill_held(&mut self, fill: &Fill) -> Result<(Money, Quantity), ModelError> {
        self.book(fill, true)
    }

    /// [`Portfolio::apply_fill_held`]; with `in_place`, the two usual fills (one that opens a
    /// position in a flat holding, one that closes a position held as a single lot) change
    /// the lots in place, and every other fill reduces and opens lots on a working copy.
    /// Either way every checked step runs before anything is booked, in the same order.
    #[inline]
    fn book(&mut self, fill: &Fill, in_place: bool) -> Result<(Money, Quantity), ModelError> {
        let delta = fill.signed_quantity();
        let price = fill.price();
        let notional = price.checked_mul_qty(delta)?;
        let cash = self
            .cash
            .checked_sub(notional)?
            .checked_sub(fill.commission())?;
        let slot = self.slots.get(&fill.symbol()).copied();
        let held = slot.and_then(|slot| self.holdings.get(slot));
        let simple = held
            .filter(|_| in_place)
            .and_then(|h| simple_lots(h, delta, notional));
        let (lots, realized) = match simple {
            Some(simple) => simple?,
            None => {
                // The working copy reuses the spare list, so booking allocates nothing once
                // the session is under way.
                let mut lots = std::mem::take(&mut self.spare_lots);
                match held {
                    Some(h) => lots.clone_from(&h.lots),
                    None => lots.clear(),
                }
                let running = held.map_or(Quantity::ZERO, |h| h.quantity);
                let realized = reduce_and_open(&mut lots, running, delta, price, self.method)?;
                (LotChange::Replace(lots), realized)
            }
        };
        let (before, holding_realized) =
            held.map_or((Quantity::ZERO, Money::ZERO), |h| (h.quantity, h.realized));
        let quantity = before.checked_add(delta)?;
        let holding_realized = holding_realized.checked_add(realized)?;
        let total_realized = self.realized.checked_add(realized)?;
        let commissions = self.commissions.checked_add(fill.commission())?;
        let traded = self.traded.checked_add(notional.checked_abs()?)?;
        // Every step succeeded: the fill is booked.
        match slot.and_then(|slot| self.holdings.get_mut(slot)) {
            Some(h) => {
                match lots {
                    LotChange::Open(lot) => h.lots.push_back(lot),
                    LotChange::CloseAll => h.lots.clear(),
                    LotChange::Replace(lots) => {
                        self.spare_lots = std::mem::replace(&mut h.lots, lots);
                    }
                }
                h.quantity = quantity;
                h.realized = holding_realized;
                h.last = Some(price);
                // The fill moves one holding's mark; a portfolio out of the narrow form is
                // looked at whole, as it may be back in it.
                let narrow = quantity.whole_units().zip(i64::try_from(price.raw()).ok());
                match (narrow, slot.and_then(|s| self.marks.get_mut(s))) {
                    (Some(moved), Some(mark)) if self.narrow => *mark = moved,
                    _ => self.remark(),
                }
            }
            None => self.add(Holding {
                quantity,
                lots: lots.into_lots(),
                realized: holding_realized,
                last: Some(price),
                ..Holding::new(fill.symbol())
            }),
        }
        self.cash = cash;
        self.realized = total_realized;
        self.commissions = commissions;
        self.traded = traded;
        Ok((realized, before))
    }

    /// Adds the holding of a symbol that has none yet, in symbol order.
    fn add(&mut self, holding: Holding) {
        let at = self.holdings.partition_point(|h| h.symbol < holding.symbol);
        self.holdings.insert(at, holding);
        self.remark();
        self.generation += 1;
        self.slots = self
            .holdings
            .iter()
            .enumerate()
            .map(|(slot, h)| (h.symbol, slot))
            .collect();
    }
}

/// How a fill changes a holding's lots.
enum LotChange {
    /// A first lot in a flat holding.
    Open(Lot),
    /// The holding's only lot closes whole.
    CloseAll,
    /// The lots as reduced and opened on a working copy.
    Replace(VecDeque<Lot>),
}

impl LotChange {
    /// The lots of a holding that had none.
    fn into_lots(self) -> VecDeque<Lot> {
        match self {
            Self::Open(lot) => VecDeque::from([lot]),
            Self::CloseAll => VecDeque::new(),
            Self::Replace(lots) => lots,
        }
    }
}

/// The lot change and realized profit of the two usual fills, which need no working copy: one
/// that opens a position in a flat holding (a lot of the fill's quantity at its notional), and
/// one that closes a position held as a single lot (its proceeds less the lot's cost); the
/// same values [`reduce_and_open`] gives. `None` for any other fill.
fn simple_lots(
    h: &Holding,
    delta: Quantity,
    notional: Money,
) -> Option<Result<(LotChange, Money), ModelError>> {
    if h.quantity.is_zero() && h.lots.is_empty() {
        let lot = Lot {
            quantity: delta,
            cost: notional,
        };
        return Some(Ok((LotChange::Open(lot), Money::ZERO)));
    }
    match h.lots.front() {
        Some(lot)
            if h.lots.len() == 1
                && lot.quantity == h.quantity
                && h.quantity.raw().checked_neg() == Some(delta.raw()) =>
        {
            let realized = notional
                .checked_neg()
                .and_then(|proceeds| proceeds.checked_sub(lot.cost));
            Some(realized.map(|r| (LotChange::CloseAll, r)))
        }
        _ => None,
    }
}

/// Closes `lots` (of a position of `running`) against `delta` when it opposes the position,
/// opens a lot with what is left, and returns the profit realized.
fn reduce_and_open(
    lots: &mut VecDeque<Lot>,
    mut running: Quantity,
    delta: Quantity,
    price: Price,
    method: LotMethod,
) -> Result<Money, ModelError> {
    let mut remaining = delta;
    let mut realized = Money::ZERO;
    let opposes = |q: Quantity, d: Quantity| q.raw().signum() * d.raw().signum() < 0;
    while !remaining.is_zero() && opposes(running, remaining) {
        let lot = match method {
            LotMethod::Lifo => lots.back_mut(),
            LotMethod::Fifo | LotMethod::Average => lots.front_mut(),
        };
        let Some(lot) = lot else { break };
        let held = lot.quantity.checked_abs()?;
        let take = remaining.checked_abs()?.min(held);
        let closed_signed = Quantity::from_raw(remaining.raw().signum() * take.raw());
        let removed = if take == held {
            lot.cost
        } else {
            lot.cost.checked_mul_ratio(take, held)?
        };
        let proceeds = price.checked_mul_qty(closed_signed)?.checked_neg()?;
        realized = realized.checked_add(proceeds.checked_sub(removed)?)?;
        lot.quantity = lot.quantity.checked_add(closed_signed)?;
        lot.cost = lot.cost.checked_sub(removed)?;
        if lot.quantity.is_zero() {
            match method {
                LotMethod::Lifo => lots.pop_back(),
                LotMethod::Fifo | LotMethod::Average => lots.pop_front(),
            };
        }
        running = running.checked_add(closed_signed)?;
        remaining = remaining.checked_sub(closed_signed)?;
    }
    if !remaining.is_zero() {
        let cost = price.checked_mul_qty(remaining)?;
        match (method, lots.front_mut()) {
            (LotMethod::Average, Some(lot)) => {
                lot.quantity = lot.quantity.checked_add(remaining)?;
                lot.cost = lot.cost.checked_add(cost)?;
            }
            _ => lots.push_back(Lot {
                quantity: remaining,
                cost,
            }),
        }
    }
    Ok(realized)
}

#[cfg(test)]
mod tests {
    use openbell_model::{OrderId, Side, Timestamp};

    use super::*;

    fn spy() -> Symbol {
        Symbol::parse("SPY").unwrap()
    }

    fn fill(side: Side, qty: i128, price: i128, commission: i128) -> Fill {
        Fill::try_new(
            OrderId(1),
            spy(),
            side,
            Quantity::from_units(qty).unwrap(),
            Price::from_units(price).unwrap(),
            Money::from_units(commission).unwrap(),
            Timestamp::from_nanos(0),
        )
        .unwrap()
    }

    fn money(units: i128) -> Money {
        Money::from_units(units).unwrap()
    }

    #[test]
    fn a_hinted_mark_follows_its_holding_when_another_is_added_before_it() {
        let mut p = Portfolio::new(money(100_000), LotMethod::Fifo);
        let (aaa, spy_) = (Symbol::parse("AAA").unwrap(), spy());
        let price = |units| Price::from_units(units).unwrap();
        let mut hint = HoldingHint::default();
        // No holding yet: the mark changes nothing, and the hint remembers there is none.
        p.mark_hinted(&mut hint, &spy_, price(99));
        assert!(p.holding(spy_).is_none());
        assert!(p.position_hinted(&hint, spy_).is_zero());
        p.apply_fill(&fill(Side::Buy, 10, 100, 0)).unwrap();
        // The new holding makes the hint stale: the position is looked up, and the next mark
        // finds the holding.
        let ten = Quantity::from_units(10).unwrap();
        assert_eq!(p.position_hinted(&hint, spy_), ten);
        p.mark_hinted(&mut hint, &spy_, price(101));
        assert_eq!(p.holding(spy_).unwrap().last_price(), Some(price(101)));
        assert_eq!(p.position_hinted(&hint, spy_), ten);
        // AAA sorts before SPY, so SPY's holding moves from the first place to the second.
        let aaa_fill = Fill::try_new(
            OrderId(2),
            aaa,
            Side::Buy,
            Quantity::from_units(1).unwrap(),
            price(50),
            Money::ZERO,
            Timestamp::from_nanos(0),
        )
        .unwrap();
        p.apply_fill(&aaa_fill).unwrap();
        assert_eq!(p.position_hinted(&hint, spy_), ten, "stale hint");
        p.mark_hinted(&mut hint, &spy_, price(105));
        assert_eq!(
            p.position_hinted(&hint, spy_),
            ten,
            "hint at the second place"
        );
        assert_eq!(p.holding(spy_).unwrap().last_price(), Some(price(105)));
        assert_eq!(p.holding(aaa).unwrap().last_price(), Some(price(50)));
        // Cash 100,000 - 1,000 - 50; SPY 10 x 105; AAA 1 x 50.
        assert_eq!(
            p.equity().unwrap(),
            money(100_000 - 1_000 - 50 + 1_050 + 50)
        );
        // Flat again, in the same place: the hint stays current.
        p.apply_fill(&fill(Side::Sell, 10, 100, 0)).unwrap();
        assert!(p.position_hinted(&hint, spy_).is_zero());
    }

    /// Buy 10 @ 100, buy 10 @ 110, sell 15 @ 120.
    fn realized_by(method: LotMethod) -> (Money, Money) {
        let mut p = Portfolio::new(money(10_000), method);
        p.apply_fill(&fill(Side::Buy, 10, 100, 1)).unwrap();
        p.apply_fill(&fill(Side::Buy, 10, 110, 1)).unwrap();
        let realized = p.apply_fill(&fill(Side::Sell, 15, 120, 1)).unwrap();
        (realized, p.holding(spy()).unwrap().cost_basis())
    }

    #[test]
    fn realized_profit_follows_the_lot_method() {
        // FIFO: 10 @ 100 and 5 @ 110 close: (120-100)*10 + (120-110)*5 = 250; 5 @ 110 left.
        assert_eq!(realized_by(LotMethod::Fifo), (money(250), money(550)));
        // LIFO: 10 @ 110 and 5 @ 100 close: 100 + 100 = 200; 5 @ 100 left.
        assert_eq!(realized_by(LotMethod::Lifo), (money(200), money(500)));
        // Average 105: 15 * 15 = 225; 5 @ 105 left.
        assert_eq!(realized_by(LotMethod::Average), (money(225), money(525)));
    }

    #[test]
    fn cash_equity_and_flips_are_exact() {
        let mut p = Portfolio::new(money(10_000), LotMethod::Fifo);
        p.apply_fill(&fill(Side::Buy, 10, 100, 2)).unwrap();
        assert_eq!(p.cash(), money(10_000 - 1_000 - 2));
        p.mark(spy(), Price::from_units(105).unwrap());
        assert_eq!(p.equity().unwrap(), money(10_000 - 1_002 + 1_050));
        assert_eq!(p.unrealized_pnl().unwrap(), money(50));
        // Sell 15 @ 90: closes 10 (realized -100) and opens 5 short @ 90.
        let realized = p.apply_fill(&fill(Side::Sell, 15, 90, 3)).unwrap();
        assert_eq!(realized, money(-100));
        assert_eq!(p.position(spy()), Quantity::from_units(-5).unwrap());
        assert_eq!(p.holding(spy()).unwrap().cost_basis(), money(-450));
        assert_eq!(p.cash(), money(10_000 - 1_002 + 1_350 - 3));
        // Cover 5 @ 80: +50.
        let realized = p.apply_fill(&fill(Side::Buy, 5, 80, 0)).unwrap();
        assert_eq!(realized, money(50));
        assert!(p.position(spy()).is_zero());
        assert_eq!(p.realized_pnl(), money(-50));
        assert_eq!(p.commissions(), money(5));
        // Flat: equity is cash, and cash = start + realized - commissions.
        assert_eq!(p.equity().unwrap(), p.cash());
        assert_eq!(p.cash(), money(10_000 - 50 - 5));
        assert_eq!(p.traded_notional(), money(1_000 + 1_350 + 400));
    }

    #[test]
    fn holdings_stay_in_symbol_order_and_each_symbol_finds_its_own() {
        let mut p = Portfolio::new(money(1_000_000), LotMethod::Fifo);
        let names = ["QQQ", "AAPL", "SPY", "MSFT", "A", "ZZZZZZZZZ.LONG"];
        for (k, name) in (1_i128..).zip(names) {
            let f = Fill::try_new(
                OrderId(u64::try_from(k).unwrap()),
                Symbol::parse(name).unwrap(),
                Side::Buy,
                Quantity::from_units(k).unwrap(),
                Price::from_units(10 * k).unwrap(),
                Money::ZERO,
                Timestamp::from_nanos(0),
            )
            .unwrap();
            p.apply_fill(&f).unwrap();
        }
        let listed: Vec<String> = p.holdings().map(|h| h.symbol().to_string()).collect();
        let mut sorted: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        sorted.sort();
        assert_eq!(listed, sorted);
        for (k, name) in (1_i128..).zip(names) {
            let symbol = Symbol::parse(name).unwrap();
            p.mark(symbol, Price::from_units(11 * k).unwrap());
            assert_eq!(
                p.position(symbol),
                Quantity::from_units(k).unwrap(),
                "{name}"
            );
            assert_eq!(
                p.holding(symbol).unwrap().unrealized_pnl().unwrap(),
                money(k * k),
                "{name}"
            );
        }
        assert!(p.position(Symbol::parse("NONE").unwrap()).is_zero());
    }

    proptest::proptest! {
        /// The equity summed at each delivery time equals the holding-by-holding checked sum,
        /// whole and fractional quantities, long and short, at prices in and past 64 bits.
        #[test]
        fn equity_is_the_checked_sum_of_the_holdings(
            trades in proptest::collection::vec(
                (
                    (0usize..4, proptest::bool::ANY, 1i128..500, proptest::bool::ANY, 1i128..20_000, 0u8..4),
                    proptest::collection::vec((0usize..4, 1i128..20_000, 0u8..4), 0..4),
                ),
                1..30,
            ),
        ) {
            let names = ["AAA", "BBB", "CCC", "DDD"];
            let mut p = Portfolio::new(money(1_000_000_000), LotMethod::Fifo);
            // Cents, or a price past 2^63 raw units.
            let raw_price = |price: i128, scale: u8| match scale {
                0 => price * 10_000_000,
                1 => price * 10_000_000_000_000,
                _ => price,
            };
            for (i, ((k, buy, qty, fractional, price, scale), marks)) in trades.into_iter().enumerate() {
                let symbol = Symbol::parse(names[k]).unwrap();
                let raw = raw_price(price, scale);
                let qty = if fractional { qty * 1_000_000 + 7 } else { qty * 1_000_000_000 };
                let f = Fill::try_new(
                    OrderId(u64::try_from(i).unwrap()),
                    symbol,
                    if buy { Side::Buy } else { Side::Sell },
                    Quantity::from_raw(qty),
                    Price::from_raw(raw),
                    Money::ZERO,
                    Timestamp::from_nanos(0),
                )
                .unwrap();
                p.apply_fill(&f).unwrap();
                let wide = if scale == 3 { 1 << 64 } else { 0 };
                p.mark(symbol, Price::from_raw(raw + 3 + wide));
                proptest::prop_assert_eq!(p.equity_and_open(), p.equity_and_open_general());
                // Marks between fills, of any symbol (held or not), into and out of 64 bits.
                for (m, price, scale) in marks {
                    let wide = if scale == 3 { 1 << 64 } else { 0 };
                    let price = Price::from_raw(raw_price(price, scale) + wide);
                    p.mark(Symbol::parse(names[m]).unwrap(), price);
                    proptest::prop_assert_eq!(p.equity_and_open(), p.equity_and_open_general());
                }
            }
        }

        /// Fills booked in place (opening from flat, closing a single lot) leave the portfolio
        /// and return what the general path does, errors included, under every lot method.
        #[test]
        fn simple_fills_book_as_the_general_path_does(
            method in 0u8..3,
            fills in proptest::collection::vec(
                (0usize..3, 0u8..4, 1i128..300, 1i128..20_000, 0u8..3, 0i128..500),
                1..40,
            ),
        ) {
            let method = [LotMethod::Fifo, LotMethod::Lifo, LotMethod::Average][usize::from(method)];
            let names = ["AAA", "BBB", "CCC"];
            let mut fast = Portfolio::new(money(10_000_000), method);
            let mut general = fast.clone();
            for (i, (k, kind, qty, price, scale, commission)) in fills.into_iter().enumerate() {
                let symbol = Symbol::parse(names[k]).unwrap();
                let held = fast.position(symbol);
                // Buys, sells, and sells or buys of exactly what is held (the closing fill).
                let (side, raw_qty) = match kind {
                    0 => (Side::Buy, qty * 1_000_000_000),
                    1 => (Side::Sell, qty * 1_000_000_000),
                    _ if held.is_negative() => (Side::Buy, -held.raw()),
                    _ if held.is_positive() => (Side::Sell, held.raw()),
                    _ => (Side::Buy, qty * 1_000_000 + 7),
                };
                // Cents, or a price past 2^63 raw units, or one that overflows the notional.
                let raw = match scale {
                    0 => price * 10_000_000,
                    1 => price * 10_000_000_000_000,
                    _ => price * (1 << 100),
                };
                let f = Fill::try_new(
                    OrderId(u64::try_from(i).unwrap()),
                    symbol,
                    side,
                    Quantity::from_raw(raw_qty),
                    Price::from_raw(raw),
                    Money::from_raw(commission * 10_000_000),
                    Timestamp::from_nanos(0),
                )
                .unwrap();
                let held = fast.position(symbol);
                let got = fast.apply_fill_held(&f);
                let want = general.book(&f, false);
                if let Ok((_, before)) = got {
                    proptest::prop_assert_eq!(before, held);
                }
                proptest::prop_assert_eq!(got.is_ok(), want.is_ok(), "{:?} {:?}", got, want);
                if let (Ok(got), Ok(want)) = (got, want) {
                    proptest::prop_assert_eq!(got, want);
                }
                proptest::prop_assert_eq!(fast.cash(), general.cash());
                proptest::prop_assert_eq!(fast.realized_pnl(), general.realized_pnl());
                proptest::prop_assert_eq!(fast.commissions(), general.commissions());
                proptest::prop_assert_eq!(fast.traded_notional(), general.traded_notional());
                let holdings = |p: &Portfolio| p.holdings().cloned().collect::<Vec<_>>();
                proptest::prop_assert_eq!(holdings(&fast), holdings(&general));
            }
        }
    }
}
