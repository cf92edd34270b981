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
    /// The first bar's interval in nanoseconds (0 without bars): the usual distance between
    /// consecutive bars, from which a range's end is first looked for.
    step: i64,
    start: usize,
    end: usize,
}

impl BarSlice {
    /// All of `bars`.
    #[must_use]
    pub fn new(bars: Arc<Vec<Bar>>) -> Self {
        let end = bars.len();
        let step = bars.first().map_or(0, |b| b.interval().as_nanos());
        Self {
            bars,
            raw: None,
            step,
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
        // The probes read the raw rows when there are some: the day's rows are read next, while
        // the bars themselves may not be read at all.
        let raw = self.raw.as_ref().and_then(|r| r.get(self.start..self.end));
        let opens_before = |i: usize, ts: Timestamp| match raw {
            Some(rows) => rows[i].ts_event() < ts.as_nanos(),
            None => all[i].ts_event() < ts,
        };
        let len = all.len();
        let lo = first_at_or_after(len, |i| opens_before(i, start), *cursor);
        // A series without gaps has one bar per interval in the range: the search for its end
        // starts there, so a whole range costs a few probes at each of its ends.
        let expected = if lo < len {
            let step = self.step.max(1);
            usize::try_from((end.as_nanos().saturating_sub(start.as_nanos())) / step).unwrap_or(0)
        } else {
            0
        };
        let hi = first_at_or_after(len, |i| opens_before(i, end), lo.saturating_add(expected));
        *cursor = hi;
        Self {
            bars: Arc::clone(&self.bars),
            raw: self.raw.clone(),
            step: self.step,
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

/// The first index below `len` at which `before` (true for a prefix of the indexes: the bars
/// of a time-ordered series opening before some time) is false, or `len`; galloping from
/// `hint` in whichever direction the answer lies: O(log d) probes for an answer `d` indexes
/// away, next to each other in memory.
fn first_at_or_after(len: usize, before: impl Fn(usize) -> bool, hint: usize) -> usize {
    // The first index in `lo..hi` where `before` is false (or `hi`), by bisection.
    let bisect = |mut lo: usize, mut hi: usize| {
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    };
    let hint = hint.min(len);
    if hint > 0 && !before(hint - 1) {
        // The index `hi` is at or after the answer.
        let mut hi = hint - 1;
        let mut step = 1;
        loop {
            match hi.checked_sub(step) {
                Some(probe) if !before(probe) => {
                    hi = probe;
                    step *= 2;
                }
                Some(probe) => return bisect(probe + 1, hi),
                None => return bisect(0, hi),
            }
        }
    }
    // Every index before `lo` is before the answer.
    let mut lo = hint;
    let mut step = 1;
    loop {
        let probe = lo + step - 1;
        if probe >= len {
            return bisect(lo, len);
        }
        if before(probe) {
            lo = probe + 1;
            step *= 2;
        } else {
            return bisect(lo, probe);
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
