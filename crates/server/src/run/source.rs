//! The bar store as the engine's `BarSource`, and as the replay [`Feed`] of clock-driven
//! sessions.
//!
//! The engine asks for one symbol-day at a time (history, then the day). Decoding a Parquet row
//! group (a month) for every such request would decode each month twenty times over, so the
//! source keeps the current month of each series decoded and serves days from it. Memory stays
//! at one month per series however long the session.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use openbell_data::BarStore;
use openbell_engine::{BarSlice, BarSource, SourceError};
use openbell_model::{Interval, Symbol, Timestamp};

/// A month of one series, `[start, end)`.
struct Cached {
    start: Timestamp,
    end: Timestamp,
    bars: BarSlice,
    /// Where the last read of the month ended.
    cursor: usize,
}

/// The bar store as a [`BarSource`], one decoded month per series.
pub struct StoreSource<'a> {
    store: &'a BarStore,
    cache: BTreeMap<(Symbol, Interval), Cached>,
    /// Every store file read so far (for the session's data fingerprint).
    files: std::collections::BTreeSet<std::path::PathBuf>,
    /// The store's symbols per interval, listed once: a session sees one universe of "all".
    symbols: BTreeMap<Interval, Vec<Symbol>>,
}

impl<'a> StoreSource<'a> {
    /// A source over `store`.
    #[must_use]
    pub fn new(store: &'a BarStore) -> Self {
        Self {
            store,
            cache: BTreeMap::new(),
            files: std::collections::BTreeSet::new(),
            symbols: BTreeMap::new(),
        }
    }

    /// Decodes the whole UTC months holding `[start, end)`, noting the files they come from.
    fn read_months(
        &mut self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Cached, SourceError> {
        let (month_start, _) = month_bounds(start);
        let (_, month_end) = month_bounds(Timestamp::from_nanos(end.as_nanos().saturating_sub(1)));
        let bars = self
            .store
            .read_vec(symbol, interval, month_start, month_end)
            .map_err(|e| SourceError(e.to_string()))?;
        if let Ok(files) = self
            .store
            .files_for(symbol, interval, month_start, month_end)
        {
            self.files.extend(files);
        }
        Ok(Cached {
            start: month_start,
            end: month_end,
            bars: bars.into(),
            cursor: 0,
        })
    }
}

/// Where a session gets its bars: a [`BarSource`] with a name, that can say which stored
/// data it served (the session's data fingerprint).
///
/// Clock-driven sessions (paper, collect) run the engine on a clock paced against wall time;
/// the engine asks the feed for each symbol-day when the day begins and delivers each bar
/// only when the clock reaches its close. The built-in feed replays the bar store from the
/// session's first day at the config's `[feed] speed`. A network source plugs in here by
/// serving the bars it has received.
pub trait Feed: BarSource {
    /// The feed's name, as records show it (`replay`).
    fn name(&self) -> &str;

    /// The fingerprint of the data it served (for the session's record), so the session can
    /// be run again on the same data.
    ///
    /// # Errors
    /// When the data cannot be read back.
    fn fingerprint(&self) -> Result<String, SourceError>;
}

impl Feed for StoreSource<'_> {
    fn name(&self) -> &str {
        "replay"
    }

    fn fingerprint(&self) -> Result<String, SourceError> {
        self.store
            .files_digest(&self.files)
            .map_err(|e| SourceError(e.to_string()))
    }
}

/// The start of the UTC month containing `ts`, and of the month after `ts`'s month.
pub fn month_bounds(ts: Timestamp) -> (Timestamp, Timestamp) {
    let dt = ts.to_utc();
    let first = NaiveDate::from_ymd_opt(dt.year(), dt.month(), 1).unwrap_or_default();
    let next = if dt.month() == 12 {
        NaiveDate::from_ymd_opt(dt.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(dt.year(), dt.month() + 1, 1)
    }
    .unwrap_or_default();
    let at = |d: NaiveDate| Timestamp::utc_midnight(d).unwrap_or(ts);
    (at(first), at(next))
}

impl BarSource for StoreSource<'_> {
    fn bars(
        &mut self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<BarSlice, SourceError> {
        let key = (symbol, interval);
        if let Some(month) = self.cache.get_mut(&key)
            && month.start <= start
            && end <= month.end
        {
            return Ok(month.bars.between_near(start, end, &mut month.cursor));
        }
        let mut month = self.read_months(symbol, interval, start, end)?;
        let bars = month.bars.between_near(start, end, &mut month.cursor);
        self.cache.insert(key, month);
        Ok(bars)
    }

    fn symbols(&mut self, interval: Interval) -> Result<Vec<Symbol>, SourceError> {
        if let Some(symbols) = self.symbols.get(&interval) {
            return Ok(symbols.clone());
        }
        let symbols = self
            .store
            .symbols(interval)
            .map_err(|e| SourceError(e.to_string()))?;
        self.symbols.insert(interval, symbols.clone());
        Ok(symbols)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use openbell_model::{Bar, Ohlcv, Price, Quantity};

    use super::*;

    fn write(store: &BarStore, symbol: &str) {
        let ohlcv = Ohlcv::flat(
            Price::from_units(10).unwrap(),
            Quantity::from_units(1).unwrap(),
        );
        let at = Timestamp::from_nanos(1_704_205_800_000_000_000);
        let bar = Bar::try_new(Symbol::parse(symbol).unwrap(), Interval::M1, at, ohlcv).unwrap();
        store.write("XNYS", &[bar]).unwrap();
    }

    #[test]
    fn a_session_lists_the_universe_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = BarStore::open(dir.path()).unwrap();
        write(&store, "SPY");
        write(&store, "AAPL");
        let mut source = StoreSource::new(&store);
        let first = source.symbols(Interval::M1).unwrap();
        assert_eq!(first, store.symbols(Interval::M1).unwrap());
        write(&store, "QQQ");
        assert_eq!(source.symbols(Interval::M1).unwrap(), first);
        assert_eq!(
            StoreSource::new(&store)
                .symbols(Interval::M1)
                .unwrap()
                .len(),
            3
        );
    }
}
