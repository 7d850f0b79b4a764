//! Signing keys: HS256 from a secret, or Ed25519 keys kept in the store, with a JWKS document.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretBox};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::domain::{RandomError, StoredSigningKey, random_bytes};

/// The shortest HS256 secret accepted (RFC 8725 §3.5: at least the output size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Why a key set could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The HS256 secret is shorter than [`MIN_HS256_SECRET_BYTES`].
    #[error("the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes")]
    SecretTooShort,
    /// No Ed25519 key was given.
    #[error("no signing key")]
    NoKey,
    /// Random generation failed.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The keys tokens are signed with (the newest) and verified with (all of them, by `kid`).
/// One algorithm family per key set: tokens of another algorithm are always refused.
pub struct JwtKeys {
    pub(crate) algorithm: Algorithm,
    pub(crate) active_kid: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.algorithm)
            .field("active_kid", &self.active_kid)
            .field("kids", &self.decoding.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl JwtKeys {
    /// HS256 with a shared secret of at least 32 bytes. Nothing is published in the JWKS.
    pub fn hs256(secret: &SecretBox<[u8]>) -> Result<Self, KeyError> {
        let bytes = secret.expose_secret();
        if bytes.len() < MIN_HS256_SECRET_BYTES {
            return Err(KeyError::SecretTooShort);
        }
        let digest = Sha256::digest(bytes);
        let kid = format!("hs256-{}", URL_SAFE_NO_PAD.encode(&digest[..6]));
        let mut decoding = HashMap::new();
        decoding.insert(kid.clone(), DecodingKey::from_secret(bytes));
        Ok(Self {
            algorithm: Algorithm::HS256,
            active_kid: kid,
            encoding: EncodingKey::from_secret(bytes),
            decoding,
            jwks: json!({ "keys": [] }),
        })
    }

    /// EdDSA (Ed25519). The first key signs; every key verifies and is published in the JWKS.
    pub fn ed25519(keys: &[StoredSigningKey]) -> Result<Self, KeyError> {
        let first = keys.first().ok_or(KeyError::NoKey)?;
        let mut decoding = HashMap::new();
        let mut published = Vec::new();
        for key in keys {
            let public = public_key(key.seed.expose_secret());
            let x = URL_SAFE_NO_PAD.encode(public);
            decoding.insert(key.kid.clone(), DecodingKey::from_ed_der(&public));
            published.push(json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.kid, "alg": "EdDSA", "use": "sig",
            }));
        }
        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&ED25519_PKCS8_PREFIX);
        der.extend_from_slice(first.seed.expose_secret());
        let encoding = EncodingKey::from_ed_der(&der);
        Ok(Self {
            algorithm: Algorithm::EdDSA,
            active_kid: first.kid.clone(),
            encoding,
            decoding,
            jwks: json!({ "keys": published }),
        })
    }

    /// Generates a new Ed25519 key; its `kid` is derived from the public key.
    pub fn generate_ed25519(now: OffsetDateTime) -> Result<StoredSigningKey, KeyError> {
        let mut seed = [0u8; 32];
        random_bytes(&mut seed)?;
        let public = public_key(&seed);
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
        Ok(StoredSigningKey {
            kid,
            seed: SecretBox::new(Box::new(seed)),
            created_at: now,
        })
    }

    /// The JSON Web Key Set of the public keys (empty for HS256).
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The `kid` new tokens carry.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }
}

fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}
