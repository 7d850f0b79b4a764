//! `/metrics` through `build_app` + `serve` on 127.0.0.1:0: the counters, histograms and gauges
//! move when requests are made, on SQLite and (with AUTHKIT_TEST_POSTGRES_URL) PostgreSQL, and
//! `AUTHKIT_METRICS_BIND` moves `/metrics` to a listener of its own.
//!
//! The Prometheus recorder is process-wide, so the tests take turns ([`TURN`]) and compare a
//! scrape after their requests with one before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use authkit_core::hashing::Argon2Config;
use authkit_server::ServerConfig;
use authkit_server::app::serve_with_metrics;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use common::postgres::{TestDb, postgres_admin_url};
use common::running::Running;
use common::{PASSWORD, client, unique_email};

/// One test at a time reads the shared recorder.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape.
#[derive(Debug)]
struct Scrape(Vec<Sample>);

impl Scrape {
    /// Parses the text format: `# ...` lines are comments, every other non-empty line is
    /// `name{label="value",...} value` (labels optional; values escape `\\`, `\"` and `\n`).
    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|line| Self::sample(line).unwrap_or_else(|| panic!("bad sample line: {line}")))
            .collect();
        Self(samples)
    }

    fn sample(line: &str) -> Option<Sample> {
        let name_end = line.find(['{', ' '])?;
        let name = line[..name_end].to_owned();
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            rest = inner;
            loop {
                rest = rest.trim_start_matches(',');
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (key, quoted) = rest.split_once("=\"")?;
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let end = loop {
                    match chars.next()? {
                        (i, '"') => break i,
                        (_, '\\') => match chars.next()?.1 {
                            'n' => value.push('\n'),
                            escaped => value.push(escaped),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.insert(key.to_owned(), value);
                rest = &quoted[end + 1..];
            }
        }
        let value = match rest.split_whitespace().next()? {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().ok()?,
        };
        Some(Sample {
            name,
            labels,
            value,
        })
    }

    /// The sample `name` with exactly `labels`; 0 when absent (a counter not yet incremented).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).map_or(0.0, |s| s.value)
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0.iter().find(|s| s.name == name && s.labels == wanted)
    }

    /// The sum of every `name` sample whatever its labels.
    fn sum(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }
}

#[test]
fn the_parser_reads_labels_escapes_and_special_values() {
    let scrape = Scrape::parse(
        "# HELP x a metric\n# TYPE x counter\nx{a=\"1\",b=\"q\\\"uo\\\\te\\n,}\"} 3\n\
         y 1.5\nz_bucket{le=\"+Inf\"} 7\n\n",
    );
    assert_eq!(
        scrape.value("x", &[("a", "1"), ("b", "q\"uo\\te\n,}")]),
        3.0
    );
    assert_eq!(scrape.value("y", &[]), 1.5);
    assert_eq!(scrape.value("z_bucket", &[("le", "+Inf")]), 7.0);
    assert_eq!(
        scrape.value("x", &[("a", "1")]),
        0.0,
        "labels match exactly"
    );
    assert_eq!(scrape.0.len(), 3);
}

/// Test settings on `database_url`: a fast hasher, `X-Forwarded-For` believed from 127.0.0.1
/// (so that each test client can be its own address), small limits.
fn config(database_url: &str) -> ServerConfig {
    let mut config = ServerConfig::from_vars([
        ("AUTHKIT_DATABASE_URL", database_url),
        ("AUTHKIT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("AUTHKIT_RATE_LIMIT_PER_MINUTE", "30"),
        ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "10"),
        ("AUTHKIT_LOGIN_THROTTLE_FAILURES", "2"),
    ])
    .unwrap();
    config.argon2 = Argon2Config::insecure_fast();
    config.ready_timeout = Duration::from_secs(2);
    config
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("authkit.db").display())
}

async fn scrape(url: &str) -> Scrape {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    assert!(response.headers().contains_key("x-request-id"));
    Scrape::parse(&response.text().await.unwrap())
}

async fn post(base: &str, path: &str, body: Value, client_ip: Option<&str>) -> reqwest::Response {
    let mut request = client().post(format!("{base}/api/v1{path}")).json(&body);
    if let Some(ip) = client_ip {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

async fn expect(response: reqwest::Response, status: StatusCode, what: &str) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Requests of every kind, then the scrape's differences with the one before.
async fn metrics_move(base: &str, max_connections: f64) {
    let before = scrape(&format!("{base}/metrics")).await;
    let email = unique_email();
    let credentials = json!({"email": email, "password": PASSWORD});

    // Register, log in (ok, wrong password), refresh (ok, then the spent token again).
    expect(
        post(base, "/register", credentials.clone(), None).await,
        StatusCode::CREATED,
        "register",
    )
    .await;
    let pair = expect(
        post(base, "/login", credentials.clone(), None).await,
        StatusCode::OK,
        "login",
    )
    .await;
    let wrong = json!({"email": email, "password": "not the right password"});
    expect(
        post(base, "/login", wrong, None).await,
        StatusCode::UNAUTHORIZED,
        "wrong password",
    )
    .await;
    let refresh = json!({"refresh_token": pair["refresh_token"]});
    let refreshed = expect(
        post(base, "/refresh", refresh.clone(), None).await,
        StatusCode::OK,
        "refresh",
    )
    .await;
    expect(
        post(base, "/refresh", refresh, None).await,
        StatusCode::BAD_REQUEST,
        "refresh token reused",
    )
    .await;
    // A route with a path parameter: counted under its template, not its path (401: the reuse
    // revoked the session).
    let session = "0190d2c4-7a1b-7c3d-8e4f-123456789abc";
    let response = client()
        .delete(format!("{base}/api/v1/users/me/sessions/{session}"))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The per-account throttle (2 free failures) on an address without an account.
    let nobody = json!({"email": unique_email(), "password": PASSWORD});
    for n in 1..=2 {
        expect(
            post(base, "/login", nobody.clone(), None).await,
            StatusCode::UNAUTHORIZED,
            &format!("unknown address, attempt {n}"),
        )
        .await;
    }
    expect(
        post(base, "/login", nobody, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
    )
    .await;

    // The per-address email limit (one a minute): the second is silently not sent.
    for _ in 0..2 {
        expect(
            post(base, "/password/forgot", json!({"email": email}), None).await,
            StatusCode::ACCEPTED,
            "forgot",
        )
        .await;
    }

    // The credential routes' per-IP limit (10 a minute), from another client.
    for n in 1..=10 {
        expect(
            post(base, "/login", json!({}), Some("203.0.113.10")).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("credential request {n}"),
        )
        .await;
    }
    expect(
        post(base, "/login", json!({}), Some("203.0.113.10")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "credential limit",
    )
    .await;

    // Every route's per-IP limit (30 a minute), from a third client.
    for n in 1..=31 {
        let response = client()
            .get(format!("{base}/api/v1/users/me"))
            .header("x-forwarded-for", "203.0.113.20")
            .send()
            .await
            .unwrap();
        let expected = if n <= 30 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(response.status(), expected, "GET /users/me {n}");
    }

    // No route: counted as `unmatched`, never under its path.
    let response = client()
        .get(format!("{base}/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let after = scrape(&format!("{base}/metrics")).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };

    // HTTP requests by route template and status, and their durations.
    let http = "authkit_http_requests_total";
    let login = [("method", "POST"), ("route", "/api/v1/login")];
    assert_eq!(
        moved(
            http,
            &[
                ("method", "POST"),
                ("route", "/api/v1/register"),
                ("status", "201")
            ]
        ),
        1.0
    );
    assert_eq!(moved(http, &[login[0], login[1], ("status", "200")]), 1.0);
    assert_eq!(moved(http, &[login[0], login[1], ("status", "401")]), 3.0);
    assert_eq!(moved(http, &[login[0], login[1], ("status", "422")]), 10.0);
    assert_eq!(moved(http, &[login[0], login[1], ("status", "429")]), 2.0);
    assert_eq!(
        moved(
            http,
            &[
                ("method", "DELETE"),
                ("route", "/api/v1/users/me/sessions/{id}"),
                ("status", "401")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            http,
            &[
                ("method", "GET"),
                ("route", "/api/v1/users/me"),
                ("status", "429")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            http,
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            http,
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        ),
        1.0,
        "the scrape before this one"
    );
    assert!(
        !after.0.iter().any(|s| s
            .labels
            .get("route")
            .is_some_and(|r| r.contains("no/such") || r.contains(session))),
        "a raw path became a label"
    );
    let duration = "authkit_http_request_duration_seconds";
    assert_eq!(moved(&format!("{duration}_count"), &login), 16.0);
    assert_eq!(
        moved(
            &format!("{duration}_bucket"),
            &[login[0], login[1], ("le", "+Inf")]
        ),
        16.0
    );
    for le in ["0.001", "0.0025", "0.1", "10"] {
        assert!(
            after
                .find(
                    &format!("{duration}_bucket"),
                    &[login[0], login[1], ("le", le)]
                )
                .is_some(),
            "HTTP bucket {le}"
        );
    }
    assert!(moved(&format!("{duration}_sum"), &login) > 0.0);

    // Auth outcomes.
    let outcome = |o| [("outcome", o)];
    assert_eq!(moved("authkit_registrations_total", &[]), 1.0);
    assert_eq!(moved("authkit_login_attempts_total", &outcome("ok")), 1.0);
    assert_eq!(
        moved("authkit_login_attempts_total", &outcome("failed")),
        3.0
    );
    assert_eq!(
        moved("authkit_login_attempts_total", &outcome("throttled")),
        1.0
    );
    assert_eq!(moved("authkit_refresh_total", &outcome("ok")), 1.0);
    assert_eq!(moved("authkit_refresh_total", &outcome("reused")), 1.0);
    let event = |e| [("event", e)];
    assert_eq!(moved("authkit_audit_events_total", &event("register")), 1.0);
    assert_eq!(
        moved("authkit_audit_events_total", &event("login_failed")),
        4.0
    );
    assert_eq!(
        moved("authkit_audit_events_total", &event("refresh_reuse")),
        1.0
    );

    // Rate limits by scope.
    for scope in ["ip", "credentials", "account", "address"] {
        assert_eq!(
            moved("authkit_rate_limited_total", &[("scope", scope)]),
            1.0,
            "scope {scope}"
        );
    }

    // The hash pool: register and the unknown address's dummy hash; four verifications
    // (login ok, wrong password, two unknown-address attempts).
    let hash = "authkit_password_hash_duration_seconds";
    assert_eq!(moved(&format!("{hash}_count"), &[("op", "hash")]), 2.0);
    assert_eq!(moved(&format!("{hash}_count"), &[("op", "verify")]), 4.0);
    let wait = "authkit_password_hash_queue_wait_seconds";
    assert_eq!(moved(&format!("{wait}_count"), &[]), 6.0);
    for le in ["0.005", "0.02", "5"] {
        assert!(
            after
                .find(&format!("{wait}_bucket"), &[("le", le)])
                .is_some(),
            "hash bucket {le}"
        );
    }

    // Scrape-time gauges: this database's outbox (the verification and the reset email), its
    // pool, and the database up.
    assert_eq!(after.sum("authkit_outbox_emails"), 2.0);
    for status in ["queued", "processing", "sent", "dropped", "abandoned"] {
        assert!(
            after
                .find("authkit_outbox_emails", &[("status", status)])
                .is_some(),
            "outbox {status}"
        );
    }
    let in_use = after.value("authkit_db_pool_connections", &[("state", "in_use")]);
    let idle = after.value("authkit_db_pool_connections", &[("state", "idle")]);
    assert!(in_use + idle >= 1.0, "{in_use} + {idle}");
    assert!(in_use + idle <= max_connections);
    assert_eq!(
        after.value("authkit_db_pool_max_connections", &[]),
        max_connections
    );
    assert_eq!(after.value("authkit_database_up", &[]), 1.0);
    assert_eq!(
        after.value(
            "authkit_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_metrics_move_with_requests() {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(&sqlite_url(&dir))).await;
    metrics_move(&server.base, 5.0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_metrics_move_with_requests() {
    let Some(admin) = postgres_admin_url("postgres_metrics_move_with_requests") else {
        return;
    };
    let _turn = TURN.lock().await;
    let db = TestDb::create(&admin).await;
    let server = Running::start(config(&db.url)).await;
    metrics_move(&server.base, 10.0).await;
    server.shutdown().await;
    db.drop_db().await;
}

/// The app with `AUTHKIT_METRICS_BIND`, served with both listeners on port 0.
struct Split {
    base: String,
    metrics: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), authkit_server::ServerError>>,
}

impl Split {
    async fn start(mut config: ServerConfig) -> Self {
        config.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        let app = authkit_server::build_app(config).await.unwrap();
        assert!(app.metrics_bind().is_some());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let metrics_addr: SocketAddr = metrics.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_metrics(listener, Some(metrics), app, async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            metrics: format!("http://{metrics_addr}"),
            stop,
            task,
        }
    }

    /// Sends the shutdown signal and waits (at most 20 s) until both listeners stopped.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_bind_serves_metrics_on_its_own_listener_only() {
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Split::start(config(&sqlite_url(&dir))).await;

    let response = client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "not on the main one"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "not_found");

    let health = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let scraped = scrape(&format!("{}/metrics", server.metrics)).await;
    assert_eq!(scraped.value("authkit_database_up", &[]), 1.0);
    assert!(
        scraped.value(
            "authkit_http_requests_total",
            &[("method", "GET"), ("route", "/health"), ("status", "200")]
        ) >= 1.0
    );
    let other = client()
        .get(format!("{}/health", server.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");

    // Both listeners stop with the shutdown signal.
    let metrics = server.metrics.clone();
    server.shutdown().await;
    assert!(
        client()
            .get(format!("{metrics}/metrics"))
            .send()
            .await
            .is_err(),
        "the metrics listener is closed"
    );
}

/// The `/metrics` listener closes a connection that sends no request head within
/// `ServerConfig::header_read_timeout`, as the main one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_closes_idle_connections() {
    use tokio::io::AsyncReadExt as _;
    let _turn = TURN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sqlite_url(&dir));
    config.header_read_timeout = Duration::from_millis(300);
    let server = Split::start(config).await;
    let addr = server.metrics.strip_prefix("http://").unwrap().to_owned();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = idle.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the metrics listener closes a connection that sends nothing"
    );
    server.shutdown().await;
}
