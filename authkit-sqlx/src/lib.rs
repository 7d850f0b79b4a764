//! authkit-sqlx: authkit's storage ports ([`authkit_core::ports::Store`]) on SQLite and
//! PostgreSQL, with authkit's own migration ledger.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use authkit_core::ports::{RoleStore, Store, StoreHealth};
//! use authkit_sqlx::SqliteStore;
//!
//! // A file database (created when missing); WAL journal, foreign keys on, a small pool.
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::connect(&format!("sqlite://{}/authkit.db", dir.path().display())).await?;
//! store.migrate().await?; // idempotent: run it at every boot
//! store.ping().await?;
//!
//! let admin = store.permissions_of(&["admin".to_owned()]).await?;
//! assert!(admin.contains(&"users:read".to_owned()));
//!
//! // What `authkit_core::AuthKit` holds:
//! let _store: Arc<dyn Store> = Arc::new(store);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
//!
//! Features (additive, none by default): `sqlite` ([`SqliteStore`]) and `postgres`
//! ([`PostgresStore`]). Both types implement every storage port and pass the conformance suite
//! of `authkit-testkit`. They are also a
//! [`RateLimitStore`](authkit_core::ports::RateLimitStore), whose buckets every instance on the
//! database shares.
//!
//! Migrations are embedded and applied by `migrate()`, which records them in the
//! `authkit_schema_migrations` table (never sqlx's `_sqlx_migrations`, which belongs to the
//! host). The SQL files are also in the crate's `migrations/` folder for operators who apply
//! schemas with their own tooling. Every table is prefixed with `authkit_`.
//!
//! Errors: a unique violation becomes [`StoreError::Conflict`](authkit_core::ports::StoreError)
//! (classified by constraint name), an unreachable database (pool timeout after 5 s, I/O, lost
//! connection) [`StoreError::Unavailable`](authkit_core::ports::StoreError), anything else
//! [`StoreError::Backend`](authkit_core::ports::StoreError) with the sqlx error as its source.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod error;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod limits;
mod migrate;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use migrate::MigrateError;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;
/// The sqlx version this crate is built on, for building pools to pass to `from_pool`.
pub use sqlx;

/// How long a store call waits for a pooled connection before failing with
/// [`StoreError::Unavailable`](authkit_core::ports::StoreError) (pools built by `connect`).
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A pool's connections now: `size()` counts the open ones, lent out or idle.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn pool_stats<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> authkit_core::ports::PoolStats {
    let open = pool.size();
    // Read apart from `size`: a connection returned in between may count as idle too.
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
    authkit_core::ports::PoolStats {
        in_use: open - idle,
        idle,
        max: pool.options().get_max_connections(),
    }
}
