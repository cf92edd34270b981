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

impl Store {
    /// A session's signals, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn signals(&self, session: SessionId) -> Result<Vec<SignalRow>, StoreError> {
        use sqlx::Row;
        let sql = "SELECT signal_id, ts, symbol, side, strength, reason FROM signals WHERE session_id = $1 ORDER BY signal_id";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(session.to_string()).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(SignalRow {
                        signal_id: r.try_get("signal_id")?,
                        ts: r.try_get("ts")?,
                        symbol: r.try_get("symbol")?,
                        side: r.try_get("side")?,
                        strength: r.try_get("strength")?,
                        reason: r.try_get("reason")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
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
        use sqlx::Row;
        let sql = "SELECT order_id, ts, symbol, side, order_type, limit_price, stop_price, time_in_force, quantity, filled, status, signal_id, reason FROM orders WHERE session_id = $1 AND order_id > $2 ORDER BY order_id LIMIT $3";
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(session.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(OrderRow {
                        order_id: r.try_get("order_id")?,
                        ts: r.try_get("ts")?,
                        symbol: r.try_get("symbol")?,
                        side: r.try_get("side")?,
                        order_type: r.try_get("order_type")?,
                        limit_price: r.try_get("limit_price")?,
                        stop_price: r.try_get("stop_price")?,
                        time_in_force: r.try_get("time_in_force")?,
                        quantity: r.try_get("quantity")?,
                        filled: r.try_get("filled")?,
                        status: r.try_get("status")?,
                        signal_id: r.try_get("signal_id")?,
                        reason: r.try_get("reason")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
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
        use sqlx::Row;
        let sql = "SELECT fill_seq, ts, order_id, symbol, side, quantity, price, commission FROM fills WHERE session_id = $1 AND fill_seq > $2 ORDER BY fill_seq LIMIT $3";
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(session.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(FillRow {
                        seq: r.try_get("fill_seq")?,
                        ts: r.try_get("ts")?,
                        order_id: r.try_get("order_id")?,
                        symbol: r.try_get("symbol")?,
                        side: r.try_get("side")?,
                        quantity: r.try_get("quantity")?,
                        price: r.try_get("price")?,
                        commission: r.try_get("commission")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
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
        use sqlx::Row;
        let sql = "SELECT trade_seq, symbol, side, quantity, entry_ts, exit_ts, entry_price, exit_price, gross_pnl, commission FROM trades WHERE session_id = $1 AND trade_seq > $2 ORDER BY trade_seq LIMIT $3";
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(session.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(TradeRow {
                        seq: r.try_get("trade_seq")?,
                        symbol: r.try_get("symbol")?,
                        side: r.try_get("side")?,
                        quantity: r.try_get("quantity")?,
                        entry_ts: r.try_get("entry_ts")?,
                        exit_ts: r.try_get("exit_ts")?,
                        entry_price: r.try_get("entry_price")?,
                        exit_price: r.try_get("exit_price")?,
                        gross_pnl: r.try_get("gross_pnl")?,
                        commission: r.try_get("commission")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// A session's position changes, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn positions(&self, session: SessionId) -> Result<Vec<PositionRow>, StoreError> {
        self.positions_page(session, 0, i64::MAX).await
    }

    /// At most `limit` of a session's position changes numbered above `after`, in order: a long
    /// session's position changes read a page at a time.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn positions_page(
        &self,
        session: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<PositionRow>, StoreError> {
        use sqlx::Row;
        let sql = "SELECT position_seq, ts, symbol, quantity, realized FROM positions WHERE session_id = $1 AND position_seq > $2 ORDER BY position_seq LIMIT $3";
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(session.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(PositionRow {
                        seq: r.try_get("position_seq")?,
                        ts: r.try_get("ts")?,
                        symbol: r.try_get("symbol")?,
                        quantity: r.try_get("quantity")?,
                        realized: r.try_get("realized")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
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
        use sqlx::Row;
        let sql = if after.is_some() {
            "SELECT ts, equity, cash FROM equity WHERE session_id = $1 AND ts > $2 ORDER BY ts LIMIT $3"
        } else {
            "SELECT ts, equity, cash FROM equity WHERE session_id = $1 AND $2 IS NULL ORDER BY ts LIMIT $3"
        };
        on_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(session.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(EquityRow {
                        ts: r.try_get("ts")?,
                        equity: r.try_get("equity")?,
                        cash: r.try_get("cash")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// A session's quality rows, by date then symbol.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn quality(&self, session: SessionId) -> Result<Vec<QualityRow>, StoreError> {
        use sqlx::Row;
        let sql = "SELECT date, symbol, expected, present, missing FROM quality WHERE session_id = $1 ORDER BY date, symbol";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(session.to_string()).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(QualityRow {
                        date: r.try_get("date")?,
                        symbol: r.try_get("symbol")?,
                        expected: r.try_get("expected")?,
                        present: r.try_get("present")?,
                        missing: r.try_get("missing")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// A session's scans, in order.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn scans(&self, session: SessionId) -> Result<Vec<ScanRow>, StoreError> {
        use sqlx::Row;
        let sql = "SELECT scan_seq, ts, scanner, as_of, candidates, chosen FROM scans WHERE session_id = $1 ORDER BY scan_seq";
        on_pool!(self, p => {
            let rows = sqlx::query(sql).bind(session.to_string()).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(ScanRow {
                        seq: r.try_get("scan_seq")?,
                        ts: r.try_get("ts")?,
                        scanner: r.try_get("scanner")?,
                        as_of: r.try_get("as_of")?,
                        candidates: r.try_get("candidates")?,
                        chosen: r.try_get("chosen")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(StoreError::from)
        })
    }

    /// Writes a batch of one session's rows in one transaction; either all of it is committed
    /// or none.
    ///
    /// # Errors
    /// [`StoreError::Db`]: a constraint (an unknown session, a duplicate row, a bad enum) or the
    /// database itself.
    pub async fn write_batch(&self, session: SessionId, batch: &Batch) -> Result<(), StoreError> {
        self.stage_batch(session, batch).await?.commit().await
    }

    /// Writes a batch of one session's rows inside a transaction that is left open: nothing is
    /// visible or durable until [`StagedBatch::commit`]; dropping it rolls the rows back. On
    /// PostgreSQL the rows go in with `COPY`; on SQLite with multi-row inserts.
    ///
    /// Equity rows are inserted, never merged: a session writes each equity time once.
    ///
    /// # Errors
    /// [`StoreError::Db`], as [`Store::write_batch`].
    pub async fn stage_batch(
        &self,
        session: SessionId,
        batch: &Batch,
    ) -> Result<StagedBatch, StoreError> {
        let sid = session.to_string();
        let tx = match &self.pool {
            Pool::Postgres(pg) => {
                let mut tx = pg.begin().await?;
                if !batch.is_empty() {
                    copy_batch(&mut tx, &sid, batch).await?;
                }
                Tx::Postgres(tx)
            }
            Pool::Sqlite(p) => {
                let mut tx = p.begin().await?;
                if !batch.is_empty() {
                    sqlite_batch(&mut tx, &sid, batch).await?;
                }
                Tx::Sqlite(tx)
            }
        };
        Ok(StagedBatch { tx })
    }

    /// Whether staging one batch while the one before it commits makes writing faster: true on
    /// PostgreSQL, where each connection is served by its own server process; false on SQLite,
    /// which has one writer.
    #[must_use]
    pub const fn overlapping_writes(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }
}

/// A batch written inside an open transaction: [`StagedBatch::commit`] makes it durable;
/// dropping it rolls it back.
#[derive(Debug)]
pub struct StagedBatch {
    tx: Tx,
}

#[derive(Debug)]
enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl StagedBatch {
    /// Commits the batch.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the commit fails; nothing of the batch is then stored.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// One row's values, written the way a backend takes them.
trait Cells {
    fn int(&mut self, v: i64);
    fn opt_int(&mut self, v: Option<i64>);
    fn text(&mut self, v: &str);
    fn opt(&mut self, v: Option<&str>);
    fn real(&mut self, v: f64);
    fn ts(&mut self, v: &DateTime<Utc>);
}

/// Writes row `i`'s values.
type RowCells<'a> = Box<dyn Fn(usize, &mut dyn Cells) + Send + Sync + 'a>;

/// One table's part of a batch: where its rows go, and how each row's values are written
/// (after the session id, which every row starts with).
struct Part<'a> {
    table: &'static str,
    columns: &'static str,
    /// For tables whose rows may replace earlier ones: the `ON CONFLICT` target and update.
    conflict: Option<&'static str>,
    len: usize,
    row: RowCells<'a>,
}

fn part<'a, R: Sync>(
    table: &'static str,
    columns: &'static str,
    conflict: Option<&'static str>,
    rows: &'a [R],
    cells: fn(&R, &mut dyn Cells),
) -> Part<'a> {
    Part {
        table,
        columns,
        conflict,
        len: rows.len(),
        row: Box::new(move |i, c| {
            if let Some(r) = rows.get(i) {
                cells(r, c);
            }
        }),
    }
}

/// Every table's part of `b`, in the order they are written.
fn parts(b: &Batch) -> [Part<'_>; 10] {
    [
        part(
            "session_days",
            "session_id, date, bars, equity",
            Some("(session_id, date) DO UPDATE SET bars = excluded.bars, equity = excluded.equity"),
            &b.days,
            |r, c| {
                c.text(&r.date);
                c.int(r.bars);
                c.opt(r.equity.as_deref());
            },
        ),
        part(
            "signals",
            "session_id, signal_id, ts, symbol, side, strength, reason",
            None,
            &b.signals,
            |r, c| {
                c.int(r.signal_id);
                c.ts(&r.ts);
                c.text(&r.symbol);
                c.text(&r.side);
                c.real(r.strength);
                c.text(&r.reason);
            },
        ),
        part(
            "orders",
            "session_id, order_id, ts, symbol, side, order_type, limit_price, stop_price, time_in_force, quantity, filled, status, signal_id, reason",
            Some(
                "(session_id, order_id) DO UPDATE SET filled = excluded.filled, status = excluded.status, reason = excluded.reason",
            ),
            &b.orders,
            |r, c| {
                c.int(r.order_id);
                c.ts(&r.ts);
                c.text(&r.symbol);
                c.text(&r.side);
                c.text(&r.order_type);
                c.opt(r.limit_price.as_deref());
                c.opt(r.stop_price.as_deref());
                c.text(&r.time_in_force);
                c.text(&r.quantity);
                c.text(&r.filled);
                c.text(&r.status);
                c.opt_int(r.signal_id);
                c.opt(r.reason.as_deref());
            },
        ),
        part(
            "fills",
            "session_id, fill_seq, ts, order_id, symbol, side, quantity, price, commission",
            None,
            &b.fills,
            |r, c| {
                c.int(r.seq);
                c.ts(&r.ts);
                c.int(r.order_id);
                c.text(&r.symbol);
                c.text(&r.side);
                c.text(&r.quantity);
                c.text(&r.price);
                c.text(&r.commission);
            },
        ),
        part(
            "trades",
            "session_id, trade_seq, symbol, side, quantity, entry_ts, exit_ts, entry_price, exit_price, gross_pnl, commission",
            None,
            &b.trades,
            |r, c| {
                c.int(r.seq);
                c.text(&r.symbol);
                c.text(&r.side);
                c.text(&r.quantity);
                c.ts(&r.entry_ts);
                c.ts(&r.exit_ts);
                c.text(&r.entry_price);
                c.text(&r.exit_price);
                c.text(&r.gross_pnl);
                c.text(&r.commission);
            },
        ),
        part(
            "positions",
            "session_id, position_seq, ts, symbol, quantity, realized",
            None,
            &b.positions,
            |r, c| {
                c.int(r.seq);
                c.ts(&r.ts);
                c.text(&r.symbol);
                c.text(&r.quantity);
                c.text(&r.realized);
            },
        ),
        part(
            "equity",
            "session_id, ts, equity, cash",
            None,
            &b.equity,
            |r, c| {
                c.ts(&r.ts);
                c.text(&r.equity);
                c.text(&r.cash);
            },
        ),
        part(
            "quality",
            "session_id, date, symbol, expected, present, missing",
            None,
            &b.quality,
            |r, c| {
                c.text(&r.date);
                c.text(&r.symbol);
                c.int(r.expected);
                c.int(r.present);
                c.text(&r.missing);
            },
        ),
        part(
            "scans",
            "session_id, scan_seq, ts, scanner, as_of, candidates, chosen",
            None,
            &b.scans,
            |r, c| {
                c.int(r.seq);
                c.ts(&r.ts);
                c.text(&r.scanner);
                c.ts(&r.as_of);
                c.text(&r.candidates);
                c.text(&r.chosen);
            },
        ),
        part(
            "risk_events",
            "session_id, event_seq, ts, order_id, symbol, reason",
            None,
            &b.risk,
            |r, c| {
                c.int(r.seq);
                c.ts(&r.ts);
                c.int(r.order_id);
                c.text(&r.symbol);
                c.text(&r.reason);
            },
        ),
    ]
}

/// A row's values as bind parameters of a multi-row insert.
struct Binds<'s, 'q, 'args>(
    &'s mut sqlx::query_builder::Separated<'q, 'args, sqlx::Sqlite, &'static str>,
);

impl Cells for Binds<'_, '_, '_> {
    fn int(&mut self, v: i64) {
        self.0.push_bind(v);
    }
    fn opt_int(&mut self, v: Option<i64>) {
        self.0.push_bind(v);
    }
    fn text(&mut self, v: &str) {
        self.0.push_bind(v.to_owned());
    }
    fn opt(&mut self, v: Option<&str>) {
        self.0.push_bind(v.map(str::to_owned));
    }
    fn real(&mut self, v: f64) {
        self.0.push_bind(v);
    }
    fn ts(&mut self, v: &DateTime<Utc>) {
        self.0.push_bind(*v);
    }
}

/// The SQLite path: multi-row inserts of at most [`CHUNK`] rows into the tables, in the open
/// transaction.
async fn sqlite_batch(
    tx: &mut sqlx::SqliteConnection,
    sid: &str,
    batch: &Batch,
) -> Result<(), StoreError> {
    for p in parts(batch) {
        let mut start = 0;
        while start < p.len {
            let end = (start + CHUNK).min(p.len);
            let mut qb =
                sqlx::QueryBuilder::new(format!("INSERT INTO {} ({}) ", p.table, p.columns));
            qb.push_values(start..end, |mut b, i| {
                b.push_bind(sid.to_owned());
                (p.row)(i, &mut Binds(&mut b));
            });
            if let Some(conflict) = p.conflict {
                qb.push(format!(" ON CONFLICT {conflict}"));
            }
            // Full chunks share one statement text: prepared once per connection and reused.
            qb.build()
                .persistent(end - start == CHUNK)
                .execute(&mut *tx)
                .await?;
            start = end;
        }
    }
    Ok(())
}

/// Rows as CSV for `COPY ... FROM STDIN (FORMAT csv)`, written straight into one buffer.
/// NULL is an empty unquoted field; an empty string is quoted so it is not NULL.
struct Csv {
    out: String,
}

impl Csv {
    fn rows(sid: &str, p: &Part<'_>) -> String {
        let mut csv = Self {
            out: String::with_capacity(p.len * 112),
        };
        for i in 0..p.len {
            csv.out.push_str(sid);
            (p.row)(i, &mut csv);
            csv.out.push('\n');
        }
        csv.out
    }
}

impl Cells for Csv {
    fn text(&mut self, v: &str) {
        self.out.push(',');
        if v.is_empty() {
            self.out.push_str("\"\"");
        } else if v.contains([',', '"', '\n', '\r', '\\']) {
            self.out.push('"');
            self.out.push_str(&v.replace('"', "\"\""));
            self.out.push('"');
        } else {
            self.out.push_str(v);
        }
    }

    fn opt(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.text(v),
            None => self.out.push(','),
        }
    }

    fn int(&mut self, v: i64) {
        use std::fmt::Write as _;
        let _ = write!(self.out, ",{v}");
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.out.push(','),
        }
    }

    fn real(&mut self, v: f64) {
        use std::fmt::Write as _;
        // `{:?}` prints the shortest text that reads back as the same f64.
        let _ = write!(self.out, ",{v:?}");
    }

    /// `YYYY-MM-DD HH:MM:SS[.fffffffff]+00`, digit by digit.
    fn ts(&mut self, t: &DateTime<Utc>) {
        use chrono::{Datelike as _, Timelike as _};
        fn digits(out: &mut String, v: u32, width: u32) {
            for p in (0..width).rev() {
                let d = (v / 10u32.pow(p)) % 10;
                out.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
            }
        }
        let out = &mut self.out;
        out.push(',');
        let year = t.year();
        if !(0..=9999).contains(&year) {
            out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            return;
        }
        digits(out, year.unsigned_abs(), 4);
        out.push('-');
        digits(out, t.month(), 2);
        out.push('-');
        digits(out, t.day(), 2);
        out.push(' ');
        digits(out, t.hour(), 2);
        out.push(':');
        digits(out, t.minute(), 2);
        out.push(':');
        digits(out, t.second(), 2);
        let nanos = t.nanosecond();
        if nanos != 0 {
            out.push('.');
            digits(out, nanos.min(999_999_999), 9);
        }
        out.push_str("+00");
    }
}

/// The PostgreSQL path: COPY into the tables, all in the caller's transaction. Tables whose
/// rows may replace earlier ones (a day's totals, an order's later state) are copied straight
/// in too; only when that meets an existing row does the table's part go through a staging
/// table and `INSERT ... ON CONFLICT`.
async fn copy_batch(tx: &mut sqlx::PgConnection, sid: &str, b: &Batch) -> Result<(), StoreError> {
    for p in parts(b) {
        if p.len == 0 {
            continue;
        }
        let (table, columns) = (p.table, p.columns);
        let csv = Csv::rows(sid, &p);
        let Some(conflict) = p.conflict else {
            copy_in(tx, table, columns, csv.into_bytes()).await?;
            continue;
        };
        sqlx::query("SAVEPOINT copy_direct")
            .execute(&mut *tx)
            .await?;
        match copy_in(tx, table, columns, csv.clone().into_bytes()).await {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT copy_direct")
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                sqlx::query("ROLLBACK TO SAVEPOINT copy_direct")
                    .execute(&mut *tx)
                    .await?;
            }
            Err(e) => return Err(e),
        }
        let stage = format!("stage_{table}");
        sqlx::query(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
        ))
        .execute(&mut *tx)
        .await?;
        copy_in(tx, &stage, columns, csv.into_bytes()).await?;
        sqlx::query(&format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} ON CONFLICT {conflict}"
        ))
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!("DELETE FROM {stage}"))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// One `COPY ... FROM STDIN (FORMAT csv)`.
async fn copy_in(
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &str,
    csv: Vec<u8>,
) -> Result<(), StoreError> {
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
        ))
        .await?;
    if let Err(e) = copy.send(csv).await {
        let _ = copy.abort(e.to_string()).await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}
