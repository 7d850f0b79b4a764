//! What both backends' abuse limits share: the rules' decisions when the atomic upsert refused
//! (the upsert itself is SQL, one per backend), in the units the tables keep.
//!
//! Each request is one upsert that applies the rule in its `WHERE` and returns the row only
//! when it counted the request; the rule is the one of [`RateLimit::decide`] and
//! [`LoginThrottle::check`], written in SQL. When no row comes back, the store reads the row and
//! asks the same rule (in Rust) for the wait. That read is a second statement: should the row
//! have changed meanwhile so that the rule would now allow the request (a concurrent purge or
//! clear), the request is tried again, at most [`ATTEMPTS`] times in all.

use authkit_core::ports::{LoginThrottle, RateLimit, StoreResult};
use time::Duration;

use crate::rows::corrupt;

/// How many times a refused request is tried when its row changed between the upsert and the
/// read that explains the refusal.
pub(crate) const ATTEMPTS: usize = 3;

/// The wait of a request on a bucket whose arrival time is `tat_ms` (`None`: no bucket), or
/// `None` when the rule would allow it (the bucket changed since the upsert refused it).
pub(crate) fn limited_for(rule: RateLimit, tat_ms: Option<i64>, now_ms: i64) -> Option<Duration> {
    tat_ms.and_then(|tat| rule.decide(Some(tat), now_ms).err())
}

/// The wait answered when the bucket kept changing under the refused request: one interval.
pub(crate) fn limited_fallback(rule: RateLimit) -> Duration {
    Duration::milliseconds(rule.interval_ms())
}

/// The failures counted by the insert of a new key: 1 when the rule allows an attempt on a
/// key without failures (every rule that is not off), 0 (a count that refuses the attempt)
/// otherwise — as the in-memory store does.
pub(crate) fn first_failures(rule: &LoginThrottle, now_ms: i64) -> i64 {
    i64::from(rule.check(0, now_ms, now_ms).is_ok())
}

/// The wait of an attempt on a key with `row` = (failures, last attempt), or `None` when the
/// rule would allow it (the row changed since the upsert refused it).
pub(crate) fn throttled_for(
    rule: &LoginThrottle,
    row: Option<(u32, i64)>,
    now_ms: i64,
) -> Option<Duration> {
    let (failures, last_attempt_ms) = row?;
    rule.check(failures, last_attempt_ms, now_ms).err()
}

/// The wait answered when the count kept changing under the refused attempt: the base delay.
pub(crate) fn throttled_fallback(rule: &LoginThrottle) -> Duration {
    rule.base_delay
}

/// A stored failure count.
pub(crate) fn failures(n: i64) -> StoreResult<u32> {
    u32::try_from(n).map_err(|e| corrupt("failures", Some(Box::new(e))))
}

/// Milliseconds of a duration, saturated (as the rules compute them).
pub(crate) fn whole_ms(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}
