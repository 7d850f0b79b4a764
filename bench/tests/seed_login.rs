//! Seeded users are real users: seeding 20 into a SQLite file (with the default argon2id hasher,
//! one hash) lets one log in through AuthKit + SqliteStore + the default hasher, with the
//! expected id, roles and verification; a second seed is refused. Seeded sessions (SQLite, and
//! PostgreSQL when `AUTHKIT_TEST_POSTGRES_URL` is set) are real sessions: their tokens refresh
//! through AuthKit, once, as their users.
#![allow(missing_docs, reason = "an integration test")]
#![allow(
    clippy::unwrap_used,
    reason = "the helpers of an integration test fail it"
)]

use authkit_bench::seed::{
    SeedError, SeedOptions, seed, session_id, session_token, user_email, user_id,
};
use authkit_core::domain::{Email, Password, UserStatus};
use authkit_core::hashing::{Argon2Config, Argon2Hasher};
use authkit_core::jwt::JwtKeys;
use authkit_core::ports::Store;
use authkit_core::service::{LoginInput, RequestContext};
use authkit_core::testing::MemoryMailer;
use authkit_core::{AuthConfig, AuthKit};
use authkit_sqlx::sqlx::{self, Connection as _};
use authkit_sqlx::{PostgresStore, SqliteStore};
use secrecy::SecretBox;

const PASSWORD: &str = "seeded users' passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_users_log_in_with_the_default_hasher() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/seeded.db", dir.path().display());
    let options = SeedOptions {
        database_url: url.clone(),
        users: 20,
        password: PASSWORD.to_owned(),
        admin_every: Some(5),
        sessions: false,
        spent_per_session: 0,
    };
    let report = seed(&options).await.unwrap();
    assert_eq!(report.users, 20);
    assert!(report.to_json().starts_with(r#"{"users":20,"seconds":"#));

    assert!(matches!(
        seed(&options).await,
        Err(SeedError::AlreadySeeded)
    ));

    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let hasher = Argon2Hasher::new(&Argon2Config {
        workers: 1,
        ..Argon2Config::default()
    })
    .unwrap();
    let kit = AuthKit::builder(AuthConfig::default())
        .store(store)
        .mailer(MemoryMailer::new())
        .hasher(hasher)
        .keys(JwtKeys::hs256(&SecretBox::new(Box::from(&[9u8; 32][..]))).unwrap())
        .build()
        .unwrap();
    let ctx = RequestContext::default();
    let login = |i: u64, password: &str| {
        kit.login(
            &ctx,
            LoginInput {
                email: Email::parse(&user_email(i)).unwrap(),
                password: Password::new(password),
                remember_me: false,
            },
        )
    };

    let pair = login(10, PASSWORD).await.unwrap();
    let user = &pair.user;
    assert_eq!(user.id.as_uuid(), user_id(10));
    assert_eq!(user.email.as_str(), "user10@bench.test");
    assert!(user.email_verified);
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.roles, ["admin", "user"]);
    let principal = kit.authenticate_token(&pair.access_token).await.unwrap();
    assert!(principal.has("users:read"));
    let me = kit.current_user(&principal).await.unwrap();
    assert_eq!(me.email.as_str(), "user10@bench.test");
    assert_eq!(
        me.created_at.unix_timestamp_nanos(),
        i128::from(authkit_bench::seed::EPOCH_MS + 10) * 1_000_000
    );

    let plain = login(7, PASSWORD).await.unwrap();
    assert_eq!(plain.user.roles, ["user"]);
    assert!(login(7, "not the seeded password").await.is_err());
    assert!(login(21, PASSWORD).await.is_err(), "only 20 users");
}

fn kit(store: impl Store) -> AuthKit {
    AuthKit::builder(AuthConfig::default())
        .store(store)
        .mailer(MemoryMailer::new())
        .keys(JwtKeys::hs256(&SecretBox::new(Box::from(&[9u8; 32][..]))).unwrap())
        .build()
        .unwrap()
}

/// Seeds 30 users with sessions and 2 spent hashes each into `url`, then checks that user 17's
/// seeded token refreshes, as user 17 in session 17, and is refused afterwards (reuse).
async fn seeded_sessions_refresh(url: &str) {
    let options = SeedOptions {
        database_url: url.to_owned(),
        users: 30,
        password: PASSWORD.to_owned(),
        admin_every: None,
        sessions: true,
        spent_per_session: 2,
    };
    seed(&options).await.unwrap();
    let kit = kit_on(url).await;
    let ctx = RequestContext::default();
    let pair = kit.refresh(&ctx, &session_token(17)).await.unwrap();
    assert_eq!(pair.user.id.as_uuid(), user_id(17));
    assert_eq!(pair.session_id.as_uuid(), session_id(17));
    assert_eq!(pair.user.roles, ["user"]);
    let next = kit
        .refresh(&ctx, pair.refresh_token.expose())
        .await
        .unwrap();
    // The seeded token is spent: presenting it again revokes the session (reuse detection).
    assert!(
        kit.refresh(&ctx, &session_token(17)).await.is_err(),
        "spent"
    );
    assert!(
        kit.refresh(&ctx, next.refresh_token.expose())
            .await
            .is_err(),
        "revoked"
    );
    kit.refresh(&ctx, &session_token(30)).await.unwrap();
    assert!(
        kit.refresh(&ctx, &session_token(31)).await.is_err(),
        "only 30 users"
    );
}

/// 30 sessions; 2 random spent hashes each, as seeded. The rotations add none: the seeded
/// sessions have a selector, and such a session records no spent hash (any other hash with
/// its selector is reuse).
const COUNTED: (i64, i64) = (30, 60);

async fn kit_on(url: &str) -> AuthKit {
    if url.starts_with("sqlite:") {
        kit(SqliteStore::connect(url).await.unwrap())
    } else {
        kit(PostgresStore::connect(url).await.unwrap())
    }
}

const COUNT: &str = "SELECT (SELECT count(*) FROM authkit_sessions), \
     (SELECT count(*) FROM authkit_spent_refresh_tokens)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_sessions_refresh_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sessions.db", dir.path().display());
    seeded_sessions_refresh(&url).await;
    let mut conn = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
    let counted: (i64, i64) = sqlx::query_as(COUNT).fetch_one(&mut conn).await.unwrap();
    assert_eq!(counted, COUNTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_sessions_refresh_on_postgres() {
    let Ok(server) = std::env::var("AUTHKIT_TEST_POSTGRES_URL") else {
        assert_ne!(
            std::env::var("AUTHKIT_TEST_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "AUTHKIT_TEST_REQUIRE_POSTGRES=1 but AUTHKIT_TEST_POSTGRES_URL is unset"
        );
        eprintln!("skipped: AUTHKIT_TEST_POSTGRES_URL is unset");
        return;
    };
    // A scratch database named like the other suites' (`authkit_t_<uuidv7>`), so that their
    // sweep drops it if this test fails before dropping it itself.
    let name = format!("authkit_t_{}", authkit_core::uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::postgres::PgConnection::connect(&server)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    seeded_sessions_refresh(&url).await;
    let mut conn = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
    let counted: (i64, i64) = sqlx::query_as(COUNT).fetch_one(&mut conn).await.unwrap();
    assert_eq!(counted, COUNTED);
    conn.close().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}
