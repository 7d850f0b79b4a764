//! authkit on actix-web 4: [`configure`] registers the contract's routes, [`CurrentUser`]
//! authenticates callers of your own routes ([`MaybeUser`] optionally: never use actix's
//! `Option<CurrentUser>`, which makes every failure anonymous) and [`require_permission`]
//! guards them.
//! Everything observable on the wire (parsing, status codes, problem documents, cookies,
//! headers) comes from `authkit_core::http`, exactly as in `authkit-axum`; this crate only
//! translates types.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{App, test, web};
//! use authkit_actix::{CurrentUser, configure};
//! use authkit_core::jwt::JwtKeys;
//! use authkit_core::testing::{MemoryMailer, MemoryStore, fast_hasher};
//! use authkit_core::{AuthConfig, AuthKit};
//!
//! let secret = secrecy::SecretBox::new(Box::from(&[42u8; 32][..]));
//! let kit = AuthKit::builder(AuthConfig::default())
//!     .store(MemoryStore::new())
//!     .mailer(MemoryMailer::new())
//!     .hasher(fast_hasher())
//!     .keys(JwtKeys::hs256(&secret)?)
//!     .build()?;
//!
//! async fn whoami(me: CurrentUser) -> String {
//!     me.0.user_id.to_string()
//! }
//!
//! // In a server: `HttpServer::new(move || App::new()...)`, the same app per worker.
//! let app = test::init_service(
//!     App::new()
//!         .app_data(web::Data::new(kit.clone()))
//!         .service(web::scope("/api/v1").configure(configure(kit.clone())))
//!         .route("/whoami", web::get().to(whoami)),
//! )
//! .await;
//!
//! let register = test::TestRequest::post()
//!     .uri("/api/v1/register")
//!     .insert_header(("content-type", "application/json"))
//!     .set_payload(r#"{"email": "ada@example.com", "password": "correct horse battery staple"}"#)
//!     .to_request();
//! assert_eq!(test::call_service(&app, register).await.status(), 201);
//!
//! let anonymous = test::TestRequest::get().uri("/whoami").to_request();
//! assert_eq!(test::call_service(&app, anonymous).await.status(), 401);
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod extract;
mod guard;

#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub use convert::openapi_service;
pub use convert::{ApiError, configure};
pub use extract::{CurrentUser, MaybeUser};
pub use guard::require_permission;

/// The core crate, re-exported so hosts name the same version.
pub use authkit_core as core;
