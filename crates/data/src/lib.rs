//! Market data for openbell: the Parquet bar store, imports with validation, derived bars, the
//! quality ledger, dataset fingerprints and generated sample data.
//!
//! The engine reads all of its history through [`BarStore`]. Bars are kept exactly as imported
//! and validated; gaps stay gaps and are reported by the quality ledger, never filled.

mod decimal;
mod error;
mod generate;
mod import;
mod partition;
mod quality;
mod resample;
mod store;

pub use crate::error::DataError;
pub use crate::generate::{GenerateOptions, GenerateReport, generate};
pub use crate::import::{
    ImportOptions, ImportReport, ProgressFn, Reason, Rejection, SessionFilter, Stamp, import_files,
};
pub use crate::partition::SCHEMA_VERSION;
pub use crate::quality::{DayCounts, DayQuality, ledger};
pub use crate::resample::{ResampleReport, resample_series};
pub use crate::store::{BarBatches, BarStore, Fingerprint, MergeStats, PlannedFile, SeriesInfo};
