//! The openbell domain model.
//!
//! Every other crate speaks in these types. They are newtypes with private fields whose only
//! constructors validate their input ("parse, don't validate"): a [`Symbol`] is always well formed,
//! a [`Bar`] always satisfies its OHLC invariants, a [`SessionStatus`] only ever moves along the
//! allowed transitions.
//!
//! Money, prices and quantities are fixed-point integers at one scale ([`fixed::SCALE`]); no
//! floating point is involved in their arithmetic, which is checked and reports overflow instead
//! of wrapping. Floating point enters only through [`Price::to_f64`] and friends, the one named
//! conversion point for indicators and statistics.

mod bar;
mod error;
mod fill;
pub mod fixed;
mod interval;
mod order;
mod order_status;
mod position;
mod session;
mod signal;
mod symbol;
mod timestamp;

pub use bar::{Bar, Ohlcv, RawBar};
pub use error::ModelError;
pub use fill::Fill;
pub use fixed::{Money, Price, Quantity};
pub use interval::Interval;
pub use order::{Order, OrderId, OrderType, Side, TimeInForce};
pub use order_status::OrderStatus;
pub use position::Position;
pub use session::{SessionId, SessionKind, SessionStatus, transition};
pub use signal::{Signal, SignalId};
pub use symbol::{MAX_SYMBOL_LEN, Symbol, SymbolHasher, SymbolHashing, SymbolMap};
pub use timestamp::{NANOS_PER_SECOND, Timestamp};
