//! What the integration tests of authkit-core share: each file under `tests/` is a crate of its
//! own, which takes this module in with `mod common;`.
#![allow(dead_code, reason = "each test crate uses a part of it")]

use std::sync::Arc;

use authkit_core::config::LimitsConfig;
use authkit_core::domain::{Email, Locale, Password, User, UserId};
use authkit_core::jwt::JwtKeys;
use authkit_core::service::{RegisterInput, RequestContext};
use authkit_core::testing::{ManualClock, MemoryMailer, MemoryStore};
use authkit_core::{AuthConfig, AuthKit, AuthKitBuilder};
use secrecy::SecretBox;

/// The password of every account the tests register.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// HS256 keys from a fixed test secret (32 bytes and more).
pub(crate) fn test_keys() -> JwtKeys {
    JwtKeys::hs256(&SecretBox::new(Box::from(
        &b"an authkit-core test secret of 32 bytes"[..],
    )))
    .unwrap()
}

/// A kit on `store` and `clock` with a memory mailer, [`test_keys`] and the abuse limits off
/// (repeated logins of one account are the tests' own doing); the hasher is the caller's.
pub(crate) fn builder(store: Arc<MemoryStore>, clock: Arc<ManualClock>) -> AuthKitBuilder {
    AuthKit::builder(AuthConfig {
        limits: LimitsConfig::off(),
        ..AuthConfig::default()
    })
    .store_arc(store)
    .mailer_arc(Arc::new(MemoryMailer::new()))
    .clock_arc(clock)
    .keys(test_keys())
}

/// Registers `email` with [`PASSWORD`] and returns the user's id.
pub(crate) async fn register(kit: &AuthKit, email: &str) -> UserId {
    register_speaking(kit, email, None).await.id
}

/// Registers `email` with [`PASSWORD`] and the language `locale` (a tag such as `fr`, or none)
/// and returns the user.
pub(crate) async fn register_speaking(kit: &AuthKit, email: &str, locale: Option<&str>) -> User {
    kit.register(
        &RequestContext::default(),
        RegisterInput {
            email: Email::parse(email).unwrap(),
            password: Password::new(PASSWORD),
            display_name: None,
            locale: locale.map(|l| Locale::parse(l).unwrap()),
        },
    )
    .await
    .unwrap()
}
