//! Calendar checks against facts from outside the code: the `exchange_calendars` fixtures and
//! the real minute bars in the shared data set.

// Test helpers outside #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod coverage;
mod fixtures;
mod real_data;
