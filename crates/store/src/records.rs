//! What a session produces, as rows, and reading them back. Money, prices and quantities are
//! exact decimal text.

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

/// One trading day of a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayRow {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Base bars delivered.
    pub bars: i64,
    /// Closing equity, if trading.
    pub equity: Option<String>,
}

/// A signal.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EquityRow {
    /// When.
    pub ts: DateTime<Utc>,
    /// Equity.
    pub equity: String,
    /// Cash.
    pub cash: String,
}

/// A symbol-day's quality.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

    /// An empty batch with room for as many rows of each kind as `other` holds: the next
    /// batch of a steady stream fills without growing its vectors step by step.
    #[must_use]
    pub fn with_room_of(other: &Self) -> Self {
        Self {
            days: Vec::with_capacity(other.days.len()),
            signals: Vec::with_capacity(other.signals.len()),
            orders: Vec::with_capacity(other.orders.len()),
            fills: Vec::with_capacity(other.fills.len()),
            trades: Vec::with_capacity(other.trades.len()),
            positions: Vec::with_capacity(other.positions.len()),
            equity: Vec::with_capacity(other.equity.len()),
            quality: Vec::with_capacity(other.quality.len()),
            scans: Vec::with_capacity(other.scans.len()),
            risk: Vec::with_capacity(other.risk.len()),
        }
    }
}

/// Reads a session's rows of `$table` into `$row`, field by column: the columns are selected
/// from the same list the fields are read by. `$tail` follows `WHERE session_id = $1`, and
/// `$binds` binds the parameters to `$q`, the query.
macro_rules! fetch_rows {
    (
        $store:expr, $table:literal, $tail:expr, |$q:ident| $binds:expr,
        $row:ident { $first:ident: $first_col:literal $(, $field:ident: $col:literal)* $(,)? }
    ) => {{
        use sqlx::Row;
        const COLUMNS: &str = concat!($first_col $(, ", ", $col)*);
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE session_id = $1 {}",
            $table, $tail
        );
        on_pool!($store, p => {
            let $q = sqlx::query(&sql);
            let rows = $binds.fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok($row { $first: r.try_get($first_col)?, $($field: r.try_get($col)?),* }))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }};
}

impl Store {
    /// A session's signals, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn signals(&self, session: SessionId) -> Result<Vec<SignalRow>, StoreError> {
        self.signals_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's signals with ids above `after`, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn signals_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SignalRow>, StoreError> {
        fetch_rows!(
            self,
            "signals",
            "AND signal_id > $2 ORDER BY signal_id LIMIT $3",
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            SignalRow {
                signal_id: "signal_id",
                ts: "ts",
                symbol: "symbol",
                side: "side",
                strength: "strength",
                reason: "reason",
            }
        )
    }

    /// A session's orders, by id.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn orders(&self, session: SessionId) -> Result<Vec<OrderRow>, StoreError> {
        self.orders_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's orders with ids above `after`, by id: a long session's
    /// orders read a page at a time.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn orders_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<OrderRow>, StoreError> {
        fetch_rows!(
            self,
            "orders",
            "AND order_id > $2 ORDER BY order_id LIMIT $3",
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            OrderRow {
                order_id: "order_id",
                ts: "ts",
                symbol: "symbol",
                side: "side",
                order_type: "order_type",
                limit_price: "limit_price",
                stop_price: "stop_price",
                time_in_force: "time_in_force",
                quantity: "quantity",
                filled: "filled",
                status: "status",
                signal_id: "signal_id",
                reason: "reason",
            }
        )
    }

    /// A session's fills, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn fills(&self, session: SessionId) -> Result<Vec<FillRow>, StoreError> {
        self.fills_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's fills numbered above `after`, in order: a long
    /// session's fills read a page at a time.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn fills_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FillRow>, StoreError> {
        fetch_rows!(
            self,
            "fills",
            "AND fill_seq > $2 ORDER BY fill_seq LIMIT $3",
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            FillRow {
                seq: "fill_seq",
                ts: "ts",
                order_id: "order_id",
                symbol: "symbol",
                side: "side",
                quantity: "quantity",
                price: "price",
                commission: "commission",
            }
        )
    }

    /// A session's round trips, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn trades(&self, session: SessionId) -> Result<Vec<TradeRow>, StoreError> {
        self.trades_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's round trips numbered above `after`, in order: a long
    /// session's round trips read a page at a time.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn trades_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TradeRow>, StoreError> {
        fetch_rows!(
            self,
            "trades",
            "AND trade_seq > $2 ORDER BY trade_seq LIMIT $3",
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            TradeRow {
                seq: "trade_seq",
                symbol: "symbol",
                side: "side",
                quantity: "quantity",
                entry_ts: "entry_ts",
                exit_ts: "exit_ts",
                entry_price: "entry_price",
                exit_price: "exit_price",
                gross_pnl: "gross_pnl",
                commission: "commission",
            }
        )
    }

    /// A session's position changes, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn positions(&self, session: SessionId) -> Result<Vec<PositionRow>, StoreError> {
        self.positions_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's position changes numbered above `after`, in order: a
    /// long session's position changes read a page at a time.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn positions_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<PositionRow>, StoreError> {
        fetch_rows!(
            self,
            "positions",
            "AND position_seq > $2 ORDER BY position_seq LIMIT $3",
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            PositionRow {
                seq: "position_seq",
                ts: "ts",
                symbol: "symbol",
                quantity: "quantity",
                realized: "realized",
            }
        )
    }

    /// A session's equity records, in time order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn equity(&self, session: SessionId) -> Result<Vec<EquityRow>, StoreError> {
        self.equity_page(session, None, i64::MAX).await
    }

    /// At most `limit` of a session's equity records after `after` (from the start without
    /// it), in time order: a long session's equity read a page at a time.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn equity_page(
        &self,
        session: SessionId,
        after: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<EquityRow>, StoreError> {
        // Two statements rather than `($2 IS NULL OR ts > $2)`, so that each page starts
        // at its time in the index instead of filtering the session's rows from the start.
        let tail = if after.is_some() {
            "AND ts > $2 ORDER BY ts LIMIT $3"
        } else {
            "AND $2 IS NULL ORDER BY ts LIMIT $3"
        };
        fetch_rows!(
            self,
            "equity",
            tail,
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            EquityRow {
                ts: "ts",
                equity: "equity",
                cash: "cash",
            }
        )
    }

    /// A session's quality rows, by date then symbol.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn quality(&self, session: SessionId) -> Result<Vec<QualityRow>, StoreError> {
        self.quality_page(session, None, i64::MAX).await
    }

    /// At most `limit` of a session's quality rows after `(date, symbol)` (from the first
    /// without it), by date then symbol.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn quality_page(
        &self,
        session: SessionId,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Vec<QualityRow>, StoreError> {
        let (date, symbol) = after.unwrap_or(("", ""));
        fetch_rows!(
            self,
            "quality",
            "AND (date > $2 OR (date = $2 AND symbol > $3)) ORDER BY date, symbol LIMIT $4",
            |q| q
                .bind(session.to_string())
                .bind(date)
                .bind(symbol)
                .bind(limit),
            QualityRow {
                date: "date",
                symbol: "symbol",
                expected: "expected",
                present: "present",
                missing: "missing",
            }
        )
    }

    /// A session's scans, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn scans(&self, session: SessionId) -> Result<Vec<ScanRow>, StoreError> {
        self.scans_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's scans numbered above `after`, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn scans_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ScanRow>, StoreError> {
        fetch_rows!(
            self,
            "scans",
            "AND scan_seq > $2 ORDER BY scan_seq LIMIT $3",
            |q| q.bind(session.to_string()).bind(after).bind(limit),
            ScanRow {
                seq: "scan_seq",
                ts: "ts",
                scanner: "scanner",
                as_of: "as_of",
                candidates: "candidates",
                chosen: "chosen",
            }
        )
    }

    /// At most `limit` of a session's trading days after `after` (from the first without
    /// it), oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn days_page(
        &self,
        session: SessionId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DayRow>, StoreError> {
        fetch_rows!(
            self,
            "session_days",
            "AND date > $2 ORDER BY date LIMIT $3",
            |q| q
                .bind(session.to_string())
                .bind(after.unwrap_or(""))
                .bind(limit),
            DayRow {
                date: "date",
                bars: "bars",
                equity: "equity",
            }
        )
    }
}
