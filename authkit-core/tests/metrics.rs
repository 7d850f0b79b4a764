//! The metrics core records at the places that decide an outcome: login, refresh,
//! registration, audit events, the per-account throttle, the per-address email limit and the
//! argon2 hash pool, read back from a debugging recorder installed for this test binary.
//!
//! The recorder is process-global (the hash workers record from their own threads), so the
//! tests take turns ([`TURN`]) and each reads the counts it caused from a fresh snapshot.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod common;

use std::sync::OnceLock;

use authkit_core::config::LimitsConfig;
use authkit_core::domain::{Email, Password};
use authkit_core::hashing::{Argon2Config, Argon2Hasher};
use authkit_core::metrics::{
    AUDIT_EVENTS, LOGIN_ATTEMPTS, PASSWORD_HASH_DURATION, PASSWORD_HASH_QUEUE_WAIT,
    PASSWORD_HASH_REJECTED, RATE_LIMITED, REFRESH, REGISTRATIONS,
};
use authkit_core::ports::{HashError, LoginThrottle, PasswordHasher, RateLimit};
use authkit_core::service::{LoginInput, RegisterInput, RequestContext};
use authkit_core::testing::{ManualClock, MemoryMailer, MemoryStore, fast_hasher};
use authkit_core::{AuthConfig, AuthKit, Error};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

use common::PASSWORD;

/// One test at a time reads the shared recorder.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The process-wide recorder's snapshotter (installed on first use).
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().unwrap();
        snapshotter
    })
}

/// One recorded metric: name, labels, value.
type Entry = (String, Vec<(String, String)>, DebugValue);

/// What was recorded since the previous snapshot.
struct Recorded(Vec<Entry>);

impl Recorded {
    /// Drains the recorder.
    fn take() -> Self {
        Self(
            snapshotter()
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
                .collect(),
        )
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a DebugValue> {
        self.0
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| v)
    }

    /// The counter `name` with exactly `labels`.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .map(|v| match v {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// The samples of the histogram `name` with exactly `labels`.
    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.matching(name, labels)
            .map(|v| match v {
                DebugValue::Histogram(samples) => samples.len(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .sum()
    }
}

fn kit(limits: LimitsConfig) -> AuthKit {
    AuthKit::builder(AuthConfig {
        limits,
        ..AuthConfig::default()
    })
    .store(MemoryStore::new())
    .mailer(MemoryMailer::new())
    .clock(ManualClock::starting_now())
    .hasher(fast_hasher())
    .keys(common::test_keys())
    .build()
    .unwrap()
}

fn login(email: &Email, password: &str) -> LoginInput {
    LoginInput {
        email: email.clone(),
        password: Password::new(password),
        remember_me: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_and_registration_outcomes_are_counted() {
    let _turn = TURN.lock().await;
    let kit = kit(LimitsConfig {
        login_throttle: LoginThrottle {
            free_failures: 2,
            ..LoginThrottle::default()
        },
        ..LimitsConfig::off()
    });
    let ctx = RequestContext::default();
    let ada = Email::parse("ada@example.com").unwrap();
    let _ = Recorded::take();

    kit.register(
        &ctx,
        RegisterInput {
            email: ada.clone(),
            password: Password::new(PASSWORD),
            display_name: None,
            locale: None,
        },
    )
    .await
    .unwrap();
    let pair = kit.login(&ctx, login(&ada, PASSWORD)).await.unwrap();
    let nobody = Email::parse("nobody@example.com").unwrap();
    for _ in 0..2 {
        let error = kit.login(&ctx, login(&nobody, PASSWORD)).await.unwrap_err();
        assert!(matches!(error, Error::InvalidCredentials), "{error:?}");
    }
    let error = kit.login(&ctx, login(&nobody, PASSWORD)).await.unwrap_err();
    assert!(matches!(error, Error::RateLimited { .. }), "{error:?}");
    let error = kit
        .login(&ctx, login(&ada, "a wrong password here"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidCredentials), "{error:?}");

    let rotated = kit
        .refresh(&ctx, pair.refresh_token.expose())
        .await
        .unwrap();
    assert!(
        kit.refresh(&ctx, pair.refresh_token.expose())
            .await
            .is_err()
    );
    assert!(
        kit.refresh(&ctx, rotated.refresh_token.expose())
            .await
            .is_err(),
        "the session was revoked by the reuse"
    );
    assert!(kit.refresh(&ctx, "not a token").await.is_err());

    let r = Recorded::take();
    let outcome = |o| [("outcome", o)];
    assert_eq!(r.counter(REGISTRATIONS, &[]), 1);
    assert_eq!(r.counter(LOGIN_ATTEMPTS, &outcome("ok")), 1);
    assert_eq!(r.counter(LOGIN_ATTEMPTS, &outcome("failed")), 3);
    assert_eq!(r.counter(LOGIN_ATTEMPTS, &outcome("throttled")), 1);
    assert_eq!(r.counter(RATE_LIMITED, &[("scope", "account")]), 1);
    assert_eq!(r.counter(REFRESH, &outcome("ok")), 1);
    assert_eq!(r.counter(REFRESH, &outcome("reused")), 1);
    assert_eq!(r.counter(REFRESH, &outcome("failed")), 2);
    let event = |e| [("event", e)];
    assert_eq!(r.counter(AUDIT_EVENTS, &event("register")), 1);
    assert_eq!(r.counter(AUDIT_EVENTS, &event("login_ok")), 1);
    assert_eq!(r.counter(AUDIT_EVENTS, &event("login_failed")), 4);
    assert_eq!(r.counter(AUDIT_EVENTS, &event("refresh")), 1);
    assert_eq!(r.counter(AUDIT_EVENTS, &event("refresh_reuse")), 1);
    // register: hash; logins: 2 verifies + 1 dummy hash + 2 dummy verifies (throttled: none).
    assert_eq!(r.samples(PASSWORD_HASH_DURATION, &[("op", "hash")]), 2);
    assert_eq!(r.samples(PASSWORD_HASH_DURATION, &[("op", "verify")]), 4);
    assert_eq!(r.samples(PASSWORD_HASH_QUEUE_WAIT, &[]), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_email_limit_is_counted() {
    let _turn = TURN.lock().await;
    let kit = kit(LimitsConfig {
        emails_per_address: RateLimit::per_minute(1),
        ..LimitsConfig::off()
    });
    let ctx = RequestContext::default();
    let ada = Email::parse("ada@example.com").unwrap();
    let _ = Recorded::take();
    for _ in 0..3 {
        kit.forgot_password(&ctx, ada.clone()).await.unwrap();
    }
    let r = Recorded::take();
    assert_eq!(r.counter(RATE_LIMITED, &[("scope", "address")]), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_pool_records_each_job_and_each_refusal() {
    let _turn = TURN.lock().await;
    // One slow worker and a queue of one: most of 8 simultaneous jobs are refused.
    let hasher = Argon2Hasher::new(&Argon2Config {
        m_cost: 19456,
        t_cost: 2,
        workers: 1,
        queue: 1,
        ..Argon2Config::insecure_fast()
    })
    .unwrap();
    let stored = hasher.hash(&Password::new("a password to verify")).await;
    let stored = stored.unwrap();
    let _ = Recorded::take();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..8 {
        let hasher = hasher.clone();
        let stored = stored.clone();
        tasks.spawn(async move {
            let password = Password::new("a password to verify");
            if n % 2 == 0 {
                hasher.hash(&password).await.map(|_| "hash")
            } else {
                hasher.verify(&password, &stored).await.map(|_| "verify")
            }
        });
    }
    let results = tasks.join_all().await;
    let done = |op| {
        results
            .iter()
            .filter(|r| r.as_ref().ok() == Some(&op))
            .count()
    };
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(HashError::Overloaded { .. })))
        .count();
    assert!(refused > 0, "{results:?}");
    assert_eq!(done("hash") + done("verify") + refused, 8, "{results:?}");

    let r = Recorded::take();
    assert_eq!(
        r.samples(PASSWORD_HASH_DURATION, &[("op", "hash")]),
        done("hash")
    );
    assert_eq!(
        r.samples(PASSWORD_HASH_DURATION, &[("op", "verify")]),
        done("verify")
    );
    assert_eq!(
        r.samples(PASSWORD_HASH_QUEUE_WAIT, &[]),
        done("hash") + done("verify")
    );
    assert_eq!(r.counter(PASSWORD_HASH_REJECTED, &[]), refused as u64);
}
