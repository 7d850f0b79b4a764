//! The authkit reference server as a library: the binary `authkit-server` is a thin `main`
//! around [`cli::run`], and tests drive the same code through [`build_app`] and [`serve`].
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authkit_server::{ServerConfig, build_app, serve};
//!
//! let config = ServerConfig::from_vars([
//!     ("AUTHKIT_DATABASE_URL", "sqlite://./authkit.db"),
//!     ("AUTHKIT_BIND", "127.0.0.1:0"),
//! ])?;
//! let app = build_app(config.clone()).await?;
//! let listener = tokio::net::TcpListener::bind(config.bind).await?;
//! println!("listening on http://{}", listener.local_addr()?);
//! // Serve until Ctrl-C; `authkit_server::app::shutdown_signal()` also handles SIGTERM.
//! serve(listener, app, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Routes: the authkit HTTP contract under `/api/v1`, and at the root `GET /health`,
//! `GET /ready` (503 when the database does not answer; shows the email outbox by status),
//! `GET /.well-known/jwks.json`, `GET /openapi.json` and `GET /docs` ([`api_docs`]), and
//! `GET /metrics` (Prometheus text, see [`metrics`]; on its own listener instead with
//! `AUTHKIT_METRICS_BIND`). Every response carries an `x-request-id`, and every log line of a
//! request its `request_id` ([`request_id`], [`telemetry`]). [`serve`] also runs the email
//! worker, which delivers the outbox, and reloads the signing keys ([`keys`]), so that
//! `rotate-keys` needs no restart.
//! Configuration: [`ServerConfig`], from the `AUTHKIT_*` environment variables listed in
//! [`config::vars::ALL`] and the README.

pub mod admin;
pub mod api_docs;
pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod keys;
pub mod mail;
pub mod metrics;
mod ops;
pub mod outbox;
pub mod request_id;
pub mod telemetry;

pub use app::{App, build_app, serve};
pub use config::{ConfigError, LogFormat, ServerConfig};
pub use error::ServerError;
