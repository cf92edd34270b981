//! `GET /sessions/{id}/{signals|orders|fills|trades|positions|equity|days|quality|scans}`:
//! what a session produced, a page at a time in the record's own order, with a cursor.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorBody, Params};
use crate::sessions::{MAX_PAGE, visible_id};

/// Rows per page when the request gives no limit.
pub const DEFAULT_ROWS: u32 = 100;

/// The tables a session's record has, as the path names them.
pub const TABLES: [&str; 9] = [
    "signals",
    "orders",
    "fills",
    "trades",
    "positions",
    "equity",
    "days",
    "quality",
    "scans",
];

/// `limit` and `cursor` of a page request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1..=500 (default 100).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of rows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowPage {
    /// The rows, in the table's order, with the table's columns.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Checks a requested page size: 1..=[`MAX_PAGE`], [`DEFAULT_ROWS`] when absent.
///
/// # Errors
/// 400 for a size outside the range.
pub fn page_size(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit: {limit} is outside 1..={MAX_PAGE}"
        )))
    }
}

/// A page from rows fetched one past the limit: the extra row only says another page follows.
fn page<T: Serialize>(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> RowPage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(&cursor)).flatten();
    RowPage {
        rows: rows
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect(),
        next_cursor,
    }
}

fn bad_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request(format!(
        "cursor: {cursor:?} is not a cursor this table gave"
    ))
}

/// A numbered table's cursor: the last number seen.
fn number(cursor: Option<&str>) -> Result<i64, ApiError> {
    cursor.map_or(Ok(0), |c| {
        c.parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad_cursor(c))
    })
}

/// A date cursor: `YYYY-MM-DD`.
fn date(cursor: &str) -> Result<&str, ApiError> {
    chrono::NaiveDate::parse_from_str(cursor, "%Y-%m-%d")
        .map(|_| cursor)
        .map_err(|_| bad_cursor(cursor))
}

/// `GET /sessions/{id}/{table}?limit=&cursor=`.
///
/// # Errors
/// 404 for an unknown table, or a session that does not exist or belongs to someone else;
/// 400 for a limit outside 1..=500 or a cursor this table did not give.
#[utoipa::path(get, path = "/sessions/{id}/{table}", tag = "sessions",
    params(
        ("id" = String, Path, description = "The session id"),
        ("table" = String, Path, description = "signals, orders, fills, trades, positions, equity, days, quality or scans"),
        PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the session's rows", body = RowPage),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such table, or no such session, or someone else's", body = ErrorBody)))]
pub async fn rows(
    State(state): State<AppState>,
    user: CurrentUser,
    path: Result<Path<(String, String)>, PathRejection>,
    Params(q): Params<PageQuery>,
) -> Result<Json<RowPage>, ApiError> {
    let Ok(Path((id, table))) = path else {
        return Err(ApiError::not_found("session"));
    };
    if !TABLES.contains(&table.as_str()) {
        return Err(ApiError::not_found("route"));
    }
    let session = visible_id(&state, &user.user, &id).await?.id;
    let limit = page_size(q.limit, DEFAULT_ROWS)?;
    let fetch = i64::from(limit) + 1;
    let cursor = q.cursor.as_deref();
    let store = &state.store;
    let page = match table.as_str() {
        "signals" => page(
            store.signals_page(session, number(cursor)?, fetch).await?,
            limit,
            |r| r.signal_id.to_string(),
        ),
        "orders" => page(
            store.orders_page(session, number(cursor)?, fetch).await?,
            limit,
            |r| r.order_id.to_string(),
        ),
        "fills" => page(
            store.fills_page(session, number(cursor)?, fetch).await?,
            limit,
            |r| r.seq.to_string(),
        ),
        "trades" => page(
            store.trades_page(session, number(cursor)?, fetch).await?,
            limit,
            |r| r.seq.to_string(),
        ),
        "positions" => page(
            store
                .positions_page(session, number(cursor)?, fetch)
                .await?,
            limit,
            |r| r.seq.to_string(),
        ),
        "equity" => {
            let after = cursor
                .map(|c| {
                    DateTime::parse_from_rfc3339(c)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| bad_cursor(c))
                })
                .transpose()?;
            page(
                store.equity_page(session, after, fetch).await?,
                limit,
                |r| r.ts.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            )
        }
        "days" => page(
            store
                .days_page(session, cursor.map(date).transpose()?, fetch)
                .await?,
            limit,
            |r| r.date.clone(),
        ),
        "quality" => {
            let after = cursor
                .map(|c| {
                    c.split_once('/')
                        .filter(|(d, s)| date(d).is_ok() && !s.is_empty())
                        .ok_or_else(|| bad_cursor(c))
                })
                .transpose()?;
            page(
                store.quality_page(session, after, fetch).await?,
                limit,
                |r| format!("{}/{}", r.date, r.symbol),
            )
        }
        _ => page(
            store.scans_page(session, number(cursor)?, fetch).await?,
            limit,
            |r| r.seq.to_string(),
        ),
    };
    Ok(Json(page))
}
