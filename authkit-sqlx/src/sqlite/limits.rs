//! [`RateLimitStore`] and [`LoginThrottleStore`] on SQLite: one upsert per request (one write,
//! so SQLite takes the write lock before reading the row, and concurrent requests on one key run
//! one after the other, each seeing the previous one's count).

use async_trait::async_trait;
use authkit_core::ports::{
    AttemptDecision, LoginThrottle, LoginThrottleStore, RateDecision, RateLimit, RateLimitStore,
    StoreResult, unix_ms,
};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::error::map;
use crate::limits::{
    ATTEMPTS, failures, first_failures, limited_fallback, limited_for, throttled_fallback,
    throttled_for, whole_ms,
};

/// GCRA ([`RateLimit::decide`]): `?2` now, `?3` the interval, `?4` the burst, all in ms. A new
/// bucket is always allowed; an existing one moves only when the request fits in the burst.
/// Returns the new arrival time when the request is allowed, no row when it is limited.
const HIT: &str = "INSERT INTO authkit_rate_limits (key, tat_ms) VALUES (?1, ?2 + ?3) \
     ON CONFLICT (key) DO UPDATE SET tat_ms = max(tat_ms, ?2) + ?3 \
     WHERE max(tat_ms, ?2) + ?3 - ?2 <= ?4 \
     RETURNING tat_ms";
const BUCKET: &str = "SELECT tat_ms FROM authkit_rate_limits WHERE key = ?1";
const PURGE_BUCKETS: &str = "DELETE FROM authkit_rate_limits WHERE tat_ms <= ?1";

/// [`LoginThrottle::check`] then one more failure: `?2` now (ms), `?3` max failures, `?4` free
/// failures, `?5` base delay (ms), `?6` max delay (ms), `?7` the count of a new key
/// ([`first_failures`]). The delay is [`LoginThrottle::delay_ms`]. Returns the new count when the
/// attempt is allowed; no row when it is throttled, or 0 when a new key's first attempt is (a
/// degenerate rule; the key is stored with no failures, as the in-memory store does).
const ATTEMPT: &str = "INSERT INTO authkit_password_failures (key, failures, last_attempt_ms) \
     VALUES (?1, ?7, ?2) \
     ON CONFLICT (key) DO UPDATE SET failures = failures + 1, \
     last_attempt_ms = max(last_attempt_ms, ?2) \
     WHERE failures < ?3 \
     AND (failures < ?4 OR ?2 >= last_attempt_ms + min(?5 << min(failures - ?4, 20), ?6)) \
     RETURNING failures";
const FAILURES: &str =
    "SELECT failures, last_attempt_ms FROM authkit_password_failures WHERE key = ?1";
const CLEAR: &str = "DELETE FROM authkit_password_failures WHERE key = ?1";
const PURGE_FAILURES: &str = "DELETE FROM authkit_password_failures WHERE last_attempt_ms < ?1";

#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn hit(
        &self,
        key: &str,
        rule: RateLimit,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let now_ms = unix_ms(now);
        for _ in 0..ATTEMPTS {
            let allowed: Option<i64> = sqlx::query_scalar(HIT)
                .bind(key)
                .bind(now_ms)
                .bind(rule.interval_ms())
                .bind(rule.burst_ms())
                // `fetch_all`, so that a failed autocommit is reported (see `consume_token`).
                .fetch_all(self.writer())
                .await
                .map_err(map)?
                .into_iter()
                .next();
            if allowed.is_some() {
                return Ok(RateDecision::Allowed);
            }
            let tat: Option<i64> = sqlx::query_scalar(BUCKET)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(map)?;
            if let Some(retry_after) = limited_for(rule, tat, now_ms) {
                return Ok(RateDecision::Limited { retry_after });
            }
        }
        Ok(RateDecision::Limited {
            retry_after: limited_fallback(rule),
        })
    }

    async fn purge_rate_limits(&self, now: OffsetDateTime) -> StoreResult<u64> {
        Ok(sqlx::query(PURGE_BUCKETS)
            .bind(unix_ms(now))
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected())
    }
}

#[async_trait]
impl LoginThrottleStore for SqliteStore {
    async fn begin_password_attempt(
        &self,
        key: &str,
        rule: &LoginThrottle,
        now: OffsetDateTime,
    ) -> StoreResult<AttemptDecision> {
        let now_ms = unix_ms(now);
        for _ in 0..ATTEMPTS {
            let counted: Option<i64> = sqlx::query_scalar(ATTEMPT)
                .bind(key)
                .bind(now_ms)
                .bind(i64::from(rule.max_failures))
                .bind(i64::from(rule.free_failures))
                .bind(whole_ms(rule.base_delay))
                .bind(whole_ms(rule.max_delay))
                .bind(first_failures(rule, now_ms))
                // `fetch_all`, so that a failed autocommit is reported (see `consume_token`).
                .fetch_all(self.writer())
                .await
                .map_err(map)?
                .into_iter()
                .next();
            if counted.is_some_and(|n| n > 0) {
                return Ok(AttemptDecision::Allowed);
            }
            let row: Option<(i64, i64)> = sqlx::query_as(FAILURES)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(map)?;
            let row = row.map(|(n, last)| Ok((failures(n)?, last))).transpose()?;
            if let Some(retry_after) = throttled_for(rule, row, now_ms) {
                return Ok(AttemptDecision::Throttled { retry_after });
            }
        }
        Ok(AttemptDecision::Throttled {
            retry_after: throttled_fallback(rule),
        })
    }

    async fn clear_password_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query(CLEAR)
            .bind(key)
            .execute(self.writer())
            .await
            .map(|_| ())
            .map_err(map)
    }

    async fn password_failures(&self, key: &str) -> StoreResult<u32> {
        let row: Option<(i64, i64)> = sqlx::query_as(FAILURES)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map_or(Ok(0), |(n, _)| failures(n))
    }

    async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Ok(sqlx::query(PURGE_FAILURES)
            .bind(unix_ms(before))
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected())
    }
}
