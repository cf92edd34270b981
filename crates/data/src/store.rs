//! [`BarStore`]: the folder of Parquet files that holds every bar.
//!
//! ```text
//! <root>/bars/<interval>/<SYMBOL>/<year>.parquet   bars, one file per UTC year (see partition.rs)
//! <root>/bars/<interval>/<SYMBOL>/series.json      the series' exchange calendar
//! <root>/bars/<interval>/<SYMBOL>/imports.json     per-import row counts for the quality ledger
//! ```
//!
//! A symbol's folder name escapes every character other than `A-Z 0-9 _ -` as `%XX` (`BRK.B` is
//! `BRK%2EB`, `EUR/USD` is `EUR%2FUSD`), so no symbol can name a path outside its folder.
//!
//! Reading one symbol's bars for a date range opens only the years it spans and, within them,
//! decodes only the monthly row groups that overlap it. Writes merge with what is stored (a
//! bar at an existing timestamp replaces it) under an exclusive lock on the series, and every
//! file is replaced atomically.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::Datelike;
use openbell_model::{Bar, Interval, Symbol, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DataError;
use crate::partition::{self, Batches, PartitionReader};

/// How a write changed the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MergeStats {
    /// Bars at timestamps the store did not have.
    pub added: u64,
    /// Bars that replaced a stored bar with different values.
    pub replaced: u64,
    /// Bars identical to what was stored.
    pub unchanged: u64,
}

impl MergeStats {
    pub(crate) fn absorb(&mut self, other: Self) {
        self.added += other.added;
        self.replaced += other.replaced;
        self.unchanged += other.unchanged;
    }
}

/// One stored series, as listed by [`BarStore::series`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesInfo {
    /// The symbol.
    pub symbol: Symbol,
    /// The bar interval.
    pub interval: Interval,
    /// The exchange calendar code the series was stored with.
    pub exchange: String,
    /// The first bar's open time.
    pub first: Option<Timestamp>,
    /// The last bar's open time.
    pub last: Option<Timestamp>,
    /// How many bars are stored.
    pub bars: u64,
    /// Bytes on disk of the series' Parquet files.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeriesMeta {
    symbol: String,
    interval: String,
    exchange: String,
}

/// One file of a [`BarStore::read_plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The partition file.
    pub path: PathBuf,
    /// The row groups that will be decoded.
    pub row_groups: Vec<usize>,
    /// How many row groups the file has.
    pub total_row_groups: usize,
}

/// A stable hash of the bars a query returns; sessions record it to be re-runnable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    /// `sha256:` and the hex digest.
    pub digest: String,
    /// How many bars were hashed.
    pub bars: u64,
}

/// The bar store rooted at a folder.
#[derive(Debug, Clone)]
pub struct BarStore {
    root: PathBuf,
}

/// Escapes a symbol for use as a folder name.
fn escape(symbol: Symbol) -> String {
    let mut out = String::with_capacity(symbol.as_str().len());
    for c in symbol.as_str().chars() {
        if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        }
    }
    out
}

fn year_of(ts: Timestamp) -> i32 {
    ts.to_utc().year()
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, DataError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DataError::Format {
                path: path.to_owned(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::io("reading", path)(e)),
    }
}

/// Writes JSON atomically: temporary file, sync, rename.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), DataError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| DataError::Invalid(e.to_string()))?;
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(DataError::io("writing", path))
}

impl BarStore {
    /// Opens (creating if needed) the store at `root`.
    ///
    /// # Errors
    /// [`DataError::Io`] when the folder cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, DataError> {
        let root = root.into();
        std::fs::create_dir_all(root.join("bars")).map_err(DataError::io("creating", &root))?;
        Ok(Self { root })
    }

    /// The store's folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn series_dir(&self, symbol: Symbol, interval: Interval) -> PathBuf {
        self.root
            .join("bars")
            .join(interval.to_string())
            .join(escape(symbol))
    }

    fn partition_path(&self, symbol: Symbol, interval: Interval, year: i32) -> PathBuf {
        self.series_dir(symbol, interval)
            .join(format!("{year}.parquet"))
    }

    /// Holds an exclusive lock on a series while its files are rewritten, so two writers never
    /// interleave a read-merge-write.
    pub(crate) fn lock(&self, symbol: Symbol, interval: Interval) -> Result<File, DataError> {
        let dir = self.series_dir(symbol, interval);
        std::fs::create_dir_all(&dir).map_err(DataError::io("creating", &dir))?;
        let path = dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(DataError::io("opening", &path))?;
        file.lock().map_err(DataError::io("locking", &path))?;
        Ok(file)
    }

    /// The exchange calendar code a series was stored with, if the series exists.
    ///
    /// # Errors
    /// [`DataError`] when `series.json` cannot be read.
    pub fn exchange(
        &self,
        symbol: Symbol,
        interval: Interval,
    ) -> Result<Option<String>, DataError> {
        let meta: Option<SeriesMeta> =
            read_json(&self.series_dir(symbol, interval).join("series.json"))?;
        Ok(meta.map(|m| m.exchange))
    }

    /// Merges `bars` (one symbol and interval, in strictly increasing time order) into the
    /// store. A bar at a stored timestamp replaces the stored one. Files that would not change
    /// are not rewritten, so writing the same bars twice leaves the store byte for byte as it
    /// was.
    ///
    /// # Errors
    /// [`DataError::Invalid`] for mixed or unordered bars, or a series stored with another
    /// exchange; IO and Parquet errors otherwise (files already replaced stay valid).
    pub fn write(&self, exchange: &str, bars: &[Bar]) -> Result<MergeStats, DataError> {
        let Some(first) = bars.first() else {
            return Ok(MergeStats::default());
        };
        let (symbol, interval) = (first.symbol(), first.interval());
        for pair in bars.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if b.symbol() != symbol || b.interval() != interval {
                return Err(DataError::Invalid(format!(
                    "one write holds one series: {symbol} {interval} and {} {}",
                    b.symbol(),
                    b.interval()
                )));
            }
            if b.ts_event() <= a.ts_event() {
                return Err(DataError::Invalid(format!(
                    "{symbol} {interval}: bars must be in increasing time order ({} then {})",
                    a.ts_event(),
                    b.ts_event()
                )));
            }
        }
        let _lock = self.lock(symbol, interval)?;
        let meta_path = self.series_dir(symbol, interval).join("series.json");
        let mut meta_missing = match read_json::<SeriesMeta>(&meta_path)? {
            Some(meta) if meta.exchange != exchange => {
                return Err(DataError::Invalid(format!(
                    "{symbol} {interval} is stored on the {} calendar, not {exchange}",
                    meta.exchange
                )));
            }
            Some(_) => false,
            None => true,
        };
        let mut stats = MergeStats::default();
        for year_bars in bars.chunk_by(|a, b| year_of(a.ts_event()) == year_of(b.ts_event())) {
            let year = year_of(year_bars[0].ts_event());
            let path = self.partition_path(symbol, interval, year);
            let existing = if path.exists() {
                self.read_file(&path)?
            } else {
                Vec::new()
            };
            let (merged, year_stats) = merge(&existing, year_bars);
            if year_stats.added + year_stats.replaced > 0 {
                // The series is listed from its metadata, written once its first file is.
                partition::write(&path, &merged)?;
                if meta_missing {
                    let meta = SeriesMeta {
                        symbol: symbol.to_string(),
                        interval: interval.to_string(),
                        exchange: exchange.to_owned(),
                    };
                    write_json(&meta_path, &meta)?;
                    meta_missing = false;
                }
            }
            stats.absorb(year_stats);
        }
        Ok(stats)
    }

    fn read_file(&self, path: &Path) -> Result<Vec<Bar>, DataError> {
        let mut batches = PartitionReader::open(path)?.batches(Timestamp::MIN, Timestamp::MAX)?;
        let mut out = Vec::with_capacity(batches.rows());
        while let Some(batch) = batches.next_into(&mut out) {
            batch?;
        }
        Ok(out)
    }

    fn years(&self, symbol: Symbol, interval: Interval) -> Result<Vec<(i32, PathBuf)>, DataError> {
        let dir = self.series_dir(symbol, interval);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(DataError::io("listing", &dir)(e)),
        };
        let mut years: Vec<(i32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let year = name.strip_suffix(".parquet")?.parse().ok()?;
                Some((year, e.path()))
            })
            .collect();
        years.sort();
        Ok(years)
    }

    /// Streams the bars of `symbol` at `interval` with `start <= ts_event < end`, in time
    /// order, one decoded batch at a time.
    ///
    /// # Errors
    /// IO and format errors for the first file; later ones come through the iterator.
    pub fn read(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<BarBatches, DataError> {
        let first_year = year_of(start);
        let last_year = year_of(Timestamp::from_nanos(end.as_nanos().saturating_sub(1)));
        let files = self
            .years(symbol, interval)?
            .into_iter()
            .filter(|(y, _)| (first_year..=last_year).contains(y))
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .into_iter();
        Ok(BarBatches {
            files,
            current: None,
            start,
            end,
        })
    }

    /// Which files and row groups [`BarStore::read`] decodes for the same arguments: how the
    /// partitioning keeps a date-range read small.
    ///
    /// # Errors
    /// IO and format errors.
    pub fn read_plan(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<PlannedFile>, DataError> {
        let mut plan = Vec::new();
        for path in self.read_files(symbol, interval, start, end)? {
            let reader = PartitionReader::open(&path)?;
            let row_groups = reader.groups_in(start, end);
            plan.push(PlannedFile {
                total_row_groups: reader.row_group_count(),
                row_groups,
                path,
            });
        }
        Ok(plan)
    }

    /// The files holding `symbol`'s `interval` bars in `[start, end)`, oldest first.
    ///
    /// # Errors
    /// IO errors listing the series.
    pub fn files_for(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<PathBuf>, DataError> {
        self.read_files(symbol, interval, start, end)
    }

    /// `sha256:` and the digest over a versioned header, then each file's path relative to the
    /// store and its bytes, in path order: what a session read, identified without decoding
    /// it. Stored files are written deterministically, so equal bars give equal digests.
    ///
    /// # Errors
    /// IO errors reading a file.
    pub fn files_digest<'p>(
        &self,
        files: impl IntoIterator<Item = &'p PathBuf>,
    ) -> Result<String, DataError> {
        let mut files: Vec<&PathBuf> = files.into_iter().collect();
        files.sort();
        files.dedup();
        let mut hasher = Sha256::new();
        hasher.update(b"openbell-files-v1\n");
        for path in files {
            let relative = path.strip_prefix(&self.root).unwrap_or(path);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update(b"\n");
            let bytes = std::fs::read(path).map_err(DataError::io("reading", path.as_path()))?;
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("sha256:{hex}"))
    }

    fn read_files(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<PathBuf>, DataError> {
        let first_year = year_of(start);
        let last_year = year_of(Timestamp::from_nanos(end.as_nanos().saturating_sub(1)));
        Ok(self
            .years(symbol, interval)?
            .into_iter()
            .filter(|(y, _)| (first_year..=last_year).contains(y))
            .map(|(_, p)| p)
            .collect())
    }

    /// All bars of the range in one vector (for small ranges and tests).
    ///
    /// # Errors
    /// As [`BarStore::read`].
    pub fn read_vec(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Bar>, DataError> {
        let mut out = Vec::new();
        self.read(symbol, interval, start, end)?
            .read_into(&mut out)?;
        Ok(out)
    }

    /// Every stored series with its range, count and size, sorted by symbol then interval.
    ///
    /// # Errors
    /// IO and format errors.
    pub fn series(&self) -> Result<Vec<SeriesInfo>, DataError> {
        let bars_dir = self.root.join("bars");
        let intervals =
            std::fs::read_dir(&bars_dir).map_err(DataError::io("listing", &bars_dir))?;
        let mut out = Vec::new();
        for interval_dir in intervals.filter_map(Result::ok) {
            for (symbol, interval, meta) in Self::listed(&interval_dir.path())? {
                out.push(self.info(symbol, interval, meta.exchange)?);
            }
        }
        out.sort_by_key(|s| (s.symbol, s.interval));
        Ok(out)
    }

    /// The symbols with a stored `interval` series, sorted: the series' descriptions only, no
    /// bar file opened.
    ///
    /// # Errors
    /// IO and format errors reading a series' description.
    pub fn symbols(&self, interval: Interval) -> Result<Vec<Symbol>, DataError> {
        let dir = self.root.join("bars").join(interval.to_string());
        let mut out: Vec<Symbol> = Self::listed(&dir)?
            .into_iter()
            .filter(|(_, iv, _)| *iv == interval)
            .map(|(symbol, _, _)| symbol)
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The series described in one interval folder (none if it cannot be listed).
    fn listed(interval_dir: &Path) -> Result<Vec<(Symbol, Interval, SeriesMeta)>, DataError> {
        let Ok(entries) = std::fs::read_dir(interval_dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for series_dir in entries.filter_map(Result::ok) {
            let meta_path = series_dir.path().join("series.json");
            let Some(meta) = read_json::<SeriesMeta>(&meta_path)? else {
                continue;
            };
            let bad = |m: String| DataError::Format {
                path: meta_path.clone(),
                message: m,
            };
            let symbol = Symbol::parse(&meta.symbol).map_err(|e| bad(e.to_string()))?;
            let interval: Interval = meta
                .interval
                .parse()
                .map_err(|e: openbell_model::ModelError| bad(e.to_string()))?;
            out.push((symbol, interval, meta));
        }
        Ok(out)
    }

    fn info(
        &self,
        symbol: Symbol,
        interval: Interval,
        exchange: String,
    ) -> Result<SeriesInfo, DataError> {
        let mut info = SeriesInfo {
            symbol,
            interval,
            exchange,
            first: None,
            last: None,
            bars: 0,
            bytes: 0,
        };
        for (_, path) in self.years(symbol, interval)? {
            let file = PartitionReader::open(&path)?.info();
            info.bars += file.rows;
            info.first = info.first.or(file.first);
            info.last = file.last.or(info.last);
            info.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        }
        Ok(info)
    }

    /// The fingerprint of the bars [`BarStore::read`] returns for the same arguments: SHA-256
    /// over a versioned header (symbol, interval) and each bar's open time and raw fixed-point
    /// values, little-endian. It changes if and only if the bars do.
    ///
    /// # Errors
    /// As [`BarStore::read`].
    pub fn fingerprint(
        &self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Fingerprint, DataError> {
        let mut hasher = Sha256::new();
        hasher.update(format!("openbell-bars-v1\n{symbol}\n{interval}\n").as_bytes());
        let mut count = 0;
        for batch in self.read(symbol, interval, start, end)? {
            for bar in batch? {
                hasher.update(bar.ts_event().as_nanos().to_le_bytes());
                for v in [
                    bar.open().raw(),
                    bar.high().raw(),
                    bar.low().raw(),
                    bar.close().raw(),
                    bar.volume().raw(),
                ] {
                    hasher.update(v.to_le_bytes());
                }
                count += 1;
            }
        }
        let digest = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Ok(Fingerprint {
            digest: format!("sha256:{digest}"),
            bars: count,
        })
    }
}

/// Merges sorted `new` into sorted `old`; `new` wins on equal timestamps.
fn merge(old: &[Bar], new: &[Bar]) -> (Vec<Bar>, MergeStats) {
    let mut stats = MergeStats::default();
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.ts_event() == n.ts_event() => {
                if o == n {
                    stats.unchanged += 1;
                } else {
                    stats.replaced += 1;
                }
                out.push(*n);
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.ts_event() < n.ts_event() => {
                out.push(*o);
                i += 1;
            }
            (Some(o), None) => {
                out.push(*o);
                i += 1;
            }
            (_, Some(n)) => {
                stats.added += 1;
                out.push(*n);
                j += 1;
            }
            (None, None) => break,
        }
    }
    (out, stats)
}

/// Batches of bars streamed from a series' files; see [`BarStore::read`].
pub struct BarBatches {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<Batches>,
    start: Timestamp,
    end: Timestamp,
}

impl BarBatches {
    /// Decodes the next batch that has bars in range, appending them to `out`; `None` after
    /// the last file. With `whole`, `out` is to take every remaining bar, and each file's rows
    /// are reserved in it as the file is opened.
    fn next_into(&mut self, out: &mut Vec<Bar>, whole: bool) -> Option<Result<(), DataError>> {
        loop {
            if let Some(batches) = self.current.as_mut() {
                match batches.next_into(out) {
                    Some(item) => return Some(item),
                    None => self.current = None,
                }
            }
            let path = self.files.next()?;
            match PartitionReader::open(&path).and_then(|r| r.batches(self.start, self.end)) {
                Ok(batches) => {
                    if whole {
                        out.reserve(batches.rows());
                    }
                    self.current = Some(batches);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Decodes every remaining bar straight into `out`, without a vector per batch.
    ///
    /// # Errors
    /// The first IO or format error.
    pub fn read_into(mut self, out: &mut Vec<Bar>) -> Result<(), DataError> {
        while let Some(batch) = self.next_into(out, true) {
            batch?;
        }
        Ok(())
    }
}

impl Iterator for BarBatches {
    type Item = Result<Vec<Bar>, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut bars = Vec::new();
        self.next_into(&mut bars, false).map(|r| r.map(|()| bars))
    }
}
