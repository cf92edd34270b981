//! The strategy API: hooks the engine calls, and the context a strategy reads and acts through.
//!
//! A strategy reads the session data (only what has been delivered, so nothing beyond the
//! clock) and the portfolio, and acts by emitting signals and submitting or cancelling orders.
//! Its actions are carried out when the hook returns, in the order it made them.

use std::borrow::Cow;

use openbell_model::{
    Bar, Fill, Interval, Money, Order, OrderId, OrderType, Quantity, Side, SignalId, Symbol,
    SymbolMap, TimeInForce, Timestamp,
};

use crate::broker::{Broker, OrderRequest};
use crate::portfolio::Portfolio;
use crate::session_data::{RegisteredIndicator, SessionData};

/// What a strategy asked for during a hook.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Signal {
        id: SignalId,
        symbol: Symbol,
        side: Side,
        strength: f64,
        reason: Cow<'static, str>,
    },
    Submit(OrderId, OrderRequest),
    Cancel(OrderId),
}

/// A strategy's view of the session and its way to act.
pub struct Context<'c> {
    pub(crate) now: Timestamp,
    pub(crate) data: &'c SessionData,
    /// Every symbol the session registered, by number.
    pub(crate) numbers: &'c SymbolMap<usize>,
    /// The session data of the symbol whose bar is being delivered.
    pub(crate) current: Option<&'c crate::session_data::SymbolData>,
    pub(crate) portfolio: &'c Portfolio,
    pub(crate) broker: &'c Broker,
    pub(crate) commands: &'c mut Vec<Command>,
    pub(crate) next_order: &'c mut u64,
    pub(crate) next_signal: &'c mut u64,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Context<'_> {
    /// The clock.
    #[must_use]
    pub const fn now(&self) -> Timestamp {
        self.now
    }

    /// The session data: today's delivered bars, indicators and metrics.
    #[must_use]
    pub const fn data(&self) -> &SessionData {
        self.data
    }

    /// Today's delivered bars of `symbol` at `interval`.
    #[must_use]
    pub fn bars(&self, symbol: Symbol, interval: Interval) -> &[Bar] {
        self.data.bars(symbol, interval)
    }

    /// The number of `symbol` in this session: symbols are numbered from 0 in the order they
    /// were first registered, and keep their number for the whole session, on every day. A
    /// strategy can keep per-symbol state in a `Vec` indexed by it instead of a map keyed by
    /// symbol. `None` for a symbol the session never registered.
    #[inline]
    #[must_use]
    pub fn symbol_number(&self, symbol: Symbol) -> Option<usize> {
        // The bar being delivered is the usual question, answered without a lookup.
        match self.current {
            Some(data) if data.symbol == symbol => Some(data.number),
            _ => self.numbers.get(&symbol).copied(),
        }
    }

    /// The number ([`Context::symbol_number`]) of the symbol whose bar [`Strategy::on_bar`] is
    /// receiving, read without comparing symbols; `None` in the other hooks.
    #[inline]
    #[must_use]
    pub fn bar_symbol_number(&self) -> Option<usize> {
        self.current.map(|data| data.number)
    }

    /// How many symbols the session has registered so far: every
    /// [`Context::symbol_number`] is below it.
    #[must_use]
    pub fn symbols_registered(&self) -> usize {
        self.numbers.len()
    }

    /// The indicator registered on `symbol` under `label`.
    #[must_use]
    pub fn indicator(&self, symbol: Symbol, label: &str) -> Option<&RegisteredIndicator> {
        self.data
            .symbol(symbol)
            .and_then(|s| s.indicators.iter().find(|i| &*i.label == label))
    }

    /// The portfolio: cash, positions, profit.
    #[must_use]
    pub const fn portfolio(&self) -> &Portfolio {
        self.portfolio
    }

    /// Cash now.
    #[must_use]
    pub const fn cash(&self) -> Money {
        self.portfolio.cash()
    }

    /// The signed quantity held of `symbol`.
    #[must_use]
    pub fn position(&self, symbol: Symbol) -> Quantity {
        // The delivered bar's symbol has its holding's place at hand (marked just before).
        match self.current {
            Some(data) if data.symbol == symbol => {
                self.portfolio.position_hinted(&data.holding, symbol)
            }
            _ => self.portfolio.position(symbol),
        }
    }

    /// Orders still working (submitted earlier; this hook's orders are not placed yet).
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.broker.open_orders()
    }

    /// Emits a signal: a view on `symbol` with a strength in `[0, 1]` and a reason (a fixed
    /// text, which costs no allocation, or a `String`).
    pub fn signal(
        &mut self,
        symbol: Symbol,
        side: Side,
        strength: f64,
        reason: impl Into<Cow<'static, str>>,
    ) -> SignalId {
        *self.next_signal += 1;
        let id = SignalId(*self.next_signal);
        self.commands.push(Command::Signal {
            id,
            symbol,
            side,
            strength,
            reason: reason.into(),
        });
        id
    }

    /// Submits an order; the broker checks it when the hook returns (a rejection is an event
    /// with its reason).
    pub fn submit(&mut self, request: OrderRequest) -> OrderId {
        *self.next_order += 1;
        let id = OrderId(*self.next_order);
        self.commands.push(Command::Submit(id, request));
        id
    }

    /// A market order for `quantity` of `symbol`, optionally acting on a signal. It fills at
    /// the open of the symbol's next bar, whenever that comes (good till cancelled), so a
    /// signal on a day's last bar fills at the next open the symbol trades.
    pub fn market(
        &mut self,
        symbol: Symbol,
        side: Side,
        quantity: Quantity,
        signal: Option<SignalId>,
    ) -> OrderId {
        self.submit(OrderRequest {
            symbol,
            side,
            quantity,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            signal,
        })
    }

    /// Acts on a view: a full-strength signal with `reason`, and a market order for
    /// `quantity` linked to it.
    pub fn act(
        &mut self,
        symbol: Symbol,
        side: Side,
        quantity: Quantity,
        reason: impl Into<Cow<'static, str>>,
    ) -> OrderId {
        let signal = self.signal(symbol, side, 1.0, reason);
        self.market(symbol, side, quantity, Some(signal))
    }

    /// Cancels a working order.
    pub fn cancel(&mut self, id: OrderId) {
        self.commands.push(Command::Cancel(id));
    }
}

/// A trading strategy. Every hook has a default that does nothing.
pub trait Strategy {
    /// The intervals whose bars [`Strategy::on_bar`] receives; empty means the base interval.
    fn intervals(&self) -> Vec<Interval> {
        Vec::new()
    }

    /// A trading day is about to stream (its symbols are registered and warmed).
    fn on_day_start(&mut self, _ctx: &mut Context<'_>) {}

    /// A bar of a subscribed interval was delivered (after the broker matched it).
    fn on_bar(&mut self, _ctx: &mut Context<'_>, _bar: &Bar) {}

    /// One of its orders filled (in part or whole).
    fn on_fill(&mut self, _ctx: &mut Context<'_>, _fill: &Fill) {}

    /// A symbol was inserted mid-session, with its history and today's bars up to the clock.
    fn on_symbol_added(&mut self, _ctx: &mut Context<'_>, _symbol: Symbol) {}

    /// The trading day closed (day orders have expired).
    fn on_day_end(&mut self, _ctx: &mut Context<'_>) {}
}
