//! The openbell session engine: the trading-day lifecycle, chronological multi-symbol
//! streaming, live derived bars and indicators, per-day session data.
//!
//! The engine is pure and synchronous. It reads bars through a [`BarSource`], time from a
//! [`Clock`], and emits every event to an [`EventSink`]. It has no global state: two engines
//! run side by side without touching each other. Same inputs, same events.
//!
//! Each trading day runs the phases of [`Phase`] in order. Day queues are merged with a heap
//! and delivered by close time, then symbol, then interval; the clock reads each bar's close
//! when it is delivered and never passes the day's close. Derived bars come from the calendar
//! crate's [`openbell_calendar::Resampler`], the same code the data store uses offline.
//! Session data is rebuilt from nothing every day and holds only delivered bars, so nothing in
//! it lies beyond the clock.

mod broker;
mod clock;
mod config;
mod engine;
mod event;
mod performance;
mod portfolio;
mod scanner;
mod session_data;
mod source;
mod strategies;
mod strategy;

pub use crate::broker::{
    Broker, BrokerConfig, Commission, OrderRecord, OrderRequest, RiskConfig, Slippage,
};
pub use crate::clock::{Clock, PacedClock, Pacer, SimulatedClock};
pub use crate::config::{ConfigError, EngineConfig, IndicatorSpec, Mode, Universe};
pub use crate::engine::{Engine, EngineError, OwnedTradingReport, Summary, TradingReport};
pub use crate::event::{Event, EventSink, FaultKind, NullSink, Observer, Phase, VecSink};
pub use crate::performance::{
    EquityStats, MetricInputs, Performance, Trade, TradeBook, TradeStats, performance,
};
pub use crate::portfolio::{Holding, LotMethod, Portfolio};
pub use crate::scanner::{Filters, ScanView, Scanner, ScannerKind, ScannerSpec, Schedule};
pub use crate::session_data::{DayQuality, Metrics, RegisteredIndicator, SessionData, SymbolData};
pub use crate::source::{BarSlice, BarSource, MemorySource, RawSlice, SourceError};
pub use crate::strategies::{
    BuyAndHold, Factory, OpeningRangeBreakout, Param, Params, RsiReversion, SmaCross,
    StrategyRegistry, VwapReversion,
};
pub use crate::strategy::{Context, Strategy};
