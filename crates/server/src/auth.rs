//! Accounts: registration (the first user is the admin), login with an argon2id-hashed
//! password, opaque bearer tokens stored as SHA-256 hashes, expiring and revocable, and the
//! extractor every protected endpoint takes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use chrono::Utc;
use openbell_store::UserRow;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{ApiError, Body, ErrorBody};

/// The longest password accepted (argon2 hashes any length; this bounds the work).
const MAX_PASSWORD_BYTES: usize = 1024;
/// The shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 8;
/// Failed logins per username within [`LOGIN_WINDOW`] before further attempts are refused.
const MAX_FAILED_LOGINS: u32 = 5;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// A username and password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserJson {
    id: i64,
    username: String,
    is_admin: bool,
    created_at: String,
}

impl From<&UserRow> for UserJson {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            is_admin: u.is_admin,
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

/// A new token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenJson {
    token: String,
    #[schema(value_type = String, example = "Bearer")]
    token_type: &'static str,
    expires_at: String,
    user: UserJson,
}

/// Counts failed logins per username, so guessing a password is slow.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    fn blocked(&self, username: &str) -> bool {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failures
            .get(username)
            .is_some_and(|(n, since)| *n >= MAX_FAILED_LOGINS && since.elapsed() < LOGIN_WINDOW)
    }

    fn record(&self, username: &str, ok: bool) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ok {
            failures.remove(username);
            return;
        }
        // Old entries go, so the map stays as small as the recent failures.
        failures.retain(|_, (_, since)| since.elapsed() < LOGIN_WINDOW);
        let entry = failures
            .entry(username.to_owned())
            .or_insert((0, Instant::now()));
        entry.0 += 1;
    }
}

/// The cookie holding a browser's login token (HttpOnly, SameSite=Strict).
pub const TOKEN_COOKIE: &str = "openbell_token";

/// The value of cookie `name` in a request's `Cookie` headers.
#[must_use]
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The user a live token belongs to, with the token's hash as the store keeps it; `None` for
/// a token that is malformed, unknown, expired or revoked.
///
/// # Errors
/// 500 when the database fails.
pub(crate) async fn user_for(
    state: &AppState,
    token: &str,
) -> Result<Option<(UserRow, String)>, ApiError> {
    let token = token.trim();
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let hash = token_hash(token);
    let user = state.store.user_for_token(&hash, Utc::now()).await?;
    Ok(user.map(|user| (user, hash)))
}

/// The SHA-256 of a token (hex), as the store keeps it.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from the operating system's random source.
///
/// # Errors
/// 500 when the source fails.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    Ok(bytes)
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    let salt = random_bytes::<16>()?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::internal(&e))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(&e))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

async fn verify_password(password: String, stored: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored).map_err(|e| ApiError::internal(&e))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// A hash no password is checked against successfully in practice, verified for unknown
/// usernames; made once per process.
async fn unknown_user_hash() -> Result<String, ApiError> {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_try_init(|| async { hash_password(hex(&random_bytes::<32>()?)).await })
        .await
        .cloned()
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::bad_request(format!(
            "password must be {MIN_PASSWORD_CHARS} characters to {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// `POST /auth/register`: 201 with the new user. With registration closed, only the very
/// first user (the admin) can register.
///
/// # Errors
/// 400 for a bad username or password, or a taken username; 403 when registration is
/// closed.
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = Credentials,
    responses(
        (status = 201, description = "The new user; the first one is the admin", body = UserJson),
        (status = 400, description = "A bad username or password, or a taken username", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    Body(c): Body<Credentials>,
) -> Result<(StatusCode, Json<UserJson>), ApiError> {
    let user = register_user(&state, &c.username, c.password).await?;
    Ok((StatusCode::CREATED, Json(UserJson::from(&user))))
}

/// Creates an account: the first one is the admin; with registration closed, only the first.
///
/// # Errors
/// 400 for a bad username or password, or a taken username; 403 when registration is
/// closed.
pub(crate) async fn register_user(
    state: &AppState,
    username: &str,
    password: String,
) -> Result<UserRow, ApiError> {
    check_password(&password)?;
    let hash = hash_password(password).await?;
    let first_only = !state.config.open_registration;
    state
        .store
        .create_user(username, &hash, first_only)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "registration_closed",
                "registration is closed; an admin creates accounts",
            )
        })
}

/// `POST /auth/login`: a new bearer token.
///
/// # Errors
/// 401 for a wrong username or password (the same answer for both); 429 after too many
/// failed attempts for the username.
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "A bearer token", body = TokenJson),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins for the username", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Body(c): Body<Credentials>,
) -> Result<Json<TokenJson>, ApiError> {
    let user = authenticate(&state, &c.username, c.password).await?;
    let (token, expires_at) = issue_token(&state, &user).await?;
    Ok(Json(TokenJson {
        token,
        token_type: "Bearer",
        expires_at: expires_at.to_rfc3339(),
        user: UserJson::from(&user),
    }))
}

/// Checks a username and password, counting failures against the rate limit.
///
/// # Errors
/// 401 for a wrong username or password (the same answer for both, in the same time); 429
/// after too many failed attempts for the username.
pub(crate) async fn authenticate(
    state: &AppState,
    username: &str,
    password: String,
) -> Result<UserRow, ApiError> {
    if state.limiter.blocked(username) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many failed logins for this username; try again in {} s",
                LOGIN_WINDOW.as_secs()
            ),
        ));
    }
    let found = if password.len() > MAX_PASSWORD_BYTES {
        None
    } else {
        state.store.user_by_name(username).await?
    };
    let verified = match found {
        Some((user, stored)) => verify_password(password, stored).await?.then_some(user),
        None => {
            // As slow as a wrong password, so timing does not tell which names exist.
            verify_password(password, unknown_user_hash().await?).await?;
            None
        }
    };
    let Some(user) = verified else {
        state.limiter.record(username, false);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong username or password",
        ));
    };
    state.limiter.record(username, true);
    Ok(user)
}

/// A new token for `user`, stored as its hash; the token and when it expires.
///
/// # Errors
/// 500 when no randomness or the database fails.
pub(crate) async fn issue_token(
    state: &AppState,
    user: &UserRow,
) -> Result<(String, chrono::DateTime<Utc>), ApiError> {
    let token = format!("obt_{}", hex(&random_bytes::<32>()?));
    let expires_at = Utc::now() + state.config.token_ttl;
    state
        .store
        .insert_token(user.id, &token_hash(&token), expires_at)
        .await?;
    Ok((token, expires_at))
}

/// `POST /auth/logout`: revokes the token the request carries.
///
/// # Errors
/// 401 without a valid token.
#[utoipa::path(post, path = "/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .revoke_token(&user.token_hash, Utc::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me`: the user the token belongs to.
#[utoipa::path(get, path = "/me", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserJson),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub async fn me(user: CurrentUser) -> Json<UserJson> {
    Json(UserJson::from(&user.user))
}

/// The user a request's bearer token belongs to.
#[derive(Debug)]
pub struct CurrentUser {
    /// The user.
    pub user: UserRow,
    token_hash: String,
}

/// Whether `user` may see a session owned by `owner`: their own, or any for an admin.
#[must_use]
pub(crate) fn may_see(user: &UserRow, owner: Option<i64>) -> bool {
    user.is_admin || owner == Some(user.id)
}

impl CurrentUser {
    /// Whether this user may see a session owned by `owner`.
    #[must_use]
    pub fn may_see(&self, owner: Option<i64>) -> bool {
        may_see(&self.user, owner)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // The browser's login cookie stands in for the header on reads only (the web UI's
        // live events, say): a cross-site form cannot use it to change anything.
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        let token = bearer
            .or_else(|| safe.then(|| cookie(&parts.headers, TOKEN_COOKIE)).flatten())
            .ok_or_else(ApiError::unauthorized)?;
        let (user, token_hash) = user_for(state, token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self { user, token_hash })
    }
}
