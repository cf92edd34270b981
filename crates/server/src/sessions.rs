//! The session registry over HTTP: create (handed to the runner), list (filtered, paged by
//! cursor), show, stop and delete.
//! A user sees only their own sessions and an admin sees all; a session someone else owns
//! answers 404, exactly as one that does not exist.

use std::str::FromStr;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use openbell_model::{SessionId, SessionKind, SessionStatus};
use openbell_store::{SessionFilter, SessionRow, UserRow};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{CurrentUser, may_see};
use crate::error::{ApiError, Body, ErrorBody, Params};

/// Page size when the request gives none.
pub const DEFAULT_PAGE: u32 = 50;
/// The largest page a request may ask for.
pub const MAX_PAGE: u32 = 500;

/// A session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionJson {
    id: String,
    /// `backtest`, `paper` or `collect`.
    #[schema(value_type = String)]
    kind: &'static str,
    /// `queued`, `starting`, `running`, `paused`, `stopping`, `stopped`, `completed` or
    /// `failed`.
    #[schema(value_type = String)]
    status: &'static str,
    name: String,
    owner_id: Option<i64>,
    config: String,
    version: String,
    data_fingerprint: Option<String>,
    created_at: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    error: Option<String>,
    /// Summary metrics, as stored (passed through without being re-parsed).
    #[schema(value_type = Option<Object>)]
    summary: Option<Box<serde_json::value::RawValue>>,
}

impl From<SessionRow> for SessionJson {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id.to_string(),
            kind: r.kind.as_str(),
            status: r.status.as_str(),
            name: r.name,
            owner_id: r.owner_id,
            config: r.config,
            version: r.version,
            data_fingerprint: r.data_fingerprint,
            created_at: r.created_at.to_rfc3339(),
            started_at: r.started_at.map(|t| t.to_rfc3339()),
            ended_at: r.ended_at.map(|t| t.to_rfc3339()),
            error: r.error,
            summary: r
                .summary
                .and_then(|s| serde_json::value::RawValue::from_string(s).ok()),
        }
    }
}

/// The longest session name accepted.
pub const MAX_NAME_CHARS: usize = 200;

/// `POST /sessions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// `backtest`, `paper` or `collect`.
    kind: String,
    /// A name for the history (default: the kind).
    name: Option<String>,
    /// The session config, as TOML text.
    config: String,
}

/// `POST /sessions`: validates the config, commits the session `queued` for this user, and
/// answers 201 with the stored row; the runner starts it when a slot is free.
///
/// # Errors
/// 400 for an unknown kind or a name that is too long; 422 for a config that does not
/// validate (the message names the line and key); 429 when too many sessions wait; 503 while
/// the server shuts down.
#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = CreateBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "The stored session, queued", body = SessionJson),
        (status = 400, description = "An unknown kind or a bad name", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "The config does not validate", body = ErrorBody),
        (status = 429, description = "Too many sessions wait", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<SessionJson>), ApiError> {
    let kind = parse::<SessionKind>("kind", &body.kind)?;
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(kind.as_str());
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "name: at most {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    let row = state
        .runner
        .submit(user.user.id, kind, name, &body.config)
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// `GET /sessions` query parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this kind.
    pub(crate) kind: Option<String>,
    /// Only this status.
    pub(crate) status: Option<String>,
    /// Page size, 1..=500 (default 50).
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// Only sessions created on or after this UTC date, `YYYY-MM-DD`.
    pub(crate) from: Option<String>,
    /// Only sessions created on or before this UTC date, `YYYY-MM-DD`.
    pub(crate) to: Option<String>,
}

/// A page of sessions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionPage {
    sessions: Vec<SessionJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

fn parse<T: FromStr>(field: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    T::from_str(value).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

/// `GET /sessions?kind=&status=&from=&to=&limit=&cursor=`.
///
/// # Errors
/// 400 for an unknown kind or status, a limit outside 1..=500, or a malformed cursor.
#[utoipa::path(get, path = "/sessions", tag = "sessions", params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the user's sessions (an admin's: everyone's)", body = SessionPage),
        (status = 400, description = "A bad filter, limit or cursor", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Params(q): Params<ListQuery>,
) -> Result<Json<SessionPage>, ApiError> {
    let (rows, next_cursor) = page(&state, &user.user, &q).await?;
    Ok(Json(SessionPage {
        sessions: rows.into_iter().map(SessionJson::from).collect(),
        next_cursor,
    }))
}

/// The first id that can be made at the start of `date` (UTC): ids sort by creation time.
fn id_at(field: &str, date: &str, next_day: bool) -> Result<SessionId, ApiError> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!("{field}: {date:?} is not a date like 2024-01-02"))
    })?;
    let day = if next_day {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    let at = openbell_model::Timestamp::utc_midnight(day)
        .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))?;
    SessionId::from_parts(at, [0; 10]).map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

/// One page of the sessions `user` may see, newest first, and the cursor of the next page.
///
/// # Errors
/// 400 for an unknown kind or status, a bad date, a limit outside 1..=500, or a malformed
/// cursor.
pub(crate) async fn page(
    state: &AppState,
    user: &openbell_store::UserRow,
    q: &ListQuery,
) -> Result<(Vec<SessionRow>, Option<String>), ApiError> {
    let limit = crate::records::page_size(q.limit, DEFAULT_PAGE)?;
    let cursor = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| parse::<SessionId>("cursor", c))
        .transpose()?;
    let to =
        q.to.as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| id_at("to", d, true))
            .transpose()?;
    let filter = SessionFilter {
        kind: q
            .kind
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(|k| parse::<SessionKind>("kind", k))
            .transpose()?,
        status: q
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| parse::<SessionStatus>("status", s))
            .transpose()?,
        owner_id: (!user.is_admin).then_some(user.id),
        before: match (cursor, to) {
            (Some(c), Some(t)) => Some(c.min(t)),
            (c, t) => c.or(t),
        },
        after: q
            .from
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| id_at("from", d, false))
            .transpose()?,
        // One more than the page, to know whether another page follows.
        limit: limit + 1,
    };
    let mut rows = state.store.sessions(&filter).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok((rows, next_cursor))
}

/// The session `id` if `user` may see it; 404 otherwise (a malformed id too: no id that is
/// not a session's can name one).
pub(crate) async fn visible(
    state: &AppState,
    user: &UserRow,
    id: Result<Path<String>, PathRejection>,
) -> Result<SessionRow, ApiError> {
    match id {
        Ok(Path(id)) => visible_id(state, user, &id).await,
        Err(_) => Err(ApiError::not_found("session")),
    }
}

/// [`visible`] for an id taken from a longer path.
pub(crate) async fn visible_id(
    state: &AppState,
    user: &UserRow,
    id: &str,
) -> Result<SessionRow, ApiError> {
    let id = SessionId::parse(id).map_err(|_| ApiError::not_found("session"))?;
    match state.store.session(id).await? {
        Some(row) if may_see(user, row.owner_id) => Ok(row),
        _ => Err(ApiError::not_found("session")),
    }
}

/// `GET /sessions/{id}`.
///
/// # Errors
/// 404 when there is no such session or it belongs to someone else.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The session", body = SessionJson),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such session, or someone else's", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<SessionJson>, ApiError> {
    Ok(Json(visible(&state, &user.user, id).await?.into()))
}

/// `POST /sessions/{id}/stop`: writes `stopping`; the session's runner then brings it to a
/// safe point and writes `stopped`.
///
/// # Errors
/// 404 as for show; 409 when the session is not live or is already stopping.
#[utoipa::path(post, path = "/sessions/{id}/stop", tag = "sessions", params(("id" = String, Path, description = "The session id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The session, now stopping", body = SessionJson),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such session, or someone else's", body = ErrorBody),
        (status = 409, description = "Not live, or already stopping", body = ErrorBody)))]
pub async fn stop(
    State(state): State<AppState>,
    user: CurrentUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<SessionJson>, ApiError> {
    let row = visible(&state, &user.user, id).await?;
    Ok(Json(stop_session(&state, row.id).await?.into()))
}

/// Stops a session: writes `stopping`, then signals its task if this runner holds it (another
/// runner picks the request up from the row).
///
/// # Errors
/// 409 when it is not live or already stopping.
pub(crate) async fn stop_session(state: &AppState, id: SessionId) -> Result<SessionRow, ApiError> {
    let stopping = state.store.request_stop(id).await?;
    state.runner.signal_stop(id);
    Ok(stopping)
}

/// `DELETE /sessions/{id}`: the session and every row it produced.
///
/// # Errors
/// 404 as for show; 409 while the session is live (stop it first).
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted, with every row it produced"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such session, or someone else's", body = ErrorBody),
        (status = 409, description = "Still live: stop it first", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let row = visible(&state, &user.user, id).await?;
    if !row.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "session {} is {}; stop it before deleting it",
                row.id, row.status
            ),
        ));
    }
    state.store.delete_session(row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
