//! Test doubles (feature `test-util`): an in-memory store, a capture mailer, a manual clock and
//! a fast hasher. The memory store passes the same conformance suite as the SQL stores.

mod clock;
mod mailer;
mod memory_store;

pub use clock::ManualClock;
pub use mailer::{InjectedFailure, MemoryMailer};
pub use memory_store::MemoryStore;

/// The argon2id hasher with tiny parameters: the production code path at test speed.
#[cfg(feature = "argon2")]
pub fn fast_hasher() -> crate::hashing::Argon2Hasher {
    #[allow(clippy::expect_used)]
    crate::hashing::Argon2Hasher::new(&crate::hashing::Argon2Config::insecure_fast())
        .expect("the fast argon2 parameters are valid")
}
