//! Seeded users are real users: seeding 20 into a SQLite file (with the default argon2id hasher,
//! one hash) lets one log in through AuthKit + SqliteStore + the default hasher, with the
//! expected id, roles and verification; a second seed is refused.
#![allow(missing_docs, reason = "an integration test")]

use authkit_bench::seed::{SeedError, SeedOptions, seed, user_email, user_id};
use authkit_core::domain::{Email, Password, UserStatus};
use authkit_core::hashing::{Argon2Config, Argon2Hasher};
use authkit_core::jwt::JwtKeys;
use authkit_core::service::{LoginInput, RequestContext};
use authkit_core::testing::MemoryMailer;
use authkit_core::{AuthConfig, AuthKit};
use authkit_sqlx::SqliteStore;
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
