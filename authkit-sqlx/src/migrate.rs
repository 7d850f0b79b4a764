//! authkit's own migration ledger.
//!
//! The SQL files under `migrations/<backend>/` are embedded and applied in version order, each in
//! its own transaction together with its row in `authkit_schema_migrations(version, description,
//! applied_at)`. Applying is idempotent: applied versions are skipped. Concurrent boots are safe:
//! on PostgreSQL each transaction first takes a transaction-scoped advisory lock, on SQLite it
//! starts with `BEGIN IMMEDIATE` (one writer at a time). sqlx's `_sqlx_migrations` table is never
//! touched, so a host can keep its own sqlx migrations in the same database.

/// Why `migrate()` failed. Nothing of a failed migration remains: its transaction rolled back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The database could not be reached, or the ledger could not be read or written.
    #[error("cannot access the authkit migration ledger")]
    Ledger(#[source] sqlx::Error),
    /// A migration's SQL failed.
    #[error("authkit migration {version} ({description}) failed")]
    Apply {
        /// The migration's version.
        version: i64,
        /// The migration's description.
        description: &'static str,
        /// The database error.
        #[source]
        source: sqlx::Error,
    },
}

/// One embedded migration file.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[derive(Debug)]
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl Migration {
    fn failed(&self, source: sqlx::Error) -> MigrateError {
        MigrateError::Apply {
            version: self.version,
            description: self.description,
            source,
        }
    }
}

#[cfg(feature = "sqlite")]
pub(crate) mod sqlite {
    use sqlx::SqlitePool;

    use super::{MigrateError, Migration};

    const MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            description: "init",
            sql: include_str!("../migrations/sqlite/0001_init.sql"),
        },
        Migration {
            version: 2,
            description: "rbac",
            sql: include_str!("../migrations/sqlite/0002_rbac.sql"),
        },
        Migration {
            version: 3,
            description: "outbox",
            sql: include_str!("../migrations/sqlite/0003_outbox.sql"),
        },
        Migration {
            version: 4,
            description: "limits",
            sql: include_str!("../migrations/sqlite/0004_limits.sql"),
        },
        Migration {
            version: 5,
            description: "refresh_spent_trigger",
            sql: include_str!("../migrations/sqlite/0005_refresh_spent_trigger.sql"),
        },
        Migration {
            version: 6,
            description: "spent_tokens_without_session_index",
            sql: include_str!("../migrations/sqlite/0006_spent_tokens_without_session_index.sql"),
        },
        Migration {
            version: 7,
            description: "spent_tokens_without_session_key",
            sql: include_str!("../migrations/sqlite/0007_spent_tokens_without_session_key.sql"),
        },
        Migration {
            version: 8,
            description: "refresh_selector",
            sql: include_str!("../migrations/sqlite/0008_refresh_selector.sql"),
        },
        Migration {
            version: 9,
            description: "spent_hashes_without_selector",
            sql: include_str!("../migrations/sqlite/0009_spent_hashes_without_selector.sql"),
        },
    ];

    const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS authkit_schema_migrations (
        version     INTEGER NOT NULL,
        description TEXT    NOT NULL,
        applied_at  INTEGER NOT NULL,
        CONSTRAINT authkit_schema_migrations_pkey PRIMARY KEY (version)
    ) STRICT";
    const IS_APPLIED: &str = "SELECT version FROM authkit_schema_migrations WHERE version = ?1";
    // `applied_at` in unix microseconds, like every SQLite timestamp of authkit.
    const RECORD: &str = "INSERT INTO authkit_schema_migrations (version, description, applied_at)
        VALUES (?1, ?2, CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER))";

    /// Applies the pending SQLite migrations.
    pub(crate) async fn run(pool: &SqlitePool) -> Result<(), MigrateError> {
        for m in MIGRATIONS {
            let mut tx = pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(MigrateError::Ledger)?;
            sqlx::query(CREATE_LEDGER)
                .execute(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            let applied: Option<i64> = sqlx::query_scalar(IS_APPLIED)
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            if applied.is_some() {
                tx.rollback().await.map_err(MigrateError::Ledger)?;
                continue;
            }
            sqlx::raw_sql(m.sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| m.failed(e))?;
            sqlx::query(RECORD)
                .bind(m.version)
                .bind(m.description)
                .execute(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            tx.commit().await.map_err(|e| m.failed(e))?;
            tracing::info!(
                version = m.version,
                description = m.description,
                "applied authkit migration"
            );
        }
        Ok(())
    }
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres {
    use sqlx::PgPool;

    use super::{MigrateError, Migration};

    const MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            description: "init",
            sql: include_str!("../migrations/postgres/0001_init.sql"),
        },
        Migration {
            version: 2,
            description: "rbac",
            sql: include_str!("../migrations/postgres/0002_rbac.sql"),
        },
        Migration {
            version: 3,
            description: "outbox",
            sql: include_str!("../migrations/postgres/0003_outbox.sql"),
        },
        Migration {
            version: 4,
            description: "limits",
            sql: include_str!("../migrations/postgres/0004_limits.sql"),
        },
        Migration {
            version: 5,
            description: "refresh_selector",
            sql: include_str!("../migrations/postgres/0005_refresh_selector.sql"),
        },
        Migration {
            version: 6,
            description: "refresh_heap_only",
            sql: include_str!("../migrations/postgres/0006_refresh_heap_only.sql"),
        },
    ];

    /// Key of the transaction-scoped advisory lock serializing authkit migrations
    /// (the bytes of "authkit\0").
    const LOCK_KEY: i64 = 0x6175_7468_6b69_7400;

    const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
    const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS authkit_schema_migrations (
        version     bigint      NOT NULL,
        description text        NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT authkit_schema_migrations_pkey PRIMARY KEY (version)
    )";
    const IS_APPLIED: &str = "SELECT version FROM authkit_schema_migrations WHERE version = $1";
    const RECORD: &str =
        "INSERT INTO authkit_schema_migrations (version, description) VALUES ($1, $2)";

    /// Applies the pending PostgreSQL migrations.
    pub(crate) async fn run(pool: &PgPool) -> Result<(), MigrateError> {
        for m in MIGRATIONS {
            let mut tx = pool.begin().await.map_err(MigrateError::Ledger)?;
            // Held until commit or rollback: concurrent boots apply each file once, in turn.
            sqlx::query(LOCK)
                .bind(LOCK_KEY)
                .execute(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            sqlx::query(CREATE_LEDGER)
                .execute(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            let applied: Option<i64> = sqlx::query_scalar(IS_APPLIED)
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            if applied.is_some() {
                tx.rollback().await.map_err(MigrateError::Ledger)?;
                continue;
            }
            sqlx::raw_sql(m.sql)
                .execute(&mut *tx)
                .await
                .map_err(|e| m.failed(e))?;
            sqlx::query(RECORD)
                .bind(m.version)
                .bind(m.description)
                .execute(&mut *tx)
                .await
                .map_err(MigrateError::Ledger)?;
            tx.commit().await.map_err(|e| m.failed(e))?;
            tracing::info!(
                version = m.version,
                description = m.description,
                "applied authkit migration"
            );
        }
        Ok(())
    }
}
