//! The bar store and the calendars over HTTP: `GET /data/symbols` (every stored series with its
//! range), `GET /data/bars` (a series' bars, paged), `GET /data/quality` (a series' quality
//! ledger by day) and `GET /calendar/days` (an exchange's trading days). Files are read on
//! the blocking pool.

use axum::Json;
use axum::extract::State;
use chrono::{NaiveDate, SecondsFormat};
use openbell_calendar::TradingDay;
use openbell_data::BarStore;
use openbell_model::{Interval, Symbol, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, Params};
use crate::records::page_size;
use crate::run::config::{CalendarPaths, resolve_with};

/// Bars per page when the request gives no limit.
pub const DEFAULT_BARS: u32 = 390;

/// The most trading days one `/calendar/days` answer lists (about forty years).
pub const MAX_CALENDAR_DAYS: usize = 10_000;

/// Runs a bar store read on the blocking pool.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&BarStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let dir = state.runner.data_dir().to_owned();
    tokio::task::spawn_blocking(move || {
        let store = BarStore::open(&dir).map_err(|e| ApiError::internal(&e))?;
        read(&store)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// A series as listed.
#[derive(Debug, Serialize)]
struct SeriesJson {
    symbol: String,
    interval: String,
    exchange: String,
    first: Option<String>,
    last: Option<String>,
    bars: u64,
}

/// `GET /data/symbols`: every stored series, by symbol then interval.
///
/// # Errors
/// 500 when the store cannot be read (an empty store lists nothing).
pub async fn symbols(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let series = with_store(&state, |store| {
        if !store.root().join("bars").is_dir() {
            return Ok(Vec::new());
        }
        store.series().map_err(|e| ApiError::internal(&e))
    })
    .await?;
    let series: Vec<SeriesJson> = series
        .into_iter()
        .map(|s| SeriesJson {
            symbol: s.symbol.to_string(),
            interval: s.interval.to_string(),
            exchange: s.exchange,
            first: s.first.map(|t| t.to_string()),
            last: s.last.map(|t| t.to_string()),
            bars: s.bars,
        })
        .collect();
    Ok(Json(json!({ "series": series })))
}

/// `symbol`, `interval` and a date range.
#[derive(Debug, Deserialize)]
pub struct SeriesQuery {
    symbol: String,
    interval: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn symbol(text: &str) -> Result<Symbol, ApiError> {
    Symbol::parse(text).map_err(|e| ApiError::bad_request(format!("symbol: {e}")))
}

fn interval(text: Option<&str>) -> Result<Interval, ApiError> {
    text.unwrap_or("1m")
        .parse::<Interval>()
        .map_err(|e| ApiError::bad_request(format!("interval: {e}")))
}

fn date(field: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!("{field}: {text:?} is not a date like 2024-01-02"))
    })
}

/// The start of a day (UTC) as an instant.
fn day_start(d: NaiveDate) -> Timestamp {
    Timestamp::from_datetime(&d.and_time(chrono::NaiveTime::MIN).and_utc())
        .unwrap_or(Timestamp::from_nanos(0))
}

/// `GET /data/bars?symbol=&interval=&from=&to=&limit=&cursor=`: a series' bars between two
/// dates (inclusive, UTC days), oldest first, a page at a time (the cursor is the last bar's
/// open in nanoseconds).
///
/// # Errors
/// 400 for a malformed symbol, interval, date, limit or cursor; 404 for a series the store
/// does not have.
pub async fn bars(
    State(state): State<AppState>,
    _user: CurrentUser,
    Params(q): Params<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let symbol = symbol(&q.symbol)?;
    let interval = interval(q.interval.as_deref())?;
    let limit = page_size(q.limit, DEFAULT_BARS)?;
    let from = q.from.as_deref().map(|d| date("from", d)).transpose()?;
    let to = q.to.as_deref().map(|d| date("to", d)).transpose()?;
    let mut start = from.map_or(Timestamp::from_nanos(0), day_start);
    let end = to
        .and_then(|d| d.succ_opt())
        .map_or(Timestamp::from_nanos(i64::MAX), day_start);
    if let Some(c) = q.cursor.as_deref() {
        let after = c.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("cursor: {c:?} is not a cursor this endpoint gave"))
        })?;
        start = start.max(Timestamp::from_nanos(after.saturating_add(1)));
    }
    let page = with_store(&state, move |store| {
        if store
            .exchange(symbol, interval)
            .map_err(|e| ApiError::internal(&e))?
            .is_none()
        {
            return Err(ApiError::not_found(&format!("series {symbol} {interval}")));
        }
        // Batch by batch, only until one bar more than the page is known.
        let mut out = Vec::with_capacity(limit as usize + 1);
        for batch in store
            .read(symbol, interval, start, end)
            .map_err(|e| ApiError::internal(&e))?
        {
            out.extend(batch.map_err(|e| ApiError::internal(&e))?);
            if out.len() > limit as usize {
                break;
            }
        }
        Ok(out)
    })
    .await?;
    let more = page.len() > limit as usize;
    let rows: Vec<Value> = page
        .iter()
        .take(limit as usize)
        .map(|b| {
            json!({
                "ts": b.ts_event().to_string(),
                "open": b.open().to_string(),
                "high": b.high().to_string(),
                "low": b.low().to_string(),
                "close": b.close().to_string(),
                "volume": b.volume().to_string(),
            })
        })
        .collect();
    let next_cursor = more
        .then(|| {
            page.get(limit as usize - 1)
                .map(|b| b.ts_event().as_nanos().to_string())
        })
        .flatten();
    Ok(Json(json!({
        "symbol": symbol.to_string(),
        "interval": interval.to_string(),
        "bars": rows,
        "next_cursor": next_cursor,
    })))
}

/// `GET /data/quality?symbol=&interval=&from=&to=`: the series' quality ledger, one row per
/// trading day (the whole stored range without dates).
///
/// # Errors
/// 400 for a malformed symbol, interval or date; 404 for a series the store does not have.
pub async fn quality(
    State(state): State<AppState>,
    _user: CurrentUser,
    Params(q): Params<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let symbol = symbol(&q.symbol)?;
    let interval = interval(q.interval.as_deref())?;
    let from = q.from.as_deref().map(|d| date("from", d)).transpose()?;
    let to = q.to.as_deref().map(|d| date("to", d)).transpose()?;
    let days = with_store(&state, move |store| {
        let exchange = store
            .exchange(symbol, interval)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| ApiError::not_found(&format!("series {symbol} {interval}")))?;
        let calendar = resolve_with(&exchange, CalendarPaths::CodesOnly)
            .map_err(|e| ApiError::internal(&e))?;
        openbell_data::ledger(store, &calendar, symbol, interval, from, to)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await?;
    let rows: Vec<Value> = days
        .iter()
        .map(|d| {
            json!({
                "date": d.date.to_string(),
                "early_close": d.early_close,
                "expected": d.expected,
                "present": d.present,
                "quality_pct": d.quality_pct(),
                "missing": d.missing.iter().map(|(a, z)| json!([a.to_string(), z.to_string()])).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "symbol": symbol.to_string(),
        "interval": interval.to_string(),
        "days": rows,
    })))
}

/// `exchange`, `from` and `to`.
#[derive(Debug, Deserialize)]
pub struct CalendarQuery {
    exchange: Option<String>,
    from: String,
    to: String,
}

fn day_json(day: &TradingDay) -> Value {
    let local = |ts: Timestamp| {
        ts.to_zoned(day.tz)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    };
    json!({
        "date": day.date.to_string(),
        "open_utc": day.open.to_string(),
        "close_utc": day.close.to_string(),
        "open_local": local(day.open),
        "close_local": local(day.close),
        "early_close": day.early_close,
    })
}

/// `GET /calendar/days?exchange=XNYS&from=&to=`: one row per trading day, as
/// `openbell calendar days` prints them.
///
/// # Errors
/// 400 for an unknown exchange (built-in and configured codes only), a malformed date, a
/// reversed range, or more than [`MAX_CALENDAR_DAYS`] days.
pub async fn calendar_days(
    _user: CurrentUser,
    Params(q): Params<CalendarQuery>,
) -> Result<Json<Value>, ApiError> {
    let code = q.exchange.as_deref().unwrap_or("XNYS");
    let from = date("from", &q.from)?;
    let to = date("to", &q.to)?;
    if to < from {
        return Err(ApiError::bad_request(format!(
            "to: {to} is before from: {from}"
        )));
    }
    if (to - from).num_days() > 60 * 366 {
        return Err(ApiError::bad_request(format!(
            "from..to: at most {MAX_CALENDAR_DAYS} trading days per request"
        )));
    }
    let code_owned = code.to_owned();
    let days = tokio::task::spawn_blocking(move || {
        let calendar = resolve_with(&code_owned, CalendarPaths::CodesOnly)
            .map_err(|e| ApiError::bad_request(format!("exchange: {e:#}")))?;
        calendar
            .trading_days(from, to)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    if days.len() > MAX_CALENDAR_DAYS {
        return Err(ApiError::bad_request(format!(
            "from..to: at most {MAX_CALENDAR_DAYS} trading days per request"
        )));
    }
    Ok(Json(json!({
        "exchange": code,
        "days": days.iter().map(day_json).collect::<Vec<_>>(),
    })))
}
