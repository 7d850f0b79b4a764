//! Passwords, their policy and their stored hashes.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_code_points_after_nfkc() {
        let p = PasswordPolicy::default();
        assert!(
            p.check("password", &Password::new("é".repeat(15)), &[])
                .is_empty()
        );
        let short = p.check("password", &Password::new("a".repeat(14)), &[]);
        assert_eq!(short[0].code, "too_short");
        let long = p.check("password", &Password::new("a".repeat(129)), &[]);
        assert_eq!(long[0].code, "too_long");
        assert!(
            p.check("password", &Password::new("😀".repeat(15)), &[])
                .is_empty()
        );
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
