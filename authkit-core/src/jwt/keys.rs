//! Signing keys: HS256 from a secret, or Ed25519 keys kept in the store, with a JWKS document,
//! and the rotation schedule of stored keys ([`key_schedule`]).
//!
//! Rotation of stored Ed25519 keys, at a given `now` ([`JwtKeys::ed25519_at`]):
//! - a new key is *published* (in the JWKS, and accepted) as soon as it exists, but *signs* only
//!   once it is older than [`RotationPolicy::activation_delay`], so that verifiers caching the
//!   JWKS, and other instances reloading the keys, know it before any token carries it;
//! - the newest key that is old enough signs; when none is (the very first start), the oldest
//!   signs;
//! - an older key stops signing when its successor starts, keeps verifying (and stays in the
//!   JWKS) for [`RotationPolicy::verify_after_signing`] more (the access-token lifetime plus the
//!   leeway: its last tokens have expired by then), and is then dropped from both.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, Header};
use secrecy::{ExposeSecret, SecretBox};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::{ACCESS_TOKEN_TYP, AccessClaims};
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
    /// [`crate::AuthKit::replace_keys`] was given keys of another algorithm than the running
    /// ones (a running kit keeps its algorithm: restart it to change).
    #[error("the new keys use {new:?} but the running ones {running:?}; restart to change")]
    AlgorithmChange {
        /// The algorithm of the running keys.
        running: Algorithm,
        /// The algorithm of the refused keys.
        new: Algorithm,
    },
}

/// How long a new key is published before it signs (5 min): as long as the JWKS route lets
/// verifiers cache the key set (`Cache-Control: max-age=300`).
pub const DEFAULT_ACTIVATION_DELAY: Duration = Duration::minutes(5);

/// How long a key keeps verifying after it stopped signing, by default: the default
/// access-token lifetime (15 min) plus the default leeway (30 s).
pub const DEFAULT_VERIFY_AFTER_SIGNING: Duration = Duration::seconds(15 * 60 + 30);

/// When stored keys start signing and stop verifying ([`key_schedule`] applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a new key is published (in the JWKS, and accepted) before it signs
    /// (default [`DEFAULT_ACTIVATION_DELAY`]).
    pub activation_delay: Duration,
    /// How long a key keeps verifying after its successor started signing: at least the
    /// access-token lifetime plus the leeway (default [`DEFAULT_VERIFY_AFTER_SIGNING`]).
    pub verify_after_signing: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            activation_delay: DEFAULT_ACTIVATION_DELAY,
            verify_after_signing: DEFAULT_VERIFY_AFTER_SIGNING,
        }
    }
}

impl RotationPolicy {
    /// Keys sign `activation_delay` after their creation and verify for `access_token_ttl`
    /// plus `leeway_secs` after they stop signing.
    pub fn new(activation_delay: Duration, access_token_ttl: Duration, leeway_secs: u32) -> Self {
        Self {
            activation_delay,
            verify_after_signing: access_token_ttl + Duration::seconds(i64::from(leeway_secs)),
        }
    }
}

/// What a stored key does at a given time ([`key_schedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published and verifying; signs from `signs_from`.
    Published {
        /// When it starts signing.
        signs_from: OffsetDateTime,
    },
    /// Signs new tokens (and verifies).
    Signing,
    /// Its successor signs; it still verifies the tokens it signed, until `until`.
    Verifying {
        /// When it is dropped (its last tokens have expired).
        until: OffsetDateTime,
    },
    /// Neither published nor accepted since `since` (its tokens have all expired).
    Retired {
        /// When it was dropped.
        since: OffsetDateTime,
    },
}

/// A stored key and its state at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledKey {
    /// The key's `kid`.
    pub kid: String,
    /// When the key was stored.
    pub created_at: OffsetDateTime,
    /// What it does at the time asked.
    pub state: KeyState,
}

/// The state of each stored key at `now` under `policy`, newest first (by creation time, then
/// `kid`, as stores list them). Exactly one key is [`KeyState::Signing`] unless `keys` is empty.
///
/// - A new key is published (in the JWKS, and accepted) as soon as it exists, but signs only
///   once it is older than [`RotationPolicy::activation_delay`], so that verifiers caching the
///   JWKS, and other instances reloading the keys, know it before any token carries it.
/// - The newest key that is old enough signs; when none is (the very first start), the oldest.
/// - An older key stops signing when its successor starts, keeps verifying (and stays in the
///   JWKS) for [`RotationPolicy::verify_after_signing`] more (the access-token lifetime plus
///   the leeway: its last tokens have expired by then), and is then retired.
pub fn key_schedule(
    keys: &[StoredSigningKey],
    now: OffsetDateTime,
    policy: &RotationPolicy,
) -> Vec<ScheduledKey> {
    let order = newest_first(keys);
    let signs_from = |i: usize| keys[order[i]].created_at + policy.activation_delay;
    // The newest key old enough signs; when none is (first start), the oldest.
    let signer = (0..order.len())
        .find(|&i| signs_from(i) <= now)
        .unwrap_or(order.len().saturating_sub(1));
    (0..order.len())
        .map(|i| {
            let state = if i < signer {
                KeyState::Published {
                    signs_from: signs_from(i),
                }
            } else if i == signer {
                KeyState::Signing
            } else {
                // Stopped signing when its successor (the next newer key) started.
                let until = signs_from(i - 1) + policy.verify_after_signing;
                if now < until {
                    KeyState::Verifying { until }
                } else {
                    KeyState::Retired { since: until }
                }
            };
            let key = &keys[order[i]];
            ScheduledKey {
                kid: key.kid.clone(),
                created_at: key.created_at,
                state,
            }
        })
        .collect()
}

/// Indices of `keys`, newest first: by creation time, then `kid`, both descending.
fn newest_first(keys: &[StoredSigningKey]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| {
        (keys[b].created_at, &keys[b].kid).cmp(&(keys[a].created_at, &keys[a].kid))
    });
    order
}

/// The key tokens are signed with and the keys they are verified with (by `kid`). One
/// algorithm family per key set: tokens of another algorithm are always refused.
pub struct JwtKeys {
    pub(crate) algorithm: Algorithm,
    pub(crate) active_kid: String,
    /// The active key, ready to sign (built once: an Ed25519 key parsed per token would cost a
    /// second scalar multiplication for every signature).
    pub(crate) signer: Signer,
    /// The base64url of the header every token of the active key carries (`alg`, `typ`,
    /// `kid`), followed by the `.` that ends it.
    pub(crate) header: String,
    pub(crate) verifiers: HashMap<String, Verifier>,
    jwks: serde_json::Value,
    next_change: Option<OffsetDateTime>,
    /// Tokens verified with this set (see [`crate::jwt::TokenCodec::verify_cached`]); a new
    /// set starts empty, so a replaced key set takes its verified tokens with it.
    pub(crate) verified: VerifiedTokens,
}

/// The claims of access tokens whose header and signature verified, by the SHA-256 of the
/// whole token, at most [`VerifiedTokens::CAPACITY`] (emptied when full).
#[derive(Default)]
pub(crate) struct VerifiedTokens(RwLock<HashMap<[u8; 32], Arc<AccessClaims>>>);

impl VerifiedTokens {
    /// The most tokens remembered (a few MB at most).
    pub(crate) const CAPACITY: usize = 4096;

    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<Arc<AccessClaims>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(digest)
            .cloned()
    }

    pub(crate) fn insert(&self, digest: [u8; 32], claims: Arc<AccessClaims>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(digest, claims);
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.algorithm)
            .field("active_kid", &self.active_kid)
            .field("kids", &self.verifiers.keys().collect::<Vec<_>>())
            .field("next_change", &self.next_change)
            .finish_non_exhaustive()
    }
}

/// The first part of every token signed with the key `kid`: the base64url of its JSON header,
/// then `.`.
fn encoded_header(algorithm: Algorithm, kid: &str) -> String {
    let mut header = Header::new(algorithm);
    header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
    header.kid = Some(kid.to_owned());
    // A header of strings and an enum always serializes.
    let json = serde_json::to_vec(&header).unwrap_or_default();
    let mut encoded = URL_SAFE_NO_PAD.encode(json);
    encoded.push('.');
    encoded
}

impl JwtKeys {
    /// HS256 with a shared secret of at least 32 bytes. Nothing is published in the JWKS.
    pub fn hs256(secret: &SecretBox<[u8]>) -> Result<Self, KeyError> {
        let bytes = secret.expose_secret();
        if bytes.len() < MIN_HS256_SECRET_BYTES {
            return Err(KeyError::SecretTooShort);
        }
        let digest = Sha256::digest(bytes);
        let kid = format!("hs256-{}", URL_SAFE_NO_PAD.encode(&digest[..6]));
        // Any key length is accepted by HMAC (RFC 2104), so this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(bytes).map_err(|_| KeyError::SecretTooShort)?;
        let mut verifiers = HashMap::new();
        verifiers.insert(kid.clone(), Verifier::Hs256(mac.clone()));
        Ok(Self {
            algorithm: Algorithm::HS256,
            header: encoded_header(Algorithm::HS256, &kid),
            active_kid: kid,
            signer: Signer::Hs256(mac),
            verifiers,
            jwks: json!({ "keys": [] }),
            next_change: None,
            verified: VerifiedTokens::default(),
        })
    }

    /// EdDSA (Ed25519). The first key signs; every key verifies and is published in the JWKS.
    /// Stored keys that rotate are read with [`JwtKeys::ed25519_at`] instead.
    pub fn ed25519(keys: &[StoredSigningKey]) -> Result<Self, KeyError> {
        let first = keys.first().ok_or(KeyError::NoKey)?;
        Ok(Self::ed25519_with(first, keys, None))
    }

    /// EdDSA (Ed25519) from stored keys as they stand at `now` under `policy` ([`key_schedule`]):
    /// the signing key signs; it, the keys not signing yet and the keys whose tokens may still
    /// be valid verify and are published in the JWKS (newest first); retired keys are left
    /// out. Build the set again at [`JwtKeys::next_change`] (or when keys are added).
    pub fn ed25519_at(
        keys: &[StoredSigningKey],
        now: OffsetDateTime,
        policy: &RotationPolicy,
    ) -> Result<Self, KeyError> {
        let schedule = key_schedule(keys, now, policy);
        let by_kid = |kid: &str| keys.iter().find(|k| k.kid == kid);
        let signer = schedule
            .iter()
            .find(|k| k.state == KeyState::Signing)
            .and_then(|k| by_kid(&k.kid))
            .ok_or(KeyError::NoKey)?;
        let live: Vec<StoredSigningKey> = schedule
            .iter()
            .filter(|k| !matches!(k.state, KeyState::Retired { .. }))
            .filter_map(|k| by_kid(&k.kid).cloned())
            .collect();
        let next_change = schedule
            .iter()
            .filter_map(|k| match k.state {
                KeyState::Published { signs_from } => Some(signs_from),
                KeyState::Verifying { until } => Some(until),
                KeyState::Signing | KeyState::Retired { .. } => None,
            })
            .min();
        Ok(Self::ed25519_with(signer, &live, next_change))
    }

    fn ed25519_with(
        signer: &StoredSigningKey,
        keys: &[StoredSigningKey],
        next_change: Option<OffsetDateTime>,
    ) -> Self {
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for key in keys {
            let public =
                ed25519_dalek::SigningKey::from_bytes(key.seed.expose_secret()).verifying_key();
            let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
            verifiers.insert(key.kid.clone(), Verifier::Ed25519(public));
            published.push(json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.kid, "alg": "EdDSA", "use": "sig",
            }));
        }
        Self {
            algorithm: Algorithm::EdDSA,
            active_kid: signer.kid.clone(),
            header: encoded_header(Algorithm::EdDSA, &signer.kid),
            signer: Signer::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                signer.seed.expose_secret(),
            )),
            verifiers,
            jwks: json!({ "keys": published }),
            next_change,
            verified: VerifiedTokens::default(),
        }
    }

    /// Generates a new Ed25519 key; its `kid` is derived from the public key.
    pub fn generate_ed25519(now: OffsetDateTime) -> Result<StoredSigningKey, KeyError> {
        let mut seed = [0u8; 32];
        random_bytes(&mut seed)?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
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

    /// The `kid`s tokens are accepted with (those published in the JWKS for Ed25519).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.verifiers.keys().map(String::as_str)
    }

    /// For a set built by [`JwtKeys::ed25519_at`]: the next time a key starts signing or is
    /// retired, when the set must be built again. `None` when nothing is due.
    pub fn next_change(&self) -> Option<OffsetDateTime> {
        self.next_change
    }
}

/// A key that checks signatures, built once per key set rather than per token (the Ed25519
/// point is decompressed, the HMAC key absorbed, when the set is built).
#[derive(Clone)]
pub(crate) enum Verifier {
    /// HS256: HMAC-SHA256 keyed with the secret, cloned for each token.
    Hs256(Hmac<Sha256>),
    /// EdDSA: an Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// The signing half of the active key.
pub(crate) enum Signer {
    /// HS256: HMAC-SHA256 keyed with the secret, cloned for each token.
    Hs256(Hmac<Sha256>),
    /// EdDSA: an Ed25519 private key (zeroized when dropped).
    Ed25519(ed25519_dalek::SigningKey),
}

impl Signer {
    /// This key's signature of `message`, base64url-encoded.
    pub(crate) fn sign(&self, message: &[u8]) -> String {
        match self {
            Self::Hs256(mac) => {
                URL_SAFE_NO_PAD.encode(mac.clone().chain_update(message).finalize().into_bytes())
            }
            Self::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                URL_SAFE_NO_PAD.encode(key.sign(message).to_bytes())
            }
        }
    }
}

impl Verifier {
    /// Whether `signature` is this key's signature of `message`: HMAC compared in constant
    /// time, Ed25519 checked strictly (RFC 8032 with canonical encodings, no small-order keys).
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hs256(mac) => mac
                .clone()
                .chain_update(message)
                .verify_slice(signature)
                .is_ok(),
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

    fn key(kid: &str, created_at: OffsetDateTime) -> StoredSigningKey {
        let mut key = JwtKeys::generate_ed25519(created_at).unwrap();
        key.kid = kid.to_owned();
        key
    }

    fn policy() -> RotationPolicy {
        RotationPolicy::new(Duration::minutes(5), Duration::minutes(15), 30)
    }

    /// The signing kid, and the published kids (newest first), at `now`.
    fn at(keys: &[StoredSigningKey], now: OffsetDateTime) -> (String, Vec<String>) {
        let set = JwtKeys::ed25519_at(keys, now, &policy()).unwrap();
        let published: Vec<String> = set.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        let mut verifying: Vec<String> = set.kids().map(str::to_owned).collect();
        verifying.sort();
        let mut sorted = published.clone();
        sorted.sort();
        assert_eq!(
            verifying, sorted,
            "the JWKS shows exactly the verifying keys"
        );
        (set.active_kid().to_owned(), published)
    }

    fn states(keys: &[StoredSigningKey], now: OffsetDateTime) -> Vec<(String, KeyState)> {
        key_schedule(keys, now, &policy())
            .into_iter()
            .map(|k| (k.kid, k.state))
            .collect()
    }

    #[test]
    fn defaults_match_the_core_defaults() {
        let config = crate::AuthConfig::default();
        assert_eq!(
            RotationPolicy::default(),
            RotationPolicy::new(
                DEFAULT_ACTIVATION_DELAY,
                config.access_token_ttl,
                config.leeway_secs
            )
        );
        assert_eq!(policy(), RotationPolicy::default());
    }

    #[test]
    fn the_first_key_signs_at_once() {
        let keys = [key("a", T0)];
        assert_eq!(at(&keys, T0), ("a".into(), vec!["a".into()]));
        assert_eq!(states(&keys, T0), [("a".into(), KeyState::Signing)]);
        let set = JwtKeys::ed25519_at(&keys, T0, &policy()).unwrap();
        assert_eq!(set.next_change(), None, "nothing is due");
        assert!(JwtKeys::ed25519_at(&[], T0, &policy()).is_err());
    }

    #[test]
    fn a_new_key_is_published_at_once_and_signs_after_the_delay() {
        let rotated = T0 + Duration::days(1);
        let keys = [key("a", T0), key("b", rotated)];
        let signs_from = rotated + Duration::minutes(5);
        for now in [rotated, signs_from - Duration::seconds(1)] {
            assert_eq!(
                at(&keys, now),
                ("a".into(), vec!["b".into(), "a".into()]),
                "at {now}: published, not signing"
            );
            assert_eq!(
                states(&keys, now),
                [
                    ("b".into(), KeyState::Published { signs_from }),
                    ("a".into(), KeyState::Signing)
                ]
            );
            let set = JwtKeys::ed25519_at(&keys, now, &policy()).unwrap();
            assert_eq!(set.next_change(), Some(signs_from));
        }
        assert_eq!(
            at(&keys, signs_from),
            ("b".into(), vec!["b".into(), "a".into()]),
            "signing once the delay has passed"
        );
    }

    #[test]
    fn the_old_key_verifies_until_its_tokens_expire_then_is_gone() {
        let rotated = T0 + Duration::days(1);
        let keys = [key("b", rotated), key("a", T0)];
        let switch = rotated + Duration::minutes(5);
        // Last token of `a` signed just before the switch: 15 min + 30 s leeway.
        let until = switch + Duration::minutes(15) + Duration::seconds(30);
        for now in [switch, until - Duration::seconds(1)] {
            assert_eq!(at(&keys, now), ("b".into(), vec!["b".into(), "a".into()]));
            assert_eq!(
                states(&keys, now)[1],
                ("a".into(), KeyState::Verifying { until })
            );
            let set = JwtKeys::ed25519_at(&keys, now, &policy()).unwrap();
            assert_eq!(set.next_change(), Some(until));
        }
        for now in [until, until + Duration::days(400)] {
            assert_eq!(at(&keys, now), ("b".into(), vec!["b".into()]), "at {now}");
            assert_eq!(
                states(&keys, now)[1],
                ("a".into(), KeyState::Retired { since: until })
            );
            let set = JwtKeys::ed25519_at(&keys, now, &policy()).unwrap();
            assert_eq!(set.next_change(), None);
        }
    }

    #[test]
    fn old_tokens_verify_and_new_ones_carry_the_new_kid() {
        use crate::jwt::{AccessClaims, TokenCodec};
        let rotated = T0 + Duration::days(1);
        let old = [key("a", T0)];
        let both = [old[0].clone(), key("b", rotated)];
        let codec = |keys: &[StoredSigningKey], now| {
            let set = JwtKeys::ed25519_at(keys, now, &policy()).unwrap();
            TokenCodec::new(set, "iss", "aud", 30)
        };
        let claims = |now: OffsetDateTime| AccessClaims {
            iss: "iss".into(),
            aud: "aud".into(),
            sub: "u".into(),
            sid: "s".into(),
            jti: "j".into(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: (now + Duration::minutes(15)).unix_timestamp(),
            email_verified: false,
            roles: vec![],
            perms: vec![],
            av: 0,
        };
        let before = rotated - Duration::seconds(1);
        let old_token = codec(&old, before).sign(&claims(before)).unwrap();
        let switch = rotated + Duration::minutes(5);
        let now = switch + Duration::minutes(10);
        let after = codec(&both, now);
        assert_eq!(after.keys().active_kid(), "b");
        let new_token = after.sign(&claims(now)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some("b")
        );
        assert!(after.verify(&new_token, now).is_ok());
        // The last token `a` signs (just before the switch) verifies until it expires, leeway
        // included; then `a` is gone.
        let fresh = codec(&both, switch - Duration::seconds(1));
        let last_old = fresh.sign(&claims(switch - Duration::seconds(1))).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&last_old)
                .unwrap()
                .kid
                .as_deref(),
            Some("a")
        );
        let late = switch + Duration::minutes(15);
        assert!(codec(&both, late).verify(&last_old, late).is_ok());
        let gone = switch + Duration::minutes(15) + Duration::seconds(30);
        assert!(matches!(
            codec(&both, gone).verify(&last_old, gone),
            Err(crate::jwt::TokenError::Header("unknown kid"))
        ));
        assert!(codec(&old, before).verify(&old_token, before).is_ok());
    }

    #[test]
    fn three_keys() {
        let (b_at, c_at) = (
            T0 + Duration::days(1),
            T0 + Duration::days(1) + Duration::minutes(2),
        );
        // Given in any order: the schedule sorts newest first.
        let keys = [key("b", b_at), key("a", T0), key("c", c_at)];
        let b_signs = b_at + Duration::minutes(5);
        let c_signs = c_at + Duration::minutes(5);
        let verify = Duration::minutes(15) + Duration::seconds(30);

        // Both new keys published; `a` signs until `b` is old enough.
        let now = b_at + Duration::minutes(3);
        assert_eq!(
            at(&keys, now),
            ("a".into(), vec!["c".into(), "b".into(), "a".into()])
        );
        assert_eq!(
            states(&keys, now),
            [
                (
                    "c".into(),
                    KeyState::Published {
                        signs_from: c_signs
                    }
                ),
                (
                    "b".into(),
                    KeyState::Published {
                        signs_from: b_signs
                    }
                ),
                ("a".into(), KeyState::Signing),
            ]
        );
        // `b` signs for two minutes, then `c`.
        assert_eq!(at(&keys, b_signs).0, "b");
        assert_eq!(at(&keys, c_signs).0, "c");
        assert_eq!(
            states(&keys, c_signs),
            [
                ("c".into(), KeyState::Signing),
                (
                    "b".into(),
                    KeyState::Verifying {
                        until: c_signs + verify
                    }
                ),
                (
                    "a".into(),
                    KeyState::Verifying {
                        until: b_signs + verify
                    }
                ),
            ]
        );
        // `a` goes first (it stopped signing first), then `b`.
        let now = b_signs + verify;
        assert_eq!(at(&keys, now), ("c".into(), vec!["c".into(), "b".into()]));
        let set = JwtKeys::ed25519_at(&keys, now, &policy()).unwrap();
        assert_eq!(set.next_change(), Some(c_signs + verify));
        assert_eq!(at(&keys, c_signs + verify), ("c".into(), vec!["c".into()]));
    }

    #[test]
    fn when_no_key_is_old_enough_the_oldest_signs() {
        // Two keys created within the delay on an empty database (a rotation right after the
        // first start): the oldest signs until the newer one is old enough.
        let keys = [key("a", T0), key("b", T0 + Duration::minutes(1))];
        assert_eq!(at(&keys, T0 + Duration::minutes(1)).0, "a");
        assert_eq!(at(&keys, T0 + Duration::minutes(5)).0, "a");
        assert_eq!(at(&keys, T0 + Duration::minutes(6)).0, "b");
        // A zero delay: the newest signs at once.
        let zero = RotationPolicy {
            activation_delay: Duration::ZERO,
            ..policy()
        };
        let set = JwtKeys::ed25519_at(&keys, T0 + Duration::minutes(1), &zero).unwrap();
        assert_eq!(set.active_kid(), "b");
    }
}
