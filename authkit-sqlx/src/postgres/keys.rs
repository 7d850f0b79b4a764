//! [`KeyStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::StoredSigningKey;
use authkit_core::ports::{KeyStore, StoreResult};
use secrecy::ExposeSecret as _;
use sqlx::postgres::PgRow;

use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::seed;

/// Newest first; `kid` compares bytewise (`COLLATE "C"`), whatever the database collation.
const ALL: &str = "SELECT kid, seed, created_at FROM authkit_signing_keys \
                   ORDER BY created_at DESC, kid COLLATE \"C\" DESC";
const INSERT: &str = "INSERT INTO authkit_signing_keys (kid, seed, created_at) VALUES ($1, $2, $3)";

#[async_trait]
impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        sqlx::query(ALL)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        sqlx::query(INSERT)
            .bind(&key.kid)
            .bind(&key.seed.expose_secret()[..])
            .bind(key.created_at)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }
}

fn key_from_row(row: &PgRow) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: get(row, "kid")?,
        seed: seed(&get::<Vec<u8>>(row, "seed")?)?,
        created_at: get(row, "created_at")?,
    })
}
