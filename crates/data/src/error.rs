//! The data crate's error type.

use std::path::PathBuf;

/// An error from the bar store, an import, or the quality ledger.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "writing".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("parquet {path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A stored file is not an openbell bar file of a version this build reads.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The arguments of an import, read or resample do not make sense together.
    #[error("{0}")]
    Invalid(String),
    /// A strict import found rejected rows; nothing was written.
    #[error("{file}: {rejected} row(s) rejected; --strict imports nothing (first: {first})")]
    StrictRejected {
        /// The file.
        file: String,
        /// How many rows were rejected.
        rejected: u64,
        /// The first rejection, as `line N: reason`.
        first: String,
    },
    /// A calendar query failed.
    #[error(transparent)]
    Calendar(#[from] openbell_calendar::CalendarError),
    /// Resampling failed.
    #[error(transparent)]
    Resample(#[from] openbell_calendar::ResampleError),
    /// A domain value was out of range.
    #[error(transparent)]
    Model(#[from] openbell_model::ModelError),
}

impl DataError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Self {
        let path = path.into();
        move |e| Self::Parquet {
            path,
            message: e.to_string(),
        }
    }
}
