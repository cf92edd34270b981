//! Writing one batch of a session's rows in one transaction: multi-row inserts on SQLite,
//! `COPY` on PostgreSQL, from one description of each table's columns and values.

use chrono::{DateTime, Utc};
use openbell_model::{SessionId, Timestamp};
use sqlx::Arguments as _;
use sqlx::Sqlite;
use sqlx::sqlite::SqliteArguments;

use crate::records::Batch;
use crate::{Pool, Store, StoreError};

/// Rows per INSERT statement: well under both backends' bind-parameter limits.
const CHUNK: usize = 500;

impl Store {
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
    pub(crate) async fn stage_batch(
        &self,
        session: SessionId,
        batch: &Batch,
    ) -> Result<StagedBatch, StoreError> {
        let sid = session.to_string();
        let tx = match &self.pool {
            Pool::Postgres(pg) => {
                let mut tx = pg.begin().await?;
                if !batch.is_empty() {
                    if self.checks_session_per_batch() {
                        lock_session(&mut tx, session, &sid).await?;
                    }
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
pub(crate) struct StagedBatch {
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
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
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

/// The values of a multi-row insert's rows, in order.
struct Args {
    values: SqliteArguments<'static>,
    /// The first value that could not be encoded.
    failed: Option<sqlx::error::BoxDynError>,
}

impl Args {
    fn add<T: sqlx::Encode<'static, Sqlite> + sqlx::Type<Sqlite> + 'static>(&mut self, v: T) {
        if let Err(e) = self.values.add(v)
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }
}

impl Cells for Args {
    fn int(&mut self, v: i64) {
        self.add(v);
    }
    fn opt_int(&mut self, v: Option<i64>) {
        self.add(v);
    }
    fn text(&mut self, v: &str) {
        self.add(v.to_owned());
    }
    fn opt(&mut self, v: Option<&str>) {
        self.add(v.map(str::to_owned));
    }
    fn real(&mut self, v: f64) {
        self.add(v);
    }
    fn ts(&mut self, v: &DateTime<Utc>) {
        self.add(sqlite_ts(v));
    }
}

/// `t` as sqlx writes a `DateTime<Utc>` to SQLite (chrono's RFC 3339 with `AutoSi` seconds:
/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]+00:00`), so rows written here compare and
/// read back like every other timestamp in the registry. Within the model's range it is the
/// model's own RFC 3339 text (the same digits, ending in `Z`) with the offset sqlx writes.
fn sqlite_ts(t: &DateTime<Utc>) -> String {
    use chrono::Timelike as _;
    // Instants outside 64-bit nanoseconds, and leap seconds, are left to chrono.
    match t.timestamp_nanos_opt() {
        Some(nanos) if t.nanosecond() < 1_000_000_000 => {
            let mut out = String::with_capacity(35);
            Timestamp::from_nanos(nanos).push_rfc3339(&mut out);
            out.pop();
            out.push_str("+00:00");
            out
        }
        _ => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
    }
}

/// `INSERT` of `rows` rows of `p`, every value an anonymous `?`: sqlx looks up each
/// parameter's name, which SQLite finds by a walk over the named ones, so numbered parameters
/// would make a 500-row statement quadratic to bind.
fn sqlite_insert(p: &Part<'_>, rows: usize) -> String {
    let per_row = p.columns.split(',').count();
    let row = format!("({})", vec!["?"; per_row].join(", "));
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", p.table, p.columns);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    if let Some(conflict) = p.conflict {
        sql.push_str(" ON CONFLICT ");
        sql.push_str(conflict);
    }
    sql
}

/// One multi-row insert of the SQLite path: its statement and arguments.
struct Insert {
    sql: String,
    args: SqliteArguments<'static>,
}

/// The row ranges of the SQLite inserts of `len` rows: full chunks of [`CHUNK`], then the rest
/// in descending powers of two. Every insert then has one of ten sizes per table, each
/// statement prepared once per connection and kept. SQLite parses a 500-row statement in about
/// a million instructions, more than a sixth of what inserting its rows takes; a batch's last
/// insert into each table is usually shorter than a chunk, and a slow session (paper, live)
/// sends only short batches, one every half second.
fn sqlite_ranges(len: usize) -> impl Iterator<Item = (usize, usize)> {
    let full = len - len % CHUNK;
    let mut start = 0;
    std::iter::from_fn(move || {
        let rest = len.checked_sub(start).filter(|r| *r > 0)?;
        let size = if start < full {
            CHUNK
        } else {
            1 << rest.ilog2()
        };
        let range = (start, start + size);
        start += size;
        Some(range)
    })
}

/// The insert of rows `start..end` of `p`.
fn sqlite_chunk(sid: &str, p: &Part<'_>, start: usize, end: usize) -> Result<Insert, StoreError> {
    let mut args = Args {
        values: SqliteArguments::default(),
        failed: None,
    };
    for i in start..end {
        args.add(sid.to_owned());
        (p.row)(i, &mut args);
    }
    if let Some(e) = args.failed {
        return Err(StoreError::Db(sqlx::Error::Encode(e)));
    }
    Ok(Insert {
        sql: sqlite_insert(p, end - start),
        args: args.values,
    })
}

/// The SQLite path: multi-row inserts of at most [`CHUNK`] rows into the tables, in the open
/// transaction. Each insert's arguments are built while the database runs the one before.
async fn sqlite_batch(
    tx: &mut sqlx::SqliteConnection,
    sid: &str,
    batch: &Batch,
) -> Result<(), StoreError> {
    let parts = parts(batch);
    let mut chunks = parts
        .iter()
        .flat_map(|p| sqlite_ranges(p.len).map(move |(start, end)| (p, start, end)));
    let mut next = chunks
        .next()
        .map(|(p, start, end)| sqlite_chunk(sid, p, start, end))
        .transpose()?;
    while let Some(Insert { sql, args }) = next.take() {
        let insert = sqlx::query_with(&sql, args).execute(&mut *tx);
        // Polled after the insert has gone to the database's thread.
        let build = async {
            chunks
                .next()
                .map(|(p, start, end)| sqlite_chunk(sid, p, start, end))
                .transpose()
        };
        let (inserted, built) = tokio::join!(insert, build);
        inserted?;
        next = built?;
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
        use chrono::Timelike as _;
        let out = &mut self.out;
        out.push(',');
        if !date_time(out, t, ' ') {
            out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            return;
        }
        let nanos = t.nanosecond();
        if nanos != 0 {
            out.push('.');
            digits(out, nanos.min(999_999_999), 9);
        }
        out.push_str("+00");
    }
}

/// Writes `v` in `width` decimal digits, leading zeros included.
fn digits(out: &mut String, v: u32, width: u32) {
    for p in (0..width).rev() {
        let d = (v / 10u32.pow(p)) % 10;
        out.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
    }
}

/// Writes `t` as `YYYY-MM-DD{sep}HH:MM:SS`; false, writing nothing, when its year is not
/// four digits.
fn date_time(out: &mut String, t: &DateTime<Utc>, sep: char) -> bool {
    use chrono::{Datelike as _, Timelike as _};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return false;
    }
    digits(out, year.unsigned_abs(), 4);
    out.push('-');
    digits(out, t.month(), 2);
    out.push('-');
    digits(out, t.day(), 2);
    out.push(sep);
    digits(out, t.hour(), 2);
    out.push(':');
    digits(out, t.minute(), 2);
    out.push(':');
    digits(out, t.second(), 2);
    true
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

/// Takes the lock each row's foreign-key check would take, once for the batch, and switches
/// those checks off for this transaction only ([`Store::checks_session_per_batch`]).
async fn lock_session(
    tx: &mut sqlx::PgConnection,
    session: SessionId,
    sid: &str,
) -> Result<(), StoreError> {
    let found = sqlx::query("SELECT 1 FROM sessions WHERE id = $1 FOR KEY SHARE")
        .bind(sid)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Err(StoreError::NotFound(session));
    }
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SecondsFormat, TimeZone as _, Utc};

    use super::{CHUNK, sqlite_ranges, sqlite_ts};

    #[test]
    fn sqlite_inserts_cover_every_row_once_in_ten_sizes() {
        let mut sizes = std::collections::BTreeSet::new();
        for len in 0..2_100 {
            let mut next = 0;
            for (start, end) in sqlite_ranges(len) {
                assert_eq!(start, next, "rows {len}: a gap or an overlap at {start}");
                let size = end - start;
                assert!(
                    size == CHUNK || (size < CHUNK && size.is_power_of_two()),
                    "{size}"
                );
                sizes.insert(size);
                next = end;
            }
            assert_eq!(next, len, "rows {len}: not all covered");
            // Full chunks first, then at most one insert per power of two.
            let rest: Vec<usize> = sqlite_ranges(len)
                .map(|(s, e)| e - s)
                .filter(|s| *s != CHUNK)
                .collect();
            assert_eq!(
                rest.len(),
                (len % CHUNK).count_ones() as usize,
                "rows {len}"
            );
            assert!(rest.is_sorted_by(|a, b| a > b), "rows {len}: {rest:?}");
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 32, 64, 128, 256, CHUNK]
        );
    }

    #[test]
    fn sqlite_timestamps_are_written_as_sqlx_writes_them() {
        let chrono = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        let mut cases = vec![
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(1_641_220_260, 0).unwrap(),
            Utc.timestamp_opt(1_641_220_260, 5_000_000).unwrap(),
            Utc.timestamp_opt(1_641_220_260, 120_000).unwrap(),
            Utc.timestamp_opt(1_641_220_260, 7).unwrap(),
            Utc.timestamp_opt(253_402_300_799, 999_999_999).unwrap(),
            // Five-digit and negative years, and a leap second, go through chrono itself, as do
            // instants just past the 64-bit nanosecond range.
            Utc.timestamp_opt(253_402_300_800, 0).unwrap(),
            Utc.timestamp_opt(-62_200_000_000, 0).unwrap(),
            Utc.timestamp_opt(-9_223_372_037, 0).unwrap(),
            Utc.timestamp_opt(9_223_372_037, 0).unwrap(),
            Utc.timestamp_opt(-9_223_372_036, 854_775_808).unwrap(),
            Utc.timestamp_opt(9_223_372_036, 854_775_807).unwrap(),
            Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap(),
        ];
        // Spread over four centuries, with every kind of fraction.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = i64::try_from(x % 12_600_000_000).unwrap() - 2_200_000_000;
            let nanos = match x % 4 {
                0 => 0,
                1 => u32::try_from(x >> 40).unwrap() % 1000 * 1_000_000,
                2 => u32::try_from(x >> 40).unwrap() % 1_000_000 * 1000,
                _ => u32::try_from(x >> 34).unwrap() % 1_000_000_000,
            };
            cases.push(Utc.timestamp_opt(secs, nanos).unwrap());
        }
        for t in &cases {
            assert_eq!(sqlite_ts(t), chrono(t), "{t:?}");
        }
    }
}
