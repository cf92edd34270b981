//! What a session produces, as rows, and writing them in batched transactions with multi-row
//! inserts. Money, prices and quantities are exact decimal text.

use chrono::{DateTime, Utc};
use openbell_model::SessionId;

use crate::{Pool, Store, StoreError, on_pool};

/// Every table whose rows belong to one session.
pub(crate) const CHILD_TABLES: &[&str] = &[
    "session_days",
    "signals",
    "orders",
    "fills",
    "trades",
    "positions",
    "equity",
    "quality",
    "scans",
    "risk_events",
];

/// Rows per INSERT statement: well under both backends' bind-parameter limits.
const CHUNK: usize = 500;

/// One trading day of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Base bars delivered.
    pub bars: i64,
    /// Closing equity, if trading.
    pub equity: Option<String>,
}

/// A signal.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRow {
    /// Its number in the session.
    pub signal_id: i64,
    /// When.
    pub ts: DateTime<Utc>,
    /// The symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// 0 to 1.
    pub strength: f64,
    /// Why.
    pub reason: String,
}

/// An order's latest state (re-writing an order updates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    /// Its number in the session.
    pub order_id: i64,
    /// When it was submitted.
    pub ts: DateTime<Utc>,
    /// The symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market`, `limit`, `stop`, `stop_limit`.
    pub order_type: String,
    /// The limit price.
    pub limit_price: Option<String>,
    /// The stop price.
    pub stop_price: Option<String>,
    /// `day`, `gtc`, `ioc`.
    pub time_in_force: String,
    /// Ordered quantity.
    pub quantity: String,
    /// Filled so far.
    pub filled: String,
    /// The order status text.
    pub status: String,
    /// The signal it acts on.
    pub signal_id: Option<i64>,
    /// Why it was rejected, cancelled or expired.
    pub reason: Option<String>,
}

/// A fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRow {
    /// Its number in the session.
    pub seq: i64,
    /// When.
    pub ts: DateTime<Utc>,
    /// The order.
    pub order_id: i64,
    /// The symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Quantity.
    pub quantity: String,
    /// Price.
    pub price: String,
    /// Commission.
    pub commission: String,
}

/// A round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    /// Its number in the session.
    pub seq: i64,
    /// The symbol.
    pub symbol: String,
    /// `long` or `short`.
    pub side: String,
    /// Largest position.
    pub quantity: String,
    /// First fill.
    pub entry_ts: DateTime<Utc>,
    /// Last fill.
    pub exit_ts: DateTime<Utc>,
    /// Entry price.
    pub entry_price: String,
    /// Exit price.
    pub exit_price: String,
    /// Profit before commissions.
    pub gross_pnl: String,
    /// Commissions.
    pub commission: String,
}

/// A position change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionRow {
    /// Its number in the session.
    pub seq: i64,
    /// When.
    pub ts: DateTime<Utc>,
    /// The symbol.
    pub symbol: String,
    /// The quantity held after it.
    pub quantity: String,
    /// Profit realized by the fill.
    pub realized: String,
}

/// Equity at a delivery time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquityRow {
    /// When.
    pub ts: DateTime<Utc>,
    /// Equity.
    pub equity: String,
    /// Cash.
    pub cash: String,
}

/// A symbol-day's quality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityRow {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The symbol.
    pub symbol: String,
    /// Bars expected.
    pub expected: i64,
    /// Bars present.
    pub present: i64,
    /// Missing runs, `start/end;...`.
    pub missing: String,
}

/// A scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRow {
    /// Its number in the session.
    pub seq: i64,
    /// When.
    pub ts: DateTime<Utc>,
    /// The scanner's label.
    pub scanner: String,
    /// The data cutoff.
    pub as_of: DateTime<Utc>,
    /// Ranked candidates (JSON).
    pub candidates: String,
    /// Chosen symbols (JSON).
    pub chosen: String,
}

/// A risk-rule rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskRow {
    /// Its number in the session.
    pub seq: i64,
    /// When.
    pub ts: DateTime<Utc>,
    /// The order.
    pub order_id: i64,
    /// The symbol.
    pub symbol: String,
    /// The rule and why.
    pub reason: String,
}

/// Rows of one session to write in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Trading days.
    pub days: Vec<DayRow>,
    /// Signals.
    pub signals: Vec<SignalRow>,
    /// Orders (inserted or updated).
    pub orders: Vec<OrderRow>,
    /// Fills.
    pub fills: Vec<FillRow>,
    /// Round trips.
    pub trades: Vec<TradeRow>,
    /// Position changes.
    pub positions: Vec<PositionRow>,
    /// Equity records.
    pub equity: Vec<EquityRow>,
    /// Quality rows.
    pub quality: Vec<QualityRow>,
    /// Scans.
    pub scans: Vec<ScanRow>,
    /// Risk rejections.
    pub risk: Vec<RiskRow>,
}

impl Batch {
    /// How many rows it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.days.len()
            + self.signals.len()
            + self.orders.len()
            + self.fills.len()
            + self.trades.len()
            + self.positions.len()
            + self.equity.len()
            + self.quality.len()
            + self.scans.len()
            + self.risk.len()
    }

    /// True when it holds no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Pushes `rows` as multi-row INSERTs of at most [`CHUNK`] rows into the transaction.
macro_rules! insert_rows {
    ($tx:expr, $head:expr, $tail:expr, $rows:expr, $sid:expr, |$b:ident, $r:ident| $bind:block) => {
        for chunk in $rows.chunks(CHUNK) {
            let mut qb = sqlx::QueryBuilder::new($head);
            qb.push_values(chunk, |mut $b, $r| {
                $b.push_bind($sid.clone());
                $bind
            });
            qb.push($tail);
            qb.build().execute(&mut *$tx).await?;
        }
    };
}

impl Store {
    /// Writes a batch of one session's rows in one transaction (multi-row inserts); either all
    /// of it is committed or none.
    ///
    /// # Errors
    /// [`StoreError::Db`]: a constraint (an unknown session, a duplicate row, a bad enum) or the
    /// database itself.
    pub async fn write_batch(&self, session: SessionId, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let sid = session.to_string();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            insert_rows!(tx, "INSERT INTO session_days (session_id, date, bars, equity) ", " ON CONFLICT (session_id, date) DO UPDATE SET bars = excluded.bars, equity = excluded.equity", batch.days, sid, |b, r| {
                b.push_bind(r.date.clone()).push_bind(r.bars).push_bind(r.equity.clone());
            });
            insert_rows!(tx, "INSERT INTO signals (session_id, signal_id, ts, symbol, side, strength, reason) ", "", batch.signals, sid, |b, r| {
                b.push_bind(r.signal_id).push_bind(r.ts).push_bind(r.symbol.clone()).push_bind(r.side.clone()).push_bind(r.strength).push_bind(r.reason.clone());
            });
            insert_rows!(tx, "INSERT INTO orders (session_id, order_id, ts, symbol, side, order_type, limit_price, stop_price, time_in_force, quantity, filled, status, signal_id, reason) ", " ON CONFLICT (session_id, order_id) DO UPDATE SET filled = excluded.filled, status = excluded.status, reason = excluded.reason", batch.orders, sid, |b, r| {
                b.push_bind(r.order_id).push_bind(r.ts).push_bind(r.symbol.clone()).push_bind(r.side.clone()).push_bind(r.order_type.clone()).push_bind(r.limit_price.clone()).push_bind(r.stop_price.clone()).push_bind(r.time_in_force.clone()).push_bind(r.quantity.clone()).push_bind(r.filled.clone()).push_bind(r.status.clone()).push_bind(r.signal_id).push_bind(r.reason.clone());
            });
            insert_rows!(tx, "INSERT INTO fills (session_id, fill_seq, ts, order_id, symbol, side, quantity, price, commission) ", "", batch.fills, sid, |b, r| {
                b.push_bind(r.seq).push_bind(r.ts).push_bind(r.order_id).push_bind(r.symbol.clone()).push_bind(r.side.clone()).push_bind(r.quantity.clone()).push_bind(r.price.clone()).push_bind(r.commission.clone());
            });
            insert_rows!(tx, "INSERT INTO trades (session_id, trade_seq, symbol, side, quantity, entry_ts, exit_ts, entry_price, exit_price, gross_pnl, commission) ", "", batch.trades, sid, |b, r| {
                b.push_bind(r.seq).push_bind(r.symbol.clone()).push_bind(r.side.clone()).push_bind(r.quantity.clone()).push_bind(r.entry_ts).push_bind(r.exit_ts).push_bind(r.entry_price.clone()).push_bind(r.exit_price.clone()).push_bind(r.gross_pnl.clone()).push_bind(r.commission.clone());
            });
            insert_rows!(tx, "INSERT INTO positions (session_id, position_seq, ts, symbol, quantity, realized) ", "", batch.positions, sid, |b, r| {
                b.push_bind(r.seq).push_bind(r.ts).push_bind(r.symbol.clone()).push_bind(r.quantity.clone()).push_bind(r.realized.clone());
            });
            insert_rows!(tx, "INSERT INTO equity (session_id, ts, equity, cash) ", " ON CONFLICT (session_id, ts) DO UPDATE SET equity = excluded.equity, cash = excluded.cash", batch.equity, sid, |b, r| {
                b.push_bind(r.ts).push_bind(r.equity.clone()).push_bind(r.cash.clone());
            });
            insert_rows!(tx, "INSERT INTO quality (session_id, date, symbol, expected, present, missing) ", "", batch.quality, sid, |b, r| {
                b.push_bind(r.date.clone()).push_bind(r.symbol.clone()).push_bind(r.expected).push_bind(r.present).push_bind(r.missing.clone());
            });
            insert_rows!(tx, "INSERT INTO scans (session_id, scan_seq, ts, scanner, as_of, candidates, chosen) ", "", batch.scans, sid, |b, r| {
                b.push_bind(r.seq).push_bind(r.ts).push_bind(r.scanner.clone()).push_bind(r.as_of).push_bind(r.candidates.clone()).push_bind(r.chosen.clone());
            });
            insert_rows!(tx, "INSERT INTO risk_events (session_id, event_seq, ts, order_id, symbol, reason) ", "", batch.risk, sid, |b, r| {
                b.push_bind(r.seq).push_bind(r.ts).push_bind(r.order_id).push_bind(r.symbol.clone()).push_bind(r.reason.clone());
            });
            tx.commit().await?;
        });
        Ok(())
    }
}
