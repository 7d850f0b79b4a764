//! The server through `build_app` + `serve` on 127.0.0.1:0: operational routes and the auth
//! flow on SQLite and (with AUTHKIT_TEST_POSTGRES_URL) PostgreSQL, and readiness when the
//! database goes away.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use authkit_core::hashing::Argon2Config;
use authkit_server::config::{DatabaseUrl, SmtpUrl};
use authkit_server::{ServerConfig, build_app};
use secrecy::SecretString;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use common::postgres::{TestDb, postgres_admin_url};
use common::running::Running;

/// Test settings: a fast hasher (the binary test covers the production parameters).
fn config(database_url: &str) -> ServerConfig {
    ServerConfig {
        database_url: DatabaseUrl::parse(database_url).unwrap(),
        argon2: Argon2Config::insecure_fast(),
        ready_timeout: Duration::from_millis(1500),
        ..ServerConfig::default()
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("authkit.db").display())
}

#[tokio::test]
async fn sqlite_ops_routes_and_auth_flow() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(&sqlite_url(&dir))).await;
    assert!(
        dir.path().join("authkit.db").exists(),
        "SQLite file created"
    );
    assert!(server.app.database().starts_with("sqlite://"));
    assert!(server.app.emails_to_log());
    common::check_ops(&server.base, 1).await;
    common::auth_flow(&server.base).await;

    // Unknown routes answer with a problem document.
    let response = reqwest::get(format!("{}/nope", server.base)).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let first = Running::start(config(&url)).await;
    let jwks = reqwest::get(format!("{}/.well-known/jwks.json", first.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    first.shutdown().await;
    let second = Running::start(config(&url)).await;
    let again = reqwest::get(format!("{}/.well-known/jwks.json", second.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(jwks, again, "the same key after a restart");
    second.shutdown().await;
}

#[tokio::test]
async fn hs256_publishes_no_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(ServerConfig {
        jwt_secret: Some(SecretString::from(
            "0123456789abcdef0123456789abcdef-test-only",
        )),
        ..config(&sqlite_url(&dir))
    })
    .await;
    common::check_ops(&server.base, 0).await;
    common::auth_flow(&server.base).await;
    server.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_without_hanging() {
    // A port that was just free: connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ServerConfig {
        startup_timeout: Duration::from_secs(3),
        ..config(&format!(
            "postgres://authkit:hunter22@127.0.0.1:{port}/authkit"
        ))
    };
    let started = Instant::now();
    let error = build_app(config).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    let message = authkit_server::error::chain(&error);
    assert!(message.contains("AUTHKIT_DATABASE_URL"), "{message}");
    assert!(!message.contains("hunter22"), "{message}");
}

/// On shutdown the email worker is told to stop together with the HTTP server, and both share
/// one grace period counted from the signal: with a request in flight for the whole grace (its
/// body never completes) and the worker stuck on a silent SMTP server, `serve` still returns
/// within one grace period, not the drain's grace plus the worker's (which outlasted the
/// container's stop timeout). No sleeps: progress is polled against a deadline and the
/// shutdown is timed.
#[tokio::test]
async fn shutdown_stops_http_and_the_email_worker_within_one_grace_period() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let smtp = common::smtp::SmtpReceiver::builder().silent().start().await;
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_secs(3);
    let config = ServerConfig {
        smtp_url: Some(SmtpUrl::parse(&smtp.url()).unwrap()),
        // The worker waits for a greeting far longer than the grace period.
        smtp_timeout: Duration::from_secs(120),
        shutdown_grace: grace,
        ..config(&sqlite_url(&dir))
    };
    let app = build_app(config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(authkit_server::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");

    // A verification email: the worker connects to the silent server and waits there.
    let registered = common::client()
        .post(format!("{base}/api/v1/register"))
        .json(&serde_json::json!({
            "email": common::unique_email(),
            "password": common::PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert!(
        common::smtp::poll_until(Duration::from_secs(30), || smtp.connections() >= 1).await,
        "the email worker connects to the SMTP server"
    );

    // A request in flight: one full request on the connection (so the server is serving it),
    // then the head of a second one whose body never arrives.
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0_u8; 1024];
    let n = held.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    held.write_all(
        b"POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\"",
    )
    .await
    .unwrap();
    // Another request answered after that write: the server has had its turn at the held
    // connection's bytes (this runtime has one thread) and is reading the missing body.
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 200);

    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(grace * 4, server)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < grace + Duration::from_millis(1500),
        "shutdown took {took:?}: more than one grace period ({grace:?})"
    );
    drop(held);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

#[tokio::test]
async fn postgres_ops_routes_and_auth_flow() {
    let Some(admin) = postgres_admin_url("postgres_ops_routes_and_auth_flow") else {
        return;
    };
    let db = TestDb::create(&admin).await;
    let server = Running::start(config(&db.url)).await;
    assert!(server.app.database().starts_with("postgres"));
    assert!(
        !server.app.database().contains(":authkit@"),
        "password hidden: {}",
        server.app.database()
    );
    common::check_ops(&server.base, 1).await;
    common::auth_flow(&server.base).await;
    server.shutdown().await;
    db.drop_db().await;
}

/// Forwards TCP connections to `upstream` until [`Proxy::cut`] closes the listener and every
/// forwarded connection: the database "goes away" for the server behind it.
struct Proxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { addr, task }
    }

    /// Drops the listener and every connection (the JoinSet aborts its tasks when dropped).
    async fn cut(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn ready_is_503_when_the_database_goes_away() {
    let Some(admin) = postgres_admin_url("ready_is_503_when_the_database_goes_away") else {
        return;
    };
    let db = TestDb::create(&admin).await;
    let direct = url::Url::parse(&db.url).unwrap();
    let upstream =
        tokio::net::lookup_host((direct.host_str().unwrap(), direct.port().unwrap_or(5432)))
            .await
            .unwrap()
            .next()
            .unwrap();
    let proxy = Proxy::start(upstream).await;
    let mut through_proxy = direct.clone();
    through_proxy.set_host(Some("127.0.0.1")).unwrap();
    through_proxy.set_port(Some(proxy.addr.port())).unwrap();

    let server = Running::start(config(through_proxy.as_str())).await;
    let ready = reqwest::get(format!("{}/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    proxy.cut().await;
    let started = Instant::now();
    let ready = reqwest::get(format!("{}/ready", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the ping timeout"
    );
    // Liveness does not depend on the database.
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    server.shutdown().await;
    db.drop_db().await;
}
