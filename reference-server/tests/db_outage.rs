//! The database goes down under a running server and comes back: on a PostgreSQL cluster of
//! the test's own ([`PgCluster`]), stopped and started again with the server running.
//!
//! While it is down, the routes that need it (login, register, refresh, `/users/me`) answer
//! 503 `unavailable` problem documents with `Retry-After` within the pool's acquire timeout,
//! issue no token, `/health` stays 200 and `/ready` answers 503. Once it is back, `/ready`
//! turns 200 by itself and the same server serves the accounts and tokens of before the
//! outage, and its email worker delivers again. Run with the rate-limit counters in the
//! database (PostgreSQL's default, so every API request needs it) and in memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use authkit_core::hashing::Argon2Config;
use authkit_server::ServerConfig;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

use common::pg_cluster::{PgCluster, pg_bin_or_skip};
use common::running::Running;
use common::smtp::SmtpReceiver;
use common::{PASSWORD, unique_email};

/// The pool's acquire timeout (`authkit_sqlx::ACQUIRE_TIMEOUT`, 5 s) plus a margin: a request
/// that needs the database must be answered within it, whatever the outage looks like.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// Time allowed for the server to notice the database is back.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);

const PUBLIC_URL: &str = "https://accounts.example.test";

/// A client that gives up after [`ANSWER_DEADLINE`]: a request hanging longer fails the test.
fn client() -> Client {
    Client::builder().timeout(ANSWER_DEADLINE).build().unwrap()
}

fn config(database_url: &str, smtp_url: &str, rate_limit_store: Option<&str>) -> ServerConfig {
    let mut vars = vec![
        ("AUTHKIT_DATABASE_URL", database_url),
        ("AUTHKIT_SMTP_URL", smtp_url),
        ("AUTHKIT_PUBLIC_URL", PUBLIC_URL),
        // More credential requests than the default 5 a minute, all from 127.0.0.1.
        ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "100"),
    ];
    if let Some(store) = rate_limit_store {
        vars.push(("AUTHKIT_RATE_LIMIT_STORE", store));
    }
    let mut config = ServerConfig::from_vars(vars).unwrap();
    config.argon2 = Argon2Config::insecure_fast();
    config.ready_timeout = Duration::from_millis(1500);
    config
}

/// Sends `request`, failing the test if no answer comes within [`ANSWER_DEADLINE`].
async fn send(what: &str, request: reqwest::RequestBuilder) -> Response {
    let started = Instant::now();
    match request.send().await {
        Ok(response) => {
            eprintln!("{what}: {} in {:?}", response.status(), started.elapsed());
            response
        }
        Err(e) => panic!(
            "{what}: no answer after {:?} (deadline {ANSWER_DEADLINE:?}): {e}",
            started.elapsed()
        ),
    }
}

async fn json_of(what: &str, response: Response, expected: StatusCode) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{what}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn login(base: &str, email: &str) -> Response {
    send(
        "POST /login",
        client()
            .post(format!("{base}/api/v1/login"))
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await
}

async fn register(base: &str, email: &str) -> Response {
    send(
        "POST /register",
        client()
            .post(format!("{base}/api/v1/register"))
            .json(&json!({"email": email, "password": PASSWORD})),
    )
    .await
}

async fn refresh(base: &str, refresh_token: &str) -> Response {
    send(
        "POST /refresh",
        client()
            .post(format!("{base}/api/v1/refresh"))
            .json(&json!({"refresh_token": refresh_token})),
    )
    .await
}

async fn me(base: &str, access_token: &str) -> Response {
    send(
        "GET /users/me",
        client()
            .get(format!("{base}/api/v1/users/me"))
            .bearer_auth(access_token),
    )
    .await
}

async fn status_of(base: &str, path: &str) -> StatusCode {
    send(path, client().get(format!("{base}{path}")))
        .await
        .status()
}

/// A 503 `unavailable` problem document with `Retry-After`, and no token in it or in a cookie.
async fn assert_unavailable(what: &str, response: Response) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what} with the database down: {text}"
    );
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{what}: {text}"
    );
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(problem["code"], "unavailable", "{what}: {problem}");
    assert_eq!(problem["status"], 503, "{what}: {problem}");
    let retry_after = headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("{what}: 503 without Retry-After"));
    let seconds: u64 = retry_after.to_str().unwrap().parse().unwrap();
    assert!(seconds >= 1, "{what}: Retry-After {seconds}");
    assert!(
        problem.get("access_token").is_none() && problem.get("refresh_token").is_none(),
        "{what}: a token issued with the database down: {problem}"
    );
    assert!(
        !headers.contains_key("set-cookie"),
        "{what}: a cookie set with the database down"
    );
}

/// Polls `/ready` until it answers 200, or fails after [`RECOVERY_DEADLINE`].
async fn wait_until_ready(base: &str) {
    let deadline = Instant::now() + RECOVERY_DEADLINE;
    loop {
        if status_of(base, "/ready").await == StatusCode::OK {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/ready still not 200 {RECOVERY_DEADLINE:?} after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a cluster command (`pg_ctl` waits for it) off the runtime's threads.
async fn blocking(f: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(f).await.unwrap();
}

async fn outage_and_recovery(test: &str, rate_limit_store: Option<&str>) {
    let Some(bin) = pg_bin_or_skip(test) else {
        return;
    };
    let cluster = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || PgCluster::create(bin))
            .await
            .unwrap(),
    );
    let smtp = SmtpReceiver::start().await;
    let server = Running::start(config(&cluster.url(), &smtp.url(), rate_limit_store)).await;
    let base = server.base.clone();

    // Before: an account, its tokens, its verification email.
    let email = unique_email();
    json_of(
        "POST /register",
        register(&base, &email).await,
        StatusCode::CREATED,
    )
    .await;
    smtp.wait_for_message(&email, "Verify your email", Duration::from_secs(30))
        .await;
    let tokens = json_of("POST /login", login(&base, &email).await, StatusCode::OK).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(status_of(&base, "/ready").await, StatusCode::OK);

    // PostgreSQL stops.
    let c = std::sync::Arc::clone(&cluster);
    blocking(move || c.stop()).await;

    let newcomer = unique_email();
    let (login_down, register_down, refresh_down, me_down) = tokio::join!(
        login(&base, &email),
        register(&base, &newcomer),
        refresh(&base, &refresh_token),
        me(&base, &access),
    );
    assert_unavailable("POST /login", login_down).await;
    assert_unavailable("POST /register", register_down).await;
    assert_unavailable("POST /refresh", refresh_down).await;
    assert_unavailable("GET /users/me", me_down).await;
    assert_eq!(
        status_of(&base, "/health").await,
        StatusCode::OK,
        "liveness does not depend on the database"
    );
    let ready = send("/ready", client().get(format!("{base}/ready"))).await;
    let ready = json_of("/ready", ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(ready["checks"]["database"], "unavailable");

    // PostgreSQL comes back (same data, same port); the server is not restarted.
    let c = std::sync::Arc::clone(&cluster);
    blocking(move || c.start()).await;
    wait_until_ready(&base).await;

    // The refresh token of before the outage was not spent by the refused refresh.
    let refreshed = json_of(
        "POST /refresh after the outage",
        refresh(&base, &refresh_token).await,
        StatusCode::OK,
    )
    .await;
    assert!(refreshed["access_token"].is_string());
    let me_again = json_of(
        "GET /users/me after the outage",
        me(&base, &access).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me_again["email"], email.as_str());
    // The account of before the outage logs in.
    let again = json_of(
        "POST /login after the outage",
        login(&base, &email).await,
        StatusCode::OK,
    )
    .await;
    assert!(again["access_token"].is_string());
    // The registration refused during the outage created nothing: it succeeds now, and the
    // email worker, which kept running through the outage, sends its verification email.
    json_of(
        "POST /register after the outage",
        register(&base, &newcomer).await,
        StatusCode::CREATED,
    )
    .await;
    smtp.wait_for_message(&newcomer, "Verify your email", Duration::from_secs(30))
        .await;
    assert_eq!(
        smtp.messages_to(&newcomer).len(),
        1,
        "one verification email for the newcomer"
    );

    server.shutdown().await;
    smtp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rate_limits_in_the_database_requests_get_503_and_service_resumes() {
    outage_and_recovery(
        "with_rate_limits_in_the_database_requests_get_503_and_service_resumes",
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rate_limits_in_memory_requests_get_503_and_service_resumes() {
    outage_and_recovery(
        "with_rate_limits_in_memory_requests_get_503_and_service_resumes",
        Some("memory"),
    )
    .await;
}
