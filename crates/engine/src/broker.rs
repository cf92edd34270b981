//! The simulated broker: order checks, risk rules, and fills on bars.
//!
//! Fill rules (each order is matched only against base-interval bars of its symbol that open at
//! or after the moment it was submitted, so it never fills on a bar that was already known):
//! - market: at the bar's open;
//! - limit: when the bar trades through the limit (a buy's low at or below it, a sell's high at
//!   or above it), at the better of the open and the limit, so a gap through the limit fills at
//!   the open;
//! - stop: triggers when the bar's high (buy) or low (sell) reaches the stop, and fills at the
//!   worse of the open and the stop, so a gap through the stop fills at the open;
//! - stop-limit: triggers by the stop rule; on the trigger bar it fills only if the trigger
//!   price satisfies the limit, at the better of the two; afterwards it is a limit order.
//!
//! Slippage then moves market and stop fills against the trader (never past a limit price).
//! With a participation cap, a fill takes at most that share of the bar's volume and the rest
//! stays working (an IOC order cancels it). An order submitted while the market is closed
//! meets the next trading day's first bar. Day orders expire at the close of the day they
//! were submitted in.

use openbell_model::{
    Bar, Fill, ModelError, Money, Order, OrderId, OrderStatus, OrderType, Price, Quantity, Side,
    Symbol, TimeInForce, Timestamp,
};

use crate::portfolio::{LotMethod, Portfolio};

/// Price slippage applied to market and stop fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slippage {
    /// None.
    #[default]
    None,
    /// A fraction of the price, in hundredths of a basis point (`150` is 1.5 bps).
    CentiBps(i64),
    /// A number of ticks of `tick` each.
    Ticks {
        /// How many ticks.
        ticks: i64,
        /// The tick size.
        tick: Price,
    },
}

/// What a fill costs in commission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commission {
    /// Free.
    #[default]
    None,
    /// `rate` per share (unit), at least `min` and at most `max` per fill.
    PerShare {
        /// Per unit traded.
        rate: Price,
        /// The least a fill costs.
        min: Money,
        /// The most a fill costs.
        max: Option<Money>,
    },
    /// A share of the notional, in hundredths of a basis point.
    CentiBps(i64),
    /// A fixed amount per order, charged on its first fill.
    PerOrder(Money),
}

/// The broker's settings (`[broker]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// Starting cash.
    pub initial_cash: Money,
    /// Slippage on market and stop fills.
    pub slippage: Slippage,
    /// The commission model.
    pub commission: Commission,
    /// The largest share of a bar's volume one order may take (`None`: no cap).
    pub participation: Option<f64>,
    /// Buying power as a multiple of equity (1 is a cash account).
    pub margin: f64,
    /// Whether sells may open or grow short positions.
    pub allow_short: bool,
    /// How reducing fills pick lots.
    pub lots: LotMethod,
    /// Close every position at the day's last price at the close.
    pub flatten_at_close: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            initial_cash: Money::from_raw(100_000 * 1_000_000_000),
            slippage: Slippage::None,
            commission: Commission::None,
            participation: None,
            margin: 1.0,
            allow_short: false,
            lots: LotMethod::Fifo,
            flatten_at_close: false,
        }
    }
}

/// Risk rules (`[risk]`); a breach rejects the order with the rule's reason.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RiskConfig {
    /// The largest absolute position per symbol.
    pub max_position: Option<Quantity>,
    /// The largest Σ |position value| after the order.
    pub max_gross_exposure: Option<Money>,
    /// The most orders per trading day.
    pub max_orders_per_day: Option<u32>,
    /// A loss from the day's starting equity at which new entries stop for the day.
    pub max_daily_loss: Option<Money>,
}

/// An order as a strategy asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// How many (positive).
    pub quantity: Quantity,
    /// Market, limit, stop or stop-limit.
    pub order_type: OrderType,
    /// Day, GTC or IOC.
    pub time_in_force: TimeInForce,
    /// The signal it acts on.
    pub signal: Option<openbell_model::SignalId>,
}

/// Every order of a session with how it ended (for the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order as it stands.
    pub order: Order,
    /// Why it was rejected, cancelled or expired.
    pub reason: Option<String>,
}

/// What the broker did, for the engine to report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BrokerEvent {
    Accepted(Order),
    Rejected(Order, String),
    /// A fill, the position before it, and the profit it realized.
    Filled(Fill, Quantity, Money),
    Closed(Order, String),
}

#[derive(Debug, Clone)]
struct Working {
    /// The order as it stands (no reason while it works): its record, once finished orders
    /// are forgotten.
    record: OrderRecord,
    triggered: bool,
    commission_charged: bool,
}

/// The simulated broker of one session.
#[derive(Debug, Clone)]
pub struct Broker {
    config: BrokerConfig,
    risk: RiskConfig,
    /// Working orders in id order (few at a time: a vector beats a map here).
    working: Vec<Working>,
    /// Every order by id, while finished orders are kept (else empty: the working orders are
    /// their own records). Ids are handed out one by one from 1, so an order's record sits at
    /// `id - 1`.
    records: Vec<OrderRecord>,
    /// Whether finished orders stay in `records`.
    keep_finished: bool,
    /// Orders that finished since the last [`Broker::take_finished`].
    finished: Vec<OrderRecord>,
    orders_today: u32,
    day_start_equity: Money,
    entries_blocked: bool,
}

fn bps_of(value: i128, centi_bps: i64) -> i128 {
    value * i128::from(centi_bps) / 1_000_000
}

impl Broker {
    /// A broker with no orders.
    #[must_use]
    pub const fn new(config: BrokerConfig, risk: RiskConfig) -> Self {
        Self {
            config,
            risk,
            working: Vec::new(),
            records: Vec::new(),
            keep_finished: true,
            finished: Vec::new(),
            orders_today: 0,
            day_start_equity: Money::ZERO,
            entries_blocked: false,
        }
    }

    /// The settings.
    #[must_use]
    pub const fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Orders still working, by id.
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.working.iter().map(|w| &w.record.order)
    }

    /// Keeps finished orders only until [`Broker::take_finished`] hands them out, so the
    /// broker's memory does not grow with the session; [`Broker::records`] then holds the
    /// working orders.
    pub(crate) fn forget_finished(&mut self) {
        self.keep_finished = false;
        self.records = Vec::new();
    }

    /// Where working order `id` is, or would go, in id order.
    fn working_index(&self, id: OrderId) -> Result<usize, usize> {
        self.working
            .binary_search_by_key(&id, |w| w.record.order.id())
    }

    /// Whether an order finished since the last [`Broker::take_finished`].
    pub(crate) fn has_finished(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Hands over the orders that finished (filled, cancelled, expired or rejected) since the
    /// last call, in the order they finished. The list keeps its capacity, so handing orders
    /// over allocates nothing once the session is under way.
    pub(crate) fn take_finished(&mut self) -> std::vec::Drain<'_, OrderRecord> {
        self.finished.drain(..)
    }

    /// Every order of the session (or, once [`Broker::forget_finished`], every working one),
    /// in submission order, with its latest state.
    pub fn records(&self) -> impl Iterator<Item = &OrderRecord> {
        let working = if self.keep_finished {
            &[][..]
        } else {
            &self.working[..]
        };
        self.records.iter().chain(working.iter().map(|w| &w.record))
    }

    /// Every order of the session (or, once [`Broker::forget_finished`], every working one),
    /// by id, handed over.
    #[must_use]
    pub fn into_records(self) -> Vec<OrderRecord> {
        if self.keep_finished {
            self.records
        } else {
            self.working.into_iter().map(|w| w.record).collect()
        }
    }

    /// Records an order's latest state (and why it closed, if it did). Once finished orders
    /// are forgotten, a working order's record is its entry in `working`, and only a final
    /// state is handed on.
    fn record(&mut self, order: &Order, reason: Option<String>) {
        if !self.keep_finished {
            if order.status().is_terminal() {
                self.finished.push(OrderRecord {
                    order: order.clone(),
                    reason,
                });
            }
            return;
        }
        let index = usize::try_from(order.id().0.saturating_sub(1)).unwrap_or(usize::MAX);
        let position = match self.records.get(index) {
            Some(r) if r.order.id() == order.id() => index,
            // A new order: its id is above every recorded one, so it goes last (no search
            // through a session's worth of records).
            _ if self
                .records
                .last()
                .is_none_or(|r| r.order.id() < order.id()) =>
            {
                self.records.len()
            }
            // Ids come in order; one that does not is still kept in id order.
            _ => self.records.partition_point(|r| r.order.id() < order.id()),
        };
        match self.records.get_mut(position) {
            Some(entry) if entry.order.id() == order.id() => {
                entry.order.clone_from(order);
                if reason.is_some() {
                    entry.reason = reason;
                }
            }
            _ => self.records.insert(
                position,
                OrderRecord {
                    order: order.clone(),
                    reason,
                },
            ),
        }
        // Every path to a final state records it once.
        if order.status().is_terminal() {
            self.finished.push(self.records[position].clone());
        }
    }

    /// A new trading day: daily counters reset.
    pub(crate) fn start_day(&mut self, equity: Money) {
        self.orders_today = 0;
        self.day_start_equity = equity;
        self.entries_blocked = false;
    }

    /// Checks and accepts (or rejects) an order. `last` is the symbol's latest price, for the
    /// cash and exposure checks, and `held` the portfolio's position in it.
    pub(crate) fn submit(
        &mut self,
        id: OrderId,
        request: &OrderRequest,
        now: Timestamp,
        last: Option<Price>,
        held: Quantity,
        portfolio: &Portfolio,
    ) -> Result<BrokerEvent, ModelError> {
        let order = Order::try_new(
            id,
            request.symbol,
            request.side,
            request.order_type,
            request.time_in_force,
            request.quantity,
            now,
        )
        .map(|o| match request.signal {
            Some(signal) => o.with_signal(signal),
            None => o,
        });
        let mut order = match order {
            Ok(order) => order,
            Err(e) => {
                // An order that cannot even be written down is recorded with a safe shape.
                let fallback = Order::try_new(
                    id,
                    request.symbol,
                    request.side,
                    OrderType::Market,
                    request.time_in_force,
                    Quantity::from_raw(1),
                    now,
                )?;
                let mut fallback = fallback;
                fallback.transition(OrderStatus::Rejected)?;
                let reason = e.to_string();
                self.record(&fallback, Some(reason.clone()));
                return Ok(BrokerEvent::Rejected(fallback, reason));
            }
        };
        // Recorded once, as accepted or rejected: nothing reads the record in between.
        if let Some(reason) = self.check(&order, last, held, portfolio)? {
            order.transition(OrderStatus::Rejected)?;
            self.record(&order, Some(reason.clone()));
            return Ok(BrokerEvent::Rejected(order, reason));
        }
        self.orders_today += 1;
        order.transition(OrderStatus::Accepted)?;
        self.record(&order, None);
        let working = Working {
            record: OrderRecord {
                order: order.clone(),
                reason: None,
            },
            triggered: false,
            commission_charged: false,
        };
        match self.working_index(id) {
            Ok(at) => self.working[at] = working,
            // Ids are handed out in order: the end, but for a stray id.
            Err(at) => self.working.insert(at, working),
        }
        Ok(BrokerEvent::Accepted(order))
    }

    /// The reason an order may not be accepted, if any, with `held` of its symbol now.
    fn check(
        &self,
        order: &Order,
        last: Option<Price>,
        held: Quantity,
        portfolio: &Portfolio,
    ) -> Result<Option<String>, ModelError> {
        let delta = Quantity::from_raw(order.side().sign() * order.quantity().raw());
        let after = held.checked_add(delta)?;
        let entry = after.raw().abs() > held.raw().abs();
        if let Some(max) = self.risk.max_orders_per_day
            && self.orders_today >= max
        {
            return Ok(Some(format!(
                "risk: max_orders_per_day {max} reached for today"
            )));
        }
        if entry && self.entries_blocked {
            return Ok(Some(
                "risk: max_daily_loss reached; no new entries until tomorrow".to_owned(),
            ));
        }
        if let Some(max) = self.risk.max_position
            && entry
            && after.checked_abs()? > max
        {
            return Ok(Some(format!(
                "risk: position {after} in {} would exceed max_position {max}",
                order.symbol()
            )));
        }
        if after.is_negative() && entry && !self.config.allow_short {
            return Ok(Some(format!(
                "short selling is off: selling {} {} with {held} held",
                order.quantity(),
                order.symbol()
            )));
        }
        let price = match order.order_type() {
            OrderType::Limit { limit } | OrderType::StopLimit { limit, .. } => Some(limit),
            OrderType::Stop { stop } => Some(stop),
            OrderType::Market => last,
        };
        let Some(price) = price else {
            return Ok(Some(format!(
                "no price known yet for {} to check the order against",
                order.symbol()
            )));
        };
        if let Some(max) = self.risk.max_gross_exposure
            && entry
        {
            let current = portfolio
                .holding(order.symbol())
                .map_or(Ok(Money::ZERO), |h| h.market_value())?
                .checked_abs()?;
            let gross = portfolio
                .gross_exposure()?
                .checked_sub(current)?
                .checked_add(price.checked_mul_qty(after)?.checked_abs()?)?;
            if gross > max {
                return Ok(Some(format!(
                    "risk: gross exposure {gross} would exceed max_gross_exposure {max}"
                )));
            }
        }
        if order.side() == Side::Buy {
            let cost = price
                .checked_mul_qty(order.quantity())?
                .checked_add(self.commission(order.quantity(), price, false)?)?;
            let power = self.buying_power(portfolio)?;
            if cost > power {
                return Ok(Some(format!(
                    "insufficient buying power: {} {} at about {price} costs {cost}, {power} available",
                    order.quantity(),
                    order.symbol()
                )));
            }
        }
        Ok(None)
    }

    /// Cancels a working order.
    pub(crate) fn cancel(
        &mut self,
        id: OrderId,
        reason: &str,
    ) -> Result<Option<BrokerEvent>, ModelError> {
        let Ok(at) = self.working_index(id) else {
            return Ok(None);
        };
        let w = self.working.remove(at);
        self.close(w.record.order, OrderStatus::Cancelled, reason.to_owned())
            .map(Some)
    }

    /// Ends an order that was working with `status` (cancelled or expired) for `reason`, and
    /// records it.
    fn close(
        &mut self,
        mut order: Order,
        status: OrderStatus,
        reason: String,
    ) -> Result<BrokerEvent, ModelError> {
        order.transition(status)?;
        self.record(&order, Some(reason.clone()));
        Ok(BrokerEvent::Closed(order, reason))
    }

    /// The commission of one fill.
    fn commission(
        &self,
        quantity: Quantity,
        price: Price,
        charged: bool,
    ) -> Result<Money, ModelError> {
        Ok(match self.config.commission {
            Commission::None => Money::ZERO,
            Commission::PerShare { rate, min, max } => {
                let c = rate.checked_mul_qty(quantity)?.max(min);
                max.map_or(c, |m| c.min(m))
            }
            Commission::CentiBps(cbps) => {
                let notional = price.checked_mul_qty(quantity)?;
                Money::from_raw(bps_of(notional.raw(), cbps))
            }
            Commission::PerOrder(fee) => {
                if charged {
                    Money::ZERO
                } else {
                    fee
                }
            }
        })
    }

    /// Slippage against the trader on a market or stop fill, never past a limit.
    fn slip(&self, side: Side, price: Price, limit: Option<Price>) -> Price {
        let raw = price.raw();
        let moved = match self.config.slippage {
            Slippage::None => 0,
            Slippage::CentiBps(cbps) => bps_of(raw, cbps),
            Slippage::Ticks { ticks, tick } => i128::from(ticks) * tick.raw(),
        };
        let slipped = Price::from_raw(raw + side.sign() * moved);
        match (side, limit) {
            (Side::Buy, Some(l)) => slipped.min(l).max(price),
            (Side::Sell, Some(l)) => slipped.max(l).min(price),
            _ => slipped,
        }
    }

    /// Whether [`Broker::on_bar`] has anything to do for `bar`: a working order of its symbol
    /// that it can match, or a daily loss limit to watch. Usually not, and checking is cheap.
    #[inline]
    pub(crate) fn wants(&self, bar: &Bar) -> bool {
        (self.risk.max_daily_loss.is_some() && !self.entries_blocked)
            || self.working.iter().any(|w| {
                w.record.order.symbol() == bar.symbol()
                    && w.record.order.ts_init() <= bar.ts_event()
            })
    }

    /// Matches the working orders of `bar`'s symbol against it; appends what happened to
    /// `events`, fills first booked in `portfolio`.
    pub(crate) fn on_bar(
        &mut self,
        bar: &Bar,
        portfolio: &mut Portfolio,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), ModelError> {
        // Orders of other symbols are the usual case: a scan finds there is nothing to match.
        let (symbol, ts) = (bar.symbol(), bar.ts_event());
        if self
            .working
            .iter()
            .any(|w| w.record.order.symbol() == symbol && w.record.order.ts_init() <= ts)
        {
            self.match_working(bar, portfolio, events)?;
        }
        if let Some(max) = self.risk.max_daily_loss
            && !self.entries_blocked
        {
            let loss = self.day_start_equity.checked_sub(portfolio.equity()?)?;
            if loss >= max {
                self.entries_blocked = true;
            }
        }
        Ok(())
    }

    /// Matches the working orders of `bar`'s symbol against it.
    fn match_working(
        &mut self,
        bar: &Bar,
        portfolio: &mut Portfolio,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<(), ModelError> {
        // Matched in place; the orders that end leave the list in one pass.
        let mut working = std::mem::take(&mut self.working);
        let mut failed = None;
        working.retain_mut(|w| {
            if failed.is_some()
                || w.record.order.symbol() != bar.symbol()
                || w.record.order.ts_init() > bar.ts_event()
            {
                return true;
            }
            self.match_order(w, bar, portfolio, events)
                .unwrap_or_else(|e| {
                    failed = Some(e);
                    true
                })
        });
        self.working = working;
        failed.map_or(Ok(()), Err)
    }

    /// Matches one working order of `bar`'s symbol against it, pushing what happened to
    /// `events`; returns whether it is still working.
    fn match_order(
        &mut self,
        w: &mut Working,
        bar: &Bar,
        portfolio: &mut Portfolio,
        events: &mut Vec<BrokerEvent>,
    ) -> Result<bool, ModelError> {
        let side = w.record.order.side();
        let was_triggered = w.triggered;
        let (order_id, symbol) = (w.record.order.id(), w.record.order.symbol());
        let (open, high, low) = (bar.open(), bar.high(), bar.low());
        let through = |limit: Price| match side {
            Side::Buy => low <= limit,
            Side::Sell => high >= limit,
        };
        let better = |a: Price, b: Price| match side {
            Side::Buy => a.min(b),
            Side::Sell => a.max(b),
        };
        let worse = |a: Price, b: Price| match side {
            Side::Buy => a.max(b),
            Side::Sell => a.min(b),
        };
        let price = match w.record.order.order_type() {
            OrderType::Market => Some(self.slip(side, open, None)),
            OrderType::Limit { limit } => through(limit).then(|| better(open, limit)),
            OrderType::Stop { stop } => {
                if w.triggered {
                    Some(self.slip(side, open, None))
                } else if through_stop(side, stop, high, low) {
                    w.triggered = true;
                    w.record.order.transition(OrderStatus::Triggered)?;
                    Some(self.slip(side, worse(open, stop), None))
                } else {
                    None
                }
            }
            OrderType::StopLimit { stop, limit } => {
                if w.triggered {
                    through(limit).then(|| better(open, limit))
                } else if through_stop(side, stop, high, low) {
                    w.triggered = true;
                    w.record.order.transition(OrderStatus::Triggered)?;
                    let trigger = worse(open, stop);
                    let ok = match side {
                        Side::Buy => trigger <= limit,
                        Side::Sell => trigger >= limit,
                    };
                    ok.then(|| better(trigger, limit))
                } else {
                    None
                }
            }
        };
        let ioc = w.record.order.time_in_force() == TimeInForce::Ioc;
        let Some(price) = price else {
            if ioc {
                let reason = "ioc: not fillable on the first bar".to_owned();
                events.push(self.close(w.record.order.clone(), OrderStatus::Cancelled, reason)?);
            } else if w.triggered && !was_triggered {
                // Triggered without a fill: the order's state changed all the same.
                self.record(&w.record.order, None);
            }
            return Ok(!ioc);
        };
        let mut quantity = w.record.order.remaining();
        if let Some(share) = self.config.participation {
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let cap_units = (bar.volume().to_f64() * share).floor() as i128;
            let cap = Quantity::from_units(cap_units.max(0)).unwrap_or(Quantity::ZERO);
            quantity = quantity.min(cap);
        }
        if quantity.is_positive() {
            let commission = self.commission(quantity, price, w.commission_charged)?;
            let fill = Fill::try_new(
                order_id,
                symbol,
                side,
                quantity,
                price,
                commission,
                bar.ts_event(),
            )?;
            // A buy the cash cannot pay for any more is cancelled rather than overdrawn.
            if side == Side::Buy && !self.affordable(&fill, portfolio)? {
                let reason = format!("insufficient cash at fill: {quantity} {symbol} at {price}");
                events.push(self.close(w.record.order.clone(), OrderStatus::Cancelled, reason)?);
                return Ok(false);
            }
            let (realized, before) = portfolio.apply_fill_held(&fill)?;
            w.record.order.apply_fill(&fill)?;
            w.commission_charged = true;
            events.push(BrokerEvent::Filled(fill, before, realized));
        }
        if ioc && w.record.order.status() != OrderStatus::Filled {
            let reason = "ioc: remainder cancelled after the first bar".to_owned();
            events.push(self.close(w.record.order.clone(), OrderStatus::Cancelled, reason)?);
            return Ok(false);
        }
        self.record(&w.record.order, None);
        Ok(w.record.order.status() != OrderStatus::Filled)
    }

    fn affordable(&self, fill: &Fill, portfolio: &Portfolio) -> Result<bool, ModelError> {
        let cost = fill
            .price()
            .checked_mul_qty(fill.quantity())?
            .checked_add(fill.commission())?;
        Ok(cost <= self.buying_power(portfolio)?)
    }

    /// Cash, plus `(margin - 1) × equity` when margin is on.
    fn buying_power(&self, portfolio: &Portfolio) -> Result<Money, ModelError> {
        if self.config.margin <= 1.0 {
            return Ok(portfolio.cash());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let extra = (portfolio.equity()?.raw() as f64 * (self.config.margin - 1.0)) as i128;
        portfolio.cash().checked_add(Money::from_raw(extra))
    }

    /// Fills at `price` closing the whole position in `symbol` (flatten at the close).
    pub(crate) fn flatten(
        &mut self,
        id: OrderId,
        symbol: Symbol,
        price: Price,
        now: Timestamp,
        portfolio: &mut Portfolio,
    ) -> Result<Vec<BrokerEvent>, ModelError> {
        let held = portfolio.position(symbol);
        if held.is_zero() {
            return Ok(Vec::new());
        }
        let side = if held.is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        let quantity = held.checked_abs()?;
        let mut order = Order::try_new(
            id,
            symbol,
            side,
            OrderType::Market,
            TimeInForce::Day,
            quantity,
            now,
        )?;
        order.transition(OrderStatus::Accepted)?;
        let fill = Fill::try_new(
            id,
            symbol,
            side,
            quantity,
            self.slip(side, price, None),
            self.commission(quantity, price, false)?,
            now,
        )?;
        let realized = portfolio.apply_fill(&fill)?;
        order.apply_fill(&fill)?;
        let accepted = BrokerEvent::Accepted(order.clone());
        self.record(&order, Some("flatten at the close".to_owned()));
        Ok(vec![accepted, BrokerEvent::Filled(fill, held, realized)])
    }

    /// The close of a trading day: day orders submitted before it expire.
    pub(crate) fn end_day(&mut self, close: Timestamp) -> Result<Vec<BrokerEvent>, ModelError> {
        let expiring: Vec<Working> = self
            .working
            .extract_if(.., |w| {
                w.record.order.time_in_force() == TimeInForce::Day
                    && w.record.order.ts_init() < close
            })
            .collect();
        let mut events = Vec::new();
        for w in expiring {
            let reason = "day order expired at the close".to_owned();
            events.push(self.close(w.record.order, OrderStatus::Expired, reason)?);
        }
        Ok(events)
    }
}

/// Whether a bar reaches a stop: a buy stop at or below the high, a sell stop at or above the
/// low.
fn through_stop(side: Side, stop: Price, high: Price, low: Price) -> bool {
    match side {
        Side::Buy => high >= stop,
        Side::Sell => low <= stop,
    }
}
