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

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorBody, Params};
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeriesJson {
    symbol: String,
    interval: String,
    /// The calendar the series was stored with.
    exchange: String,
    /// The first bar's open time.
    first: Option<String>,
    /// The last bar's open time.
    last: Option<String>,
    bars: u64,
}

/// Every stored series.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeriesList {
    series: Vec<SeriesJson>,
}

/// `GET /data/symbols`: every stored series, by symbol then interval.
///
/// # Errors
/// 500 when the store cannot be read (an empty store lists nothing).
#[utoipa::path(get, path = "/data/symbols", tag = "data", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every stored series with its range and bar count", body = SeriesList),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn symbols(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<SeriesList>, ApiError> {
    let series = with_store(&state, |store| {
        store.series().map_err(|e| ApiError::internal(&e))
    })
    .await?;
    let series = series
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
    Ok(Json(SeriesList { series }))
}

/// `symbol`, `interval` and a date range.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// The symbol.
    symbol: String,
    /// The bar interval (default 1m).
    interval: Option<String>,
    /// First UTC date, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last UTC date, `YYYY-MM-DD` (inclusive).
    to: Option<String>,
    /// Bars per page, 1..=500 (default 390; `/data/bars` only).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page (`/data/bars` only).
    cursor: Option<String>,
}

/// A bar.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BarJson {
    /// The bar's open time.
    ts: String,
    open: String,
    high: String,
    low: String,
    close: String,
    volume: String,
}

/// A page of bars.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BarPage {
    symbol: String,
    interval: String,
    bars: Vec<BarJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
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
    Timestamp::utc_midnight(d).unwrap_or(Timestamp::from_nanos(0))
}

/// `GET /data/bars?symbol=&interval=&from=&to=&limit=&cursor=`: a series' bars between two
/// dates (inclusive, UTC days), oldest first, a page at a time (the cursor is the last bar's
/// open in nanoseconds).
///
/// # Errors
/// 400 for a malformed symbol, interval, date, limit or cursor; 404 for a series the store
/// does not have.
#[utoipa::path(get, path = "/data/bars", tag = "data", params(SeriesQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the series' bars, oldest first", body = BarPage),
        (status = 400, description = "A bad symbol, interval, date, limit or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such series", body = ErrorBody)))]
pub async fn bars(
    State(state): State<AppState>,
    _user: CurrentUser,
    Params(q): Params<SeriesQuery>,
) -> Result<Json<BarPage>, ApiError> {
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
    let bars: Vec<BarJson> = page
        .iter()
        .take(limit as usize)
        .map(|b| BarJson {
            ts: b.ts_event().to_string(),
            open: b.open().to_string(),
            high: b.high().to_string(),
            low: b.low().to_string(),
            close: b.close().to_string(),
            volume: b.volume().to_string(),
        })
        .collect();
    let next_cursor = more
        .then(|| {
            page.get(limit as usize - 1)
                .map(|b| b.ts_event().as_nanos().to_string())
        })
        .flatten();
    Ok(Json(BarPage {
        symbol: symbol.to_string(),
        interval: interval.to_string(),
        bars,
        next_cursor,
    }))
}

/// One trading day of a series' quality ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QualityDay {
    date: String,
    early_close: bool,
    /// Bars the calendar expects in regular hours.
    expected: u32,
    /// Expected bars that are stored.
    present: u32,
    quality_pct: f64,
    /// Runs of missing bars: the first missing bar's open, the close of the last one.
    missing: Vec<[String; 2]>,
}

/// A series' quality ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QualityLedger {
    symbol: String,
    interval: String,
    days: Vec<QualityDay>,
}

/// `GET /data/quality?symbol=&interval=&from=&to=`: the series' quality ledger, one row per
/// trading day (the whole stored range without dates).
///
/// # Errors
/// 400 for a malformed symbol, interval or date; 404 for a series the store does not have.
#[utoipa::path(get, path = "/data/quality", tag = "data", params(SeriesQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One row per trading day", body = QualityLedger),
        (status = 400, description = "A bad symbol, interval or date", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such series", body = ErrorBody)))]
pub async fn quality(
    State(state): State<AppState>,
    _user: CurrentUser,
    Params(q): Params<SeriesQuery>,
) -> Result<Json<QualityLedger>, ApiError> {
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
    let days = days
        .iter()
        .map(|d| QualityDay {
            date: d.date.to_string(),
            early_close: d.early_close,
            expected: d.expected,
            present: d.present,
            quality_pct: d.quality_pct(),
            missing: d
                .missing
                .iter()
                .map(|(a, z)| [a.to_string(), z.to_string()])
                .collect(),
        })
        .collect();
    Ok(Json(QualityLedger {
        symbol: symbol.to_string(),
        interval: interval.to_string(),
        days,
    }))
}

/// `exchange`, `from` and `to`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// A built-in or configured calendar code (default XNYS).
    exchange: Option<String>,
    /// First date, `YYYY-MM-DD`.
    from: String,
    /// Last date, `YYYY-MM-DD` (inclusive).
    to: String,
}

/// A trading day.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TradingDayJson {
    date: String,
    open_utc: String,
    close_utc: String,
    open_local: String,
    close_local: String,
    early_close: bool,
}

/// An exchange's trading days.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarDays {
    exchange: String,
    days: Vec<TradingDayJson>,
}

fn day_json(day: &TradingDay) -> TradingDayJson {
    let local = |ts: Timestamp| {
        ts.to_zoned(day.tz)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false)
    };
    TradingDayJson {
        date: day.date.to_string(),
        open_utc: day.open.to_string(),
        close_utc: day.close.to_string(),
        open_local: local(day.open),
        close_local: local(day.close),
        early_close: day.early_close,
    }
}

/// `GET /calendar/days?exchange=XNYS&from=&to=`: one row per trading day, as
/// `openbell calendar days` prints them.
///
/// # Errors
/// 400 for an unknown exchange (built-in and configured codes only), a malformed date, a
/// reversed range, or more than [`MAX_CALENDAR_DAYS`] days.
#[utoipa::path(get, path = "/calendar/days", tag = "data", params(CalendarQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One row per trading day", body = CalendarDays),
        (status = 400, description = "An unknown exchange, a bad date or range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn calendar_days(
    _user: CurrentUser,
    Params(q): Params<CalendarQuery>,
) -> Result<Json<CalendarDays>, ApiError> {
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
    Ok(Json(CalendarDays {
        exchange: code.to_owned(),
        days: days.iter().map(day_json).collect(),
    }))
}
