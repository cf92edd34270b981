//! A backtest's records as files: `summary.json`, CSVs, and a self-contained `report.html`
//! with inline SVG charts (no scripts, no network), written as the records arrive.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use openbell_data::BarStore;
use openbell_engine::{EquityStats, OrderRecord, Trade};
use openbell_model::{Fill, Money, Side, Symbol, Timestamp};
use openbell_server::run::backtest::BacktestResult;

use self::csv::{
    fill_line, order_cells, order_line, push_fixed6, quality_csv, scans_csv, trade_line,
};
use self::html::{Charts, Tables, report_html};
use crate::backtest_cmd::ensure_dir;

mod csv;
mod html;

/// Points per chart: records are grouped into this many equal spans of the session's time.
const CHART_POINTS: u64 = 1500;

/// Rows shown in each of the report's tables (every row is in the CSVs).
const TABLE_ROWS: usize = 300;

type FileOut = std::io::BufWriter<std::fs::File>;

/// A session's output files, written as its records arrive, in memory that does not grow with
/// the session: fills, round trips and equity go straight to their CSVs; the report keeps its
/// charts as a fixed number of points and its tables' first rows. The same records in the same
/// order give the same files, whether they come from a running backtest or from the registry.
pub(crate) struct Outputs {
    dir: std::path::PathBuf,
    range: (Timestamp, Timestamp),
    fills: FileOut,
    trades: FileOut,
    equity: FileOut,
    equity_stats: EquityStats,
    /// By chart span: the last equity and the deepest drawdown in it.
    equity_points: Vec<Option<(f64, f64)>>,
    /// One `equity.csv` line, reused.
    line: String,
    /// Symbol → chart span → the first buy and sell price in it.
    markers: BTreeMap<Symbol, BTreeMap<u64, [Option<f64>; 2]>>,
    fill_rows: Vec<Vec<String>>,
    trade_rows: Vec<Vec<String>>,
    orders: OrderLog<FileOut>,
}

/// Finished orders kept waiting for an earlier, still working one before `orders.csv` is
/// completed from the registry instead.
const MAX_WAITING_ORDERS: usize = 50_000;

/// `orders.csv`: orders by id (ids run from 1 without gaps), though they finish in any order.
/// An order that finishes before an earlier one waits for it; when too many wait, the log
/// stops taking orders and the rest must come, by id, from the registry.
struct OrderLog<W: Write> {
    out: W,
    /// The next id the file takes.
    next: u64,
    waiting: BTreeMap<u64, OrderRecord>,
    max_waiting: usize,
    spilled: bool,
    /// The first rows, for the report's table.
    rows: Vec<Vec<String>>,
    total: usize,
    /// One line, reused.
    line: String,
}

impl<W: Write> OrderLog<W> {
    fn new(mut out: W, max_waiting: usize) -> std::io::Result<Self> {
        out.write_all(
            b"id,ts,symbol,side,type,limit,stop,tif,qty,filled,status,signal_id,reason\n",
        )?;
        Ok(Self {
            out,
            next: 1,
            waiting: BTreeMap::new(),
            max_waiting,
            spilled: false,
            rows: Vec::new(),
            total: 0,
            line: String::new(),
        })
    }

    /// An order reached its final state.
    fn finished(&mut self, rec: OrderRecord) -> std::io::Result<()> {
        if self.spilled {
            return Ok(());
        }
        // Orders usually finish in id order: the next one is written at once.
        if rec.order.id().0 == self.next {
            self.write(&rec)?;
        } else {
            self.waiting.insert(rec.order.id().0, rec);
        }
        while let Some(rec) = self.waiting.remove(&self.next) {
            self.write(&rec)?;
        }
        if self.waiting.len() > self.max_waiting {
            self.waiting.clear();
            self.spilled = true;
        }
        Ok(())
    }

    /// After too many waited, the id from which the rest must be read back.
    const fn read_back_from(&self) -> Option<u64> {
        if self.spilled { Some(self.next) } else { None }
    }

    /// The orders not taken yet: those still working at the end, or, after
    /// [`OrderLog::read_back_from`], every order from that id on, by id.
    fn rest(&mut self, rec: OrderRecord) -> std::io::Result<()> {
        if self.spilled {
            self.write(&rec)
        } else {
            self.waiting.insert(rec.order.id().0, rec);
            Ok(())
        }
    }

    /// Writes what still waits, in id order, and hands back the writer.
    fn close(mut self) -> std::io::Result<(W, Vec<Vec<String>>, usize)> {
        for rec in std::mem::take(&mut self.waiting).into_values() {
            self.write(&rec)?;
        }
        self.out.flush()?;
        Ok((self.out, self.rows, self.total))
    }

    fn write(&mut self, rec: &OrderRecord) -> std::io::Result<()> {
        self.line.clear();
        order_line(rec, &mut self.line);
        self.out.write_all(self.line.as_bytes())?;
        if self.rows.len() < TABLE_ROWS {
            self.rows.push(order_cells(rec));
        }
        self.total += 1;
        self.next = rec.order.id().0 + 1;
        Ok(())
    }
}

impl Outputs {
    /// Starts the files in `dir` for a session over `range` that starts with `initial` equity.
    pub(crate) fn create(
        dir: &Path,
        range: (Timestamp, Timestamp),
        initial: Money,
    ) -> Result<Self> {
        ensure_dir(dir)?;
        let file = |name: &str, head: &str| create(dir, name, head);
        Ok(Self {
            dir: dir.to_owned(),
            range,
            fills: file(
                "fills.csv",
                "ts,symbol,side,qty,price,commission,order_id\n",
            )?,
            trades: file(
                "trades.csv",
                "symbol,side,qty,entry_ts,exit_ts,entry_price,exit_price,gross_pnl,commission,net_pnl\n",
            )?,
            equity: file("equity.csv", "ts,equity,drawdown,position_open\n")?,
            orders: OrderLog::new(file("orders.csv", "")?, MAX_WAITING_ORDERS)
                .context("writing orders.csv")?,
            equity_stats: EquityStats::new(initial),
            equity_points: vec![None; usize_of(CHART_POINTS)],
            line: String::with_capacity(64),
            markers: BTreeMap::new(),
            fill_rows: Vec::new(),
            trade_rows: Vec::new(),
        })
    }

    /// A fill.
    pub(crate) fn fill(&mut self, f: &Fill) -> Result<()> {
        self.line.clear();
        fill_line(f, &mut self.line);
        self.fills
            .write_all(self.line.as_bytes())
            .context("writing fills.csv")?;
        if self.fill_rows.len() < TABLE_ROWS {
            self.fill_rows.push(vec![
                f.ts_event().to_string(),
                f.symbol().to_string(),
                f.side().to_string(),
                f.quantity().to_string(),
                f.price().to_string(),
                f.commission().to_string(),
                f.order_id().0.to_string(),
            ]);
        }
        let span = span_of(self.range, f.ts_event());
        let slot = usize::from(f.side() != Side::Buy);
        let marks = self
            .markers
            .entry(f.symbol())
            .or_default()
            .entry(span)
            .or_default();
        if let Some(mark) = marks.get_mut(slot)
            && mark.is_none()
        {
            *mark = Some(f.price().to_f64());
        }
        Ok(())
    }

    /// An order in its final state. `orders.csv` lists orders by id: one that finishes before
    /// an earlier order waits for it.
    pub(crate) fn order(&mut self, rec: OrderRecord) -> Result<()> {
        self.orders.finished(rec).context("writing orders.csv")
    }

    /// When the orders from this id on must be read back from the registry (too many
    /// finished while an earlier one was still working), that id.
    pub(crate) const fn orders_from(&self) -> Option<u64> {
        self.orders.read_back_from()
    }

    /// A closed round trip.
    pub(crate) fn trade(&mut self, t: &Trade) -> Result<()> {
        let side = if t.side == Side::Buy { "long" } else { "short" };
        self.line.clear();
        trade_line(t, side, &mut self.line);
        self.trades
            .write_all(self.line.as_bytes())
            .context("writing trades.csv")?;
        if self.trade_rows.len() < TABLE_ROWS {
            self.trade_rows.push(vec![
                t.symbol.to_string(),
                side.to_owned(),
                t.quantity.to_string(),
                t.entry_ts.to_string(),
                t.exit_ts.to_string(),
                t.entry_price.to_string(),
                t.exit_price.to_string(),
                t.net_pnl().to_string(),
            ]);
        }
        Ok(())
    }

    /// The equity after a delivery time, and whether a position was open then.
    pub(crate) fn equity(&mut self, ts: Timestamp, equity: Money, open: bool) -> Result<()> {
        self.equity_stats.add(equity, open);
        let (e, dd) = (equity.to_f64(), self.equity_stats.drawdown());
        // `{ts},{equity},{dd:.6},{open}`, one line per delivery time, written piece by piece.
        let line = &mut self.line;
        line.clear();
        ts.push_rfc3339(line);
        line.push(',');
        equity.push_text(line);
        line.push(',');
        push_fixed6(line, dd);
        line.push_str(if open { ",true\n" } else { ",false\n" });
        self.equity
            .write_all(line.as_bytes())
            .context("writing equity.csv")?;
        if let Some(point) = self
            .equity_points
            .get_mut(usize_of(span_of(self.range, ts)))
        {
            let deepest = point.map_or(dd, |p| p.1.max(dd));
            *point = Some((e, deepest));
        }
        Ok(())
    }

    /// An order not taken as it finished: one still working at the end, or, after
    /// [`Outputs::orders_from`], every order from that id on, by id.
    pub(crate) fn rest(&mut self, rec: OrderRecord) -> Result<()> {
        self.orders.rest(rec).context("writing orders.csv")
    }

    /// Writes the rest (the orders that wait, quality, scans, the summary and the report) and
    /// closes every file.
    pub(crate) fn finish(self, r: &BacktestResult, store: &BarStore) -> Result<()> {
        let (_, order_rows, order_total) = self.orders.close().context("writing orders.csv")?;
        let dir = self.dir.as_path();
        close(dir, "fills.csv", self.fills)?;
        close(dir, "trades.csv", self.trades)?;
        close(dir, "equity.csv", self.equity)?;
        write_file(dir, "quality.csv", |w| Ok(quality_csv(r, w)?))?;
        write_file(dir, "scans.csv", |w| Ok(scans_csv(r, w)?))?;
        write_file(dir, "summary.json", |w| {
            Ok(w.write_all(r.summary_json()?.as_bytes())?)
        })?;
        let tables = Tables {
            fills: self.fill_rows,
            trades: self.trade_rows,
            orders: order_rows,
            order_total,
        };
        let charts = Charts {
            equity: self.equity_points,
            markers: self.markers,
            range: self.range,
        };
        write_file(dir, "report.html", |w| {
            Ok(w.write_all(report_html(r, store, &charts, &tables)?.as_bytes())?)
        })
    }
}

/// Creates `name` in `dir`, starting with `head`.
fn create(dir: &Path, name: &str, head: &str) -> Result<FileOut> {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    w.write_all(head.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(w)
}

/// Flushes a finished file.
fn close(dir: &Path, name: &str, mut w: FileOut) -> Result<()> {
    w.flush()
        .with_context(|| format!("writing {}", dir.join(name).display()))
}

/// Writes the whole of `name` in `dir`.
fn write_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut FileOut) -> Result<()>,
) -> Result<()> {
    let mut w = create(dir, name, "")?;
    write(&mut w).with_context(|| format!("writing {}", dir.join(name).display()))?;
    close(dir, name, w)
}

/// The chart span `ts` falls in, of [`CHART_POINTS`] equal spans of `range`.
fn span_of(range: (Timestamp, Timestamp), ts: Timestamp) -> u64 {
    let (a, z) = (range.0.as_nanos(), range.1.as_nanos());
    if z <= a {
        return 0;
    }
    let (at, width) = (ts.as_nanos().clamp(a, z).abs_diff(a), z.abs_diff(a));
    // 64-bit arithmetic while the product fits (ranges up to about 140 days), else 128-bit.
    match at.checked_mul(CHART_POINTS - 1) {
        Some(n) => n / width,
        None => {
            let n = u128::from(at) * u128::from(CHART_POINTS - 1) / u128::from(width);
            u64::try_from(n).unwrap_or(0)
        }
    }
}

/// A chart span as an index.
fn usize_of(span: u64) -> usize {
    usize::try_from(span).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openbell_model::{OrderId, OrderStatus, OrderType, Quantity, TimeInForce};

    #[test]
    fn chart_spans_split_the_range_evenly_on_both_paths() {
        let day = 86_400 * 1_000_000_000_i64;
        // A week takes the 64-bit path, twenty years the 128-bit one.
        for width in [7 * day, 20 * 365 * day] {
            let range = (
                Timestamp::from_nanos(-day),
                Timestamp::from_nanos(width - day),
            );
            let at = |offset: i64| span_of(range, Timestamp::from_nanos(offset - day));
            assert_eq!(at(-5 * day), 0, "before the range");
            assert_eq!(at(0), 0);
            assert_eq!(at(width), CHART_POINTS - 1);
            assert_eq!(at(width + day), CHART_POINTS - 1, "after the range");
            for k in [1, 2, 3, 500, 1499] {
                // The span that starts at k/1499 of the range, and the instant before it.
                let start = i64::try_from(
                    (u128::try_from(width).unwrap() * u128::from(k))
                        .div_ceil(u128::from(CHART_POINTS - 1)),
                )
                .unwrap();
                assert_eq!(at(start), k);
                assert_eq!(at(start - 1), k - 1);
            }
        }
    }

    fn rec(id: u64, status: OrderStatus) -> OrderRecord {
        let mut order = openbell_model::Order::try_new(
            OrderId(id),
            Symbol::parse("SPY").unwrap(),
            Side::Buy,
            OrderType::Market,
            TimeInForce::Gtc,
            Quantity::from_units(1).unwrap(),
            Timestamp::from_nanos(i64::try_from(id).unwrap() * 60_000_000_000),
        )
        .unwrap();
        if status != OrderStatus::New {
            order.transition(status).unwrap();
        }
        OrderRecord {
            order,
            reason: None,
        }
    }

    fn ids(out: &[u8]) -> Vec<u64> {
        std::str::from_utf8(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn orders_are_listed_by_id_whatever_order_they_finish_in() {
        let mut log = OrderLog::new(Vec::new(), 10).unwrap();
        // 2 finishes before 1; 4 is still working at the end; 3 finishes last.
        log.finished(rec(2, OrderStatus::Rejected)).unwrap();
        assert_eq!(ids(&log.out), Vec::<u64>::new());
        log.finished(rec(1, OrderStatus::Rejected)).unwrap();
        assert_eq!(ids(&log.out), [1, 2]);
        log.finished(rec(5, OrderStatus::Rejected)).unwrap();
        log.finished(rec(3, OrderStatus::Rejected)).unwrap();
        assert_eq!(ids(&log.out), [1, 2, 3]);
        assert_eq!(log.read_back_from(), None);
        log.rest(rec(4, OrderStatus::Accepted)).unwrap();
        let (out, rows, total) = log.close().unwrap();
        assert_eq!(ids(&out), [1, 2, 3, 4, 5]);
        assert_eq!((rows.len(), total), (5, 5));
    }

    #[test]
    fn too_many_waiting_orders_hand_the_rest_to_the_registry() {
        let mut log = OrderLog::new(Vec::new(), 3).unwrap();
        log.finished(rec(1, OrderStatus::Rejected)).unwrap();
        // Order 2 stays working while 3..=7 finish: more than three wait.
        for id in 3..=7 {
            log.finished(rec(id, OrderStatus::Rejected)).unwrap();
        }
        assert_eq!(log.read_back_from(), Some(2));
        // Later orders are no longer kept; the rest comes back in id order from 2 on.
        log.finished(rec(8, OrderStatus::Rejected)).unwrap();
        assert!(log.waiting.is_empty());
        log.rest(rec(2, OrderStatus::Accepted)).unwrap();
        for id in 3..=8 {
            log.rest(rec(id, OrderStatus::Rejected)).unwrap();
        }
        let (out, _, total) = log.close().unwrap();
        assert_eq!(ids(&out), (1..=8).collect::<Vec<_>>());
        assert_eq!(total, 8);
    }
}
