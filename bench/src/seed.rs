//! Bulk seeding of users: `authkit-bench seed`.
//!
//! Users `user{i}@bench.test` for `i` in `1..=N`: active, email verified, every one holding the
//! `user` role (and every K-th also `admin`), every one with the same argon2id hash of one
//! password, made once with the default [`Argon2Hasher`] (so the server's login verifies it at
//! full cost and never asks for a rehash). Ids are UUIDv7-shaped and ascend with `i`
//! ([`user_id`]): the timestamp is 2024-01-01 00:00 UTC plus `i` milliseconds, which is also the
//! creation time.
//!
//! The rows are made by the database itself, `INSERT ... SELECT` over a recursive CTE (SQLite)
//! or `generate_series` (PostgreSQL), [`CHUNK`] users per statement, one transaction per chunk
//! (users and their roles together): no round trip per row.
//!
//! With [`SeedOptions::sessions`], every user also holds one live session, as the users of a
//! deployment do: its id is UUIDv7-shaped like the user's, one year later ([`session_id`]), and
//! its refresh token is [`session_token`], which anyone can compute (a benchmark database
//! only), so that a load script can refresh sessions spread over the whole table. Each session
//! can also come with [`SeedOptions::spent_per_session`] spent refresh hashes (random), the
//! rotations it went through before.

use std::time::{Duration, Instant};

use std::time::{SystemTime, UNIX_EPOCH};

use authkit_core::domain::{Password, RefreshSelector, SELECTOR_BYTES, TokenHash};
use authkit_core::hashing::{Argon2Config, Argon2ConfigError, Argon2Hasher};
use authkit_core::ports::{HashError, PasswordHasher};
use authkit_core::uuid::Uuid;
use authkit_sqlx::sqlx::{self, Connection};
use authkit_sqlx::{MigrateError, PostgresStore, SqliteStore};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The domain of every seeded address (`user{i}@bench.test`).
pub const EMAIL_DOMAIN: &str = "bench.test";
/// The UUIDv7 timestamp (Unix milliseconds) of user 0: 2024-01-01 00:00:00 UTC; user `i`'s is
/// this plus `i`.
pub const EPOCH_MS: i64 = 1_704_067_200_000;
/// Users inserted per statement (and per transaction).
pub const CHUNK: u64 = 100_000;
/// The largest number of users one call seeds.
pub const MAX_USERS: u64 = 100_000_000;
/// The largest [`SeedOptions::spent_per_session`].
pub const MAX_SPENT_PER_SESSION: u32 = 100;
/// How far a seeded session's id timestamp is after its user's: one year (365 days), in ms.
pub const SESSION_ID_OFFSET_MS: i64 = 31_536_000_000;
/// A seeded session's absolute and idle lifetimes from the seed: 30 and 14 days, in µs (the
/// server's defaults for a remembered session).
const SESSION_ABSOLUTE_MICROS: i64 = 30 * 86_400_000_000;
const SESSION_IDLE_MICROS: i64 = 14 * 86_400_000_000;

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// `sqlite://FILE` (created when missing) or `postgres://…` / `postgresql://…`.
    pub database_url: String,
    /// How many users (`1..=MAX_USERS`).
    pub users: u64,
    /// The password of every user.
    pub password: String,
    /// Every K-th user (`i % K == 0`) also holds `admin`; `None`: nobody.
    pub admin_every: Option<u64>,
    /// Every user also holds one live session whose refresh token is [`session_token`].
    pub sessions: bool,
    /// Random spent refresh hashes per seeded session (`0..=MAX_SPENT_PER_SESSION`; needs
    /// `sessions` when not 0).
    pub spent_per_session: u32,
}

/// What a seed did.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedReport {
    /// Users inserted.
    pub users: u64,
    /// Wall time of the whole seed after connecting: migrations, the one hash, the inserts and
    /// the final maintenance (a WAL checkpoint on SQLite; `VACUUM (ANALYZE)` and a checkpoint on
    /// PostgreSQL).
    pub seconds: f64,
    /// Of which the inserts alone.
    pub insert_seconds: f64,
}

impl SeedReport {
    /// The one line of JSON the binary prints: `{"users":N,"seconds":S}`.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line {
            users: u64,
            seconds: f64,
        }
        crate::json_line(&Line {
            users: self.users,
            seconds: crate::round3(self.seconds),
        })
    }
}

/// Why a seed failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The options are out of range.
    #[error("invalid options: {0}")]
    Options(&'static str),
    /// The URL is neither `sqlite:` nor `postgres://` / `postgresql://`.
    #[error("unsupported database URL (use sqlite://FILE or postgres://USER:PASSWORD@HOST/DB)")]
    Scheme,
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// authkit's migrations failed.
    #[error("migrations failed: {0}")]
    Migrate(#[from] MigrateError),
    /// The hasher could not start.
    #[error("argon2 hasher: {0}")]
    Hasher(#[from] Argon2ConfigError),
    /// Hashing the password failed.
    #[error("hashing the password: {0}")]
    Hash(#[from] HashError),
    /// The database already holds seeded users: seed a fresh database only.
    #[error(
        "authkit_users already holds users of @{EMAIL_DOMAIN} (seeded before): seed a fresh database"
    )]
    AlreadySeeded,
    /// A statement failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The address of user `i`.
pub fn user_email(i: u64) -> String {
    format!("user{i}@{EMAIL_DOMAIN}")
}

/// The id of user `i`, as the SQL of both backends builds it: 48 bits of timestamp
/// ([`EPOCH_MS`] + `i`), version 7, 12 bits of `i % 4096`, variant `10`, then `i` in 60 bits.
/// Ascends with `i`.
pub fn user_id(i: u64) -> Uuid {
    let ts = u128::from(EPOCH_MS.unsigned_abs() + i) & 0xffff_ffff_ffff;
    let i = u128::from(i);
    Uuid::from_u128(
        (ts << 80) | (0x7 << 76) | ((i % 4096) << 64) | (0x8 << 60) | (i & 0x0fff_ffff_ffff_ffff),
    )
}

/// The id of user `i`'s seeded session: the shape of [`user_id`], with the timestamp
/// [`SESSION_ID_OFFSET_MS`] later.
pub fn session_id(i: u64) -> Uuid {
    let ts = u128::from(EPOCH_MS.unsigned_abs() + SESSION_ID_OFFSET_MS.unsigned_abs() + i)
        & 0xffff_ffff_ffff;
    let i = u128::from(i);
    Uuid::from_u128(
        (ts << 80) | (0x7 << 76) | ((i % 4096) << 64) | (0x8 << 60) | (i & 0x0fff_ffff_ffff_ffff),
    )
}

/// The selector of user `i`'s seeded session: the first 16 bytes of the SHA-256 of
/// `authkit-bench selector {i}`.
pub fn session_selector(i: u64) -> RefreshSelector {
    let digest = TokenHash::of(&format!("authkit-bench selector {i}"));
    let mut selector = [0; SELECTOR_BYTES];
    selector.copy_from_slice(&digest.as_bytes()[..SELECTOR_BYTES]);
    RefreshSelector(selector)
}

/// The refresh token of user `i`'s seeded session, in the server's form
/// (`OpaqueToken::refresh`: base64url of the selector and 32 bytes, 64 characters): its
/// [`session_selector`], then the SHA-256 of `authkit-bench session {i}`. The session stores
/// the selector and the token's SHA-256, as the server's own sessions do. Public by
/// construction: seed only benchmark databases with sessions.
pub fn session_token(i: u64) -> String {
    let secret = TokenHash::of(&format!("authkit-bench session {i}"));
    let mut bytes = session_selector(i).as_bytes().to_vec();
    bytes.extend_from_slice(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `count` users evenly spread over `from..=to` (every one of them when `count` is larger than
/// the range), ascending.
pub fn spread(from: u64, to: u64, count: u64) -> impl Iterator<Item = u64> {
    let range = to.saturating_sub(from).saturating_add(1);
    let count = count.min(range);
    (0..count).map(move |j| {
        let offset = u128::from(j) * u128::from(range) / u128::from(count.max(1));
        from + u64::try_from(offset).unwrap_or(0)
    })
}

/// The stored hashes of the session tokens of users `lo..=hi`, one after the other (32 bytes
/// each): one blob per chunk, which the SQL cuts with `substr`.
fn session_hashes(lo: i64, hi: i64) -> Vec<u8> {
    (lo..=hi)
        .flat_map(|i| *TokenHash::of(&session_token(i.unsigned_abs())).as_bytes())
        .collect()
}

/// The selectors of the sessions of users `lo..=hi`, one after the other (16 bytes each), as
/// [`session_hashes`].
fn session_selectors(lo: i64, hi: i64) -> Vec<u8> {
    (lo..=hi)
        .flat_map(|i| *session_selector(i.unsigned_abs()).as_bytes())
        .collect()
}

/// Now, in microseconds since the Unix epoch (a seeded session is created now).
fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The database behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:`.
    Sqlite,
    /// `postgres://` or `postgresql://`.
    Postgres,
}

impl Backend {
    /// The backend of `url` by its scheme (as the reference server picks it).
    pub fn of(url: &str) -> Result<Self, SeedError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(SeedError::Scheme)
        }
    }
}

/// Seeds `options.users` users into a fresh authkit database (migrating it first). Refuses a
/// database that already holds a `@bench.test` user.
pub async fn seed(options: &SeedOptions) -> Result<SeedReport, SeedError> {
    if options.users == 0 || options.users > MAX_USERS {
        return Err(SeedError::Options("--users must be in 1..=100000000"));
    }
    if options.admin_every == Some(0) {
        return Err(SeedError::Options("--admin-every must be at least 1"));
    }
    if options.spent_per_session > MAX_SPENT_PER_SESSION {
        return Err(SeedError::Options("--spent-per-session must be in 0..=100"));
    }
    if options.spent_per_session > 0 && !options.sessions {
        return Err(SeedError::Options("--spent-per-session needs --sessions"));
    }
    match Backend::of(&options.database_url)? {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&options.database_url)
                .await
                .map_err(SeedError::Connect)?;
            let started = Instant::now();
            store.migrate().await?;
            let report = seed_sqlite(&store, options, started).await;
            store.pool().close().await;
            report
        }
        Backend::Postgres => {
            let store = PostgresStore::connect(&options.database_url)
                .await
                .map_err(SeedError::Connect)?;
            let started = Instant::now();
            store.migrate().await?;
            let report = seed_postgres(&store, options, started).await;
            store.pool().close().await;
            report
        }
    }
}

/// One argon2id hash of `password` with the default parameters (those of the server).
async fn hash_once(password: &str) -> Result<String, SeedError> {
    let hasher = Argon2Hasher::new(&Argon2Config {
        workers: 1,
        queue: 1,
        ..Argon2Config::default()
    })?;
    let hash = hasher.hash(&Password::new(password)).await?;
    Ok(hash.expose().to_owned())
}

/// The chunks `[lo, hi]` of `1..=users`.
fn chunks(users: u64) -> impl Iterator<Item = (i64, i64)> {
    (0..users.div_ceil(CHUNK)).map(move |c| {
        let lo = c * CHUNK + 1;
        let hi = (lo + CHUNK - 1).min(users);
        // Both are at most MAX_USERS: they fit.
        (
            i64::try_from(lo).unwrap_or(i64::MAX),
            i64::try_from(hi).unwrap_or(i64::MAX),
        )
    })
}

fn admin_modulus(options: &SeedOptions) -> Option<i64> {
    options
        .admin_every
        .map(|k| i64::try_from(k).unwrap_or(i64::MAX))
}

fn log_progress(done: i64, total: u64, since: Instant) {
    eprint_line(&format!(
        "seed: {done}/{total} users after {:.1} s",
        since.elapsed().as_secs_f64()
    ));
}

/// Progress on stderr (stdout carries only the JSON line).
fn eprint_line(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

// --- SQLite -------------------------------------------------------------------------------
//
// Ids are lowercase hyphenated TEXT (the store's `uuid_text`), timestamps INTEGER microseconds
// (`micros`), booleans 0/1. `?1..?2` is the chunk; the id is built from `i` and `ts` exactly
// like `user_id`.

macro_rules! sqlite_series {
    () => {
        "WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2), \
         u(i, ts) AS (SELECT i, 1704067200000 + i FROM s) "
    };
}

macro_rules! sqlite_id {
    () => {
        sqlite_id!("ts")
    };
    ($ts:literal) => {
        concat!(
            "printf('%08x-%04x-7%03x-8%03x-%012x', ",
            $ts,
            " >> 16, ",
            $ts,
            " & 65535, i % 4096, (i >> 48) & 4095, i & 281474976710655)"
        )
    };
}

/// The series of a chunk with the users' (`ts`) and their sessions' (`sts`) id timestamps.
macro_rules! sqlite_session_series {
    () => {
        "WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2), \
         u(i, ts, sts) AS (SELECT i, 1704067200000 + i, 1735603200000 + i FROM s) "
    };
}

const SQLITE_ANY_SEEDED: &str =
    "SELECT EXISTS (SELECT 1 FROM authkit_users WHERE email LIKE '%@bench.test')";
const SQLITE_INSERT_USERS: &str = concat!(
    sqlite_series!(),
    "INSERT INTO authkit_users (id, email, email_verified, display_name, locale, status, \
     password_hash, created_at, updated_at, last_login_at, deleted_at) \
     SELECT ",
    sqlite_id!(),
    ", 'user' || i || '@bench.test', 1, NULL, NULL, 'active', ?3, ts * 1000, ts * 1000, \
     NULL, NULL FROM u"
);
const SQLITE_GRANT_USER: &str = concat!(
    sqlite_series!(),
    "INSERT INTO authkit_user_roles (user_id, role_name) SELECT ",
    sqlite_id!(),
    ", 'user' FROM u"
);
const SQLITE_GRANT_ADMIN: &str = concat!(
    sqlite_series!(),
    "INSERT INTO authkit_user_roles (user_id, role_name) SELECT ",
    sqlite_id!(),
    ", 'admin' FROM u WHERE i % ?3 = 0"
);

/// ?3: the chunk's hashes ([`session_hashes`]); ?4 now, ?5 and ?6 the absolute and idle
/// lifetimes (µs); ?7 the chunk's selectors ([`session_selectors`]).
const SQLITE_INSERT_SESSIONS: &str = concat!(
    sqlite_session_series!(),
    "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
     expires_at, idle_expires_at, revoked_at, remember_me, ip, user_agent, refresh_selector) \
     SELECT ",
    sqlite_id!("sts"),
    ", ",
    sqlite_id!(),
    ", substr(?3, (i - ?1) * 32 + 1, 32), ?4, ?4, ?4 + ?5, ?4 + ?6, NULL, 1, NULL, NULL, \
     substr(?7, (i - ?1) * 16 + 1, 16) FROM u"
);
/// ?3: spent hashes per session.
const SQLITE_INSERT_SPENT: &str = concat!(
    sqlite_session_series!(),
    ", k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < ?3) \
     INSERT INTO authkit_spent_refresh_tokens (hash, session_id) SELECT randomblob(32), ",
    sqlite_id!("sts"),
    " FROM u, k"
);

async fn seed_sqlite(
    store: &SqliteStore,
    options: &SeedOptions,
    started: Instant,
) -> Result<SeedReport, SeedError> {
    let mut conn = store.pool().acquire().await?;
    let seeded: i64 = sqlx::query_scalar(SQLITE_ANY_SEEDED)
        .fetch_one(&mut *conn)
        .await?;
    if seeded != 0 {
        return Err(SeedError::AlreadySeeded);
    }
    let hash = hash_once(&options.password).await?;
    // This connection only: a 64 MiB page cache, so that the email index's pages stay in
    // memory through a chunk.
    sqlx::query("PRAGMA cache_size = -65536")
        .execute(&mut *conn)
        .await?;
    let admin = admin_modulus(options);
    let now = now_micros();
    let inserting = Instant::now();
    for (lo, hi) in chunks(options.users) {
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(SQLITE_INSERT_USERS)
            .bind(lo)
            .bind(hi)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(SQLITE_GRANT_USER)
            .bind(lo)
            .bind(hi)
            .execute(&mut *tx)
            .await?;
        if let Some(k) = admin {
            sqlx::query(SQLITE_GRANT_ADMIN)
                .bind(lo)
                .bind(hi)
                .bind(k)
                .execute(&mut *tx)
                .await?;
        }
        if options.sessions {
            sqlx::query(SQLITE_INSERT_SESSIONS)
                .bind(lo)
                .bind(hi)
                .bind(session_hashes(lo, hi))
                .bind(now)
                .bind(SESSION_ABSOLUTE_MICROS)
                .bind(SESSION_IDLE_MICROS)
                .bind(session_selectors(lo, hi))
                .execute(&mut *tx)
                .await?;
        }
        if options.spent_per_session > 0 {
            sqlx::query(SQLITE_INSERT_SPENT)
                .bind(lo)
                .bind(hi)
                .bind(i64::from(options.spent_per_session))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        log_progress(hi, options.users, inserting);
    }
    let insert_seconds = inserting.elapsed().as_secs_f64();
    // Leave a compact database file rather than a large WAL.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA cache_size = -2000")
        .execute(&mut *conn)
        .await?;
    Ok(report(options, started.elapsed(), insert_seconds))
}

// --- PostgreSQL ---------------------------------------------------------------------------
//
// Native uuid, timestamptz and boolean; the id text is cast to uuid.

macro_rules! pg_series {
    () => {
        "FROM (SELECT i, 1704067200000::bigint + i AS ts \
         FROM generate_series($1::bigint, $2::bigint) AS i) AS s"
    };
}

macro_rules! pg_id {
    () => {
        pg_id!("ts")
    };
    ($ts:literal) => {
        concat!(
            "(lpad(to_hex(",
            $ts,
            "), 12, '0') || '7' || lpad(to_hex(i % 4096), 3, '0') || '8' \
             || lpad(to_hex(i), 15, '0'))::uuid"
        )
    };
}

/// [`pg_series`] with the sessions' id timestamps (`sts`) too.
macro_rules! pg_session_series {
    () => {
        "FROM (SELECT i, 1704067200000::bigint + i AS ts, 1735603200000::bigint + i AS sts \
         FROM generate_series($1::bigint, $2::bigint) AS i) AS s"
    };
}

const PG_ANY_SEEDED: &str =
    "SELECT EXISTS (SELECT 1 FROM authkit_users WHERE email LIKE '%@bench.test')";
const PG_INSERT_USERS: &str = concat!(
    "INSERT INTO authkit_users (id, email, email_verified, display_name, locale, status, \
     password_hash, created_at, updated_at, last_login_at, deleted_at) \
     SELECT ",
    pg_id!(),
    ", 'user' || i || '@bench.test', true, NULL, NULL, 'active', $3, \
     timestamptz 'epoch' + ts * interval '1 millisecond', \
     timestamptz 'epoch' + ts * interval '1 millisecond', NULL, NULL ",
    pg_series!()
);
const PG_GRANT_USER: &str = concat!(
    "INSERT INTO authkit_user_roles (user_id, role_name) SELECT ",
    pg_id!(),
    ", 'user' ",
    pg_series!()
);
const PG_GRANT_ADMIN: &str = concat!(
    "INSERT INTO authkit_user_roles (user_id, role_name) SELECT ",
    pg_id!(),
    ", 'admin' ",
    pg_series!(),
    " WHERE i % $3 = 0"
);

/// $3: the chunk's hashes ([`session_hashes`]); $4 now, $5 and $6 the absolute and idle
/// lifetimes (µs); $7 the chunk's selectors ([`session_selectors`]).
const PG_INSERT_SESSIONS: &str = concat!(
    "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
     expires_at, idle_expires_at, revoked_at, remember_me, ip, user_agent, refresh_selector) \
     SELECT ",
    pg_id!("sts"),
    ", ",
    pg_id!(),
    ", substring($3::bytea from ((i - $1) * 32 + 1)::int for 32), \
     timestamptz 'epoch' + $4::bigint * interval '1 microsecond', \
     timestamptz 'epoch' + $4::bigint * interval '1 microsecond', \
     timestamptz 'epoch' + ($4::bigint + $5::bigint) * interval '1 microsecond', \
     timestamptz 'epoch' + ($4::bigint + $6::bigint) * interval '1 microsecond', \
     NULL, true, NULL, NULL, substring($7::bytea from ((i - $1) * 16 + 1)::int for 16) ",
    pg_session_series!()
);
/// $3: spent hashes per session (random: two MD5s of `random()`).
const PG_INSERT_SPENT: &str = concat!(
    "INSERT INTO authkit_spent_refresh_tokens (hash, session_id) \
     SELECT decode(md5(random()::text) || md5(random()::text), 'hex'), ",
    pg_id!("sts"),
    " ",
    pg_session_series!(),
    ", generate_series(1, $3::int) AS j"
);

async fn seed_postgres(
    store: &PostgresStore,
    options: &SeedOptions,
    started: Instant,
) -> Result<SeedReport, SeedError> {
    let mut conn = store.pool().acquire().await?;
    let seeded: bool = sqlx::query_scalar(PG_ANY_SEEDED)
        .fetch_one(&mut *conn)
        .await?;
    if seeded {
        return Err(SeedError::AlreadySeeded);
    }
    let hash = hash_once(&options.password).await?;
    let admin = admin_modulus(options);
    let now = now_micros();
    let inserting = Instant::now();
    for (lo, hi) in chunks(options.users) {
        let mut tx = conn.begin().await?;
        sqlx::query(PG_INSERT_USERS)
            .bind(lo)
            .bind(hi)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query(PG_GRANT_USER)
            .bind(lo)
            .bind(hi)
            .execute(&mut *tx)
            .await?;
        if let Some(k) = admin {
            sqlx::query(PG_GRANT_ADMIN)
                .bind(lo)
                .bind(hi)
                .bind(k)
                .execute(&mut *tx)
                .await?;
        }
        if options.sessions {
            sqlx::query(PG_INSERT_SESSIONS)
                .bind(lo)
                .bind(hi)
                .bind(session_hashes(lo, hi))
                .bind(now)
                .bind(SESSION_ABSOLUTE_MICROS)
                .bind(SESSION_IDLE_MICROS)
                .bind(session_selectors(lo, hi))
                .execute(&mut *tx)
                .await?;
        }
        if options.spent_per_session > 0 {
            sqlx::query(PG_INSERT_SPENT)
                .bind(lo)
                .bind(hi)
                .bind(i32::try_from(options.spent_per_session).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        log_progress(hi, options.users, inserting);
    }
    let insert_seconds = inserting.elapsed().as_secs_f64();
    // Fresh statistics, so that the planner sees a million rows at once, and the vacuum that
    // autovacuum would otherwise run after so many inserts, in the middle of the measurements
    // (it took a fifth of the two cores from the first phases on the big table). A checkpoint
    // then writes the dirty pages out, for the same reason; it needs the `pg_checkpoint` role,
    // and without it the server's own checkpoints do it later.
    sqlx::query(
        "VACUUM (ANALYZE) authkit_users, authkit_user_roles, authkit_sessions, \
         authkit_spent_refresh_tokens",
    )
    .execute(&mut *conn)
    .await?;
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut *conn).await {
        eprint_line(&format!("seed: no CHECKPOINT after the inserts ({e})"));
    }
    Ok(report(options, started.elapsed(), insert_seconds))
}

fn report(options: &SeedOptions, total: Duration, insert_seconds: f64) -> SeedReport {
    SeedReport {
        users: options.users,
        seconds: total.as_secs_f64(),
        insert_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuidv7_shaped_and_ascend() {
        let a = user_id(1);
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), authkit_core::uuid::Variant::RFC4122);
        assert_eq!(a.to_string(), "018cc251-f401-7001-8000-000000000001");
        let b = user_id(4097);
        assert!(b > a);
        assert!(user_id(1_000_000) > user_id(999_999));
    }

    #[test]
    fn session_ids_and_tokens() {
        let a = session_id(1);
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.to_string(), "01941a03-2001-7001-8000-000000000001");
        assert!(session_id(2) > a);
        assert_ne!(a, user_id(1));
        let token = session_token(7);
        assert_eq!(token.len(), 64);
        assert_eq!(RefreshSelector::of(&token), Some(session_selector(7)));
        assert_ne!(session_selector(7), session_selector(8));
        assert_ne!(token, session_token(8));
        assert_eq!(spread(1, 10, 5).collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
        assert_eq!(spread(4, 6, 10).collect::<Vec<_>>(), [4, 5, 6]);
        assert_eq!(spread(501, 1000, 500).count(), 500);
        let hashes = session_hashes(7, 9);
        assert_eq!(hashes.len(), 96);
        assert_eq!(&hashes[..32], TokenHash::of(&token).as_bytes());
        let selectors = session_selectors(7, 9);
        assert_eq!(selectors.len(), 48);
        assert_eq!(&selectors[..16], session_selector(7).as_bytes());
    }

    #[test]
    fn chunks_cover_every_user_once() {
        let c: Vec<_> = chunks(250_001).collect();
        assert_eq!(c, [(1, 100_000), (100_001, 200_000), (200_001, 250_001)]);
        assert_eq!(chunks(1).collect::<Vec<_>>(), [(1, 1)]);
        assert_eq!(chunks(100_000).count(), 1);
    }
}
