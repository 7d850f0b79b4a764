//! [`OneTimeTokenStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::{
    Email, NewOneTimeToken, OneTimeToken, PasswordHash, QueuedMail, TokenHash, TokenPurpose, User,
    UserId,
};
use authkit_core::ports::{OneTimeTokenStore, StoreResult};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use time::OffsetDateTime;

use super::outbox::insert_mail;
use super::users::{revoke_sessions, spend_reset_tokens, user_in};
use super::{SqlQuery, SqliteStore, get, micros, time_at, uuid_at, uuid_text};
use crate::error::map;
use crate::rows::purpose;

/// One token, bound by [`bind_token`]. Its parameters are anonymous (`?`, bound in order) so
/// that it can follow other statements in one command (`create_user`).
pub(super) const INSERT_TOKEN: &str = "INSERT INTO authkit_one_time_tokens \
                                      (hash, purpose, user_id, email, created_at, expires_at) \
                                      VALUES (?, ?, ?, ?, ?, ?)";
/// Single use in one statement: only an unused, unexpired token of that purpose matches.
const CONSUME: &str = "UPDATE authkit_one_time_tokens SET used_at = ?3 \
                       WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 \
                       RETURNING purpose, user_id, email, created_at, expires_at";
/// What [`CONSUME`] would match, read without changing anything.
const PEEK: &str = "SELECT purpose, user_id, email, created_at, expires_at \
                    FROM authkit_one_time_tokens \
                    WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3";
/// Verifies the token's email only while it is still the live user's email.
const VERIFY_EMAIL: &str = "UPDATE authkit_users SET email_verified = 1, updated_at = ?3 \
                            WHERE id = ?1 AND email = ?2 AND deleted_at IS NULL";
/// The new hash, only while the user's email is still the token's (a link sent to an address
/// the account has left resets nothing); the reset proves control of that email.
const RESET_PASSWORD: &str = "UPDATE authkit_users SET password_hash = ?3, updated_at = ?4, \
                              email_verified = 1 \
                              WHERE id = ?1 AND email = ?2 AND deleted_at IS NULL";

/// Tokens (at most `?2`) that expired before `?1`, used or not (`purge_tokens`).
const PURGE_TOKENS: &str = "DELETE FROM authkit_one_time_tokens WHERE hash IN \
                            (SELECT hash FROM authkit_one_time_tokens WHERE expires_at < ?1 LIMIT ?2)";
/// Tokens deleted per statement of a purge.
const PURGE_SLICE: i64 = 500;

/// Binds `token` to the parameters of an [`INSERT_TOKEN`] that comes next in `query`.
pub(super) fn bind_token<'q>(
    query: SqlQuery<'q>,
    token: &'q NewOneTimeToken,
) -> StoreResult<SqlQuery<'q>> {
    Ok(query
        .bind(&token.hash.as_bytes()[..])
        .bind(token.purpose.as_str())
        .bind(uuid_text(token.user_id.as_uuid()))
        .bind(token.email.as_str())
        .bind(micros(token.created_at)?)
        .bind(micros(token.expires_at)?))
}

#[async_trait]
impl OneTimeTokenStore for SqliteStore {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        bind_token(sqlx::query(INSERT_TOKEN), token)?
            .execute(self.writer())
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
        // `fetch_all`: an autocommit statement commits when stepped to its end, and only then
        // is a failed commit reported (`fetch_optional` stops at the row). At most one row.
        sqlx::query(CONSUME)
            .bind(&hash.as_bytes()[..])
            .bind(purpose.as_str())
            .bind(micros(now)?)
            .fetch_all(self.writer())
            .await
            .map_err(map)?
            .first()
            .map(token_from_row)
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
            .bind(micros(now)?)
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
            .bind(uuid_text(token.user_id.as_uuid()))
            .bind(token.email.as_str())
            .bind(micros(now)?)
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
        let Some(token) = consume(&mut tx, hash, TokenPurpose::PasswordReset, now).await? else {
            return Ok(None);
        };
        let reset = sqlx::query(RESET_PASSWORD)
            .bind(uuid_text(token.user_id.as_uuid()))
            .bind(token.email.as_str())
            .bind(new_hash.expose())
            .bind(micros(now)?)
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

    /// Deletes in slices of 500, each statement on its own, so that the writer is held for
    /// milliseconds at a time. Expiry has no index: each slice reads the table until it has
    /// found its rows, and the table holds only the tokens of about the last day (lifetimes of
    /// 24 h and 30 min by default; the hourly purge takes the expired ones).
    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        self.delete_in_slices(PURGE_TOKENS, micros(expired_before)?, PURGE_SLICE)
            .await
    }
}

/// [`CONSUME`] on a transaction's connection.
async fn consume(
    conn: &mut SqliteConnection,
    hash: &TokenHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> StoreResult<Option<OneTimeToken>> {
    sqlx::query(CONSUME)
        .bind(&hash.as_bytes()[..])
        .bind(purpose.as_str())
        .bind(micros(now)?)
        .fetch_optional(conn)
        .await
        .map_err(map)?
        .map(|r| token_from_row(&r))
        .transpose()
}

fn token_from_row(row: &SqliteRow) -> StoreResult<OneTimeToken> {
    Ok(OneTimeToken {
        purpose: purpose(&get::<String>(row, "purpose")?)?,
        user_id: UserId(uuid_at(row, "user_id")?),
        email: Email::from_trusted(get(row, "email")?),
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
    })
}
