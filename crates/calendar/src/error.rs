//! The calendar crate's error type.

use std::path::PathBuf;

use chrono::NaiveDate;

/// An error from building or querying a calendar.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// No built-in calendar has this code.
    #[error("unknown exchange {code:?} (built in: {known}; or give a calendar TOML file)")]
    UnknownExchange {
        /// The code as given.
        code: String,
        /// The built-in codes, comma separated.
        known: String,
    },
    /// A date outside the range the calendar is defined for.
    #[error("{calendar} is defined from {first} to {last}; {date} is outside that range")]
    OutOfRange {
        /// The calendar's code.
        calendar: String,
        /// The date asked for.
        date: NaiveDate,
        /// First supported date.
        first: NaiveDate,
        /// Last supported date.
        last: NaiveDate,
    },
    /// A range whose start is after its end.
    #[error("reversed range: from {from} is after to {to}")]
    ReversedRange {
        /// The start as given.
        from: NaiveDate,
        /// The end as given.
        to: NaiveDate,
    },
    /// A custom calendar definition is invalid.
    #[error("calendar {origin}: {message}")]
    Definition {
        /// Where the definition came from (a file path or a label).
        origin: String,
        /// What is wrong, with the key, value and line where known.
        message: String,
    },
    /// A calendar file could not be read.
    #[error("reading calendar file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A computed instant left the timestamp range.
    #[error(transparent)]
    Model(#[from] openbell_model::ModelError),
}
