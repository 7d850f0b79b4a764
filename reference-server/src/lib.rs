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
//! `GET /.well-known/jwks.json`, and `GET /openapi.json` and `GET /docs` ([`api_docs`]).
//! [`serve`] also runs the email worker, which delivers the outbox.
//! Configuration: [`ServerConfig`], from the `AUTHKIT_*` environment variables listed in
//! [`config::vars::ALL`] and the README.

pub mod admin;
pub mod api_docs;
pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod mail;
mod ops;
pub mod outbox;
pub mod telemetry;

pub use app::{App, build_app, serve};
pub use config::{ConfigError, LogFormat, ServerConfig};
pub use error::ServerError;
