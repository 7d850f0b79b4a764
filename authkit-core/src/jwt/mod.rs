//! Access tokens: JWTs of type `at+jwt`, signed with HS256 or EdDSA, verified strictly
//! (RFC 8725): one algorithm, a known `kid`, no key material in the header, `typ` checked,
//! `iss`/`aud`/`sub`/`exp`/`nbf`/`iat` required, time claims checked against the [`Clock`]
//! with a fixed leeway.
//!
//! [`Clock`]: crate::ports::Clock

mod keys;

pub use keys::{
    DEFAULT_ACTIVATION_DELAY, DEFAULT_VERIFY_AFTER_SIGNING, JwtKeys, KeyError, KeyState,
    MIN_HS256_SECRET_BYTES, RotationPolicy, ScheduledKey, key_schedule,
};

use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::decode_header;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// Token id.
    pub jti: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Whether the user's email is verified.
    pub email_verified: bool,
    /// Role names.
    pub roles: Vec<String>,
    /// Permission names granted by the roles.
    pub perms: Vec<String>,
    /// The session's authorization version when the token was issued; a role change raises
    /// it, and tokens of an older version are refused.
    pub av: i64,
}

/// `claims` as a token of `keys`' active key.
fn sign_with(keys: &JwtKeys, claims: &impl Serialize) -> Result<String, serde_json::Error> {
    let payload = serde_json::to_vec(claims)?;
    let mut token = String::with_capacity(keys.header.len() + payload.len() * 4 / 3 + 100);
    token.push_str(&keys.header);
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = keys.signer.sign(token.as_bytes());
    token.push('.');
    token.push_str(&signature);
    Ok(token)
}

/// Why a token was refused (only ever logged at debug level; clients see `unauthorized`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Header malformed, carries key material, wrong `typ`, or unknown `kid`.
    #[error("token header refused: {0}")]
    Header(&'static str),
    /// The header could not be read.
    #[error("token refused: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// Not three base64url parts.
    #[error("token malformed")]
    Malformed,
    /// The signature does not verify with the key its `kid` names.
    #[error("token signature refused")]
    Signature,
    /// The claims are not an access token's, or of another issuer or audience.
    #[error("token claims refused: {0}")]
    Claims(&'static str),
    /// Expired beyond the leeway.
    #[error("token expired")]
    Expired,
    /// Not valid yet beyond the leeway.
    #[error("token not yet valid")]
    NotYetValid,
}

/// Signs and verifies access tokens. The keys can be replaced while running
/// ([`TokenCodec::replace_keys`]: rotation).
///
/// Signing is jsonwebtoken's. Verification checks the signature with keys built once per key
/// set (an Ed25519 public key decompressed, an HMAC key absorbed) instead of jsonwebtoken's
/// `decode`, which builds them again for every token and parses header and claims twice:
/// EdDSA verification is the most expensive step of an authenticated request.
///
/// The keys sit behind a `std::sync::RwLock<Arc<JwtKeys>>`: signing and verifying take the read
/// lock only to clone the `Arc` (uncontended but for the rare replacement, which holds the write
/// lock only to swap the `Arc`), so the hot path gains four atomic operations (lock, unlock,
/// `Arc` count up and down), small beside one signature check, and no dependency (`arc-swap`
/// would save two of them).
#[derive(Debug)]
pub struct TokenCodec {
    keys: RwLock<Arc<JwtKeys>>,
    algorithm: jsonwebtoken::Algorithm,
    issuer: String,
    audience: String,
    leeway: i64,
}

impl TokenCodec {
    /// Builds the codec for `keys`, accepting only `issuer` and `audience`.
    pub fn new(keys: JwtKeys, issuer: &str, audience: &str, leeway_secs: u32) -> Self {
        Self {
            algorithm: keys.algorithm,
            keys: RwLock::new(Arc::new(keys)),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: i64::from(leeway_secs),
        }
    }

    /// The current key set (for the JWKS document).
    pub fn keys(&self) -> Arc<JwtKeys> {
        // A panic cannot happen while the lock is held (it only swaps an `Arc`).
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Signs and verifies with `keys` from now on. Keys of another algorithm are refused: the
    /// validator is built for one.
    pub fn replace_keys(&self, keys: JwtKeys) -> Result<(), KeyError> {
        if keys.algorithm != self.algorithm {
            return Err(KeyError::AlgorithmChange {
                running: self.algorithm,
                new: keys.algorithm,
            });
        }
        let keys = Arc::new(keys);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// Signs `claims` with the active key: the key's header (encoded once per key set), the
    /// claims, and the signature, each base64url-encoded (RFC 7515 compact serialization).
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, serde_json::Error> {
        sign_with(&self.keys(), claims)
    }

    /// Verifies a token at `now`: exactly three base64url parts; a header of this codec's
    /// algorithm and of type `at+jwt`, naming a known `kid`, with no key material and no
    /// `crit`; the signature; then claims of exactly [`AccessClaims`]' shape (every claim
    /// required, `aud` a single string) with this issuer and audience, `exp` and `nbf` checked
    /// against `now` with the leeway.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessClaims, TokenError> {
        let claims = self.verify_signed(token, &self.keys())?;
        self.check_time(&claims, now)?;
        Ok(claims)
    }

    /// [`TokenCodec::verify`], remembering tokens that verified: a token presented again (a
    /// client sends the same access token with every request until it expires) is looked up by
    /// the SHA-256 of the whole token instead of having its signature checked again; its
    /// `exp` and `nbf` are checked every time. What is remembered belongs to the key set, so
    /// replacing the keys ([`TokenCodec::replace_keys`]) forgets it: a retired key's tokens are
    /// refused at once.
    pub fn verify_cached(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        let keys = self.keys();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match keys.verified.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signed(token, &keys)?);
                keys.verified.insert(digest, Arc::clone(&claims));
                claims
            }
        };
        self.check_time(&claims, now)?;
        Ok(claims)
    }

    /// Everything [`TokenCodec::verify`] checks but the time claims, with `keys`.
    fn verify_signed(&self, token: &str, keys: &JwtKeys) -> Result<AccessClaims, TokenError> {
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (_, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
        if payload.contains('.') {
            return Err(TokenError::Malformed);
        }
        let header = decode_header(token)?;
        if header.alg != self.algorithm {
            return Err(TokenError::Header("algorithm"));
        }
        if header.jwk.is_some()
            || header.jku.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some()
        {
            return Err(TokenError::Header("key material or crit in header"));
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(TokenError::Header("wrong typ"));
        }
        let kid = header.kid.as_deref().ok_or(TokenError::Header("no kid"))?;
        let key = keys
            .verifiers
            .get(kid)
            .ok_or(TokenError::Header("unknown kid"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        if !key.verifies(message.as_bytes(), &signature) {
            return Err(TokenError::Signature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Claims("shape"))?;
        if claims.iss != self.issuer {
            return Err(TokenError::Claims("issuer"));
        }
        if claims.aud != self.audience {
            return Err(TokenError::Claims("audience"));
        }
        Ok(claims)
    }

    /// `exp` and `nbf` against `now`, with the leeway.
    fn check_time(&self, claims: &AccessClaims, now: OffsetDateTime) -> Result<(), TokenError> {
        let now = now.unix_timestamp();
        if now > claims.exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(self.leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretBox;
    use time::macros::datetime;

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://issuer.test".into(),
            aud: "authkit".into(),
            sub: "u".into(),
            sid: "s".into(),
            jti: "j".into(),
            iat: now,
            nbf: now,
            exp: now + 900,
            email_verified: false,
            roles: vec!["user".into()],
            perms: vec![],
            av: 0,
        }
    }

    fn hs() -> TokenCodec {
        let keys = JwtKeys::hs256(&SecretBox::new(Box::from(&[7u8; 32][..]))).unwrap();
        TokenCodec::new(keys, "https://issuer.test", "authkit", 30)
    }

    fn ed() -> TokenCodec {
        let key = JwtKeys::generate_ed25519(datetime!(2026-01-01 0:00 UTC)).unwrap();
        let keys = JwtKeys::ed25519(&[key]).unwrap();
        TokenCodec::new(keys, "https://issuer.test", "authkit", 30)
    }

    #[test]
    fn round_trips_and_checks_time_with_leeway() {
        for codec in [hs(), ed()] {
            let now = datetime!(2026-01-01 0:00 UTC);
            let t = now.unix_timestamp();
            let token = codec.sign(&claims(t)).unwrap();
            assert_eq!(codec.verify(&token, now).unwrap(), claims(t));
            let late = now + time::Duration::seconds(900 + 31);
            assert!(matches!(
                codec.verify(&token, late),
                Err(TokenError::Expired)
            ));
            let within = now + time::Duration::seconds(900 + 29);
            assert!(codec.verify(&token, within).is_ok());
            let early = now - time::Duration::seconds(31);
            assert!(matches!(
                codec.verify(&token, early),
                Err(TokenError::NotYetValid)
            ));
        }
    }

    /// Tokens are standard JWS: jsonwebtoken's own `decode` (an independent implementation)
    /// accepts them with the published Ed25519 key or the HS256 secret, and the header is
    /// exactly `typ`, `alg` and `kid`.
    #[test]
    fn tokens_verify_with_an_independent_jwt_library() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
        let now = datetime!(2026-01-01 0:00 UTC);
        let t = now.unix_timestamp();
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.set_issuer(&["https://issuer.test"]);
            v.set_audience(&["authkit"]);
            v.validate_exp = false;
            v
        };

        let codec = ed();
        let keys = codec.keys();
        let x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        let token = codec.sign(&claims(t)).unwrap();
        let decoded = decode::<AccessClaims>(
            &token,
            &DecodingKey::from_ed_components(&x).unwrap(),
            &validation(Algorithm::EdDSA),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims(t));
        assert_eq!(decoded.header.typ.as_deref(), Some(ACCESS_TOKEN_TYP));
        assert_eq!(decoded.header.kid.as_deref(), Some(keys.active_kid()));
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(
            header,
            serde_json::json!({ "typ": "at+jwt", "alg": "EdDSA", "kid": keys.active_kid() })
        );

        let token = hs().sign(&claims(t)).unwrap();
        let decoded = decode::<AccessClaims>(
            &token,
            &DecodingKey::from_secret(&[7u8; 32]),
            &validation(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims(t));
        assert!(
            decode::<AccessClaims>(
                &token,
                &DecodingKey::from_secret(&[8u8; 32]),
                &validation(Algorithm::HS256),
            )
            .is_err()
        );
    }

    /// Signs arbitrary claims JSON with the codec's own key and header, as a forger holding the
    /// key could: what the claim checks must refuse on their own.
    fn signed_json(codec: &TokenCodec, claims: &serde_json::Value) -> String {
        sign_with(&codec.keys(), claims).unwrap()
    }

    #[test]
    fn refuses_malformed_tampered_and_foreign_claims() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let t = now.unix_timestamp();
        for codec in [hs(), ed()] {
            let token = codec.sign(&claims(t)).unwrap();
            assert!(codec.verify(&token, now).is_ok());
            let (header, rest) = token.split_once('.').unwrap();
            let (payload, signature) = rest.split_once('.').unwrap();

            let four = format!("{token}.{signature}");
            assert!(matches!(
                codec.verify(&four, now),
                Err(TokenError::Malformed)
            ));
            let two = format!("{header}.{payload}");
            assert!(codec.verify(&two, now).is_err());
            let bad_b64 = format!("{header}.{payload}.{signature}*");
            assert!(matches!(
                codec.verify(&bad_b64, now),
                Err(TokenError::Malformed)
            ));

            let mut other = claims(t);
            other.sub = "someone-else".into();
            let other = codec.sign(&other).unwrap();
            let other_payload = other.split('.').nth(1).unwrap();
            let swapped = format!("{header}.{other_payload}.{signature}");
            assert!(matches!(
                codec.verify(&swapped, now),
                Err(TokenError::Signature)
            ));
            let unsigned = format!("{header}.{payload}.");
            assert!(matches!(
                codec.verify(&unsigned, now),
                Err(TokenError::Signature)
            ));

            let mut json = serde_json::to_value(claims(t)).unwrap();
            json["iss"] = "https://other.test".into();
            let foreign = signed_json(&codec, &json);
            assert!(matches!(
                codec.verify(&foreign, now),
                Err(TokenError::Claims("issuer"))
            ));
            let mut json = serde_json::to_value(claims(t)).unwrap();
            json["aud"] = "other".into();
            let foreign = signed_json(&codec, &json);
            assert!(matches!(
                codec.verify(&foreign, now),
                Err(TokenError::Claims("audience"))
            ));
            let mut json = serde_json::to_value(claims(t)).unwrap();
            json["aud"] = serde_json::json!(["authkit"]);
            let listed = signed_json(&codec, &json);
            assert!(matches!(
                codec.verify(&listed, now),
                Err(TokenError::Claims("shape"))
            ));
            for claim in ["exp", "nbf", "iat", "iss", "aud", "sub", "sid", "av"] {
                let mut json = serde_json::to_value(claims(t)).unwrap();
                json.as_object_mut().unwrap().remove(claim);
                let missing = signed_json(&codec, &json);
                assert!(
                    matches!(
                        codec.verify(&missing, now),
                        Err(TokenError::Claims("shape"))
                    ),
                    "without {claim}"
                );
            }
        }
    }

    #[test]
    fn remembered_tokens_keep_their_time_checks_and_go_with_their_keys() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let t = now.unix_timestamp();
        for codec in [hs(), ed()] {
            let token = codec.sign(&claims(t)).unwrap();
            assert_eq!(*codec.verify_cached(&token, now).unwrap(), claims(t));
            assert_eq!(
                *codec.verify_cached(&token, now).unwrap(),
                claims(t),
                "again"
            );
            let late = now + time::Duration::seconds(900 + 31);
            assert!(matches!(
                codec.verify_cached(&token, late),
                Err(TokenError::Expired)
            ));
            let early = now - time::Duration::seconds(31);
            assert!(matches!(
                codec.verify_cached(&token, early),
                Err(TokenError::NotYetValid)
            ));
            let (head, signature) = token.rsplit_once('.').unwrap();
            let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
            let tampered = format!("{head}.{flipped}{}", &signature[1..]);
            assert!(codec.verify_cached(&tampered, now).is_err());
        }
        // A key set that no longer holds the key: the remembered token is refused at once.
        let ed = ed();
        let token = ed.sign(&claims(t)).unwrap();
        assert!(ed.verify_cached(&token, now).is_ok());
        let other = JwtKeys::generate_ed25519(now).unwrap();
        ed.replace_keys(JwtKeys::ed25519(&[other]).unwrap())
            .unwrap();
        assert!(matches!(
            ed.verify_cached(&token, now),
            Err(TokenError::Header("unknown kid"))
        ));
    }

    #[test]
    fn refuses_other_keys_and_algorithms() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let token = hs().sign(&claims(now.unix_timestamp())).unwrap();
        assert!(ed().verify(&token, now).is_err());
        let other = ed().sign(&claims(now.unix_timestamp())).unwrap();
        assert!(
            ed().verify(&other, now).is_err(),
            "another deployment's key"
        );
    }

    #[test]
    fn jwks_publishes_ed25519_only() {
        assert_eq!(hs().keys().jwks()["keys"].as_array().unwrap().len(), 0);
        let ed = ed();
        let keys = ed.keys();
        let jwks = keys.jwks();
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["kid"], keys.active_kid());
        assert!(jwks["keys"][0].get("d").is_none());
    }

    #[test]
    fn replaced_keys_sign_and_verify_from_then_on() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let old = JwtKeys::generate_ed25519(now).unwrap();
        let new = JwtKeys::generate_ed25519(now).unwrap();
        let codec = TokenCodec::new(
            JwtKeys::ed25519(std::slice::from_ref(&old)).unwrap(),
            "https://issuer.test",
            "authkit",
            30,
        );
        let t = now.unix_timestamp();
        let old_token = codec.sign(&claims(t)).unwrap();
        let before = codec.keys();
        codec
            .replace_keys(JwtKeys::ed25519(&[new.clone(), old.clone()]).unwrap())
            .unwrap();
        assert_eq!(codec.keys().active_kid(), new.kid);
        assert_eq!(
            before.active_kid(),
            old.kid,
            "a set taken earlier is unchanged"
        );
        let new_token = codec.sign(&claims(t)).unwrap();
        assert_eq!(
            decode_header(&new_token).unwrap().kid,
            Some(new.kid.clone())
        );
        assert!(codec.verify(&old_token, now).is_ok());
        assert!(codec.verify(&new_token, now).is_ok());
        // Dropping the old key refuses its tokens.
        codec
            .replace_keys(JwtKeys::ed25519(std::slice::from_ref(&new)).unwrap())
            .unwrap();
        assert!(codec.verify(&old_token, now).is_err());
        // Another algorithm is refused; the keys stay.
        let hs = JwtKeys::hs256(&SecretBox::new(Box::from(&[7u8; 32][..]))).unwrap();
        assert!(matches!(
            codec.replace_keys(hs),
            Err(KeyError::AlgorithmChange { .. })
        ));
        assert!(codec.verify(&new_token, now).is_ok());
    }
}
