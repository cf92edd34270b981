//! The day's queues, one per registered symbol, merged by a binary heap.
//!
//! The heap holds one entry per symbol with bars left: its next undelivered bar, keyed by when
//! that bar becomes known ([`bar_close`](super::bar_close)), then the symbol's rank among the
//! day's symbols, so ties are delivered in symbol order. A symbol's later bars wait in its
//! session data; when its entry is taken, the entry of its next bar takes its place in one sift.
//!
//! Keys are packed integers, so the heap compares them in one instruction: the close as an
//! offset from the day's open above the rank, in 64 bits whenever the day's symbols fit in
//! [`RANK_BITS`], else in 128.
//!
//! When every symbol with bars left has the same closes ahead of it (the usual day: a bar in
//! every slot), the merge is known in advance: at each close, every symbol in rank order. The
//! queues then step through those closes in lockstep and need no heap.

use openbell_calendar::{BarSlot, TradingDay};
use openbell_model::Timestamp;

use crate::session_data::{SessionData, SymbolData};

/// Bits a 64-bit key keeps for the rank; the close offset has the rest (2^47 ns, about 39
/// hours from the open).
const RANK_BITS: u32 = 17;

/// The longest day a 64-bit key holds, open to close, in nanoseconds.
const MAX_OFFSET: i64 = (1 << 47) - 1;

/// A heap key: a close offset from the day's open and a rank, ordered by both in that order.
trait Key: Copy + Ord {
    /// Whether a day with `symbols` symbols fits this key.
    fn holds(symbols: usize) -> bool;
    /// The key of a bar closing `offset` ns after the open, of the symbol ranked `rank`.
    fn pack(offset: u64, rank: u32) -> Self;
    /// The close offset.
    fn offset(self) -> u64;
    /// The rank.
    fn rank(self) -> u32;
}

impl Key for u64 {
    fn holds(symbols: usize) -> bool {
        symbols <= 1 << RANK_BITS
    }

    #[inline(always)]
    fn pack(offset: u64, rank: u32) -> Self {
        // The offset is at most the day's length, below 2^47; the rank below 2^17.
        (offset << RANK_BITS) | Self::from(rank)
    }

    #[inline(always)]
    fn offset(self) -> u64 {
        self >> RANK_BITS
    }

    #[inline(always)]
    fn rank(self) -> u32 {
        u32::try_from(self & ((1 << RANK_BITS) - 1)).unwrap_or(u32::MAX)
    }
}

impl Key for u128 {
    fn holds(_: usize) -> bool {
        true
    }

    #[inline(always)]
    fn pack(offset: u64, rank: u32) -> Self {
        (Self::from(offset) << 32) | Self::from(rank)
    }

    #[inline(always)]
    fn offset(self) -> u64 {
        u64::try_from(self >> 32).unwrap_or(u64::MAX)
    }

    #[inline(always)]
    fn rank(self) -> u32 {
        u32::try_from(self & 0xffff_ffff).unwrap_or(u32::MAX)
    }
}

/// A binary min-heap of keys.
#[derive(Debug)]
struct Heap<K> {
    keys: Vec<K>,
}

impl<K> Default for Heap<K> {
    fn default() -> Self {
        Self { keys: Vec::new() }
    }
}

impl<K: Key> Heap<K> {
    fn push(&mut self, key: K) {
        let mut at = self.keys.len();
        self.keys.push(key);
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.keys[parent] <= key {
                break;
            }
            self.keys[at] = self.keys[parent];
            at = parent;
        }
        self.keys[at] = key;
    }

    #[inline(always)]
    fn peek(&self) -> Option<K> {
        self.keys.first().copied()
    }

    /// Puts `key` in the place of the least key and restores the order.
    #[inline(always)]
    fn replace_top(&mut self, key: K) {
        let keys = self.keys.as_mut_slice();
        let n = keys.len();
        let mut at = 0;
        loop {
            let left = 2 * at + 1;
            let Some(&l) = keys.get(left) else { break };
            let (child, least) = match keys.get(left + 1) {
                Some(&r) if r < l => (left + 1, r),
                _ => (left, l),
            };
            if key <= least {
                break;
            }
            keys[at] = least;
            at = child;
        }
        if at < n {
            keys[at] = key;
        }
    }

    /// Removes the least key.
    fn pop(&mut self) {
        if let Some(last) = self.keys.pop()
            && !self.keys.is_empty()
        {
            self.replace_top(last);
        }
    }
}

/// The day's queues.
#[derive(Debug, Default)]
pub(super) struct Queues {
    /// Whether the symbols step in lockstep (see the module's documentation) instead of
    /// through a heap.
    is_lockstep: bool,
    /// In lockstep: the closes every symbol has ahead of it, the next one's index, and the
    /// symbols' slots in rank order (the group at each close).
    lock_closes: Vec<u64>,
    lock_at: usize,
    lock_slots: Vec<u32>,
    narrow: Heap<u64>,
    wide: Heap<u128>,
    /// Whether today's keys are 128-bit (more symbols than a 64-bit key ranks).
    is_wide: bool,
    /// Per slot: its rank among today's symbols by symbol; and per rank, its slot.
    ranks: Vec<u32>,
    slots: Vec<u32>,
    /// The day's open, as nanoseconds.
    day_open: i64,
}

impl Queues {
    /// Builds the queues from every slot's undelivered bars, ranking the slots by symbol (at
    /// the start of the stream, and again after an insertion).
    pub(super) fn build(&mut self, data: &SessionData, day: &TradingDay) {
        let n = data.symbols.len();
        self.ranks.clear();
        self.ranks.resize(n, 0);
        self.slots.clear();
        for (rank, slot) in data.index.values().enumerate() {
            self.ranks[*slot] = u32::try_from(rank).unwrap_or(u32::MAX);
            self.slots.push(u32::try_from(*slot).unwrap_or(u32::MAX));
        }
        self.day_open = day.open.as_nanos();
        self.is_wide = !u64::holds(n) || day.close.as_nanos() - self.day_open > MAX_OFFSET;
        self.narrow.keys.clear();
        self.wide.keys.clear();
        self.is_lockstep = self.build_lockstep(data);
        if self.is_lockstep {
            return;
        }
        for (slot, symbol) in data.symbols.iter().enumerate() {
            if self.is_wide {
                if let Some(key) = self.key(symbol, slot, symbol.delivered) {
                    self.wide.push(key);
                }
            } else if let Some(key) = self.key(symbol, slot, symbol.delivered) {
                self.narrow.push(key);
            }
        }
    }

    /// Sets up the lockstep if every symbol with bars left has the same closes ahead of it,
    /// each later than the one before; says whether it did.
    fn build_lockstep(&mut self, data: &SessionData) -> bool {
        self.lock_slots.clear();
        self.lock_closes.clear();
        self.lock_at = 0;
        let mut ahead: Option<&[u64]> = None;
        for &slot in &self.slots {
            let Some(s) = data.symbols.get(slot as usize) else {
                return false;
            };
            let left = s.closes.get(s.delivered..).unwrap_or_default();
            if left.is_empty() {
                continue;
            }
            match ahead {
                None => ahead = Some(left),
                Some(first) if first == left => {}
                Some(_) => return false,
            }
            self.lock_slots.push(slot);
        }
        let Some(ahead) = ahead else {
            return false;
        };
        if !ahead.windows(2).all(|w| w[0] < w[1]) {
            return false;
        }
        self.lock_closes.extend_from_slice(ahead);
        true
    }

    /// The key of bar `i` of the symbol in `slot`, if it has one.
    #[inline(always)]
    fn key<K: Key>(&self, data: &SymbolData, slot: usize, i: usize) -> Option<K> {
        let offset = *data.closes.get(i)?;
        let rank = self.ranks.get(slot).copied().unwrap_or(u32::MAX);
        Some(K::pack(offset, rank))
    }

    /// When the earliest queued bar becomes known, as an offset from the day's open in
    /// nanoseconds.
    #[inline(always)]
    pub(super) fn next_close(&self) -> Option<u64> {
        if self.is_lockstep {
            self.lock_closes.get(self.lock_at).copied()
        } else if self.is_wide {
            Some(self.wide.peek()?.offset())
        } else {
            Some(self.narrow.peek()?.offset())
        }
    }

    /// The day's open plus `offset` ([`Queues::next_close`]), as a time.
    pub(super) fn at(&self, offset: u64) -> Timestamp {
        Timestamp::from_nanos(self.day_open.saturating_add_unsigned(offset))
    }

    /// Takes the earliest queued bar if it becomes known at `offset` ([`Queues::next_close`]),
    /// and queues that symbol's next bar in its place; returns its slot. In lockstep there is
    /// none to take bar by bar: each group is taken whole ([`Queues::group_at`]).
    #[inline(always)]
    pub(super) fn take_at(&mut self, offset: u64, data: &SessionData) -> Option<usize> {
        if self.is_lockstep {
            None
        } else if self.is_wide {
            self.take::<u128>(offset, data)
        } else {
            self.take::<u64>(offset, data)
        }
    }

    /// In lockstep, at the start of the group of bars becoming known at `offset`
    /// ([`Queues::next_close`]): the slots of that group, in the order they are delivered.
    /// Taking them all is then [`Queues::take_group`].
    #[inline(always)]
    pub(super) fn group_at(&self, offset: u64) -> Option<&[u32]> {
        (self.is_lockstep && self.lock_closes.get(self.lock_at) == Some(&offset))
            .then_some(self.lock_slots.as_slice())
    }

    /// Takes the whole group [`Queues::group_at`] gave.
    #[inline(always)]
    pub(super) fn take_group(&mut self) {
        self.lock_at += 1;
    }

    #[inline(always)]
    fn take<K: Key>(&mut self, offset: u64, data: &SessionData) -> Option<usize>
    where
        Self: HeapOf<K>,
    {
        let top = self.heap().peek()?;
        if top.offset() != offset {
            return None;
        }
        let slot = self.slots.get(top.rank() as usize).map(|s| *s as usize)?;
        let next = data
            .symbols
            .get(slot)
            .and_then(|s| self.key::<K>(s, slot, s.delivered + 1));
        match next {
            Some(key) => self.heap_mut().replace_top(key),
            None => self.heap_mut().pop(),
        }
        Some(slot)
    }
}

/// When a bar opening at `ts` becomes known ([`bar_close`]), as nanoseconds after the open of
/// `day` (bars of `interval_nanos`): a queue's key. A close before the open (never one of the
/// day's bars) counts as the open.
///
/// [`bar_close`]: super::bar_close
#[inline]
pub(super) fn close_offset(ts: i64, interval_nanos: i64, day: &TradingDay) -> u64 {
    let (open, close) = (day.open.as_nanos(), day.close.as_nanos());
    let from = open.saturating_sub(interval_nanos);
    let len = close.saturating_sub(open).max(0).unsigned_abs();
    if ts > from {
        ts.abs_diff(from).min(len)
    } else {
        0
    }
}

/// Fills `closes` with the [`close_offset`] of each bar opening at `stamps`. Says whether the
/// bars open exactly at `slots`' opens, one bar in every slot, in order: the usual day, whose
/// closes are `usual` (the close offsets of the slots' opens, the same for every symbol of the
/// day) and are copied rather than worked out.
pub(super) fn closes(
    stamps: impl ExactSizeIterator<Item = i64> + Clone,
    slots: &[BarSlot],
    usual: &[u64],
    interval_nanos: i64,
    day: &TradingDay,
    closes: &mut Vec<u64>,
) -> bool {
    closes.clear();
    let is_usual = stamps.len() == slots.len()
        && usual.len() == slots.len()
        && stamps
            .clone()
            .zip(slots)
            .all(|(ts, slot)| ts == slot.open.as_nanos());
    if is_usual {
        closes.extend_from_slice(usual);
    } else {
        closes.extend(stamps.map(|ts| close_offset(ts, interval_nanos, day)));
    }
    is_usual
}

/// The heap of one key width.
trait HeapOf<K> {
    fn heap(&self) -> &Heap<K>;
    fn heap_mut(&mut self) -> &mut Heap<K>;
}

impl HeapOf<u64> for Queues {
    #[inline(always)]
    fn heap(&self) -> &Heap<u64> {
        &self.narrow
    }

    #[inline(always)]
    fn heap_mut(&mut self) -> &mut Heap<u64> {
        &mut self.narrow
    }
}

impl HeapOf<u128> for Queues {
    #[inline(always)]
    fn heap(&self) -> &Heap<u128> {
        &self.wide
    }

    #[inline(always)]
    fn heap_mut(&mut self) -> &mut Heap<u128> {
        &mut self.wide
    }
}

#[cfg(test)]
mod tests {
    use openbell_calendar::Calendar;
    use openbell_model::Symbol;
    use proptest::prelude::*;

    use super::*;
    use crate::session_data::SymbolData;

    /// How [`drain`] merges.
    #[derive(Clone, Copy, PartialEq)]
    enum Merge {
        /// As built: in lockstep where that applies, else by the heap of 64-bit keys.
        Built,
        /// By the heap of 64-bit keys.
        Narrow,
        /// By the heap of 128-bit keys.
        Wide,
    }

    /// Takes every queued bar as the stream does (each taken bar is then delivered), merged
    /// as `merge` says; gives the symbols in the order taken, with their closes.
    fn drain(data: &mut SessionData, day: &TradingDay, merge: Merge) -> Vec<(u64, Symbol)> {
        for s in &mut data.symbols {
            s.delivered = 0;
        }
        let mut queues = Queues::default();
        queues.build(data, day);
        if merge != Merge::Built {
            queues.is_lockstep = false;
            queues.is_wide = merge == Merge::Wide;
            queues.narrow.keys.clear();
            queues.wide.keys.clear();
            for (slot, s) in data.symbols.iter().enumerate() {
                if merge == Merge::Wide {
                    if let Some(key) = queues.key::<u128>(s, slot, 0) {
                        queues.wide.push(key);
                    }
                } else if let Some(key) = queues.key::<u64>(s, slot, 0) {
                    queues.narrow.push(key);
                }
            }
        }
        take_all(&mut queues, data)
    }

    /// Takes every queued bar as the stream does: a lockstep group whole, else bar by bar.
    fn take_all(queues: &mut Queues, data: &mut SessionData) -> Vec<(u64, Symbol)> {
        let mut taken = Vec::new();
        let mut deliver = |data: &mut SessionData, slot: usize| {
            let s = &mut data.symbols[slot];
            taken.push((s.closes[s.delivered], s.symbol));
            s.delivered += 1;
        };
        while let Some(offset) = queues.next_close() {
            if let Some(group) = queues.group_at(offset) {
                for &slot in group {
                    deliver(data, slot as usize);
                }
                queues.take_group();
            } else {
                while let Some(slot) = queues.take_at(offset, data) {
                    deliver(data, slot);
                }
            }
        }
        taken
    }

    proptest! {
        /// Both key widths order keys as (offset, rank) do, and give both back.
        #[test]
        fn keys_order_as_their_close_then_rank(
            a in (0u64..1 << 47, 0u32..1 << RANK_BITS),
            b in (0u64..1 << 47, 0u32..1 << RANK_BITS),
        ) {
            let (narrow_a, narrow_b) = (u64::pack(a.0, a.1), u64::pack(b.0, b.1));
            let (wide_a, wide_b) = (u128::pack(a.0, a.1), u128::pack(b.0, b.1));
            prop_assert_eq!(narrow_a.cmp(&narrow_b), a.cmp(&b));
            prop_assert_eq!(wide_a.cmp(&wide_b), a.cmp(&b));
            prop_assert_eq!((narrow_a.offset(), narrow_a.rank()), a);
            prop_assert_eq!((wide_a.offset(), wide_a.rank()), a);
        }

        /// The queues give every symbol's bars once, by close and then symbol, with keys of
        /// either width, and in lockstep when every symbol has the same closes.
        #[test]
        fn the_queues_merge_by_close_then_symbol(
            closes in proptest::collection::vec(proptest::collection::btree_set(1u64..200, 0..30), 1..6),
            shared in proptest::collection::btree_set(1u64..200, 1..30),
            same in proptest::collection::vec(any::<bool>(), 6),
        ) {
            let day = Calendar::builtin("XNYS").unwrap().trading_day("2024-07-08".parse().unwrap()).unwrap().unwrap();
            let names = ["EEE", "BBB", "DDD", "AAA", "CCC", "FFF"];
            // Each symbol has its own closes, or the shared ones; all shared puts the queues
            // in lockstep.
            for all_shared in [false, true] {
                let mut data = SessionData::default();
                let mut expected = Vec::new();
                for (k, own) in closes.iter().enumerate() {
                    let set = if all_shared || same[k] { &shared } else { own };
                    let symbol = Symbol::parse(names[k]).unwrap();
                    let mut s = SymbolData::bare(symbol);
                    s.closes = set.iter().copied().collect();
                    expected.extend(set.iter().map(|c| (*c, symbol)));
                    data.add(s);
                }
                expected.sort();
                let mut queues = Queues::default();
                queues.build(&data, &day);
                prop_assert!(!all_shared || queues.is_lockstep);
                for merge in [Merge::Built, Merge::Narrow, Merge::Wide] {
                    prop_assert_eq!(&drain(&mut data, &day, merge), &expected);
                }
            }
        }

        /// A rebuild part way through (after a mid-session insertion) goes on from what each
        /// symbol has delivered, in lockstep only when what is left ahead of each is the same.
        #[test]
        fn a_rebuild_goes_on_from_each_symbols_next_bar(
            shared in proptest::collection::btree_set(1u64..200, 2..30),
            cut in 0usize..30,
            late in 0usize..6,
            extra in proptest::collection::btree_set(1u64..200, 0..5),
        ) {
            let day = Calendar::builtin("XNYS").unwrap().trading_day("2024-07-08".parse().unwrap()).unwrap().unwrap();
            let names = ["EEE", "BBB", "DDD", "AAA", "CCC", "FFF"];
            let closes: Vec<u64> = shared.iter().copied().collect();
            let cut = cut % closes.len();
            let mut data = SessionData::default();
            let mut expected = Vec::new();
            for (k, name) in names.iter().enumerate() {
                let symbol = Symbol::parse(name).unwrap();
                let mut s = SymbolData::bare(symbol);
                // Symbol `late` has its own closes ahead of the cut.
                let mut own: Vec<u64> = closes.clone();
                if k == late {
                    own.extend(extra.iter().copied());
                    own[cut..].sort_unstable();
                    own.dedup();
                }
                s.delivered = own.partition_point(|c| *c <= closes[cut]);
                expected.extend(own[s.delivered..].iter().map(|c| (*c, symbol)));
                s.closes = own;
                data.add(s);
            }
            expected.sort();
            let mut queues = Queues::default();
            queues.build(&data, &day);
            // Lockstep when every symbol with bars left has the same ones left.
            let mut left = data.symbols.iter().map(|s| &s.closes[s.delivered..]).filter(|l| !l.is_empty());
            let first = left.next();
            let left_same = first.is_some_and(|f| left.all(|l| l == f));
            prop_assert_eq!(queues.is_lockstep, left_same);
            prop_assert_eq!(take_all(&mut queues, &mut data), expected);
        }

        /// The heap always shows the least key it holds, whatever order the keys were pushed
        /// in and whatever replaced the least; every key comes out once.
        #[test]
        fn the_heap_takes_keys_in_order(
            keys in proptest::collection::vec(0u64..50, 0..40),
            replacements in proptest::collection::vec(0u64..80, 0..60),
        ) {
            let mut heap = Heap::default();
            let mut all = keys.clone();
            for k in &keys {
                heap.push(*k);
            }
            let mut taken = Vec::new();
            let mut replacements_used = 0;
            let mut replacements = replacements.into_iter();
            while let Some(top) = heap.peek() {
                taken.push(top);
                all.sort_unstable();
                prop_assert_eq!(top, all.remove(0));
                match replacements.next() {
                    Some(r) => {
                        heap.replace_top(r);
                        all.push(r);
                        replacements_used += 1;
                    }
                    None => heap.pop(),
                }
            }
            prop_assert!(all.is_empty());
            prop_assert_eq!(taken.len(), keys.len() + replacements_used);
        }
    }
}
