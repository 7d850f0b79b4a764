//! The password hasher port.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Password, PasswordHash};

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Every hash worker is busy and the queue is full: answer 503 with `Retry-After`.
    #[error("password hashing is overloaded")]
    Overloaded {
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// The stored hash cannot be parsed or uses an unsupported scheme.
    #[error("stored password hash is malformed or unsupported")]
    Malformed,
    /// The hasher itself failed (worker gone, parameter error).
    #[error("password hasher failed: {0}")]
    Internal(&'static str),
}

/// Hashes and verifies passwords. Implementations MUST NOT block the async runtime
/// (they run on dedicated threads), MUST hash the NFKC form ([`Password::normalized`]) and
/// MUST NOT truncate it.
#[async_trait]
pub trait PasswordHasher: Send + Sync + Debug + 'static {
    /// Hashes with a fresh random salt.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Whether `password` matches `hash`, compared in constant time.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError>;

    /// Whether `hash` was made with other parameters than the current ones (rehash on login).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;

    /// Whether [`PasswordHasher::verify`] can check `hash` (a format this hasher reads), for
    /// hashes imported from another system. Default: every hash.
    fn recognizes(&self, hash: &PasswordHash) -> bool {
        let _ = hash;
        true
    }
}
