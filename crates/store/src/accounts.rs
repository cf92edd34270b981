//! Users and their API tokens. Passwords and tokens arrive here already hashed: the store
//! never sees a secret, only what the server derived from it.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{Backend, Pool, Store, StoreError, on_pool};

/// The longest username.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A user as stored (without the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Its id.
    pub id: i64,
    /// Its unique name.
    pub username: String,
    /// Whether it sees and controls every session.
    pub is_admin: bool,
    /// When it registered.
    pub created_at: DateTime<Utc>,
}

fn user_from_row<R: Row>(row: &R) -> Result<UserRow, sqlx::Error>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        is_admin: row.try_get("is_admin")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Whether `e` is a unique-constraint violation (SQLite 2067/1555, PostgreSQL 23505).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if matches!(d.code().as_deref(), Some("2067" | "1555" | "23505")))
}

impl Store {
    /// Registers a user with an already-hashed password. The first user ever registered is
    /// the admin; concurrent first registrations still make exactly one admin. With
    /// `first_only` (registration closed), only a first user is registered: once anyone
    /// exists the answer is `None` and nothing is written.
    ///
    /// # Errors
    /// [`StoreError::Input`] for an empty, oversized or non-printable username, or one that
    /// is taken; [`StoreError::Db`].
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        first_only: bool,
    ) -> Result<Option<UserRow>, StoreError> {
        let chars = username.chars().count();
        if chars == 0
            || chars > MAX_USERNAME_CHARS
            || username
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(StoreError::Input(format!(
                "username must be 1 to {MAX_USERNAME_CHARS} characters without spaces or control characters"
            )));
        }
        let insert = "INSERT INTO users (username, password_hash, is_admin, created_at) SELECT $1, $2, NOT EXISTS (SELECT 1 FROM users), $3 WHERE NOT $4 OR NOT EXISTS (SELECT 1 FROM users) RETURNING id, username, is_admin, created_at";
        let now = Utc::now();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // On PostgreSQL two first registrations could both see an empty table; the lock
            // (which conflicts with itself) puts them one after the other. SQLite already runs
            // one writer at a time.
            if self.backend() == Backend::Postgres {
                sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let row = sqlx::query(insert)
                .bind(username)
                .bind(password_hash)
                .bind(now)
                .bind(first_only)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Input(format!("username {username:?} is taken"))
                    } else {
                        e.into()
                    }
                })?;
            let user = row.as_ref().map(user_from_row).transpose()?;
            tx.commit().await?;
            Ok(user)
        })
    }

    /// A user and its password hash, by name.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn user_by_name(
        &self,
        username: &str,
    ) -> Result<Option<(UserRow, String)>, StoreError> {
        let sql = "SELECT id, username, is_admin, created_at, password_hash FROM users WHERE username = $1";
        on_pool!(self, p => {
            match sqlx::query(sql).bind(username).fetch_optional(p).await? {
                Some(row) => Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?))),
                None => Ok(None),
            }
        })
    }

    /// Stores a token (its hash) for a user, valid until `expires_at`.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn insert_token(
        &self,
        user_id: i64,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, p => {
            sqlx::query(sql)
                .bind(user_id)
                .bind(token_hash)
                .bind(Utc::now())
                .bind(expires_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The user a token (its hash) belongs to, if the token is neither expired at `now` nor
    /// revoked.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn user_for_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRow>, StoreError> {
        let sql = "SELECT u.id, u.username, u.is_admin, u.created_at, t.expires_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
        on_pool!(self, p => {
            match sqlx::query(sql).bind(token_hash).fetch_optional(p).await? {
                Some(row) => {
                    // Compared here rather than in SQL: SQLite stores the times as text.
                    let expires: DateTime<Utc> = row.try_get("expires_at")?;
                    Ok((expires > now).then(|| user_from_row(&row)).transpose()?)
                }
                None => Ok(None),
            }
        })
    }

    /// Revokes a token (its hash) at `now`; false if there was no live token with that hash.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub async fn revoke_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql =
            "UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL";
        let changed = on_pool!(self, p => {
            sqlx::query(sql)
                .bind(now)
                .bind(token_hash)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }
}
