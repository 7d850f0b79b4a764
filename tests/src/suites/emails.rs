//! The email outbox over HTTP: a failing mailer changes no answer and loses no email, the
//! user's `locale` is part of the account.

use authkit_core::domain::OutboxStatus;
use authkit_core::ports::EmailKind;
use authkit_core::time::Duration;
use serde_json::json;

use crate::app::{EMAIL_DEADLINE, access_of};
use crate::{Harness, PASSWORD, Reply, TestApp};

async fn register(app: &TestApp, email: &str) -> Reply {
    app.post(
        "/register",
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await
}

async fn forgot(app: &TestApp, email: &str) -> Reply {
    app.post("/password/forgot", &json!({ "email": email }))
        .await
}

/// Reads `probe` every 10 ms until `done` holds for what it read, or fails after
/// [`EMAIL_DEADLINE`] naming `what` and the last reading.
async fn wait_until<T: std::fmt::Debug>(
    what: &str,
    mut probe: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) {
    let deadline = std::time::Instant::now() + EMAIL_DEADLINE;
    loop {
        let read = probe().await;
        if done(&read) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {read:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Polls the outbox until `done` holds for its counts.
async fn wait_for_outbox(
    app: &TestApp,
    what: &str,
    done: impl Fn(&authkit_core::domain::OutboxCounts) -> bool,
) {
    wait_until(what, async || app.kit.outbox_counts().await.unwrap(), done).await;
}

/// Polls the outbox until it holds `count` queued messages, each after `attempts` failed
/// attempts that the worker has recorded (status, attempts and error are written together, after
/// the mailer's call).
async fn wait_for_failed_attempts(app: &TestApp, count: usize, attempts: u32) {
    wait_until(
        &format!("{count} messages after {attempts} failed attempts"),
        async || {
            app.kit
                .outbox_messages(Some(OutboxStatus::Queued), 10)
                .await
                .unwrap()
        },
        |queued| {
            queued.len() == count
                && queued
                    .iter()
                    .all(|m| m.attempts == attempts && m.last_error.is_some())
        },
    )
    .await;
}

pub async fn a_mailer_outage_changes_no_answer_and_loses_no_email(h: Harness) {
    let app = h.spawn().await;
    // The answers with a working mailer.
    let up_register = register(&app, "up@example.com").await;
    assert_eq!(up_register.status, 201, "{}", up_register.text);
    let up_forgot = forgot(&app, "up@example.com").await;
    // Both emails of up@ are out before the mailer breaks: they may share one claimed batch,
    // in either order (ids made in the same millisecond of the test clock).
    app.wait_for_emails("up@example.com", EmailKind::VerifyEmail, 1)
        .await;
    app.wait_for_emails("up@example.com", EmailKind::PasswordReset, 1)
        .await;
    wait_for_outbox(&app, "up@'s emails sent", |c| {
        c.queued == 0 && c.processing == 0
    })
    .await;

    // The mailer fails every attempt: the same answers, nothing lost.
    app.mailer.fail_next(u32::MAX, true);
    let down_register = register(&app, "down@example.com").await;
    assert_eq!(down_register.status, 201, "{}", down_register.text);
    assert_eq!(down_register.header_names(), up_register.header_names());
    for field in [
        "email_verified",
        "status",
        "roles",
        "display_name",
        "locale",
    ] {
        assert_eq!(
            down_register.json["user"][field], up_register.json["user"][field],
            "register: {field}"
        );
    }
    forgot(&app, "down@example.com")
        .await
        .assert_identical(&up_forgot, "forgot, mailer down vs up");
    forgot(&app, "nobody@example.com")
        .await
        .assert_identical(&up_forgot, "forgot for an unknown address, mailer down");
    // The worker tried both emails of down@ and failed, and put them back in the queue (the
    // clock moves on only then: a retry time is reckoned from the failure's); the unknown
    // address was dropped.
    wait_for_failed_attempts(&app, 2, 1).await;
    wait_for_outbox(&app, "the unknown address dropped", |c| {
        c.queued == 2 && c.dropped == 1
    })
    .await;
    assert_eq!(app.mailer.attempts(), 4, "up@'s two emails and down@'s two");
    assert!(
        app.emails("down@example.com", EmailKind::VerifyEmail)
            .is_empty()
    );

    // The mailer is back: the retry (30 s later) delivers each email exactly once.
    app.mailer.fail_next(0, true);
    app.clock.advance(Duration::seconds(30));
    app.wait_for_emails("down@example.com", EmailKind::VerifyEmail, 1)
        .await;
    app.wait_for_emails("down@example.com", EmailKind::PasswordReset, 1)
        .await;
    wait_for_outbox(&app, "everything sent", |c| {
        c.queued == 0 && c.processing == 0
    })
    .await;
    app.clock.advance(Duration::hours(2));
    app.assert_no_email("down@example.com", EmailKind::VerifyEmail, 1)
        .await;
    app.assert_no_email("down@example.com", EmailKind::PasswordReset, 1)
        .await;
    // The links work.
    let token = app
        .token_in("down@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app.post("/verify-email", &json!({ "token": token })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn a_message_that_keeps_failing_is_abandoned(h: Harness) {
    let app = h.spawn().await;
    app.mailer.fail_next(u32::MAX, true);
    register(&app, "ada@example.com").await;
    // 5 attempts (the default), 30 s, 60 s, 120 s and 240 s apart. The clock moves on only
    // once the worker has put the message back in the queue after its attempt: the retry time
    // is reckoned from the clock when the failure is recorded, after the mailer's call.
    for (attempt, wait) in [(1, 0), (2, 30), (3, 60), (4, 120)] {
        app.clock.advance(Duration::seconds(wait));
        wait_for_failed_attempts(&app, 1, attempt).await;
    }
    app.clock.advance(Duration::seconds(240));
    wait_for_outbox(&app, "abandoned", |c| c.abandoned == 1).await;
    app.clock.advance(Duration::hours(2));
    let abandoned = app
        .kit
        .outbox_messages(Some(OutboxStatus::Abandoned), 10)
        .await
        .unwrap();
    assert_eq!(abandoned.len(), 1);
    assert_eq!(abandoned[0].attempts, 5);
    assert_eq!(app.mailer.attempts(), 5, "no attempt after the last one");
    app.shutdown().await;
}

pub async fn locale_is_chosen_at_registration_and_changed_by_patch_me(h: Harness) {
    let app = h.spawn().await;
    let r = app
        .post(
            "/register",
            &json!({ "email": "ana@example.com", "password": PASSWORD, "locale": "pt_br" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["user"]["locale"], "pt-BR", "normalized");
    // The verification email records the language it was written in: no Portuguese templates
    // here, so English.
    let mail = app
        .email_to("ana@example.com", EmailKind::VerifyEmail)
        .await;
    assert_eq!(mail.locale.as_str(), "en");

    for bad in [json!("english"), json!("e"), json!(7), json!("fr-<b>")] {
        let r = app
            .post(
                "/register",
                &json!({ "email": "bad@example.com", "password": PASSWORD, "locale": bad }),
            )
            .await;
        assert!(r.status == 422 || r.status == 400, "{bad}: {}", r.text);
    }
    let r = app
        .post(
            "/register",
            &json!({ "email": "bad@example.com", "password": PASSWORD, "locale": "english" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert!(r.text.contains("locale"), "{}", r.text);

    let access = access_of(&app.login("ana@example.com").await);
    let r = app
        .patch_auth("/users/me", &access, &json!({ "locale": "FR" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["locale"], "fr");
    let r = app
        .patch_auth("/users/me", &access, &json!({ "display_name": "Ana" }))
        .await;
    assert_eq!(r.json["locale"], "fr", "absent leaves it");
    assert_eq!(app.me(&access).await.json["locale"], "fr");
    let r = app
        .patch_auth("/users/me", &access, &json!({ "locale": null }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["locale"].is_null(), "null goes back to the default");
    app.patch_auth("/users/me", &access, &json!({ "locale": "not a tag" }))
        .await
        .assert_problem(422, "validation_failed");
    app.shutdown().await;
}
