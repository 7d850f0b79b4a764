//! The email outbox against a real SMTP server (`authkit_testkit::smtp::SmtpReceiver`) through
//! the real mailer (`authkit_smtp::SmtpMailer`), on SQLite and PostgreSQL:
//!
//! - an SMTP outage changes no answer of the API, the messages are retried while it lasts and
//!   each arrives exactly once when SMTP comes back (nothing for unknown addresses);
//! - a message refused again and again (451) is abandoned after `max_attempts`, one refused
//!   for good (550) at once, and an abandoned message queued again is delivered once;
//! - PostgreSQL: two instances on one database, each running the worker, never send a message
//!   twice, also when both retry through an outage.
//!
//! Retries in the first two are driven by a manual clock (the worker polls in real time, but a
//! retry comes due only when the test advances the clock), so every count is exact. Waits poll
//! with a deadline. Module names are nextest filters: `-E 'test(/^postgres::/)'`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use authkit_core::config::OutboxConfig;
use authkit_core::domain::{Email, OutboxCounts, OutboxEntry, OutboxStatus, Password};
use authkit_core::jwt::JwtKeys;
use authkit_core::ports::{Clock, Mailer, MailerError, OutgoingEmail, Store};
use authkit_core::service::{RegisterInput, RequestContext};
use authkit_core::testing::{ManualClock, fast_hasher};
use authkit_core::time::Duration;
use authkit_core::{AuthConfig, AuthKit, async_trait};
use authkit_smtp::SmtpMailer;
use authkit_testkit::smtp::{Received, SmtpReceiver};
use authkit_tests::db::{Backend, TestDb};
use secrecy::SecretBox;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The base of email links: with a path, so that links are seen to be built from it.
const PUBLIC_URL: &str = "https://accounts.example.test/auth";
const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "tangerine submarine velvet orchestra";
const SUBJECT_VERIFY: &str = "Verify your email for authkit";
const SUBJECT_RESET: &str = "Reset your authkit password";
const SUBJECT_CHANGED: &str = "Your authkit password was changed";
/// Generous: the tests normally finish in a few seconds, CI machines may be slow.
const DEADLINE: StdDuration = StdDuration::from_secs(60);
const POLL: StdDuration = StdDuration::from_millis(20);

// ---------------------------------------------------------------------------------------------
// Harness

/// Fails with `what` and the last state seen once the deadline has passed; otherwise waits one
/// poll interval.
struct Deadline {
    until: Instant,
    what: &'static str,
}

impl Deadline {
    fn new(what: &'static str) -> Self {
        Self {
            until: Instant::now() + DEADLINE,
            what,
        }
    }

    async fn tick(&self, state: impl Debug) {
        assert!(
            Instant::now() < self.until,
            "{} within {DEADLINE:?}; last seen: {state:#?}",
            self.what
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A port where nothing listens (bound for a moment by the system, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

/// Counts what the mailer of one kit did, around the real SMTP mailer.
#[derive(Debug)]
struct Counting {
    inner: SmtpMailer,
    sent: AtomicUsize,
    failed: AtomicUsize,
}

#[async_trait]
impl Mailer for Counting {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError> {
        let result = self.inner.send(email).await;
        match &result {
            Ok(()) => self.sent.fetch_add(1, Ordering::SeqCst),
            Err(_) => self.failed.fetch_add(1, Ordering::SeqCst),
        };
        result
    }
}

fn counting_mailer(port: u16) -> Arc<Counting> {
    Arc::new(Counting {
        inner: SmtpMailer::builder(&smtp_url(port))
            .from("authkit tests <no-reply@example.test>")
            .timeout(StdDuration::from_secs(10))
            .build()
            .unwrap(),
        sent: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    })
}

/// A kit on `store` sending through `mailer`, reading `clock`.
fn build_kit(
    store: Arc<dyn Store>,
    mailer: Arc<Counting>,
    clock: Arc<dyn Clock>,
    outbox: OutboxConfig,
) -> AuthKit {
    AuthKit::builder(AuthConfig {
        public_url: PUBLIC_URL.to_owned(),
        outbox,
        // Dozens of registrations and resets from 127.0.0.1 within a minute.
        limits: authkit_core::config::LimitsConfig::off(),
        ..AuthConfig::default()
    })
    .store_arc(store)
    .mailer_arc(mailer)
    .clock_arc(clock)
    .hasher(fast_hasher())
    .keys(
        JwtKeys::hs256(&SecretBox::new(Box::from(
            &b"an outbox smtp test secret of 32 bytes"[..],
        )))
        .unwrap(),
    )
    .build()
    .unwrap()
}

/// A background task stopped through a oneshot channel.
struct Task {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Task {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the task did not stop")
            .unwrap();
    }
}

/// `kit.run_email_worker`, spawned.
fn spawn_worker(kit: &AuthKit) -> Task {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(kit.clone().run_email_worker(async move {
        let _ = stopped.await;
    }));
    Task { stop, task }
}

/// authkit-axum serving `kit` under `/api/v1` on `127.0.0.1:0`; returns the base URL.
async fn serve(kit: &AuthKit) -> (String, Task) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .nest("/api/v1", authkit_axum::router(kit.clone()))
        .with_state(kit.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (format!("http://{addr}/api/v1"), Task { stop, task })
}

async fn counts(kit: &AuthKit) -> OutboxCounts {
    kit.outbox_counts().await.unwrap()
}

async fn entries(kit: &AuthKit) -> Vec<OutboxEntry> {
    kit.outbox_messages(None, 10_000).await.unwrap()
}

/// Waits until the outbox holds exactly `expected` (polling; fails after [`DEADLINE`]).
async fn wait_for_counts(kit: &AuthKit, expected: OutboxCounts, what: &'static str) {
    let deadline = Deadline::new(what);
    loop {
        let now = counts(kit).await;
        if now == expected {
            return;
        }
        deadline.tick(now).await;
    }
}

async fn register(kit: &AuthKit, email: &str) {
    kit.register(
        &RequestContext::default(),
        RegisterInput {
            email: Email::parse(email).unwrap(),
            password: Password::new(PASSWORD),
            display_name: None,
            locale: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("register {email}: {e:?}"));
}

/// How many messages arrived per (recipient, subject).
fn tally(messages: &[Received]) -> BTreeMap<(String, String), usize> {
    let mut tally = BTreeMap::new();
    for m in messages {
        assert_eq!(m.rcpt_to.len(), 1, "one recipient per message: {m:?}");
        let key = (m.rcpt_to[0].clone(), m.subject().unwrap_or_default());
        *tally.entry(key).or_default() += 1;
    }
    tally
}

/// The link to `<PUBLIC_URL>/<page>?token=` in the text part, also the target of a link in the
/// HTML part; returns the token.
fn token_in(mail: &Received, page: &str) -> String {
    let text = mail.text().expect("a text part");
    let html = mail.html().expect("an HTML part");
    let prefix = format!("{PUBLIC_URL}/{page}?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link starting with {prefix} in the text part:\n{text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        html.contains(&format!("href=\"{link}\"")),
        "the HTML part links to {link}:\n{html}"
    );
    let token = link[prefix.len()..].to_owned();
    assert!(token.len() >= 22, "a token of at least 128 bits: {token:?}");
    token
}

/// The only message to `to` with `subject`.
fn only(smtp: &SmtpReceiver, to: &str, subject: &str) -> Received {
    let found: Vec<_> = smtp
        .messages_to(to)
        .into_iter()
        .filter(|m| m.subject().as_deref() == Some(subject))
        .collect();
    assert_eq!(found.len(), 1, "one {subject:?} to {to}");
    found.into_iter().next().unwrap()
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// What a client sees of one call: what it was, status, content type, body with the values that
/// differ by instance (ids, timestamps) blanked.
type Answer = (String, u16, Option<String>, Value);

fn blank_instance_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "id" || key.ends_with("_at") {
                    *v = json!("<varies>");
                } else {
                    blank_instance_values(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(blank_instance_values),
        _ => {}
    }
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = post_full(client, base, path, body).await;
    (status, body)
}

async fn post_full(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let response = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, content_type, body)
}

/// Registers `users` (then the first one again, refused), then asks for a reset of each of
/// `forgot`, over HTTP.
async fn self_service_calls(base: &str, users: &[String], forgot: &[String]) -> Vec<Answer> {
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for (what, email) in users
        .iter()
        .map(|e| ("register", e))
        .chain([("register again", &users[0])])
    {
        let body = json!({"email": email, "password": PASSWORD});
        let (status, ct, mut body) = post_full(&client, base, "/register", body).await;
        blank_instance_values(&mut body);
        answers.push((format!("{what} {email}"), status, ct, body));
    }
    for email in forgot {
        let body = json!({"email": email});
        let (status, ct, mut body) = post_full(&client, base, "/password/forgot", body).await;
        blank_instance_values(&mut body);
        answers.push((format!("forgot {email}"), status, ct, body));
    }
    answers
}

// ---------------------------------------------------------------------------------------------
// The tests, per backend

macro_rules! per_backend {
    (both: [$($test:ident),* $(,)?], postgres_only: [$($pg:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(authkit_tests::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(authkit_tests::Backend::Postgres).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $pg() {
                    super::$pg().await;
                }
            )*
        }
    };
}

per_backend!(
    both: [outage_then_recovery, a_message_that_keeps_failing_is_abandoned],
    postgres_only: [
        two_workers_never_send_twice,
        two_workers_retrying_through_an_outage_never_send_twice,
    ],
);

/// Manual-clock retries: the first after 1 s, doubling up to 1 min.
fn manual_outbox() -> OutboxConfig {
    OutboxConfig {
        max_attempts: 10,
        retry_initial: Duration::seconds(1),
        retry_max: Duration::minutes(1),
        poll_interval: Duration::milliseconds(20),
        ..OutboxConfig::default()
    }
}

/// SMTP down: the API answers as with SMTP up, the messages are retried while nothing is sent;
/// SMTP back: every expected message arrives exactly once with working links, none for the
/// unknown addresses.
async fn outage_then_recovery(backend: Backend) {
    let Some(control_db) = TestDb::new(backend).await else {
        return;
    };
    let db = TestDb::new(backend).await.unwrap();
    let users: Vec<String> = (0..10).map(|i| format!("user{i}@example.com")).collect();
    let unknown: Vec<String> = (0..3).map(|i| format!("nobody{i}@example.com")).collect();
    let forgot: Vec<String> = users[..5].iter().chain(&unknown).cloned().collect();

    // The control: SMTP up, the worker running.
    let control_smtp = SmtpReceiver::start().await;
    let control_clock = Arc::new(ManualClock::starting_now());
    let control = build_kit(
        control_db.store(),
        counting_mailer(control_smtp.port()),
        control_clock,
        manual_outbox(),
    );
    let control_worker = spawn_worker(&control);
    let (control_base, control_server) = serve(&control).await;

    // Under test: SMTP down (nothing listens on its port), the worker not started yet.
    let port = closed_port();
    let clock = Arc::new(ManualClock::starting_now());
    let mailer = counting_mailer(port);
    let kit = build_kit(db.store(), mailer.clone(), clock.clone(), manual_outbox());
    let (base, server) = serve(&kit).await;

    let with_smtp = self_service_calls(&control_base, &users, &forgot).await;
    let without_smtp = self_service_calls(&base, &users, &forgot).await;
    assert_eq!(with_smtp.len(), 19);
    for (up, down) in with_smtp.iter().zip(&without_smtp) {
        let expected = if up.0.starts_with("register again") {
            409 // and no email: a refused change queues none
        } else if up.0.starts_with("register") {
            201
        } else {
            202
        };
        assert_eq!(up.1, expected, "{} with SMTP up: {}", up.0, up.3);
        assert_eq!(up, down, "the same answer with SMTP down");
    }
    // Nothing was attempted while the requests waited: 18 rows queued, none tried.
    let queued = entries(&kit).await;
    assert_eq!(queued.len(), 18);
    assert!(
        queued
            .iter()
            .all(|e| e.status == OutboxStatus::Queued && e.attempts == 0),
        "{queued:#?}"
    );
    assert_eq!(mailer.failed.load(Ordering::SeqCst), 0);

    // The control delivered its 15 messages (10 verifications, 5 resets).
    control_smtp.wait_for(15, DEADLINE).await;

    // The worker runs while SMTP is down: the 3 unknown addresses are dropped (no mail needed),
    // the 15 others fail once and wait for their retry.
    let worker = spawn_worker(&kit);
    let pending = OutboxCounts {
        queued: 15,
        dropped: 3,
        ..OutboxCounts::default()
    };
    wait_for_counts(&kit, pending, "a first failed attempt of each message").await;
    let failed_once = |attempts: u32| {
        move |all: &[OutboxEntry]| {
            all.iter()
                .filter(|e| e.status == OutboxStatus::Queued)
                .all(|e| {
                    e.attempts == attempts
                        && e.last_error
                            .as_deref()
                            .is_some_and(|err| err.starts_with("transient"))
                })
        }
    };
    let all = entries(&kit).await;
    assert!(failed_once(1)(&all), "{all:#?}");
    for e in all.iter().filter(|e| e.status == OutboxStatus::Dropped) {
        assert!(unknown.iter().any(|u| u == e.to.as_str()), "{e:#?}");
    }
    // Not retried before its time (the manual clock stands still)...
    assert_eq!(kit.deliver_emails().await.unwrap().claimed(), 0);
    // ...and retried once it is due.
    clock.advance(Duration::seconds(1));
    let deadline = Deadline::new("a second failed attempt of each message");
    loop {
        let all = entries(&kit).await;
        if failed_once(2)(&all) && counts(&kit).await == pending {
            break;
        }
        deadline.tick(all).await;
    }
    assert_eq!(mailer.failed.load(Ordering::SeqCst), 30);
    assert_eq!(mailer.sent.load(Ordering::SeqCst), 0);

    // SMTP comes back on that port; at the next retry everything is delivered.
    let smtp = SmtpReceiver::start_on(port).await;
    clock.advance(Duration::seconds(2));
    smtp.wait_for(15, DEADLINE).await;
    let delivered = OutboxCounts {
        sent: 15,
        dropped: 3,
        ..OutboxCounts::default()
    };
    wait_for_counts(&kit, delivered, "every message marked sent").await;
    for e in entries(&kit).await {
        if e.status == OutboxStatus::Sent {
            assert_eq!(e.attempts, 3, "two failures, then sent: {e:#?}");
        }
    }
    // Nothing left to claim, not even once every lease would have run out.
    assert_eq!(kit.deliver_emails().await.unwrap().claimed(), 0);
    clock.advance(Duration::minutes(10));
    assert_eq!(kit.deliver_emails().await.unwrap().claimed(), 0);
    assert_eq!(counts(&kit).await, delivered);

    // Exactly the expected messages, once each, and none to an unknown address.
    let mut expected = BTreeMap::new();
    for email in &users {
        expected.insert((email.clone(), SUBJECT_VERIFY.to_owned()), 1);
    }
    for email in &users[..5] {
        expected.insert((email.clone(), SUBJECT_RESET.to_owned()), 1);
    }
    assert_eq!(tally(&smtp.messages()), expected);
    assert_eq!(
        tally(&control_smtp.messages()),
        expected,
        "the control got the same"
    );

    // The links work: the tokens were stored with their messages.
    let client = reqwest::Client::new();
    for email in &users {
        let token = token_in(&only(&smtp, email, SUBJECT_VERIFY), "verify-email");
        let (status, body) = post(&client, &base, "/verify-email", json!({"token": token})).await;
        assert_eq!(status, 200, "verify {email}: {body}");
        assert_eq!(body["user"]["email"], email.as_str());
    }
    for email in &users[..5] {
        let token = token_in(&only(&smtp, email, SUBJECT_RESET), "reset-password");
        let body = json!({"token": token, "new_password": NEW_PASSWORD});
        let (status, body) = post(&client, &base, "/password/reset", body).await;
        assert_eq!(status, 204, "reset for {email}: {body}");
    }
    // Each reset sends its notice, once.
    smtp.wait_for(20, DEADLINE).await;
    wait_for_counts(
        &kit,
        OutboxCounts {
            sent: 20,
            dropped: 3,
            ..OutboxCounts::default()
        },
        "the notices marked sent",
    )
    .await;
    for email in &users[..5] {
        expected.insert((email.clone(), SUBJECT_CHANGED.to_owned()), 1);
    }
    assert_eq!(tally(&smtp.messages()), expected);

    worker.stop().await;
    server.stop().await;
    control_worker.stop().await;
    control_server.stop().await;
    db.cleanup().await;
    control_db.cleanup().await;
}

/// 451 on every attempt: abandoned after `max_attempts` (3), the server having refused exactly
/// 3 times; queued again by an operator once SMTP accepts: delivered once. 550: abandoned after
/// one attempt.
async fn a_message_that_keeps_failing_is_abandoned(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let smtp = SmtpReceiver::start().await;
    smtp.fail_next(usize::MAX, 451);
    let clock = Arc::new(ManualClock::starting_now());
    let kit = build_kit(
        db.store(),
        counting_mailer(smtp.port()),
        clock.clone(),
        OutboxConfig {
            max_attempts: 3,
            ..manual_outbox()
        },
    );
    register(&kit, "ada@example.com").await;

    // Attempts at 0 s, 1 s and 3 s (the wait doubles), then abandoned.
    let first = kit.deliver_emails().await.unwrap();
    assert_eq!((first.retried, first.abandoned), (1, 0), "{first:?}");
    for (wait, retried, abandoned) in [(1, 1, 0), (2, 0, 1)] {
        clock.advance(Duration::seconds(wait) - Duration::milliseconds(1));
        assert_eq!(
            kit.deliver_emails().await.unwrap().claimed(),
            0,
            "retried before {wait} s"
        );
        clock.advance(Duration::milliseconds(1));
        let r = kit.deliver_emails().await.unwrap();
        assert_eq!((r.retried, r.abandoned), (retried, abandoned), "{r:?}");
    }
    assert_eq!(smtp.refused(), 3);
    assert!(smtp.messages().is_empty());
    let all = entries(&kit).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].status, all[0].attempts),
        (OutboxStatus::Abandoned, 3)
    );
    let error = all[0].last_error.as_deref().unwrap();
    assert!(
        error.starts_with("transient") && error.contains("451"),
        "{error}"
    );
    // Abandoned stays abandoned.
    clock.advance(Duration::hours(2));
    assert_eq!(kit.deliver_emails().await.unwrap().claimed(), 0);
    assert_eq!(smtp.refused(), 3);

    // SMTP accepts again; an operator queues it again: delivered once, with a working link.
    smtp.fail_next(0, 451);
    assert_eq!(kit.retry_abandoned_emails(&[]).await.unwrap(), 1);
    assert_eq!(kit.deliver_emails().await.unwrap().sent, 1);
    let mail = smtp.wait_for(1, DEADLINE).await.remove(0);
    assert_eq!(mail.rcpt_to, ["ada@example.com"]);
    assert_eq!(mail.subject().as_deref(), Some(SUBJECT_VERIFY));
    let token = token_in(&mail, "verify-email");
    let user = kit
        .verify_email(&RequestContext::default(), &token)
        .await
        .unwrap();
    assert!(user.email_verified);
    assert_eq!(kit.deliver_emails().await.unwrap().claimed(), 0);
    assert_eq!(kit.retry_abandoned_emails(&[]).await.unwrap(), 0);
    let entry = &entries(&kit).await[0];
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 1));

    // 550: refused for good, abandoned after one attempt and never retried.
    smtp.fail_next(1, 550);
    register(&kit, "bob@example.com").await;
    let r = kit.deliver_emails().await.unwrap();
    assert_eq!((r.retried, r.abandoned), (0, 1), "{r:?}");
    assert_eq!(smtp.refused(), 4);
    clock.advance(Duration::hours(2));
    assert_eq!(kit.deliver_emails().await.unwrap().claimed(), 0);
    let bob = kit
        .outbox_messages(Some(OutboxStatus::Abandoned), 10)
        .await
        .unwrap();
    assert_eq!(bob.len(), 1);
    assert_eq!(
        (bob[0].to.as_str(), bob[0].attempts),
        ("bob@example.com", 1)
    );
    let error = bob[0].last_error.as_deref().unwrap();
    assert!(
        error.starts_with("permanent") && error.contains("550"),
        "{error}"
    );
    assert_eq!(smtp.messages().len(), 1, "only ada's message was accepted");

    db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: two instances on one database

/// Real-time retries, fast: the first after 50 ms, at most 500 ms apart; small batches and a
/// short poll so that the two workers claim at the same time as often as possible.
fn racing_outbox() -> OutboxConfig {
    OutboxConfig {
        max_attempts: 100,
        retry_initial: Duration::milliseconds(50),
        retry_max: Duration::milliseconds(500),
        batch_size: 2,
        poll_interval: Duration::milliseconds(5),
        ..OutboxConfig::default()
    }
}

struct TwoInstances {
    db: TestDb,
    kits: [AuthKit; 2],
    mailers: [Arc<Counting>; 2],
}

/// Two kits on one fresh PostgreSQL database, each with its own pool and mailer (to `port`),
/// on the system clock.
async fn two_instances(port: u16) -> Option<TwoInstances> {
    use authkit_sqlx::PostgresStore;
    use authkit_sqlx::sqlx::postgres::PgPoolOptions;

    let db = TestDb::new(Backend::Postgres).await?;
    let first = db.postgres().unwrap();
    let options = (*first.pool().connect_options()).clone();
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(authkit_sqlx::ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .unwrap();
    let second: Arc<dyn Store> = Arc::new(PostgresStore::from_pool(pool));
    let clock: Arc<dyn Clock> = Arc::new(authkit_core::ports::SystemClock);
    let mailers = [counting_mailer(port), counting_mailer(port)];
    let kits = [
        build_kit(
            db.store(),
            mailers[0].clone(),
            clock.clone(),
            racing_outbox(),
        ),
        build_kit(second, mailers[1].clone(), clock, racing_outbox()),
    ];
    Some(TwoInstances { db, kits, mailers })
}

const RACING_USERS: usize = 200;
/// Workers per instance: more claimers at once, so that a claim that is not atomic shows.
const WORKERS_PER_INSTANCE: usize = 3;

fn spawn_workers(kits: &[AuthKit; 2]) -> Vec<Task> {
    (0..WORKERS_PER_INSTANCE)
        .flat_map(|_| kits.iter().map(spawn_worker))
        .collect()
}

fn racing_users() -> Vec<String> {
    (0..RACING_USERS)
        .map(|i| format!("racer{i}@example.com"))
        .collect()
}

/// Registers `users`, 20 at a time, alternating between the two kits (each wakes its own
/// worker; the other finds the rows by polling).
async fn register_on_both(kits: &[AuthKit; 2], users: &[String]) {
    for chunk in users.chunks(20) {
        futures::future::join_all(
            chunk
                .iter()
                .enumerate()
                .map(|(i, email)| register(&kits[i % 2], email)),
        )
        .await;
    }
}

/// Every verification arrived exactly once, and every row is `sent` after one attempt more
/// than the failures counted.
async fn assert_each_sent_once(both: &TwoInstances, smtp: &SmtpReceiver, users: &[String]) {
    smtp.wait_for(users.len(), DEADLINE).await;
    wait_for_counts(
        &both.kits[0],
        OutboxCounts {
            sent: users.len() as u64,
            ..OutboxCounts::default()
        },
        "every message marked sent",
    )
    .await;
    let expected: BTreeMap<_, _> = users
        .iter()
        .map(|u| ((u.clone(), SUBJECT_VERIFY.to_owned()), 1))
        .collect();
    let tally = tally(&smtp.messages());
    let twice: Vec<_> = tally.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(tally, expected);
    let sent: usize = both
        .mailers
        .iter()
        .map(|m| m.sent.load(Ordering::SeqCst))
        .sum();
    assert_eq!(sent, users.len(), "handed to SMTP once each");
}

/// Both workers running, SMTP up, 200 messages queued on both instances: each arrives once.
async fn two_workers_never_send_twice() {
    let smtp = SmtpReceiver::start().await;
    let Some(both) = two_instances(smtp.port()).await else {
        return;
    };
    let workers = spawn_workers(&both.kits);
    let users = racing_users();
    register_on_both(&both.kits, &users).await;
    assert_each_sent_once(&both, &smtp, &users).await;
    for (i, m) in both.mailers.iter().enumerate() {
        assert!(
            m.sent.load(Ordering::SeqCst) > 0,
            "worker {i} sent nothing: the test did not race"
        );
    }
    for worker in workers {
        worker.stop().await;
    }
    both.db.cleanup().await;
}

/// Both workers retrying through an SMTP outage, then SMTP back: each message arrives once.
async fn two_workers_retrying_through_an_outage_never_send_twice() {
    let port = closed_port();
    let Some(both) = two_instances(port).await else {
        return;
    };
    let workers = spawn_workers(&both.kits);
    let users = racing_users();
    register_on_both(&both.kits, &users).await;

    // SMTP down: every message fails at least once; both workers are retrying.
    let deadline = Deadline::new("every message failed at least once, on both workers");
    loop {
        let all = entries(&both.kits[0]).await;
        let failures = both
            .mailers
            .each_ref()
            .map(|m| m.failed.load(Ordering::SeqCst));
        if all.len() == RACING_USERS
            && all.iter().all(|e| e.attempts >= 1)
            && failures.iter().all(|n| *n > 0)
        {
            break;
        }
        deadline.tick((all.len(), failures)).await;
    }
    let now = counts(&both.kits[0]).await;
    assert_eq!((now.sent, now.abandoned), (0, 0), "{now:?}");

    // SMTP back: each message arrives once.
    let smtp = SmtpReceiver::start_on(port).await;
    assert_each_sent_once(&both, &smtp, &users).await;
    for worker in workers {
        worker.stop().await;
    }
    both.db.cleanup().await;
}
