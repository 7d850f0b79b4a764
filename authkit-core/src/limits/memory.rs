//! [`MemoryRateLimits`]: rate-limit buckets in this process.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::ports::{RateDecision, RateLimit, RateLimitStore, StoreResult, unix_ms};

/// Buckets above this count are swept of full ones on the next hit, so memory stays bounded by
/// the number of clients active within one period.
const SWEEP_AT: usize = 100_000;

/// Rate-limit buckets in memory: exact and cheap for one instance; each instance of a
/// multi-instance deployment counts on its own (use the database store there).
#[derive(Debug, Default)]
pub struct MemoryRateLimits {
    buckets: Mutex<HashMap<String, i64>>,
}

impl MemoryRateLimits {
    /// No buckets yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateLimits {
    async fn hit(
        &self,
        key: &str,
        rule: RateLimit,
        now: OffsetDateTime,
    ) -> StoreResult<RateDecision> {
        let now_ms = unix_ms(now);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, tat| *tat > now_ms);
        }
        let tat = buckets.get(key).copied();
        Ok(match rule.decide(tat, now_ms) {
            Ok(next) => {
                buckets.insert(key.to_owned(), next);
                RateDecision::Allowed
            }
            Err(retry_after) => RateDecision::Limited { retry_after },
        })
    }

    async fn purge_rate_limits(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let now_ms = unix_ms(now);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let before = buckets.len();
        buckets.retain(|_, tat| *tat > now_ms);
        Ok((before - buckets.len()) as u64)
    }
}
