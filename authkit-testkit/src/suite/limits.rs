//! Checks of the abuse limits: the per-account throttle of failed password checks
//! ([`LoginThrottleStore`], part of every [`Store`]), the conditional rehash
//! ([`authkit_core::ports::UserStore::replace_password_hash`]), and request rate limits
//! ([`RateLimitStore`], stamped separately by [`rate_limit_suite!`](crate::rate_limit_suite)).
//!
//! The decisions and waits are exactly those of the rules ([`LoginThrottle::check`],
//! [`RateLimit::decide`]) on millisecond times. The purge checks need a store of their own
//! (they count every purged row); the others use keys with a random suffix.

use std::sync::Arc;

use authkit_core::ports::{
    AttemptDecision, LoginThrottle, LoginThrottleStore, RateDecision, RateLimit, RateLimitStore,
    Store,
};
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;

use super::{T0, fresh_hash, hash_of, read_user, session, stored, token_hash, unique, user};
use authkit_core::domain::{PasswordHash, QueuedMail, UserId};

// ---------------------------------------------------------------------------------------------
// helpers

/// A key no other check uses.
fn key(label: &str) -> String {
    format!("{label}:{}", unique())
}

/// Free 2, then 1 s, 2 s, 4 s (the cap), and no attempt after 5 failures.
fn small_rule() -> LoginThrottle {
    LoginThrottle {
        free_failures: 2,
        base_delay: Duration::seconds(1),
        max_delay: Duration::seconds(4),
        max_failures: 5,
    }
}

async fn attempt(
    store: &dyn LoginThrottleStore,
    key: &str,
    rule: &LoginThrottle,
    now: OffsetDateTime,
) -> AttemptDecision {
    store
        .begin_password_attempt(key, rule, now)
        .await
        .expect("begin_password_attempt")
}

async fn assert_allowed(
    store: &dyn LoginThrottleStore,
    key: &str,
    rule: &LoginThrottle,
    now: OffsetDateTime,
    what: &str,
) {
    assert_eq!(
        attempt(store, key, rule, now).await,
        AttemptDecision::Allowed,
        "{what}: the attempt must be allowed"
    );
}

async fn assert_throttled(
    store: &dyn LoginThrottleStore,
    key: &str,
    rule: &LoginThrottle,
    now: OffsetDateTime,
    retry_after: Duration,
    what: &str,
) {
    assert_eq!(
        attempt(store, key, rule, now).await,
        AttemptDecision::Throttled { retry_after },
        "{what}: the attempt must be throttled with this wait"
    );
}

async fn failures(store: &dyn LoginThrottleStore, key: &str) -> u32 {
    store
        .password_failures(key)
        .await
        .expect("password_failures")
}

/// `n` attempts at `now`, each of which must be allowed.
async fn allowed_times(
    store: &dyn LoginThrottleStore,
    key: &str,
    rule: &LoginThrottle,
    now: OffsetDateTime,
    n: u32,
) {
    for i in 0..n {
        assert_allowed(store, key, rule, now, &format!("free attempt {}", i + 1)).await;
    }
}

async fn hit(
    store: &dyn RateLimitStore,
    key: &str,
    rule: RateLimit,
    now: OffsetDateTime,
) -> RateDecision {
    store.hit(key, rule, now).await.expect("hit")
}

/// `n` hits at `now`, each of which must be allowed.
async fn hits_allowed(
    store: &dyn RateLimitStore,
    key: &str,
    rule: RateLimit,
    now: OffsetDateTime,
    n: u32,
) {
    for i in 0..n {
        assert_eq!(
            hit(store, key, rule, now).await,
            RateDecision::Allowed,
            "hit {} of a full bucket of {} must be allowed",
            i + 1,
            rule.requests
        );
    }
}

fn limited(retry_after: Duration) -> RateDecision {
    RateDecision::Limited { retry_after }
}

// ---------------------------------------------------------------------------------------------
// login throttle

/// The default rule: 10 free failures, then each attempt waits 1 s, 2 s, 4 s … after the
/// previous one, with the exact wait as `retry_after`; a throttled attempt changes nothing.
pub async fn throttle_allows_free_failures_then_doubles_the_delay(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let rule = LoginThrottle::default();
    let k = key("login");
    assert_eq!(failures(s, &k).await, 0, "an unknown key has no failures");
    allowed_times(s, &k, &rule, T0, 10).await;
    assert_eq!(failures(s, &k).await, 10);
    assert_throttled(s, &k, &rule, T0, Duration::seconds(1), "the 11th at once").await;
    let almost = T0 + Duration::milliseconds(999);
    assert_throttled(
        s,
        &k,
        &rule,
        almost,
        Duration::milliseconds(1),
        "999 ms later",
    )
    .await;
    assert_eq!(
        failures(s, &k).await,
        10,
        "a throttled attempt is not counted"
    );
    let t1 = T0 + Duration::seconds(1);
    assert_allowed(s, &k, &rule, t1, "1 s after the 10th").await;
    assert_throttled(s, &k, &rule, t1, Duration::seconds(2), "then 2 s").await;
    let t2 = t1 + Duration::seconds(2);
    assert_allowed(s, &k, &rule, t2, "2 s after the 11th").await;
    assert_throttled(s, &k, &rule, t2, Duration::seconds(4), "then 4 s").await;
    assert_throttled(
        s,
        &k,
        &rule,
        t2 + Duration::seconds(3),
        Duration::seconds(1),
        "3 s into a 4 s wait",
    )
    .await;
    assert_eq!(failures(s, &k).await, 12);
}

/// The wait after each failure is exactly [`LoginThrottle::delay_ms`], up to `max_delay` and
/// up to the doubling cap of 2^20 × `base_delay` (1 ms base, no practical `max_delay`): each
/// attempt is throttled with that wait right after the previous one, still throttled 1 ms before
/// it passed, and allowed once it passed.
pub async fn throttle_delay_follows_the_rule_to_its_caps(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let shift_cap = LoginThrottle {
        free_failures: 1,
        base_delay: Duration::milliseconds(1),
        max_delay: Duration::days(1000),
        max_failures: 100,
    };
    for (rule, attempts) in [(LoginThrottle::default(), 30), (shift_cap, 30)] {
        let k = key("doubling");
        let mut last = T0;
        assert_allowed(s, &k, &rule, last, "the first attempt").await;
        for counted in 1..attempts {
            let wait = Duration::milliseconds(rule.delay_ms(counted));
            if wait > Duration::ZERO {
                let what = format!("right after failure {counted} of {rule:?}");
                assert_throttled(s, &k, &rule, last, wait, &what).await;
                let one_ms = Duration::milliseconds(1);
                let what = format!("1 ms before the wait after failure {counted} passed");
                assert_throttled(s, &k, &rule, last + wait - one_ms, one_ms, &what).await;
            }
            last += wait;
            let what = format!("once the wait after failure {counted} of {rule:?} passed");
            assert_allowed(s, &k, &rule, last, &what).await;
        }
        assert_eq!(failures(s, &k).await, attempts);
    }
}

/// `clear_password_failures` forgets the count (the free failures are free again); clearing an
/// unknown key succeeds.
pub async fn throttle_clear_resets_the_count(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let rule = LoginThrottle::default();
    let k = key("login");
    allowed_times(s, &k, &rule, T0, 10).await;
    assert_throttled(s, &k, &rule, T0, Duration::seconds(1), "after 10").await;
    store
        .clear_password_failures(&k)
        .await
        .expect("clear_password_failures");
    assert_eq!(failures(s, &k).await, 0, "cleared");
    allowed_times(s, &k, &rule, T0, 10).await;
    assert_throttled(s, &k, &rule, T0, Duration::seconds(1), "after 10 again").await;
    store
        .clear_password_failures(&key("never-seen"))
        .await
        .expect("clearing an unknown key succeeds");
}

/// With free 2, base 1 s, cap 4 s and ceiling 5: the delays are 1 s, 2 s, 4 s, then after the
/// 5th failure every attempt is refused with `max_delay`, however long one waits.
pub async fn throttle_ceiling_is_never_passed(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let rule = small_rule();
    let k = key("login");
    allowed_times(s, &k, &rule, T0, 2).await;
    assert_throttled(s, &k, &rule, T0, Duration::seconds(1), "after 2").await;
    let t3 = T0 + Duration::seconds(1);
    assert_allowed(s, &k, &rule, t3, "3rd").await;
    assert_throttled(s, &k, &rule, t3, Duration::seconds(2), "after 3").await;
    let t4 = t3 + Duration::seconds(2);
    assert_allowed(s, &k, &rule, t4, "4th").await;
    assert_throttled(s, &k, &rule, t4, Duration::seconds(4), "after 4 (the cap)").await;
    let t5 = t4 + Duration::hours(1);
    assert_allowed(s, &k, &rule, t5, "5th").await;
    for later in [
        t5,
        t5 + Duration::seconds(4),
        t5 + Duration::hours(1),
        t5 + Duration::days(365),
    ] {
        assert_throttled(
            s,
            &k,
            &rule,
            later,
            rule.max_delay,
            "at the ceiling (it never expires)",
        )
        .await;
    }
    assert_eq!(failures(s, &k).await, 5, "the ceiling is never passed");
    store
        .clear_password_failures(&k)
        .await
        .expect("clear_password_failures");
    assert_allowed(s, &k, &rule, t5, "a reset unlocks the key").await;
}

/// Concurrent logins read the clock, then reach the store in another order: an attempt whose
/// time is before the last one's is allowed while no delay is due, and the last attempt's time
/// never goes back (the next delay counts from the latest attempt).
pub async fn throttle_allows_attempts_that_arrive_out_of_order(store: Arc<dyn Store>) {
    let store: &dyn LoginThrottleStore = &*store;
    let rule = small_rule();
    let k = key("out-of-order");
    let later = T0 + Duration::milliseconds(10);
    assert_allowed(store, &k, &rule, later, "first").await;
    assert_allowed(store, &k, &rule, T0, "read the clock first, arrived second").await;
    assert_eq!(failures(store, &k).await, 2);
    assert_throttled(
        store,
        &k,
        &rule,
        T0 + Duration::milliseconds(1005),
        Duration::milliseconds(5),
        "the delay runs from the latest attempt",
    )
    .await;
}

/// Counts are per key: one key at its ceiling, or cleared, changes nothing for another.
pub async fn throttle_keys_are_independent(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let rule = small_rule();
    let (a, b) = (key("a"), key("b"));
    for i in 0..5 {
        assert_allowed(s, &a, &rule, T0 + Duration::hours(i), "a").await;
    }
    assert_throttled(
        s,
        &a,
        &rule,
        T0 + Duration::hours(9),
        rule.max_delay,
        "a, at 5",
    )
    .await;
    assert_eq!(failures(s, &b).await, 0, "b untouched");
    allowed_times(s, &b, &rule, T0, 2).await;
    assert_throttled(s, &b, &rule, T0, Duration::seconds(1), "b, after 2").await;
    store
        .clear_password_failures(&b)
        .await
        .expect("clear_password_failures");
    assert_eq!(failures(s, &a).await, 5, "clearing b leaves a");
    assert_eq!(failures(s, &b).await, 0);
}

/// `purge_password_failures(before)` forgets the counts whose last attempt is before `before`
/// (not at it) and returns how many. (Needs a store of its own.)
pub async fn throttle_purge_forgets_old_counts(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let rule = LoginThrottle::default();
    let (old, edge, recent) = (key("old"), key("edge"), key("recent"));
    let before = T0 - Duration::hours(1);
    allowed_times(s, &old, &rule, before - Duration::milliseconds(1), 3).await;
    allowed_times(s, &edge, &rule, before - Duration::hours(1), 1).await;
    assert_allowed(s, &edge, &rule, before, "edge, again at `before`").await;
    allowed_times(s, &recent, &rule, T0, 1).await;
    let purged = store
        .purge_password_failures(before)
        .await
        .expect("purge_password_failures");
    assert_eq!(purged, 1, "only the count last tried before `before`");
    assert_eq!(failures(s, &old).await, 0, "purged");
    assert_eq!(failures(s, &edge).await, 2, "last tried at `before`: kept");
    assert_eq!(failures(s, &recent).await, 1);
    assert_eq!(
        store
            .purge_password_failures(before)
            .await
            .expect("purge_password_failures"),
        0
    );
}

/// 200 concurrent attempts on one key at one instant with the default rule: exactly the 10
/// free ones are allowed and counted, every other one is throttled with 1 s.
pub async fn concurrent_password_attempts_stop_at_the_free_failures(store: Arc<dyn Store>) {
    let rule = LoginThrottle::default();
    let k = key("crowd");
    let mut tasks = JoinSet::new();
    for _ in 0..200 {
        let store = Arc::clone(&store);
        let k = k.clone();
        tasks.spawn(async move {
            store
                .begin_password_attempt(&k, &rule, T0)
                .await
                .expect("begin_password_attempt")
        });
    }
    let (mut allowed, mut throttled) = (0, 0);
    while let Some(decision) = tasks.join_next().await {
        match decision.expect("task") {
            AttemptDecision::Allowed => allowed += 1,
            AttemptDecision::Throttled { retry_after } => {
                assert_eq!(retry_after, Duration::seconds(1), "after 10 failures at T0");
                throttled += 1;
            }
        }
    }
    assert_eq!((allowed, throttled), (10, 190), "(allowed, throttled)");
    assert_eq!(failures(store.as_ref(), &k).await, 10);
}

/// 200 concurrent attempts on one key that a rule allows (free 300): every one is allowed and
/// counted exactly once (no lost increment).
pub async fn concurrent_password_attempts_lose_no_failure(store: Arc<dyn Store>) {
    let rule = LoginThrottle {
        free_failures: 300,
        max_failures: 1000,
        ..LoginThrottle::default()
    };
    let k = key("crowd");
    let mut tasks = JoinSet::new();
    for _ in 0..200 {
        let store = Arc::clone(&store);
        let k = k.clone();
        tasks.spawn(async move {
            store
                .begin_password_attempt(&k, &rule, T0)
                .await
                .expect("begin_password_attempt")
        });
    }
    while let Some(decision) = tasks.join_next().await {
        assert_eq!(decision.expect("task"), AttemptDecision::Allowed);
    }
    assert_eq!(
        failures(store.as_ref(), &k).await,
        200,
        "each attempt counted once"
    );
}

// ---------------------------------------------------------------------------------------------
// replace_password_hash

/// `replace_password_hash` replaces the hash while it equals `old` and changes nothing else
/// (`updated_at`, sessions); it refuses (`false`, nothing changes) when the hash changed
/// meanwhile (a password change), for an unknown user and for a soft-deleted one.
pub async fn replace_password_hash_replaces_only_the_expected_hash(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let live = session(&store, u.id, token_hash("rehash")).await;
    let current = PasswordHash::new(hash_of(&store, u.id).await);
    let before = read_user(&store, u.id).await;
    let rehashed = fresh_hash();
    assert!(
        store
            .replace_password_hash(u.id, &current, &rehashed)
            .await
            .expect("replace_password_hash"),
        "the hash equals `old`: replaced"
    );
    assert_eq!(hash_of(&store, u.id).await, rehashed.expose());
    assert_eq!(
        read_user(&store, u.id).await,
        before,
        "nothing else changes (not even updated_at)"
    );
    assert_eq!(stored(&store, live.id).await, live, "sessions untouched");

    assert!(
        !store
            .replace_password_hash(u.id, &current, &fresh_hash())
            .await
            .expect("replace_password_hash"),
        "`old` is no longer the hash: refused"
    );
    assert_eq!(hash_of(&store, u.id).await, rehashed.expose(), "unchanged");

    let changed = fresh_hash();
    store
        .set_password(
            u.id,
            &changed,
            Some(live.id),
            T0 + Duration::minutes(1),
            &QueuedMail::none(),
        )
        .await
        .expect("set_password");
    assert!(
        !store
            .replace_password_hash(u.id, &rehashed, &fresh_hash())
            .await
            .expect("replace_password_hash"),
        "a rehash never undoes a password change"
    );
    assert_eq!(hash_of(&store, u.id).await, changed.expose(), "unchanged");

    assert!(
        !store
            .replace_password_hash(UserId::new_v7(T0), &changed, &fresh_hash())
            .await
            .expect("replace_password_hash"),
        "an unknown user: false"
    );

    let t2 = T0 + Duration::minutes(2);
    store
        .soft_delete_user(u.id, t2)
        .await
        .expect("soft_delete_user");
    assert!(
        !store
            .replace_password_hash(u.id, &changed, &fresh_hash())
            .await
            .expect("replace_password_hash"),
        "a soft-deleted user: false"
    );
    store
        .restore_user(u.id, t2 + Duration::minutes(1))
        .await
        .expect("restore_user");
    assert_eq!(
        hash_of(&store, u.id).await,
        changed.expose(),
        "a soft-deleted user's hash is not replaced"
    );
}

// ---------------------------------------------------------------------------------------------
// rate limits (rate_limit_suite!)

/// 5 a minute: a burst of 5 is allowed, then each request is limited with the exact wait for
/// the next token (12 s, then 1 ms when 11.999 s passed); a limited request does not move the
/// bucket, and once the token is back exactly one request is allowed.
pub async fn rate_limit_allows_a_burst_then_limits(store: Arc<dyn RateLimitStore>) {
    let s = store.as_ref();
    let rule = RateLimit::per_minute(5);
    let k = key("ip");
    hits_allowed(s, &k, rule, T0, 5).await;
    assert_eq!(
        hit(s, &k, rule, T0).await,
        limited(Duration::seconds(12)),
        "the 6th"
    );
    assert_eq!(
        hit(s, &k, rule, T0).await,
        limited(Duration::seconds(12)),
        "the 7th"
    );
    let almost = T0 + Duration::milliseconds(11_999);
    assert_eq!(
        hit(s, &k, rule, almost).await,
        limited(Duration::milliseconds(1)),
        "11.999 s later"
    );
    let t1 = T0 + Duration::seconds(12);
    hits_allowed(s, &k, rule, t1, 1).await;
    assert_eq!(
        hit(s, &k, rule, t1).await,
        limited(Duration::seconds(12)),
        "one token came back, one was spent"
    );
}

/// Tokens come back one per interval: after 24 s two requests are allowed, after a quiet
/// period the whole burst, never more.
pub async fn rate_limit_refills_after_waiting(store: Arc<dyn RateLimitStore>) {
    let s = store.as_ref();
    let rule = RateLimit::per_minute(5);
    let k = key("ip");
    hits_allowed(s, &k, rule, T0, 5).await;
    let t1 = T0 + Duration::seconds(24);
    hits_allowed(s, &k, rule, t1, 2).await;
    assert_eq!(hit(s, &k, rule, t1).await, limited(Duration::seconds(12)));
    let t2 = t1 + Duration::hours(1);
    hits_allowed(s, &k, rule, t2, 5).await;
    assert_eq!(
        hit(s, &k, rule, t2).await,
        limited(Duration::seconds(12)),
        "a long wait refills the bucket, no more"
    );
    let hourly = RateLimit::per_hour(2);
    let h = key("forgot");
    hits_allowed(s, &h, hourly, T0, 2).await;
    assert_eq!(
        hit(s, &h, hourly, T0 + Duration::minutes(10)).await,
        limited(Duration::minutes(20)),
        "2 an hour: a token every 30 min"
    );
}

/// Buckets are per key.
pub async fn rate_limit_keys_are_independent(store: Arc<dyn RateLimitStore>) {
    let s = store.as_ref();
    let rule = RateLimit::per_minute(3);
    let (a, b) = (key("a"), key("b"));
    hits_allowed(s, &a, rule, T0, 3).await;
    assert_eq!(hit(s, &a, rule, T0).await, limited(Duration::seconds(20)));
    hits_allowed(s, &b, rule, T0, 3).await;
    assert_eq!(hit(s, &b, rule, T0).await, limited(Duration::seconds(20)));
}

/// `purge_rate_limits(now)` deletes the buckets that are full again at `now` (and returns how
/// many); a bucket still refilling keeps its state. (Needs a store of its own.)
pub async fn rate_limit_purge_removes_only_full_buckets(store: Arc<dyn RateLimitStore>) {
    let s = store.as_ref();
    let rule = RateLimit::per_minute(5);
    let (one, full) = (key("one"), key("full"));
    hits_allowed(s, &one, rule, T0, 1).await;
    hits_allowed(s, &full, rule, T0, 5).await;
    let t1 = T0 + Duration::seconds(12);
    assert_eq!(
        store
            .purge_rate_limits(t1)
            .await
            .expect("purge_rate_limits"),
        1,
        "the bucket with one request is full again 12 s later"
    );
    assert_eq!(
        store
            .purge_rate_limits(t1)
            .await
            .expect("purge_rate_limits"),
        0
    );
    hits_allowed(s, &full, rule, t1, 1).await;
    assert_eq!(
        hit(s, &full, rule, t1).await,
        limited(Duration::seconds(12)),
        "the refilling bucket kept its state"
    );
    hits_allowed(s, &one, rule, t1, 5).await;
    assert_eq!(
        store
            .purge_rate_limits(t1 + Duration::minutes(1))
            .await
            .expect("purge_rate_limits"),
        2,
        "every bucket is full a minute later"
    );
}

/// 100 concurrent requests on one key at one instant with 10 a minute: exactly 10 are allowed,
/// every other one is limited with 6 s.
pub async fn concurrent_rate_limit_hits_allow_exactly_the_burst(store: Arc<dyn RateLimitStore>) {
    let rule = RateLimit::per_minute(10);
    let k = key("crowd");
    let mut tasks = JoinSet::new();
    for _ in 0..100 {
        let store = Arc::clone(&store);
        let k = k.clone();
        tasks.spawn(async move { store.hit(&k, rule, T0).await.expect("hit") });
    }
    let (mut allowed, mut refused) = (0, 0);
    while let Some(decision) = tasks.join_next().await {
        match decision.expect("task") {
            RateDecision::Allowed => allowed += 1,
            RateDecision::Limited { retry_after } => {
                assert_eq!(retry_after, Duration::seconds(6), "a token every 6 s");
                refused += 1;
            }
        }
    }
    assert_eq!((allowed, refused), (10, 90), "(allowed, limited)");
    assert_eq!(
        hit(store.as_ref(), &k, rule, T0 + Duration::seconds(6)).await,
        RateDecision::Allowed,
        "the bucket moved exactly 10 times: one token back after 6 s"
    );
}
