//! [`AuthConfig`]: lifetimes, the password policy, issuer and audience, limits.

use ipnet::IpNet;
use time::Duration;

use crate::domain::{Locale, MIN_PASSWORD_FLOOR, PasswordPolicy};
use crate::ports::{LoginThrottle, RateLimit};

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
    /// How long an ended session (revoked, idle-expired or expired) is kept, with its spent
    /// refresh hashes, before [`crate::AuthKit::purge_sessions`] deletes it (default
    /// [`crate::service::SESSION_RETENTION`], 7 days; zero deletes it at the next purge).
    /// Meanwhile a refresh token of it still reports reuse and the session shows in the
    /// user's data export.
    pub session_retention: Duration,
    /// How long the audit log keeps an event before [`crate::AuthKit::purge_audit`] deletes
    /// it; `None` (the default) keeps every event. The audit log grows by an event per login,
    /// refresh and logout, so a deployment with a retention policy sets it (Keycloak's event
    /// expiration); zero deletes every event at the next purge.
    pub audit_retention: Option<Duration>,
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
    /// Language of the emails of users who chose none (default `en`); English is the fallback
    /// when the templates lack a language.
    pub default_locale: Locale,
    /// Email delivery: retries, leases, polling.
    pub outbox: OutboxConfig,
    /// Rate limits, the failed-password throttle and trusted proxies.
    pub limits: LimitsConfig,
    /// Origins (`https://app.example.com`) allowed to call the routes from a browser: CORS
    /// answers them, with credentials, and the cross-site check lets them through. Exact
    /// matches only; `*` is refused. Default none (same-origin only).
    pub cors_origins: Vec<String>,
    /// Largest total size of the request headers (names and values), in bytes (default
    /// 16 KiB); larger requests get 431 `headers_too_large`.
    pub max_header_bytes: usize,
    /// Longest time a request may take before it is answered 503 `unavailable` (default 15 s).
    pub request_timeout: std::time::Duration,
    /// How long a session read to authenticate a request is remembered in this process
    /// (default 1 s; zero reads the session on every request). Changes made through this
    /// instance (logout, revocation, password change, disabling, role changes...) take effect
    /// at once whatever the value; changes made by another instance or process on the same
    /// database take effect after at most this long. At most the access-token lifetime.
    pub session_cache_ttl: std::time::Duration,
}

/// Abuse limits ([`crate::limits`]). Every rate is configurable and `0` turns it off.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Per client IP, on every route (default 100/min). Both per-IP limits need the client's
    /// address: a request without one (axum served without connect info) skips them, and the
    /// first such request logs a warning ([`crate::http::ApiRequest::peer_ip`]).
    pub per_ip: RateLimit,
    /// Per client IP, in addition, on register, login, forgot, reset, resend and verify-email
    /// (default 5/min).
    pub per_ip_credentials: RateLimit,
    /// Forgot-password and resend-verification emails per address, short window (default
    /// 1/min). Over it the request still answers 202 and queues nothing.
    pub emails_per_address: RateLimit,
    /// The same, long window (default 5/hour).
    pub emails_per_address_hourly: RateLimit,
    /// The per-account throttle of failed password checks.
    pub login_throttle: LoginThrottle,
    /// Proxies whose `X-Forwarded-For` is believed (default none: the socket's address is the
    /// client).
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_ip: RateLimit::per_minute(100),
            per_ip_credentials: RateLimit::per_minute(5),
            emails_per_address: RateLimit::per_minute(1),
            emails_per_address_hourly: RateLimit::per_hour(5),
            login_throttle: LoginThrottle::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl LimitsConfig {
    /// Every limit off (tests, benchmarks, or a host that limits elsewhere).
    pub fn off() -> Self {
        Self {
            per_ip: RateLimit::off(),
            per_ip_credentials: RateLimit::off(),
            emails_per_address: RateLimit::off(),
            emails_per_address_hourly: RateLimit::off(),
            login_throttle: LoginThrottle::off(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// How the email worker delivers the outbox ([`crate::AuthKit::run_email_worker`]).
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Attempts before a message is abandoned (default 5).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one (default 30 s).
    pub retry_initial: Duration,
    /// Longest wait between attempts (default 1 h).
    pub retry_max: Duration,
    /// How long a claimed message is reserved for its worker; a worker that dies releases its
    /// messages after this (default 5 min). Must exceed `send_timeout`.
    pub lease: Duration,
    /// Longest wait for the mailer on one message (default 60 s).
    pub send_timeout: Duration,
    /// Messages claimed at once (default 20).
    pub batch_size: u32,
    /// How often the worker looks for messages queued by other instances and retries coming
    /// due (default 5 s); mail queued by its own instance wakes it sooner (`linger`).
    pub poll_interval: Duration,
    /// How long the worker waits, once woken by mail its instance queued, before it claims
    /// (default 100 ms; zero claims at once). Mail queued meanwhile goes in the same claim:
    /// under a burst of registrations one write to the outbox claims many messages instead of
    /// one each, like the `linger.ms` of a Kafka producer. Never longer than `poll_interval`
    /// (a longer one acts as `poll_interval`).
    pub linger: Duration,
    /// Sent and dropped messages are deleted after this (default 7 days).
    pub retention: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_initial: Duration::seconds(30),
            retry_max: Duration::hours(1),
            lease: Duration::minutes(5),
            send_timeout: Duration::seconds(60),
            batch_size: 20,
            poll_interval: Duration::seconds(5),
            linger: Duration::milliseconds(100),
            retention: Duration::days(7),
        }
    }
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
            session_retention: crate::service::SESSION_RETENTION,
            audit_retention: None,
            verify_email_ttl: Duration::hours(24),
            password_reset_ttl: Duration::minutes(30),
            password_policy: PasswordPolicy::default(),
            require_verified_email: false,
            body_limit: 16 * 1024,
            cookie_path: None,
            default_locale: Locale::english(),
            outbox: OutboxConfig::default(),
            limits: LimitsConfig::default(),
            cors_origins: Vec::new(),
            max_header_bytes: 16 * 1024,
            request_timeout: std::time::Duration::from_secs(15),
            session_cache_ttl: std::time::Duration::from_secs(1),
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
        if self.session_cache_ttl > self.access_token_ttl.unsigned_abs() {
            return err(
                "session_cache_ttl",
                "must not exceed the access-token lifetime (zero turns the cache off)",
            );
        }
        if self.session_idle_ttl <= Duration::ZERO
            || self.session_absolute_ttl <= Duration::ZERO
            || self.session_short_ttl <= Duration::ZERO
        {
            return err("session ttl", "must be positive");
        }
        if self.session_retention < Duration::ZERO {
            return err("session_retention", "must not be negative");
        }
        if self.audit_retention.is_some_and(|r| r < Duration::ZERO) {
            return err("audit_retention", "must not be negative");
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
        for origin in &self.cors_origins {
            if crate::http::cors::parse_origin(origin).is_none() {
                return err(
                    "cors_origins",
                    "each entry must be an exact origin like https://app.example.com (scheme, \
                     host and optional port; no path, no `*`)",
                );
            }
        }
        if self.max_header_bytes < 1024 {
            return err("max_header_bytes", "must be at least 1024 bytes");
        }
        if self.request_timeout < std::time::Duration::from_millis(100) {
            return err("request_timeout", "must be at least 100 ms");
        }
        let t = &self.limits.login_throttle;
        if !t.is_off()
            && (t.base_delay <= Duration::ZERO
                || t.max_delay < t.base_delay
                || t.max_failures <= t.free_failures
                || t.max_failures > 100)
        {
            return err(
                "limits.login_throttle",
                "needs base_delay > 0, max_delay >= base_delay and free_failures < max_failures \
                 <= 100",
            );
        }
        let o = &self.outbox;
        if !(1..=100).contains(&o.max_attempts) {
            return err("outbox.max_attempts", "must be between 1 and 100");
        }
        if o.retry_initial <= Duration::ZERO || o.retry_max < o.retry_initial {
            return err(
                "outbox.retry_initial",
                "must be positive and at most outbox.retry_max",
            );
        }
        if o.send_timeout <= Duration::ZERO || o.lease <= o.send_timeout {
            return err(
                "outbox.lease",
                "must be longer than outbox.send_timeout (a message still being sent must not \
                 be claimed again)",
            );
        }
        if !(1..=1000).contains(&o.batch_size) {
            return err("outbox.batch_size", "must be between 1 and 1000");
        }
        if o.poll_interval <= Duration::ZERO || o.retention <= Duration::ZERO {
            return err(
                "outbox.poll_interval",
                "and outbox.retention must be positive",
            );
        }
        if o.linger < Duration::ZERO {
            return err("outbox.linger", "must not be negative");
        }
        Ok(())
    }
}
