//! Scratch databases, one per test.
//!
//! - SQLite: a file in a temporary directory owned by the [`TestDb`] (a real file, so the
//!   multi-connection pool sees one database, as in production).
//! - PostgreSQL: a fresh database `authkit_t_<uuidv7>` created on the server named by
//!   `AUTHKIT_TEST_POSTGRES_URL`. [`TestDb::cleanup`] drops it once the test passed; a test that
//!   panics leaves it for inspection. The UUIDv7 in the name records when it was created: the
//!   first [`TestDb`] of each process drops leftovers older than an hour.
//!
//! Without `AUTHKIT_TEST_POSTGRES_URL`, PostgreSQL tests are skipped with a notice on stderr,
//! unless `AUTHKIT_TEST_REQUIRE_POSTGRES=1` (CI), which makes them fail instead.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authkit_core::ports::Store;
use authkit_sqlx::sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use authkit_sqlx::sqlx::{self, AssertSqlSafe, ConnectOptions, Connection, Executor};
use authkit_sqlx::{PostgresStore, SqliteStore};
use tempfile::TempDir;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The server URL for PostgreSQL tests (any database on it; scratch databases are created
/// next to it).
pub const POSTGRES_URL_ENV: &str = "AUTHKIT_TEST_POSTGRES_URL";
/// Set to `1` to fail, rather than skip, PostgreSQL tests when [`POSTGRES_URL_ENV`] is unset.
pub const REQUIRE_POSTGRES_ENV: &str = "AUTHKIT_TEST_REQUIRE_POSTGRES";
/// Prefix of every scratch database name.
pub const DB_PREFIX: &str = "authkit_t_";
/// Scratch databases older than this are dropped by the sweep.
const SWEEP_AGE: Duration = Duration::from_secs(60 * 60);
/// Connections per scratch database: many tests share one server.
const PG_MAX_CONNECTIONS: u32 = 5;

/// The database behind a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A scratch PostgreSQL database.
    Postgres,
}

/// A migrated scratch database and the store on it.
pub struct TestDb {
    inner: Option<Inner>,
}

enum Inner {
    Sqlite {
        store: SqliteStore,
        dir: TempDir,
    },
    Postgres {
        store: PostgresStore,
        name: String,
        server: Box<PgConnectOptions>,
    },
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(Inner::Sqlite { dir, .. }) => write!(f, "TestDb(sqlite {})", dir.path().display()),
            Some(Inner::Postgres { name, .. }) => write!(f, "TestDb(postgres {name})"),
            None => f.write_str("TestDb(cleaned up)"),
        }
    }
}

impl TestDb {
    /// A fresh, migrated database; `None` (after a notice on stderr) when PostgreSQL is asked
    /// for but not configured. Panics on any setup failure.
    pub async fn new(backend: Backend) -> Option<Self> {
        let db = Self::empty(backend).await?;
        match db.inner.as_ref() {
            Some(Inner::Sqlite { store, .. }) => store.migrate().await.expect("migrate sqlite"),
            Some(Inner::Postgres { store, .. }) => store.migrate().await.expect("migrate postgres"),
            None => unreachable!("a new TestDb holds a database"),
        }
        Some(db)
    }

    /// Like [`TestDb::new`] but without running the migrations (for migration tests).
    pub async fn empty(backend: Backend) -> Option<Self> {
        let inner = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let url = format!("sqlite://{}/authkit.db", dir.path().display());
                let store = SqliteStore::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("open {url}: {e}"));
                Inner::Sqlite { store, dir }
            }
            Backend::Postgres => {
                let server = postgres_server()?;
                sweep_once(&server).await;
                let name = format!("{DB_PREFIX}{}", Uuid::now_v7().simple());
                let mut admin = admin(&server).await;
                admin
                    .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .await
                    .unwrap_or_else(|e| panic!("create database {name}: {e}"));
                let _ = admin.close().await;
                let pool = PgPoolOptions::new()
                    .max_connections(PG_MAX_CONNECTIONS)
                    .acquire_timeout(authkit_sqlx::ACQUIRE_TIMEOUT)
                    .connect_with(server.clone().database(&name))
                    .await
                    .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
                Inner::Postgres {
                    store: PostgresStore::from_pool(pool),
                    name,
                    server: Box::new(server),
                }
            }
        };
        Some(Self { inner: Some(inner) })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.inner() {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The store, as `AuthKit` holds it.
    pub fn store(&self) -> Arc<dyn Store> {
        match self.inner() {
            Inner::Sqlite { store, .. } => Arc::new(store.clone()),
            Inner::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }

    /// The database's rate-limit counters.
    pub fn rate_limits(&self) -> Arc<dyn authkit_core::ports::RateLimitStore> {
        match self.inner() {
            Inner::Sqlite { store, .. } => Arc::new(store.clone()),
            Inner::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }

    /// The SQLite store, if this is SQLite.
    pub fn sqlite(&self) -> Option<&SqliteStore> {
        match self.inner() {
            Inner::Sqlite { store, .. } => Some(store),
            Inner::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL store, if this is PostgreSQL.
    pub fn postgres(&self) -> Option<&PostgresStore> {
        match self.inner() {
            Inner::Postgres { store, .. } => Some(store),
            Inner::Sqlite { .. } => None,
        }
    }

    /// How to connect to this PostgreSQL database (`None` for SQLite), for a test that needs
    /// a pool of its own.
    pub fn postgres_options(&self) -> Option<PgConnectOptions> {
        match self.inner() {
            Inner::Postgres { server, name, .. } => Some(server.as_ref().clone().database(name)),
            Inner::Sqlite { .. } => None,
        }
    }

    /// Every row of every table as text, one line per row, as a logical dump (`sqlite3 .dump`,
    /// `pg_dump --data-only`) shows them: for tests that search the stored data for what must
    /// not be there. SQLite renders a blob as `X'HEX'` (`quote`), PostgreSQL a `bytea` as
    /// `\\xhex` (a row's text form).
    pub async fn dump(&self) -> String {
        let mut lines = Vec::new();
        match self.inner() {
            Inner::Sqlite { store, .. } => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                        .fetch_all(store.pool())
                        .await
                        .expect("list the tables");
                for table in tables {
                    let columns: Vec<String> =
                        sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                            .bind(&table)
                            .fetch_all(store.pool())
                            .await
                            .expect("list the columns");
                    let row = columns
                        .iter()
                        .map(|c| format!("quote(\"{c}\")"))
                        .collect::<Vec<_>>()
                        .join(" || ',' || ");
                    let select = format!("SELECT '{table}: ' || {row} FROM \"{table}\"");
                    let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(select))
                        .fetch_all(store.pool())
                        .await
                        .unwrap_or_else(|e| panic!("dump {table}: {e}"));
                    lines.extend(rows);
                }
            }
            Inner::Postgres { store, .. } => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                )
                .fetch_all(store.pool())
                .await
                .expect("list the tables");
                for table in tables {
                    let select = format!("SELECT '{table}: ' || t::text FROM \"{table}\" t");
                    let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(select))
                        .fetch_all(store.pool())
                        .await
                        .unwrap_or_else(|e| panic!("dump {table}: {e}"));
                    lines.extend(rows);
                }
            }
        }
        lines.join("\n")
    }

    /// Closes the pool (an outage for the store; [`TestDb::cleanup`] still works after it).
    pub async fn close_pool(&self) {
        match self.inner() {
            Inner::Sqlite { store, .. } => store.pool().close().await,
            Inner::Postgres { store, .. } => store.pool().close().await,
        }
    }

    /// Closes the pool and removes the database (PostgreSQL: `DROP DATABASE`; SQLite: the
    /// temporary directory). Call it at the end of a passing test.
    pub async fn cleanup(mut self) {
        match self.inner.take() {
            Some(Inner::Sqlite { store, dir }) => {
                store.pool().close().await;
                drop(dir);
            }
            Some(Inner::Postgres {
                store,
                name,
                server,
            }) => {
                store.pool().close().await;
                let mut admin = admin(&server).await;
                if let Err(e) = drop_database(&mut admin, &name).await {
                    eprintln!("authkit tests: could not drop {name} (the sweep will): {e}");
                }
                let _ = admin.close().await;
            }
            None => {}
        }
    }

    fn inner(&self) -> &Inner {
        self.inner
            .as_ref()
            .expect("a TestDb is used only before cleanup")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self.inner.take() {
            Some(Inner::Postgres { name, .. }) => {
                eprintln!(
                    "authkit tests: kept database {name} for inspection (dropped by the sweep \
                     after an hour)"
                );
            }
            Some(Inner::Sqlite { dir, .. }) if std::thread::panicking() => {
                let path = dir.keep();
                eprintln!(
                    "authkit tests: kept {} for inspection",
                    path.join("authkit.db").display()
                );
            }
            _ => {}
        }
    }
}

impl authkit_testkit::StoreFixture for TestDb {
    fn store(&self) -> Arc<dyn Store> {
        TestDb::store(self)
    }

    async fn teardown(self) {
        self.cleanup().await;
    }
}

/// The server from [`POSTGRES_URL_ENV`], `None` (skip) when unset, or a panic when
/// [`REQUIRE_POSTGRES_ENV`] is `1`.
fn postgres_server() -> Option<PgConnectOptions> {
    match std::env::var(POSTGRES_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(
            PgConnectOptions::from_str(url.trim())
                .unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV} is not a PostgreSQL URL: {e}")),
        ),
        _ => {
            if std::env::var(REQUIRE_POSTGRES_ENV).as_deref() == Ok("1") {
                panic!(
                    "{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is unset: start a server \
                     (scripts/pg start) and export its URL"
                );
            }
            eprintln!("skipped: PostgreSQL test ({POSTGRES_URL_ENV} is unset)");
            None
        }
    }
}

/// A connection to the server's configured (maintenance) database.
async fn admin(server: &PgConnectOptions) -> PgConnection {
    server
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to the PostgreSQL test server: {e}"))
}

async fn drop_database(
    admin: &mut PgConnection,
    name: &str,
) -> Result<(), authkit_sqlx::sqlx::Error> {
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await
        .map(|_| ())
}

/// Drops, once per process, the scratch databases older than [`SWEEP_AGE`] (left by failed or
/// killed runs). Failures are reported, never fatal.
async fn sweep_once(server: &PgConnectOptions) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT.get_or_init(|| sweep(server)).await;
}

async fn sweep(server: &PgConnectOptions) {
    let mut admin = admin(server).await;
    let names: Vec<String> = match authkit_sqlx::sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'authkit\\_t\\_%'",
    )
    .fetch_all(&mut admin)
    .await
    {
        Ok(names) => names,
        Err(e) => {
            eprintln!("authkit tests: cannot list scratch databases: {e}");
            return;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    for name in names {
        let Some(created) = created_at(&name) else {
            continue;
        };
        if now.saturating_sub(created) < SWEEP_AGE {
            continue;
        }
        match drop_database(&mut admin, &name).await {
            Ok(()) => eprintln!("authkit tests: swept leftover database {name}"),
            Err(e) => eprintln!("authkit tests: could not sweep {name}: {e}"),
        }
    }
    let _ = admin.close().await;
}

/// When a scratch database was created, from the UUIDv7 in its name.
fn created_at(name: &str) -> Option<Duration> {
    let id = Uuid::try_parse(name.strip_prefix(DB_PREFIX)?).ok()?;
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_record_their_creation_time() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let name = format!("{DB_PREFIX}{}", Uuid::now_v7().simple());
        let created = created_at(&name).unwrap();
        assert!(created + Duration::from_secs(1) >= before);
        assert!(
            name.len() <= 63,
            "PostgreSQL identifiers are at most 63 bytes"
        );
        assert_eq!(created_at("authkit_t_notauuid"), None);
        assert_eq!(created_at("other_db"), None);
    }
}
