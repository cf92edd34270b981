//! What the engine tells its sink. Every event carries the clock time it happened at.

use chrono::NaiveDate;
use openbell_indicators::Output;
use openbell_model::{Bar, Fill, Interval, Money, Order, Quantity, Signal, Symbol, Timestamp};

use crate::broker::OrderRecord;
use crate::performance::Trade;

/// The phases of a trading day, in the order they run (ARCHITECTURE.md, "The trading-day
/// lifecycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// 0: session data cleared, clock moved to the open (from the second day on).
    Reset,
    /// 1: pre-session scans choose the day's symbols from data strictly before the clock.
    PreSessionScan,
    /// 2: symbols registered: trailing history loaded, indicators warmed, quality scored.
    Register,
    /// 3: the day's bar queues loaded.
    Load,
    /// 4: the day activated.
    Activate,
    /// 5: bars streamed in time order.
    Stream,
    /// 6: the day closed: derived bars flushed, metrics and quality recorded.
    EndOfDay,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Self; 7] = [
        Self::Reset,
        Self::PreSessionScan,
        Self::Register,
        Self::Load,
        Self::Activate,
        Self::Stream,
        Self::EndOfDay,
    ];

    /// Its name in records and the API: `reset`, `pre_session_scan`, `register`, `load`,
    /// `activate`, `stream`, `end_of_day`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::PreSessionScan => "pre_session_scan",
            Self::Register => "register",
            Self::Load => "load",
            Self::Activate => "activate",
            Self::Stream => "stream",
            Self::EndOfDay => "end_of_day",
        }
    }
}

/// Why the engine skipped something and went on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// The source failed for one symbol-day (a corrupt or missing file).
    SourceFailed,
    /// A symbol with no bars for the day.
    NoData,
    /// A scanner returned a symbol outside the universe.
    UnknownSymbol,
}

/// An engine event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A trading day began.
    DayStarted {
        /// The session date.
        date: NaiveDate,
        /// The clock (the day's open).
        ts: Timestamp,
    },
    /// A phase began.
    PhaseStarted {
        /// The session date.
        date: NaiveDate,
        /// Which phase.
        phase: Phase,
        /// The clock.
        ts: Timestamp,
    },
    /// A symbol was registered for the day.
    SymbolAdded {
        /// The symbol.
        symbol: Symbol,
        /// Trailing history bars loaded for it (base interval).
        history_bars: usize,
        /// Today's bars it was caught up on (mid-session insertions; 0 before the open).
        caught_up: usize,
        /// The clock.
        ts: Timestamp,
    },
    /// A base or derived bar was delivered.
    Bar {
        /// The bar.
        bar: Bar,
        /// True for bars built by the engine from the base interval.
        derived: bool,
        /// The clock: the bar's close.
        ts: Timestamp,
    },
    /// An indicator produced a value on a delivered bar.
    Indicator {
        /// The symbol.
        symbol: Symbol,
        /// The interval it runs on.
        interval: Interval,
        /// The indicator's label from the config (shared, so emitting costs no allocation).
        label: std::sync::Arc<str>,
        /// Its values.
        output: Output,
        /// The clock.
        ts: Timestamp,
    },
    /// Something was skipped; the session goes on.
    Fault {
        /// The symbol concerned.
        symbol: Symbol,
        /// The session date.
        date: NaiveDate,
        /// What kind of fault.
        kind: FaultKind,
        /// The reason, as text.
        reason: String,
        /// The clock.
        ts: Timestamp,
    },
    /// A scanner ran: everything needed to replay it point in time.
    ScanCompleted {
        /// The scanner's label.
        scanner: String,
        /// The data cutoff: only bars closing at or before it were seen.
        as_of: Timestamp,
        /// Every scored candidate, best first, with its score.
        candidates: Vec<(Symbol, f64)>,
        /// The symbols chosen.
        chosen: Vec<Symbol>,
        /// The clock.
        ts: Timestamp,
    },
    /// A symbol-day's bars were loaded and scored against the calendar.
    Quality {
        /// The symbol.
        symbol: Symbol,
        /// The session date.
        date: NaiveDate,
        /// Bars the calendar expects.
        expected: u32,
        /// Bars present.
        present: u32,
        /// Runs of missing bars, `[start, end)`.
        missing: Vec<(Timestamp, Timestamp)>,
        /// The clock.
        ts: Timestamp,
    },
    /// The strategy emitted a signal.
    Signal {
        /// The signal.
        signal: Signal,
        /// The clock.
        ts: Timestamp,
    },
    /// The broker accepted an order.
    OrderAccepted {
        /// The order.
        order: Order,
        /// The clock.
        ts: Timestamp,
    },
    /// The broker or a risk rule rejected an order.
    OrderRejected {
        /// The order.
        order: Order,
        /// Why.
        reason: String,
        /// The clock.
        ts: Timestamp,
    },
    /// An order filled, in part or whole.
    OrderFilled {
        /// The fill.
        fill: Fill,
        /// The clock.
        ts: Timestamp,
    },
    /// A working order was cancelled or expired.
    OrderClosed {
        /// The order, in its final status.
        order: Order,
        /// Why.
        reason: String,
        /// The clock.
        ts: Timestamp,
    },
    /// An order reached its final state (filled, cancelled, expired or rejected), after the
    /// events that took it there.
    OrderFinished {
        /// The order in its final state, with why it ended.
        record: OrderRecord,
        /// The clock.
        ts: Timestamp,
    },
    /// A round trip closed (flat to flat), after the fill that closed it.
    TradeClosed {
        /// The round trip.
        trade: Trade,
        /// The clock.
        ts: Timestamp,
    },
    /// A position changed after a fill.
    PositionChanged {
        /// The symbol.
        symbol: Symbol,
        /// The signed quantity now held.
        quantity: Quantity,
        /// Profit the fill realized.
        realized: Money,
        /// The clock.
        ts: Timestamp,
    },
    /// The portfolio's value after a delivery time (trading sessions): one per time, the
    /// close's after the day's end.
    Equity {
        /// Cash plus positions at their last prices.
        equity: Money,
        /// Cash.
        cash: Money,
        /// Whether a position was open.
        open: bool,
        /// The clock.
        ts: Timestamp,
    },
    /// A trading day ended.
    DayEnded {
        /// The session date.
        date: NaiveDate,
        /// Base bars delivered that day.
        bars: u64,
        /// The clock (the day's close).
        ts: Timestamp,
    },
    /// The session ended after its last day.
    SessionEnded {
        /// Trading days processed.
        days: u32,
        /// The clock.
        ts: Timestamp,
    },
}

impl Event {
    /// The clock time of the event.
    #[must_use]
    pub const fn ts(&self) -> Timestamp {
        match self {
            Self::DayStarted { ts, .. }
            | Self::PhaseStarted { ts, .. }
            | Self::SymbolAdded { ts, .. }
            | Self::Bar { ts, .. }
            | Self::Indicator { ts, .. }
            | Self::Fault { ts, .. }
            | Self::ScanCompleted { ts, .. }
            | Self::Quality { ts, .. }
            | Self::Signal { ts, .. }
            | Self::OrderAccepted { ts, .. }
            | Self::OrderRejected { ts, .. }
            | Self::OrderFilled { ts, .. }
            | Self::OrderClosed { ts, .. }
            | Self::OrderFinished { ts, .. }
            | Self::TradeClosed { ts, .. }
            | Self::PositionChanged { ts, .. }
            | Self::Equity { ts, .. }
            | Self::DayEnded { ts, .. }
            | Self::SessionEnded { ts, .. } => *ts,
        }
    }

    /// A skipped symbol-day as one line, `DATE SYMBOL: REASON`, for a [`Event::Fault`].
    #[must_use]
    pub fn fault_line(&self) -> Option<String> {
        match self {
            Self::Fault {
                symbol,
                date,
                reason,
                ..
            } => Some(format!("{date} {symbol}: {reason}")),
            _ => None,
        }
    }
}

/// Where events go: the store, files, a progress bar, a live stream, a test's vector.
pub trait EventSink {
    /// Receives one event, in order.
    fn emit(&mut self, event: &Event);

    /// Whether it takes [`Event::Bar`] and [`Event::Indicator`], one per delivered bar and
    /// value. A sink that keeps only the session's record (phases, scans, faults, trading)
    /// says no, and the engine then does not build them. Every other event always comes.
    fn wants_bars(&self) -> bool {
        true
    }
}

/// Keeps every event (tests, small runs).
#[derive(Debug, Default)]
pub struct VecSink(pub Vec<Event>);

impl EventSink for VecSink {
    fn emit(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}

/// Drops every event (benchmarks); it asks for no bar events, so the engine builds none.
#[derive(Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&mut self, _: &Event) {}

    fn wants_bars(&self) -> bool {
        false
    }
}

/// Sees every event together with the session data as it stands at that moment: the read-only
/// view a strategy or scanner gets. It can read only what the engine has delivered.
pub trait Observer {
    /// Called after each event is emitted, with the clock and the session data.
    fn observe(&mut self, event: &Event, now: Timestamp, data: &crate::SessionData);
}
