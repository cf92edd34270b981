//! Running sessions: configs and calendars, the bar store as the engine's source, backtests,
//! and the registry that records them. The command line and the server's runner share it.

pub mod backtest;
pub mod collect;
pub mod config;
pub mod home;
pub mod html;
pub mod registry;
pub mod source;
