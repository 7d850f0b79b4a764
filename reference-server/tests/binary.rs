//! The real `authkit-server` binary: zero-configuration start in an empty directory, the auth
//! flow, graceful exit on SIGTERM/SIGINT, and configuration errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{Server, command, server_bin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_config_start_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());

    let listening = &server.stdout[0];
    assert!(
        listening.starts_with("authkit-server listening on http://127.0.0.1:"),
        "{listening}"
    );
    assert!(
        !listening.contains("127.0.0.1:0 "),
        "the real port: {listening}"
    );
    assert!(
        listening.ends_with("(database: sqlite://authkit.db)"),
        "{listening}"
    );
    assert_eq!(
        server.stdout[1],
        "emails are written to the log until AUTHKIT_SMTP_URL is set"
    );
    assert!(
        dir.path().join("authkit.db").exists(),
        "SQLite file created in the working dir"
    );

    common::check_ops(&server.base, 1).await;
    let secrets = common::auth_flow(&server.base).await;

    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        server.log_text()
    );

    let log = server.log_text();
    assert!(log.contains("SIGTERM"), "shutdown is logged:\n{log}");
    assert!(
        !log.contains(common::PASSWORD),
        "a password reached the log:\n{log}"
    );
    for token in secrets.access_tokens.iter().chain(&secrets.refresh_tokens) {
        assert!(
            !log.contains(token.as_str()),
            "a token reached the log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.signal("INT");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        server.log_text()
    );
}

#[test]
fn a_short_jwt_secret_stops_the_binary_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path())
        .env("AUTHKIT_BIND", "127.0.0.1:0")
        .env("AUTHKIT_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTHKIT_JWT_SECRET"), "{stderr}");
    assert!(stderr.contains("32"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret is not echoed: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("authkit.db").exists(), "nothing started");
}

#[test]
fn bad_values_stop_the_binary_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("AUTHKIT_BIND", "not-an-address"),
        ("AUTHKIT_REQUIRE_VERIFIED_EMAIL", "maybe"),
        ("AUTHKIT_DATABASE_URL", "mysql://localhost/x"),
        ("AUTHKIT_CORS_ORIGINS", "*"),
        ("AUTHKIT_TRUSTED_PROXIES", "proxy.internal"),
        ("AUTHKIT_RATE_LIMIT_STORE", "redis"),
        ("AUTHKIT_ARGON2_MEMORY_KIB", "4096"),
    ] {
        let output = command(dir.path()).env(var, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
    // A short pepper: named, never echoed.
    let pepper = "aHVudGVyMjItc2hvcnQ";
    let output = command(dir.path())
        .env("AUTHKIT_PASSWORD_PEPPER", pepper)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("AUTHKIT_PASSWORD_PEPPER"), "{stderr}");
    assert!(!stderr.contains(pepper), "{stderr}");
    assert!(!dir.path().join("authkit.db").exists(), "nothing started");
}

#[test]
fn check_config_prints_the_settings_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter22-hunter22-hunter22-hunter22-hunter22";
    let output = command(dir.path())
        .arg("check-config")
        .env("AUTHKIT_JWT_SECRET", secret)
        .env(
            "AUTHKIT_DATABASE_URL",
            "postgres://authkit:hunter22@db.invalid/auth",
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("configuration OK"), "{stdout}");
    assert!(
        stdout.contains("postgres://authkit:***@db.invalid/auth"),
        "{stdout}"
    );
    assert!(stdout.contains("HS256"), "{stdout}");
    assert!(!stdout.contains("hunter22"), "{stdout}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter22"));
    // PostgreSQL: counters in the database by default.
    assert!(stdout.contains("counters in the database"), "{stdout}");
}

#[test]
fn check_config_shows_pepper_ids_never_keys() {
    let dir = tempfile::tempdir().unwrap();
    // base64 of "hunter22" repeated: 32 bytes.
    let key = "aHVudGVyMjJodW50ZXIyMmh1bnRlcjIyaHVudGVyMjI=";
    let retired = "aHVudGVyMjJodW50ZXIyMmh1bnRlcjIyaHVudGVyMjJf";
    let output = command(dir.path())
        .arg("check-config")
        .env("AUTHKIT_PASSWORD_PEPPER", key)
        .env("AUTHKIT_PASSWORD_PEPPER_ID", "p2")
        .env("AUTHKIT_RETIRED_PEPPERS", format!("p1:{retired}"))
        .env("AUTHKIT_ARGON2_MEMORY_KIB", "65536")
        .env("AUTHKIT_ARGON2_ITERATIONS", "3")
        .env("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "10")
        .env("AUTHKIT_TRUSTED_PROXIES", "10.0.0.0/8")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for shown in [
        "argon2id m=65536 KiB, t=3",
        "pepper `p2`",
        "retired peppers `p1`",
        "10/min on credential routes",
        "counters in memory",
        "10.0.0.0/8",
    ] {
        assert!(stdout.contains(shown), "{shown} missing:\n{stdout}");
    }
    for secret in [key, retired, "aHVudGVy"] {
        assert!(!stdout.contains(secret), "{stdout}");
        assert!(!stderr.contains(secret), "{stderr}");
    }
}

#[test]
fn migrate_creates_and_migrates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path()).arg("migrate").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim(), "migrations applied to sqlite://authkit.db");
    assert!(dir.path().join("authkit.db").exists());
}

#[test]
fn help_documents_commands_and_variables() {
    let output = Command::new(server_bin()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for word in [
        "serve",
        "migrate",
        "check-config",
        "AUTHKIT_DATABASE_URL",
        "AUTHKIT_JWT_SECRET",
        "AUTHKIT_LOG_FORMAT",
        "AUTHKIT_RATE_LIMIT_STORE",
        "AUTHKIT_TRUSTED_PROXIES",
        "AUTHKIT_PASSWORD_PEPPER",
        "RUST_LOG",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}
