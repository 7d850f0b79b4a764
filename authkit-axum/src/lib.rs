//! authkit on axum: [`router`] serves the contract's routes, [`CurrentUser`] authenticates
//! callers of your own routes ([`MaybeUser`] optionally) and [`require_permission`] guards
//! them. Everything observable
//! on the wire (parsing, status codes, problem documents, cookies, headers) comes from
//! `authkit_core::http`; this crate only translates types.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authkit_axum::{CurrentUser, router};
//! use authkit_core::jwt::JwtKeys;
//! use authkit_core::testing::{MemoryMailer, MemoryStore, fast_hasher};
//! use authkit_core::{AuthConfig, AuthKit};
//! use axum::{Router, routing::get};
//!
//! let secret = secrecy::SecretBox::new(Box::from(&[42u8; 32][..]));
//! let kit = AuthKit::builder(AuthConfig::default())
//!     .store(MemoryStore::new())
//!     .mailer(MemoryMailer::new())
//!     .hasher(fast_hasher())
//!     .keys(JwtKeys::hs256(&secret)?)
//!     .build()?;
//!
//! async fn whoami(CurrentUser(me): CurrentUser) -> String {
//!     me.user_id.to_string()
//! }
//!
//! let app: Router = Router::new()
//!     .nest("/api/v1", router(kit.clone()))
//!     .route("/whoami", get(whoami))
//!     .with_state(kit);
//!
//! // Serve with connect info, so that authkit sees client addresses (see below).
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! );
//! # drop(server); // a real app awaits it: `server.await?`
//! # Ok(())
//! # }
//! ```
//!
//! # Client addresses: serve with connect info
//!
//! axum knows the client's address only when the app is served with
//! `app.into_make_service_with_connect_info::<SocketAddr>()` (then a request carries
//! `ConnectInfo<SocketAddr>`); plain `axum::serve(listener, app)` gives it none. authkit needs
//! the address for its per-IP rate limits (`LimitsConfig::per_ip` and `per_ip_credentials`),
//! and records it on sessions and audit events. Behind a reverse proxy, serve with connect info
//! *and* list the proxy in `LimitsConfig::trusted_proxies`, so that the client is read from
//! `X-Forwarded-For`. (actix-web always knows the peer address.)
//!
//! **Without an address, the per-IP limits are skipped** for the request, and the first such
//! request of the process logs a `WARN` (target `authkit::limits`) naming this fix. This is a
//! decision: the alternatives were worse. Counting every addressless request in one shared
//! bucket would let a single client lock every user out (the credential limit is 5 requests a
//! minute by default) and turn a deployment slip into an outage of login for everyone; refusing
//! such requests (`tower_governor`'s peer-IP key extractor answers 500 when it finds no
//! address) would do the same. The limits that do not need an address still hold: the
//! per-account throttle of failed passwords and the per-address limit on emails.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod extract;
mod guard;

#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub use convert::openapi_router;
pub use convert::{ApiError, router};
pub use extract::{CurrentUser, MaybeUser};
pub use guard::require_permission;

/// The core crate, re-exported so hosts name the same version.
pub use authkit_core as core;
