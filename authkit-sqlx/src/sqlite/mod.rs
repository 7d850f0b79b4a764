//! [`SqliteStore`]: every storage port on SQLite.
//!
//! Representation: UUIDs as lowercase hyphenated `TEXT` (so that text order is UUID order),
//! timestamps as `INTEGER` microseconds since the Unix epoch (UTC), token hashes and key seeds
//! as `BLOB`, booleans as `INTEGER` 0/1, IP addresses as `TEXT`, audit details as JSON `TEXT`.
//! Multi-statement writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, waiting up
//! to the busy timeout) so that a read-then-write never fails half-way on a lock upgrade.

mod audit;
mod batch;
mod checkpoint;
mod keys;
mod limits;
mod outbox;
mod roles;
mod sessions;
mod tokens;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authkit_core::ports::{PoolStats, StoreHealth, StoreResult};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::map;
use crate::rows::corrupt;
use crate::{ACQUIRE_TIMEOUT, MigrateError};

/// Reading connections in a pool built by [`SqliteStore::connect`] (for a file database).
const MAX_CONNECTIONS: u32 = 4;
/// The page cache of each reading connection, in KiB: SQLite's default is 2 MiB, which the
/// pages an authenticated request walks (two primary-key indexes and two tables) outgrow once
/// the tables hold a million rows and a few hundred users are active, and a cache cycled
/// through by more pages than it holds misses on nearly every page (each miss is a `pread`
/// into the OS's cache). 8 MiB each, 32 MiB for the pool at most, taken only as pages are read.
/// The writer keeps the default: its refreshes touch pages all over the tables, and a larger
/// cache did not change their rate (bench/README.md).
const READER_CACHE_KIB: u32 = 8 * 1024;
/// How long a connection waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How every multi-statement write starts: take the write lock up front.
const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";

/// A query whose parameters are being bound (by the `bind_*` helpers of this backend).
type SqlQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// authkit's storage ports on SQLite. Cheap to clone (it is a pool handle).
///
/// Build it with [`SqliteStore::connect`] (recommended settings) or [`SqliteStore::from_pool`],
/// then run [`SqliteStore::migrate`] at boot.
///
/// SQLite lets one connection write at a time. A store built by [`SqliteStore::connect`]
/// therefore writes through a pool of its own with one connection: writers of this process wait
/// their turn in that pool, without sleeping in SQLite's busy handler (which retries after
/// waits growing to 100 ms), and read through the other pool meanwhile (WAL readers never
/// wait for the writer). The busy timeout still arbitrates with other processes.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one-connection pool of writes; `None` when `pool` writes too.
    writer: Option<SqlitePool>,
    /// Rotations and audit events, written in batches through the writer ([`batch`]).
    batcher: Arc<batch::Batcher>,
    /// Checkpoints from a reader in the background ([`checkpoint`]); `None` for a store built
    /// on a pool of the host's ([`SqliteStore::from_pool`]), which keeps SQLite's own.
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl SqliteStore {
    /// Opens a pool on `url` (e.g. `sqlite://data/authkit.db`), creating the file when missing,
    /// with the WAL journal, `synchronous = NORMAL`, foreign keys on, a 5 s busy timeout, up to
    /// 4 reading connections (each with an 8 MiB page cache) plus 1 writing connection, and a
    /// 5 s acquire timeout. The log is
    /// checkpointed in the background, from a reader, while writes happen (the crate README,
    /// "Connections").
    ///
    /// An in-memory URL (`sqlite::memory:`, `mode=memory`) gets a single connection that is
    /// never closed: with several, each connection could see its own database.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // No ping before lending a connection (sqlx's default): a SQLite connection is a
        // file handle in this process, it does not drop like a network one, and the ping cost
        // a round trip to the connection's thread on every query.
        let pool = SqlitePoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false);
        if in_memory {
            let pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await?;
            return Ok(Self::from_pool(pool));
        }
        // The writer first: it creates the file and switches it to WAL.
        let writer = pool
            .clone()
            .max_connections(1)
            .connect_with(options.clone().pragma(
                "wal_autocheckpoint",
                checkpoint::WRITER_AUTOCHECKPOINT.to_string(),
            ))
            .await?;
        let readers = pool
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options.pragma("cache_size", format!("-{READER_CACHE_KIB}")))
            .await?;
        Ok(Self {
            checkpointer: Some(Arc::new(checkpoint::Checkpointer::start(readers.clone()))),
            pool: readers,
            writer: Some(writer),
            batcher: Arc::default(),
        })
    }

    /// Wraps an existing pool, which then serves reads and writes alike. Its connections must
    /// enforce foreign keys (sqlx's default).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            writer: None,
            batcher: Arc::default(),
            checkpointer: None,
        }
    }

    /// The pool that reads (and, for a store from [`SqliteStore::from_pool`], writes).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The pool of writes (and the checkpointer is told that a write is coming).
    fn writer(&self) -> &SqlitePool {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.wrote();
        }
        self.writer.as_ref().unwrap_or(&self.pool)
    }

    /// Applies authkit's pending migrations (idempotent; safe to run at every boot and from
    /// several processes at once).
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        crate::migrate::sqlite::run(self.writer()).await
    }

    /// Runs `write` through the batching writer task and waits for its result.
    async fn batched(&self, write: batch::Write) -> StoreResult<batch::Done> {
        let (job, result) = batch::Job::new(write);
        self.batcher.submit(self.writer(), job).await?;
        result.await.unwrap_or_else(|_| Err(batch::stopped()))
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer().begin_with(BEGIN_IMMEDIATE).await.map_err(map)
    }

    /// Runs `delete` (a `DELETE` of at most `?2` rows older than `?1`) with `before` and
    /// `slice` until a statement deletes fewer than `slice` rows; returns how many rows went in
    /// all. Each statement commits on its own, so none holds the writer for long.
    async fn delete_in_slices(
        &self,
        delete: &'static str,
        before: i64,
        slice: i64,
    ) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let n = sqlx::query(delete)
                .bind(before)
                .bind(slice)
                .execute(self.writer())
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
impl StoreHealth for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map)
    }

    /// The store's pools together (shared by its rate-limit counters): connections lent out,
    /// idle, and the configured maximum.
    fn pool_stats(&self) -> Option<PoolStats> {
        let mut stats = crate::pool_stats(&self.pool);
        if let Some(writer) = &self.writer {
            let writer = crate::pool_stats(writer);
            stats.in_use += writer.in_use;
            stats.idle += writer.idle;
            stats.max += writer.max;
        }
        Some(stats)
    }
}

/// A column's value, with decoding errors as `StoreError::Backend`.
fn get<'r, T>(row: &'r SqliteRow, column: &'static str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column).map_err(map)
}

/// A timestamp as stored: microseconds since the Unix epoch (sub-microsecond digits dropped).
fn micros(t: OffsetDateTime) -> StoreResult<i64> {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000))
        .map_err(|e| corrupt("timestamp", Some(Box::new(e))))
}

/// A stored timestamp back in UTC.
fn time_at(row: &SqliteRow, column: &'static str) -> StoreResult<OffsetDateTime> {
    from_micros(column, get(row, column)?)
}

fn opt_time_at(row: &SqliteRow, column: &'static str) -> StoreResult<Option<OffsetDateTime>> {
    get::<Option<i64>>(row, column)?
        .map(|v| from_micros(column, v))
        .transpose()
}

fn from_micros(column: &'static str, v: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000)
        .map_err(|e| corrupt(column, Some(Box::new(e))))
}

/// A UUID as stored (lowercase hyphenated).
fn uuid_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn uuid_at(row: &SqliteRow, column: &'static str) -> StoreResult<Uuid> {
    parse_uuid(column, &get::<String>(row, column)?)
}

fn opt_uuid_at(row: &SqliteRow, column: &'static str) -> StoreResult<Option<Uuid>> {
    get::<Option<String>>(row, column)?
        .map(|s| parse_uuid(column, &s))
        .transpose()
}

fn parse_uuid(column: &'static str, s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| corrupt(column, Some(Box::new(e))))
}

#[cfg(test)]
mod tests {
    /// The modules that write through `writer()` outside a transaction.
    const SOURCES: [(&str, &str); 10] = [
        ("audit.rs", include_str!("audit.rs")),
        ("batch.rs", include_str!("batch.rs")),
        ("keys.rs", include_str!("keys.rs")),
        ("limits.rs", include_str!("limits.rs")),
        ("outbox.rs", include_str!("outbox.rs")),
        ("roles.rs", include_str!("roles.rs")),
        ("sessions.rs", include_str!("sessions.rs")),
        ("tokens.rs", include_str!("tokens.rs")),
        ("users.rs", include_str!("users.rs")),
        ("checkpoint.rs", include_str!("checkpoint.rs")),
    ];

    /// An autocommit statement commits when it is stepped to its end, and only then is a failed
    /// commit reported: `fetch_optional` stops at the first row and drops the error, so a write
    /// on the writer outside a transaction reads its rows with `fetch_all` (or `execute`).
    #[test]
    fn autocommit_writes_are_stepped_to_their_end() {
        for (name, source) in SOURCES {
            let code: String = source.split_whitespace().collect();
            assert!(
                !code.contains(".fetch_optional(self.writer())"),
                "{name} reads an autocommit write on the writer with fetch_optional"
            );
        }
    }
}
