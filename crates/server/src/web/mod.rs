//! The web UI, server-rendered in the same binary (no JavaScript build step; one small script
//! follows a running session's events). Pages: login and register, the session history,
//! a session's detail, a new backtest, and the data catalog.
//!
//! A browser logs in with a form and gets its token in an HttpOnly, SameSite=Strict cookie.
//! Every form carries a CSRF token: before login, a random value also set as a cookie (double
//! submit); after login, one derived from the login token, which only this origin can read.

mod pages;

use axum::Router;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use openbell_store::UserRow;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::{
    TOKEN_COOKIE, authenticate, cookie, hex, issue_token, random_bytes, register_user, user_for,
};
use crate::error::ApiError;
use crate::run::html::esc;

/// The cookie holding a browser's pre-login CSRF value.
const CSRF_COOKIE: &str = "openbell_csrf";

/// The UI's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { see_other("/sessions") }))
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route("/logout", axum::routing::post(logout))
        .route("/sessions", get(pages::history))
        .route("/sessions/new", get(pages::new_page).post(pages::create))
        .route("/sessions/{id}", get(pages::detail))
        .route("/sessions/{id}/stop", axum::routing::post(pages::stop))
        .route("/data", get(pages::catalog))
        .route("/static/app.css", get(css))
        .route("/static/live.js", get(script))
}

async fn css() -> Response {
    static_file("text/css; charset=utf-8", include_str!("../../web/app.css"))
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../web/live.js"),
    )
}

fn static_file(kind: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=300")],
        body,
    )
        .into_response()
}

/// A 303 to `to`.
fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// A page: the layout around `body`, with the navigation for `user` (none before login).
fn page(status: StatusCode, title: &str, user: Option<&WebUser>, body: &str) -> Response {
    let nav = user.map_or_else(
        || "<a href=\"/login\">Log in</a><a href=\"/register\">Register</a>".to_owned(),
        |u| {
            format!(
                "<a href=\"/sessions\">Sessions</a><a href=\"/sessions/new\">New backtest</a>\
                 <a href=\"/data\">Data</a><span class=\"who\">{}{}</span>\
                 <form method=\"post\" action=\"/logout\">{}\
                 <button class=\"plain\" type=\"submit\">Log out</button></form>",
                esc(&u.user.username),
                if u.user.is_admin { " (admin)" } else { "" },
                u.csrf_field()
            )
        },
    );
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · openbell</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a><header>\
         <nav aria-label=\"Main\"><a class=\"brand\" href=\"/\">openbell</a>{nav}</nav></header>\
         <main id=\"main\">{body}</main></body></html>",
        esc(title)
    );
    let mut res = (status, Html(html)).into_response();
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// An error as a page.
fn error_page(user: Option<&WebUser>, e: &ApiError) -> Response {
    page(
        e.status(),
        "Error",
        user,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/sessions\">Back to the sessions</a></p>",
            e.status().canonical_reason().unwrap_or("Error"),
            esc(e.message())
        ),
    )
}

/// A logged-in browser: its user and the CSRF value its forms carry.
#[derive(Debug)]
pub struct WebUser {
    /// The user.
    pub user: UserRow,
    csrf: String,
    /// Its token's hash, as the store keeps it (logging out revokes it).
    token_hash: String,
}

impl WebUser {
    fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            self.csrf
        )
    }

    /// Refuses a form whose CSRF value is not this login's.
    fn check(&self, sent: &str) -> Result<(), ApiError> {
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(csrf_refused())
        }
    }
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "the form was not issued by this page; reload it and try again",
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF value of a login token: only a page of this origin, which the token's HttpOnly
/// cookie reaches, gets to see it.
fn csrf_of(token: &str) -> String {
    hex(&Sha256::digest(format!("openbell csrf {token}").as_bytes())[..16])
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let login = || {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/sessions", |p| p.as_str());
            see_other(&format!("/login?next={}", urlencode(next)))
        };
        let Some(token) = cookie(&parts.headers, TOKEN_COOKIE) else {
            return Err(login());
        };
        match user_for(state, token).await {
            Ok(Some((user, token_hash))) => Ok(Self {
                user,
                csrf: csrf_of(token),
                token_hash,
            }),
            Ok(None) => Err(login()),
            Err(e) => Err(error_page(None, &e)),
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where to go after login: a path on this site only.
fn local_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/sessions")
}

/// A cookie for this site: HttpOnly, SameSite=Strict, the whole path.
fn set_cookie(headers: &mut HeaderMap, name: &str, value: &str, max_age: i64) {
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(SET_COOKIE, v);
    }
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AccountForm {
    username: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

/// The pre-login CSRF value: the browser's cookie, or a new one (set by the caller).
///
/// # Errors
/// 500 when no randomness can be had.
fn pre_login_csrf(headers: &HeaderMap) -> Result<(String, bool), ApiError> {
    match cookie(headers, CSRF_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(v) => Ok((v.to_owned(), false)),
        None => Ok((hex(&random_bytes::<16>()?), true)),
    }
}

fn account_page(
    headers: &HeaderMap,
    register: bool,
    next: Option<&str>,
    username: &str,
    problem: Option<&ApiError>,
) -> Response {
    let (csrf, fresh) = match pre_login_csrf(headers) {
        Ok(found) => found,
        Err(e) => return error_page(None, &e),
    };
    let (title, action, button, other) = if register {
        (
            "Register",
            "/register",
            "Create account",
            "<p>Have an account? <a href=\"/login\">Log in</a>.</p>",
        )
    } else {
        (
            "Log in",
            "/login",
            "Log in",
            "<p>No account yet? <a href=\"/register\">Register</a>; the first account is the admin.</p>",
        )
    };
    let alert = problem.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e.message()))
    });
    let body = format!(
        "<h1>{title}</h1>{alert}<form class=\"stack\" method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"username\">Username<input id=\"username\" name=\"username\" autocomplete=\"username\" required maxlength=\"64\" value=\"{}\" autofocus></label>\
         <label for=\"password\">Password<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"{}\" required minlength=\"8\"></label>\
         <button type=\"submit\">{button}</button></form>{other}",
        esc(local_next(next)),
        esc(username),
        if register {
            "new-password"
        } else {
            "current-password"
        },
    );
    let status = problem.map_or(StatusCode::OK, ApiError::status);
    let mut res = page(status, title, None, &body);
    if fresh {
        set_cookie(res.headers_mut(), CSRF_COOKIE, &csrf, 3600);
    }
    res
}

async fn login_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    account_page(&headers, false, q.next.as_deref(), "", None)
}

async fn register_page(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    account_page(&headers, true, q.next.as_deref(), "", None)
}

/// Checks the pre-login CSRF value of an account form.
fn check_pre_login(headers: &HeaderMap, sent: &str) -> Result<(), ApiError> {
    match cookie(headers, CSRF_COOKIE) {
        Some(c) if constant_time_eq(c.as_bytes(), sent.as_bytes()) => Ok(()),
        _ => Err(csrf_refused()),
    }
}

/// Logs `user` in: the token cookie, then on to `next`.
async fn signed_in(state: &AppState, user: &UserRow, next: Option<&str>) -> Response {
    match issue_token(state, user).await {
        Ok((token, expires_at)) => {
            let mut res = see_other(local_next(next));
            let max_age = (expires_at - Utc::now()).num_seconds().max(0);
            set_cookie(res.headers_mut(), TOKEN_COOKIE, &token, max_age);
            set_cookie(res.headers_mut(), CSRF_COOKIE, "", 0);
            res
        }
        Err(e) => error_page(None, &e),
    }
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<AccountForm>,
) -> Response {
    account_submit(&state, &headers, f, false).await
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<AccountForm>,
) -> Response {
    account_submit(&state, &headers, f, true).await
}

/// A login or register form: checked, then the account signed in, or the form again with
/// the reason.
async fn account_submit(
    state: &AppState,
    headers: &HeaderMap,
    f: AccountForm,
    register: bool,
) -> Response {
    let AccountForm {
        username,
        password,
        csrf,
        next,
    } = f;
    let user = match check_pre_login(headers, &csrf) {
        Err(e) => Err(e),
        Ok(()) if register => register_user(state, &username, password).await,
        Ok(()) => authenticate(state, &username, password).await,
    };
    match user {
        Ok(user) => signed_in(state, &user, next.as_deref()).await,
        Err(e) => account_page(headers, register, next.as_deref(), &username, Some(&e)),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(state): State<AppState>, user: WebUser, Form(f): Form<CsrfForm>) -> Response {
    if let Err(e) = user.check(&f.csrf) {
        return error_page(Some(&user), &e);
    }
    let _ = state.store.revoke_token(&user.token_hash, Utc::now()).await;
    let mut res = see_other("/login");
    set_cookie(res.headers_mut(), TOKEN_COOKIE, "", 0);
    res
}
