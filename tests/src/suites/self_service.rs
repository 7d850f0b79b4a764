//! Checks across every self-service route of issue 3: bearer authentication, request bodies,
//! and secrets in logs (SECURITY 44, 63, 64).

use authkit_core::ports::EmailKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::app::{access_of, refresh_of};
use crate::suites::passwords::NEW_PASSWORD;
use crate::{Harness, PASSWORD, Reply, TestApp};

/// The bearer-protected self-service routes, with a body that would be valid.
fn bearer_routes() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/password/change".to_owned(),
            Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        ),
        (
            Method::PATCH,
            "/users/me".to_owned(),
            Some(json!({ "display_name": "Eve" })),
        ),
        (
            Method::DELETE,
            "/users/me".to_owned(),
            Some(json!({ "password": PASSWORD })),
        ),
        (Method::GET, "/users/me/export".to_owned(), None),
        (Method::GET, "/users/me/sessions".to_owned(), None),
        (
            Method::DELETE,
            format!("/users/me/sessions/{}", uuid::Uuid::now_v7()),
            None,
        ),
        (Method::DELETE, "/users/me/sessions".to_owned(), None),
    ]
}

/// Every self-service route that takes a JSON body, with the token it needs (if any) and
/// bodies whose fields have the wrong types.
fn body_routes(access: &str) -> Vec<(Method, &'static str, Option<String>, Vec<Value>)> {
    let bearer = Some(access.to_owned());
    vec![
        (
            Method::POST,
            "/verify-email",
            None,
            vec![json!({ "token": 1 }), json!({ "token": {} })],
        ),
        (
            Method::POST,
            "/verify-email/resend",
            None,
            vec![json!({ "email": 1 }), json!({ "email": ["a@example.com"] })],
        ),
        (
            Method::POST,
            "/password/forgot",
            None,
            vec![json!({ "email": 1 }), json!({ "email": {} })],
        ),
        (
            Method::POST,
            "/password/reset",
            None,
            vec![
                json!({ "token": 1, "new_password": NEW_PASSWORD }),
                json!({ "token": "abc", "new_password": 123456789012345_u64 }),
            ],
        ),
        (
            Method::POST,
            "/password/change",
            bearer.clone(),
            vec![
                json!({ "current_password": 1, "new_password": NEW_PASSWORD }),
                json!({ "current_password": PASSWORD, "new_password": [NEW_PASSWORD] }),
            ],
        ),
        (
            Method::PATCH,
            "/users/me",
            bearer.clone(),
            vec![
                json!({ "display_name": 5 }),
                json!({ "email": ["a@example.com"], "current_password": PASSWORD }),
                json!({ "email": "a@example.com", "current_password": 5 }),
            ],
        ),
        (
            Method::DELETE,
            "/users/me",
            bearer,
            vec![json!({ "password": 5 }), json!({ "password": ["x"] })],
        ),
    ]
}

fn request(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let builder = app.client.request(method.clone(), app.url(path));
    match token {
        Some(t) => builder.bearer_auth(t),
        None => builder,
    }
}

async fn send_json(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let builder = request(app, method, path, token);
    app.send(match body {
        Some(b) => builder.json(b),
        None => builder,
    })
    .await
}

pub async fn self_service_routes_require_a_bearer_token(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("guard@example.com").await;
    let logged_out = app.login("guard@example.com").await;
    assert_eq!(
        app.post_auth("/logout", &access_of(&logged_out), &json!({}))
            .await
            .status,
        204
    );
    for (method, path, body) in bearer_routes() {
        let what = format!("{method} {path}");
        // No token, a token of a logged-out session, garbage, a refresh token, another scheme.
        let r = send_json(&app, &method, &path, None, body.as_ref()).await;
        r.assert_problem(401, "unauthorized");
        for token in [
            access_of(&logged_out),
            "not.a.jwt".to_owned(),
            refresh_of(&pair),
        ] {
            let r = send_json(&app, &method, &path, Some(&token), body.as_ref()).await;
            assert_eq!(r.status, 401, "{what}: {}", r.text);
            r.assert_problem(401, "unauthorized");
        }
        let builder = app
            .client
            .request(method.clone(), app.url(&path))
            .header("authorization", format!("Basic {}", access_of(&pair)));
        let r = app
            .send(match &body {
                Some(b) => builder.json(b),
                None => builder,
            })
            .await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        r.assert_problem(401, "unauthorized");
    }
    // None of that touched the account.
    let me = app.me(&access_of(&pair)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert!(me.json["display_name"].is_null());
    app.login("guard@example.com").await;
    app.shutdown().await;
}

pub async fn self_service_bodies_are_4xx_problems(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("bodies@example.com").await;
    let access = access_of(&pair);
    for (method, path, token, wrong_types) in body_routes(&access) {
        let what = format!("{method} {path}");
        let token = token.as_deref();
        for (content_type, body) in [
            ("text/plain", "{}"),
            ("application/x-www-form-urlencoded", "email=a%40b.c"),
        ] {
            let r = app
                .send(
                    request(&app, &method, path, token)
                        .header("content-type", content_type)
                        .body(body),
                )
                .await;
            assert_eq!(r.status, 415, "{what} {content_type}: {}", r.text);
            r.assert_problem(415, "unsupported_media_type");
        }
        for body in ["{", "not json", "[1,2", "{\"email\": }", "\u{0}"] {
            let r = app
                .send(
                    request(&app, &method, path, token)
                        .header("content-type", "application/json")
                        .body(body),
                )
                .await;
            assert_eq!(r.status, 400, "{what} {body:?}: {}", r.text);
            r.assert_problem(400, "malformed_request");
        }
        for body in wrong_types
            .iter()
            .chain(&[json!([]), json!("str"), json!(7)])
        {
            let r = send_json(&app, &method, path, token, Some(body)).await;
            assert_eq!(r.status, 400, "{what} {body}: {}", r.text);
            r.assert_problem(400, "malformed_request");
            assert!(!r.text.contains("123456789012345"), "values are not echoed");
        }
        let huge =
            json!({ "token": "t", "email": "a@example.com", "password": "p".repeat(1 << 20) });
        let r = app
            .send_oversized(|| request(&app, &method, path, token).json(&huge))
            .await;
        assert_eq!(r.status, 413, "{what}: {}", r.text);
        r.assert_problem(413, "payload_too_large");
    }
    // Nothing happened to the account.
    let me = app.me(&access).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["email"], "bodies@example.com");
    assert!(me.json["display_name"].is_null());
    app.login("bodies@example.com").await;
    app.shutdown().await;
}

pub async fn self_service_secrets_are_never_logged(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("secrets@example.com").await;
    let mut secrets: Vec<String> = vec![PASSWORD.to_owned(), access_of(&pair), refresh_of(&pair)];
    let verification = app
        .token_in("secrets@example.com", EmailKind::VerifyEmail)
        .await;
    secrets.push(verification.clone());
    // Failed attempts log too: a wrong token, a wrong current password, a bad new password.
    let wrong_password = "a wrong current password to hide";
    let weak_password = "passwordpassword";
    app.post(
        "/verify-email",
        &json!({ "token": verification.to_uppercase() }),
    )
    .await
    .assert_problem(400, "invalid_token");
    let r = app
        .post("/verify-email", &json!({ "token": verification }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/verify-email/resend",
            &json!({ "email": "secrets@example.com" }),
        )
        .await;
    assert_eq!(r.status, 202);

    let r = app
        .post(
            "/password/forgot",
            &json!({ "email": "secrets@example.com" }),
        )
        .await;
    assert_eq!(r.status, 202);
    let reset = app
        .token_in("secrets@example.com", EmailKind::PasswordReset)
        .await;
    secrets.push(reset.clone());
    app.post(
        "/password/reset",
        &json!({ "token": reset, "new_password": weak_password }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let reset_password = "reset to this secret phrase";
    secrets.push(reset_password.to_owned());
    let r = app
        .post(
            "/password/reset",
            &json!({ "token": reset, "new_password": reset_password }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let r = app.try_login("secrets@example.com", reset_password).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = access_of(&r.json);
    secrets.push(access.clone());
    secrets.push(refresh_of(&r.json));
    app.post_auth(
        "/password/change",
        &access,
        &json!({ "current_password": wrong_password, "new_password": NEW_PASSWORD }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let changed_password = "changed to this secret phrase";
    secrets.push(changed_password.to_owned());
    let r = app
        .post_auth(
            "/password/change",
            &access,
            &json!({ "current_password": reset_password, "new_password": changed_password }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let r = app
        .patch_auth(
            "/users/me",
            &access,
            &json!({ "email": "moved@example.com", "current_password": changed_password }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let moved = app
        .token_in("moved@example.com", EmailKind::VerifyEmail)
        .await;
    secrets.push(moved.clone());
    let r = app.post("/verify-email", &json!({ "token": moved })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.email_to("secrets@example.com", EmailKind::EmailChanged)
        .await;

    let r = app.get_auth("/users/me/export", &access).await;
    assert_eq!(r.status, 200);
    let r = app.get_auth("/users/me/sessions", &access).await;
    assert_eq!(r.status, 200);
    app.delete_auth_json("/users/me", &access, &json!({ "password": wrong_password }))
        .await
        .assert_problem(401, "invalid_credentials");
    let r = app
        .delete_auth_json(
            "/users/me",
            &access,
            &json!({ "password": changed_password }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    secrets.extend([wrong_password.to_owned(), weak_password.to_owned()]);

    let logs = crate::logs::captured();
    assert!(logs.contains("authkit::audit"), "audit events are logged");
    for event in [
        "email_verified",
        "password_reset",
        "password_changed",
        "email_changed",
        "account_deleted",
    ] {
        assert!(logs.contains(event), "audit event {event} is logged");
    }
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs ({} chars)",
            secret.len()
        );
        // Nor its uppercase form (the bad token submitted above).
        assert!(!logs.contains(&secret.to_uppercase()));
    }
    assert!(!logs.contains("$argon2id$"), "no password hash in logs");
    app.shutdown().await;
}
