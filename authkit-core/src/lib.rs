//! authkit-core: the framework- and database-free heart of authkit.
//!
//! Users, passwords, sessions, access and refresh tokens, and the HTTP contract
//! ([`http::handle`]) that the axum and actix adapters serve, all behind small ports
//! ([`ports`]) for storage, mail, time and hashing.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authkit_core::domain::{Email, Password};
//! use authkit_core::jwt::JwtKeys;
//! use authkit_core::service::{LoginInput, RegisterInput, RequestContext};
//! use authkit_core::testing::{MemoryMailer, MemoryStore, fast_hasher};
//! use authkit_core::{AuthConfig, AuthKit};
//! use secrecy::SecretBox;
//!
//! let secret = SecretBox::new(Box::from(&b"an example secret of at least 32 bytes!"[..]));
//! let kit = AuthKit::builder(AuthConfig::default())
//!     .store(MemoryStore::new())
//!     .mailer(MemoryMailer::new())
//!     .hasher(fast_hasher())
//!     .keys(JwtKeys::hs256(&secret)?)
//!     .build()?;
//!
//! let ctx = RequestContext::default();
//! let email = Email::parse("ada@example.com")?;
//! let password = Password::new("correct horse battery staple");
//! kit.register(&ctx, RegisterInput { email: email.clone(), password: password.clone(), display_name: None, locale: None }).await?;
//! let pair = kit.login(&ctx, LoginInput { email, password, remember_me: false }).await?;
//! let me = kit.authenticate_token(&pair.access_token).await?;
//! assert_eq!(me.user_id, pair.user.id);
//! assert_eq!(me.roles, ["user"]);
//!
//! // Emails wait in the outbox; a server runs `kit.clone().run_email_worker(shutdown)` in the
//! // background, and one pass delivers them here.
//! assert_eq!(kit.deliver_emails().await?.sent, 1);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "test-util"))]
//! # fn main() {}
//! ```
//!
//! Emails (verification, reset, notices) are written to an outbox in the same transaction as
//! the change they announce and delivered by [`AuthKit::run_email_worker`], which every host
//! runs in the background (see [`mail`]); SMTP delivery is the `authkit-smtp` crate.
//!
//! Observability: log events go to the `tracing` facade (audit events under the target
//! `authkit::audit`) and metrics to the [`metrics`](https://docs.rs/metrics) facade (login and
//! refresh outcomes, registrations, audit events, the hash pool, rate limits: see [`metrics`]);
//! both cost next to nothing until the host installs a subscriber or a recorder.
//!
//! Features: `argon2` (default) the argon2id hasher on a bounded worker pool; `test-util` the
//! in-memory store, capture mailer, manual clock and fast hasher.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod domain;
pub mod error;
#[cfg(feature = "argon2")]
pub mod hashing;
pub mod http;
pub mod job_queue;
pub mod jwt;
mod kit;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod ports;
pub mod service;
mod session_cache;
#[cfg(feature = "test-util")]
pub mod testing;

pub use config::AuthConfig;
pub use error::{Error, ErrorCode, Result};
pub use kit::{AuthKit, AuthKitBuilder, BuildError};
pub use service::Principal;

/// Re-exported so that hosts and adapters name the same versions.
pub use {async_trait::async_trait, secrecy, time, uuid};
