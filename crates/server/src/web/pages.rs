//! The UI's pages behind login: the session history, a session's detail, a new backtest, a
//! stop, and the data catalog.

use std::fmt::Write as _;

use axum::extract::rejection::PathRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use openbell_data::BarStore;
use openbell_model::{Interval, SessionStatus, Symbol, Timestamp};
use openbell_store::{EquityRow, FillRow, SessionRow};
use serde::Deserialize;
use serde_json::Value;

use super::{WebUser, error_page, page, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::run::config::{CalendarPaths, resolve_with};
use crate::run::html::{esc, line_chart, table};
use crate::sessions::{ListQuery, page as sessions_page, stop_session, visible};

/// Rows each table on a detail page shows; the API pages the rest.
const ROWS: usize = 100;

/// Points a chart draws at most.
const POINTS: usize = 600;

/// The example configs a new backtest can start from.
pub(super) const EXAMPLES: [(&str, &str); 5] = [
    ("demo", include_str!("../../../../examples/demo.toml")),
    (
        "buy_and_hold",
        include_str!("../../../../examples/buy_and_hold.toml"),
    ),
    (
        "rsi_reversion",
        include_str!("../../../../examples/rsi_reversion.toml"),
    ),
    (
        "opening_range_breakout",
        include_str!("../../../../examples/opening_range_breakout.toml"),
    ),
    (
        "vwap_reversion",
        include_str!("../../../../examples/vwap_reversion.toml"),
    ),
];

fn badge(status: &str) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", esc(status))
}

fn short_time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn options(name: &str, label: &str, values: &[&str], chosen: Option<&str>) -> String {
    let mut s = format!(
        "<label for=\"{name}\">{label}<select id=\"{name}\" name=\"{name}\"><option value=\"\">any</option>"
    );
    for v in values {
        let selected = if chosen == Some(v) { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{v}\"{selected}>{v}</option>");
    }
    s.push_str("</select></label>");
    s
}

fn pct(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map_or_else(|| "-".to_owned(), |v| format!("{:.2}%", v * 100.0))
}

/// `GET /sessions`: the history, every kind, filtered and paged.
pub(super) async fn history(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<ListQuery>,
) -> Response {
    let (rows, next) = match sessions_page(&state, &user.user, &q).await {
        Ok(found) => found,
        Err(e) => return error_page(Some(&user), &e),
    };
    let mut body = String::from("<h1>Sessions</h1>");
    body.push_str("<form class=\"filters\" method=\"get\" action=\"/sessions\" aria-label=\"Filter sessions\">");
    body.push_str(&options(
        "kind",
        "Kind",
        &["backtest", "paper", "collect"],
        q.kind.as_deref(),
    ));
    body.push_str(&options(
        "status",
        "Status",
        &[
            "queued",
            "starting",
            "running",
            "paused",
            "stopping",
            "stopped",
            "completed",
            "failed",
        ],
        q.status.as_deref(),
    ));
    let _ = write!(
        body,
        "<label for=\"from\">Created from<input id=\"from\" name=\"from\" type=\"date\" value=\"{}\"></label>\
         <label for=\"to\">Created to<input id=\"to\" name=\"to\" type=\"date\" value=\"{}\"></label>\
         <button type=\"submit\">Filter</button></form>",
        esc(q.from.as_deref().unwrap_or("")),
        esc(q.to.as_deref().unwrap_or(""))
    );
    if rows.is_empty() {
        body.push_str("<p>No sessions match. <a href=\"/sessions/new\">Start a backtest</a>.</p>");
    } else {
        body.push_str(
            "<div class=\"scroll\"><table id=\"sessions-table\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Kind</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Created</th><th scope=\"col\">Ended</th>\
             <th scope=\"col\">Total return</th><th scope=\"col\">Id</th></tr></thead><tbody>",
        );
        for r in &rows {
            let summary: Option<Value> = r
                .summary
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok());
            let _ = write!(
                body,
                "<tr><td><a href=\"/sessions/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{id}</code></td></tr>",
                esc(&r.name),
                r.kind,
                badge(r.status.as_str()),
                short_time(Some(r.created_at)),
                short_time(r.ended_at),
                pct(summary.as_ref().and_then(|s| s.get("total_return"))),
                id = r.id
            );
        }
        body.push_str("</tbody></table></div>");
    }
    if let Some(cursor) = next {
        let mut link = format!("/sessions?cursor={cursor}");
        for (k, v) in [
            ("kind", &q.kind),
            ("status", &q.status),
            ("from", &q.from),
            ("to", &q.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                let _ = write!(link, "&{k}={}", super::urlencode(v));
            }
        }
        let _ = write!(
            body,
            "<p><a href=\"{}\" rel=\"next\">Older sessions</a></p>",
            esc(&link)
        );
    }
    page(StatusCode::OK, "Sessions", Some(&user), &body)
}

fn new_form(
    user: &WebUser,
    name: &str,
    example: &str,
    config: &str,
    problem: Option<&ApiError>,
) -> Response {
    let mut body = String::from("<h1>New backtest</h1>");
    if let Some(e) = problem {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(e.message())
        );
    }
    let _ = write!(
        body,
        "<form class=\"stack\" method=\"post\" action=\"/sessions/new\">{}\
         <label for=\"name\">Name<input id=\"name\" name=\"name\" maxlength=\"200\" value=\"{}\"></label>\
         <label for=\"example\">Example config<select id=\"example\" name=\"example\">",
        user.csrf_field(),
        esc(name)
    );
    for (key, _) in EXAMPLES {
        let selected = if key == example { " selected" } else { "" };
        let _ = write!(
            body,
            "<option value=\"{key}\"{selected}>examples/{key}.toml</option>"
        );
    }
    let _ = write!(
        body,
        "</select></label>\
         <label for=\"config\">Or paste a config (TOML; used instead of the example when not empty)\
         <textarea id=\"config\" name=\"config\" spellcheck=\"false\">{}</textarea></label>\
         <button type=\"submit\" id=\"start\">Start backtest</button></form>\
         <details><summary>The examples</summary>",
        esc(config)
    );
    for (key, text) in EXAMPLES {
        let _ = write!(body, "<h2>examples/{key}.toml</h2><pre>{}</pre>", esc(text));
    }
    body.push_str("</details>");
    let status = problem.map_or(StatusCode::OK, ApiError::status);
    page(status, "New backtest", Some(user), &body)
}

/// `GET /sessions/new`; says so when the bar store has nothing to run on.
pub(super) async fn new_page(State(state): State<AppState>, user: WebUser) -> Response {
    let dir = state.runner.data_dir().to_owned();
    let empty = tokio::task::spawn_blocking(move || {
        BarStore::open(&dir)
            .ok()
            .and_then(|s| s.series().ok())
            .is_none_or(|series| series.is_empty())
    })
    .await
    .unwrap_or(false);
    let problem = empty.then(|| {
        ApiError::new(
            StatusCode::OK,
            "empty_store",
            format!(
                "The bar store {} is empty, so a backtest has nothing to run on: run \
                 `openbell data generate --symbols 8 --days 62` (the examples' data), or start \
                 the server with --data pointing at a store (`openbell demo` keeps its data in \
                 $OPENBELL_HOME/demo/data).",
                state.runner.data_dir().display()
            ),
        )
    });
    new_form(&user, "", "demo", "", problem.as_ref())
}

#[derive(Debug, Deserialize)]
pub(super) struct NewForm {
    csrf: String,
    name: Option<String>,
    example: Option<String>,
    config: Option<String>,
}

/// `POST /sessions/new`: starts a backtest from an example or a pasted config.
pub(super) async fn create(
    State(state): State<AppState>,
    user: WebUser,
    Form(f): Form<NewForm>,
) -> Response {
    let name = f.name.as_deref().map(str::trim).unwrap_or_default();
    let example = f.example.as_deref().unwrap_or("demo");
    let pasted = f.config.as_deref().unwrap_or_default();
    if let Err(e) = user.check(&f.csrf) {
        return new_form(&user, name, example, pasted, Some(&e));
    }
    let config = if pasted.trim().is_empty() {
        match EXAMPLES.iter().find(|(k, _)| *k == example) {
            Some((_, text)) => *text,
            None => {
                let e = ApiError::bad_request(format!("example: no example named {example:?}"));
                return new_form(&user, name, example, pasted, Some(&e));
            }
        }
    } else {
        pasted
    };
    let name = if name.is_empty() { example } else { name };
    if name.chars().count() > crate::sessions::MAX_NAME_CHARS {
        let e = ApiError::bad_request("name: at most 200 characters");
        return new_form(&user, name, example, pasted, Some(&e));
    }
    match state
        .runner
        .submit(
            user.user.id,
            openbell_model::SessionKind::Backtest,
            name,
            config,
        )
        .await
    {
        Ok(row) => see_other(&format!("/sessions/{}", row.id)),
        Err(e) => {
            let e = ApiError::from(e);
            new_form(&user, name, example, pasted, Some(&e))
        }
    }
}

/// Every `step`-th of `n` indices (and the last), so a chart draws at most [`POINTS`].
fn thin(n: usize) -> impl Iterator<Item = usize> {
    let step = n.div_ceil(POINTS).max(1);
    (0..n).filter(move |i| i % step == 0 || *i + 1 == n)
}

fn equity_charts(equity: &[EquityRow]) -> String {
    let values: Vec<f64> = thin(equity.len())
        .filter_map(|i| equity[i].equity.parse::<f64>().ok())
        .collect();
    let mut peak = f64::NEG_INFINITY;
    let drawdown: Vec<f64> = values
        .iter()
        .map(|v| {
            peak = peak.max(*v);
            if peak > 0.0 { v / peak - 1.0 } else { 0.0 }
        })
        .collect();
    let mut out = String::from("<div id=\"equity-chart\">");
    out.push_str(&line_chart("Equity", &values, "#0550ae", &[], |v| {
        format!("{v:.2}")
    }));
    out.push_str("</div><div id=\"drawdown-chart\">");
    out.push_str(&line_chart("Drawdown", &drawdown, "#cf222e", &[], |v| {
        format!("{:.2}%", v * 100.0)
    }));
    out.push_str("</div>");
    out
}

/// The closes of the most-traded symbol over the session, with its fills marked.
fn price_chart(state: &AppState, row: &SessionRow, fills: &[FillRow]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for f in fills {
        *counts.entry(f.symbol.as_str()).or_default() += 1;
    }
    let Some((symbol, _)) = counts.into_iter().max_by_key(|(_, n)| *n) else {
        return "<p class=\"note\">No fills, so no price chart.</p>".to_owned();
    };
    let (Some(first), Some(last)) = (fills.first(), fills.last()) else {
        return String::new();
    };
    let bars = (|| -> Option<Vec<openbell_model::Bar>> {
        let store = BarStore::open(state.runner.data_dir()).ok()?;
        let sym = Symbol::parse(symbol).ok()?;
        let day = chrono::Duration::days(1);
        let start = Timestamp::from_datetime(&(first.ts - day)).ok()?;
        let end = Timestamp::from_datetime(&(last.ts + day)).ok()?;
        store.read_vec(sym, interval_of(row), start, end).ok()
    })()
    .unwrap_or_default();
    if bars.is_empty() {
        return format!(
            "<p class=\"note\">The bar store has no {} bars for the price chart.</p>",
            esc(symbol)
        );
    }
    let picked: Vec<usize> = thin(bars.len()).collect();
    let closes: Vec<f64> = picked.iter().map(|i| bars[*i].close().to_f64()).collect();
    let markers: Vec<(usize, f64, bool)> = fills
        .iter()
        .filter(|f| f.symbol == symbol)
        .filter_map(|f| {
            let ts = Timestamp::from_datetime(&f.ts).ok()?;
            let at = picked
                .partition_point(|i| bars[*i].ts_event() <= ts)
                .saturating_sub(1);
            Some((at, f.price.parse().ok()?, f.side == "buy"))
        })
        .collect();
    format!(
        "<div id=\"price-chart\">{}</div>",
        line_chart(
            &format!("{symbol} close, with fills"),
            &closes,
            "#59636e",
            &markers,
            |v| format!("{v:.2}")
        )
    )
}

/// The session's base interval, from its config (1m when it does not parse any more).
fn interval_of(row: &SessionRow) -> Interval {
    crate::run::config::parse_config_with(&row.config, "config", CalendarPaths::CodesOnly)
        .map_or(Interval::M1, |cfg| cfg.engine.base_interval)
}

fn summary_block(summary: &Value) -> String {
    let num = |k: &str| {
        summary.get(k).map_or_else(
            || "-".to_owned(),
            |v| match v {
                Value::Number(n) => n.as_f64().map_or_else(
                    || n.to_string(),
                    |f| {
                        if f.fract() == 0.0 {
                            format!("{f:.0}")
                        } else {
                            format!("{f:.2}")
                        }
                    },
                ),
                Value::String(s) => s.clone(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            },
        )
    };
    let items = [
        ("Total return", pct(summary.get("total_return"))),
        ("CAGR", pct(summary.get("cagr"))),
        ("Max drawdown", pct(summary.get("max_drawdown"))),
        ("Sharpe", num("sharpe")),
        ("Sortino", num("sortino")),
        ("Win rate", pct(summary.get("win_rate"))),
        ("Final equity", num("final_equity")),
        ("Trading days", num("trading_days")),
        ("Round trips", num("round_trips")),
        ("Fills", num("fills")),
        ("Bars", num("bars_processed")),
        ("Commissions", num("commissions")),
    ];
    let mut out = String::from("<dl class=\"summary\" id=\"summary\">");
    for (k, v) in items {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
    }
    out.push_str("</dl>");
    out
}

/// `GET /sessions/{id}`: summary, charts, tables, and live updates while it runs.
pub(super) async fn detail(
    State(state): State<AppState>,
    user: WebUser,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    match detail_body(&state, &user, id).await {
        Ok((title, body)) => page(StatusCode::OK, &title, Some(&user), &body),
        Err(e) => error_page(Some(&user), &e),
    }
}

async fn detail_body(
    state: &AppState,
    user: &WebUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<(String, String), ApiError> {
    let row = visible(state, &user.user, id).await?;
    let store = &state.store;
    let id = row.id;
    let counts = store.child_counts(id).await?;
    let count = |t: &str| counts.iter().find(|(n, _)| *n == t).map_or(0, |(_, n)| *n);
    let total = |t: &str| usize::try_from(count(t)).unwrap_or(0);
    let mut b = format!("<h1>{}</h1>", esc(&row.name));
    let _ = write!(
        b,
        "<p><span id=\"status\" class=\"badge {0}\" role=\"status\">{0}</span> {1} <code>{id}</code></p>",
        row.status, row.kind
    );
    let _ = write!(
        b,
        "<p class=\"note\">Created {}; started {}; ended {}.</p>",
        short_time(Some(row.created_at)),
        short_time(row.started_at),
        short_time(row.ended_at)
    );
    if let Some(reason) = &row.error {
        let class = if row.status == SessionStatus::Failed {
            "error"
        } else {
            "note"
        };
        let _ = write!(b, "<p class=\"{class}\" id=\"reason\">{}</p>", esc(reason));
    }
    if row.status.is_live() && row.status != SessionStatus::Stopping {
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/sessions/{id}/stop\">{}<button class=\"danger\" type=\"submit\" id=\"stop\">Stop session</button></form>",
            user.csrf_field()
        );
    }
    if row.status.is_live() {
        let _ = write!(
            b,
            "<div id=\"live\" data-session=\"{id}\"><p id=\"progress\" aria-live=\"polite\">Waiting for the first trading day.</p>\
             <h2>Latest fills</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">ts</th><th scope=\"col\">symbol</th>\
             <th scope=\"col\">side</th><th scope=\"col\">qty</th><th scope=\"col\">price</th><th scope=\"col\">commission</th></tr></thead>\
             <tbody id=\"live-fills\"></tbody></table></div></div><script src=\"/static/live.js\" defer></script>"
        );
    }
    if let Some(summary) = row
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        b.push_str("<h2>Summary</h2>");
        b.push_str(&summary_block(&summary));
    }
    let equity = store.equity_page(id, None, 200_000).await?;
    let fills = store.fills_page(id, 0, 200_000).await?;
    if !equity.is_empty() {
        b.push_str("<h2>Equity and drawdown</h2>");
        b.push_str(&equity_charts(&equity));
    }
    if !fills.is_empty() {
        b.push_str("<h2>Price</h2>");
        b.push_str(&price_chart(state, &row, &fills));
    }
    let api = format!("/api/v1/sessions/{id}");
    let rest = |t: &str| format!("the API pages all of them: {api}/{t}");
    b.push_str("<h2>Fills</h2><div class=\"scroll\" id=\"fills-table\">");
    b.push_str(&table(
        &[
            "#",
            "ts",
            "symbol",
            "side",
            "qty",
            "price",
            "commission",
            "order",
        ],
        fills.iter().map(|f| {
            vec![
                f.seq.to_string(),
                f.ts.to_rfc3339(),
                f.symbol.clone(),
                f.side.clone(),
                f.quantity.clone(),
                f.price.clone(),
                f.commission.clone(),
                f.order_id.to_string(),
            ]
        }),
        ROWS,
        fills.len(),
        &rest("fills"),
    ));
    b.push_str("</div><h2>Orders</h2><div class=\"scroll\" id=\"orders-table\">");
    let orders = store.orders_page(id, 0, ROWS as i64).await?;
    b.push_str(&table(
        &[
            "id", "ts", "symbol", "side", "type", "qty", "filled", "status", "reason",
        ],
        orders.iter().map(|o| {
            vec![
                o.order_id.to_string(),
                o.ts.to_rfc3339(),
                o.symbol.clone(),
                o.side.clone(),
                o.order_type.clone(),
                o.quantity.clone(),
                o.filled.clone(),
                o.status.clone(),
                o.reason.clone().unwrap_or_default(),
            ]
        }),
        ROWS,
        total("orders"),
        &rest("orders"),
    ));
    b.push_str("</div><h2>Signals</h2><div class=\"scroll\" id=\"signals-table\">");
    let signals = store.signals_page(id, 0, ROWS as i64).await?;
    b.push_str(&table(
        &["id", "ts", "symbol", "side", "strength", "reason"],
        signals.iter().map(|s| {
            vec![
                s.signal_id.to_string(),
                s.ts.to_rfc3339(),
                s.symbol.clone(),
                s.side.clone(),
                format!("{:.3}", s.strength),
                s.reason.clone(),
            ]
        }),
        ROWS,
        total("signals"),
        &rest("signals"),
    ));
    b.push_str("</div><h2>Data quality by day</h2><div class=\"scroll\" id=\"quality-table\">");
    let quality = store.quality_page(id, None, ROWS as i64).await?;
    b.push_str(&table(
        &["date", "symbol", "expected", "present", "missing runs"],
        quality.iter().map(|q| {
            vec![
                q.date.clone(),
                q.symbol.clone(),
                q.expected.to_string(),
                q.present.to_string(),
                if q.missing.is_empty() {
                    "0".to_owned()
                } else {
                    q.missing.split(';').count().to_string()
                },
            ]
        }),
        ROWS,
        total("quality"),
        &rest("quality"),
    ));
    b.push_str("</div><h2>Scans</h2><div class=\"scroll\" id=\"scans-table\">");
    let scans = store.scans_page(id, 0, ROWS as i64).await?;
    b.push_str(&table(
        &["ts", "scanner", "as of", "chosen"],
        scans.iter().map(|s| {
            let chosen: Vec<String> = serde_json::from_str(&s.chosen).unwrap_or_default();
            vec![
                s.ts.to_rfc3339(),
                s.scanner.clone(),
                s.as_of.to_rfc3339(),
                chosen.join(" "),
            ]
        }),
        ROWS,
        total("scans"),
        &rest("scans"),
    ));
    let _ = write!(b, "</div><h2>Config</h2><pre>{}</pre>", esc(&row.config));
    Ok((row.name, b))
}

#[derive(Debug, Deserialize)]
pub(super) struct StopForm {
    csrf: String,
}

/// `POST /sessions/{id}/stop`: the stop button.
pub(super) async fn stop(
    State(state): State<AppState>,
    user: WebUser,
    id: Result<Path<String>, PathRejection>,
    Form(f): Form<StopForm>,
) -> Response {
    let outcome = async {
        user.check(&f.csrf)?;
        let row = visible(&state, &user.user, id).await?;
        stop_session(&state, row.id).await?;
        Ok::<_, ApiError>(row.id)
    }
    .await;
    match outcome {
        Ok(id) => see_other(&format!("/sessions/{id}")),
        Err(e) => error_page(Some(&user), &e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CatalogQuery {
    interval: Option<String>,
    days: Option<u32>,
}

/// A heat-map cell's colour for a day's quality.
fn heat(pct: f64, present: u32) -> &'static str {
    if present == 0 {
        "#d1d9e0"
    } else if pct >= 100.0 {
        "#2da44e"
    } else if pct >= 95.0 {
        "#d4a72c"
    } else {
        "#cf222e"
    }
}

/// `GET /data`: every stored series, and a quality heat-map of the last days of one interval.
pub(super) async fn catalog(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<CatalogQuery>,
) -> Response {
    let interval = match q.interval.as_deref().unwrap_or("1m").parse::<Interval>() {
        Ok(i) => i,
        Err(e) => {
            return error_page(
                Some(&user),
                &ApiError::bad_request(format!("interval: {e}")),
            );
        }
    };
    let days = q.days.unwrap_or(30).clamp(1, 250);
    let dir = state.runner.data_dir().to_owned();
    let built = tokio::task::spawn_blocking(move || catalog_body(&dir, interval, days)).await;
    match built {
        Ok(Ok(body)) => page(StatusCode::OK, "Data", Some(&user), &body),
        Ok(Err(e)) => error_page(Some(&user), &e),
        Err(e) => error_page(Some(&user), &ApiError::internal(&e)),
    }
}

/// Symbols the heat-map shows at most.
const HEAT_SYMBOLS: usize = 60;

fn catalog_body(dir: &std::path::Path, interval: Interval, days: u32) -> Result<String, ApiError> {
    let store = BarStore::open(dir).map_err(|e| ApiError::internal(&e))?;
    let series = store.series().map_err(|e| ApiError::internal(&e))?;
    let mut b = String::from("<h1>Data</h1>");
    if series.is_empty() {
        b.push_str("<p>The bar store is empty. <code>openbell data generate</code> writes sample data; <code>openbell data import</code> reads CSV.</p>");
        return Ok(b);
    }
    b.push_str("<h2>Series</h2><div class=\"scroll\" id=\"series-table\">");
    b.push_str(&table(
        &["symbol", "interval", "exchange", "first", "last", "bars"],
        series.iter().map(|s| {
            vec![
                s.symbol.to_string(),
                s.interval.to_string(),
                s.exchange.clone(),
                s.first.map(|t| t.to_string()).unwrap_or_default(),
                s.last.map(|t| t.to_string()).unwrap_or_default(),
                s.bars.to_string(),
            ]
        }),
        series.len(),
        series.len(),
        "",
    ));
    b.push_str("</div>");
    let chosen: Vec<_> = series.iter().filter(|s| s.interval == interval).collect();
    let _ = write!(
        b,
        "<h2>Quality by day, {interval}</h2><form class=\"filters\" method=\"get\" action=\"/data\">\
         <label for=\"interval\">Interval<input id=\"interval\" name=\"interval\" value=\"{interval}\" size=\"5\"></label>\
         <label for=\"days\">Trading days<input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"250\" value=\"{days}\"></label>\
         <button type=\"submit\">Show</button></form>"
    );
    if chosen.is_empty() {
        let _ = write!(b, "<p>No {interval} series.</p>");
        return Ok(b);
    }
    let mut rows = Vec::new();
    // One calendar per exchange, however many symbols trade on it.
    let mut calendars = std::collections::BTreeMap::new();
    for s in chosen.iter().take(HEAT_SYMBOLS) {
        let Some(last) = s.last else { continue };
        let calendar = match calendars.entry(s.exchange.as_str()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(
                resolve_with(&s.exchange, CalendarPaths::CodesOnly)
                    .map_err(|e| ApiError::internal(&e))?,
            ),
        };
        let to = last.to_utc().date_naive();
        let from = to - chrono::Duration::days(i64::from(days) * 7 / 5 + 10);
        let ledger =
            openbell_data::ledger(&store, calendar, s.symbol, interval, Some(from), Some(to))
                .map_err(|e| ApiError::internal(&e))?;
        let keep = ledger.len().saturating_sub(days as usize);
        rows.push((s.symbol, ledger.into_iter().skip(keep).collect::<Vec<_>>()));
    }
    let width = rows.iter().map(|(_, d)| d.len()).max().unwrap_or(0);
    let (cell, label) = (14, 80);
    let _ = write!(
        b,
        "<figure><figcaption>Share of expected bars present: green complete, yellow at least 95%, red less, grey none</figcaption>\
         <svg class=\"heat\" id=\"quality-heatmap\" role=\"img\" aria-label=\"Quality heat-map\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" style=\"max-width:100%;height:auto\" xmlns=\"http://www.w3.org/2000/svg\">",
        label + cell * width,
        cell * rows.len() + 4
    );
    for (r, (symbol, ledger)) in rows.iter().enumerate() {
        let y = r * cell;
        let _ = write!(
            b,
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text>",
            y + 11,
            esc(&symbol.to_string())
        );
        for (c, d) in ledger.iter().enumerate() {
            let _ = write!(
                b,
                "<rect x=\"{}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{}\"><title>{} {}: {}/{} bars ({:.1}%)</title></rect>",
                label + c * cell,
                heat(d.quality_pct(), d.present),
                esc(&symbol.to_string()),
                d.date,
                d.present,
                d.expected,
                d.quality_pct()
            );
        }
    }
    b.push_str("</svg></figure>");
    if chosen.len() > HEAT_SYMBOLS {
        let _ = write!(
            b,
            "<p class=\"note\">The first {HEAT_SYMBOLS} of {} symbols.</p>",
            chosen.len()
        );
    }
    Ok(b)
}
