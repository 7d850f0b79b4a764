//! [`OneTimeTokenStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{
    Email, NewOneTimeToken, OneTimeToken, PasswordHash, QueuedMail, TokenHash, TokenPurpose, User,
    UserId,
};
use authkit_core::ports::{OneTimeTokenStore, StoreResult};
use sqlx::postgres::{PgConnection, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::outbox::insert_mail;
use super::users::{revoke_sessions, spend_reset_tokens, user_in};
use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::purpose;

pub(super) const INSERT_TOKEN: &str = "INSERT INTO authkit_one_time_tokens \
                                      (hash, purpose, user_id, email, created_at, expires_at) \
                                      VALUES ($1, $2, $3, $4, $5, $6)";
/// Single use in one statement: only an unused, unexpired token of that purpose matches; a
/// concurrent caller waits for the row lock and then matches nothing.
const CONSUME: &str = "UPDATE authkit_one_time_tokens SET used_at = $3 \
                       WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
                       RETURNING purpose, user_id, email, created_at, expires_at";
/// What [`CONSUME`] would match, read without changing anything.
const PEEK: &str = "SELECT purpose, user_id, email, created_at, expires_at \
                    FROM authkit_one_time_tokens \
                    WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3";
/// Verifies the token's email only while it is still the live user's email (re-checked on the
/// latest row version if a concurrent change held the row).
const VERIFY_EMAIL: &str = "UPDATE authkit_users SET email_verified = true, updated_at = $3 \
                            WHERE id = $1 AND email = $2 AND deleted_at IS NULL";
/// The owner of a token (immutable), to lock the user before the token.
const TOKEN_OWNER: &str = "SELECT user_id FROM authkit_one_time_tokens WHERE hash = $1";
/// The user's row lock, the one every user-wide change takes first (see `users.rs`).
const LOCK_USER: &str = "SELECT id FROM authkit_users WHERE id = $1 FOR NO KEY UPDATE";
/// The new hash, only while the user's email is still the token's (a link sent to an address
/// the account has left resets nothing); the reset proves control of that email.
const RESET_PASSWORD: &str = "UPDATE authkit_users SET password_hash = $3, updated_at = $4, \
                              email_verified = true \
                              WHERE id = $1 AND email = $2 AND deleted_at IS NULL";

/// Tokens (at most `$2`) that expired before `$1`, used or not (`purge_tokens`).
const PURGE_TOKENS: &str = "DELETE FROM authkit_one_time_tokens WHERE hash IN \
                            (SELECT hash FROM authkit_one_time_tokens WHERE expires_at < $1 LIMIT $2)";
/// Tokens deleted per statement of a purge.
const PURGE_SLICE: i64 = 1_000;

#[async_trait]
impl OneTimeTokenStore for PostgresStore {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        sqlx::query(INSERT_TOKEN)
            .bind(&token.hash.as_bytes()[..])
            .bind(token.purpose.as_str())
            .bind(token.user_id.as_uuid())
            .bind(token.email.as_str())
            .bind(token.created_at)
            .bind(token.expires_at)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn consume_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        sqlx::query(CONSUME)
            .bind(&hash.as_bytes()[..])
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
            .map(|r| token_from_row(&r))
            .transpose()
    }

    async fn peek_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        sqlx::query(PEEK)
            .bind(&hash.as_bytes()[..])
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
            .map(|r| token_from_row(&r))
            .transpose()
    }

    async fn verify_email_with_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let Some(token) = consume(&mut tx, hash, TokenPurpose::VerifyEmail, now).await? else {
            return Ok(None);
        };
        let verified = sqlx::query(VERIFY_EMAIL)
            .bind(token.user_id.as_uuid())
            .bind(token.email.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        let user = if verified == 0 {
            // Deleted user or another email by now: the token is spent all the same.
            None
        } else {
            Some(user_in(&mut tx, token.user_id).await?)
        };
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn reset_password_with_token(
        &self,
        hash: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        // Lock order user -> token, as `set_password` (user -> its reset tokens): two resets of
        // one user with different tokens, or a reset racing a password change, queue on the
        // user's row instead of deadlocking.
        let owner: Option<Uuid> = sqlx::query_scalar(TOKEN_OWNER)
            .bind(&hash.as_bytes()[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let Some(owner) = owner else {
            return Ok(None);
        };
        sqlx::query(LOCK_USER)
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        let Some(token) = consume(&mut tx, hash, TokenPurpose::PasswordReset, now).await? else {
            return Ok(None);
        };
        let reset = sqlx::query(RESET_PASSWORD)
            .bind(token.user_id.as_uuid())
            .bind(token.email.as_str())
            .bind(new_hash.expose())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if reset == 0 {
            // A deleted user, or another email by now: the token is spent, nothing else changes.
            tx.commit().await.map_err(map)?;
            return Ok(None);
        }
        revoke_sessions(&mut tx, token.user_id, None, now).await?;
        spend_reset_tokens(&mut tx, token.user_id, now).await?;
        insert_mail(&mut tx, mail).await?;
        let user = user_in(&mut tx, token.user_id).await?;
        tx.commit().await.map_err(map)?;
        Ok(Some(user))
    }

    /// Deletes in slices of 1 000, each statement a short transaction of its own.
    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        self.delete_in_slices(PURGE_TOKENS, expired_before, PURGE_SLICE)
            .await
    }
}

/// [`CONSUME`] on a transaction's connection.
async fn consume(
    conn: &mut PgConnection,
    hash: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> StoreResult<Option<OneTimeToken>> {
    sqlx::query(CONSUME)
        .bind(&hash.as_bytes()[..])
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(conn)
        .await
        .map_err(map)?
        .map(|r| token_from_row(&r))
        .transpose()
}

fn token_from_row(row: &PgRow) -> StoreResult<OneTimeToken> {
    Ok(OneTimeToken {
        purpose: purpose(&get::<String>(row, "purpose")?)?,
        user_id: UserId(get(row, "user_id")?),
        email: Email::from_trusted(get(row, "email")?),
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
    })
}
