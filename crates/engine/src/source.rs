//! Where bars come from: the data store in production, memory in tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use openbell_model::{Bar, Interval, RawBar, Symbol, Timestamp};

/// Bars shared with the source that read them: cloning or narrowing one copies no bar, and
/// neither does building one from the vector a source decoded. A source that serves the same
/// bars many times keeps their raw form beside them ([`BarSlice::with_raw`]), which the engine
/// streams a day from without converting it.
#[derive(Clone, Default)]
pub struct BarSlice {
    bars: Arc<Vec<Bar>>,
    /// `bars` in raw form, index for index; none when not kept or when some bar has none.
    raw: Option<Arc<Vec<RawBar>>>,
    start: usize,
    end: usize,
}

impl BarSlice {
    /// All of `bars`.
    #[must_use]
    pub fn new(bars: Arc<Vec<Bar>>) -> Self {
        let end = bars.len();
        Self {
            bars,
            raw: None,
            start: 0,
            end,
        }
    }

    /// All of `bars`, with their raw form kept beside them when every bar has one
    /// ([`RawBar::of`]): each range read from it later shares both.
    #[must_use]
    pub fn with_raw(bars: Vec<Bar>) -> Self {
        let raw = raw_rows(&bars).map(Arc::new);
        Self {
            raw,
            ..Self::new(Arc::new(bars))
        }
    }

    /// The raw form of these bars, shared with the source, when it keeps one.
    #[must_use]
    pub fn raw(&self) -> Option<RawSlice> {
        self.raw.as_ref().map(|rows| RawSlice {
            rows: Arc::clone(rows),
            start: self.start,
            end: self.end,
        })
    }

    /// The bars with `start <= ts_event < end` (time-ordered bars), sharing the same storage.
    #[must_use]
    pub fn between(&self, start: Timestamp, end: Timestamp) -> Self {
        self.between_near(start, end, &mut 0)
    }

    /// As [`BarSlice::between`], searching outward from index `cursor` and leaving it at the
    /// end of the range found. A caller reading consecutive ranges (day after day) keeps one
    /// cursor per slice, and each read then takes a few probes next to the last one instead
    /// of a binary search over the whole slice.
    #[must_use]
    pub fn between_near(&self, start: Timestamp, end: Timestamp, cursor: &mut usize) -> Self {
        let all: &[Bar] = self;
        let lo = first_at_or_after(all, start, *cursor);
        // A series without gaps has one bar per interval in the range: the search for its end
        // starts there, so a whole range costs a few probes at each of its ends.
        let expected = all.get(lo).map_or(0, |b| {
            let step = b.interval().as_nanos().max(1);
            usize::try_from((end.as_nanos().saturating_sub(start.as_nanos())) / step).unwrap_or(0)
        });
        let hi = first_at_or_after(all, end, lo.saturating_add(expected));
        *cursor = hi;
        Self {
            bars: Arc::clone(&self.bars),
            raw: self.raw.clone(),
            start: self.start + lo,
            end: self.start + hi,
        }
    }
}

/// The raw form of every bar, or `None` when a value of some bar does not fit in 64 bits.
fn raw_rows(bars: &[Bar]) -> Option<Vec<RawBar>> {
    let mut rows = Vec::with_capacity(bars.len());
    for bar in bars {
        rows.push(RawBar::of(bar)?);
    }
    Some(rows)
}

/// Bars in raw form ([`RawBar`]), shared with the source that keeps them
/// ([`BarSlice::raw`]), or converted for one day ([`RawSlice::of`]).
#[derive(Clone, Default)]
pub struct RawSlice {
    rows: Arc<Vec<RawBar>>,
    start: usize,
    end: usize,
}

impl RawSlice {
    /// The raw form of `bars`, or `None` when a value of some bar does not fit in 64 bits.
    #[must_use]
    pub fn of(bars: &[Bar]) -> Option<Self> {
        let rows = raw_rows(bars)?;
        let end = rows.len();
        Some(Self {
            rows: Arc::new(rows),
            start: 0,
            end,
        })
    }
}

impl std::ops::Deref for RawSlice {
    type Target = [RawBar];

    #[inline]
    fn deref(&self) -> &[RawBar] {
        &self.rows[self.start..self.end]
    }
}

impl std::fmt::Debug for RawSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSlice")
            .field("len", &self.len())
            .finish()
    }
}

/// The index of the first bar of time-ordered `bars` that opens at or after `ts`, galloping
/// from `hint` in whichever direction the answer lies: O(log d) probes for an answer `d` bars
/// away, next to each other in memory.
fn first_at_or_after(bars: &[Bar], ts: Timestamp, hint: usize) -> usize {
    let before = |b: &Bar| b.ts_event() < ts;
    let hint = hint.min(bars.len());
    if hint > 0 && !before(&bars[hint - 1]) {
        // The bar at `hi` opens at or after `ts`.
        let mut hi = hint - 1;
        let mut step = 1;
        loop {
            match hi.checked_sub(step) {
                Some(probe) if !before(&bars[probe]) => {
                    hi = probe;
                    step *= 2;
                }
                Some(probe) => return probe + 1 + bars[probe + 1..hi].partition_point(before),
                None => return bars[..hi].partition_point(before),
            }
        }
    }
    // Every bar before `lo` opens before `ts`.
    let mut lo = hint;
    let mut step = 1;
    loop {
        let probe = lo + step - 1;
        match bars.get(probe) {
            Some(bar) if before(bar) => {
                lo = probe + 1;
                step *= 2;
            }
            Some(_) => return lo + bars[lo..probe].partition_point(before),
            None => return lo + bars[lo..].partition_point(before),
        }
    }
}

impl std::ops::Deref for BarSlice {
    type Target = [Bar];

    fn deref(&self) -> &[Bar] {
        &self.bars[self.start..self.end]
    }
}

impl From<Vec<Bar>> for BarSlice {
    fn from(bars: Vec<Bar>) -> Self {
        Self::new(Arc::new(bars))
    }
}

impl std::fmt::Debug for BarSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarSlice")
            .field("len", &self.len())
            .field("first", &self.first().map(Bar::ts_event))
            .field("last", &self.last().map(Bar::ts_event))
            .finish()
    }
}

/// A failure to read one series range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A source of bars.
pub trait BarSource {
    /// The bars of `symbol` at `interval` with `start <= ts_event < end`, in time order,
    /// shared rather than copied where the source can.
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
    ) -> Result<BarSlice, SourceError>;

    /// Every symbol the source has bars for at `interval`, sorted (a universe of "all").
    ///
    /// # Errors
    /// [`SourceError`] when the source cannot be listed.
    fn symbols(&mut self, interval: Interval) -> Result<Vec<Symbol>, SourceError>;
}

/// Bars held in memory, by series.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    /// Each series with where the last read of it ended.
    series: BTreeMap<(Symbol, Interval), (BarSlice, usize)>,
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
        let mut added: BTreeMap<(Symbol, Interval), Vec<Bar>> = BTreeMap::new();
        for bar in bars {
            added
                .entry((bar.symbol(), bar.interval()))
                .or_default()
                .push(bar);
        }
        for (key, mut bars) in added {
            if let Some((held, _)) = self.series.get(&key) {
                bars.extend_from_slice(held);
            }
            bars.sort_by_key(Bar::ts_event);
            self.series.insert(key, (BarSlice::with_raw(bars), 0));
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
    ) -> Result<BarSlice, SourceError> {
        if self
            .failing
            .iter()
            .any(|(s, a, b)| *s == symbol && *a < end && start < *b)
        {
            return Err(SourceError(format!(
                "{symbol} {interval}: corrupt data between {start} and {end}"
            )));
        }
        let Some((bars, cursor)) = self.series.get_mut(&(symbol, interval)) else {
            return Ok(BarSlice::default());
        };
        Ok(bars.between_near(start, end, cursor))
    }
}
