//! Passwords, their policy and their stored hashes.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use crate::error::FieldError;

/// A password as submitted by a user. Never printed: `Debug` is redacted and there is no `Display`.
///
/// The value is kept exactly as submitted; [`Password::normalized`] gives the NFKC form that is
/// hashed and measured, so the same password typed in NFC or NFD logs in alike. Nothing is trimmed
/// or truncated.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Wraps a submitted password.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The NFKC form, which is what gets hashed and measured.
    pub fn normalized(&self) -> SecretString {
        SecretString::from(self.0.expose_secret().nfkc().collect::<String>())
    }

    /// The value as submitted.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl From<String> for Password {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// A stored password hash (a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$...`).
/// Redacted in `Debug`; never serialized into a response.
#[derive(Clone)]
pub struct PasswordHash(SecretString);

impl PasswordHash {
    /// Wraps a PHC string.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(SecretString::from(phc.into()))
    }

    /// The PHC string, for a store to persist.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// The password rules applied at registration, change and reset.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    /// Fewest code points after NFKC (default 15; never below 8).
    pub min_len: usize,
    /// Most code points after NFKC (default 128).
    pub max_len: usize,
}

/// The smallest `min_len` a configuration may set.
pub const MIN_PASSWORD_FLOOR: usize = 8;

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 15,
            max_len: 128,
        }
    }
}

impl PasswordPolicy {
    /// Whether `password` (in NFKC) is longer than [`Self::max_len`]: no stored password can
    /// match it, so it is refused before any lookup or hash.
    pub fn is_over_max_len(&self, password: &Password) -> bool {
        password.normalized().expose_secret().chars().count() > self.max_len
    }

    /// Checks `password` and returns every reason it is refused (empty when accepted).
    ///
    /// `context` holds words the password must not equal (case-insensitively): the email, its
    /// local part, the service name.
    pub fn check(&self, field: &str, password: &Password, context: &[&str]) -> Vec<FieldError> {
        let normalized = password.normalized();
        let value = normalized.expose_secret();
        let len = value.chars().count();
        let mut errors = Vec::new();
        if len < self.min_len {
            errors.push(FieldError::new(
                field,
                "too_short",
                format!("must be at least {} characters", self.min_len),
            ));
        } else if len > self.max_len {
            errors.push(FieldError::new(
                field,
                "too_long",
                format!("must be at most {} characters", self.max_len),
            ));
        }
        let lowered = value.to_lowercase();
        if is_common(&lowered) {
            errors.push(FieldError::new(
                field,
                "common_password",
                "is too common: choose a password that is not on lists of frequently used ones",
            ));
        }
        if context
            .iter()
            .filter(|w| !w.is_empty())
            .any(|w| lowered == w.to_lowercase())
        {
            errors.push(FieldError::new(
                field,
                "context_word",
                "must not be your email address or the service name",
            ));
        }
        errors
    }
}

/// The 30 000 most common passwords of the zxcvbn project (MIT, see
/// `common_passwords.LICENSE`), NFKC-normalized and lower-cased, one per line.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().collect())
}

/// Whether a lower-cased, normalized password is common: on the shipped list, a repetition of
/// a listed word or of a unit shorter than 4 characters (`passwordpassword`, `abcabcabc...`),
/// or a run of consecutive digits or letters (`123456789012345`, `zyxwv...`). Only the whole
/// password is compared, never substrings.
fn is_common(lowered: &str) -> bool {
    let list = common_passwords();
    if list.contains(lowered) {
        return true;
    }
    let chars: Vec<char> = lowered.chars().collect();
    let n = chars.len();
    for unit in 1..=n / 2 {
        if n.is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit]) {
            let unit_str: String = chars[..unit].iter().collect();
            if unit < 4 || list.contains(unit_str.as_str()) {
                return true;
            }
        }
    }
    is_sequence(&chars)
}

/// Digits or ASCII letters each one more (or each one less) than the previous, digits wrapping
/// from 9 to 0.
fn is_sequence(chars: &[char]) -> bool {
    if chars.len() < 4 {
        return false;
    }
    let step = |a: char, b: char, dir: i32| -> bool {
        match (a.to_digit(10), b.to_digit(10)) {
            (Some(x), Some(y)) => (x as i32 + dir).rem_euclid(10) == y as i32,
            _ => a.is_ascii_lowercase() && b.is_ascii_lowercase() && a as i32 + dir == b as i32,
        }
    };
    [1, -1]
        .iter()
        .any(|&dir| chars.windows(2).all(|w| step(w[0], w[1], dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_code_points_after_nfkc() {
        let p = PasswordPolicy::default();
        let codes = |pw: String| -> Vec<String> {
            p.check("password", &Password::new(pw), &[])
                .into_iter()
                .map(|e| e.code)
                .collect()
        };
        assert!(codes(format!("{}x", "é".repeat(14))).is_empty());
        assert_eq!(codes(format!("{}x", "é".repeat(13))), ["too_short"]);
        assert_eq!(codes(format!("{}x", "é".repeat(128))), ["too_long"]);
        assert!(codes(format!("{}x", "é".repeat(127))).is_empty());
        assert!(codes(format!("{}🎉", "😀".repeat(14))).is_empty());
    }

    #[test]
    fn nfc_and_nfd_normalize_alike() {
        let nfc = Password::new("caf\u{e9}");
        let nfd = Password::new("cafe\u{301}");
        assert_eq!(
            nfc.normalized().expose_secret(),
            nfd.normalized().expose_secret()
        );
    }

    #[test]
    fn common_passwords_are_refused_whole_only() {
        assert!(common_passwords().len() >= 10_000);
        let p = PasswordPolicy {
            min_len: 8,
            ..PasswordPolicy::default()
        };
        for common in [
            "password",
            "Baseball1",
            "1qaz2wsx3edc4rfv",
            "passwordpassword",
            "123456789012345",
            "aaaaaaaaaaaaaaaa",
            "abcabcabcabcabcabc",
            "qwertyqwertyqwerty",
            "zyxwvutsrqponm",
        ] {
            let errors = p.check("password", &Password::new(common), &[]);
            assert!(
                errors.iter().any(|e| e.code == "common_password"),
                "{common} accepted"
            );
        }
        for fine in [
            "correct horse battery staple",
            "my password is long enough",
            "baseball is great fun in summer",
        ] {
            assert!(
                p.check("password", &Password::new(fine), &[]).is_empty(),
                "{fine}"
            );
        }
    }

    #[test]
    fn context_words_are_refused() {
        let p = PasswordPolicy::default();
        let errors = p.check(
            "password",
            &Password::new("Someone@Example.com"),
            &["someone@example.com"],
        );
        assert!(errors.iter().any(|e| e.code == "context_word"));
    }

    #[test]
    fn debug_is_redacted() {
        let p = Password::new("hunter2hunter2hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let h = PasswordHash::new("$argon2id$secret");
        assert!(!format!("{h:?}").contains("argon2id"));
    }
}
