//! Signing keys as stores keep them.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};
use time::OffsetDateTime;

/// An Ed25519 signing key kept in the database so that every instance shares it.
pub struct StoredSigningKey {
    /// Key id (`kid` header).
    pub kid: String,
    /// The 32-byte Ed25519 seed.
    pub seed: SecretBox<[u8; 32]>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl Clone for StoredSigningKey {
    fn clone(&self) -> Self {
        Self {
            kid: self.kid.clone(),
            seed: SecretBox::new(Box::new(*self.seed.expose_secret())),
            created_at: self.created_at,
        }
    }
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("seed", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}
