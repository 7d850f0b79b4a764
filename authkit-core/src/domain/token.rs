//! Opaque tokens (refresh and one-time tokens) and their stored hashes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::{Email, UserId};

/// Random bytes in every opaque token (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// Bytes of a refresh token's [`RefreshSelector`] (128 bits).
pub const SELECTOR_BYTES: usize = 16;

/// Characters of a refresh token ([`OpaqueToken::refresh`]): base64url of its 48 bytes.
const REFRESH_TOKEN_CHARS: usize = (SELECTOR_BYTES + TOKEN_BYTES) * 4 / 3;

/// A freshly generated opaque token: 256 bits from the operating system's CSPRNG, base64url
/// without padding (43 characters). It is handed to the client once; only its [`TokenHash`]
/// is stored. `Debug` is redacted.
#[derive(Clone)]
pub struct OpaqueToken(SecretString);

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the system random source failed")]
pub struct RandomError;

impl OpaqueToken {
    /// Draws a new token.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        random_bytes(&mut bytes)?;
        Ok(Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Draws a refresh token of the session whose selector is `selector`: the selector's 16
    /// bytes, then [`TOKEN_BYTES`] random bytes, base64url without padding (64 characters, every
    /// one of them random). The selector finds the session; the whole token's [`TokenHash`] is
    /// what the session keeps (the split-token pattern: a stable key to look the session up by,
    /// so that a rotation rewrites no index, and a secret that only its hash proves).
    pub fn refresh(selector: RefreshSelector) -> Result<Self, RandomError> {
        let mut bytes = [0u8; SELECTOR_BYTES + TOKEN_BYTES];
        bytes[..SELECTOR_BYTES].copy_from_slice(&selector.0);
        random_bytes(&mut bytes[SELECTOR_BYTES..])?;
        Ok(Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The value to give to the client.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The SHA-256 of the token, which is what stores keep.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.expose())
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken([redacted])")
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError)
}

/// The public half of a refresh token ([`OpaqueToken::refresh`]): 128 random bits drawn when
/// the session opens and kept for its whole life, by which a store finds the session of a
/// presented token. It proves nothing: only the token's [`TokenHash`] does. `Debug` is
/// redacted all the same, since it is part of a token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshSelector(pub [u8; SELECTOR_BYTES]);

impl RefreshSelector {
    /// Draws a new selector.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; SELECTOR_BYTES];
        random_bytes(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The selector of a refresh token as a client presents it: `None` unless the token is
    /// base64url of exactly 48 bytes, as [`OpaqueToken::refresh`] makes them. (Tokens issued
    /// before selectors existed are 43 characters and have none: stores find those by hash.)
    pub fn of(token: &str) -> Option<Self> {
        if token.len() != REFRESH_TOKEN_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        Self::from_slice(bytes.get(..SELECTOR_BYTES)?)
    }

    /// The raw bytes, for a store to persist.
    pub fn as_bytes(&self) -> &[u8; SELECTOR_BYTES] {
        &self.0
    }

    /// Rebuilds a selector read back from a store; `None` if the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; SELECTOR_BYTES]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Debug for RefreshSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshSelector([redacted])")
    }
}

/// SHA-256 of an opaque token. Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a token as presented by a client (any string; unknown values simply never match).
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// The raw digest, for a store to persist.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Rebuilds a hash read back from a store; `None` if the length is wrong.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash([redacted])")
    }
}

/// What a one-time token may be used for; a token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// Proves control of an email address.
    VerifyEmail,
    /// Allows setting a new password without the old one.
    PasswordReset,
}

impl TokenPurpose {
    /// The stable name stores persist.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    /// Parses [`TokenPurpose::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify_email" => Some(Self::VerifyEmail),
            "password_reset" => Some(Self::PasswordReset),
            _ => None,
        }
    }
}

/// A one-time token to store (its hash only).
#[derive(Debug, Clone)]
pub struct NewOneTimeToken {
    /// SHA-256 of the token sent to the user.
    pub hash: TokenHash,
    /// What it may be used for.
    pub purpose: TokenPurpose,
    /// The user it belongs to.
    pub user_id: UserId,
    /// The address it was sent to (verification tokens are bound to the (user, email) pair).
    pub email: Email,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// After this instant the token is refused.
    pub expires_at: OffsetDateTime,
}

/// A one-time token that a store has just consumed.
#[derive(Debug, Clone)]
pub struct OneTimeToken {
    /// What it was for.
    pub purpose: TokenPurpose,
    /// Its user.
    pub user_id: UserId,
    /// The address it was sent to.
    pub email: Email,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_distinct() {
        let a = OpaqueToken::generate().unwrap();
        let b = OpaqueToken::generate().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(a.hash(), TokenHash::of(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    /// SECURITY.md item 37: 10 000 tokens of each kind (one-time and refresh), decoded, are all
    /// distinct, and their random bytes look uniform: every byte value and every bit position
    /// at its expected frequency. The bounds are wide (a working CSPRNG fails one with
    /// probability below 1e-6), so they catch a broken source (a constant, a counter, a stuck
    /// byte, a bit never set), not a subtle bias.
    #[test]
    fn ten_thousand_tokens_are_distinct_and_their_bytes_uniform() {
        const EACH: usize = 10_000;
        let selector = RefreshSelector::generate().unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut secrets: Vec<[u8; TOKEN_BYTES]> = Vec::with_capacity(2 * EACH);
        for i in 0..2 * EACH {
            let token = if i % 2 == 0 {
                OpaqueToken::generate()
            } else {
                OpaqueToken::refresh(selector)
            }
            .unwrap();
            assert!(seen.insert(token.expose().to_owned()), "a token came twice");
            let bytes = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
            // A refresh token's selector is the same for the session; its secret follows.
            secrets.push(bytes[bytes.len() - TOKEN_BYTES..].try_into().unwrap());
        }
        let n = secrets.len() as f64;
        // Byte values: chi-square of 640 000 bytes over 256 values, 255 degrees of freedom
        // (mean 255, standard deviation 22.6); above 400 has a probability of about 2e-8.
        let mut counts = [0u64; 256];
        for byte in secrets.iter().flatten() {
            counts[usize::from(*byte)] += 1;
        }
        let expected = n * TOKEN_BYTES as f64 / 256.0;
        let chi_square: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(
            chi_square < 400.0,
            "byte frequencies: chi-square {chi_square:.1} over 255 degrees of freedom"
        );
        // Bit positions: each of the 256 set in about half of the 20 000 secrets (standard
        // deviation 70.7), within 6 standard deviations (2e-9 each).
        let sd = n.sqrt() / 2.0;
        for bit in 0..TOKEN_BYTES * 8 {
            let set = secrets
                .iter()
                .filter(|s| (s[bit / 8] >> (bit % 8)) & 1 == 1)
                .count() as f64;
            assert!(
                (set - n / 2.0).abs() < 6.0 * sd,
                "bit {bit} is set in {set} of {n} secrets"
            );
        }
    }

    #[test]
    fn refresh_tokens_carry_their_selector() {
        let selector = RefreshSelector::generate().unwrap();
        let a = OpaqueToken::refresh(selector).unwrap();
        let b = OpaqueToken::refresh(selector).unwrap();
        assert_eq!(a.expose().len(), 64);
        assert_eq!(REFRESH_TOKEN_CHARS, 64);
        assert_ne!(a.expose(), b.expose(), "a new secret each time");
        assert_eq!(RefreshSelector::of(a.expose()), Some(selector));
        assert_eq!(RefreshSelector::of(b.expose()), Some(selector));
        let other = RefreshSelector::generate().unwrap();
        assert_ne!(other, selector);
        let bytes = URL_SAFE_NO_PAD.decode(a.expose()).unwrap();
        assert_eq!(bytes.len(), SELECTOR_BYTES + TOKEN_BYTES);
        assert_eq!(&bytes[..SELECTOR_BYTES], selector.as_bytes());
        assert!(!format!("{selector:?}").contains(&format!("{:?}", selector.0)));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn only_refresh_shaped_tokens_have_a_selector() {
        let old = OpaqueToken::generate().unwrap();
        assert_eq!(RefreshSelector::of(old.expose()), None, "43 characters");
        let refresh = OpaqueToken::refresh(RefreshSelector([1; 16])).unwrap();
        let token = refresh.expose();
        for bad in [
            &token[..63],
            &format!("{token}A"),
            &format!("{}!", &token[..63]),
            &format!("{}=", &token[..63]),
            "",
        ] {
            assert_eq!(RefreshSelector::of(bad), None, "{bad:?}");
        }
        assert_eq!(RefreshSelector::from_slice(&[0; 15]), None);
    }
}
