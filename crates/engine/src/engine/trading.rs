//! The strategy, its broker and portfolio: hooks, orders, fills, equity and the report.

use chrono::NaiveDate;
use openbell_calendar::TradingDay;
use openbell_model::{Bar, Fill, Interval, Money, OrderId, Price, Signal, Symbol, Timestamp};
use tracing::warn;

use super::{Engine, EngineError};
use crate::broker::{Broker, BrokerConfig, BrokerEvent, OrderRecord, RiskConfig};
use crate::event::Event;
use crate::performance::{EquityStats, MetricInputs, Performance, Trade, TradeBook, performance};
use crate::portfolio::Portfolio;
use crate::session_data::{SessionData, SymbolData};
use crate::strategy::{Command, Context, Strategy};

/// A strategy with its broker and portfolio, and the record of what they did.
pub(super) struct Trading<'a> {
    pub(super) strategy: &'a mut dyn Strategy,
    /// Intervals whose bars the strategy receives.
    pub(super) intervals: Vec<Interval>,
    /// Whether the base interval is one of them (asked on every base bar).
    pub(super) base_subscribed: bool,
    pub(super) broker: Broker,
    pub(super) portfolio: Portfolio,
    pub(super) trades: TradeBook,
    /// Equity at every delivery time, with whether a position was open; none once records
    /// are off ([`Engine::without_records`]).
    pub(super) equity: Option<Vec<(Timestamp, Money, bool)>>,
    /// Statistics of the equity records.
    pub(super) equity_stats: EquityStats,
    /// Closing equity of every trading day.
    pub(super) daily: Vec<(NaiveDate, Money)>,
    pub(super) commands: Vec<Command>,
    pub(super) next_order: u64,
    pub(super) next_signal: u64,
    /// Buffers reused from one order to the next, so the order path does not allocate once
    /// the session is under way.
    scratch: Scratch,
}

/// The trading path's reusable buffers; each is empty between uses.
#[derive(Default)]
struct Scratch {
    /// What the broker did on a bar.
    broker: Vec<BrokerEvent>,
    /// Fills to show the strategy once their events are out.
    fills: Vec<Fill>,
}

impl Trading<'_> {
    /// Calls a strategy hook with a context at clock `now` (while a bar of the symbol in
    /// `slot` is delivered, if any); says whether it left anything to carry out.
    #[inline(always)]
    fn call(
        &mut self,
        f: impl FnOnce(&mut dyn Strategy, &mut Context<'_>),
        now: Timestamp,
        data: &SessionData,
        numbers: &openbell_model::SymbolMap<usize>,
        slot: Option<usize>,
    ) -> bool {
        let mut ctx = Context {
            now,
            data,
            numbers,
            current: slot.and_then(|slot| data.symbols.get(slot)),
            portfolio: &self.portfolio,
            broker: &self.broker,
            commands: &mut self.commands,
            next_order: &mut self.next_order,
            next_signal: &mut self.next_signal,
        };
        f(&mut *self.strategy, &mut ctx);
        // Most hooks ask for nothing and finish no order: that check stays inline.
        !self.commands.is_empty() || self.broker.has_finished()
    }

    /// The performance metrics of what has been recorded so far.
    fn metrics(&self) -> Performance {
        let daily: Vec<Money> = self.daily.iter().map(|(_, m)| *m).collect();
        performance(&MetricInputs {
            initial: self.portfolio.initial_cash(),
            equity: &self.equity_stats,
            daily: &daily,
            trades: self.trades.stats(),
            traded: self.portfolio.traded_notional(),
            commissions: self.portfolio.commissions(),
        })
    }
}

/// What a trading session did: its orders, round trips, equity, portfolio and metrics. After
/// [`Engine::without_records`], the orders are the working ones and the round trips and
/// equity are empty; the metrics cover the whole session either way.
#[derive(Debug)]
pub struct TradingReport<'r> {
    /// Every order with how it ended.
    pub orders: Vec<&'r OrderRecord>,
    /// Closed round trips.
    pub trades: &'r [Trade],
    /// Equity at every delivery time, with whether a position was open.
    pub equity: &'r [(Timestamp, Money, bool)],
    /// Closing equity of every trading day.
    pub daily: &'r [(NaiveDate, Money)],
    /// The portfolio at the end.
    pub portfolio: &'r Portfolio,
    /// Performance metrics.
    pub metrics: Performance,
}

/// [`TradingReport`], owned: what [`Engine::into_report`] hands over.
#[derive(Debug)]
pub struct OwnedTradingReport {
    /// Every order with how it ended, by id.
    pub orders: Vec<OrderRecord>,
    /// Closed round trips.
    pub trades: Vec<Trade>,
    /// Equity at every delivery time, with whether a position was open.
    pub equity: Vec<(Timestamp, Money, bool)>,
    /// Closing equity of every trading day.
    pub daily: Vec<(NaiveDate, Money)>,
    /// Equity at the end.
    pub final_equity: Money,
    /// The portfolio at the end.
    pub portfolio: Portfolio,
    /// Performance metrics.
    pub metrics: Performance,
}

impl<'a> Engine<'a> {
    /// Trades `strategy` through a simulated broker with `broker` and `risk` settings.
    #[must_use]
    pub fn with_strategy(
        mut self,
        strategy: &'a mut dyn Strategy,
        broker: BrokerConfig,
        risk: RiskConfig,
    ) -> Self {
        let mut intervals = strategy.intervals();
        if intervals.is_empty() {
            intervals.push(self.config.base_interval);
        }
        let portfolio = Portfolio::new(broker.initial_cash, broker.lots);
        let equity_stats = EquityStats::new(portfolio.initial_cash());
        let base_subscribed = intervals.contains(&self.config.base_interval);
        self.trading = Some(Trading {
            strategy,
            intervals,
            base_subscribed,
            broker: Broker::new(broker, risk),
            portfolio,
            trades: TradeBook::default(),
            equity: Some(Vec::new()),
            equity_stats,
            daily: Vec::new(),
            commands: Vec::new(),
            next_order: 0,
            next_signal: 0,
            scratch: Scratch::default(),
        });
        self
    }

    /// Keeps no record that grows with the session: finished orders, closed round trips and
    /// equity reach the sink as events ([`Event::OrderFinished`], [`Event::TradeClosed`],
    /// [`Event::Equity`]) and are not kept for [`Engine::report`], which then holds the
    /// working orders and the metrics, computed over the whole session as before.
    #[must_use]
    pub fn without_records(mut self) -> Self {
        if let Some(t) = self.trading.as_mut() {
            t.broker.forget_finished();
            t.trades = TradeBook::forgetting();
            t.equity = None;
        }
        self
    }

    /// What the strategy did, once a trading session has run.
    #[must_use]
    pub fn report(&self) -> Option<TradingReport<'_>> {
        let t = self.trading.as_ref()?;
        Some(TradingReport {
            orders: t.broker.records().collect(),
            trades: t.trades.closed(),
            equity: t.equity.as_deref().unwrap_or_default(),
            daily: &t.daily,
            portfolio: &t.portfolio,
            metrics: t.metrics(),
        })
    }

    /// Ends the engine and hands over what the strategy did, without copying it.
    #[must_use]
    pub fn into_report(self) -> Option<OwnedTradingReport> {
        let t = self.trading?;
        let metrics = t.metrics();
        let final_equity = t.portfolio.equity().ok()?;
        Some(OwnedTradingReport {
            orders: t.broker.into_records(),
            trades: t.trades.into_closed(),
            equity: t.equity.unwrap_or_default(),
            daily: t.daily,
            final_equity,
            portfolio: t.portfolio,
            metrics,
        })
    }

    /// Calls a strategy hook with a context at the clock, then carries out what it asked.
    pub(super) fn hook(
        &mut self,
        f: impl FnOnce(&mut dyn Strategy, &mut Context<'_>),
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        if t.call(f, now, &self.data, &self.numbers, None) {
            self.apply_commands(None)?;
        }
        Ok(())
    }

    /// Carries out the strategy's signals, orders and cancels, in the order it made them,
    /// each event out as it happens, then reports the orders that finished. `slot` is the
    /// symbol whose bar the hook received, if any: its orders find its data without a lookup.
    #[inline(never)]
    fn apply_commands(&mut self, slot: Option<usize>) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Self {
            trading, data, out, ..
        } = self;
        let Some(t) = trading.as_mut() else {
            return Ok(());
        };
        // The buffer goes back once emptied: no hook runs in between to need it.
        let mut commands = std::mem::take(&mut t.commands);
        // Read in place (a command is large), the reason taken out of each signal.
        for command in &mut commands {
            match command {
                Command::Signal {
                    id,
                    symbol,
                    side,
                    strength,
                    reason,
                } => match Signal::try_new(
                    *id,
                    *symbol,
                    *side,
                    *strength,
                    std::mem::take(reason),
                    now,
                ) {
                    Ok(signal) => out.emit(&Event::Signal { signal, ts: now }, now, data),
                    Err(e) => warn!(clock = %now, error = %e, "signal dropped"),
                },
                &mut Command::Submit(id, ref request) => {
                    let symbol_data = match slot.and_then(|slot| data.symbols.get(slot)) {
                        Some(current) if current.symbol == request.symbol => Some(current),
                        _ => data.symbol(request.symbol),
                    };
                    let last = last_price(symbol_data, &t.portfolio, request.symbol);
                    let held = match symbol_data {
                        Some(d) => t.portfolio.position_hinted(&d.holding, request.symbol),
                        None => t.portfolio.position(request.symbol),
                    };
                    let event = t
                        .broker
                        .submit(id, request, now, last, held, &t.portfolio)?;
                    out.emit(&broker_event(event, now), now, data);
                }
                &mut Command::Cancel(id) => {
                    if let Some(event) = t.broker.cancel(id, "cancelled by the strategy")? {
                        out.emit(&broker_event(event, now), now, data);
                    }
                }
            }
        }
        commands.clear();
        t.commands = commands;
        self.emit_finished();
        Ok(())
    }

    /// Reports the orders that reached their final state.
    fn emit_finished(&mut self) {
        if self
            .trading
            .as_ref()
            .is_none_or(|t| !t.broker.has_finished())
        {
            return;
        }
        let now = self.clock.now();
        let Self {
            trading, data, out, ..
        } = self;
        let Some(t) = trading.as_mut() else {
            return;
        };
        for record in t.broker.take_finished() {
            out.emit(&Event::OrderFinished { record, ts: now }, now, data);
        }
    }

    /// Reports what the broker did (draining `events`): fills move positions and reach the
    /// strategy.
    fn broker_events(&mut self, events: &mut Vec<BrokerEvent>) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Self {
            trading, data, out, ..
        } = self;
        let Some(t) = trading.as_mut() else {
            events.clear();
            return Ok(());
        };
        let mut fills = std::mem::take(&mut t.scratch.fills);
        // Read in place (an event is large); only the rare ones that are not fills are copied.
        for event in events.iter() {
            let &BrokerEvent::Filled(fill, before, realized) = event else {
                out.emit(&broker_event(event.clone(), now), now, data);
                continue;
            };
            let closed = t.trades.record(&fill, before, realized);
            // The position the fill left: the one before it moved by the fill (booked with
            // the same checked sum), without looking the holding up again.
            let quantity = before
                .checked_add(fill.signed_quantity())
                .unwrap_or_else(|_| t.portfolio.position(fill.symbol()));
            out.emit(&Event::OrderFilled { fill, ts: now }, now, data);
            let position = Event::PositionChanged {
                symbol: fill.symbol(),
                quantity,
                realized,
                ts: now,
            };
            out.emit(&position, now, data);
            if let Some(trade) = closed {
                out.emit(&Event::TradeClosed { trade, ts: now }, now, data);
            }
            fills.push(fill);
        }
        events.clear();
        self.emit_finished();
        // The strategy's fill hooks run last; the buffer goes back only after them.
        for fill in &fills {
            self.hook(|s, ctx| s.on_fill(ctx, fill))?;
        }
        fills.clear();
        if let Some(t) = self.trading.as_mut() {
            t.scratch.fills = fills;
        }
        Ok(())
    }

    /// A bar of `slot` reached the session data at `ts`. A base bar is first matched by the
    /// broker and marks its symbol's position; then the strategy sees the bar if it
    /// subscribed to its interval. The usual bar takes one look at the trading state.
    #[inline]
    pub(super) fn trade_bar(
        &mut self,
        slot: usize,
        bar: &Bar,
        ts: Timestamp,
        base: bool,
    ) -> Result<(), EngineError> {
        if base && self.trading.as_ref().is_some_and(|t| t.broker.wants(bar)) {
            self.match_bar(bar)?;
        }
        let Self {
            trading,
            data,
            numbers,
            catching_up,
            ..
        } = self;
        let Some(t) = trading.as_mut() else {
            return Ok(());
        };
        let subscribed = if base {
            if let Some(symbol_data) = data.symbols.get_mut(slot) {
                t.portfolio
                    .mark_hinted(&mut symbol_data.holding, &symbol_data.symbol, bar.close());
            }
            t.base_subscribed
        } else {
            t.intervals.contains(&bar.interval())
        };
        if subscribed
            && !*catching_up
            && t.call(|s, ctx| s.on_bar(ctx, bar), ts, data, numbers, Some(slot))
        {
            self.apply_commands(Some(slot))?;
        }
        Ok(())
    }

    /// The broker matches a base bar its working orders want, and what it did is reported.
    #[inline(never)]
    fn match_bar(&mut self, bar: &Bar) -> Result<(), EngineError> {
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let mut events = std::mem::take(&mut t.scratch.broker);
        t.broker.on_bar(bar, &mut t.portfolio, &mut events)?;
        if !events.is_empty() {
            self.broker_events(&mut events)?;
        }
        if let Some(t) = self.trading.as_mut() {
            t.scratch.broker = events;
        }
        Ok(())
    }

    /// Records the equity after a delivery time (once per time: the close's after the day's
    /// end).
    pub(super) fn record_equity(&mut self, ts: Timestamp) -> Result<(), EngineError> {
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let (equity, open) = t.portfolio.equity_and_open()?;
        let cash = t.portfolio.cash();
        t.equity_stats.add(equity, open);
        if let Some(records) = t.equity.as_mut() {
            records.push((ts, equity, open));
        }
        self.emit(&Event::Equity {
            equity,
            cash,
            open,
            ts,
        });
        Ok(())
    }

    /// The close: optional flattening, day orders expire, the strategy's day-end hook, and
    /// the day's closing equity.
    pub(super) fn trade_day_end(&mut self, day: &TradingDay) -> Result<(), EngineError> {
        let now = self.clock.now();
        let Some(t) = self.trading.as_mut() else {
            return Ok(());
        };
        let mut events = Vec::new();
        if t.broker.config().flatten_at_close {
            let open: Vec<Symbol> = t
                .portfolio
                .holdings()
                .filter(|h| !h.quantity().is_zero())
                .map(crate::portfolio::Holding::symbol)
                .collect();
            for symbol in open {
                if let Some(price) = last_price(self.data.symbol(symbol), &t.portfolio, symbol) {
                    t.next_order += 1;
                    let id = OrderId(t.next_order);
                    events.extend(t.broker.flatten(id, symbol, price, now, &mut t.portfolio)?);
                }
            }
        }
        events.extend(t.broker.end_day(day.close)?);
        self.broker_events(&mut events)?;
        self.hook(|s, ctx| s.on_day_end(ctx))?;
        if let Some(t) = self.trading.as_mut() {
            let equity = t.portfolio.equity()?;
            t.daily.push((day.date, equity));
        }
        self.record_equity(now)
    }
}

/// A symbol's latest price: today's last delivered close (from its session data, if it has
/// any), else the price its position was last marked at.
fn last_price(data: Option<&SymbolData>, portfolio: &Portfolio, symbol: Symbol) -> Option<Price> {
    data.and_then(SymbolData::last_close)
        .or_else(|| portfolio.holding(symbol).and_then(|h| h.last_price()))
}

/// The event for what the broker did.
fn broker_event(event: BrokerEvent, ts: Timestamp) -> Event {
    match event {
        BrokerEvent::Accepted(order) => Event::OrderAccepted { order, ts },
        BrokerEvent::Rejected(order, reason) => Event::OrderRejected { order, reason, ts },
        BrokerEvent::Filled(fill, _, _) => Event::OrderFilled { fill, ts },
        BrokerEvent::Closed(order, reason) => Event::OrderClosed { order, reason, ts },
    }
}
