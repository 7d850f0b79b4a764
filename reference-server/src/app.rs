//! Assembling the server: store, signing keys, mailer, kit and routes ([`build_app`]), and
//! running it until a shutdown signal ([`serve`]).
//!
//! Around every route (the API, the operational routes, 404 and 405), outermost first: the
//! request id ([`crate::request_id`]: `x-request-id` on the response, a span carrying it
//! around the rest), the request log, the HTTP metrics ([`crate::metrics`]), the security
//! headers ([`authkit_core::http::security_headers`], plus HSTS when the public URL is
//! `https`) and a deadline on the whole request, body included. Connections: HTTP/1 with a
//! header-read timeout (which also closes idle keep-alive connections) and a cap on the size
//! of the headers.
//!
//! `/metrics` is on the main listener, or with `AUTHKIT_METRICS_BIND` on a listener of its own
//! that [`serve`] opens and closes with the main one (the main listener then answers 404).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authkit_core::domain::StoredSigningKey;
use authkit_core::hashing::Argon2Hasher;
use authkit_core::jwt::JwtKeys;
use authkit_core::mail::EmailTemplates;
use authkit_core::ports::{
    Clock, KeyStore, Mailer, OutboxStore, RateLimitStore, Store, StoreHealth, SystemClock,
};
use authkit_core::{AuthKit, Error as CoreError};
use authkit_sqlx::{PostgresStore, SqliteStore};
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretSlice};
use tokio::net::TcpListener;

use crate::config::{DatabaseBackend, DatabaseUrl, RateLimitBackend, ServerConfig};
use crate::error::ServerError;
use crate::keys::KeyReloader;
pub use crate::keys::{first_key_kid, load_or_create_signing_keys};
use crate::mail::{self, LogMailer};
use crate::{metrics, ops, request_id};

/// A built server, ready to [`serve`]: the routes and the kit behind them.
#[derive(Debug, Clone)]
pub struct App {
    router: Router,
    /// `/metrics` alone, for its own listener (`AUTHKIT_METRICS_BIND`).
    metrics_router: Option<Router>,
    metrics_bind: Option<SocketAddr>,
    kit: AuthKit,
    database: String,
    emails_to_log: bool,
    shutdown_grace: Duration,
    header_read_timeout: Duration,
    key_reloader: Option<KeyReloader>,
}

/// The largest request head (request line and headers) a connection accepts; beyond it the
/// connection answers 431 and closes. Core refuses smaller excesses on the API routes
/// (`max_header_bytes`, 16 KiB) with a problem document; this caps what any route buffers.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;

/// Time allowed, on top of `AUTHKIT_REQUEST_TIMEOUT_SECONDS`, for a request body to arrive:
/// the whole request, body included, is answered 503 after the sum.
pub const BODY_READ_ALLOWANCE: Duration = Duration::from_secs(5);

impl App {
    /// The routes: the contract under `/api/v1`, and at the root `/health`, `/ready`,
    /// `/.well-known/jwks.json`, `/openapi.json`, `/docs` and (unless [`App::metrics_bind`] is
    /// set) `/metrics`.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// `AUTHKIT_METRICS_BIND`: where [`serve`] listens for `/metrics` alone; `None` when
    /// `/metrics` is one of [`App::router`]'s routes.
    pub fn metrics_bind(&self) -> Option<SocketAddr> {
        self.metrics_bind
    }

    /// The kit the routes serve.
    pub fn kit(&self) -> &AuthKit {
        &self.kit
    }

    /// The database URL with its password hidden.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Whether emails are written to the log (no `AUTHKIT_SMTP_URL`).
    pub fn emails_to_log(&self) -> bool {
        self.emails_to_log
    }
}

/// Connects to and migrates the database, loads (or on first start creates) the signing key,
/// sets up the mailer and builds the routes: the contract under `/api/v1`, and at the root
/// `/health`, `/ready`, `/.well-known/jwks.json` and `/metrics` (on its own listener instead
/// when `AUTHKIT_METRICS_BIND` is set). Installs the process's metrics recorder
/// ([`metrics::handle`]) if it is not yet.
pub async fn build_app(config: ServerConfig) -> Result<App, ServerError> {
    let BuiltKit {
        kit,
        store,
        key_reloader,
    } = build_kit(&config, None).await?;
    let outbox: Arc<dyn OutboxStore> = store.clone();
    let health: Arc<dyn StoreHealth> = store;
    let headers = Arc::new(response_headers(&config.public_url));
    let deadline = config.request_timeout + BODY_READ_ALLOWANCE;
    let scrape = metrics::Scrape {
        health: Arc::clone(&health),
        outbox: Arc::clone(&outbox),
        timeout: config.ready_timeout,
    };
    let (main_metrics, metrics_router) = match config.metrics_bind {
        None => (metrics::router(scrape), None),
        Some(_) => (
            Router::new(),
            Some(
                metrics::router(scrape)
                    .layer(middleware::from_fn(metrics::record_request))
                    .layer(middleware::from_fn(request_id::middleware)),
            ),
        ),
    };
    let router = Router::new()
        .nest("/api/v1", authkit_axum::router(kit.clone()))
        .merge(ops::router(
            health,
            outbox,
            {
                let kit = kit.clone();
                move || kit.jwks()
            },
            config.ready_timeout,
        ))
        .merge(main_metrics)
        .merge(crate::api_docs::router(&config))
        .fallback(|| async { authkit_axum::ApiError(CoreError::NotFound).into_response() })
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            request_deadline(deadline, request, next)
        }))
        .layer(middleware::map_response(move |response: Response| {
            let headers = Arc::clone(&headers);
            async move { add_missing_headers(&headers, response) }
        }))
        .layer(middleware::from_fn(metrics::record_request))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn(request_id::middleware));
    Ok(App {
        router,
        metrics_router,
        metrics_bind: config.metrics_bind,
        kit,
        database: config.database_url.to_string(),
        emails_to_log: config.smtp_url.is_none(),
        shutdown_grace: config.shutdown_grace,
        header_read_timeout: config.header_read_timeout,
        key_reloader,
    })
}

/// The headers every response carries: core's security headers, and HSTS when the public URL
/// is `https` (the server itself speaks plain HTTP behind a TLS proxy; browsers only honour
/// HSTS received over HTTPS).
fn response_headers(public_url: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    authkit_core::http::security_headers(&mut headers);
    if public_url.starts_with("https://") {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers
}

/// Adds each of `headers` the response lacks; a route's own value (the JWKS's public
/// `Cache-Control`) is kept.
fn add_missing_headers(headers: &HeaderMap, mut response: Response) -> Response {
    let target = response.headers_mut();
    for (name, value) in headers {
        if !target.contains_key(name) {
            target.insert(name.clone(), value.clone());
        }
    }
    response
}

/// Answers 503 `unavailable` (with `Retry-After`) when a request, body included, is not
/// answered by `deadline`: a client trickling its body cannot hold a connection forever. Core
/// bounds its own work by `AUTHKIT_REQUEST_TIMEOUT_SECONDS`, so this fires only while a body
/// is still arriving (or when something below core hangs).
async fn request_deadline(deadline: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => authkit_axum::ApiError(CoreError::Unavailable {
            retry_after: Some(Duration::from_secs(1)),
            source: Some("the request timed out".into()),
        })
        .into_response(),
    }
}

/// What [`build_kit`] builds.
pub(crate) struct BuiltKit {
    /// The kit.
    pub(crate) kit: AuthKit,
    /// The store under it.
    pub(crate) store: Arc<dyn Store>,
    /// What keeps its Ed25519 keys current while serving (`None` with HS256).
    pub(crate) key_reloader: Option<KeyReloader>,
}

/// The kit of [`build_app`] and the store under it: connects to and migrates the database,
/// loads (or creates) the signing keys, and sends emails with `mailer`, or when `None` with the
/// mailer the configuration selects (SMTP, else the log).
pub(crate) async fn build_kit(
    config: &ServerConfig,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<BuiltKit, ServerError> {
    let database = open_database(&config.database_url, config.startup_timeout).await?;
    let store = database.store;
    let policy = config.rotation_policy();
    let mut stored: Option<Vec<StoredSigningKey>> = None;
    let keys = match &config.jwt_secret {
        Some(secret) => {
            let bytes = SecretSlice::from(secret.expose_secret().as_bytes().to_vec());
            JwtKeys::hs256(&bytes)?
        }
        None => {
            let now = SystemClock.now();
            let keys =
                crate::keys::load_or_create_stored_keys(&*store, &config.issuer, now).await?;
            let set = JwtKeys::ed25519_at(&keys, now, &policy)?;
            stored = Some(keys);
            set
        }
    };
    tracing::info!(
        algorithm = ?keys.algorithm(),
        kid = keys.active_kid(),
        "access tokens are signed with {}",
        config.signing_description()
    );
    let mailer = match mailer {
        Some(mailer) => mailer,
        None => configured_mailer(config)?,
    };
    let hasher = Argon2Hasher::new(&config.argon2)?;
    let templates = match &config.email_templates {
        Some(dir) => EmailTemplates::new().load_dir(dir)?,
        None => EmailTemplates::new(),
    };
    // The templates are rendered once with sample values here, so that an error names the
    // setting (the builder checks them again).
    let auth = config.auth_config();
    templates.check(&auth.service_name, &auth.public_url)?;
    let mut builder = AuthKit::builder(auth)
        .store_arc(Arc::clone(&store))
        .mailer_arc(mailer)
        .hasher(hasher)
        .templates(templates)
        .keys(keys);
    let backend = config.rate_limit_backend();
    if backend == RateLimitBackend::Database {
        builder = builder.rate_limits_arc(database.rate_limits);
    }
    tracing::info!(
        rate_limit_store = backend.as_str(),
        "rate limits: {}",
        config.rate_limit_description()
    );
    let kit = builder.build()?;
    let key_reloader = stored.map(|stored| {
        let keys: Arc<dyn KeyStore> = store.clone();
        KeyReloader::new(
            keys,
            kit.clone(),
            policy,
            config.key_reload_interval,
            stored,
        )
    });
    Ok(BuiltKit {
        kit,
        store,
        key_reloader,
    })
}

/// SMTP when `AUTHKIT_SMTP_URL` is set, else the log.
fn configured_mailer(config: &ServerConfig) -> Result<Arc<dyn Mailer>, ServerError> {
    Ok(match &config.smtp_url {
        Some(url) => {
            if url.sends_password_in_clear() {
                tracing::warn!(
                    smtp = %url,
                    "AUTHKIT_SMTP_URL sends the SMTP password without TLS; add ?tls=required or use smtps://"
                );
            }
            Arc::new(mail::smtp_mailer(
                url,
                &config.mail_from.to_string(),
                config.smtp_timeout,
            )?)
        }
        None => {
            tracing::warn!(
                "emails are written to the log until AUTHKIT_SMTP_URL is set; the log then holds \
                 working verification and reset links"
            );
            Arc::new(LogMailer)
        }
    })
}

/// Connects to the database and applies authkit's migrations, nothing else (the `migrate`
/// command).
pub async fn migrate(config: &ServerConfig) -> Result<(), ServerError> {
    open_store(&config.database_url, config.startup_timeout)
        .await
        .map(drop)
}

pub(crate) async fn open_store(
    url: &DatabaseUrl,
    limit: Duration,
) -> Result<Arc<dyn Store>, ServerError> {
    Ok(open_database(url, limit).await?.store)
}

/// An opened, migrated database, as the kit's store and as a rate-limit store.
pub(crate) struct Database {
    /// The store.
    pub(crate) store: Arc<dyn Store>,
    /// The same database's rate-limit counters.
    pub(crate) rate_limits: Arc<dyn RateLimitStore>,
}

/// Connects to the database and applies authkit's migrations, within `limit`.
pub(crate) async fn open_database(
    url: &DatabaseUrl,
    limit: Duration,
) -> Result<Database, ServerError> {
    let database = url.to_string();
    let connect = async {
        let connect_error = |source| ServerError::Connect {
            database: database.clone(),
            source,
        };
        let migrate_error = |source| ServerError::Migrate {
            database: database.clone(),
            source,
        };
        let opened = match url.backend() {
            DatabaseBackend::Sqlite => {
                if let Some(path) = url.sqlite_path() {
                    create_sqlite_file(&path)?;
                }
                let store = SqliteStore::connect(url.expose())
                    .await
                    .map_err(|e| connect_error(e.into()))?;
                store.migrate().await.map_err(|e| migrate_error(e.into()))?;
                let store = Arc::new(store);
                Database {
                    store: store.clone(),
                    rate_limits: store,
                }
            }
            DatabaseBackend::Postgres => {
                let store = PostgresStore::connect(url.expose())
                    .await
                    .map_err(|e| connect_error(e.into()))?;
                store.migrate().await.map_err(|e| migrate_error(e.into()))?;
                let store = Arc::new(store);
                Database {
                    store: store.clone(),
                    rate_limits: store,
                }
            }
        };
        Ok::<_, ServerError>(opened)
    };
    let store =
        tokio::time::timeout(limit, connect)
            .await
            .map_err(|_| ServerError::StartupTimeout {
                database: database.clone(),
                after: limit,
            })??;
    tracing::info!(database = %database, "database connected and migrated");
    Ok(store)
}

/// Creates an empty SQLite file if none exists (SQLite treats an empty file as a new
/// database), readable and writable by its owner only (mode 0600 on Unix): it will hold the
/// Ed25519 signing seed, password hashes and the outbox, and SQLite gives its `-wal` and `-shm`
/// files the same mode. An existing file is left untouched, its mode included (the operator's
/// choice).
fn create_sqlite_file(path: &Path) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(file) => drop(file),
        // Already there (before, or created meanwhile by another process): not ours to change.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(source) => {
            return Err(ServerError::SqliteFile {
                path: path.to_owned(),
                source,
            });
        }
    }
    tracing::info!(path = %path.display(), "created the SQLite database file (mode 0600)");
    Ok(())
}

/// One log line per request: method, path (never the query string, which may carry tokens),
/// status and duration; inside the request's span, so with its `request_id`. Probes and scrapes
/// (`/health`, `/ready`, `/metrics`) log at debug level.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if path == "/health" || path == "/ready" || path == "/metrics" {
        tracing::debug!(%method, %path, status, micros, "request");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
    response
}

/// Serves `app` on `listener` until `shutdown` completes, then closes idle connections and lets
/// in-flight requests finish for up to the configured grace period (10 s by default).
/// Connections speak HTTP/1.1; each must send a request's headers within
/// [`ServerConfig::header_read_timeout`] of being idle, in at most [`MAX_REQUEST_HEAD_BYTES`].
/// Client addresses reach authkit through `ConnectInfo<SocketAddr>`. The email worker runs
/// alongside ([`AuthKit::run_email_worker`]) and is told to stop together with the HTTP
/// server, finishing the message it is sending within the same grace period (counted once,
/// from the shutdown signal); emails queued meanwhile stay in the outbox for the next start or
/// another instance. The reload of the signing keys (every
/// [`ServerConfig::key_reload_interval`], see [`crate::keys`]) runs alongside too.
///
/// With `AUTHKIT_METRICS_BIND` ([`App::metrics_bind`]), first binds that address and serves
/// `/metrics` there until the same shutdown ([`serve_with_metrics`]), with the same limits.
pub async fn serve<F>(listener: TcpListener, app: App, shutdown: F) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let metrics = match app.metrics_bind {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::MetricsBind { addr, source })?,
        ),
        None => None,
    };
    serve_with_metrics(listener, metrics, app, shutdown).await
}

/// [`serve`], with the listener of `/metrics` already bound (`None`: no separate listener).
/// `metrics` is used only when the app was built with `AUTHKIT_METRICS_BIND` set (its routes
/// then lack `/metrics`); tests bind it on port 0.
pub async fn serve_with_metrics<F>(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    app: App,
    shutdown: F,
) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(app.kit.clone().run_email_worker(async move {
        let _ = worker_stopped.await;
    }));
    let key_reloader = app.key_reloader.clone().map(|r| tokio::spawn(r.run()));
    let grace = app.shutdown_grace;
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = match (metrics, app.metrics_router.clone()) {
        (Some(listener), Some(router)) => {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(address = %addr, "metrics listening on http://{addr}/metrics");
            }
            let limits = (app.header_read_timeout, grace);
            Some(tokio::spawn(serve_router(
                listener,
                router,
                limits,
                async move {
                    let _ = metrics_stopped.await;
                },
            )))
        }
        _ => None,
    };
    // One grace period for everything, counted from the shutdown signal: the HTTP drain, the
    // metrics listener and the email worker (which finishes the message it is sending) all
    // stop at once, so the process exits within `grace` (the container's stop timeout is set
    // just above it), not the drain's grace plus the worker's.
    let (stopping, stopped_at) = tokio::sync::oneshot::channel::<tokio::time::Instant>();
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(tokio::time::Instant::now());
        let _ = stop_metrics.send(());
        let _ = stop_worker.send(());
    };
    let limits = (app.header_read_timeout, grace);
    serve_router(listener, app.router, limits, shutdown).await;
    if let Some(task) = key_reloader {
        task.abort();
    }
    let deadline = stopped_at
        .await
        .unwrap_or_else(|_| tokio::time::Instant::now())
        + grace;
    if let Some(server) = metrics_server
        && tokio::time::timeout_at(deadline, server).await.is_err()
    {
        tracing::warn!("the metrics listener did not stop in time");
    }
    if tokio::time::timeout_at(deadline, worker).await.is_err() {
        tracing::warn!("the email worker did not stop in time; its message is sent again later");
    }
    Ok(())
}

/// Serves `router` on `listener` (the main one, or the `/metrics` one) until `shutdown`, with
/// the limits of [`serve`]: `(header_read_timeout, grace)`.
async fn serve_router<F>(
    listener: TcpListener,
    router: Router,
    (header_read_timeout, grace): (Duration, Duration),
    shutdown: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    use hyper::service::Service as _;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_header_size(MAX_REQUEST_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses go out at once rather than waiting on Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let router = TowerToHyperService::new(router.clone());
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.call(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error = %error, "connection closed with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?grace, "in-flight requests did not finish in time; stopping anyway");
    }
}

/// An `accept` failure. Per-connection errors (the client gave up) are ignored; others (out of
/// file descriptors...) are logged and accepting pauses for a second instead of spinning.
async fn accept_error(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %error, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The zero-config database holds the signing seed and password hashes: a new file is
    /// not readable by the group or others, whatever the umask lets through (typically 022,
    /// which left 0644 before).
    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkit.db");
        create_sqlite_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        assert_eq!(mode & 0o600, 0o600, "mode {mode:o}");
    }

    /// Through the start-up path: the database, once connected and migrated (WAL mode), and
    /// the `-wal` and `-shm` files SQLite adds next to it are private too.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_zero_config_database_and_its_wal_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkit.db");
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let database = open_database(&url, Duration::from_secs(30)).await.unwrap();
        let mut checked = 0;
        for name in ["authkit.db", "authkit.db-wal", "authkit.db-shm"] {
            let Ok(meta) = std::fs::metadata(dir.path().join(name)) else {
                continue;
            };
            let mode = meta.permissions().mode();
            assert_eq!(mode & 0o077, 0, "{name}: mode {mode:o}");
            checked += 1;
        }
        assert!(checked >= 1);
        drop(database);
    }

    /// An existing file keeps its mode and content: an operator may have chosen 0640 for a
    /// backup group.
    #[cfg(unix)]
    #[test]
    fn an_existing_sqlite_file_is_left_alone() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkit.db");
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        create_sqlite_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "mode {mode:o}");
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
    }
}
