//! `authkit-bench purge`: what [`SessionStore::purge_sessions`] costs on a large SQLite file,
//! and how long the writes of other requests wait meanwhile.
//!
//! Fills a fresh database with plain SQL: one user, `sessions` sessions of which every other
//! one expired long ago, and `spent` spent refresh hashes spread evenly over all of them. Then
//! runs the purge while a probe makes one write after another through the store's writer (a
//! `revoke_session` that matches nothing, the cheapest write a request makes) and records how
//! long each took: the longest is the worst stall the purge caused a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use authkit_core::domain::{SessionId, UserId};
use authkit_core::ports::{Clock, SessionStore, SystemClock};
use authkit_sqlx::SqliteStore;

/// What to fill the database with.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    /// `sqlite://FILE` of a database without sessions (created when missing).
    pub database_url: String,
    /// Sessions; every other one has ended.
    pub sessions: u64,
    /// Spent refresh hashes, spread evenly over the sessions.
    pub spent: u64,
}

/// What a purge did and cost.
#[derive(Debug, Clone, Copy)]
pub struct PurgeReport {
    /// Sessions the purge deleted.
    pub deleted: u64,
    /// Spent hashes before the purge.
    pub spent_before: u64,
    /// Spent hashes left (those of the live sessions).
    pub spent_after: u64,
    /// Wall time of the purge.
    pub seconds: f64,
    /// Writes the probe made during the purge.
    pub writes: u64,
    /// The median of those writes, in milliseconds.
    pub write_p50_ms: f64,
    /// Their 99th percentile, in milliseconds.
    pub write_p99_ms: f64,
    /// The longest write during the purge, in milliseconds.
    pub write_max_ms: f64,
}

impl PurgeReport {
    /// The one line of JSON the binary prints.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line {
            deleted: u64,
            spent_before: u64,
            spent_after: u64,
            seconds: f64,
            writes: u64,
            write_p50_ms: f64,
            write_p99_ms: f64,
            write_max_ms: f64,
        }
        crate::json_line(&Line {
            deleted: self.deleted,
            spent_before: self.spent_before,
            spent_after: self.spent_after,
            seconds: crate::round3(self.seconds),
            writes: self.writes,
            write_p50_ms: crate::round3(self.write_p50_ms),
            write_p99_ms: crate::round3(self.write_p99_ms),
            write_max_ms: crate::round3(self.write_max_ms),
        })
    }
}

/// Why the measurement failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PurgeError {
    /// Only SQLite is measured (PostgreSQL deletes spent hashes by its foreign key's cascade).
    #[error("purge measures SQLite only: give a sqlite:// URL")]
    NotSqlite,
    /// The database already holds sessions.
    #[error("the database already holds sessions; give a new file")]
    NotEmpty,
    /// A database error.
    #[error("database: {0}")]
    Database(#[from] authkit_sqlx::sqlx::Error),
    /// The migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] authkit_sqlx::MigrateError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] authkit_core::ports::StoreError),
    /// The probe task panicked.
    #[error("the write probe failed")]
    Probe,
}

const FILL_SESSIONS: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
     WHERE i < ?2) INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, \
     last_used_at, expires_at, idle_expires_at) \
     SELECT printf('bench-%012d', i), ?1, randomblob(32), 0, 0, \
     iif(i % 2 = 0, 1, 4102444800000000), iif(i % 2 = 0, 1, 4102444800000000) FROM n";
const FILL_SPENT: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
     WHERE i < ?1) INSERT INTO authkit_spent_refresh_tokens (hash, session_id) \
     SELECT randomblob(32), printf('bench-%012d', 1 + i % ?2) FROM n";
const COUNT_SPENT: &str = "SELECT count(*) FROM authkit_spent_refresh_tokens";

/// Fills the database, then purges it with the probe running; see the module docs.
pub async fn purge(options: &PurgeOptions) -> Result<PurgeReport, PurgeError> {
    if !options.database_url.starts_with("sqlite:") {
        return Err(PurgeError::NotSqlite);
    }
    let store = Arc::new(SqliteStore::connect(&options.database_url).await?);
    store.migrate().await?;
    let pool = store.pool();
    let existing: i64 = authkit_sqlx::sqlx::query_scalar("SELECT count(*) FROM authkit_sessions")
        .fetch_one(pool)
        .await?;
    if existing > 0 {
        return Err(PurgeError::NotEmpty);
    }
    let now = SystemClock.now();
    let user = UserId::new_v7(now).to_string();
    authkit_sqlx::sqlx::query(
        "INSERT INTO authkit_users (id, email, password_hash, created_at, updated_at) \
         VALUES (?1, 'purge@bench.test', 'h', 0, 0)",
    )
    .bind(&user)
    .execute(pool)
    .await?;
    let sessions = i64::try_from(options.sessions).unwrap_or(i64::MAX).max(1);
    let spent = i64::try_from(options.spent).unwrap_or(i64::MAX);
    authkit_sqlx::sqlx::query(FILL_SESSIONS)
        .bind(&user)
        .bind(sessions)
        .execute(pool)
        .await?;
    authkit_sqlx::sqlx::query(FILL_SPENT)
        .bind(spent)
        .bind(sessions)
        .execute(pool)
        .await?;
    let spent_before: i64 = authkit_sqlx::sqlx::query_scalar(COUNT_SPENT)
        .fetch_one(pool)
        .await?;

    let done = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn({
        let (store, done) = (store.clone(), done.clone());
        async move {
            let mut took = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let start = Instant::now();
                store
                    .revoke_session(UserId::new_v7(now), SessionId::new_v7(now), now)
                    .await?;
                took.push(start.elapsed());
            }
            Ok::<_, PurgeError>(took)
        }
    });
    let start = Instant::now();
    let deleted = store.purge_sessions(now).await;
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut took = probe.await.map_err(|_| PurgeError::Probe)??;
    let deleted = deleted?;
    let spent_after: i64 = authkit_sqlx::sqlx::query_scalar(COUNT_SPENT)
        .fetch_one(pool)
        .await?;
    took.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(PurgeReport {
        deleted,
        spent_before: spent_before.unsigned_abs(),
        spent_after: spent_after.unsigned_abs(),
        seconds,
        writes: took.len() as u64,
        write_p50_ms: ms(took.get(took.len() / 2)),
        write_p99_ms: ms(took.get(took.len() * 99 / 100)),
        write_max_ms: ms(took.last()),
    })
}
