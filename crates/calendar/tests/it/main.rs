//! Calendar checks against facts from outside the code: the `exchange_calendars` fixtures and
//! the real minute bars in the shared data set.

mod fixtures;
mod real_data;
