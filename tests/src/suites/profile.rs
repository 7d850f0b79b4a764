//! `PATCH /users/me`, `DELETE /users/me`, `GET /users/me/export` and the login of a disabled
//! account (SECURITY 12, 45, 46, 57, 61, 62).

use std::collections::BTreeSet;

use authkit_core::ports::{EmailKind, LoginThrottle};
use serde_json::{Value, json};

use crate::app::{access_of, refresh_of, token_of, user_id_of};
use crate::suites::passwords::assert_session_dead;
use crate::{AppOptions, Harness, PASSWORD, TestApp};

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn change_email(
    app: &TestApp,
    access: &str,
    email: &str,
) -> impl Future<Output = crate::Reply> + use<> {
    app.patch_auth(
        "/users/me",
        access,
        &json!({ "email": email, "current_password": PASSWORD }),
    )
}

pub async fn patch_me_updates_the_display_name(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("name@example.com").await;
    let access = access_of(&pair);
    let r = app
        .patch_auth("/users/me", &access, &json!({ "display_name": "Ada" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json["display_name"], "Ada");
    assert_eq!(r.json["email"], "name@example.com");
    assert_eq!(r.json["id"], pair["user"]["id"]);
    let me = app.me(&access).await;
    assert_eq!(r.json, me.json, "the same user object as GET /users/me");
    assert_eq!(keys(&r.json), keys(&pair["user"]));
    // Absent leaves it.
    let r = app.patch_auth("/users/me", &access, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["display_name"], "Ada");
    // Null clears it.
    let r = app
        .patch_auth("/users/me", &access, &json!({ "display_name": null }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["display_name"].is_null(), "{}", r.text);
    assert!(app.me(&access).await.json["display_name"].is_null());
    // The register rule for display names applies here too.
    let r = app
        .patch_auth(
            "/users/me",
            &access,
            &json!({ "display_name": "x".repeat(101) }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert!(
        r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "display_name"),
        "{}",
        r.text
    );
    // A display-name change sends no email.
    assert!(
        app.mailer
            .messages()
            .iter()
            .all(|m| m.kind == EmailKind::VerifyEmail),
        "only the registration email"
    );
    app.shutdown().await;
}

pub async fn patch_me_ignores_unknown_fields(h: Harness) {
    let app = h.spawn().await;
    let victim = app.signed_in("bystander@example.com").await;
    let pair = app.signed_in("mass-patch@example.com").await;
    let access = access_of(&pair);
    let r = app
        .patch_auth(
            "/users/me",
            &access,
            &json!({
                "display_name": "Mallory",
                "roles": ["admin"], "is_admin": true, "email_verified": true,
                "status": "disabled", "id": victim["user"]["id"],
                "user_id": victim["user"]["id"], "created_at": "2000-01-01T00:00:00Z",
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let user = &r.json;
    assert_eq!(user["display_name"], "Mallory");
    assert_eq!(user["id"], pair["user"]["id"]);
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["status"], "active");
    assert_eq!(user["created_at"], pair["user"]["created_at"]);
    // The subject comes from the token: the other user is untouched.
    let other = app.me(&access_of(&victim)).await;
    assert!(other.json["display_name"].is_null(), "{}", other.text);
    let claims =
        crate::suites::tokens::claims_of(&access_of(&app.login("mass-patch@example.com").await));
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["perms"], json!([]));
    assert_eq!(claims["email_verified"], false);
    app.shutdown().await;
}

pub async fn email_change_requires_the_current_password(h: Harness) {
    let app = h.spawn().await;
    app.register("other@example.com").await;
    let pair = app.signed_in("mover@example.com").await;
    let access = access_of(&pair);
    let r = app
        .patch_auth("/users/me", &access, &json!({ "email": "new@example.com" }))
        .await;
    r.assert_problem(422, "validation_failed");
    assert!(
        r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "current_password" && e["code"] == "required"),
        "{}",
        r.text
    );
    app.patch_auth(
        "/users/me",
        &access,
        &json!({ "email": "new@example.com", "current_password": "not my password at all" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    // A refused email change applies nothing else of the request either.
    let r = app
        .patch_auth(
            "/users/me",
            &access,
            &json!({
                "display_name": "Half", "email": "new@example.com",
                "current_password": "not my password at all",
            }),
        )
        .await;
    r.assert_problem(401, "invalid_credentials");
    let r = app
        .patch_auth(
            "/users/me",
            &access,
            &json!({
                "display_name": "Half", "email": "other@example.com",
                "current_password": PASSWORD,
            }),
        )
        .await;
    r.assert_problem(409, "email_taken");
    assert!(app.me(&access).await.json["display_name"].is_null());
    for taken in [
        "other@example.com",
        "OTHER@Example.COM",
        " Other@example.com ",
    ] {
        change_email(&app, &access, taken)
            .await
            .assert_problem(409, "email_taken");
    }
    for invalid in ["not-an-email", "", "a@", "@example.com"] {
        let r = change_email(&app, &access, invalid).await;
        r.assert_problem(422, "validation_failed");
        assert!(
            r.json["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == "email"),
            "{invalid:?} -> {}",
            r.text
        );
    }
    // Nothing changed and nothing was sent.
    let me = app.me(&access).await;
    assert_eq!(me.json["email"], "mover@example.com");
    app.login("mover@example.com").await;
    for to in ["new@example.com", "mover@example.com", "other@example.com"] {
        assert!(app.emails(to, EmailKind::EmailChanged).is_empty());
    }
    assert!(
        app.emails("new@example.com", EmailKind::VerifyEmail)
            .is_empty()
    );
    app.shutdown().await;
}

pub async fn email_change_reverifies_and_notifies_the_old_address(h: Harness) {
    let app = h.spawn().await;
    app.register("old@example.com").await;
    let token = app
        .token_in("old@example.com", EmailKind::VerifyEmail)
        .await;
    assert_eq!(
        app.post("/verify-email", &json!({ "token": token }))
            .await
            .status,
        200
    );
    let pair = app.login("old@example.com").await;
    assert_eq!(pair["user"]["email_verified"], true);
    let id = user_id_of(&pair);
    let access = access_of(&pair);
    let r = change_email(&app, &access, " New@Example.com ").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "new@example.com");
    assert_eq!(r.json["email_verified"], false);
    assert_eq!(r.json["id"], id.as_str());
    assert_eq!(keys(&r.json), keys(&pair["user"]));
    assert!(!r.text.contains(PASSWORD));
    let me = app.me(&access).await;
    assert_eq!(me.json, r.json);

    let verify = app
        .email_to("new@example.com", EmailKind::VerifyEmail)
        .await;
    let new_token = token_of(&verify);
    let notice = app
        .email_to("old@example.com", EmailKind::EmailChanged)
        .await;
    assert!(
        !notice.text.contains(&new_token)
            && !notice.html.as_deref().unwrap_or("").contains(&new_token)
            && notice
                .link
                .as_deref()
                .is_none_or(|l| !l.contains(&new_token)),
        "the old address never receives the new address's token"
    );
    assert!(
        app.emails("old@example.com", EmailKind::VerifyEmail).len() == 1,
        "no verification email to the old address"
    );

    app.try_login("old@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let new_pair = app.login("NEW@example.com").await;
    assert_eq!(new_pair["user"]["id"], id.as_str());
    assert_eq!(new_pair["user"]["email_verified"], false);
    let claims = crate::suites::tokens::claims_of(&access_of(&new_pair));
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["email_verified"], false);

    let r = app
        .post("/verify-email", &json!({ "token": new_token }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["email"], "new@example.com");
    assert_eq!(r.json["user"]["email_verified"], true);
    // The old address is free again.
    app.register("old@example.com").await;
    app.shutdown().await;
}

/// SECURITY 57: an attacker alternating concurrent email changes between two addresses it
/// controls and the victim's address never gets the victim's address, let alone verified.
pub async fn email_change_race_never_verifies_the_victim_address(h: Harness) {
    // 50 concurrent password checks on one account are, to the failed-password throttle, 50
    // attempts in flight (each is counted before its check): it would answer some with 429.
    // The race is the subject here, so the throttle is off.
    let app = h
        .spawn_with(AppOptions {
            configure: Some(|c| c.limits.login_throttle = LoginThrottle::off()),
            ..AppOptions::default()
        })
        .await;
    let victim = app.signed_in("victim@example.com").await;
    let pair = app.signed_in("attacker@example.com").await;
    let access = access_of(&pair);
    let targets = [
        "attacker1@example.com",
        "attacker2@example.com",
        "victim@example.com",
    ];
    let replies = futures::future::join_all(
        (0..50).map(|i| change_email(&app, &access, targets[i % targets.len()])),
    )
    .await;
    // Each 200 must show the address it asked for; mismatches are collected and asserted last
    // so that the security checks below run whatever they are.
    let mut mismatches = Vec::new();
    for (i, r) in replies.iter().enumerate() {
        let target = targets[i % targets.len()];
        if target == "victim@example.com" {
            r.assert_problem(409, "email_taken");
        } else {
            assert_eq!(r.status, 200, "{target}: {}", r.text);
            assert_ne!(r.json["email"], "victim@example.com");
            assert_eq!(r.json["email_verified"], false);
            if r.json["email"] != target {
                mismatches.push(format!("asked {target}, got {}", r.json["email"]));
            }
        }
    }
    // A consistent end state: one of the attacker's addresses, unverified.
    let me = app.me(&access).await;
    let current = me.json["email"].as_str().unwrap().to_owned();
    assert!(
        current == targets[0] || current == targets[1],
        "{}",
        me.text
    );
    assert_eq!(me.json["email_verified"], false);
    let stale = if current == targets[0] {
        targets[1]
    } else {
        targets[0]
    };
    // Every email of the race delivered, so the counts below are final. (Mails queued at one
    // instant of the manual clock go out in no particular order: the victim's registration mail
    // may come after the race's.)
    app.wait_for_outbox_idle().await;
    assert!(!app.emails(&current, EmailKind::VerifyEmail).is_empty());
    // Tokens sent to the other address verify nothing.
    for mail in app.emails(stale, EmailKind::VerifyEmail) {
        app.post("/verify-email", &json!({ "token": token_of(&mail) }))
            .await
            .assert_problem(400, "invalid_token");
    }
    // Only a token sent to the current address verifies, and it verifies that address.
    let token = app.token_in(&current, EmailKind::VerifyEmail).await;
    let r = app.post("/verify-email", &json!({ "token": token })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["email"], current.as_str());
    assert_eq!(r.json["user"]["id"], pair["user"]["id"]);
    // The victim's address was never the attacker's: no mail about it went to the victim but
    // the registration one, and the victim's account is intact.
    assert_eq!(
        app.emails("victim@example.com", EmailKind::VerifyEmail)
            .len(),
        1
    );
    assert!(
        app.emails("victim@example.com", EmailKind::EmailChanged)
            .is_empty()
    );
    let v = app.me(&access_of(&victim)).await;
    assert_eq!(v.json["email"], "victim@example.com");
    assert_eq!(v.json["id"], victim["user"]["id"]);
    assert_eq!(v.json["email_verified"], false);
    let victim_token = app
        .token_in("victim@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app
        .post("/verify-email", &json!({ "token": victim_token }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user"]["id"], victim["user"]["id"]);
    assert!(
        mismatches.is_empty(),
        "PATCH /users/me answered 200 with another address than the one it set: {mismatches:?}"
    );
    app.shutdown().await;
}

pub async fn delete_me_soft_deletes_the_account(h: Harness) {
    let app = h.spawn().await;
    let first = app.signed_in("gone@example.com").await;
    let second = app.login("gone@example.com").await;
    let access = access_of(&first);
    // One-time tokens outstanding at deletion.
    let verification = app
        .token_in("gone@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app
        .post("/password/forgot", &json!({ "email": "gone@example.com" }))
        .await;
    assert_eq!(r.status, 202);
    let reset = app
        .token_in("gone@example.com", EmailKind::PasswordReset)
        .await;
    app.delete_auth_json(
        "/users/me",
        &access,
        &json!({ "password": "not my password at all" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let r = app.delete_auth_json("/users/me", &access, &json!({})).await;
    r.assert_problem(422, "validation_failed");
    assert!(
        r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "password"),
        "{}",
        r.text
    );
    assert_eq!(app.me(&access).await.status, 200, "still there");

    let r = app
        .delete_auth_json("/users/me", &access, &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    for pair in [&first, &second] {
        assert_session_dead(&app, pair).await;
    }
    // The outstanding one-time tokens are dead with the account.
    app.post("/verify-email", &json!({ "token": verification }))
        .await
        .assert_problem(400, "invalid_token");
    app.post(
        "/password/reset",
        &json!({ "token": reset, "new_password": "a password to come back" }),
    )
    .await
    .assert_problem(400, "invalid_token");
    // Login fails exactly as for an address nobody registered.
    let deleted = app.try_login("gone@example.com", PASSWORD).await;
    let unknown = app.try_login("never@example.com", PASSWORD).await;
    deleted.assert_problem(401, "invalid_credentials");
    deleted.assert_identical(&unknown, "deleted vs unknown account");
    // The address stays taken, for registration and for email changes.
    for email in ["gone@example.com", "GONE@example.com"] {
        app.post(
            "/register",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await
        .assert_problem(409, "email_taken");
    }
    let other = app.signed_in("other@example.com").await;
    change_email(&app, &access_of(&other), "gone@example.com")
        .await
        .assert_problem(409, "email_taken");
    // Forgot and resend behave as for an unknown address and send nothing.
    let gone = app
        .post("/password/forgot", &json!({ "email": "gone@example.com" }))
        .await;
    let nobody = app
        .post("/password/forgot", &json!({ "email": "never@example.com" }))
        .await;
    gone.assert_identical(&nobody, "forgot: deleted vs unknown account");
    let gone = app
        .post(
            "/verify-email/resend",
            &json!({ "email": "gone@example.com" }),
        )
        .await;
    assert_eq!(gone.status, 202, "{}", gone.text);
    // A marker that does send, requested last: once it has arrived, the background sender has
    // handled the requests above; the short watch catches a straggler.
    let r = app
        .post("/password/forgot", &json!({ "email": "other@example.com" }))
        .await;
    assert_eq!(r.status, 202);
    app.email_to("other@example.com", EmailKind::PasswordReset)
        .await;
    app.assert_no_email("gone@example.com", EmailKind::PasswordReset, 1)
        .await;
    app.assert_no_email("gone@example.com", EmailKind::VerifyEmail, 1)
        .await;
    app.shutdown().await;
}

pub async fn export_contains_the_users_data_and_no_secret(h: Harness) {
    let app = h.spawn().await;
    app.register("export@example.com").await;
    let verification = app
        .token_in("export@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app
        .send(
            app.client
                .post(app.url("/login"))
                .header("user-agent", "export-agent/1.0")
                .json(&json!({ "email": "export@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first = r.json;
    let refreshed = app.try_refresh(&refresh_of(&first)).await;
    assert_eq!(refreshed.status, 200);
    let pair = refreshed.json;
    let access = access_of(&pair);
    let gone = app.login("export@example.com").await;
    assert_eq!(
        app.post_auth("/logout", &access_of(&gone), &json!({}))
            .await
            .status,
        204
    );
    let r = app.get_auth("/users/me/export", &access).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.header("content-type")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let export = &r.json;
    for key in ["user", "roles", "sessions", "audit_events"] {
        assert!(!export[key].is_null(), "{key} missing: {}", r.text);
    }
    let me = app.me(&access).await;
    assert_eq!(export["user"], me.json, "the user object");
    assert_eq!(export["roles"], json!(["user"]));

    let sessions = export["sessions"].as_array().unwrap();
    let session_keys: BTreeSet<String> = [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip",
        "user_agent",
        "revoked_at",
    ]
    .map(str::to_owned)
    .into();
    for s in sessions {
        assert!(keys(s).is_superset(&session_keys), "{s}");
    }
    let sid = crate::suites::tokens::claims_of(&access)["sid"].clone();
    let live = sessions
        .iter()
        .find(|s| s["id"] == sid)
        .unwrap_or_else(|| panic!("the live session is exported: {}", r.text));
    assert_eq!(live["ip"], "127.0.0.1");
    assert_eq!(live["user_agent"], "export-agent/1.0");
    assert!(live["revoked_at"].is_null());

    let events = export["audit_events"].as_array().unwrap();
    let event_keys: BTreeSet<String> = ["id", "at", "event", "ip", "user_agent", "detail"]
        .map(str::to_owned)
        .into();
    for e in events {
        let k = keys(e);
        assert!(k.is_superset(&event_keys), "{e}");
    }
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for name in ["register", "login_ok"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // No secret: no password, hash, access or refresh token (current or spent), one-time token.
    for secret in [
        PASSWORD,
        verification.as_str(),
        &access_of(&first),
        &refresh_of(&first),
        &access,
        &refresh_of(&pair),
        &access_of(&gone),
        &refresh_of(&gone),
    ] {
        assert!(!r.text.contains(secret), "a secret in the export");
    }
    for needle in [
        "argon2",
        "$v=19",
        "password_hash",
        "refresh_hash",
        "token_hash",
        "\"hash\"",
    ] {
        assert!(
            !r.text.to_lowercase().contains(needle),
            "{needle:?} in the export: {}",
            r.text
        );
    }
    app.get_auth("/users/me/export", "not-a-token")
        .await
        .assert_problem(401, "unauthorized");
    app.shutdown().await;
}

/// API.md: the export holds "all data held on the user"; a revoked session is still held (its
/// row carries `revoked_at`), so it is part of the export.
pub async fn export_includes_revoked_sessions(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("held@example.com").await;
    let gone = app.login("held@example.com").await;
    let r = app
        .post_auth("/logout", &access_of(&gone), &json!({}))
        .await;
    assert_eq!(r.status, 204);
    let r = app.get_auth("/users/me/export", &access_of(&pair)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let gone_sid = crate::suites::tokens::claims_of(&access_of(&gone))["sid"].clone();
    let revoked = r.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == gone_sid)
        .unwrap_or_else(|| panic!("the revoked session is exported: {}", r.text));
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    app.shutdown().await;
}

pub async fn disabled_account_login_is_403_only_after_correct_password(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("disabled@example.com").await;
    app.disable(&user_id_of(&pair)).await;
    // Disabling revoked the sessions.
    assert_session_dead(&app, &pair).await;
    let wrong = app
        .try_login("disabled@example.com", "not the password at all")
        .await;
    let unknown = app
        .try_login("nobody@example.com", "not the password at all")
        .await;
    wrong.assert_problem(401, "invalid_credentials");
    wrong.assert_identical(&unknown, "disabled+wrong password vs unknown");
    let right = app.try_login("disabled@example.com", PASSWORD).await;
    right.assert_problem(403, "account_disabled");
    assert!(right.set_cookies().is_empty());
    assert!(right.json.get("access_token").is_none());
    app.shutdown().await;
}
