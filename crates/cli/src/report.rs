//! A backtest's records as files: `summary.json`, CSVs, and a self-contained `report.html`
//! with inline SVG charts (no scripts, no network), written as the records arrive.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use openbell_data::BarStore;
use openbell_engine::{EquityStats, OrderRecord, Trade};
use openbell_model::{Fill, Money, Price, Quantity, Side, Symbol, Timestamp};

use crate::backtest_cmd::ensure_dir;
use openbell_server::run::backtest::BacktestResult;
use openbell_server::run::html::{esc, line_chart, table};

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

/// Appends `x` with six decimals exactly as `format!("{x:.6}")` writes it (the exact binary
/// value rounded half to even), in integer arithmetic instead of the float formatter: the
/// drawdown column of `equity.csv` takes one per delivery time.
fn push_fixed6(out: &mut String, x: f64) {
    const MILLION: u128 = 1_000_000;
    let bits = x.to_bits();
    let biased = (bits >> 52) & 0x7ff;
    let mantissa = bits & ((1 << 52) - 1);
    // x = m × 2^-shift; whole numbers from 2^53 up, infinities and NaN go to the formatter.
    let (m, shift) = match biased {
        0x7ff => (0, 0),
        0 => (mantissa, 1074),
        b => (mantissa | (1 << 52), 1075 - i64::try_from(b).unwrap_or(0)),
    };
    if biased == 0x7ff || shift <= 0 {
        let _ = write!(out, "{x:.6}");
        return;
    }
    // x × 10^6 = m × 10^6 / 2^shift with m × 10^6 below 2^73: the quotient rounded half to
    // even. From a shift of 74 on, m × 10^6 is below half of 2^shift: the quotient is 0.
    let n = u128::from(m) * MILLION;
    let q = match u32::try_from(shift) {
        Ok(s) if s < 74 => {
            let (q, rem, half) = (n >> s, n & ((1 << s) - 1), 1u128 << (s - 1));
            if rem > half || (rem == half && q % 2 == 1) {
                q + 1
            } else {
                q
            }
        }
        _ => 0,
    };
    if bits >> 63 == 1 {
        out.push('-');
    }
    let Ok(mut v) = u64::try_from(q) else {
        let (whole, frac) = (q / MILLION, q % MILLION);
        let _ = write!(out, "{whole}.{frac:06}");
        return;
    };
    // Digits from the last: six decimals, the point, then the whole part.
    let mut text = [b'0'; 28];
    let mut pos = text.len();
    let mut put = |byte: u8| {
        pos -= 1;
        if let Some(slot) = text.get_mut(pos) {
            *slot = byte;
        }
    };
    for _ in 0..6 {
        put(b'0' + u8::try_from(v % 10).unwrap_or(0));
        v /= 10;
    }
    put(b'.');
    loop {
        put(b'0' + u8::try_from(v % 10).unwrap_or(0));
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if let Some(digits) = text.get(pos..).and_then(|t| std::str::from_utf8(t).ok()) {
        out.push_str(digits);
    }
}

/// A chart span as an index.
fn usize_of(span: u64) -> usize {
    usize::try_from(span).unwrap_or(usize::MAX)
}

/// What the report's charts are drawn from.
struct Charts {
    /// By chart span, where equity was recorded.
    equity: Vec<Option<(f64, f64)>>,
    markers: BTreeMap<Symbol, BTreeMap<u64, [Option<f64>; 2]>>,
    range: (Timestamp, Timestamp),
}

/// The first rows of the report's tables.
struct Tables {
    fills: Vec<Vec<String>>,
    trades: Vec<Vec<String>>,
    orders: Vec<Vec<String>>,
    order_total: usize,
}

/// One CSV line of the session's records, built field by field without the formatting
/// machinery (a session writes one per fill, order and round trip), each field the text its
/// `Display` gives.
struct Csv<'a>(&'a mut String);

impl Csv<'_> {
    fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(text);
        self.0.push(',');
        self
    }

    fn ts(&mut self, ts: Timestamp) -> &mut Self {
        ts.push_rfc3339(self.0);
        self.0.push(',');
        self
    }

    fn price(&mut self, p: Price) -> &mut Self {
        p.push_text(self.0);
        self.0.push(',');
        self
    }

    fn qty(&mut self, q: Quantity) -> &mut Self {
        q.push_text(self.0);
        self.0.push(',');
        self
    }

    fn money(&mut self, m: Money) -> &mut Self {
        m.push_text(self.0);
        self.0.push(',');
        self
    }

    fn int(&mut self, n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + u8::try_from(n % 10).unwrap_or(0);
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for d in digits.get(at..).unwrap_or_default() {
            self.0.push(char::from(*d));
        }
        self.0.push(',');
        self
    }

    /// Ends the line in place of the last field's comma.
    fn end(&mut self) {
        self.0.pop();
        self.0.push('\n');
    }
}

/// A `fills.csv` line.
fn fill_line(f: &Fill, line: &mut String) {
    Csv(line)
        .ts(f.ts_event())
        .text(f.symbol().as_str())
        .text(f.side().as_str())
        .qty(f.quantity())
        .price(f.price())
        .money(f.commission())
        .int(f.order_id().0)
        .end();
}

/// A `trades.csv` line; `side` is `long` or `short`.
fn trade_line(t: &Trade, side: &str, line: &mut String) {
    Csv(line)
        .text(t.symbol.as_str())
        .text(side)
        .qty(t.quantity)
        .ts(t.entry_ts)
        .ts(t.exit_ts)
        .price(t.entry_price)
        .price(t.exit_price)
        .money(t.gross_pnl)
        .money(t.commission)
        .money(t.net_pnl())
        .end();
}

/// An `orders.csv` line.
fn order_line(rec: &OrderRecord, line: &mut String) {
    let o = &rec.order;
    let (limit, stop) = o.order_type().limit_and_stop();
    let mut csv = Csv(line);
    csv.int(o.id().0)
        .ts(o.ts_init())
        .text(o.symbol().as_str())
        .text(o.side().as_str())
        .text(o.order_type().as_str());
    match limit {
        Some(p) => csv.price(p),
        None => csv.text(""),
    };
    match stop {
        Some(p) => csv.price(p),
        None => csv.text(""),
    };
    csv.text(o.time_in_force().as_str())
        .qty(o.quantity())
        .qty(o.filled())
        .text(o.status().as_str());
    match o.signal_id() {
        Some(s) => csv.int(s.0),
        None => csv.text(""),
    };
    csv.text(&csv_text(rec.reason.as_deref().unwrap_or("")))
        .end();
}

fn order_cells(o: &OrderRecord) -> Vec<String> {
    vec![
        o.order.id().0.to_string(),
        o.order.ts_init().to_string(),
        o.order.symbol().to_string(),
        o.order.side().to_string(),
        o.order.order_type().as_str().to_owned(),
        o.order.quantity().to_string(),
        o.order.filled().to_string(),
        o.order.status().to_string(),
        o.reason.clone().unwrap_or_default(),
    ]
}

/// Quotes a CSV field when it needs it.
fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

fn quality_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all("date,symbol,expected,present,missing\n".as_bytes())?;
    for q in &r.quality {
        let missing: Vec<String> = q.missing.iter().map(|(a, b)| format!("{a}/{b}")).collect();
        writeln!(
            out,
            "{},{},{},{},{}",
            q.date,
            q.symbol,
            q.expected,
            q.present,
            missing.join(";")
        )?;
    }
    Ok(())
}

fn scans_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all("ts,scanner,as_of,rank,symbol,score,chosen\n".as_bytes())?;
    for s in &r.scans {
        for (rank, (symbol, score)) in s.candidates.iter().enumerate() {
            writeln!(
                out,
                "{},{},{},{},{symbol},{score},{}",
                s.ts,
                csv_text(&s.scanner),
                s.as_of,
                rank + 1,
                s.chosen.contains(symbol)
            )?;
        }
    }
    Ok(())
}

/// Escapes text for HTML.
/// Where the rows a report table leaves out are.
const CSV_REST: &str = "every row is in the CSV";

fn money_fmt(v: f64) -> String {
    format!("{v:.2}")
}

fn pct_fmt(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn report_html(
    r: &BacktestResult,
    store: &BarStore,
    charts: &Charts,
    tables: &Tables,
) -> Result<String> {
    let m = &r.metrics;
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>openbell backtest</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#1f2328}h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de}table{border-collapse:collapse;width:100%;font-size:12.5px}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left}th{background:#f6f8fa}dl{display:grid;grid-template-columns:repeat(4,auto 1fr);gap:4px 12px}dt{color:#57606a}dd{margin:0;font-weight:600}figure{margin:12px 0}figcaption{font-weight:600}.note{color:#57606a}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>Backtest {}</h1><p>{} on {} symbols, {} to {} ({} trading days); data {}</p>",
        esc(&r.session_id.to_string()),
        esc(&r.strategy),
        r.symbols.len(),
        r.start,
        r.end,
        r.trading_days,
        esc(&r.fingerprint)
    );
    let stats: Vec<(&str, String)> = vec![
        ("Initial equity", money_fmt(r.initial.to_f64())),
        ("Final equity", money_fmt(r.final_equity.to_f64())),
        ("Total return", pct_fmt(m.total_return)),
        ("CAGR", pct_fmt(m.cagr)),
        ("Volatility", pct_fmt(m.volatility)),
        ("Sharpe", opt(m.sharpe)),
        ("Sortino", opt(m.sortino)),
        ("Calmar", opt(m.calmar)),
        ("Max drawdown", pct_fmt(m.max_drawdown)),
        ("Drawdown days", m.max_drawdown_days.to_string()),
        ("Round trips", m.trades.to_string()),
        (
            "Win rate",
            m.win_rate.map_or_else(|| "-".to_owned(), pct_fmt),
        ),
        ("Profit factor", opt(m.profit_factor)),
        ("Exposure", pct_fmt(m.exposure)),
        ("Turnover", format!("{:.2}", m.turnover)),
        ("Commissions", money_fmt(m.commissions)),
        ("Bars", r.bars.to_string()),
        ("Fills", r.fill_count.to_string()),
    ];
    html.push_str("<h2>Summary</h2><dl>");
    for (k, v) in stats {
        let _ = write!(html, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    html.push_str("</dl>");

    let points = || charts.equity.iter().flatten();
    let equity: Vec<f64> = points().map(|p| p.0).collect();
    let dd: Vec<f64> = points().map(|p| -p.1).collect();
    html.push_str("<h2>Equity</h2>");
    html.push_str(&line_chart("Equity", &equity, "#0969da", &[], money_fmt));
    html.push_str(&line_chart("Drawdown", &dd, "#cf222e", &[], pct_fmt));

    html.push_str("<h2>Prices and fills</h2>");
    for (symbol, marks) in charts.markers.iter().take(12) {
        // The last close in each span of the session, read a stored month (row group) at a
        // time.
        let mut closes: Vec<Option<f64>> = vec![None; usize_of(CHART_POINTS)];
        let (mut from, end) = charts.range;
        while from < end {
            let to = openbell_server::run::source::month_bounds(from).1.min(end);
            for bar in store.read_vec(*symbol, r.interval, from, to)? {
                if let Some(close) = closes.get_mut(usize_of(span_of(charts.range, bar.ts_event())))
                {
                    *close = Some(bar.close().to_f64());
                }
            }
            from = to;
        }
        let (spans, values): (Vec<u64>, Vec<f64>) = (0..CHART_POINTS)
            .zip(closes)
            .filter_map(|(span, close)| Some((span, close?)))
            .unzip();
        let at = |span: u64| {
            spans
                .partition_point(|s| *s < span)
                .min(spans.len().saturating_sub(1))
        };
        let markers: Vec<(usize, f64, bool)> = marks
            .iter()
            .flat_map(|(span, [buy, sell])| {
                let i = at(*span);
                buy.map(|p| (i, p, true))
                    .into_iter()
                    .chain(sell.map(|p| (i, p, false)))
            })
            .collect();
        html.push_str(&line_chart(
            &format!("{symbol} close, fills (▲ buy, ▼ sell)"),
            &values,
            "#57606a",
            &markers,
            money_fmt,
        ));
    }
    if charts.markers.len() > 12 {
        let _ = write!(
            html,
            "<p class=\"note\">Charts for 12 of {} traded symbols.</p>",
            charts.markers.len()
        );
    }

    html.push_str("<h2>Round trips</h2>");
    html.push_str(&table(
        &[
            "symbol",
            "side",
            "qty",
            "entry",
            "exit",
            "entry price",
            "exit price",
            "net P&L",
        ],
        tables.trades.iter().cloned(),
        TABLE_ROWS,
        r.metrics.trades,
        CSV_REST,
    ));
    html.push_str("<h2>Fills</h2>");
    html.push_str(&table(
        &[
            "ts",
            "symbol",
            "side",
            "qty",
            "price",
            "commission",
            "order",
        ],
        tables.fills.iter().cloned(),
        TABLE_ROWS,
        r.fill_count,
        CSV_REST,
    ));
    html.push_str("<h2>Orders</h2>");
    html.push_str(&table(
        &[
            "id", "ts", "symbol", "side", "type", "qty", "filled", "status", "reason",
        ],
        tables.orders.iter().cloned(),
        TABLE_ROWS,
        tables.order_total,
        CSV_REST,
    ));
    html.push_str("<h2>Data quality</h2>");
    html.push_str(&table(
        &["date", "symbol", "expected", "present", "missing runs"],
        r.quality
            .iter()
            .filter(|q| q.present < q.expected)
            .map(|q| {
                vec![
                    q.date.to_string(),
                    q.symbol.to_string(),
                    q.expected.to_string(),
                    q.present.to_string(),
                    q.missing.len().to_string(),
                ]
            }),
        TABLE_ROWS,
        r.quality.iter().filter(|q| q.present < q.expected).count(),
        CSV_REST,
    ));
    let complete = r.quality.iter().filter(|q| q.present >= q.expected).count();
    let _ = write!(
        html,
        "<p class=\"note\">{complete} of {} symbol-days complete.</p>",
        r.quality.len()
    );
    html.push_str("<h2>Scans</h2>");
    html.push_str(&table(
        &["ts", "scanner", "chosen", "candidates"],
        r.scans.iter().map(|s| {
            vec![
                s.ts.to_string(),
                s.scanner.clone(),
                s.chosen
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                s.candidates.len().to_string(),
            ]
        }),
        TABLE_ROWS,
        r.scans.len(),
        CSV_REST,
    ));
    html.push_str("<h2>Config</h2><pre>");
    html.push_str(&esc(&r.config_text));
    html.push_str("</pre></body></html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use openbell_model::{Order, OrderId, OrderStatus, OrderType, SignalId, TimeInForce};
    use proptest::prelude::*;

    use super::*;

    fn fixed6(x: f64) -> String {
        let mut out = String::new();
        push_fixed6(&mut out, x);
        out
    }

    #[test]
    fn six_decimals_match_the_float_formatter_at_ties_and_edges() {
        let cases = [
            0.0,
            -0.0,
            1.0,
            0.5,
            // Exact ties at the sixth decimal: half to even, as the formatter rounds them.
            0.007_812_5,
            0.023_437_5,
            -0.007_812_5,
            0.000_000_5,
            0.000_001_5,
            0.999_999_5,
            0.999_999_499_999_999_9,
            1e-300,
            -1e-9,
            f64::MIN_POSITIVE,
            5e-324,
            123_456.789_012_345,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            1e25,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for x in cases {
            assert_eq!(fixed6(x), format!("{x:.6}"), "{x:e}");
        }
    }

    proptest! {
        /// The CSV lines built field by field are the lines `Display` formatting gives.
        #[test]
        fn csv_lines_are_the_display_formatted_lines(
            ts in 0i64..4_000_000_000_000_000_000,
            qty in 1i128..10_000_000_000_000,
            price in 1i128..10_000_000_000_000_000,
            commission in 0i128..1_000_000_000_000,
            pnl in -1_000_000_000_000_000i128..1_000_000_000_000_000,
            id in 1u64..u64::MAX,
            signal in proptest::option::of(1u64..u64::MAX),
            kind in 0u8..4,
            reason in proptest::option::of("[a-z ,\"]{0,12}"),
        ) {
            let symbol = Symbol::parse("BRK.B").unwrap();
            let at = Timestamp::from_nanos(ts);
            let (qty, price) = (Quantity::from_raw(qty), Price::from_raw(price));
            let commission = Money::from_raw(commission);
            let fill = Fill::try_new(OrderId(id), symbol, Side::Sell, qty, price, commission, at)
                .unwrap();
            let mut line = String::new();
            fill_line(&fill, &mut line);
            prop_assert_eq!(
                &line,
                &format!("{at},{symbol},sell,{qty},{price},{commission},{id}\n")
            );
            let trade = Trade {
                symbol,
                side: Side::Sell,
                quantity: qty,
                entry_ts: at,
                exit_ts: Timestamp::from_nanos(ts / 2),
                entry_price: price,
                exit_price: Price::from_raw(price.raw() / 3),
                gross_pnl: Money::from_raw(pnl),
                commission,
            };
            line.clear();
            trade_line(&trade, "short", &mut line);
            prop_assert_eq!(
                &line,
                &format!(
                    "{symbol},short,{qty},{at},{},{price},{},{},{commission},{}\n",
                    trade.exit_ts,
                    trade.exit_price,
                    trade.gross_pnl,
                    trade.net_pnl()
                )
            );
            let stop = Price::from_raw(price.raw() + 7);
            let order_type = [
                OrderType::Market,
                OrderType::Limit { limit: price },
                OrderType::Stop { stop },
                OrderType::StopLimit { stop, limit: price },
            ][usize::from(kind)];
            let mut order =
                Order::try_new(OrderId(id), symbol, Side::Buy, order_type, TimeInForce::Gtc, qty, at)
                    .unwrap();
            if let Some(s) = signal {
                order = order.with_signal(SignalId(s));
            }
            order.transition(OrderStatus::Accepted).unwrap();
            let rec = OrderRecord { order, reason };
            line.clear();
            order_line(&rec, &mut line);
            let (limit, stop) = order_type.limit_and_stop();
            let text = |p: Option<Price>| p.map_or_else(String::new, |p| p.to_string());
            prop_assert_eq!(
                &line,
                &format!(
                    "{id},{at},{symbol},buy,{},{},{},gtc,{qty},0,accepted,{},{}\n",
                    order_type.as_str(),
                    text(limit),
                    text(stop),
                    signal.map_or_else(String::new, |s| s.to_string()),
                    csv_text(rec.reason.as_deref().unwrap_or(""))
                )
            );
        }

        #[test]
        fn six_decimals_match_the_float_formatter(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(fixed6(x), format!("{x:.6}"));
        }

        #[test]
        fn six_decimals_match_for_drawdowns(x in 0.0f64..1.0, k in 0u32..2_000_000) {
            prop_assert_eq!(fixed6(x), format!("{x:.6}"));
            // Values on and next to the sixth-decimal grid and its midpoints.
            let grid = f64::from(k) / 2_000_000.0;
            for y in [grid, grid.next_up(), grid.next_down()] {
                prop_assert_eq!(fixed6(y), format!("{y:.6}"));
            }
        }
    }

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
