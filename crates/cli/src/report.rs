//! A backtest's records as files: `summary.json`, CSVs, and a self-contained `report.html`
//! with inline SVG charts (no scripts, no network).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use openbell_data::BarStore;
use openbell_model::{Side, Timestamp};
use serde_json::json;

use crate::backtest_cmd::{BacktestResult, ensure_dir};

/// Writes every output file into `dir`, streaming the CSVs rather than building them whole.
pub(crate) fn write_all(dir: &Path, r: &BacktestResult, store: &BarStore) -> Result<()> {
    ensure_dir(dir)?;
    let file = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        let path = dir.join(name);
        let f =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        Ok(std::io::BufWriter::new(f))
    };
    let done = |name: &str,
                mut w: std::io::BufWriter<std::fs::File>,
                result: std::io::Result<()>|
     -> Result<()> {
        result
            .and_then(|()| w.flush())
            .with_context(|| format!("writing {}", dir.join(name).display()))
    };
    let mut w = file("summary.json")?;
    let text = summary_json(r)?;
    let result = w.write_all(text.as_bytes());
    done("summary.json", w, result)?;
    let mut w = file("fills.csv")?;
    let result = fills_csv(r, &mut w);
    done("fills.csv", w, result)?;
    let mut w = file("orders.csv")?;
    let result = orders_csv(r, &mut w);
    done("orders.csv", w, result)?;
    let mut w = file("trades.csv")?;
    let result = trades_csv(r, &mut w);
    done("trades.csv", w, result)?;
    let mut w = file("equity.csv")?;
    let result = equity_csv(r, &mut w);
    done("equity.csv", w, result)?;
    let mut w = file("quality.csv")?;
    let result = quality_csv(r, &mut w);
    done("quality.csv", w, result)?;
    let mut w = file("scans.csv")?;
    let result = scans_csv(r, &mut w);
    done("scans.csv", w, result)?;
    let mut w = file("report.html")?;
    let text = report_html(r, store)?;
    let result = w.write_all(text.as_bytes());
    done("report.html", w, result)?;
    Ok(())
}

pub(crate) fn summary_json(r: &BacktestResult) -> Result<String> {
    let m = &r.metrics;
    let value = json!({
        "session_id": r.session_id.to_string(),
        "name": r.name,
        "strategy": r.strategy,
        "start": r.start.to_string(),
        "end": r.end.to_string(),
        "trading_days": r.trading_days,
        "symbols": r.symbols.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "bars_processed": r.bars,
        "signals": r.signals,
        "orders": r.order_count,
        "fills": r.fill_count,
        "round_trips": m.trades,
        "initial_equity": r.initial.to_string(),
        "final_equity": r.final_equity.to_string(),
        "realized_pnl": r.realized.to_string(),
        "total_return": m.total_return,
        "cagr": m.cagr,
        "volatility": m.volatility,
        "sharpe": m.sharpe,
        "sortino": m.sortino,
        "calmar": m.calmar,
        "max_drawdown": m.max_drawdown,
        "max_drawdown_days": m.max_drawdown_days,
        "win_rate": m.win_rate,
        "profit_factor": m.profit_factor,
        "avg_win": m.avg_win,
        "avg_loss": m.avg_loss,
        "exposure": m.exposure,
        "turnover": m.turnover,
        "trades": m.trades,
        "commissions": m.commissions,
        "faults": r.faults.len(),
        "stopped": r.stopped,
        "data_fingerprint": r.fingerprint,
        "version": env!("CARGO_PKG_VERSION"),
        "elapsed_ms": r.elapsed_ms,
        "bars_per_second": r.bars_per_second(),
    });
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

fn fills_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all("ts,symbol,side,qty,price,commission,order_id\n".as_bytes())?;
    for f in &r.fills {
        writeln!(
            out,
            "{},{},{},{},{},{},{}",
            f.ts_event(),
            f.symbol(),
            f.side(),
            f.quantity(),
            f.price(),
            f.commission(),
            f.order_id().0
        )?;
    }
    Ok(())
}

fn orders_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(b"id,ts,symbol,side,type,limit,stop,tif,qty,filled,status,signal_id,reason\n")?;
    for rec in &r.orders {
        let o = &rec.order;
        let (limit, stop) = o.order_type().limit_and_stop();
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            o.id().0,
            o.ts_init(),
            o.symbol(),
            o.side(),
            o.order_type().as_str(),
            limit.map_or_else(String::new, |p| p.to_string()),
            stop.map_or_else(String::new, |p| p.to_string()),
            o.time_in_force().as_str(),
            o.quantity(),
            o.filled(),
            o.status(),
            o.signal_id().map_or_else(String::new, |s| s.0.to_string()),
            csv_text(rec.reason.as_deref().unwrap_or(""))
        )?;
    }
    Ok(())
}

/// Quotes a CSV field when it needs it.
fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn trades_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(
        "symbol,side,qty,entry_ts,exit_ts,entry_price,exit_price,gross_pnl,commission,net_pnl\n"
            .as_bytes(),
    )?;
    for t in &r.trades {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            t.symbol,
            if t.side == Side::Buy { "long" } else { "short" },
            t.quantity,
            t.entry_ts,
            t.exit_ts,
            t.entry_price,
            t.exit_price,
            t.gross_pnl,
            t.commission,
            t.net_pnl()
        )?;
    }
    Ok(())
}

/// Drawdowns of the equity records from their running peak, as fractions.
fn drawdowns(r: &BacktestResult) -> Vec<f64> {
    let mut peak = r.initial.to_f64();
    r.equity
        .iter()
        .map(|(_, e, _)| {
            let e = e.to_f64();
            peak = peak.max(e);
            if peak > 0.0 { (peak - e) / peak } else { 0.0 }
        })
        .collect()
}

fn equity_csv(r: &BacktestResult, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all("ts,equity,drawdown,position_open\n".as_bytes())?;
    for ((ts, equity, open), dd) in r.equity.iter().zip(drawdowns(r)) {
        writeln!(out, "{ts},{equity},{dd:.6},{open}")?;
    }
    Ok(())
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
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG line chart of `values` (evenly spaced), with optional markers at
/// `(index, value, is_buy)`.
fn line_chart(
    title: &str,
    values: &[f64],
    color: &str,
    markers: &[(usize, f64, bool)],
    fmt: fn(f64) -> String,
) -> String {
    let (w, h, pad) = (900.0, 220.0, 40.0);
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title),
        esc(title)
    );
    if values.is_empty() {
        svg.push_str("<text x=\"20\" y=\"40\">no data</text></svg></figure>");
        return svg;
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    #[allow(clippy::cast_precision_loss)]
    let n = (values.len().max(2) - 1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / n;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v - lo) / span;
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#bbb\"/><text x=\"2\" y=\"{2}\" font-size=\"11\">{3}</text><text x=\"2\" y=\"{4}\" font-size=\"11\">{5}</text>",
        h - pad,
        w - pad,
        y(hi) + 4.0,
        esc(&fmt(hi)),
        y(lo) + 4.0,
        esc(&fmt(lo))
    );
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(i),
            y(*v)
        );
    }
    let _ = write!(
        svg,
        "<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>"
    );
    for (i, v, buy) in markers {
        let (fill, shape) = if *buy {
            (
                "#1a7f37",
                format!(
                    "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    x(*i),
                    y(*v) - 6.0,
                    x(*i) - 5.0,
                    y(*v) + 4.0,
                    x(*i) + 5.0,
                    y(*v) + 4.0
                ),
            )
        } else {
            (
                "#cf222e",
                format!(
                    "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    x(*i),
                    y(*v) + 6.0,
                    x(*i) - 5.0,
                    y(*v) - 4.0,
                    x(*i) + 5.0,
                    y(*v) - 4.0
                ),
            )
        };
        let _ = write!(svg, "<polygon points=\"{shape}\" fill=\"{fill}\"/>");
    }
    svg.push_str("</svg></figure>");
    svg
}

/// Every `k`-th index so that at most `max` remain (always keeping the last).
fn sample(len: usize, max: usize) -> Vec<usize> {
    if len <= max {
        return (0..len).collect();
    }
    let step = len.div_ceil(max);
    let mut idx: Vec<usize> = (0..len).step_by(step).collect();
    if idx.last() != Some(&(len - 1)) {
        idx.push(len - 1);
    }
    idx
}

fn table(
    head: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    limit: usize,
    total: usize,
) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(t, "<th scope=\"col\">{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    for row in rows.take(limit) {
        t.push_str("<tr>");
        for cell in row {
            let _ = write!(t, "<td>{}</td>", esc(&cell));
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    if total > limit {
        let _ = write!(
            t,
            "<p class=\"note\">First {limit} of {total}; every row is in the CSV.</p>"
        );
    }
    t
}

fn money_fmt(v: f64) -> String {
    format!("{v:.2}")
}

fn pct_fmt(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn report_html(r: &BacktestResult, store: &BarStore) -> Result<String> {
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

    let picks = sample(r.equity.len(), 1500);
    let equity: Vec<f64> = picks.iter().map(|&i| r.equity[i].1.to_f64()).collect();
    let dd = drawdowns(r);
    let dd: Vec<f64> = picks.iter().map(|&i| -dd[i]).collect();
    html.push_str("<h2>Equity</h2>");
    html.push_str(&line_chart("Equity", &equity, "#0969da", &[], money_fmt));
    html.push_str(&line_chart("Drawdown", &dd, "#cf222e", &[], pct_fmt));

    html.push_str("<h2>Prices and fills</h2>");
    let traded: std::collections::BTreeSet<_> = r.fills.iter().map(|f| f.symbol()).collect();
    for symbol in traded.iter().take(12) {
        let bars = store.read_vec(*symbol, r.interval, r.range.0, r.range.1)?;
        let picks = sample(bars.len(), 1500);
        let closes: Vec<f64> = picks.iter().map(|&i| bars[i].close().to_f64()).collect();
        let stamps: Vec<Timestamp> = picks.iter().map(|&i| bars[i].ts_event()).collect();
        let markers: Vec<(usize, f64, bool)> = r
            .fills
            .iter()
            .filter(|f| f.symbol() == *symbol)
            .map(|f| {
                let i = stamps
                    .partition_point(|t| *t < f.ts_event())
                    .min(stamps.len().saturating_sub(1));
                (i, f.price().to_f64(), f.side() == Side::Buy)
            })
            .collect();
        html.push_str(&line_chart(
            &format!("{symbol} close, fills (▲ buy, ▼ sell)"),
            &closes,
            "#57606a",
            &markers,
            money_fmt,
        ));
    }
    if traded.len() > 12 {
        let _ = write!(
            html,
            "<p class=\"note\">Charts for 12 of {} traded symbols.</p>",
            traded.len()
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
        r.trades.iter().map(|t| {
            vec![
                t.symbol.to_string(),
                if t.side == Side::Buy {
                    "long".into()
                } else {
                    "short".into()
                },
                t.quantity.to_string(),
                t.entry_ts.to_string(),
                t.exit_ts.to_string(),
                t.entry_price.to_string(),
                t.exit_price.to_string(),
                t.net_pnl().to_string(),
            ]
        }),
        300,
        r.trades.len(),
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
        r.fills.iter().map(|f| {
            vec![
                f.ts_event().to_string(),
                f.symbol().to_string(),
                f.side().to_string(),
                f.quantity().to_string(),
                f.price().to_string(),
                f.commission().to_string(),
                f.order_id().0.to_string(),
            ]
        }),
        300,
        r.fills.len(),
    ));
    html.push_str("<h2>Orders</h2>");
    html.push_str(&table(
        &[
            "id", "ts", "symbol", "side", "type", "qty", "filled", "status", "reason",
        ],
        r.orders.iter().map(|o| {
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
        }),
        300,
        r.orders.len(),
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
        300,
        r.quality.iter().filter(|q| q.present < q.expected).count(),
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
        300,
        r.scans.len(),
    ));
    html.push_str("<h2>Config</h2><pre>");
    html.push_str(&esc(&r.config_text));
    html.push_str("</pre></body></html>\n");
    Ok(html)
}
