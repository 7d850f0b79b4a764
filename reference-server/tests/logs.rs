//! The real binary's logs and request ids: with `AUTHKIT_LOG_FORMAT=json` every line of the log
//! is a JSON object, every line logged while a request is handled (the request line, core's
//! audit event) carries the request's `request_id`, taken from `x-request-id` when it is sane
//! and generated otherwise, and returned on the response; no password reaches the log. Also
//! `AUTHKIT_METRICS_BIND` end to end: `/metrics` on its own listener, 404 on the main one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use authkit_server::request_id;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::client;
use common::process::Server;

/// Sent as a password and looked for in the log.
const SECRET_PASSWORD: &str = "a wrong but secret password 9f3c";

/// The log's lines, each parsed as JSON (a line that is not JSON fails the test).
fn log_lines(server: &Server) -> Vec<Value> {
    server
        .log_text()
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

/// Polls the log until `found` holds for its lines (the log is written by another process).
fn wait_for_log(server: &Server, what: &str, found: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = log_lines(server);
        if found(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never logged:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The lines of the request `id`.
fn lines_of<'a>(lines: &'a [Value], id: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["request_id"] == id).collect()
}

/// The request line (`message` "request") of a request to `path` among `lines`.
fn has_request_line(lines: &[&Value], path: &str, status: u16) -> bool {
    lines
        .iter()
        .any(|l| l["message"] == "request" && l["path"] == path && l["status"] == status)
}

fn has_audit_line(lines: &[&Value], event: &str) -> bool {
    lines
        .iter()
        .any(|l| l["target"] == "authkit::audit" && l["event"] == event)
}

async fn failed_login(base: &str, request_id: Option<&str>) -> String {
    let mut request = client()
        .post(format!("{base}/api/v1/login"))
        .json(&json!({"email": "nobody@example.com", "password": SECRET_PASSWORD}));
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A generated id: a UUIDv7.
fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
    assert!(request_id::is_acceptable(id.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_of_every_line_of_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        &[
            ("AUTHKIT_LOG_FORMAT", "json"),
            ("AUTHKIT_DATABASE_URL", "sqlite://logs-test.db"),
            ("AUTHKIT_METRICS_BIND", "127.0.0.1:0"),
            // The cheapest parameters the server accepts: the hashes run in a debug build.
            ("AUTHKIT_ARGON2_MEMORY_KIB", "7168"),
            ("AUTHKIT_ARGON2_ITERATIONS", "5"),
        ],
        2,
    );
    assert!(dir.path().join("logs-test.db").exists());

    // An id the client chose is kept, on the response and on every line of the request.
    let echoed = failed_login(&server.base, Some("test-123")).await;
    assert_eq!(echoed, "test-123");
    // No id: one is made.
    let generated = failed_login(&server.base, None).await;
    assert_generated(&generated);
    assert_ne!(generated, "test-123");
    // An unacceptable id (too long) is replaced.
    let too_long = "x".repeat(300);
    let response = client()
        .get(format!("{}/api/v1/users/me", server.base))
        .header("x-request-id", &too_long)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let replaced = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_generated(&replaced);
    // Error answers outside the API routes carry one too.
    let not_found = client()
        .get(format!("{}/no/such/path", server.base))
        .header("x-request-id", "test-404")
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    assert_eq!(not_found.headers()["x-request-id"], "test-404");

    let lines = wait_for_log(&server, "the three requests", |lines| {
        let lines: Vec<&Value> = lines.iter().collect();
        has_request_line(&lines, "/api/v1/users/me", 401)
            && lines
                .iter()
                .filter(|l| l["message"] == "request" && l["path"] == "/api/v1/login")
                .count()
                == 2
    });
    for id in ["test-123", generated.as_str()] {
        let of_request = lines_of(&lines, id);
        assert!(
            has_request_line(&of_request, "/api/v1/login", 401),
            "request line of {id}: {of_request:?}"
        );
        assert!(
            has_audit_line(&of_request, "login_failed"),
            "audit line of {id}: {of_request:?}"
        );
    }
    assert!(has_request_line(
        &lines_of(&lines, &replaced),
        "/api/v1/users/me",
        401
    ));
    // Every request line and audit event was logged inside a request.
    for line in &lines {
        if line["message"] == "request" || line["target"] == "authkit::audit" {
            assert!(
                line["request_id"].is_string(),
                "a line of a request without its id: {line}"
            );
        }
    }
    let log = server.log_text();
    assert!(!log.contains(&too_long), "the refused id reached the log");
    assert!(!log.contains(SECRET_PASSWORD), "a password reached the log");

    // AUTHKIT_METRICS_BIND: the address is logged; /metrics is served there, not on the main
    // listener.
    let lines = wait_for_log(&server, "the metrics listener", |lines| {
        lines
            .iter()
            .any(|l| l["address"].is_string() && is_metrics_line(l))
    });
    let address = lines
        .iter()
        .find(|l| is_metrics_line(l))
        .map(|l| l["address"].as_str().unwrap().to_owned())
        .unwrap();
    let metrics = client()
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    // (tests/metrics.rs checks the values.)
    for family in ["authkit_build_info{", "authkit_http_requests_total{"] {
        assert!(text.lines().any(|l| l.starts_with(family)), "{text}");
    }
    let main = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);

    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}:\n{}", server.log_text());
}

fn is_metrics_line(line: &Value) -> bool {
    line["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("metrics listening"))
}
