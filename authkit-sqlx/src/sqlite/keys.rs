//! [`KeyStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::StoredSigningKey;
use authkit_core::ports::{KeyStore, StoreResult};
use secrecy::ExposeSecret as _;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, get, micros, time_at};
use crate::error::map;
use crate::rows::seed;

/// Newest first; `kid` compares bytewise (SQLite's default BINARY collation).
const ALL: &str = "SELECT kid, seed, created_at FROM authkit_signing_keys \
                   ORDER BY created_at DESC, kid DESC";
const INSERT: &str = "INSERT INTO authkit_signing_keys (kid, seed, created_at) VALUES (?1, ?2, ?3)";

#[async_trait]
impl KeyStore for SqliteStore {
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
            .bind(micros(key.created_at)?)
            .execute(self.writer())
            .await
            .map_err(map)?;
        Ok(())
    }
}

fn key_from_row(row: &SqliteRow) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: get(row, "kid")?,
        seed: seed(&get::<Vec<u8>>(row, "seed")?)?,
        created_at: time_at(row, "created_at")?,
    })
}
