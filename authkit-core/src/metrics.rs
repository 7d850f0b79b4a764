//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade: like `tracing`, a no-op
//! until the host installs a recorder (the reference server installs a Prometheus one and
//! serves it at `/metrics`). Each outcome is recorded at the one place that decides it.
//!
//! | name | type | labels | recorded |
//! |---|---|---|---|
//! | [`LOGIN_ATTEMPTS`] | counter | `outcome` = `ok`, `failed`, `throttled` | by [`crate::AuthKit::login`] |
//! | [`REFRESH`] | counter | `outcome` = `ok`, `reused`, `failed` | by [`crate::AuthKit::refresh`] |
//! | [`REGISTRATIONS`] | counter | - | by [`crate::AuthKit::register`] |
//! | [`AUDIT_EVENTS`] | counter | `event` ([`AuditKind::as_str`]) | for every audit event |
//! | [`PASSWORD_HASH_DURATION`] | histogram (s) | `op` = `hash`, `verify` | by the argon2 hash workers, per job |
//! | [`PASSWORD_HASH_QUEUE_WAIT`] | histogram (s) | - | by the hash workers: time a job waited in the queue |
//! | [`PASSWORD_HASH_REJECTED`] | counter | - | jobs refused because the hash queue was full (503) |
//! | [`PASSWORD_HASH_ABANDONED`] | counter | `op` = `hash`, `verify` | by the hash workers: jobs skipped because their caller had gone |
//! | [`RATE_LIMITED`] | counter | `scope` = `ip`, `credentials`, `account`, `address` | requests refused (429) by a rate limit, or emails not sent (`address`) |
//!
//! The recording functions cost a few atomic operations with a recorder installed and nothing
//! more than a load without one: metric names and label values are static (no allocation),
//! except the `event` label of [`audit_event`].

use std::time::Duration;

use ::metrics::{counter, histogram};

use crate::domain::AuditKind;

/// Counter of password logins by `outcome`: tokens issued (`ok`); wrong password, unknown
/// email, disabled or unverified account (`failed`); refused by the per-account throttle
/// (`throttled`).
pub const LOGIN_ATTEMPTS: &str = "authkit_login_attempts_total";
/// Counter of refresh-token rotations by `outcome`: rotated (`ok`); a spent token presented
/// again, its session revoked (`reused`); an unknown, expired or revoked token (`failed`).
pub const REFRESH: &str = "authkit_refresh_total";
/// Counter of accounts created by registration.
pub const REGISTRATIONS: &str = "authkit_registrations_total";
/// Counter of audit events by `event` name.
pub const AUDIT_EVENTS: &str = "authkit_audit_events_total";
/// Histogram of the seconds a hash worker spends on one job, by `op` (`hash`, `verify`).
pub const PASSWORD_HASH_DURATION: &str = "authkit_password_hash_duration_seconds";
/// Histogram of the seconds a job waited in the hash queue before a worker took it.
pub const PASSWORD_HASH_QUEUE_WAIT: &str = "authkit_password_hash_queue_wait_seconds";
/// Counter of hash jobs refused because the queue was full.
pub const PASSWORD_HASH_REJECTED: &str = "authkit_password_hash_rejected_total";
/// Counter of hash jobs skipped by `op` (`hash`, `verify`) because their caller had gone (the
/// request was cancelled: the client disconnected or timed out) before a worker took them.
pub const PASSWORD_HASH_ABANDONED: &str = "authkit_password_hash_abandoned_total";
/// Counter of requests refused by a rate limit, by `scope`.
pub const RATE_LIMITED: &str = "authkit_rate_limited_total";

/// Suggested histogram buckets (seconds) for [`PASSWORD_HASH_DURATION`] and
/// [`PASSWORD_HASH_QUEUE_WAIT`].
pub const HASH_BUCKETS: &[f64] = &[0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How a password login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Tokens were issued.
    Ok,
    /// Wrong password, unknown email, disabled or unverified account.
    Failed,
    /// Refused by the per-account throttle.
    Throttled,
}

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was rotated.
    Ok,
    /// A spent token was presented again; its session was revoked.
    Reused,
    /// An unknown, expired or revoked token (or its account is gone or disabled).
    Failed,
}

/// What a hash worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOp {
    /// Hashed a new password.
    Hash,
    /// Verified a password against a stored hash.
    Verify,
}

impl HashOp {
    /// The `op` label value.
    const fn label(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Verify => "verify",
        }
    }
}

/// Which rate limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    /// The per-IP limit of every route.
    Ip,
    /// The per-IP limit of the credential routes.
    Credentials,
    /// The per-account throttle of failed password checks.
    Account,
    /// The per-address limit of forgot/resend emails (the email is silently not sent).
    Address,
}

/// Counts a password login by outcome.
pub fn login_attempt(outcome: LoginOutcome) {
    match outcome {
        LoginOutcome::Ok => counter!(LOGIN_ATTEMPTS, "outcome" => "ok"),
        LoginOutcome::Failed => counter!(LOGIN_ATTEMPTS, "outcome" => "failed"),
        LoginOutcome::Throttled => counter!(LOGIN_ATTEMPTS, "outcome" => "throttled"),
    }
    .increment(1);
}

/// Counts a refresh by outcome.
pub fn refresh(outcome: RefreshOutcome) {
    match outcome {
        RefreshOutcome::Ok => counter!(REFRESH, "outcome" => "ok"),
        RefreshOutcome::Reused => counter!(REFRESH, "outcome" => "reused"),
        RefreshOutcome::Failed => counter!(REFRESH, "outcome" => "failed"),
    }
    .increment(1);
}

/// Counts an account created by registration.
pub fn registration() {
    counter!(REGISTRATIONS).increment(1);
}

/// Counts an audit event.
pub fn audit_event(kind: AuditKind) {
    counter!(AUDIT_EVENTS, "event" => kind.as_str()).increment(1);
}

/// Records the time a hash worker spent on one job.
pub fn hash_job(op: HashOp, spent: Duration) {
    histogram!(PASSWORD_HASH_DURATION, "op" => op.label()).record(spent);
}

/// Records the time a job waited in the hash queue.
pub fn hash_queue_wait(waited: Duration) {
    histogram!(PASSWORD_HASH_QUEUE_WAIT).record(waited);
}

/// Counts a hash job refused because the queue was full.
pub fn hash_rejected() {
    counter!(PASSWORD_HASH_REJECTED).increment(1);
}

/// Counts a hash job skipped because its caller had gone.
pub fn hash_abandoned(op: HashOp) {
    counter!(PASSWORD_HASH_ABANDONED, "op" => op.label()).increment(1);
}

/// Counts a request refused (or an email not sent) by a rate limit.
pub fn rate_limited(scope: RateLimitScope) {
    match scope {
        RateLimitScope::Ip => counter!(RATE_LIMITED, "scope" => "ip"),
        RateLimitScope::Credentials => counter!(RATE_LIMITED, "scope" => "credentials"),
        RateLimitScope::Account => counter!(RATE_LIMITED, "scope" => "account"),
        RateLimitScope::Address => counter!(RATE_LIMITED, "scope" => "address"),
    }
    .increment(1);
}

#[cfg(test)]
pub(crate) mod testing {
    //! A recorder for the unit tests: counters and histogram sample counts by name and labels.

    use metrics_util::debugging::{DebugValue, Snapshotter};

    /// The counter `name` with the `labels` (all of them, in any order), 0 when absent.
    pub(crate) fn counter(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> u64 {
        snapshot
            .iter()
            .filter(|(n, l, _)| n == name && same_labels(l, labels))
            .map(|(_, _, v)| match v {
                DebugValue::Counter(c) => *c,
                _ => 0,
            })
            .sum()
    }

    /// The number of samples of the histogram `name` with `labels`.
    pub(crate) fn samples(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> usize {
        snapshot
            .iter()
            .filter(|(n, l, _)| n == name && same_labels(l, labels))
            .map(|(_, _, v)| match v {
                DebugValue::Histogram(h) => h.len(),
                _ => 0,
            })
            .sum()
    }

    /// A snapshot: (name, labels, value).
    pub(crate) type Snapshot = Vec<(String, Vec<(String, String)>, DebugValue)>;

    /// Takes (and drains) a snapshot.
    pub(crate) fn snapshot(snapshotter: &Snapshotter) -> Snapshot {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect()
    }

    fn same_labels(have: &[(String, String)], want: &[(&str, &str)]) -> bool {
        have.len() == want.len()
            && want
                .iter()
                .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::DebuggingRecorder;

    #[test]
    fn recording_functions_count_under_their_names_and_labels() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            login_attempt(LoginOutcome::Ok);
            login_attempt(LoginOutcome::Failed);
            login_attempt(LoginOutcome::Failed);
            login_attempt(LoginOutcome::Throttled);
            refresh(RefreshOutcome::Reused);
            registration();
            audit_event(AuditKind::LoginFailed);
            hash_job(HashOp::Verify, Duration::from_millis(3));
            hash_queue_wait(Duration::from_millis(1));
            hash_rejected();
            hash_abandoned(HashOp::Hash);
            rate_limited(RateLimitScope::Credentials);
        });
        let s = testing::snapshot(&snapshotter);
        let outcome = |o| [("outcome", o)];
        assert_eq!(testing::counter(&s, LOGIN_ATTEMPTS, &outcome("ok")), 1);
        assert_eq!(testing::counter(&s, LOGIN_ATTEMPTS, &outcome("failed")), 2);
        assert_eq!(
            testing::counter(&s, LOGIN_ATTEMPTS, &outcome("throttled")),
            1
        );
        assert_eq!(testing::counter(&s, REFRESH, &outcome("reused")), 1);
        assert_eq!(testing::counter(&s, REGISTRATIONS, &[]), 1);
        assert_eq!(
            testing::counter(&s, AUDIT_EVENTS, &[("event", "login_failed")]),
            1
        );
        assert_eq!(
            testing::samples(&s, PASSWORD_HASH_DURATION, &[("op", "verify")]),
            1
        );
        assert_eq!(testing::samples(&s, PASSWORD_HASH_QUEUE_WAIT, &[]), 1);
        assert_eq!(testing::counter(&s, PASSWORD_HASH_REJECTED, &[]), 1);
        assert_eq!(
            testing::counter(&s, PASSWORD_HASH_ABANDONED, &[("op", "hash")]),
            1
        );
        assert_eq!(
            testing::counter(&s, RATE_LIMITED, &[("scope", "credentials")]),
            1
        );
    }
}
