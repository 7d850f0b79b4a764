//! The email outbox end to end in process: the services queue mail in the same store call as
//! their change, the worker delivers it with retries, backoff, abandonment and language choice.
//! Memory store, capture mailer and a manual clock, so retries are driven by advancing time.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use authkit_core::config::OutboxConfig;
use authkit_core::domain::{Email, EmailKind, Locale, OutboxCounts, OutboxStatus, Password, User};
use authkit_core::mail::{DeliveryReport, EmailTemplates};
use authkit_core::ports::Clock;
use authkit_core::service::RequestContext;
use authkit_core::testing::{ManualClock, MemoryMailer, MemoryStore, fast_hasher};
use authkit_core::time::Duration;
use authkit_core::{AuthConfig, AuthKit};

use common::{PASSWORD, register_speaking};

struct Kit {
    kit: AuthKit,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    mailer: Arc<MemoryMailer>,
}

fn kit_with(config: AuthConfig, templates: EmailTemplates) -> Kit {
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = Arc::new(MemoryMailer::new());
    let store = Arc::new(MemoryStore::new());
    let kit = AuthKit::builder(config)
        .store_arc(store.clone())
        .mailer_arc(mailer.clone())
        .clock_arc(clock.clone())
        .hasher(fast_hasher())
        .templates(templates)
        .keys(common::test_keys())
        .build()
        .unwrap();
    Kit {
        kit,
        store,
        clock,
        mailer,
    }
}

fn kit() -> Kit {
    // Per-address limits would drop repeated forgot/resend requests for one address.
    kit_with(
        AuthConfig {
            limits: authkit_core::config::LimitsConfig::off(),
            ..AuthConfig::default()
        },
        EmailTemplates::new(),
    )
}

/// [`AuthKit::run_email_worker`] in the background, until [`Worker::stop`].
struct Worker {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    fn start(kit: &AuthKit) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kit.clone().run_email_worker(async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    /// Asks the worker to stop and waits (at most 5 s) until it has.
    #[allow(clippy::expect_used, reason = "test helpers fail loudly")]
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(StdDuration::from_secs(5), self.task)
            .await
            .expect("the worker did not stop")
            .unwrap();
    }
}

async fn counts(kit: &AuthKit) -> OutboxCounts {
    kit.outbox_counts().await.unwrap()
}

#[tokio::test]
async fn registration_queues_the_email_and_nothing_is_sent_while_the_request_waits() {
    let k = kit();
    register_speaking(&k.kit, "ada@example.com", None).await;
    assert_eq!(k.mailer.attempts(), 0, "sent during the request");
    assert_eq!(counts(&k.kit).await.queued, 1);

    let report = k.kit.deliver_emails().await.unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            sent: 1,
            ..DeliveryReport::default()
        }
    );
    let m = &k.mailer.messages()[0];
    assert_eq!(
        (m.to.as_str(), m.kind),
        ("ada@example.com", EmailKind::VerifyEmail)
    );
    assert_eq!(m.locale.as_str(), "en");
    let link = m.link.clone().unwrap();
    assert!(
        link.starts_with("http://localhost:8080/verify-email?token="),
        "{link}"
    );
    assert!(m.text.contains(&link));
    assert!(m.html.as_deref().unwrap().contains("token="));
    // The link works: the token was stored with the email, in the same store call.
    let token = k
        .mailer
        .last_token("ada@example.com", EmailKind::VerifyEmail)
        .unwrap();
    let user = k
        .kit
        .verify_email(&RequestContext::default(), &token)
        .await
        .unwrap();
    assert!(user.email_verified);
    assert_eq!(counts(&k.kit).await.sent, 1);
    // Delivered once: a second run finds nothing.
    assert_eq!(k.kit.deliver_emails().await.unwrap().claimed(), 0);
    assert_eq!(k.mailer.messages().len(), 1);
}

#[tokio::test]
async fn transient_failures_are_retried_with_exponential_backoff() {
    let k = kit();
    k.mailer.fail_next(3, true);
    register_speaking(&k.kit, "ada@example.com", None).await;
    let first = k.kit.deliver_emails().await.unwrap();
    assert_eq!(
        first,
        DeliveryReport {
            retried: 1,
            ..DeliveryReport::default()
        }
    );
    // 30 s, then 60 s, then 120 s (defaults: 30 s doubled per failure).
    for wait in [30, 60, 120] {
        k.clock.advance(Duration::seconds(wait - 1));
        assert_eq!(
            k.kit.deliver_emails().await.unwrap().claimed(),
            0,
            "retried before {wait} s"
        );
        k.clock.advance(Duration::seconds(1));
        assert_eq!(
            k.kit.deliver_emails().await.unwrap().claimed(),
            1,
            "not retried after {wait} s"
        );
    }
    assert_eq!(k.mailer.attempts(), 4);
    assert_eq!(k.mailer.messages().len(), 1);
    let entry = &k.kit.outbox_messages(None, 10).await.unwrap()[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 4));
    assert!(entry.last_error.as_deref().unwrap().contains("transient"));
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_abandoned_after_max_attempts_and_can_be_retried() {
    let k = kit();
    k.mailer.fail_next(u32::MAX, true);
    register_speaking(&k.kit, "ada@example.com", None).await;
    let mut report = DeliveryReport::default();
    for _ in 0..10 {
        let r = k.kit.deliver_emails().await.unwrap();
        report.retried += r.retried;
        report.abandoned += r.abandoned;
        k.clock.advance(Duration::hours(1));
    }
    assert_eq!((report.retried, report.abandoned), (4, 1));
    assert_eq!(k.mailer.attempts(), 5, "default max_attempts is 5");
    assert_eq!(counts(&k.kit).await.abandoned, 1);
    let abandoned = k
        .kit
        .outbox_messages(Some(OutboxStatus::Abandoned), 10)
        .await
        .unwrap();
    assert_eq!(abandoned[0].attempts, 5);

    // An operator queues it again once the mailer works.
    k.mailer.fail_next(0, true);
    assert_eq!(k.kit.retry_abandoned_emails(&[]).await.unwrap(), 1);
    assert_eq!(k.kit.deliver_emails().await.unwrap().sent, 1);
    assert_eq!(k.mailer.messages().len(), 1);
}

#[tokio::test]
async fn a_permanent_failure_abandons_at_once_and_max_attempts_is_configurable() {
    let k = kit();
    k.mailer.fail_next(1, false);
    register_speaking(&k.kit, "ada@example.com", None).await;
    let r = k.kit.deliver_emails().await.unwrap();
    assert_eq!(
        r,
        DeliveryReport {
            abandoned: 1,
            ..DeliveryReport::default()
        }
    );
    assert!(
        k.kit.outbox_messages(None, 1).await.unwrap()[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("permanent")
    );

    let k = kit_with(
        AuthConfig {
            outbox: OutboxConfig {
                max_attempts: 2,
                ..OutboxConfig::default()
            },
            ..AuthConfig::default()
        },
        EmailTemplates::new(),
    );
    k.mailer.fail_next(u32::MAX, true);
    register_speaking(&k.kit, "ada@example.com", None).await;
    k.kit.deliver_emails().await.unwrap();
    k.clock.advance(Duration::seconds(30));
    assert_eq!(k.kit.deliver_emails().await.unwrap().abandoned, 1);
    assert_eq!(k.mailer.attempts(), 2);
}

#[tokio::test]
async fn forgot_password_writes_one_row_either_way_and_the_worker_resolves_it() {
    let k = kit();
    register_speaking(&k.kit, "ada@example.com", None).await;
    k.kit.deliver_emails().await.unwrap();
    let ctx = RequestContext::default();
    k.kit
        .forgot_password(&ctx, Email::parse("ada@example.com").unwrap())
        .await
        .unwrap();
    k.kit
        .forgot_password(&ctx, Email::parse("nobody@example.com").unwrap())
        .await
        .unwrap();
    // The requests wrote the same thing for both addresses: one queued row each, no token yet.
    assert_eq!(counts(&k.kit).await.queued, 2);

    let r = k.kit.deliver_emails().await.unwrap();
    assert_eq!((r.sent, r.dropped), (1, 1));
    let token = k
        .mailer
        .last_token("ada@example.com", EmailKind::PasswordReset)
        .unwrap();
    assert!(
        k.mailer
            .messages()
            .iter()
            .all(|m| m.to.as_str() != "nobody@example.com")
    );
    // The token the worker created works, and the reset queues its notice.
    k.kit
        .reset_password(&ctx, &token, &Password::new("a brand new passphrase here"))
        .await
        .unwrap();
    assert_eq!(k.kit.deliver_emails().await.unwrap().sent, 1);
    assert!(
        k.mailer
            .messages()
            .iter()
            .any(|m| m.kind == EmailKind::PasswordChanged)
    );
}

#[tokio::test]
async fn resending_verification_to_a_verified_address_sends_nothing() {
    let k = kit();
    register_speaking(&k.kit, "ada@example.com", None).await;
    k.kit.deliver_emails().await.unwrap();
    let token = k
        .mailer
        .last_token("ada@example.com", EmailKind::VerifyEmail)
        .unwrap();
    let ctx = RequestContext::default();
    k.kit.verify_email(&ctx, &token).await.unwrap();
    k.kit
        .resend_verification(&ctx, Email::parse("ada@example.com").unwrap())
        .await
        .unwrap();
    assert_eq!(k.kit.deliver_emails().await.unwrap().dropped, 1);
    assert_eq!(k.mailer.messages().len(), 1);
}

#[tokio::test]
async fn a_message_claimed_by_a_worker_that_died_is_delivered_after_its_lease() {
    let k = kit();
    register_speaking(&k.kit, "ada@example.com", None).await;
    // A worker claims it and dies before sending.
    let now = k.clock.now();
    let claimed = k
        .kit
        .store()
        .claim_emails(now, now + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        k.kit.deliver_emails().await.unwrap().claimed(),
        0,
        "claimed twice"
    );
    k.clock.advance(Duration::minutes(5));
    assert_eq!(k.kit.deliver_emails().await.unwrap().sent, 1);
    assert_eq!(k.mailer.messages().len(), 1);
}

fn french() -> EmailTemplates {
    EmailTemplates::new()
        .with(
            "fr/verify_email.subject",
            "Vérifiez votre adresse pour {{ service }}",
        )
        .unwrap()
        .with(
            "fr/verify_email.txt",
            "Ouvrez ce lien : {{ link }} (valable {{ expires_hours }} h)",
        )
        .unwrap()
        .with(
            "fr/verify_email.html",
            "{% extends \"layout.html\" %}{% block title %}Vérifiez votre adresse{% endblock %}\
             {% block body %}<a href=\"{{ link }}\">Vérifier</a>{% endblock %}",
        )
        .unwrap()
}

#[tokio::test]
async fn the_users_locale_chooses_the_templates_falling_back_to_the_default_then_english() {
    let k = kit_with(AuthConfig::default(), french());
    register_speaking(&k.kit, "fr@example.com", Some("fr-CA")).await;
    register_speaking(&k.kit, "de@example.com", Some("de")).await;
    register_speaking(&k.kit, "none@example.com", None).await;
    k.kit.deliver_emails().await.unwrap();
    let by = |to: &str| {
        k.mailer
            .messages()
            .into_iter()
            .find(|m| m.to.as_str() == to)
            .unwrap()
    };
    let fr = by("fr@example.com");
    assert_eq!(fr.locale.as_str(), "fr");
    assert_eq!(fr.subject, "Vérifiez votre adresse pour authkit");
    assert!(fr.text.contains(fr.link.as_deref().unwrap()));
    assert!(fr.html.as_deref().unwrap().contains("<html lang=\"fr\">"));
    assert_eq!(by("de@example.com").locale.as_str(), "en");
    assert_eq!(by("none@example.com").locale.as_str(), "en");

    // With French as the service default, users without a choice get French.
    let k = kit_with(
        AuthConfig {
            default_locale: Locale::parse("fr").unwrap(),
            ..AuthConfig::default()
        },
        french(),
    );
    register_speaking(&k.kit, "none@example.com", None).await;
    k.kit.deliver_emails().await.unwrap();
    assert_eq!(k.mailer.messages()[0].locale.as_str(), "fr");
}

#[tokio::test]
async fn a_broken_template_fails_the_build() {
    let broken = EmailTemplates::new()
        .with("fr/verify_email.subject", "x")
        .unwrap()
        .with("fr/verify_email.txt", "{{ no_such_variable }}")
        .unwrap();
    let err = AuthKit::builder(AuthConfig::default())
        .store(MemoryStore::new())
        .mailer(MemoryMailer::new())
        .hasher(fast_hasher())
        .templates(broken)
        .keys(common::test_keys())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("fr/verify_email.txt"), "{err}");
}

#[tokio::test]
async fn the_worker_wakes_on_new_mail_and_stops_on_shutdown() {
    let k = kit_with(
        AuthConfig {
            outbox: OutboxConfig {
                // Far longer than the test: only the wake-up can deliver in time.
                poll_interval: Duration::hours(1),
                ..OutboxConfig::default()
            },
            ..AuthConfig::default()
        },
        EmailTemplates::new(),
    );
    let worker = Worker::start(&k.kit);
    // The first message may be delivered by the worker's first pass; the second can only be
    // delivered by the wake-up, the worker being asleep for an hour by then.
    for (n, email) in [(1, "ada@example.com"), (2, "bob@example.com")] {
        register_speaking(&k.kit, email, None).await;
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
        while k.mailer.messages().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker did not wake up"
            );
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    }
    worker.stop().await;
}

/// Woken by new mail, the worker lingers before it claims, and mail queued meanwhile goes out
/// with it. Tokio's clock is paused: the sleeps below move it forward without waiting.
#[tokio::test(start_paused = true)]
async fn the_woken_worker_lingers_and_claims_what_came_meanwhile() {
    let linger = StdDuration::from_secs(10);
    let k = kit_with(
        AuthConfig {
            limits: authkit_core::config::LimitsConfig::off(),
            outbox: OutboxConfig {
                poll_interval: Duration::hours(1),
                linger: Duration::seconds(10),
                ..OutboxConfig::default()
            },
            ..AuthConfig::default()
        },
        EmailTemplates::new(),
    );
    // Registered before the worker runs (hashing happens on other threads, and a paused
    // clock moves on whenever the runtime idles): the worker's first pass sends both.
    for email in ["ada@example.com", "bob@example.com"] {
        register_speaking(&k.kit, email, None).await;
    }
    let worker = Worker::start(&k.kit);
    let sent = |n: usize| {
        let mailer = Arc::clone(&k.mailer);
        async move {
            let deadline = tokio::time::Instant::now() + StdDuration::from_secs(3600);
            while mailer.messages().len() < n {
                assert!(tokio::time::Instant::now() < deadline, "not sent");
                tokio::time::sleep(StdDuration::from_millis(5)).await;
            }
        }
    };
    sent(2).await;

    let ctx = RequestContext::default();
    let woken = tokio::time::Instant::now();
    k.kit
        .forgot_password(&ctx, Email::parse("ada@example.com").unwrap())
        .await
        .unwrap();
    tokio::time::sleep(StdDuration::from_secs(1)).await;
    k.kit
        .forgot_password(&ctx, Email::parse("bob@example.com").unwrap())
        .await
        .unwrap();
    tokio::time::sleep(linger - StdDuration::from_secs(2)).await;
    assert_eq!(k.mailer.messages().len(), 2, "sent before the linger ended");

    sent(4).await;
    assert!(
        woken.elapsed() >= linger,
        "sent after {:?}",
        woken.elapsed()
    );
    // Both were queued at the manual clock's one instant: claimed in id order, not call order.
    let mut to: Vec<_> = k.mailer.messages()[2..]
        .iter()
        .map(|m| (m.kind, m.to.as_str().to_owned()))
        .collect();
    to.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        to,
        [
            (EmailKind::PasswordReset, "ada@example.com".to_owned()),
            (EmailKind::PasswordReset, "bob@example.com".to_owned())
        ]
    );
    worker.stop().await;
}

#[test]
fn a_negative_linger_is_refused() {
    let with = |linger: Duration| AuthConfig {
        outbox: OutboxConfig {
            linger,
            ..OutboxConfig::default()
        },
        ..AuthConfig::default()
    };
    assert_eq!(
        with(Duration::milliseconds(-1))
            .validate()
            .unwrap_err()
            .field,
        "outbox.linger"
    );
    // Zero claims at once; longer than the poll interval acts as the poll interval.
    for good in [Duration::ZERO, Duration::hours(1)] {
        assert!(with(good).validate().is_ok(), "{good}");
    }
}

#[tokio::test]
async fn a_bootstrapped_administrator_gets_no_verification_email() {
    let k = kit();
    let (user, outcome) = k
        .kit
        .bootstrap_admin(
            Email::parse("boss@example.com").unwrap(),
            Some(&Password::new(PASSWORD)),
        )
        .await
        .unwrap();
    assert_eq!(outcome, authkit_core::service::Bootstrapped::Created);
    assert!(user.email_verified);
    assert_eq!(user.roles, ["admin", "user"]);
    assert_eq!(
        counts(&k.kit).await,
        OutboxCounts::default(),
        "nothing queued"
    );
}

#[tokio::test]
async fn every_change_writes_its_email_in_the_same_store_call() {
    use authkit_core::service::{LoginInput, ProfileUpdate};
    let k = kit();
    let ctx = RequestContext::default();
    let ada = Email::parse("ada@example.com").unwrap();
    // The outbox's own write fails: a change whose email were written by a second store call
    // would fail (or lose its email) here. Only the address-lookup requests depend on it.
    k.store.fail_enqueue_mail(true);
    register_speaking(&k.kit, "ada@example.com", None).await;
    let err = k.kit.forgot_password(&ctx, ada.clone()).await.unwrap_err();
    assert_eq!(err.code().as_str(), "unavailable", "{err:?}");

    k.store.fail_enqueue_mail(false);
    k.kit.forgot_password(&ctx, ada.clone()).await.unwrap();
    k.kit.deliver_emails().await.unwrap();
    let token = k
        .mailer
        .last_token("ada@example.com", EmailKind::PasswordReset)
        .unwrap();
    k.store.fail_enqueue_mail(true);
    let new_password = Password::new("a brand new passphrase here");
    k.kit
        .reset_password(&ctx, &token, &new_password)
        .await
        .unwrap();
    let pair = k
        .kit
        .login(
            &ctx,
            LoginInput {
                email: ada.clone(),
                password: new_password.clone(),
                remember_me: false,
            },
        )
        .await
        .unwrap();
    let me = k.kit.authenticate_token(&pair.access_token).await.unwrap();
    k.kit
        .change_password(&ctx, &me, &new_password, &Password::new(PASSWORD))
        .await
        .unwrap();
    k.kit
        .update_profile(
            &ctx,
            &me,
            ProfileUpdate {
                email: Some(Email::parse("ada@example.org").unwrap()),
                current_password: Some(Password::new(PASSWORD)),
                ..ProfileUpdate::default()
            },
        )
        .await
        .unwrap();

    k.kit.deliver_emails().await.unwrap();
    let sent: Vec<_> = k
        .mailer
        .messages()
        .iter()
        .map(|m| (m.kind, m.to.to_string()))
        .collect();
    for expected in [
        (EmailKind::VerifyEmail, "ada@example.com"),
        (EmailKind::PasswordReset, "ada@example.com"),
        (EmailKind::PasswordChanged, "ada@example.com"),
        (EmailKind::EmailChanged, "ada@example.com"),
        (EmailKind::VerifyEmail, "ada@example.org"),
    ] {
        let n = sent
            .iter()
            .filter(|(kind, to)| (*kind, to.as_str()) == expected)
            .count();
        let want = if expected.0 == EmailKind::PasswordChanged {
            2
        } else {
            1
        };
        assert_eq!(n, want, "{expected:?} in {sent:?}");
    }
}

/// A session revoked now, with a spent refresh hash: rotated once, then revoked.
async fn ended_session(k: &Kit, email: &str) -> authkit_core::domain::SessionId {
    use authkit_core::domain::{NewSession, RefreshRotation, SessionId, TokenHash};
    use authkit_core::ports::SessionStore;
    let user = register_speaking(&k.kit, email, None).await;
    let now = k.clock.now();
    let first = TokenHash::of(&format!("{email} first"));
    let session = k
        .store
        .create_session(&NewSession {
            refresh_selector: None,
            id: SessionId::new_v7(now),
            user_id: user.id,
            refresh_hash: first,
            now,
            expires_at: now + Duration::days(30),
            idle_expires_at: now + Duration::days(14),
            remember_me: false,
            ip: None,
            user_agent: None,
        })
        .await
        .unwrap();
    k.store
        .rotate_refresh(&RefreshRotation {
            selector: None,
            presented: first,
            next: TokenHash::of(&format!("{email} next")),
            now,
            idle_expires_at: now + Duration::days(14),
        })
        .await
        .unwrap();
    assert!(
        k.store
            .revoke_session(user.id, session.id, now)
            .await
            .unwrap()
    );
    session.id
}

#[tokio::test]
async fn purge_sessions_keeps_ended_sessions_for_the_retention() {
    use authkit_core::ports::SessionStore;
    use authkit_core::service::SESSION_RETENTION;
    let k = kit();
    let id = ended_session(&k, "ada@example.com").await;
    k.clock.advance(SESSION_RETENTION);
    assert_eq!(k.kit.purge_sessions(k.clock.now()).await.unwrap(), 0);
    assert!(k.store.session(id).await.unwrap().is_some());
    k.clock.advance(Duration::microseconds(1));
    assert_eq!(k.kit.purge_sessions(k.clock.now()).await.unwrap(), 1);
    assert_eq!(k.store.session(id).await.unwrap(), None);
}

#[tokio::test]
async fn the_worker_purges_ended_sessions() {
    use authkit_core::ports::SessionStore;
    use authkit_core::service::SESSION_RETENTION;
    let k = kit();
    let id = ended_session(&k, "ada@example.com").await;
    k.clock.advance(SESSION_RETENTION + Duration::minutes(1));
    let worker = Worker::start(&k.kit);
    // The worker's first pass runs the hourly maintenance.
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
    while k.store.session(id).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not purge the ended session"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    worker.stop().await;
}

/// A password-reset token of a new user, inserted now, expiring in 30 minutes.
async fn reset_token(k: &Kit, email: &str) -> authkit_core::domain::NewOneTimeToken {
    use authkit_core::domain::{NewOneTimeToken, TokenHash, TokenPurpose};
    use authkit_core::ports::OneTimeTokenStore;
    let user = register_speaking(&k.kit, email, None).await;
    let now = k.clock.now();
    let token = NewOneTimeToken {
        hash: TokenHash::of(&format!("{email} reset")),
        purpose: TokenPurpose::PasswordReset,
        user_id: user.id,
        email: user.email,
        created_at: now,
        expires_at: now + Duration::minutes(30),
    };
    k.store.insert_token(&token).await.unwrap();
    token
}

/// Whether `token` is still stored (peeked at its creation, when it was usable).
async fn token_kept(k: &Kit, token: &authkit_core::domain::NewOneTimeToken) -> bool {
    use authkit_core::ports::OneTimeTokenStore;
    k.store
        .peek_token(&token.hash, token.purpose, token.created_at)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn purge_tokens_deletes_tokens_once_expired() {
    let k = kit();
    let token = reset_token(&k, "ada@example.com").await;
    k.clock.advance(Duration::minutes(30));
    assert_eq!(k.kit.purge_tokens(k.clock.now()).await.unwrap(), 0);
    assert!(token_kept(&k, &token).await, "expiring now is not expired");
    k.clock.advance(Duration::microseconds(1));
    assert_eq!(
        k.kit.purge_tokens(k.clock.now()).await.unwrap(),
        1,
        "the reset token, not the registration's verification token (24 h)"
    );
    assert!(!token_kept(&k, &token).await);
}

#[tokio::test]
async fn the_worker_purges_expired_tokens() {
    let k = kit();
    let token = reset_token(&k, "ada@example.com").await;
    k.clock.advance(Duration::minutes(31));
    let worker = Worker::start(&k.kit);
    // The worker's first pass runs the hourly maintenance.
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
    while token_kept(&k, &token).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not purge the expired token"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    worker.stop().await;
}

#[tokio::test]
async fn purge_sessions_follows_the_configured_retention() {
    use authkit_core::ports::SessionStore;
    let k = kit_with(
        AuthConfig {
            limits: authkit_core::config::LimitsConfig::off(),
            session_retention: Duration::days(1),
            ..AuthConfig::default()
        },
        EmailTemplates::new(),
    );
    let id = ended_session(&k, "ada@example.com").await;
    k.clock.advance(Duration::days(1));
    assert_eq!(k.kit.purge_sessions(k.clock.now()).await.unwrap(), 0);
    assert!(k.store.session(id).await.unwrap().is_some());
    k.clock.advance(Duration::microseconds(1));
    assert_eq!(k.kit.purge_sessions(k.clock.now()).await.unwrap(), 1);
    assert_eq!(k.store.session(id).await.unwrap(), None);
}

#[test]
fn a_negative_session_retention_is_refused() {
    let config = AuthConfig {
        session_retention: Duration::seconds(-1),
        ..AuthConfig::default()
    };
    assert_eq!(config.validate().unwrap_err().field, "session_retention");
    let zero = AuthConfig {
        session_retention: Duration::ZERO,
        ..AuthConfig::default()
    };
    assert!(zero.validate().is_ok(), "zero: purged at the next pass");
}

/// The audit events about `user` in the store, once the kit's audit writer has appended at
/// least one (it writes in the background; polled with a deadline).
async fn audit_events_of(k: &Kit, user: &User) -> usize {
    use authkit_core::ports::AuditStore;
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
    loop {
        let n = k.store.audit_of_user(user.id, 100).await.unwrap().len();
        if n > 0 {
            return n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audit event was appended"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

fn kit_with_audit_retention(retention: Option<Duration>) -> Kit {
    kit_with(
        AuthConfig {
            limits: authkit_core::config::LimitsConfig::off(),
            audit_retention: retention,
            ..AuthConfig::default()
        },
        EmailTemplates::new(),
    )
}

#[tokio::test]
async fn purge_audit_keeps_every_event_without_a_retention() {
    use authkit_core::ports::AuditStore;
    let k = kit_with_audit_retention(None);
    let user = register_speaking(&k.kit, "ada@example.com", None).await;
    let events = audit_events_of(&k, &user).await;
    k.clock.advance(Duration::days(3650));
    assert_eq!(k.kit.purge_audit(k.clock.now()).await.unwrap(), 0);
    assert_eq!(
        k.store.audit_of_user(user.id, 100).await.unwrap().len(),
        events
    );
}

#[tokio::test]
async fn purge_audit_follows_the_configured_retention() {
    use authkit_core::ports::AuditStore;
    let k = kit_with_audit_retention(Some(Duration::days(1)));
    let user = register_speaking(&k.kit, "ada@example.com", None).await;
    let events = audit_events_of(&k, &user).await;
    k.clock.advance(Duration::days(1));
    assert_eq!(
        k.kit.purge_audit(k.clock.now()).await.unwrap(),
        0,
        "exactly one day old: kept"
    );
    k.clock.advance(Duration::microseconds(1));
    assert_eq!(
        k.kit.purge_audit(k.clock.now()).await.unwrap(),
        events as u64
    );
    assert!(
        k.store
            .audit_of_user(user.id, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_worker_purges_old_audit_events() {
    use authkit_core::ports::AuditStore;
    let k = kit_with_audit_retention(Some(Duration::days(1)));
    let user = register_speaking(&k.kit, "ada@example.com", None).await;
    audit_events_of(&k, &user).await;
    k.clock.advance(Duration::days(1) + Duration::minutes(1));
    let worker = Worker::start(&k.kit);
    // The worker's first pass runs the hourly maintenance.
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
    while !k
        .store
        .audit_of_user(user.id, 100)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker did not purge the old audit events"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    worker.stop().await;
}

#[test]
fn a_negative_audit_retention_is_refused() {
    let config = AuthConfig {
        audit_retention: Some(Duration::seconds(-1)),
        ..AuthConfig::default()
    };
    assert_eq!(config.validate().unwrap_err().field, "audit_retention");
    let zero = AuthConfig {
        audit_retention: Some(Duration::ZERO),
        ..AuthConfig::default()
    };
    assert!(zero.validate().is_ok(), "zero: purged at the next pass");
}
