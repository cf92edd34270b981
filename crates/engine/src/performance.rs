//! Round trips and performance metrics.
//!
//! Definitions (252 trading days a year, no risk-free rate):
//! - daily returns `r_i = E_i / E_(i-1) - 1`, from the initial equity and each day's closing
//!   equity;
//! - total return `E_n / E_0 - 1`; CAGR `(E_n / E_0)^(252 / n) - 1` over `n` trading days;
//! - volatility: the sample standard deviation of daily returns × √252;
//! - Sharpe: mean / standard deviation of daily returns × √252; Sortino: mean / downside
//!   deviation `sqrt(Σ min(r, 0)² / n)` × √252; Calmar: CAGR / max drawdown;
//! - max drawdown: the largest fall from a peak, as a fraction of the peak, over the equity
//!   recorded at every delivery time; its duration: the most trading days spent below an
//!   earlier daily peak before recovering it (or until the end);
//! - win rate, profit factor (gross wins / gross losses), average win and loss: over round
//!   trips (flat to flat), net of commissions;
//! - exposure: the share of equity records with a position open; turnover: traded notional /
//!   mean daily equity.

use openbell_model::{Fill, Money, Price, Quantity, Side, Symbol, SymbolMap, Timestamp};

/// One round trip: from flat to flat (a flip closes one and opens the next).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The instrument.
    pub symbol: Symbol,
    /// `Buy` for a long trade, `Sell` for a short one.
    pub side: Side,
    /// The largest absolute position it reached.
    pub quantity: Quantity,
    /// The first fill.
    pub entry_ts: Timestamp,
    /// The last fill.
    pub exit_ts: Timestamp,
    /// The volume-weighted price of the opening fills.
    pub entry_price: Price,
    /// The volume-weighted price of the closing fills.
    pub exit_price: Price,
    /// Realized profit before commissions.
    pub gross_pnl: Money,
    /// Commissions of its fills.
    pub commission: Money,
}

impl Trade {
    /// Profit after commissions.
    #[must_use]
    pub fn net_pnl(&self) -> Money {
        Money::from_raw(self.gross_pnl.raw() - self.commission.raw())
    }
}

#[derive(Debug, Clone)]
struct OpenTrade {
    side: Side,
    peak: i128,
    entry_ts: Timestamp,
    entry_qty: i128,
    entry_notional: i128,
    exit_qty: i128,
    exit_notional: i128,
    gross: i128,
    commission: i128,
}

/// Builds round trips from fills, and keeps the closed ones unless told not to.
#[derive(Debug, Clone)]
pub struct TradeBook {
    /// Open round trips by symbol: looked up on every fill.
    open: SymbolMap<OpenTrade>,
    /// The closed round trips, unless the book forgets them.
    closed: Option<Vec<Trade>>,
    stats: TradeStats,
}

impl Default for TradeBook {
    fn default() -> Self {
        Self {
            open: SymbolMap::default(),
            closed: Some(Vec::new()),
            stats: TradeStats::default(),
        }
    }
}

/// `q × price` of raw quantity and price, in raw money (rounded toward zero): for a whole
/// quantity in 64 bits the exact product of the units and the price, without a 128-bit division.
#[inline]
fn notional(q: i128, price: i128) -> i128 {
    match Quantity::from_raw(q).whole_units() {
        Some(units) => i128::from(units) * price,
        None => q * price / openbell_model::fixed::SCALE,
    }
}

fn vwap(notional: i128, qty: i128) -> Price {
    if qty == 0 {
        return Price::ZERO;
    }
    Money::from_raw(notional)
        .checked_div_qty(Quantity::from_raw(qty))
        .unwrap_or(Price::ZERO)
}

impl TradeBook {
    /// A book that hands closed round trips out ([`TradeBook::record`]'s result) and keeps
    /// only their statistics: its memory does not grow with the session.
    #[must_use]
    pub fn forgetting() -> Self {
        Self {
            closed: None,
            ..Self::default()
        }
    }

    /// Records a fill: `before` is the position before it, `realized` what it realized.
    /// Returns the round trip it closed, if it closed one.
    pub fn record(&mut self, fill: &Fill, before: Quantity, realized: Money) -> Option<Trade> {
        let mut done = None;
        let delta = fill.signed_quantity().raw();
        let before = before.raw();
        let after = before + delta;
        let price = fill.price().raw();
        let notional = |q: i128| notional(q, price);
        let symbol = fill.symbol();
        let closing = if before != 0 && before.signum() != delta.signum() {
            delta.abs().min(before.abs())
        } else {
            0
        };
        let opening = delta.abs() - closing;
        if closing > 0
            && let Some(t) = self.open.get_mut(&symbol)
        {
            t.exit_qty += closing;
            t.exit_notional += notional(closing);
            t.gross += realized.raw();
            t.commission += fill.commission().raw();
            if after == 0 || after.signum() != before.signum() {
                let t = self.open.remove(&symbol);
                if let Some(t) = t {
                    let trade = Trade {
                        symbol,
                        side: t.side,
                        quantity: Quantity::from_raw(t.peak),
                        entry_ts: t.entry_ts,
                        exit_ts: fill.ts_event(),
                        entry_price: vwap(t.entry_notional, t.entry_qty),
                        exit_price: vwap(t.exit_notional, t.exit_qty),
                        gross_pnl: Money::from_raw(t.gross),
                        commission: Money::from_raw(t.commission),
                    };
                    self.stats.add(&trade);
                    if let Some(closed) = self.closed.as_mut() {
                        closed.push(trade.clone());
                    }
                    done = Some(trade);
                }
            }
        }
        if opening > 0 {
            let commission = if closing > 0 {
                0
            } else {
                fill.commission().raw()
            };
            let t = self.open.entry(symbol).or_insert_with(|| OpenTrade {
                side: if delta > 0 { Side::Buy } else { Side::Sell },
                peak: 0,
                entry_ts: fill.ts_event(),
                entry_qty: 0,
                entry_notional: 0,
                exit_qty: 0,
                exit_notional: 0,
                gross: 0,
                commission: 0,
            });
            t.entry_qty += opening;
            t.entry_notional += notional(opening);
            t.commission += commission;
            t.peak = t.peak.max(after.abs());
        }
        done
    }

    /// Statistics of every closed round trip.
    #[must_use]
    pub const fn stats(&self) -> &TradeStats {
        &self.stats
    }

    /// Closed round trips, in closing order (none for a [`TradeBook::forgetting`] book).
    #[must_use]
    pub fn closed(&self) -> &[Trade] {
        self.closed.as_deref().unwrap_or_default()
    }

    /// Closed round trips, handed over.
    #[must_use]
    pub fn into_closed(self) -> Vec<Trade> {
        self.closed.unwrap_or_default()
    }

    /// Round trips still open.
    #[must_use]
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

/// Running statistics of closed round trips: what the metrics need of them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TradeStats {
    /// Round trips.
    pub count: usize,
    /// Round trips with a positive net profit.
    pub wins: usize,
    /// Σ net profit of the winners.
    pub win_sum: f64,
    /// Round trips with a negative net profit.
    pub losses: usize,
    /// Σ net profit of the losers (negative).
    pub loss_sum: f64,
}

impl TradeStats {
    /// Adds a closed round trip.
    pub fn add(&mut self, trade: &Trade) {
        let net = trade.net_pnl().to_f64();
        self.count += 1;
        if net > 0.0 {
            self.wins += 1;
            self.win_sum += net;
        } else if net < 0.0 {
            self.losses += 1;
            self.loss_sum += net;
        }
    }

    /// The statistics of `trades`.
    #[must_use]
    pub fn of(trades: &[Trade]) -> Self {
        let mut stats = Self::default();
        for t in trades {
            stats.add(t);
        }
        stats
    }
}

/// Running statistics of the equity recorded at each delivery time: what the metrics need of
/// it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquityStats {
    peak: f64,
    /// The largest fall from a peak so far, as a fraction of the peak.
    pub max_drawdown: f64,
    /// Records.
    pub records: u64,
    /// Records with a position open.
    pub exposed: u64,
    /// The latest equity.
    pub last: Option<f64>,
}

impl EquityStats {
    /// No records yet; drawdowns are measured from `initial`.
    #[must_use]
    pub fn new(initial: Money) -> Self {
        Self {
            peak: initial.to_f64(),
            max_drawdown: 0.0,
            records: 0,
            exposed: 0,
            last: None,
        }
    }

    /// Adds the equity at a delivery time and whether a position was open.
    pub fn add(&mut self, equity: Money, open: bool) {
        let e = equity.to_f64();
        self.peak = self.peak.max(e);
        self.last = Some(e);
        self.max_drawdown = self.max_drawdown.max(self.drawdown());
        self.records += 1;
        if open {
            self.exposed += 1;
        }
    }

    /// How far the latest equity is below the peak so far, as a fraction of the peak (0
    /// before any record, or while the peak is not positive).
    #[must_use]
    pub fn drawdown(&self) -> f64 {
        match self.last {
            Some(e) if self.peak > 0.0 => (self.peak - e) / self.peak,
            _ => 0.0,
        }
    }

    /// The statistics of `records`, from `initial`.
    #[must_use]
    pub fn of(initial: Money, records: &[(Timestamp, Money, bool)]) -> Self {
        let mut stats = Self::new(initial);
        for (_, e, open) in records {
            stats.add(*e, *open);
        }
        stats
    }
}

/// Performance of a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Performance {
    /// Starting equity.
    pub initial_equity: f64,
    /// Equity at the end.
    pub final_equity: f64,
    /// `final / initial - 1`.
    pub total_return: f64,
    /// Compound annual growth rate.
    pub cagr: f64,
    /// Annualised volatility of daily returns.
    pub volatility: f64,
    /// Annualised Sharpe ratio (none when returns do not vary).
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio (none without a losing day).
    pub sortino: Option<f64>,
    /// CAGR / max drawdown (none without a drawdown).
    pub calmar: Option<f64>,
    /// The largest fall from a peak, as a fraction of the peak.
    pub max_drawdown: f64,
    /// The most trading days below an earlier daily peak.
    pub max_drawdown_days: u32,
    /// Share of round trips with a positive net profit.
    pub win_rate: Option<f64>,
    /// Gross wins / gross losses (none without a loss).
    pub profit_factor: Option<f64>,
    /// Mean net profit of winning round trips.
    pub avg_win: Option<f64>,
    /// Mean net loss of losing round trips (negative).
    pub avg_loss: Option<f64>,
    /// Share of equity records with a position open.
    pub exposure: f64,
    /// Traded notional / mean daily equity.
    pub turnover: f64,
    /// Closed round trips.
    pub trades: usize,
    /// Commissions paid.
    pub commissions: f64,
}

/// What the metrics are computed from.
#[derive(Debug, Clone, Copy)]
pub struct MetricInputs<'a> {
    /// Starting equity.
    pub initial: Money,
    /// Statistics of the equity at each delivery time.
    pub equity: &'a EquityStats,
    /// Closing equity of each trading day.
    pub daily: &'a [Money],
    /// Statistics of the closed round trips.
    pub trades: &'a TradeStats,
    /// Σ |notional| of every fill.
    pub traded: Money,
    /// Commissions paid.
    pub commissions: Money,
}

/// Computes the metrics (see the module documentation for the definitions).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn performance(input: &MetricInputs<'_>) -> Performance {
    let initial = input.initial.to_f64();
    let daily: Vec<f64> = input.daily.iter().map(|m| m.to_f64()).collect();
    let final_equity = daily
        .last()
        .copied()
        .or(input.equity.last)
        .unwrap_or(initial);
    let mut returns = Vec::with_capacity(daily.len());
    let mut previous = initial;
    for e in &daily {
        if previous != 0.0 {
            returns.push(e / previous - 1.0);
        }
        previous = *e;
    }
    let n = returns.len() as f64;
    let mean = if returns.is_empty() {
        0.0
    } else {
        returns.iter().sum::<f64>() / n
    };
    let sd = if returns.len() > 1 {
        (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let downside = if returns.is_empty() {
        0.0
    } else {
        (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt()
    };
    let annual = 252f64.sqrt();
    let total_return = if initial == 0.0 {
        0.0
    } else {
        final_equity / initial - 1.0
    };
    let cagr = if daily.is_empty() || initial <= 0.0 || final_equity <= 0.0 {
        0.0
    } else {
        (final_equity / initial).powf(252.0 / daily.len() as f64) - 1.0
    };

    // Max drawdown over every equity record, starting from the initial equity.
    let max_drawdown = input.equity.max_drawdown;
    // Longest run of days below an earlier daily peak.
    let mut daily_peak = initial;
    let (mut run, mut longest) = (0u32, 0u32);
    for e in &daily {
        if *e >= daily_peak {
            daily_peak = *e;
            run = 0;
        } else {
            run += 1;
            longest = longest.max(run);
        }
    }

    let t = input.trades;
    let mean_of = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
    let exposure = if input.equity.records == 0 {
        0.0
    } else {
        input.equity.exposed as f64 / input.equity.records as f64
    };
    let mean_equity = if daily.is_empty() {
        initial
    } else {
        daily.iter().sum::<f64>() / daily.len() as f64
    };
    Performance {
        initial_equity: initial,
        final_equity,
        total_return,
        cagr,
        volatility: sd * annual,
        sharpe: (sd > 0.0).then(|| mean / sd * annual),
        sortino: (downside > 0.0).then(|| mean / downside * annual),
        calmar: (max_drawdown > 0.0).then(|| cagr / max_drawdown),
        max_drawdown,
        max_drawdown_days: longest,
        win_rate: (t.count > 0).then(|| t.wins as f64 / t.count as f64),
        profit_factor: (t.loss_sum < 0.0).then(|| t.win_sum / -t.loss_sum),
        avg_win: mean_of(t.win_sum, t.wins),
        avg_loss: mean_of(t.loss_sum, t.losses),
        exposure,
        turnover: if mean_equity > 0.0 {
            input.traded.to_f64() / mean_equity
        } else {
            0.0
        },
        trades: t.count,
        commissions: input.commissions.to_f64(),
    }
}

#[cfg(test)]
mod tests {
    use openbell_model::OrderId;

    use super::*;

    fn money(v: i128) -> Money {
        Money::from_units(v).unwrap()
    }

    fn ts(n: i64) -> Timestamp {
        Timestamp::from_nanos(n * 60_000_000_000)
    }

    fn trade(net: i128) -> Trade {
        Trade {
            symbol: Symbol::parse("SPY").unwrap(),
            side: Side::Buy,
            quantity: Quantity::from_units(1).unwrap(),
            entry_ts: ts(0),
            exit_ts: ts(1),
            entry_price: Price::ZERO,
            exit_price: Price::ZERO,
            gross_pnl: money(net + 1),
            commission: money(1),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn metrics_match_a_hand_computed_example() {
        // Initial 100; days close at 110, 99, 121 (returns +10%, -10%, +22.2...%).
        let daily = [money(110), money(99), money(121)];
        // Intraday records: peak 110, trough 99 -> drawdown 10%; a deeper intraday dip to 88
        // on day 3 -> 20%.
        let equity = [
            (ts(1), money(110), true),
            (ts(2), money(99), true),
            (ts(3), money(88), false),
            (ts(4), money(121), false),
        ];
        let trades = [trade(30), trade(-10), trade(20)];
        // The drawdown now and at the deepest point: 20% at 88 from 110, none at the new peak.
        assert!((EquityStats::of(money(100), &equity[..3]).drawdown() - 0.2).abs() < 1e-12);
        assert!(EquityStats::of(money(100), &equity).drawdown().abs() < 1e-12);
        assert!(EquityStats::new(money(100)).drawdown().abs() < 1e-12);
        let m = performance(&MetricInputs {
            initial: money(100),
            equity: &EquityStats::of(money(100), &equity),
            daily: &daily,
            trades: &TradeStats::of(&trades),
            traded: money(330),
            commissions: money(3),
        });
        let r = [0.1, -0.1, 121.0 / 99.0 - 1.0];
        let mean = (r[0] + r[1] + r[2]) / 3.0;
        let sd = (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 2.0).sqrt();
        let downside = (0.01f64 / 3.0).sqrt();
        assert!(close(m.total_return, 0.21));
        assert!(close(m.cagr, 1.21f64.powf(84.0) - 1.0));
        assert!(close(m.volatility, sd * 252f64.sqrt()));
        assert!(close(m.sharpe.unwrap(), mean / sd * 252f64.sqrt()));
        assert!(close(m.sortino.unwrap(), mean / downside * 252f64.sqrt()));
        assert!(close(m.max_drawdown, 0.2));
        assert!(close(m.calmar.unwrap(), m.cagr / 0.2));
        assert_eq!(m.max_drawdown_days, 1);
        assert!(close(m.win_rate.unwrap(), 2.0 / 3.0));
        assert!(close(m.profit_factor.unwrap(), 5.0));
        assert!(close(m.avg_win.unwrap(), 25.0));
        assert!(close(m.avg_loss.unwrap(), -10.0));
        assert!(close(m.exposure, 0.5));
        assert!(close(m.turnover, 330.0 / ((110.0 + 99.0 + 121.0) / 3.0)));
        assert_eq!(m.trades, 3);
        assert!(close(m.commissions, 3.0));
    }

    #[test]
    fn no_trades_and_flat_equity_leave_ratios_empty() {
        let daily = [money(100), money(100)];
        let m = performance(&MetricInputs {
            initial: money(100),
            equity: &EquityStats::new(money(100)),
            daily: &daily,
            trades: &TradeStats::default(),
            traded: Money::ZERO,
            commissions: Money::ZERO,
        });
        assert_eq!(m.total_return, 0.0);
        assert_eq!((m.sharpe, m.sortino, m.calmar), (None, None, None));
        assert_eq!((m.win_rate, m.profit_factor), (None, None));
        assert_eq!(m.trades, 0);
    }

    fn fill(side: Side, qty: i128, price: i128, commission: i128, minute: i64) -> Fill {
        Fill::try_new(
            OrderId(1),
            Symbol::parse("SPY").unwrap(),
            side,
            Quantity::from_units(qty).unwrap(),
            Price::from_units(price).unwrap(),
            money(commission),
            ts(minute),
        )
        .unwrap()
    }

    #[test]
    fn round_trips_run_flat_to_flat_and_flips_split_them() {
        let mut book = TradeBook::default();
        let q = |v: i128| Quantity::from_units(v).unwrap();
        book.record(&fill(Side::Buy, 10, 100, 1, 0), q(0), Money::ZERO);
        book.record(&fill(Side::Buy, 10, 110, 1, 1), q(10), Money::ZERO);
        book.record(&fill(Side::Sell, 5, 120, 1, 2), q(20), money(100));
        assert!(book.closed().is_empty());
        // Sell 25: closes 15 (realized 150 + 75 = say 225) and opens 10 short.
        book.record(&fill(Side::Sell, 25, 120, 1, 3), q(15), money(225));
        assert_eq!(book.closed().len(), 1);
        let t = &book.closed()[0];
        assert_eq!(t.side, Side::Buy);
        assert_eq!(t.quantity, q(20));
        assert_eq!(t.entry_price, Price::from_units(105).unwrap());
        assert_eq!(t.exit_price, Price::from_units(120).unwrap());
        assert_eq!(t.gross_pnl, money(325));
        assert_eq!(t.commission, money(4));
        assert_eq!(t.net_pnl(), money(321));
        assert_eq!((t.entry_ts, t.exit_ts), (ts(0), ts(3)));
        assert_eq!(book.open_count(), 1);
        book.record(&fill(Side::Buy, 10, 100, 0, 4), q(-10), money(200));
        let t = &book.closed()[1];
        assert_eq!(t.side, Side::Sell);
        assert_eq!(t.quantity, q(10));
        assert_eq!(t.gross_pnl, money(200));
        assert_eq!(book.open_count(), 0);
    }

    proptest::proptest! {
        /// A notional is the product rounded toward zero, whatever path computes it.
        #[test]
        fn notionals_are_the_rounded_product(
            units in -1_000_000i128..1_000_000,
            fraction in proptest::prop_oneof![proptest::strategy::Just(0i128), -999_999_999i128..1_000_000_000],
            price in -10_000_000_000_000i128..10_000_000_000_000,
        ) {
            let q = units * 1_000_000_000 + fraction;
            proptest::prop_assert_eq!(notional(q, price), q * price / 1_000_000_000);
        }
    }
}
