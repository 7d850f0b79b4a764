//! Key rotation while serving: `rotate-keys` (the binary and the library function) adds a key,
//! running instances reload it without a restart, publish it in the JWKS at once, sign with it
//! after the activation delay, and keep accepting the tokens of the previous key; a second
//! instance on the same database follows. The time-dependent retirement of old keys is proven
//! by authkit-core's unit tests with explicit times (`jwt::keys::tests`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use authkit_core::hashing::Argon2Config;
use authkit_core::ports::KeyStore;
use authkit_server::config::DatabaseUrl;
use authkit_server::keys::{first_key_kid, rotate_keys};
use authkit_server::{ServerConfig, ServerError};
use base64::Engine;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use common::postgres::{TestDb, postgres_admin_url};
use common::process::command;
use common::running::Running;

/// Test settings: a fast hasher, no per-IP limit on the credential routes (the tests log in
/// many times), and keys reloaded every 100 ms.
fn config(database_url: &str) -> ServerConfig {
    ServerConfig {
        database_url: DatabaseUrl::parse(database_url).unwrap(),
        argon2: Argon2Config::insecure_fast(),
        rate_limit_auth_per_minute: 0,
        key_reload_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

/// The same, with keys that sign as soon as they exist.
fn config_without_delay(database_url: &str) -> ServerConfig {
    ServerConfig {
        key_activation_delay: Duration::ZERO,
        ..config(database_url)
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("authkit.db").display())
}

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The `kid`s of the JWKS, in its order.
async fn jwks_kids(base: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the JWKS (up to 30 s) until it shows `count` keys; returns their `kid`s.
async fn wait_for_keys(base: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let kids = jwks_kids(base).await;
        if kids.len() == count {
            return kids;
        }
        assert!(
            Instant::now() < deadline,
            "{base}: the JWKS still shows {kids:?}, not {count} keys"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers a new account on `base` and logs in: the access token.
async fn login(base: &str) -> String {
    let client = common::client();
    let email = common::unique_email();
    let credentials = json!({"email": email, "password": common::PASSWORD});
    let response = client
        .post(format!("{base}/api/v1/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = client
        .post(format!("{base}/api/v1/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// `GET /users/me` with `token`: the status.
async fn me(base: &str, token: &str) -> StatusCode {
    common::client()
        .get(format!("{base}/api/v1/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_keys_publishes_the_new_key_at_once_and_signs_only_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let server = Running::start(config(&url)).await;
    let first = first_key_kid(&ServerConfig::default().issuer);
    assert_eq!(jwks_kids(&server.base).await, std::slice::from_ref(&first));
    let before = login(&server.base).await;
    assert_eq!(kid_of(&before), first);

    // The binary, on the same database.
    let output = command(dir.path())
        .arg("rotate-keys")
        .env("AUTHKIT_DATABASE_URL", &url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "what was added, then one line per key:\n{stdout}"
    );
    let added = lines[0]
        .strip_prefix("added signing key ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    assert!(
        lines[0].contains("; running instances publish it within 60 s and sign with it from 20"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!("  {added}: published, signs from 20"))
            && lines[1].ends_with('Z'),
        "{stdout}"
    );
    assert_eq!(lines[2], format!("  {first}: signing"), "{stdout}");

    // One reload later: both published, newest first; tokens still carry the old kid.
    assert_eq!(
        wait_for_keys(&server.base, 2).await,
        [added.clone(), first.clone()]
    );
    let after = login(&server.base).await;
    assert_eq!(kid_of(&after), first, "the new key waits for the delay");
    assert_eq!(me(&server.base, &before).await, StatusCode::OK);
    assert_eq!(me(&server.base, &after).await, StatusCode::OK);
    server.shutdown().await;

    // A restart reads the same schedule.
    let again = Running::start(config(&url)).await;
    assert_eq!(jwks_kids(&again.base).await, [added, first.clone()]);
    assert_eq!(kid_of(&login(&again.base).await), first);
    assert_eq!(me(&again.base, &before).await, StatusCode::OK);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_activation_delay_the_next_token_carries_the_new_kid() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let config = config_without_delay(&url);
    let server = Running::start(config.clone()).await;
    let before = login(&server.base).await;
    let first = kid_of(&before);

    let lines = rotate_keys(&config).await.unwrap();
    let added = lines[0]
        .strip_prefix("added signing key ")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    assert_ne!(added, first);
    assert!(
        lines[0].ends_with("; running instances sign with it within 100 ms"),
        "{lines:?}"
    );
    assert_eq!(lines[1], format!("  {added}: signing"), "{lines:?}");
    assert!(
        lines[2].starts_with(&format!("  {first}: verifying until 20")),
        "{lines:?}"
    );

    assert_eq!(
        wait_for_keys(&server.base, 2).await,
        [added.clone(), first.clone()],
        "the old key stays published"
    );
    let after = login(&server.base).await;
    assert_eq!(kid_of(&after), added, "signed with the new key");
    assert_eq!(
        me(&server.base, &before).await,
        StatusCode::OK,
        "a token of the old key, signed before the rotation, is still accepted"
    );
    assert_eq!(me(&server.base, &after).await, StatusCode::OK);
    server.shutdown().await;
}

/// A second instance on the same database: PostgreSQL when configured, else the same SQLite
/// file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_database_accepts_the_first_ones_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let pg = match postgres_admin_url("a_second_instance_on_the_same_database") {
        Some(admin) => Some(TestDb::create(&admin).await),
        None => None,
    };
    let url = pg
        .as_ref()
        .map_or_else(|| sqlite_url(&dir), |db| db.url.clone());
    let config = config_without_delay(&url);
    let a = Running::start(config.clone()).await;
    let b = Running::start(config.clone()).await;
    let old = login(&a.base).await;
    assert_eq!(me(&b.base, &old).await, StatusCode::OK);

    let lines = rotate_keys(&config).await.unwrap();
    let added = lines[0]
        .strip_prefix("added signing key ")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    // Both reload, without a restart.
    let kids_a = wait_for_keys(&a.base, 2).await;
    let kids_b = wait_for_keys(&b.base, 2).await;
    assert_eq!(kids_a, kids_b);
    assert_eq!(kids_a[0], added);

    let from_a = login(&a.base).await;
    let from_b = login(&b.base).await;
    assert_eq!(kid_of(&from_a), added);
    assert_eq!(kid_of(&from_b), added);
    for token in [&old, &from_a, &from_b] {
        assert_eq!(me(&a.base, token).await, StatusCode::OK);
        assert_eq!(me(&b.base, token).await, StatusCode::OK);
    }
    a.shutdown().await;
    b.shutdown().await;
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotations_at_once_add_two_distinct_keys() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let migrate = command(dir.path())
        .arg("migrate")
        .env("AUTHKIT_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(migrate.status.success());
    let spawn = || {
        command(dir.path())
            .arg("rotate-keys")
            .env("AUTHKIT_DATABASE_URL", &url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let mut added = Vec::new();
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let kid = stdout
            .strip_prefix("added signing key ")
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        added.push(kid);
    }
    assert_ne!(added[0], added[1]);
    let store = authkit_sqlx::SqliteStore::connect(&url).await.unwrap();
    let mut stored: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    stored.sort();
    added.sort();
    assert_eq!(stored, added, "both stored, nothing else");
}

#[test]
fn rotate_keys_with_an_hs256_secret_refuses_and_says_how_to_rotate_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter22-hunter22-hunter22-hunter22-hunter22";
    let output = command(dir.path())
        .arg("rotate-keys")
        .env("AUTHKIT_JWT_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for word in ["AUTHKIT_JWT_SECRET", "restart", "openssl rand", "Ed25519"] {
        assert!(stderr.contains(word), "{word}: {stderr}");
    }
    assert!(!stderr.contains("hunter22"), "{stderr}");
    assert!(!dir.path().join("authkit.db").exists(), "nothing opened");
    assert!(matches!(
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(rotate_keys(&ServerConfig {
                jwt_secret: Some(SecretString::from(secret)),
                ..ServerConfig::default()
            })),
        Err(ServerError::RotateHs256)
    ));
}
