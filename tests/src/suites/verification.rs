//! `POST /verify-email` and `POST /verify-email/resend` (SECURITY 57, 58, 59).

use authkit_core::ports::EmailKind;
use serde_json::{Value, json};
use time::Duration;

use crate::app::{PUBLIC_URL, access_of, refresh_of};
use crate::{AppOptions, Harness, PASSWORD};

/// A 256-bit one-time token: 43 characters of unpadded base64url.
#[track_caller]
pub fn assert_opaque_token(token: &str) {
    assert_eq!(token.len(), 43, "256-bit base64url token: {token:?}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url alphabet: {token:?}"
    );
}

fn verify(app: &crate::TestApp, token: &str) -> impl Future<Output = crate::Reply> + use<> {
    app.post("/verify-email", &json!({ "token": token }))
}

async fn verified(app: &crate::TestApp, access: &str) -> Value {
    let r = app.me(access).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["email_verified"].clone()
}

pub async fn register_sends_a_verification_link(h: Harness) {
    let app = h.spawn().await;
    let r = app
        .post(
            "/register",
            &json!({ "email": "Link@Example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mail = app
        .email_to("link@example.com", EmailKind::VerifyEmail)
        .await;
    let link = mail.link.clone().expect("a verification link");
    let token = crate::app::token_of(&mail);
    assert_opaque_token(&token);
    assert_eq!(link, format!("{PUBLIC_URL}/verify-email?token={token}"));
    assert!(mail.text.contains(&link), "the text body carries the link");
    // The token only travels by email.
    assert!(!r.text.contains(&token));
    assert_eq!(
        app.emails("link@example.com", EmailKind::VerifyEmail).len(),
        1
    );
    app.shutdown().await;
}

pub async fn verify_email_marks_the_user_verified(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("verify@example.com").await;
    let access = access_of(&pair);
    assert_eq!(verified(&app, &access).await, false);
    let token = app
        .token_in("verify@example.com", EmailKind::VerifyEmail)
        .await;
    // A link scanner's GET consumes nothing (SECURITY 54): only the POST does.
    let r = app
        .send(
            app.client
                .get(app.url(&format!("/verify-email?token={token}"))),
        )
        .await;
    assert!(r.status >= 400 && r.status < 500, "{}", r.status);
    assert_eq!(verified(&app, &access).await, false);
    let r = verify(&app, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let user = &r.json["user"];
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["email"], "verify@example.com");
    assert_eq!(user["id"], pair["user"]["id"]);
    assert_eq!(
        user.as_object().unwrap().len(),
        10,
        "the user object: {user}"
    );
    assert!(r.set_cookies().is_empty(), "verification issues no session");
    assert!(r.json.get("access_token").is_none());
    assert_eq!(verified(&app, &access).await, true);
    // Login now shows the verified address, in the user and in the claims.
    let pair = app.login("verify@example.com").await;
    assert_eq!(pair["user"]["email_verified"], true);
    let claims = crate::suites::tokens::claims_of(&access_of(&pair));
    assert_eq!(claims["email_verified"], true);
    // Single use.
    verify(&app, &token)
        .await
        .assert_problem(400, "invalid_token");
    app.shutdown().await;
}

pub async fn bad_verification_tokens_are_400(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("badverify@example.com").await;
    let access = access_of(&pair);
    let token = app
        .token_in("badverify@example.com", EmailKind::VerifyEmail)
        .await;
    // A reset token of the same user is of another purpose.
    let r = app
        .post(
            "/password/forgot",
            &json!({ "email": "badverify@example.com" }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let reset = app
        .token_in("badverify@example.com", EmailKind::PasswordReset)
        .await;
    assert_ne!(token.to_uppercase(), token);
    let bodies = [
        json!({ "token": "" }),
        json!({ "token": "   " }),
        json!({ "token": "\t\n" }),
        json!({ "token": null }),
        json!({}),
        json!({ "token": "nope" }),
        json!({ "token": "A".repeat(43) }),
        json!({ "token": token.to_uppercase() }),
        json!({ "token": reset }),
        json!({ "token": refresh_of(&pair) }),
        json!({ "token": access }),
        json!({ "token": "x".repeat(5000) }),
    ];
    for body in bodies {
        let r = app.post("/verify-email", &body).await;
        r.assert_problem(400, "invalid_token");
    }
    app.post("/verify-email", &json!({ "token": 42 }))
        .await
        .assert_problem(400, "malformed_request");
    app.post("/verify-email", &json!({ "token": [token] }))
        .await
        .assert_problem(400, "malformed_request");
    assert_eq!(verified(&app, &access).await, false, "nothing verified");
    // None of that spent the real tokens: the verification token still verifies, and the
    // reset token still resets (a failed attempt of another purpose consumes nothing).
    let r = verify(&app, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/password/reset",
            &json!({ "token": reset, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .try_login("badverify@example.com", "a brand new passphrase")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn verification_unlocks_login_when_required(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            require_verified_email: true,
            ..AppOptions::default()
        })
        .await;
    app.register("gate@example.com").await;
    app.try_login("gate@example.com", PASSWORD)
        .await
        .assert_problem(403, "email_not_verified");
    let token = app
        .token_in("gate@example.com", EmailKind::VerifyEmail)
        .await;
    assert_eq!(verify(&app, &token).await.status, 200);
    let pair = app.login("gate@example.com").await;
    assert_eq!(pair["user"]["email_verified"], true);
    // A password reset proves control of the address too.
    app.register("gate2@example.com").await;
    let r = app
        .post("/password/forgot", &json!({ "email": "gate2@example.com" }))
        .await;
    assert_eq!(r.status, 202);
    let reset = app
        .token_in("gate2@example.com", EmailKind::PasswordReset)
        .await;
    let r = app
        .post(
            "/password/reset",
            &json!({ "token": reset, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .try_login("gate2@example.com", "a brand new passphrase")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn verification_tokens_expire_after_24_hours(h: Harness) {
    let app = h.spawn().await;
    app.register("early@example.com").await;
    app.register("late@example.com").await;
    let early = app
        .token_in("early@example.com", EmailKind::VerifyEmail)
        .await;
    let late = app
        .token_in("late@example.com", EmailKind::VerifyEmail)
        .await;
    app.clock
        .advance(Duration::hours(24) - Duration::minutes(1));
    let r = verify(&app, &early).await;
    assert_eq!(r.status, 200, "valid just before 24 h: {}", r.text);
    app.clock.advance(Duration::minutes(2));
    verify(&app, &late)
        .await
        .assert_problem(400, "invalid_token");
    let pair = app.login("late@example.com").await;
    assert_eq!(pair["user"]["email_verified"], false);
    app.shutdown().await;
}

pub async fn concurrent_verifications_give_exactly_one_success(h: Harness) {
    let app = h.spawn().await;
    app.register("verify-race@example.com").await;
    let token = app
        .token_in("verify-race@example.com", EmailKind::VerifyEmail)
        .await;
    let replies = futures::future::join_all((0..20).map(|_| verify(&app, &token))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_problem(400, "invalid_token");
    }
    app.shutdown().await;
}

pub async fn verification_token_of_an_old_address_is_refused(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("before@example.com").await;
    let access = access_of(&pair);
    let old_token = app
        .token_in("before@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app
        .patch_auth(
            "/users/me",
            &access,
            &json!({ "email": "after@example.com", "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The old address's token is bound to (user, old address): it verifies nothing now.
    verify(&app, &old_token)
        .await
        .assert_problem(400, "invalid_token");
    // Nor once someone else holds the old address: it stays bound to the first user.
    let newcomer = app.signed_in("before@example.com").await;
    verify(&app, &old_token)
        .await
        .assert_problem(400, "invalid_token");
    assert_eq!(verified(&app, &access_of(&newcomer)).await, false);
    let me = app.me(&access).await;
    assert_eq!(me.json["email"], "after@example.com");
    assert_eq!(me.json["email_verified"], false);
    let new_token = app
        .token_in("after@example.com", EmailKind::VerifyEmail)
        .await;
    let r = verify(&app, &new_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["email"], "after@example.com");
    assert_eq!(r.json["user"]["email_verified"], true);
    app.shutdown().await;
}

pub async fn resend_is_identical_for_every_address(h: Harness) {
    let app = h.spawn().await;
    app.register("unverified@example.com").await;
    app.register("done@example.com").await;
    let first = app
        .token_in("unverified@example.com", EmailKind::VerifyEmail)
        .await;
    let done = app
        .token_in("done@example.com", EmailKind::VerifyEmail)
        .await;
    assert_eq!(verify(&app, &done).await.status, 200);

    let resend = |email: &str| app.post("/verify-email/resend", &json!({ "email": email }));
    let unknown = resend("nobody@example.com").await;
    let already = resend("done@example.com").await;
    let pending = resend("UNVERIFIED@example.com").await;
    assert_eq!(pending.status, 202, "{}", pending.text);
    pending.assert_identical(&unknown, "unverified vs unknown");
    pending.assert_identical(&already, "unverified vs verified");
    assert!(pending.set_cookies().is_empty());
    assert_eq!(pending.header("cache-control"), Some("no-store"));

    // Only the unverified account gets a new email, and a new token.
    let mails = app
        .wait_for_emails("unverified@example.com", EmailKind::VerifyEmail, 2)
        .await;
    let second = crate::app::token_of(&mails[1]);
    assert_opaque_token(&second);
    assert_ne!(first, second);
    // The "resend unverified" mail was requested last and has arrived, so the mails for the
    // earlier requests would have too; the short watch only guards against a straggler.
    app.assert_no_email("nobody@example.com", EmailKind::VerifyEmail, 0)
        .await;
    app.assert_no_email("done@example.com", EmailKind::VerifyEmail, 1)
        .await;
    assert!(
        app.mailer
            .messages()
            .iter()
            .all(|m| m.to.as_str() != "nobody@example.com"),
        "nothing at all is sent to an unknown address"
    );
    // The first token stays valid until used or expired.
    let r = verify(&app, &first).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["email"], "unverified@example.com");
    app.shutdown().await;
}

pub async fn resend_rejects_an_invalid_email(h: Harness) {
    let app = h.spawn().await;
    for body in [
        json!({ "email": "not-an-email" }),
        json!({ "email": "" }),
        json!({}),
    ] {
        let r = app.post("/verify-email/resend", &body).await;
        r.assert_problem(422, "validation_failed");
        let errors = r.json["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == "email"), "{}", r.text);
    }
    app.post("/verify-email/resend", &json!({ "email": 7 }))
        .await
        .assert_problem(400, "malformed_request");
    app.shutdown().await;
}

pub async fn email_links_ignore_the_host_header(h: Harness) {
    let app = h.spawn().await;
    app.register("host@example.com").await;
    // Wait for the registration email first so that the resend's email is the second one.
    app.wait_for_emails("host@example.com", EmailKind::VerifyEmail, 1)
        .await;
    for (name, value) in [("host", "evil.com"), ("x-forwarded-host", "evil.com")] {
        let r = app
            .send(
                app.client
                    .post(app.url("/password/forgot"))
                    .header(name, value)
                    .header("x-forwarded-proto", "https")
                    .json(&json!({ "email": "host@example.com" })),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let r = app
            .send(
                app.client
                    .post(app.url("/verify-email/resend"))
                    .header(name, value)
                    .header("x-forwarded-proto", "https")
                    .json(&json!({ "email": "host@example.com" })),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        // Past any per-account cooldown on forgot/resend before the second round.
        app.clock.advance(Duration::minutes(2));
    }
    let resets = app
        .wait_for_emails("host@example.com", EmailKind::PasswordReset, 2)
        .await;
    let verifies = app
        .wait_for_emails("host@example.com", EmailKind::VerifyEmail, 3)
        .await;
    for mail in &resets {
        let link = mail.link.as_deref().unwrap();
        let token = crate::app::token_of(mail);
        assert_eq!(link, format!("{PUBLIC_URL}/reset-password?token={token}"));
        assert!(!mail.text.contains("evil.com"));
        assert!(!mail.html.as_deref().unwrap_or("").contains("evil.com"));
    }
    for mail in &verifies {
        let link = mail.link.as_deref().unwrap();
        let token = crate::app::token_of(mail);
        assert_eq!(link, format!("{PUBLIC_URL}/verify-email?token={token}"));
        assert!(!mail.text.contains("evil.com"));
        assert!(!mail.html.as_deref().unwrap_or("").contains("evil.com"));
    }
    app.shutdown().await;
}
