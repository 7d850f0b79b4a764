//! [`AuthConfig`]: lifetimes, the password policy, issuer and audience, limits.

use time::Duration;

use crate::domain::{MIN_PASSWORD_FLOOR, PasswordPolicy};

/// The settings of an [`crate::AuthKit`]. Start from [`AuthConfig::default`] and change what
/// you need; [`crate::AuthKitBuilder::build`] checks the values.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `iss` of access tokens (the reference server uses its public URL).
    pub issuer: String,
    /// `aud` of access tokens (default `authkit`).
    pub audience: String,
    /// Name of the service: shown in emails, refused as a password.
    pub service_name: String,
    /// Base of the links in emails, e.g. `https://app.example.com`. The Host header is never used.
    pub public_url: String,
    /// Access-token lifetime (default 15 min).
    pub access_token_ttl: Duration,
    /// Clock leeway when checking `exp`/`nbf`, in seconds (default 30).
    pub leeway_secs: u32,
    /// A session unused for this long dies (default 14 days).
    pub session_idle_ttl: Duration,
    /// Absolute session lifetime with "remember me" (default 30 days).
    pub session_absolute_ttl: Duration,
    /// Absolute session lifetime without "remember me" (default 24 h).
    pub session_short_ttl: Duration,
    /// Lifetime of email-verification tokens (default 24 h).
    pub verify_email_ttl: Duration,
    /// Lifetime of password-reset tokens (default 30 min).
    pub password_reset_ttl: Duration,
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// Refuse login with `email_not_verified` until the address is verified (default false).
    pub require_verified_email: bool,
    /// Largest request body accepted on auth routes, in bytes (default 16 KiB).
    pub body_limit: usize,
    /// `Path` of the refresh cookie. `None` (default): the mount point of the routes, derived
    /// from the request path, so the cookie is only sent to the auth routes.
    pub cookie_path: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".to_owned(),
            audience: "authkit".to_owned(),
            service_name: "authkit".to_owned(),
            public_url: "http://localhost:8080".to_owned(),
            access_token_ttl: Duration::minutes(15),
            leeway_secs: 30,
            session_idle_ttl: Duration::days(14),
            session_absolute_ttl: Duration::days(30),
            session_short_ttl: Duration::hours(24),
            verify_email_ttl: Duration::hours(24),
            password_reset_ttl: Duration::minutes(30),
            password_policy: PasswordPolicy::default(),
            require_verified_email: false,
            body_limit: 16 * 1024,
            cookie_path: None,
        }
    }
}

/// A configuration value was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration `{field}`: {reason}")]
pub struct ConfigError {
    /// The field.
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl AuthConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason: &str| {
            Err(ConfigError {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.issuer.is_empty() {
            return err("issuer", "must not be empty");
        }
        if self.audience.is_empty() {
            return err("audience", "must not be empty");
        }
        if self.password_policy.min_len < MIN_PASSWORD_FLOOR {
            return err("password_policy.min_len", "must be at least 8");
        }
        if self.password_policy.max_len < 64.max(self.password_policy.min_len) {
            return err(
                "password_policy.max_len",
                "must be at least 64 and at least min_len",
            );
        }
        if self.access_token_ttl <= Duration::ZERO || self.access_token_ttl > Duration::hours(1) {
            return err("access_token_ttl", "must be between 1 s and 1 h");
        }
        if self.session_idle_ttl <= Duration::ZERO
            || self.session_absolute_ttl <= Duration::ZERO
            || self.session_short_ttl <= Duration::ZERO
        {
            return err("session ttl", "must be positive");
        }
        if self.verify_email_ttl <= Duration::ZERO || self.verify_email_ttl > Duration::hours(24) {
            return err("verify_email_ttl", "must be between 1 s and 24 h");
        }
        if self.password_reset_ttl < Duration::minutes(1)
            || self.password_reset_ttl > Duration::hours(1)
        {
            return err("password_reset_ttl", "must be between 1 min and 1 h");
        }
        if self.body_limit < 1024 {
            return err("body_limit", "must be at least 1024 bytes");
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return err("public_url", "must start with http:// or https://");
        }
        Ok(())
    }
}
