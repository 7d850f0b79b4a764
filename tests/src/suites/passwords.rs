//! `POST /password/forgot`, `POST /password/reset` and `POST /password/change`
//! (SECURITY 5, 6, 11, 45, 46, 50-52, 55, 56, 58, 59).

use authkit_core::ports::EmailKind;
use serde_json::json;
use time::Duration;

use crate::app::{access_of, refresh_of};
use crate::{Harness, PASSWORD, TestApp};

/// A password that satisfies the policy, different from [`PASSWORD`].
pub const NEW_PASSWORD: &str = "fresh mint tea at noon 42";

fn forgot(app: &TestApp, email: &str) -> impl Future<Output = crate::Reply> + use<> {
    app.post("/password/forgot", &json!({ "email": email }))
}

fn reset(
    app: &TestApp,
    token: &str,
    new_password: &str,
) -> impl Future<Output = crate::Reply> + use<> {
    app.post(
        "/password/reset",
        &json!({ "token": token, "new_password": new_password }),
    )
}

/// Requests a reset for `email` (202) and returns the emailed token.
async fn reset_token(app: &TestApp, email: &str) -> String {
    let before = app.emails(email, EmailKind::PasswordReset).len();
    let r = forgot(app, email).await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.nth_token_in(email, EmailKind::PasswordReset, before + 1)
        .await
}

/// Asserts that the session of `pair` is dead: access token 401, refresh token 400.
pub async fn assert_session_dead(app: &TestApp, pair: &serde_json::Value) {
    app.me(&access_of(pair))
        .await
        .assert_problem(401, "unauthorized");
    app.try_refresh(&refresh_of(pair))
        .await
        .assert_problem(400, "invalid_token");
}

pub async fn forgot_is_identical_for_known_and_unknown(h: Harness) {
    let app = h.spawn().await;
    app.register("known@example.com").await;
    let unknown = forgot(&app, "unknown@example.com").await;
    let known = forgot(&app, "Known@Example.com").await;
    assert_eq!(known.status, 202, "{}", known.text);
    known.assert_identical(&unknown, "known vs unknown address");
    assert!(known.set_cookies().is_empty());
    assert_eq!(known.header("cache-control"), Some("no-store"));
    assert_eq!(known.header("referrer-policy"), Some("no-referrer"));
    let mail = app
        .email_to("known@example.com", EmailKind::PasswordReset)
        .await;
    let token = crate::app::token_of(&mail);
    crate::suites::verification::assert_opaque_token(&token);
    assert!(
        !known.text.contains(&token),
        "the token only travels by email"
    );
    // The reset for the known address was requested after the unknown one and has arrived.
    app.assert_no_email("unknown@example.com", EmailKind::PasswordReset, 0)
        .await;
    assert!(
        app.mailer
            .messages()
            .iter()
            .all(|m| m.to.as_str() != "unknown@example.com"),
        "nothing at all is sent to an unknown address"
    );
    app.shutdown().await;
}

pub async fn forgot_rejects_an_invalid_email(h: Harness) {
    let app = h.spawn().await;
    for body in [
        json!({ "email": "not-an-email" }),
        json!({ "email": "" }),
        json!({}),
    ] {
        let r = app.post("/password/forgot", &body).await;
        r.assert_problem(422, "validation_failed");
        let errors = r.json["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == "email"), "{}", r.text);
    }
    app.post("/password/forgot", &json!({ "email": ["a@example.com"] }))
        .await
        .assert_problem(400, "malformed_request");
    app.shutdown().await;
}

pub async fn reset_password_revokes_every_session(h: Harness) {
    let app = h.spawn().await;
    let first = app.signed_in("reset@example.com").await;
    let second = app.login("reset@example.com").await;
    assert_eq!(first["user"]["email_verified"], false);
    let token = reset_token(&app, "reset@example.com").await;
    let r = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "no body: {}", r.text);
    assert!(
        r.set_cookies().is_empty(),
        "a reset issues no session (no auto-login)"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    for pair in [&first, &second] {
        assert_session_dead(&app, pair).await;
    }
    app.try_login("reset@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let r = app.try_login("reset@example.com", NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["user"]["email_verified"], true,
        "the reset proved control of the address"
    );
    let mail = app
        .email_to("reset@example.com", EmailKind::PasswordChanged)
        .await;
    assert!(
        mail.link.as_deref().is_none_or(|l| !l.contains(&token)),
        "the notice carries no reset token"
    );
    app.shutdown().await;
}

pub async fn reset_tokens_are_single_use_and_expire(h: Harness) {
    let app = h.spawn().await;
    for email in [
        "once@example.com",
        "early@example.com",
        "late@example.com",
        "purpose@example.com",
        "changed@example.com",
    ] {
        app.register(email).await;
    }
    // Single use.
    let token = reset_token(&app, "once@example.com").await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status, 204);
    reset(&app, &token, "yet another fine passphrase")
        .await
        .assert_problem(400, "invalid_token");
    app.try_login("once@example.com", "yet another fine passphrase")
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        app.try_login("once@example.com", NEW_PASSWORD).await.status,
        200
    );

    // A verification token is not a reset token.
    let verification = app
        .token_in("purpose@example.com", EmailKind::VerifyEmail)
        .await;
    reset(&app, &verification, NEW_PASSWORD)
        .await
        .assert_problem(400, "invalid_token");
    app.login("purpose@example.com").await;

    // A password change after the reset email was sent spends the reset token.
    let token = reset_token(&app, "changed@example.com").await;
    let pair = app.login("changed@example.com").await;
    let r = app
        .post_auth(
            "/password/change",
            &access_of(&pair),
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    reset(&app, &token, "yet another fine passphrase")
        .await
        .assert_problem(400, "invalid_token");
    assert_eq!(
        app.try_login("changed@example.com", NEW_PASSWORD)
            .await
            .status,
        200
    );

    // 30 minutes of validity.
    let early = reset_token(&app, "early@example.com").await;
    let late = reset_token(&app, "late@example.com").await;
    app.clock.advance(Duration::minutes(29));
    let r = reset(&app, &early, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "valid before 30 min: {}", r.text);
    app.clock.advance(Duration::minutes(2));
    reset(&app, &late, NEW_PASSWORD)
        .await
        .assert_problem(400, "invalid_token");
    app.login("late@example.com").await;
    app.shutdown().await;
}

/// A reset link sent before the account's email changed (by its owner, or by an administrator)
/// no longer works: whoever reads the old mailbox cannot take over the account that left it.
pub async fn an_email_change_ends_the_reset_links_sent_to_the_old_address(h: Harness) {
    let app = h.spawn().await;
    app.register("leaving@example.com").await;
    let moved = app.register("moved-by-admin@example.com").await;
    let admin = app.admin("ops@example.com").await;

    let token = reset_token(&app, "leaving@example.com").await;
    let pair = app.login("leaving@example.com").await;
    let r = app
        .patch_auth(
            "/users/me",
            &access_of(&pair),
            &json!({ "email": "arrived@example.com", "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    reset(&app, &token, NEW_PASSWORD)
        .await
        .assert_problem(400, "invalid_token");
    app.try_login("arrived@example.com", NEW_PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.login("arrived@example.com").await;

    let token = reset_token(&app, "moved-by-admin@example.com").await;
    let id = moved["id"].as_str().expect("an id");
    let r = app
        .patch_auth(
            &format!("/admin/users/{id}"),
            &access_of(&admin),
            &json!({ "email": "placed@example.com" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    reset(&app, &token, NEW_PASSWORD)
        .await
        .assert_problem(400, "invalid_token");
    app.login("placed@example.com").await;
    app.shutdown().await;
}

pub async fn reset_enforces_the_policy_without_spending_the_token(h: Harness) {
    let app = h.spawn().await;
    app.register("policy.person@example.com").await;
    let token = reset_token(&app, "policy.person@example.com").await;
    for (password, code) in [
        ("short", "too_short"),
        ("passwordpassword", "common_password"),
        ("123456789012345", "common_password"),
        ("policy.person@example.com", "context_word"),
    ] {
        let r = reset(&app, &token, password).await;
        r.assert_problem(422, "validation_failed");
        let errors = r.json["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == "new_password" && e["code"] == code),
            "{password} -> {}",
            r.text
        );
    }
    let r = app
        .post("/password/reset", &json!({ "token": token }))
        .await;
    r.assert_problem(422, "validation_failed");
    assert!(
        r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "new_password" && e["code"] == "required"),
        "{}",
        r.text
    );
    // An invalid token is refused as such whatever the password.
    reset(&app, "not-a-token", "short")
        .await
        .assert_problem(400, "invalid_token");
    // The 422s did not spend the token.
    let r = reset(&app, &token, NEW_PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.try_login("policy.person@example.com", NEW_PASSWORD)
            .await
            .status,
        200
    );
    app.shutdown().await;
}

pub async fn bad_reset_tokens_are_400(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("badreset@example.com").await;
    let token = reset_token(&app, "badreset@example.com").await;
    assert_ne!(token.to_uppercase(), token);
    for bad in [
        String::new(),
        "   ".to_owned(),
        "nope".to_owned(),
        "A".repeat(43),
        token.to_uppercase(),
        refresh_of(&pair),
        access_of(&pair),
        "x".repeat(5000),
    ] {
        reset(&app, &bad, NEW_PASSWORD)
            .await
            .assert_problem(400, "invalid_token");
    }
    // A missing or null token is refused too (SECURITY 58: any 4xx), whatever else the body
    // claims (SECURITY 56: no flow state lets a client skip the token).
    for body in [
        json!({ "new_password": NEW_PASSWORD }),
        json!({ "token": null, "new_password": NEW_PASSWORD }),
        json!({
            "new_password": NEW_PASSWORD, "email": "badreset@example.com",
            "user_id": pair["user"]["id"], "verified": true, "step": "done",
        }),
    ] {
        let r = app.post("/password/reset", &body).await;
        assert!(
            r.status == 400 || r.status == 422,
            "{body}: {} {}",
            r.status,
            r.text
        );
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
    app.post(
        "/password/reset",
        &json!({ "token": 12, "new_password": NEW_PASSWORD }),
    )
    .await
    .assert_problem(400, "malformed_request");
    // Nothing changed: the old password and the session still work, the token still resets.
    app.login("badreset@example.com").await;
    assert_eq!(app.me(&access_of(&pair)).await.status, 200);
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status, 204);
    app.shutdown().await;
}

pub async fn concurrent_resets_give_exactly_one_success(h: Harness) {
    let app = h.spawn().await;
    app.register("reset-race@example.com").await;
    let token = reset_token(&app, "reset-race@example.com").await;
    let replies = futures::future::join_all(
        (0..20).map(|i| reset(&app, &token, &format!("racing passphrase number {i}"))),
    )
    .await;
    let winners: Vec<usize> = (0..20).filter(|&i| replies[i].status == 204).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 204) {
        r.assert_problem(400, "invalid_token");
    }
    // The winner's password is the one stored.
    let r = app
        .try_login(
            "reset-race@example.com",
            &format!("racing passphrase number {}", winners[0]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn password_change_revokes_other_sessions(h: Harness) {
    let app = h.spawn().await;
    let caller = app.signed_in("change@example.com").await;
    let other = app.login("change@example.com").await;
    let third = app.login("change@example.com").await;
    let r = app
        .post_auth(
            "/password/change",
            &access_of(&caller),
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "no body: {}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for pair in [&other, &third] {
        assert_session_dead(&app, pair).await;
    }
    // The calling session lives on: its access token and its refresh token.
    assert_eq!(app.me(&access_of(&caller)).await.status, 200);
    let refreshed = app.try_refresh(&refresh_of(&caller)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(app.me(&access_of(&refreshed.json)).await.status, 200);
    app.try_login("change@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let r = app.try_login("change@example.com", NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.email_to("change@example.com", EmailKind::PasswordChanged)
        .await;
    app.shutdown().await;
}

pub async fn password_change_checks_the_current_password_and_policy(h: Harness) {
    let app = h.spawn().await;
    let caller = app.signed_in("check.person@example.com").await;
    let other = app.login("check.person@example.com").await;
    let access = access_of(&caller);
    let change = |current: &str, new: &str| {
        app.post_auth(
            "/password/change",
            &access,
            &json!({ "current_password": current, "new_password": new }),
        )
    };
    change("not the current password", NEW_PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    for (password, code) in [
        ("short", "too_short"),
        ("passwordpassword", "common_password"),
        ("check.person@example.com", "context_word"),
    ] {
        let r = change(PASSWORD, password).await;
        r.assert_problem(422, "validation_failed");
        assert!(
            r.json["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == "new_password" && e["code"] == code),
            "{password} -> {}",
            r.text
        );
    }
    app.post(
        "/password/change",
        &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await
    .assert_problem(401, "unauthorized");
    // Nothing changed: the old password logs in, the other session lives, no notice was sent.
    app.login("check.person@example.com").await;
    assert_eq!(app.me(&access_of(&other)).await.status, 200);
    assert_eq!(app.me(&access).await.status, 200);
    assert!(
        app.emails("check.person@example.com", EmailKind::PasswordChanged)
            .is_empty()
    );
    app.shutdown().await;
}

pub async fn pre_account_hijacking_is_blocked(h: Harness) {
    let app = h.spawn().await;
    // The attacker registers the victim's address with a password of its own and logs in.
    let attacker_password = "attacker knows this one";
    let r = app
        .post(
            "/register",
            &json!({ "email": "victim@example.com", "password": attacker_password }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let attacker = app.try_login("victim@example.com", attacker_password).await;
    assert_eq!(attacker.status, 200, "{}", attacker.text);
    let attacker = attacker.json;
    // The victim, who controls the mailbox, resets the password.
    let token = reset_token(&app, "victim@example.com").await;
    assert_eq!(reset(&app, &token, NEW_PASSWORD).await.status, 204);
    app.try_login("victim@example.com", attacker_password)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_session_dead(&app, &attacker).await;
    let victim = app.try_login("victim@example.com", NEW_PASSWORD).await;
    assert_eq!(victim.status, 200, "{}", victim.text);
    assert_eq!(victim.json["user"]["email_verified"], true);
    app.shutdown().await;
}
