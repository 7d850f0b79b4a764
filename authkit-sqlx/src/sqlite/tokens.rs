//! [`OneTimeTokenStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::{Email, NewOneTimeToken, OneTimeToken, TokenHash, TokenPurpose, UserId};
use authkit_core::ports::{OneTimeTokenStore, StoreResult};
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use super::{SqliteStore, get, micros, time_at, uuid_at, uuid_text};
use crate::error::map;
use crate::rows::purpose;

const INSERT_TOKEN: &str = "INSERT INTO authkit_one_time_tokens \
                            (hash, purpose, user_id, email, created_at, expires_at) \
                            VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// Single use in one statement: only an unused, unexpired token of that purpose matches.
const CONSUME: &str = "UPDATE authkit_one_time_tokens SET used_at = ?3 \
                       WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 \
                       RETURNING purpose, user_id, email, created_at, expires_at";

#[async_trait]
impl OneTimeTokenStore for SqliteStore {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        sqlx::query(INSERT_TOKEN)
            .bind(&token.hash.as_bytes()[..])
            .bind(token.purpose.as_str())
            .bind(uuid_text(token.user_id.as_uuid()))
            .bind(token.email.as_str())
            .bind(micros(token.created_at)?)
            .bind(micros(token.expires_at)?)
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
            .bind(micros(now)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
            .map(|r| token_from_row(&r))
            .transpose()
    }
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
