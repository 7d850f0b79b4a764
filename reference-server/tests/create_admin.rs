//! `authkit-server create-admin`: no account exists by default (SECURITY.md item 8); the
//! command creates an administrator (password from `AUTHKIT_ADMIN_PASSWORD` or standard input)
//! or promotes an existing account, idempotently; weak passwords are refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use authkit_core::domain::{AdminPatch, User, UserId, UserQuery};
use authkit_core::ports::UserStore;
use authkit_sqlx::SqliteStore;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::process::{Server, command};
use common::{PASSWORD, client};

/// No rate limit, so that the tests may log in as often as they need.
const NO_LIMITS: &[(&str, &str)] = &[
    ("AUTHKIT_RATE_LIMIT_PER_MINUTE", "0"),
    ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
];

fn start(dir: &Path) -> Server {
    Server::start_with(dir, NO_LIMITS, 2)
}

/// Runs `create-admin --email <email>` in `dir` with `AUTHKIT_ADMIN_PASSWORD=<env>` when
/// given, and `stdin` written to a pipe (closed afterwards) or, when `None`, no standard input.
fn create_admin(dir: &Path, email: &str, env: Option<&str>, stdin: Option<&str>) -> Output {
    let mut command = command(dir);
    command
        .args(["create-admin", "--email", email])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = env {
        command.env("AUTHKIT_ADMIN_PASSWORD", password);
    }
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and one line on stdout starting with `prefix`; returns the user id.
fn assert_done(output: &Output, prefix: &str) -> String {
    let (out, err) = (stdout(output), stderr(output));
    assert!(
        output.status.success(),
        "status {:?}\nstdout: {out}\nstderr: {err}",
        output.status
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {out}");
    assert!(lines[0].starts_with(prefix), "{out}");
    let id = lines[0]
        .split("(id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    id.to_owned()
}

/// Every account in the SQLite database of `dir`, live and deleted.
async fn accounts(dir: &Path) -> Vec<User> {
    let url = format!("sqlite://{}", dir.join("authkit.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let mut users = Vec::new();
    for deleted in [false, true] {
        let page = store
            .list_users(&UserQuery {
                deleted,
                limit: 100,
                ..UserQuery::default()
            })
            .await
            .unwrap();
        users.extend(page.items);
    }
    users
}

async fn login(base: &str, email: &str, password: &str) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn access_token(base: &str, email: &str, password: &str) -> String {
    let (status, body) = login(base, email, password).await;
    assert_eq!(status, StatusCode::OK, "login {email}: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn admin_users(base: &str, token: &str, query: &str) -> (StatusCode, Value) {
    let response = client()
        .get(format!("{base}/api/v1/admin/users{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn emails(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_server_has_no_account_and_refuses_default_logins() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    for (email, password) in [
        ("admin", "admin"),
        ("admin@localhost", "admin"),
        ("admin@localhost.localdomain", "admin"),
        ("admin@example.com", "admin"),
        ("admin@example.com", "password"),
        ("admin@admin.com", "admin"),
        ("administrator@localhost", "administrator"),
        ("root@localhost", "root"),
        ("root@localhost", "toor"),
    ] {
        let (status, body) = login(&server.base, email, password).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{email}/{password}: {status} {body}"
        );
        assert!(body.get("access_token").is_none(), "{body}");
    }
    server.signal("TERM");
    assert!(
        server
            .wait_exit(std::time::Duration::from_secs(30))
            .success()
    );
    assert!(
        accounts(dir.path()).await.is_empty(),
        "a fresh install has no account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_from_the_environment_then_the_admin_api_answers() {
    let dir = tempfile::tempdir().unwrap();
    let email = "boss@example.com";
    let output = create_admin(dir.path(), email, Some(PASSWORD), None);
    let id = assert_done(&output, "created administrator boss@example.com (id ");
    for text in [stdout(&output), stderr(&output)] {
        assert!(!text.contains(PASSWORD), "the password was printed: {text}");
    }

    // Again, even with another password: promoted (a no-op), the password unchanged.
    let again = create_admin(
        dir.path(),
        "Boss@Example.com",
        Some("another long passphrase here"),
        None,
    );
    let same = assert_done(&again, "promoted existing account boss@example.com ");
    assert_eq!(same, id);
    assert!(stdout(&again).contains("password is unchanged"));
    let users = accounts(dir.path()).await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].roles, ["admin", "user"]);
    assert!(users[0].email_verified);

    let server = start(dir.path());
    assert_eq!(
        login(&server.base, email, "another long passphrase here")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let token = access_token(&server.base, email, PASSWORD).await;
    let (status, page) = admin_users(&server.base, &token, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(emails(&page), [email]);
    assert_eq!(page["users"][0]["id"], id.as_str());
    assert_eq!(page["next_cursor"], Value::Null);
    let (status, admins) = admin_users(&server.base, &token, "?role=admin&limit=10").await;
    assert_eq!(status, StatusCode::OK, "{admins}");
    assert_eq!(emails(&admins), [email], "still one admin");
    assert!(!server.log_text().contains(PASSWORD));
}

/// Registers `email` with [`PASSWORD`] through the API; returns the user id.
async fn register(base: &str, email: &str) -> String {
    let registered = client()
        .post(format!("{base}/api/v1/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    registered.json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Marks the email of `id` verified, in the SQLite database of `dir` (as its link would).
async fn mark_verified(dir: &Path, id: &str) {
    let url = format!("sqlite://{}", dir.join("authkit.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let patch = AdminPatch {
        email_verified: Some(true),
        ..AdminPatch::default()
    };
    let id = UserId(uuid::Uuid::parse_str(id).unwrap());
    store
        .admin_update_user(id, &patch, authkit_core::time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_promotes_a_verified_user_without_reading_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let email = "ada@example.com";
    let user_id = register(&server.base, email).await;
    mark_verified(dir.path(), &user_id).await;
    let token = access_token(&server.base, email, PASSWORD).await;
    let (status, problem) = admin_users(&server.base, &token, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

    // While the server runs; no AUTHKIT_ADMIN_PASSWORD and no standard input at all.
    let output = create_admin(dir.path(), email, None, None);
    let id = assert_done(&output, "promoted existing account ada@example.com ");
    assert_eq!(id, user_id);

    let token = access_token(&server.base, email, PASSWORD).await;
    let (status, page) = admin_users(&server.base, &token, "?role=admin").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(emails(&page), [email]);
    assert_eq!(page["users"][0]["roles"], json!(["admin", "user"]));

    // An empty standard input is just as fine for an existing account.
    let output = create_admin(dir.path(), email, None, Some(""));
    assert_done(&output, "promoted existing account ada@example.com ");
    assert_eq!(accounts(dir.path()).await.len(), 1);
}

/// An account whose email is not verified may belong to whoever registered the address first
/// (SECURITY 11): create-admin needs a password for it, which replaces the account's, and the
/// earlier sessions end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_claims_an_unverified_account_with_the_given_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let email = "ops@example.com";
    let user_id = register(&server.base, email).await;
    let (status, squatter) = login(&server.base, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{squatter}");

    let output = create_admin(dir.path(), email, None, None);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not verified"),
        "{}",
        stderr(&output)
    );
    let (status, _) = login(&server.base, email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "nothing changed");

    let operator = "the operator's own passphrase";
    let output = create_admin(dir.path(), email, Some(operator), None);
    let id = assert_done(
        &output,
        "made existing account ops@example.com administrator (id ",
    );
    assert_eq!(id, user_id);
    assert!(!stdout(&output).contains(operator));
    assert!(!stderr(&output).contains(operator));
    let users = accounts(dir.path()).await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0].roles, ["admin", "user"]);
    assert!(users[0].email_verified);

    let (status, _) = login(&server.base, email, PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the first password is gone"
    );
    let refreshed = client()
        .post(format!("{}/api/v1/refresh", server.base))
        .json(&json!({"refresh_token": squatter["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::BAD_REQUEST,
        "its session is revoked"
    );
    let token = access_token(&server.base, email, operator).await;
    let (status, page) = admin_users(&server.base, &token, "?role=admin").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(emails(&page), [email]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_reads_the_password_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let email = "piped@example.com";
    let output = create_admin(dir.path(), email, None, Some(&format!("{PASSWORD}\n")));
    assert_done(&output, "created administrator piped@example.com (id ");
    assert!(!stdout(&output).contains(PASSWORD));
    assert!(!stderr(&output).contains(PASSWORD));

    let server = start(dir.path());
    let token = access_token(&server.base, email, PASSWORD).await;
    let (status, page) = admin_users(&server.base, &token, "?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(emails(&page), [email]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_or_missing_password_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let email = "boss@example.com";
    for (env, stdin, reasons) in [
        (Some("hunter2"), None, &["too_short", "at least 15"][..]),
        (None, Some("passwordpassword\n"), &["common_password"][..]),
        (Some("boss@example.com"), None, &["context_word"][..]),
    ] {
        let output = create_admin(dir.path(), email, env, stdin);
        assert_eq!(output.status.code(), Some(2), "{env:?} {stdin:?}");
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
        let err = stderr(&output);
        assert!(err.contains("the password was refused"), "{err}");
        for reason in reasons {
            assert!(err.contains(reason), "{reason} missing: {err}");
        }
        for secret in [env, stdin.map(str::trim)].into_iter().flatten() {
            if secret != email {
                assert!(!err.contains(secret), "the password was printed: {err}");
            }
        }
        assert!(!err.contains("panicked"), "{err}");
    }

    // No password at all for a new account.
    let output = create_admin(dir.path(), email, None, None);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("AUTHKIT_ADMIN_PASSWORD"), "{err}");
    assert!(err.contains("standard input"), "{err}");

    // Not an address.
    let output = create_admin(dir.path(), "admin", Some(PASSWORD), None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--email"), "{}", stderr(&output));

    assert!(
        accounts(dir.path()).await.is_empty(),
        "a refused create-admin creates nothing"
    );
}

#[test]
fn create_admin_help_documents_the_password_variable() {
    let output = std::process::Command::new(common::process::server_bin())
        .args(["create-admin", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = stdout(&output);
    for word in [
        "--email",
        "AUTHKIT_ADMIN_PASSWORD",
        "standard input",
        "promote",
    ] {
        assert!(
            help.contains(word),
            "create-admin --help lacks {word}:\n{help}"
        );
    }
    let output = std::process::Command::new(common::process::server_bin())
        .arg("--help")
        .output()
        .unwrap();
    let help = stdout(&output);
    assert!(help.contains("create-admin"), "{help}");
    assert!(help.contains("AUTHKIT_ADMIN_PASSWORD"), "{help}");
}
