//! Request bodies on every route that takes one: 415, 400, 413 — never a 5xx.

use serde_json::json;

use crate::{Harness, PASSWORD};

const BODY_ROUTES: &[&str] = &["/register", "/login", "/refresh"];

pub async fn bad_bodies_are_4xx_problems(h: Harness) {
    let app = h.spawn().await;
    for path in BODY_ROUTES {
        let url = app.url(path);
        let r = app
            .send(
                app.client
                    .post(&url)
                    .header("content-type", "text/plain")
                    .body("{}"),
            )
            .await;
        r.assert_problem(415, "unsupported_media_type");
        let r = app
            .send(
                app.client
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("email=a%40b.c&password=x"),
            )
            .await;
        r.assert_problem(415, "unsupported_media_type");
        for body in ["{", "not json", "[1,2", "{\"email\": }", "\u{0}"] {
            let r = app
                .send(
                    app.client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body),
                )
                .await;
            r.assert_problem(400, "malformed_request");
        }
        // Wrong types for every route's fields: `email` for register/login, `refresh_token` for refresh.
        for body in [
            json!({"email": ["a"], "password": PASSWORD, "refresh_token": {}}),
            json!({"email": 1, "password": PASSWORD, "refresh_token": 1}),
            json!([]),
            json!("str"),
            json!(7),
        ] {
            let r = app.post(path, &body).await;
            r.assert_problem(400, "malformed_request");
        }
        let huge = json!({ "email": "a@example.com", "password": "p".repeat(1 << 20) });
        let r = app
            .send_oversized(|| app.client.post(app.url(path)).json(&huge))
            .await;
        r.assert_problem(413, "payload_too_large");
    }
    // Content type parameters are fine.
    let r = app
        .send(
            app.client
                .post(app.url("/register"))
                .header("content-type", "application/json; charset=utf-8")
                .body(json!({"email": "ct@example.com", "password": PASSWORD}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The detail of a type error never echoes the submitted value.
    let r = app
        .post(
            "/login",
            &json!({ "email": "a@example.com", "password": 123456789012345_u64 }),
        )
        .await;
    r.assert_problem(400, "malformed_request");
    assert!(!r.text.contains("123456789012345"));
    app.shutdown().await;
}

/// Under the mount point, an unknown path and a wrong method are the contract's problem
/// documents (404 `not_found`; 405 `method_not_allowed` with `Allow`), with the headers of
/// every authkit answer.
pub async fn unknown_routes_and_methods_are_not_served(h: Harness) {
    let app = h.spawn().await;
    let wrong_methods = [
        (app.client.get(app.url("/login")), "POST, OPTIONS"),
        (
            app.client.put(app.url("/users/me")),
            "GET, HEAD, PATCH, DELETE, OPTIONS",
        ),
        (
            app.client.post(app.url("/users/me/sessions/0190")),
            "DELETE, OPTIONS",
        ),
    ];
    for (request, allow) in wrong_methods {
        let r = app.send(request).await;
        r.assert_problem(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some(allow));
        assert_authkit_headers(&r);
    }
    for path in ["/nope", "/users/me/sessions/a/b", "/admin"] {
        let r = app.send(app.client.get(app.url(path))).await;
        r.assert_problem(404, "not_found");
        assert_authkit_headers(&r);
    }
    app.shutdown().await;
}

#[track_caller]
fn assert_authkit_headers(r: &crate::Reply) {
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(r.header(name), Some(value), "{name}: {}", r.text);
    }
}
