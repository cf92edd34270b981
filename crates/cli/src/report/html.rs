//! `report.html`: the summary, inline SVG charts and the first rows of each table, with no
//! scripts and no network.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use openbell_data::BarStore;
use openbell_model::{Symbol, Timestamp};
use openbell_server::run::backtest::BacktestResult;
use openbell_server::run::html::{esc, line_chart, table};

use super::{CHART_POINTS, TABLE_ROWS, span_of, usize_of};

/// What the report's charts are drawn from.
pub(super) struct Charts {
    /// By chart span, where equity was recorded.
    pub(super) equity: Vec<Option<(f64, f64)>>,
    pub(super) markers: BTreeMap<Symbol, BTreeMap<u64, [Option<f64>; 2]>>,
    pub(super) range: (Timestamp, Timestamp),
}

/// The first rows of the report's tables.
pub(super) struct Tables {
    pub(super) fills: Vec<Vec<String>>,
    pub(super) trades: Vec<Vec<String>>,
    pub(super) orders: Vec<Vec<String>>,
    pub(super) order_total: usize,
}

/// Where the rows a report table leaves out are.
const CSV_REST: &str = "every row is in the CSV";

fn money_fmt(v: f64) -> String {
    format!("{v:.2}")
}

fn pct_fmt(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

pub(super) fn report_html(
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
