//! Where bars come from: the data store in production, memory in tests.

use std::collections::BTreeMap;

use openbell_model::{Bar, Interval, Symbol, Timestamp};

/// A failure to read one series range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A source of bars.
pub trait BarSource {
    /// The bars of `symbol` at `interval` with `start <= ts_event < end`, in time order.
    ///
    /// # Errors
    /// [`SourceError`] when the range cannot be read (a corrupt or missing file); the engine
    /// reports it and skips that symbol for the day.
    fn bars(
        &mut self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Bar>, SourceError>;

    /// Every symbol the source has bars for at `interval`, sorted (a universe of "all").
    ///
    /// # Errors
    /// [`SourceError`] when the source cannot be listed.
    fn symbols(&mut self, interval: Interval) -> Result<Vec<Symbol>, SourceError>;
}

/// The bars of a time-ordered slice with `start <= ts_event < end`.
#[must_use]
pub fn bars_between(bars: &[Bar], start: Timestamp, end: Timestamp) -> &[Bar] {
    let lo = bars.partition_point(|b| b.ts_event() < start);
    let hi = lo + bars[lo..].partition_point(|b| b.ts_event() < end);
    &bars[lo..hi]
}

/// Bars held in memory, by series.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    series: BTreeMap<(Symbol, Interval), Vec<Bar>>,
    failing: Vec<(Symbol, Timestamp, Timestamp)>,
}

impl MemorySource {
    /// An empty source.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bars (each series kept sorted).
    pub fn add(&mut self, bars: impl IntoIterator<Item = Bar>) {
        for bar in bars {
            self.series
                .entry((bar.symbol(), bar.interval()))
                .or_default()
                .push(bar);
        }
        for bars in self.series.values_mut() {
            bars.sort_by_key(Bar::ts_event);
        }
    }

    /// Makes reads of `symbol` overlapping `[start, end)` fail, as a corrupt file would.
    pub fn fail(&mut self, symbol: Symbol, start: Timestamp, end: Timestamp) {
        self.failing.push((symbol, start, end));
    }
}

impl BarSource for MemorySource {
    fn symbols(&mut self, interval: Interval) -> Result<Vec<Symbol>, SourceError> {
        Ok(self
            .series
            .keys()
            .filter(|(_, i)| *i == interval)
            .map(|(s, _)| *s)
            .collect())
    }

    fn bars(
        &mut self,
        symbol: Symbol,
        interval: Interval,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Bar>, SourceError> {
        if self
            .failing
            .iter()
            .any(|(s, a, b)| *s == symbol && *a < end && start < *b)
        {
            return Err(SourceError(format!(
                "{symbol} {interval}: corrupt data between {start} and {end}"
            )));
        }
        let Some(bars) = self.series.get(&(symbol, interval)) else {
            return Ok(Vec::new());
        };
        Ok(bars_between(bars, start, end).to_vec())
    }
}
