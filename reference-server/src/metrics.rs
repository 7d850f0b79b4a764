//! `GET /metrics`: Prometheus text (`text/plain; version=0.0.4`).
//!
//! - What authkit-core records through the `metrics` facade ([`authkit_core::metrics`]: login
//!   and refresh outcomes, registrations, audit events, the hash pool, rate limits) and the HTTP
//!   request metrics of [`record_request`] go to one Prometheus recorder, installed once per
//!   process ([`handle`]); several apps in one process (tests) share it.
//! - The gauges read at scrape time (outbox by status, pool connections, database up, build
//!   info) are read from the app's own store and written after the recorder's text, bounded by
//!   `AUTHKIT_READY_TIMEOUT`: each app shows its own database, and a read that fails or times out
//!   leaves its series out rather than repeating an old value (`authkit_database_up` is then 0).
//!
//! | name | type | labels |
//! |---|---|---|
//! | `authkit_http_requests_total` | counter | `method`, `route` (the route template, `unmatched` for 404s), `status` |
//! | `authkit_http_request_duration_seconds` | histogram | `method`, `route` |
//! | `authkit_login_attempts_total` | counter | `outcome` = `ok`, `failed`, `throttled` |
//! | `authkit_refresh_total` | counter | `outcome` = `ok`, `reused`, `failed` |
//! | `authkit_registrations_total` | counter | - |
//! | `authkit_audit_events_total` | counter | `event` |
//! | `authkit_password_hash_duration_seconds` | histogram | `op` = `hash`, `verify` |
//! | `authkit_password_hash_queue_wait_seconds` | histogram | - |
//! | `authkit_password_hash_rejected_total` | counter | - |
//! | `authkit_password_hash_abandoned_total` | counter | `op` = `hash`, `verify` |
//! | `authkit_rate_limited_total` | counter | `scope` = `ip`, `credentials`, `account`, `address` |
//! | `authkit_outbox_emails` | gauge | `status` = `queued`, `processing`, `sent`, `dropped`, `abandoned` |
//! | `authkit_db_pool_connections` | gauge | `state` = `in_use`, `idle` |
//! | `authkit_db_pool_max_connections` | gauge | - |
//! | `authkit_database_up` | gauge | - |
//! | `authkit_build_info` | gauge | `version` |

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use authkit_core::metrics as core_metrics;
use authkit_core::ports::{OutboxStore, StoreHealth};
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter of HTTP requests by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "authkit_http_requests_total";
/// Histogram of the seconds from request to response head, by `method` and `route`.
pub const HTTP_REQUEST_DURATION: &str = "authkit_http_request_duration_seconds";
/// Gauge of email outbox rows by `status`, read at scrape time.
pub const OUTBOX_EMAILS: &str = "authkit_outbox_emails";
/// Gauge of database pool connections by `state` (`in_use`, `idle`), read at scrape time.
pub const DB_POOL_CONNECTIONS: &str = "authkit_db_pool_connections";
/// Gauge of the configured pool size.
pub const DB_POOL_MAX_CONNECTIONS: &str = "authkit_db_pool_max_connections";
/// Gauge: 1 when the database answered a ping at scrape time, else 0.
pub const DATABASE_UP: &str = "authkit_database_up";
/// Gauge, always 1, labelled with the server's `version`.
pub const BUILD_INFO: &str = "authkit_build_info";

/// The route label of requests no route matched (404): never the raw path, which would give
/// every probed URL its own series.
pub const UNMATCHED: &str = "unmatched";

/// Buckets (seconds) of [`HTTP_REQUEST_DURATION`].
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4";

/// How often recorded histogram samples are folded into their buckets between scrapes, so that
/// memory stays bounded when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's Prometheus recorder, installed as the `metrics` recorder on first use. If the
/// host installed another recorder first, this one stays empty (a warning says so) and
/// `/metrics` shows only the gauges read at scrape time.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install)
}

fn install() -> PrometheusHandle {
    let recorder = builder().build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!(
            "another metrics recorder is installed: /metrics shows only the gauges read at \
             scrape time"
        );
        return handle;
    }
    describe();
    let upkeep = handle.clone();
    let started = std::thread::Builder::new()
        .name("authkit-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = started {
        tracing::warn!(error = %error, "cannot start the metrics upkeep thread; scrapes do it");
    }
    handle
}

/// Histograms as Prometheus histograms with the buckets of the metric list.
fn builder() -> PrometheusBuilder {
    let histograms = [
        (HTTP_REQUEST_DURATION, HTTP_BUCKETS),
        (
            core_metrics::PASSWORD_HASH_DURATION,
            core_metrics::HASH_BUCKETS,
        ),
        (
            core_metrics::PASSWORD_HASH_QUEUE_WAIT,
            core_metrics::HASH_BUCKETS,
        ),
    ];
    // Refused only for an empty bucket list (then the histograms render as summaries).
    histograms
        .into_iter()
        .try_fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
            builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
        })
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

/// The `# HELP` lines.
fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        "Seconds from request to response head, by method and route."
    );
    describe_counter!(
        core_metrics::LOGIN_ATTEMPTS,
        "Password logins by outcome (ok, failed, throttled)."
    );
    describe_counter!(
        core_metrics::REFRESH,
        "Refresh-token rotations by outcome (ok, reused, failed)."
    );
    describe_counter!(
        core_metrics::REGISTRATIONS,
        "Accounts created by registration."
    );
    describe_counter!(core_metrics::AUDIT_EVENTS, "Audit events by event name.");
    describe_histogram!(
        core_metrics::PASSWORD_HASH_DURATION,
        "Seconds a hash worker spent on one job, by op (hash, verify)."
    );
    describe_histogram!(
        core_metrics::PASSWORD_HASH_QUEUE_WAIT,
        "Seconds a job waited in the hash queue."
    );
    describe_counter!(
        core_metrics::PASSWORD_HASH_REJECTED,
        "Hash jobs refused because the queue was full."
    );
    describe_counter!(
        core_metrics::PASSWORD_HASH_ABANDONED,
        "Hash jobs skipped, by op (hash, verify), because their caller had gone."
    );
    describe_counter!(
        core_metrics::RATE_LIMITED,
        "Requests refused (or emails not sent) by a rate limit, by scope."
    );
}

/// Counts the request and times it to its response head under the route template
/// ([`MatchedPath`], seen here because the layer is added with `Router::layer`), or
/// [`UNMATCHED`].
pub async fn record_request(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_str().to_owned();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route).record(elapsed);
    response
}

/// The standard methods by name; anything else is `other` (a client choosing methods must not
/// create series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// What a scrape reads besides the recorder.
#[derive(Clone)]
pub(crate) struct Scrape {
    /// The database: ping and pool.
    pub(crate) health: Arc<dyn StoreHealth>,
    /// The outbox counts.
    pub(crate) outbox: Arc<dyn OutboxStore>,
    /// The bound of each read ([`crate::ServerConfig::ready_timeout`], 2 s).
    pub(crate) timeout: Duration,
}

/// `GET /metrics`.
pub(crate) fn router(scrape: Scrape) -> Router {
    // Installed now rather than at the first scrape, so that what happens before it counts.
    handle();
    Router::new().route(
        "/metrics",
        get(move || {
            let scrape = scrape.clone();
            async move { render(&scrape).await }
        }),
    )
}

async fn render(scrape: &Scrape) -> Response {
    let timeout = scrape.timeout;
    let (ping, outbox) = tokio::join!(
        tokio::time::timeout(timeout, scrape.health.ping()),
        tokio::time::timeout(timeout, scrape.outbox.outbox_counts()),
    );
    let up = matches!(ping, Ok(Ok(())));
    let mut text = handle().render();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if let Ok(Ok(counts)) = outbox {
        gauge_header(
            &mut text,
            OUTBOX_EMAILS,
            "Email outbox rows by status, read at scrape time.",
        );
        for (status, n) in [
            ("queued", counts.queued),
            ("processing", counts.processing),
            ("sent", counts.sent),
            ("dropped", counts.dropped),
            ("abandoned", counts.abandoned),
        ] {
            let _ = writeln!(text, "{OUTBOX_EMAILS}{{status=\"{status}\"}} {n}");
        }
    }
    if let Some(pool) = scrape.health.pool_stats() {
        gauge_header(
            &mut text,
            DB_POOL_CONNECTIONS,
            "Database pool connections by state, read at scrape time.",
        );
        let _ = writeln!(
            text,
            "{DB_POOL_CONNECTIONS}{{state=\"in_use\"}} {}",
            pool.in_use
        );
        let _ = writeln!(
            text,
            "{DB_POOL_CONNECTIONS}{{state=\"idle\"}} {}",
            pool.idle
        );
        gauge_header(
            &mut text,
            DB_POOL_MAX_CONNECTIONS,
            "The configured database pool size.",
        );
        let _ = writeln!(text, "{DB_POOL_MAX_CONNECTIONS} {}", pool.max);
    }
    gauge_header(
        &mut text,
        DATABASE_UP,
        "1 when the database answered a ping at scrape time, else 0.",
    );
    let _ = writeln!(text, "{DATABASE_UP} {}", u8::from(up));
    gauge_header(&mut text, BUILD_INFO, "Always 1; the server's version.");
    let _ = writeln!(
        text,
        "{BUILD_INFO}{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn gauge_header(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// deploy/METRICS.md, which the alert rules and the dashboard are checked against
    /// (`scripts/check-deploy`), names exactly the metrics the code records.
    #[test]
    fn deploy_metrics_md_lists_exactly_the_recorded_metrics() {
        let listed: std::collections::BTreeSet<&str> = include_str!("../../deploy/METRICS.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| authkit_"))
            .filter_map(|rest| rest.split(' ').next())
            .collect();
        let recorded: std::collections::BTreeSet<&str> = [
            HTTP_REQUESTS,
            HTTP_REQUEST_DURATION,
            OUTBOX_EMAILS,
            DB_POOL_CONNECTIONS,
            DB_POOL_MAX_CONNECTIONS,
            DATABASE_UP,
            BUILD_INFO,
            core_metrics::LOGIN_ATTEMPTS,
            core_metrics::REFRESH,
            core_metrics::REGISTRATIONS,
            core_metrics::AUDIT_EVENTS,
            core_metrics::PASSWORD_HASH_DURATION,
            core_metrics::PASSWORD_HASH_QUEUE_WAIT,
            core_metrics::PASSWORD_HASH_REJECTED,
            core_metrics::PASSWORD_HASH_ABANDONED,
            core_metrics::RATE_LIMITED,
        ]
        .into_iter()
        .filter_map(|name| name.strip_prefix("authkit_"))
        .collect();
        assert_eq!(listed, recorded, "deploy/METRICS.md and the code disagree");
    }
}
