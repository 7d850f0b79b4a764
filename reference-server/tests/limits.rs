//! Abuse limits and hardening through `build_app` + `serve` on 127.0.0.1:0: per-IP rate limits
//! (429 with `Retry-After`; the operational routes stay open), trusted proxies, counters in
//! memory or in the database (shared by two instances on one SQLite file, and with
//! AUTHKIT_TEST_POSTGRES_URL on one PostgreSQL database), CORS origins, security headers on
//! every response, peppers end to end, and the connection limits: slow headers, oversized
//! headers and trickled bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use authkit_core::domain::Email;
use authkit_core::hashing::Argon2Config;
use authkit_server::ServerConfig;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::postgres::{TestDb, postgres_admin_url};
use common::running::Running;
use common::{PASSWORD, client, unique_email};

/// The settings `vars` give on `database_url`, with a fast hasher (peppers kept).
fn config(database_url: &str, vars: &[(&str, &str)]) -> ServerConfig {
    let mut all = vec![("AUTHKIT_DATABASE_URL", database_url)];
    all.extend_from_slice(vars);
    let mut config = ServerConfig::from_vars(all).unwrap();
    config.argon2 = Argon2Config {
        pepper: config.argon2.pepper.take(),
        retired_peppers: std::mem::take(&mut config.argon2.retired_peppers),
        ..Argon2Config::insecure_fast()
    };
    config
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("authkit.db").display())
}

/// `POST /api/v1/login` for an address without an account (401 until limited), with an
/// optional `X-Forwarded-For`.
async fn login_attempt(base: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": "nobody@example.com", "password": PASSWORD}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

/// Asserts a 429 `rate_limited` problem with a whole number of seconds in `Retry-After`.
async fn assert_limited(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{what}: {retry_after}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited", "{what}: {problem}");
}

async fn status_of(response: reqwest::Response) -> StatusCode {
    response.status()
}

#[tokio::test]
async fn the_credential_limit_answers_429_with_retry_after_and_health_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(
        &sqlite_url(&dir),
        &[("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "3")],
    ))
    .await;
    for n in 1..=3 {
        let status = status_of(login_attempt(&server.base, None).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "login {n}");
    }
    assert_limited(login_attempt(&server.base, None).await, "login 4").await;
    // Every credential route shares the bucket...
    let register = client()
        .post(format!("{}/api/v1/register", server.base))
        .json(&json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_limited(register, "register after 3 logins").await;
    // ...other API routes and the operational routes do not.
    let me = client()
        .get(format!("{}/api/v1/users/me", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    for path in ["/health", "/ready", "/.well-known/jwks.json"] {
        let response = client()
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_per_ip_limit_covers_every_api_route_but_not_the_operational_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(
        &sqlite_url(&dir),
        &[
            ("AUTHKIT_RATE_LIMIT_PER_MINUTE", "4"),
            ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
        ],
    ))
    .await;
    let me = || {
        client()
            .get(format!("{}/api/v1/users/me", server.base))
            .send()
    };
    for n in 1..=4 {
        assert_eq!(
            me().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{n}"
        );
    }
    assert_limited(me().await.unwrap(), "GET /users/me 5").await;
    assert_limited(login_attempt(&server.base, None).await, "login").await;
    for _ in 0..10 {
        let health = reqwest::get(format!("{}/health", server.base))
            .await
            .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn zero_turns_the_limits_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(
        &sqlite_url(&dir),
        &[
            ("AUTHKIT_RATE_LIMIT_PER_MINUTE", "0"),
            ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("AUTHKIT_LOGIN_THROTTLE_FAILURES", "0"),
        ],
    ))
    .await;
    for n in 1..=15 {
        let status = status_of(login_attempt(&server.base, None).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "login {n}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_login_throttle_delays_an_account_after_its_free_failures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(
        &sqlite_url(&dir),
        &[
            ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
            ("AUTHKIT_LOGIN_THROTTLE_FAILURES", "2"),
        ],
    ))
    .await;
    for n in 1..=2 {
        let status = status_of(login_attempt(&server.base, None).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {n}");
    }
    assert_limited(login_attempt(&server.base, None).await, "third attempt").await;
    // Another account is not affected.
    let other = client()
        .post(format!("{}/api/v1/login", server.base))
        .json(&json!({"email": unique_email(), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    server.shutdown().await;
}

#[tokio::test]
async fn trusted_proxies_key_the_limits_on_the_forwarded_client() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let limits = [("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "1")];

    // Behind a trusted proxy (the test client at 127.0.0.1), each forwarded client counts alone.
    let mut vars = limits.to_vec();
    vars.push(("AUTHKIT_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"));
    let proxied = Running::start(config(&url, &vars)).await;
    let first = Some("203.0.113.1");
    let second = Some("203.0.113.2");
    assert_eq!(
        login_attempt(&proxied.base, first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_limited(login_attempt(&proxied.base, first).await, "same client").await;
    assert_eq!(
        login_attempt(&proxied.base, second).await.status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the proxy has its own bucket"
    );
    proxied.shutdown().await;

    // Without it, X-Forwarded-For is ignored: a client cannot pick a fresh address.
    let direct = Running::start(config(&url, &limits)).await;
    assert_eq!(
        login_attempt(&direct.base, first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_limited(login_attempt(&direct.base, second).await, "spoofed header").await;
    direct.shutdown().await;
}

/// Three logins on `a`, then the fourth on `b`: its status.
async fn fourth_login_on_the_other_instance(a: &Running, b: &Running) -> reqwest::Response {
    for n in 1..=3 {
        let status = status_of(login_attempt(&a.base, None).await).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "login {n} on the first instance"
        );
    }
    login_attempt(&b.base, None).await
}

#[tokio::test]
async fn the_database_store_on_sqlite_enforces_and_shares_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let vars = [
        ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "3"),
        ("AUTHKIT_RATE_LIMIT_STORE", "database"),
    ];
    let a = Running::start(config(&url, &vars)).await;
    let b = Running::start(config(&url, &vars)).await;
    assert_limited(
        fourth_login_on_the_other_instance(&a, &b).await,
        "4th login, on the other instance",
    )
    .await;
    assert_limited(login_attempt(&a.base, None).await, "5th login").await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn the_memory_store_counts_per_instance() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let vars = [("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "3")];
    let a = Running::start(config(&url, &vars)).await;
    let b = Running::start(config(&url, &vars)).await;
    let fourth = fourth_login_on_the_other_instance(&a, &b).await;
    assert_eq!(
        fourth.status(),
        StatusCode::UNAUTHORIZED,
        "memory is per instance"
    );
    assert_limited(login_attempt(&a.base, None).await, "4th login on the first").await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_database_share_the_limit() {
    let Some(admin) = postgres_admin_url("two_instances_on_one_postgres_database_share_the_limit")
    else {
        return;
    };
    let db = TestDb::create(&admin).await;
    // No AUTHKIT_RATE_LIMIT_STORE: the database is the default on PostgreSQL.
    let vars = [("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "3")];
    let a = Running::start(config(&db.url, &vars)).await;
    let b = Running::start(config(&db.url, &vars)).await;
    assert_limited(
        fourth_login_on_the_other_instance(&a, &b).await,
        "4th login, on the other instance",
    )
    .await;
    a.shutdown().await;
    b.shutdown().await;
    db.drop_db().await;
}

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "frame-ancestors 'none'"),
];

/// Sends `method path` and checks the security headers, `Cache-Control` and HSTS.
async fn check_headers(base: &str, method: Method, path: &str, status: StatusCode, hsts: bool) {
    let response = client()
        .request(method.clone(), format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    let what = format!("{method} {path}");
    assert_eq!(response.status(), status, "{what}");
    let headers = response.headers();
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{what}: {name}"
        );
    }
    let cache = headers["cache-control"].to_str().unwrap();
    if path == "/.well-known/jwks.json" {
        assert_eq!(
            cache, "public, max-age=300",
            "the route's own value is kept"
        );
    } else {
        assert_eq!(cache, "no-store", "{what}");
    }
    assert_eq!(
        headers
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap()),
        hsts.then_some("max-age=31536000"),
        "{what}: HSTS"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    for (public_url, hsts) in [
        ("http://localhost:8080", false),
        ("https://auth.example.com", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = Running::start(config(
            &sqlite_url(&dir),
            &[("AUTHKIT_PUBLIC_URL", public_url)],
        ))
        .await;
        let base = server.base.as_str();
        for (method, path, status) in [
            (Method::GET, "/health", StatusCode::OK),
            (Method::GET, "/ready", StatusCode::OK),
            (Method::GET, "/.well-known/jwks.json", StatusCode::OK),
            (Method::GET, "/nope", StatusCode::NOT_FOUND),
            (Method::GET, "/api/v1/nope", StatusCode::NOT_FOUND),
            (Method::POST, "/health", StatusCode::METHOD_NOT_ALLOWED),
            (Method::GET, "/api/v1/users/me", StatusCode::UNAUTHORIZED),
        ] {
            check_headers(base, method, path, status, hsts).await;
        }
        server.shutdown().await;
    }
}

#[tokio::test]
async fn cors_origins_reach_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(
        &sqlite_url(&dir),
        &[(
            "AUTHKIT_CORS_ORIGINS",
            "https://app.example.com, http://localhost:3000",
        )],
    ))
    .await;
    let preflight = |origin: &'static str| {
        client()
            .request(Method::OPTIONS, format!("{}/api/v1/login", server.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for origin in ["https://app.example.com", "http://localhost:3000"] {
        let response = preflight(origin).await.unwrap();
        assert!(response.status().is_success(), "{origin}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            origin,
            "{origin}"
        );
        assert_eq!(
            response.headers()["access-control-allow-credentials"],
            "true"
        );
    }
    let other = preflight("https://evil.example.net").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        other.headers()
    );
    server.shutdown().await;
}

/// The stored PHC hash of `email`'s password.
async fn stored_hash(server: &Running, email: &str) -> String {
    let credentials = server
        .app
        .kit()
        .store()
        .credentials_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    credentials.password_hash.expose().to_owned()
}

async fn login_status(base: &str, email: &str) -> StatusCode {
    client()
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

/// `keyid=` of a PHC string naming the pepper `id`.
fn keyid(id: &str) -> String {
    format!(
        "keyid={}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(id)
    )
}

#[tokio::test]
async fn peppers_protect_hashes_and_rotate_at_login() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let first = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let second = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8; 48]);
    let register = |base: String, email: String| async move {
        let registered = client()
            .post(format!("{base}/api/v1/register"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
    };
    let earlier = unique_email();
    let email = unique_email();

    // An account from before any pepper.
    let server = Running::start(config(&url, &[])).await;
    register(server.base.clone(), earlier.clone()).await;
    assert!(!stored_hash(&server, &earlier).await.contains("keyid="));
    server.shutdown().await;

    // With the pepper `p1` (the default id): new hashes use it, and the earlier account's hash
    // moves to it at login.
    let server = Running::start(config(&url, &[("AUTHKIT_PASSWORD_PEPPER", &first)])).await;
    register(server.base.clone(), email.clone()).await;
    assert_eq!(login_status(&server.base, &email).await, StatusCode::OK);
    let hash = stored_hash(&server, &email).await;
    assert!(hash.contains(&keyid("p1")), "{hash}");
    assert_eq!(login_status(&server.base, &earlier).await, StatusCode::OK);
    let hash = stored_hash(&server, &earlier).await;
    assert!(
        hash.contains(&keyid("p1")),
        "rehashed with the pepper: {hash}"
    );
    server.shutdown().await;

    // The database alone is not enough: without the pepper the password does not verify.
    let server = Running::start(config(&url, &[])).await;
    assert_eq!(
        login_status(&server.base, &email).await,
        StatusCode::UNAUTHORIZED
    );
    server.shutdown().await;

    // Rotation: a new pepper `p2`, `p1` retired. The login verifies with `p1` and rehashes
    // with `p2`.
    let retired = format!("p1:{first}");
    let server = Running::start(config(
        &url,
        &[
            ("AUTHKIT_PASSWORD_PEPPER", &second),
            ("AUTHKIT_PASSWORD_PEPPER_ID", "p2"),
            ("AUTHKIT_RETIRED_PEPPERS", &retired),
        ],
    ))
    .await;
    assert_eq!(login_status(&server.base, &email).await, StatusCode::OK);
    let hash = stored_hash(&server, &email).await;
    assert!(
        hash.contains(&keyid("p2")),
        "rehashed with the new pepper: {hash}"
    );
    server.shutdown().await;

    // `p1` can now go: the account only needs `p2`.
    let server = Running::start(config(
        &url,
        &[
            ("AUTHKIT_PASSWORD_PEPPER", &second),
            ("AUTHKIT_PASSWORD_PEPPER_ID", "p2"),
        ],
    ))
    .await;
    assert_eq!(login_status(&server.base, &email).await, StatusCode::OK);
    server.shutdown().await;
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn slow_or_idle_connections_are_closed_and_shutdown_does_not_wait_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sqlite_url(&dir), &[]);
    config.header_read_timeout = Duration::from_millis(500);
    let server = Running::start(config).await;
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();

    // Headers never finished.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(10))
        .await
        .expect("the server closes a connection whose headers never end");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!answer.contains("200 OK"), "{answer}");

    // Nothing sent at all.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    read_until_closed(&mut idle, Duration::from_secs(10))
        .await
        .expect("the server closes an idle connection");

    // The server still serves.
    assert_eq!(
        reqwest::get(format!("{}/health", server.base))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // A keep-alive connection is closed once idle for as long.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut kept, Duration::from_secs(10))
        .await
        .expect("the server closes an idle keep-alive connection");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A keep-alive connection left idle does not hold up the shutdown.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(&sqlite_url(&dir), &[])).await;
    // Over core's 16 KiB on an API route: its problem document.
    let response = client()
        .get(format!("{}/api/v1/users/me", server.base))
        .header("x-padding", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Over the connection's 64 KiB cap on any route: 431 and the connection closes.
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "a".repeat(authkit_server::app::MAX_REQUEST_HEAD_BYTES)
    );
    // The server may close before reading everything.
    let _ = stream.write_all(head.as_bytes()).await;
    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_trickled_body_is_answered_503_after_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sqlite_url(&dir), &[]);
    config.request_timeout = Duration::from_millis(200);
    let deadline = config.request_timeout + authkit_server::app::BODY_READ_ALLOWANCE;
    let server = Running::start(config).await;
    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/v1/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(deadline + Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );
    assert!(
        elapsed >= deadline - Duration::from_millis(100),
        "{elapsed:?}"
    );
    server.shutdown().await;
}
