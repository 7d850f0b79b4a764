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
    ] {
        let output = command(dir.path()).env(var, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
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
        "RUST_LOG",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}
