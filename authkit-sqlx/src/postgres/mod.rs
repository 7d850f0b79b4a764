//! [`PostgresStore`]: every storage port on PostgreSQL.
//!
//! Native types: `uuid`, `timestamptz` (microsecond precision), `bytea`, `boolean`, `inet`,
//! `jsonb`. Conditional `UPDATE`s take row locks, so the compare-and-swap methods are atomic under
//! the default READ COMMITTED isolation.

mod audit;
mod keys;
mod limits;
mod outbox;
mod roles;
mod sessions;
mod tokens;
mod users;

use async_trait::async_trait;
use authkit_core::ports::{PoolStats, StoreHealth, StoreResult};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Row, Transaction};

use crate::error::map;
use crate::{ACQUIRE_TIMEOUT, MigrateError};

/// Connections in a pool built by [`PostgresStore::connect`].
const MAX_CONNECTIONS: u32 = 10;

/// authkit's storage ports on PostgreSQL. Cheap to clone (it is a pool handle).
///
/// Build it with [`PostgresStore::connect`] or [`PostgresStore::from_pool`], then run
/// [`PostgresStore::migrate`] at boot. The tables go to the connection's current schema
/// (`search_path`).
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Opens a pool on `url` (e.g. `postgres://user:pass@host/db`) with up to 10 connections
    /// and a 5 s acquire timeout.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies authkit's pending migrations (idempotent; concurrent boots are serialized by an
    /// advisory lock).
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        crate::migrate::postgres::run(&self.pool).await
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(map)
    }

    /// Runs `delete` (a `DELETE` of at most `$2` rows older than `$1`) with `before` and
    /// `slice` until a statement deletes fewer than `slice` rows; returns how many rows went in
    /// all. Each statement is a short transaction of its own.
    async fn delete_in_slices(
        &self,
        delete: &'static str,
        before: time::OffsetDateTime,
        slice: i64,
    ) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let n = sqlx::query(delete)
                .bind(before)
                .bind(slice)
                .execute(&self.pool)
                .await
                .map_err(map)?
                .rows_affected();
            deleted += n;
            if n < slice.unsigned_abs() {
                return Ok(deleted);
            }
        }
    }
}

#[async_trait]
impl StoreHealth for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map)
    }

    /// The store's one pool (shared by its rate-limit counters): connections lent out, idle,
    /// and the configured maximum.
    fn pool_stats(&self) -> Option<PoolStats> {
        Some(crate::pool_stats(&self.pool))
    }
}

/// A column's value, with decoding errors as `StoreError::Backend`.
fn get<'r, T>(row: &'r PgRow, column: &'static str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(column).map_err(map)
}
