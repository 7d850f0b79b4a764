//! Abuse limits: per-IP request rate limits, the per-account throttle of failed password checks,
//! and the client address they are keyed on.
//!
//! - **Per IP** ([`crate::config::LimitsConfig`]): every route of the contract (default 100
//!   requests/min) and, in addition, the credential routes — register, login, forgot, reset,
//!   resend and verify-email — (default 5/min). Over the limit: 429 `rate_limited` with
//!   `Retry-After`. IPv6 clients are keyed on their /64, which one client usually holds whole.
//! - **Per account**: failed password checks (login, password change, account deletion, email
//!   change) on one normalized email — whether or not an account has it, so the throttle tells
//!   nothing — are free up to 10, then each attempt waits 1 s, 2 s, 4 s … up to 15 min after
//!   the previous one, and after 100 consecutive failures no password is checked until a
//!   password reset ([`crate::ports::LoginThrottle`]) — or until [`FORGET_FAILURES_AFTER`]
//!   without any attempt, when the record is purged. A correct password or a reset clears the
//!   count. Every attempt is counted before the password is checked, so concurrent guesses
//!   cannot overshoot.
//!   Forgot-password and resend-verification emails for one address are limited to 1 a minute
//!   and 5 an hour; over that the request answers 202 as always and no email is queued.
//! - **Client address** ([`client_ip`]): the socket's peer, unless it is one of the configured
//!   trusted proxies; then `X-Forwarded-For` is read from the right, skipping trusted proxies.
//!
//! Counters live behind ports: [`RateLimitStore`] ([`MemoryRateLimits`] for one instance, the
//! database in `authkit-sqlx` for several) and the store's
//! [`crate::ports::LoginThrottleStore`].

mod client_ip;
mod memory;

pub use client_ip::{client_ip, rate_key_of};
pub use memory::MemoryRateLimits;

use sha2::{Digest, Sha256};

/// Failed-password counts with no attempt for this long are forgotten (30 days).
pub const FORGET_FAILURES_AFTER: time::Duration = time::Duration::days(30);

pub use crate::ports::{LoginThrottle, RateDecision, RateLimit, RateLimitStore};

/// The key of an account's counters: a SHA-256 of `scope` and the normalized email, so that no
/// table holds the addresses people tried.
pub(crate) fn account_key(scope: &str, email: &crate::domain::Email) -> String {
    let digest = Sha256::new()
        .chain_update(scope.as_bytes())
        .chain_update([0u8])
        .chain_update(email.as_str().as_bytes())
        .finalize();
    let mut key = String::with_capacity(scope.len() + 1 + 64);
    key.push_str(scope);
    key.push(':');
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}
