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
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
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
