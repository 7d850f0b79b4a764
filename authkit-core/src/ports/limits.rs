//! Abuse-limit ports: request rate limits ([`RateLimitStore`]) and the per-account throttle of
//! failed password checks ([`LoginThrottleStore`], part of [`crate::ports::Store`]).
//!
//! Both are counters that MUST be atomic: of many concurrent calls on one key, each is counted
//! exactly once, and no more calls are allowed than the rule permits. The in-memory
//! implementations ([`crate::limits::MemoryRateLimits`], the test `MemoryStore`) serve one
//! instance; `authkit-sqlx` keeps them in the database so that several instances share them.

use std::fmt::Debug;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::ports::StoreResult;

/// `requests` per `period`, as a token bucket that holds `requests` tokens and refills one every
/// `period / requests` (GCRA): a burst of `requests` is allowed, then one request every
/// `period / requests`. `requests == 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per period (0 = off).
    pub requests: u32,
    /// The period.
    pub period: Duration,
}

impl RateLimit {
    /// `requests` per minute.
    pub const fn per_minute(requests: u32) -> Self {
        Self {
            requests,
            period: Duration::minutes(1),
        }
    }

    /// `requests` per hour.
    pub const fn per_hour(requests: u32) -> Self {
        Self {
            requests,
            period: Duration::hours(1),
        }
    }

    /// No limit.
    pub const fn off() -> Self {
        Self::per_minute(0)
    }

    /// Whether the limit is off (no requests allowed means off, not "refuse everything").
    pub fn is_off(&self) -> bool {
        self.requests == 0 || self.period <= Duration::ZERO
    }

    /// The time one token takes to come back, in milliseconds (at least 1).
    pub fn interval_ms(&self) -> i64 {
        (whole_ms(self.period) / i64::from(self.requests.max(1))).max(1)
    }

    /// The bucket's depth in milliseconds: `requests × interval`.
    pub fn burst_ms(&self) -> i64 {
        self.interval_ms() * i64::from(self.requests.max(1))
    }

    /// GCRA on a bucket whose "theoretical arrival time" is `tat_ms` (`None`: a new, full
    /// bucket): the new arrival time when the request is allowed, or the wait before one is.
    /// Every store runs this rule, in code or in SQL.
    pub fn decide(&self, tat_ms: Option<i64>, now_ms: i64) -> Result<i64, Duration> {
        let start = tat_ms.map_or(now_ms, |t| t.max(now_ms));
        let next = start + self.interval_ms();
        if next - now_ms <= self.burst_ms() {
            Ok(next)
        } else {
            Err(Duration::milliseconds(next - self.burst_ms() - now_ms))
        }
    }
}

/// The answer to one request against a [`RateLimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted and allowed.
    Allowed,
    /// Refused (and not counted); retry after this long.
    Limited {
        /// The wait before a request is allowed again.
        retry_after: Duration,
    },
}

/// Counters of requests per key (`ip:…`, `cred:…`, `forgot:…`).
#[async_trait]
pub trait RateLimitStore: Send + Sync + Debug + 'static {
    /// Counts one request on `key` under `rule` ([`RateLimit::decide`]), atomically: of N
    /// concurrent calls on a fresh key, exactly `min(N, rule.requests)` are allowed. A refused
    /// request does not change the bucket. `rule` is never off here.
    async fn hit(
        &self,
        key: &str,
        rule: RateLimit,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision>;

    /// Forgets buckets that are full again at `now` (they limit nothing); returns how many.
    async fn purge_rate_limits(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// The per-account throttle of failed password checks: `free_failures` consecutive failures
/// cost nothing, each further attempt waits `base_delay × 2^(failures − free_failures)` (at
/// most `max_delay`) after the previous one, and after `max_failures` consecutive failures no
/// password check is made at all until the password is reset. A success clears the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failures allowed without delay (default 10; 0 turns the throttle off).
    pub free_failures: u32,
    /// The wait after the first failure beyond the free ones (default 1 s).
    pub base_delay: Duration,
    /// The longest wait (default 15 min).
    pub max_delay: Duration,
    /// Consecutive failures after which only a password reset unlocks the account (default 100).
    pub max_failures: u32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            free_failures: 10,
            base_delay: Duration::seconds(1),
            max_delay: Duration::minutes(15),
            max_failures: 100,
        }
    }
}

impl LoginThrottle {
    /// The throttle turned off.
    pub fn off() -> Self {
        Self {
            free_failures: 0,
            ..Self::default()
        }
    }

    /// Whether the throttle is off.
    pub fn is_off(&self) -> bool {
        self.free_failures == 0
    }

    /// The wait required after the last attempt, with `failures` counted, in milliseconds:
    /// 0 below `free_failures`, then `base × 2^(failures − free)` capped at `max_delay`.
    /// (SQL stores compute the same with a shift capped at 2^20.)
    pub fn delay_ms(&self, failures: u32) -> i64 {
        if failures < self.free_failures {
            return 0;
        }
        let shift = (failures - self.free_failures).min(20);
        (whole_ms(self.base_delay) << shift).min(whole_ms(self.max_delay))
    }

    /// Whether an attempt is allowed now, given the stored count and last attempt; when it is
    /// not, the wait ([`LoginThrottle::max_delay`] at the ceiling, as a hint: only a reset
    /// unlocks it).
    pub fn check(&self, failures: u32, last_attempt_ms: i64, now_ms: i64) -> Result<(), Duration> {
        if failures >= self.max_failures {
            return Err(self.max_delay);
        }
        let delay = self.delay_ms(failures);
        // No delay due: allowed even when `now_ms` is a little before the last attempt (a
        // concurrent request that read the clock first and reached the store second).
        let ready = last_attempt_ms + delay;
        if delay == 0 || now_ms >= ready {
            Ok(())
        } else {
            Err(Duration::milliseconds(ready - now_ms))
        }
    }
}

/// The answer to [`LoginThrottleStore::begin_password_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptDecision {
    /// The attempt is counted as a failure in advance (cleared on success); check the password.
    Allowed,
    /// Refused without checking the password.
    Throttled {
        /// The wait before the next attempt is allowed.
        retry_after: Duration,
    },
}

/// Consecutive failed password checks per account key (a hash of the normalized email, the same
/// whether or not an account exists).
#[async_trait]
pub trait LoginThrottleStore: Send + Sync {
    /// Atomically: when [`LoginThrottle::check`] allows an attempt on `key` at `now`, adds one
    /// failure and records `now` as the last attempt, and answers `Allowed`; otherwise changes
    /// nothing and answers `Throttled`. Of N concurrent calls, each allowed one is counted
    /// exactly once, so the count never exceeds `rule.max_failures`.
    async fn begin_password_attempt(
        &self,
        key: &str,
        rule: &LoginThrottle,
        now: OffsetDateTime,
    ) -> StoreResult<AttemptDecision>;

    /// Clears `key`'s failures (a correct password, or a password reset).
    async fn clear_password_failures(&self, key: &str) -> StoreResult<()>;

    /// The failures counted on `key` (0 when none).
    async fn password_failures(&self, key: &str) -> StoreResult<u32>;

    /// Forgets counts whose last attempt is older than `before`; returns how many.
    async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Milliseconds since the Unix epoch (what stores keep for limits).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn whole_ms(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_one_per_interval() {
        let rule = RateLimit::per_minute(5);
        let mut tat = None;
        for _ in 0..5 {
            tat = Some(rule.decide(tat, 0).unwrap());
        }
        assert_eq!(rule.decide(tat, 0), Err(Duration::seconds(12)));
        assert_eq!(rule.decide(tat, 11_999), Err(Duration::milliseconds(1)));
        tat = Some(rule.decide(tat, 12_000).unwrap());
        assert!(rule.decide(tat, 12_000).is_err());
        // A quiet minute refills the whole bucket.
        assert!(rule.decide(tat, 72_000).is_ok());
    }

    #[test]
    fn throttle_delay_doubles_to_the_cap_then_stops_at_the_ceiling() {
        let rule = LoginThrottle::default();
        assert_eq!(rule.delay_ms(9), 0);
        assert_eq!(rule.delay_ms(10), 1_000);
        assert_eq!(rule.delay_ms(11), 2_000);
        assert_eq!(rule.delay_ms(19), 512_000);
        assert_eq!(rule.delay_ms(20), 900_000);
        assert_eq!(rule.delay_ms(99), 900_000);
        assert_eq!(rule.check(10, 0, 999), Err(Duration::milliseconds(1)));
        assert_eq!(rule.check(10, 0, 1_000), Ok(()));
        assert_eq!(
            rule.check(100, 0, i64::MAX / 2),
            Err(Duration::minutes(15)),
            "the ceiling never expires by itself"
        );
    }
}
