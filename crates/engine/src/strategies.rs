//! Built-in strategies and the registry that names them.
//!
//! Strategies keep their own state across days (rolling windows, positions come from the
//! portfolio), so their signals follow the continuous series.

use std::collections::BTreeMap;

use openbell_indicators::{Candle, Indicator, Rsi};
use openbell_model::{
    Bar, Interval, OrderType, Price, Quantity, Side, Symbol, SymbolMap, TimeInForce, Timestamp,
};

use crate::broker::OrderRequest;
use crate::strategy::{Context, Strategy};

/// A strategy parameter from config: a number or a text.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A number.
    Number(f64),
    /// A text, such as an interval.
    Text(String),
}

/// Parameters by name.
pub type Params = BTreeMap<String, Param>;

/// Builds a strategy from its parameters, or says which one is wrong.
pub type Factory = fn(&Params, Interval) -> Result<Box<dyn Strategy>, String>;

/// Strategies by name: the built-ins, and any a program adds.
#[derive(Debug, Clone)]
pub struct StrategyRegistry {
    factories: BTreeMap<String, Factory>,
}

impl Default for StrategyRegistry {
    fn default() -> Self {
        let mut r = Self {
            factories: BTreeMap::new(),
        };
        r.register("sma_cross", SmaCross::build);
        r.register("rsi_reversion", RsiReversion::build);
        r.register("opening_range_breakout", OpeningRangeBreakout::build);
        r.register("vwap_reversion", VwapReversion::build);
        r.register("buy_and_hold", BuyAndHold::build);
        r
    }
}

impl StrategyRegistry {
    /// Adds (or replaces) a strategy under `name`.
    pub fn register(&mut self, name: &str, factory: Factory) {
        self.factories.insert(name.to_owned(), factory);
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Builds strategy `name` with `params`; `base` is the session's base interval.
    ///
    /// # Errors
    /// An unknown name (with the known ones), or a parameter the strategy refuses.
    pub fn create(
        &self,
        name: &str,
        params: &Params,
        base: Interval,
    ) -> Result<Box<dyn Strategy>, String> {
        let factory = self.factories.get(name).ok_or_else(|| {
            format!(
                "unknown strategy {name:?} (known: {})",
                self.names().collect::<Vec<_>>().join(", ")
            )
        })?;
        factory(params, base)
    }
}

/// Reads parameters, refusing unknown names.
struct Reader<'p> {
    params: &'p Params,
    known: &'static [&'static str],
}

impl<'p> Reader<'p> {
    fn new(params: &'p Params, known: &'static [&'static str]) -> Result<Self, String> {
        if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "unknown parameter {unknown:?} (known: {})",
                known.join(", ")
            ));
        }
        Ok(Self { params, known })
    }

    fn number(&self, name: &str, default: f64) -> Result<f64, String> {
        debug_assert!(self.known.contains(&name));
        match self.params.get(name) {
            None => Ok(default),
            Some(Param::Number(v)) if v.is_finite() => Ok(*v),
            Some(other) => Err(format!("{name} must be a number, not {other:?}")),
        }
    }

    fn count(&self, name: &str, default: usize) -> Result<usize, String> {
        #[allow(clippy::cast_precision_loss)]
        let v = self.number(name, default as f64)?;
        if v < 1.0 || v.fract() != 0.0 || v > 1e6 {
            return Err(format!("{name} must be a whole number from 1, not {v}"));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(v as usize)
    }

    fn quantity(&self, name: &str, default: f64) -> Result<Quantity, String> {
        let v = self.number(name, default)?;
        let q = Quantity::from_f64(v).map_err(|e| format!("{name}: {e}"))?;
        if !q.is_positive() {
            return Err(format!("{name} must be positive, not {v}"));
        }
        Ok(q)
    }

    fn interval(&self, name: &str, default: Interval) -> Result<Interval, String> {
        match self.params.get(name) {
            None => Ok(default),
            Some(Param::Text(t)) => t.parse::<Interval>().map_err(|e| format!("{name}: {e}")),
            Some(other) => Err(format!(
                "{name} must be an interval like \"5m\", not {other:?}"
            )),
        }
    }
}

/// `sma_cross`: long only. Buys `qty` at market when flat and the fast SMA crosses above the
/// slow one; sells to flat when long and it crosses below. The comparison is exact: the SMAs
/// are compared through their integer sums scaled by the periods, so equal averages are a tie,
/// not a cross. It acts only when both SMAs have values on this bar and the previous one.
#[derive(Debug)]
pub struct SmaCross {
    fast: usize,
    slow: usize,
    qty: Quantity,
    interval: Interval,
    /// By symbol number ([`Context::symbol_number`]).
    state: Vec<CrossState>,
}

/// One symbol's windows: the last `slow` closes in a ring, with the sums of the last `fast`
/// and the last `slow` of them.
#[derive(Debug)]
struct CrossState {
    closes: Box<[i128]>,
    /// Where the next close goes.
    next: usize,
    /// Closes seen, up to `slow`.
    seen: usize,
    fast_sum: i128,
    slow_sum: i128,
    previous: Option<std::cmp::Ordering>,
}

impl CrossState {
    fn new(slow: usize) -> Self {
        Self {
            closes: vec![0; slow].into_boxed_slice(),
            next: 0,
            seen: 0,
            fast_sum: 0,
            slow_sum: 0,
            previous: None,
        }
    }

    /// Adds a close; says whether both windows are full.
    #[inline]
    fn push(&mut self, close: i128, fast: usize) -> bool {
        let slow = self.closes.len();
        // The close leaving the fast window, `fast` places back (the ring holds `slow`).
        let back = if self.next >= fast {
            self.next - fast
        } else {
            self.next + slow - fast
        };
        if self.seen >= fast {
            self.fast_sum -= self.closes[back];
        }
        if self.seen == slow {
            self.slow_sum -= self.closes[self.next];
        } else {
            self.seen += 1;
        }
        self.closes[self.next] = close;
        self.fast_sum += close;
        self.slow_sum += close;
        self.next = if self.next + 1 == slow {
            0
        } else {
            self.next + 1
        };
        self.seen == slow
    }
}

impl SmaCross {
    fn build(params: &Params, base: Interval) -> Result<Box<dyn Strategy>, String> {
        let r = Reader::new(params, &["fast", "slow", "qty", "interval"])?;
        let fast = r.count("fast", 10)?;
        let slow = r.count("slow", 30)?;
        if fast >= slow {
            return Err(format!("fast ({fast}) must be shorter than slow ({slow})"));
        }
        Ok(Box::new(Self {
            fast,
            slow,
            qty: r.quantity("qty", 100.0)?,
            interval: r.interval("interval", base)?,
            state: Vec::new(),
        }))
    }

    /// State for symbols up to number `n`.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let slow = self.slow;
        self.state.resize_with(n + 1, || CrossState::new(slow));
    }

    /// Acts on a cross of `symbol` to `now` (out of line: about one bar in 25 crosses), the
    /// position looked up only then.
    #[inline(never)]
    fn cross(&self, ctx: &mut Context<'_>, symbol: Symbol, now: std::cmp::Ordering) {
        use std::cmp::Ordering::{Greater, Less};
        let held = ctx.position(symbol);
        if held.is_zero() && now == Greater {
            ctx.act(
                symbol,
                Side::Buy,
                self.qty,
                "fast SMA crossed above slow SMA",
            );
        } else if held.is_positive() && now == Less {
            ctx.act(symbol, Side::Sell, held, "fast SMA crossed below slow SMA");
        }
    }
}

impl Strategy for SmaCross {
    fn intervals(&self) -> Vec<Interval> {
        vec![self.interval]
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        if bar.interval() != self.interval {
            return;
        }
        // Every delivered bar's symbol is registered, so it has a number.
        let Some(n) = ctx.bar_symbol_number() else {
            return;
        };
        if n >= self.state.len() {
            self.grow(n);
        }
        let Some(s) = self.state.get_mut(n) else {
            return;
        };
        if !s.push(bar.close().raw(), self.fast) {
            return;
        }
        // fast_sum / fast against slow_sum / slow, without division.
        #[allow(clippy::cast_possible_wrap)]
        let (fast, slow) = (self.fast as i128, self.slow as i128);
        let now = (s.fast_sum * slow).cmp(&(s.slow_sum * fast));
        let previous = s.previous.replace(now);
        // Only a cross can act.
        if previous.is_some_and(|p| p != now) && now != std::cmp::Ordering::Equal {
            self.cross(ctx, bar.symbol(), now);
        }
    }
}

/// `rsi_reversion`: long only. Buys `qty` when flat and RSI(`period`) closes below `lower`;
/// sells to flat when long and RSI closes above `upper`.
#[derive(Debug)]
pub struct RsiReversion {
    period: usize,
    lower: f64,
    upper: f64,
    qty: Quantity,
    interval: Interval,
    rsi: SymbolMap<Box<dyn Indicator>>,
}

impl RsiReversion {
    fn build(params: &Params, base: Interval) -> Result<Box<dyn Strategy>, String> {
        let r = Reader::new(params, &["period", "lower", "upper", "qty", "interval"])?;
        let lower = r.number("lower", 30.0)?;
        let upper = r.number("upper", 70.0)?;
        if !(0.0 < lower && lower < upper && upper < 100.0) {
            return Err(format!("need 0 < lower ({lower}) < upper ({upper}) < 100"));
        }
        Ok(Box::new(Self {
            period: r.count("period", 14)?,
            lower,
            upper,
            qty: r.quantity("qty", 100.0)?,
            interval: r.interval("interval", base)?,
            rsi: SymbolMap::default(),
        }))
    }
}

impl Strategy for RsiReversion {
    fn intervals(&self) -> Vec<Interval> {
        vec![self.interval]
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        if bar.interval() != self.interval {
            return;
        }
        let symbol = bar.symbol();
        let period = self.period;
        let rsi = self
            .rsi
            .entry(symbol)
            .or_insert_with(|| Box::new(Rsi::new(period)));
        let session = ctx
            .data()
            .day()
            .map_or(Timestamp::from_nanos(0), |d| d.open);
        let Some(value) = rsi
            .update(&Candle::from_bar(bar, session))
            .map(|o| o.value())
        else {
            return;
        };
        let held = ctx.position(symbol);
        if held.is_zero() && value < self.lower {
            ctx.act(
                symbol,
                Side::Buy,
                self.qty,
                format!("RSI {value:.1} below {}", self.lower),
            );
        } else if held.is_positive() && value > self.upper {
            ctx.act(
                symbol,
                Side::Sell,
                held,
                format!("RSI {value:.1} above {}", self.upper),
            );
        }
    }
}

/// `opening_range_breakout`: long only. The range is the high and low of the first `minutes`
/// of the day. After it, when flat and a bar closes above the range high, buy `qty` at market,
/// and once that fills, a day stop at the range low; once per day. Every position is closed with a market order on
/// the bar before the last one, so it fills at the last bar's open: flat at the close.
#[derive(Debug)]
pub struct OpeningRangeBreakout {
    minutes: i64,
    qty: Quantity,
    days: SymbolMap<OrbDay>,
}

#[derive(Debug, Default)]
struct OrbDay {
    high: Option<Price>,
    low: Option<Price>,
    entered: bool,
    exiting: bool,
    /// The stop to place once the entry fills.
    stop: Option<Price>,
}

impl OpeningRangeBreakout {
    fn build(params: &Params, _base: Interval) -> Result<Box<dyn Strategy>, String> {
        let r = Reader::new(params, &["minutes", "qty"])?;
        Ok(Box::new(Self {
            minutes: i64::try_from(r.count("minutes", 30)?).unwrap_or(30),
            qty: r.quantity("qty", 100.0)?,
            days: SymbolMap::default(),
        }))
    }
}

impl Strategy for OpeningRangeBreakout {
    fn on_day_start(&mut self, _ctx: &mut Context<'_>) {
        self.days.clear();
    }

    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        let Some(day) = ctx.data().day() else { return };
        let (open, close) = (day.open, day.close);
        let symbol = bar.symbol();
        let range_end = open.as_nanos() + self.minutes * 60_000_000_000;
        let d = self.days.entry(symbol).or_default();
        if bar.ts_event().as_nanos() < range_end {
            d.high = Some(d.high.map_or(bar.high(), |h| h.max(bar.high())));
            d.low = Some(d.low.map_or(bar.low(), |l| l.min(bar.low())));
            return;
        }
        let held = ctx.position(symbol);
        let step = bar.interval().as_nanos();
        let before_last = bar.ts_event().as_nanos() + 2 * step >= close.as_nanos();
        if before_last {
            if held.is_positive() && !d.exiting {
                d.exiting = true;
                let stops: Vec<_> = ctx
                    .open_orders()
                    .filter(|o| o.symbol() == symbol)
                    .map(openbell_model::Order::id)
                    .collect();
                for id in stops {
                    ctx.cancel(id);
                }
                ctx.act(symbol, Side::Sell, held, "flat before the close");
            }
            return;
        }
        let (Some(high), Some(low)) = (d.high, d.low) else {
            return;
        };
        if held.is_zero() && !d.entered && bar.close() > high {
            d.entered = true;
            ctx.act(
                symbol,
                Side::Buy,
                self.qty,
                format!("close above the opening range high {high}"),
            );
            d.stop = Some(low);
        }
    }

    /// The protective stop goes in once the entry has filled (a sell stop before it would be
    /// a short sale).
    fn on_fill(&mut self, ctx: &mut Context<'_>, fill: &openbell_model::Fill) {
        if fill.side() != Side::Buy {
            return;
        }
        let Some(stop) = self
            .days
            .get_mut(&fill.symbol())
            .and_then(|d| d.stop.take())
        else {
            return;
        };
        ctx.submit(OrderRequest {
            symbol: fill.symbol(),
            side: Side::Sell,
            quantity: fill.quantity(),
            order_type: OrderType::Stop { stop },
            time_in_force: TimeInForce::Day,
            signal: None,
        });
    }
}

/// `vwap_reversion`: long only. Buys `qty` when flat and a bar closes more than
/// `threshold_bps` below the session VWAP; sells to flat when long and a bar closes at or above
/// the VWAP.
#[derive(Debug)]
pub struct VwapReversion {
    threshold: f64,
    qty: Quantity,
}

impl VwapReversion {
    fn build(params: &Params, _base: Interval) -> Result<Box<dyn Strategy>, String> {
        let r = Reader::new(params, &["threshold_bps", "qty"])?;
        let bps = r.number("threshold_bps", 50.0)?;
        if bps.is_nan() || bps <= 0.0 {
            return Err(format!("threshold_bps must be positive, not {bps}"));
        }
        Ok(Box::new(Self {
            threshold: bps / 10_000.0,
            qty: r.quantity("qty", 100.0)?,
        }))
    }
}

impl Strategy for VwapReversion {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        let symbol = bar.symbol();
        let Some(vwap) = ctx.data().symbol(symbol).and_then(|s| s.metrics().vwap()) else {
            return;
        };
        let close = bar.close().to_f64();
        let held = ctx.position(symbol);
        if held.is_zero() && close < vwap * (1.0 - self.threshold) {
            ctx.act(
                symbol,
                Side::Buy,
                self.qty,
                format!("close {close} below VWAP {vwap:.4}"),
            );
        } else if held.is_positive() && close >= vwap {
            ctx.act(
                symbol,
                Side::Sell,
                held,
                format!("close {close} back at VWAP {vwap:.4}"),
            );
        }
    }
}

/// `buy_and_hold`: buys `qty` of each symbol at market on the first bar it sees, and holds.
#[derive(Debug)]
pub struct BuyAndHold {
    qty: Quantity,
    bought: std::collections::BTreeSet<Symbol>,
}

impl BuyAndHold {
    fn build(params: &Params, _base: Interval) -> Result<Box<dyn Strategy>, String> {
        let r = Reader::new(params, &["qty"])?;
        Ok(Box::new(Self {
            qty: r.quantity("qty", 100.0)?,
            bought: std::collections::BTreeSet::new(),
        }))
    }
}

impl Strategy for BuyAndHold {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        if self.bought.insert(bar.symbol()) {
            ctx.act(bar.symbol(), Side::Buy, self.qty, "buy and hold");
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::CrossState;

    proptest! {
        /// The ring's sums are the sums of the last `fast` and `slow` closes, and it says the
        /// windows are full from the `slow`-th close on.
        #[test]
        fn the_ring_sums_the_last_fast_and_slow_closes(
            closes in proptest::collection::vec(-1_000_000i128..1_000_000, 0..120),
            fast in 1usize..12,
            extra in 1usize..20,
        ) {
            let slow = fast + extra;
            let mut s = CrossState::new(slow);
            for (i, close) in closes.iter().enumerate() {
                let full = s.push(*close, fast);
                let seen = &closes[..=i];
                let sum = |n: usize| seen[seen.len().saturating_sub(n)..].iter().sum::<i128>();
                prop_assert_eq!(full, seen.len() >= slow);
                prop_assert_eq!(s.fast_sum, sum(fast));
                prop_assert_eq!(s.slow_sum, sum(slow));
            }
        }
    }
}
