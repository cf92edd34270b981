//! [`TradingDay`]: one exchange session on one date, and the bar boundaries within it.

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use openbell_model::{Bar, Interval, Timestamp};

/// A pause in trading within a day, as UTC instants `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Break {
    /// When trading pauses.
    pub start: Timestamp,
    /// When trading resumes.
    pub end: Timestamp,
}

/// One bar's span within a trading day: `[open, close)`. `close - open` equals the interval
/// except for the last bar before a close or a break that does not fall on the interval grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BarSlot {
    /// The bar's open time (its `ts_event`).
    pub open: Timestamp,
    /// The bar's close time: when it becomes known.
    pub close: Timestamp,
}

/// One session of an exchange: the date it belongs to, when it opens and closes, and its
/// breaks. Instants are UTC; the exchange-local view comes from [`TradingDay::open_local`]
/// and [`TradingDay::close_local`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TradingDay {
    /// The session date (the exchange-local date of the close).
    pub date: NaiveDate,
    /// The opening instant.
    pub open: Timestamp,
    /// The closing instant (exclusive: the last bar ends here).
    pub close: Timestamp,
    /// True when the session closes before its regular time (e.g. 13:00 on NYSE).
    pub early_close: bool,
    /// True when the session opens after its regular time.
    pub late_open: bool,
    /// Pauses within the session, in order.
    pub breaks: Vec<Break>,
    /// The exchange time zone.
    pub tz: Tz,
}

impl TradingDay {
    /// The open in exchange-local time.
    #[must_use]
    pub fn open_local(&self) -> DateTime<Tz> {
        self.open.to_zoned(self.tz)
    }

    /// The close in exchange-local time.
    #[must_use]
    pub fn close_local(&self) -> DateTime<Tz> {
        self.close.to_zoned(self.tz)
    }

    /// True when `ts` falls in trading hours: within `[open, close)` and outside every break.
    #[must_use]
    pub fn is_open_at(&self, ts: Timestamp) -> bool {
        self.open <= ts
            && ts < self.close
            && !self.breaks.iter().any(|b| b.start <= ts && ts < b.end)
    }

    /// The continuous trading segments of the day: `[open, close)` split at each break.
    #[must_use]
    pub fn segments(&self) -> Vec<BarSlot> {
        let mut segments = Vec::with_capacity(self.breaks.len() + 1);
        let mut start = self.open;
        for b in &self.breaks {
            if b.start > start {
                segments.push(BarSlot {
                    open: start,
                    close: b.start,
                });
            }
            start = start.max(b.end);
        }
        if self.close > start {
            segments.push(BarSlot {
                open: start,
                close: self.close,
            });
        }
        segments
    }

    /// The bars of `interval` in this day, aligned to the open: 5m bars of a 09:30 open start
    /// at 09:30, 09:35, and so on. Each segment between breaks is aligned to its own start. The
    /// last bar of a segment is short when the segment length is not a multiple of the
    /// interval (an early close, or 1h bars of a 6.5-hour day). A `1d` interval gives one bar
    /// spanning the whole day.
    #[must_use]
    pub fn bar_slots(&self, interval: Interval) -> Vec<BarSlot> {
        if interval.is_daily() {
            return vec![BarSlot {
                open: self.open,
                close: self.close,
            }];
        }
        let step = interval.as_nanos().max(1);
        let segments = self.segments();
        let count: i64 = segments
            .iter()
            .map(|s| {
                let len = s.close.as_nanos().saturating_sub(s.open.as_nanos());
                len / step + i64::from(len % step != 0)
            })
            .sum();
        let mut slots = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for segment in segments {
            let mut open = segment.open.as_nanos();
            let end = segment.close.as_nanos();
            while open < end {
                let close = open.saturating_add(step).min(end);
                slots.push(BarSlot {
                    open: Timestamp::from_nanos(open),
                    close: Timestamp::from_nanos(close),
                });
                open = close;
            }
        }
        slots
    }

    /// The open timestamps of [`TradingDay::bar_slots`].
    #[must_use]
    pub fn bar_opens(&self, interval: Interval) -> Vec<Timestamp> {
        self.bar_slots(interval)
            .into_iter()
            .map(|slot| slot.open)
            .collect()
    }

    /// How completely `bars` (any order; bars that are not slot opens are ignored) cover the
    /// day's `interval` slots: `(expected, present, missing)`, where `missing` lists runs of
    /// missing slots as `[first missing open, last missing close)`. 390 expected on a full XNYS
    /// day at 1m, 210 on a 13:00 early close. The quality ledger and the engine share it.
    #[must_use]
    pub fn coverage(
        &self,
        interval: Interval,
        bars: &[Bar],
    ) -> (u32, u32, Vec<(Timestamp, Timestamp)>) {
        coverage_of(&self.bar_slots(interval), bars)
    }
}

/// [`TradingDay::coverage`] over slots already computed.
#[must_use]
pub fn coverage_of(slots: &[BarSlot], bars: &[Bar]) -> (u32, u32, Vec<(Timestamp, Timestamp)>) {
    coverage_of_stamps(slots, bars.len(), |i| bars[i].ts_event())
}

/// [`coverage_of`] for `n` bars whose open times `stamp(0..n)` gives, for callers that hold
/// bars in another form.
#[must_use]
pub fn coverage_of_stamps(
    slots: &[BarSlot],
    n: usize,
    stamp: impl Fn(usize) -> Timestamp,
) -> (u32, u32, Vec<(Timestamp, Timestamp)>) {
    // The usual day: one bar in every slot, in order.
    if slots.len() == n && slots.iter().enumerate().all(|(i, s)| s.open == stamp(i)) {
        let n = u32::try_from(slots.len()).unwrap_or(u32::MAX);
        return (n, n, Vec::new());
    }
    coverage_sorted(slots, n, &stamp).unwrap_or_else(|| {
        let mut stamps: Vec<Timestamp> = (0..n).map(&stamp).collect();
        stamps.sort_unstable();
        coverage_sorted(slots, stamps.len(), |i| stamps[i])
            .unwrap_or_else(|| unreachable!("sorted stamps"))
    })
}

/// `(expected, present, missing runs)`, as [`TradingDay::coverage`] gives them.
type Coverage = (u32, u32, Vec<(Timestamp, Timestamp)>);

/// Coverage of `slots` by `n` stamps in one pass over each; `None` as soon as the stamps turn
/// out not to be in time order.
fn coverage_sorted(
    slots: &[BarSlot],
    n: usize,
    stamp: impl Fn(usize) -> Timestamp,
) -> Option<Coverage> {
    let mut next = 0;
    let mut last = Timestamp::from_nanos(i64::MIN);
    let mut present = 0u32;
    let mut missing: Vec<(Timestamp, Timestamp)> = Vec::new();
    let mut take = |next: &mut usize| -> Option<Timestamp> {
        let ts = stamp(*next);
        if ts < last {
            return None;
        }
        last = ts;
        *next += 1;
        Some(ts)
    };
    for slot in slots {
        while next < n && stamp(next) < slot.open {
            take(&mut next)?;
        }
        if next < n && stamp(next) == slot.open {
            take(&mut next)?;
            present += 1;
        } else {
            match missing.last_mut() {
                Some(run) if run.1 == slot.open => run.1 = slot.close,
                _ => missing.push((slot.open, slot.close)),
            }
        }
    }
    while next < n {
        take(&mut next)?;
    }
    Some((
        u32::try_from(slots.len()).unwrap_or(u32::MAX),
        present,
        missing,
    ))
}
