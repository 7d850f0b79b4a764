//! A request without a client address (axum served without connect info): the per-IP rate
//! limits are skipped, and the first such request of the process logs one warning naming the
//! fix. Alone in its test binary, because the warning is once per process.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use authkit_core::config::LimitsConfig;
use authkit_core::http::{self, ApiRequest, RouteId};
use authkit_core::ports::RateLimit;
use authkit_core::testing::{ManualClock, MemoryMailer, MemoryStore, fast_hasher};
use authkit_core::{AuthConfig, AuthKit};

/// Log lines written by the test's subscriber.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// How many times `needle` was logged.
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

/// What the warning says.
const WARNING: &str = "per-IP rate limits are configured but a request has no client address";

fn kit(limits: LimitsConfig) -> AuthKit {
    AuthKit::builder(AuthConfig {
        limits,
        ..AuthConfig::default()
    })
    .store(MemoryStore::new())
    .mailer_arc(Arc::new(MemoryMailer::new()))
    .clock_arc(Arc::new(ManualClock::starting_now()))
    .hasher(fast_hasher())
    .keys(common::test_keys())
    .build()
    .unwrap()
}

/// `POST /login` with an empty object (422 once admitted) from `peer`.
async fn login(kit: &AuthKit, peer: Option<IpAddr>) -> u16 {
    let mut headers = ::http::HeaderMap::new();
    headers.insert(
        ::http::header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("application/json"),
    );
    let response = http::handle(
        kit,
        ApiRequest {
            route: RouteId::Login,
            path: "/api/v1/login",
            path_params: Vec::new(),
            query: None,
            headers: &headers,
            peer_ip: peer,
            body: Some(::bytes::Bytes::from_static(b"{}")),
        },
    )
    .await;
    response.status.as_u16()
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_client_address_per_ip_limits_are_skipped_with_one_warning() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Per-IP limits off: nothing is skipped, nothing to warn about.
    let off = kit(LimitsConfig::off());
    assert_eq!(login(&off, None).await, 422);
    assert_eq!(logs.count(WARNING), 0);

    // On, one credential request a minute: without an address every request is admitted
    // (skipped, not one shared bucket), and the warning comes once.
    let on = kit(LimitsConfig {
        per_ip_credentials: RateLimit::per_minute(1),
        ..LimitsConfig::off()
    });
    for _ in 0..3 {
        assert_eq!(login(&on, None).await, 422);
    }
    assert_eq!(
        logs.count(WARNING),
        1,
        "{}",
        String::from_utf8_lossy(&logs.0.lock().unwrap())
    );
    assert_eq!(logs.count("into_make_service_with_connect_info"), 1);

    // With an address the same limit holds.
    let peer = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    assert_eq!(login(&on, peer).await, 422);
    assert_eq!(login(&on, peer).await, 429);
    assert_eq!(logs.count(WARNING), 1);
}
