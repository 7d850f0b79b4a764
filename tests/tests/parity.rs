//! Adapter parity: one scripted sequence of requests, covering the success and failure paths of
//! every route in `authkit_core::http::ROUTES`, runs step by step against an axum app and an
//! actix app (SQLite each, same options). Each step must give the same status, the same
//! headers that matter, the same `Set-Cookie` names and attributes, and the same JSON body once
//! ids, timestamps and tokens are blanked out. The route coverage is derived from the requests
//! sent, so a route added to `ROUTES` without a parity step fails the test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};

use authkit_core::http::{ROUTES, RouteId};
use authkit_core::ports::EmailKind;
use authkit_tests::app::{access_of, refresh_of};
use authkit_tests::suites::tokens::claims_of;
use authkit_tests::{AppOptions, Backend, Framework, PASSWORD, Reply, TestApp};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

/// The password after the reset.
const P2: &str = "another correct horse battery staple";
/// The password after the change.
const P3: &str = "a third correct horse battery staple";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const ERIN: &str = "erin@example.com";
const ROOT: &str = "root@example.com";

/// Headers compared value for value.
const COMPARED_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "www-authenticate",
    "retry-after",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
];

/// Headers each server sets (or not) for its own transport; every other header name must be
/// present on both sides.
const TRANSPORT_HEADERS: &[&str] = &[
    "date",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
];

#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Raw(&'static str, &'static str),
    /// A JSON body over the default 64 KiB limit.
    Oversized,
}

/// One request, described independently of the app it goes to.
#[derive(Clone)]
struct Req {
    method: reqwest::Method,
    path: String,
    bearer: Option<String>,
    cookie: Option<String>,
    body: Body,
}

fn req(method: &str, path: impl Into<String>) -> Req {
    Req {
        method: method.parse().unwrap(),
        path: path.into(),
        bearer: None,
        cookie: None,
        body: Body::None,
    }
}

impl Req {
    fn bearer(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
    }
    fn cookie(mut self, cookie: String) -> Self {
        self.cookie = Some(cookie);
        self
    }
    fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }
    fn raw(mut self, content_type: &'static str, body: &'static str) -> Self {
        self.body = Body::Raw(content_type, body);
        self
    }
    fn oversized(mut self) -> Self {
        self.body = Body::Oversized;
        self
    }

    fn build(&self, app: &TestApp) -> reqwest::RequestBuilder {
        let mut b = app.client.request(self.method.clone(), app.url(&self.path));
        if let Some(token) = &self.bearer {
            b = b.bearer_auth(token);
        }
        if let Some(cookie) = &self.cookie {
            b = b.header("cookie", cookie);
        }
        match &self.body {
            Body::None => b,
            Body::Json(v) => b.json(v),
            Body::Raw(ct, body) => b.header("content-type", *ct).body(*body),
            Body::Oversized => b.json(&json!({ "email": ALICE, "password": "p".repeat(1 << 20) })),
        }
    }
}

/// The route of `ROUTES` a request goes to (`{param}` matches one segment).
fn route_of(method: &reqwest::Method, path: &str) -> Option<RouteId> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .find(|spec| {
            let template: Vec<&str> = spec.path.split('/').collect();
            spec.method.as_str() == method.as_str()
                && template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                })
        })
        .map(|spec| spec.id)
}

/// One adapter's app and the values the script took from its replies.
struct Side {
    framework: Framework,
    app: TestApp,
    vars: HashMap<&'static str, String>,
}

impl Side {
    fn var(&self, key: &str) -> String {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{:?}: no {key} yet", self.framework))
            .clone()
    }
}

struct Step {
    route: RouteId,
    status: u16,
}

struct Parity {
    sides: Vec<Side>,
    steps: Vec<Step>,
}

impl Parity {
    async fn spawn() -> Self {
        let mut sides = Vec::new();
        for framework in [Framework::Axum, Framework::Actix] {
            let app = TestApp::spawn(framework, Backend::Sqlite, AppOptions::default()).await;
            sides.push(Side {
                framework,
                app,
                vars: HashMap::new(),
            });
        }
        Self {
            sides,
            steps: Vec::new(),
        }
    }

    /// Sends the request `make` describes to both apps, compares the replies, checks the
    /// expected status (and problem code, unless `code` is empty) and returns the replies.
    async fn step(
        &mut self,
        label: &str,
        status: u16,
        code: &str,
        make: impl Fn(&Side) -> Req,
    ) -> Vec<Reply> {
        let mut replies = Vec::new();
        let mut route = None;
        for side in &self.sides {
            // Time moves between steps, so that lists ordered by time have no ties.
            side.app.clock.advance(time::Duration::seconds(1));
            let r = make(side);
            route = route_of(&r.method, &r.path);
            assert!(
                route.is_some(),
                "{label}: {} {} is not in ROUTES",
                r.method,
                r.path
            );
            let reply = match r.body {
                Body::Oversized => side.app.send_oversized(|| r.build(&side.app)).await,
                _ => side.app.send(r.build(&side.app)).await,
            };
            replies.push(reply);
        }
        let [axum, actix] = &replies[..] else {
            unreachable!("two sides")
        };
        assert_same(label, axum, actix);
        assert_eq!(axum.status, status, "{label}: {}", axum.text);
        if !code.is_empty() {
            axum.assert_problem(status, code);
        }
        self.steps.push(Step {
            route: route.unwrap(),
            status,
        });
        replies
    }

    /// Stores a value taken from each side's reply.
    fn keep(&mut self, key: &'static str, replies: &[Reply], take: impl Fn(&Value) -> String) {
        for (side, reply) in self.sides.iter_mut().zip(replies) {
            side.vars.insert(key, take(&reply.json));
        }
    }

    /// Stores the token of the newest email of `kind` to `to` on each side.
    async fn keep_email_token(&mut self, key: &'static str, to: &str, kind: EmailKind, n: usize) {
        for side in &mut self.sides {
            let token = side.app.nth_token_in(to, kind, n).await;
            side.vars.insert(key, token);
        }
    }

    /// Disables an account on each side, as an administrator would.
    async fn disable(&self, user_key: &str) {
        for side in &self.sides {
            side.app.disable(&side.var(user_key)).await;
        }
    }

    /// Asserts that every route of `ROUTES` had a success and a failure step.
    fn assert_coverage(&self) {
        for spec in ROUTES {
            let statuses: BTreeSet<u16> = self
                .steps
                .iter()
                .filter(|s| s.route == spec.id)
                .map(|s| s.status)
                .collect();
            assert!(
                statuses.iter().any(|s| (200..300).contains(s)),
                "{} {}: no parity step succeeds",
                spec.method,
                spec.path
            );
            assert!(
                statuses.iter().any(|s| (400..500).contains(s)),
                "{} {}: no parity step fails",
                spec.method,
                spec.path
            );
        }
        let all: BTreeSet<u16> = self.steps.iter().map(|s| s.status).collect();
        for status in [200, 201, 202, 204, 400, 401, 403, 404, 409, 413, 415, 422] {
            assert!(all.contains(&status), "no parity step answers {status}");
        }
    }

    /// Requests outside the route table. Under the mount point core answers them (404
    /// `not_found`, 405 `method_not_allowed` with `Allow`), so they are compared like steps,
    /// `Allow` included; outside it (`/api/v2/login`) each framework answers itself, compared
    /// on status and body. HEAD on a GET route is served by authkit in both, so it is compared
    /// like a step.
    async fn transport(&mut self) {
        let r = self
            .step("login for HEAD", 200, "", |_| {
                req("POST", "/login").json(json!({ "email": BOB, "password": PASSWORD }))
            })
            .await;
        self.keep("head", &r, access_of);
        let mut replies = Vec::new();
        for side in &self.sides {
            let app = &side.app;
            let head = app.client.head(app.url("/users/me"));
            replies.push(vec![
                app.send(app.client.get(app.url("/login"))).await,
                app.send(app.client.put(app.url("/users/me"))).await,
                app.send(app.client.get(app.url("/nope"))).await,
                app.send(app.client.post(app.url("/users/me/sessions/a/b")))
                    .await,
                app.send(app.client.get(app.host_url("/api/v2/login")))
                    .await,
                app.send(head.try_clone().unwrap()).await,
                app.send(head.bearer_auth(side.var("head"))).await,
            ]);
        }
        let expected = [405, 405, 404, 404, 404, 401, 200];
        let allow = [
            Some("POST, OPTIONS"),
            Some("GET, HEAD, PATCH, DELETE, OPTIONS"),
            None,
            None,
            None,
            None,
            None,
        ];
        for (i, status) in expected.into_iter().enumerate() {
            let (axum, actix) = (&replies[0][i], &replies[1][i]);
            let label = format!("transport request {i}");
            assert_eq!(axum.status, status, "{label}");
            assert_eq!(actix.status, status, "{label}");
            assert_eq!(allowed(axum), allowed(actix), "Allow of {label}");
            assert_eq!(axum.text, actix.text, "body of {label}");
            if i != 4 {
                assert_same(&label, axum, actix);
                assert_eq!(axum.header("allow"), allow[i], "Allow of {label}");
                assert_eq!(
                    axum.header("allow"),
                    actix.header("allow"),
                    "Allow of {label}"
                );
            }
            match i {
                0 | 1 => axum.assert_problem(405, "method_not_allowed"),
                2 | 3 => axum.assert_problem(404, "not_found"),
                _ => {}
            }
            if i >= 5 {
                assert!(axum.text.is_empty(), "HEAD has no body");
            }
        }
    }

    async fn shutdown(self) {
        for side in self.sides {
            side.app.shutdown().await;
        }
    }
}

/// Asserts that two replies to the same step are the same to a client.
#[track_caller]
fn assert_same(label: &str, axum: &Reply, actix: &Reply) {
    let context = format!("{label}\n  axum:  {}\n  actix: {}", axum.text, actix.text);
    assert_eq!(axum.status, actix.status, "status of {context}");
    for name in COMPARED_HEADERS {
        assert_eq!(
            axum.header(name),
            actix.header(name),
            "{name} header of {context}"
        );
    }
    assert_eq!(
        header_names(axum),
        header_names(actix),
        "header names of {context}"
    );
    assert_eq!(
        cookie_shapes(axum),
        cookie_shapes(actix),
        "Set-Cookie of {context}"
    );
    if axum.json.is_null() && actix.json.is_null() {
        assert_eq!(axum.text, actix.text, "body of {context}");
    } else {
        assert_eq!(
            shape(&axum.json, None),
            shape(&actix.json, None),
            "body shape of {context}"
        );
    }
}

fn allowed(reply: &Reply) -> BTreeSet<String> {
    reply
        .header("allow")
        .unwrap_or("")
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

fn header_names(reply: &Reply) -> Vec<String> {
    reply
        .header_names()
        .into_iter()
        .filter(|n| !TRANSPORT_HEADERS.contains(&n.as_str()))
        .collect()
}

/// Each cookie's name, whether its value is empty, and its sorted attributes.
fn cookie_shapes(reply: &Reply) -> Vec<(String, bool, Vec<String>)> {
    let mut cookies: Vec<_> = reply
        .set_cookies()
        .iter()
        .map(|c| {
            let mut parts = c.split(';').map(str::trim);
            let (name, value) = parts
                .next()
                .unwrap_or("")
                .split_once('=')
                .unwrap_or(("", ""));
            let mut attributes: Vec<String> = parts.map(str::to_owned).collect();
            attributes.sort();
            (name.to_owned(), value.is_empty(), attributes)
        })
        .collect();
    cookies.sort();
    cookies
}

/// The JSON with ids, timestamps and tokens replaced by placeholders: two bodies with the
/// same shape have the same keys, the same value types and the same other values.
fn shape(value: &Value, key: Option<&str>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shape(v, Some(k))))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| shape(v, key)).collect()),
        Value::String(s) if matches!(key, Some("access_token" | "refresh_token")) => {
            json!(format!("<token {}>", s.is_empty()))
        }
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => json!("<id>"),
        Value::String(s) if time::OffsetDateTime::parse(s, &Rfc3339).is_ok() => json!("<time>"),
        other => other.clone(),
    }
}

fn sid(access: &str) -> String {
    claims_of(access)["sid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_adapters_serve_one_contract() {
    let mut p = Parity::spawn().await;

    // POST /register
    for (key, email) in [("alice", ALICE), ("bob", BOB), ("carol", CAROL)] {
        let r = p
            .step(&format!("register {email}"), 201, "", |_| {
                req("POST", "/register")
                    .json(json!({ "email": email, "password": PASSWORD, "display_name": "Name" }))
            })
            .await;
        p.keep(key, &r, |j| j["user"]["id"].as_str().unwrap().to_owned());
    }
    p.step("register: duplicate email", 409, "email_taken", |_| {
        req("POST", "/register").json(json!({ "email": "ALICE@example.com", "password": PASSWORD }))
    })
    .await;
    p.step(
        "register: text/plain",
        415,
        "unsupported_media_type",
        |_| req("POST", "/register").raw("text/plain", "{}"),
    )
    .await;
    p.step(
        "register: no content type",
        415,
        "unsupported_media_type",
        |_| req("POST", "/register"),
    )
    .await;
    p.step("register: malformed JSON", 400, "malformed_request", |_| {
        req("POST", "/register").raw("application/json", "{\"email\": ")
    })
    .await;
    p.step("register: wrong types", 400, "malformed_request", |_| {
        req("POST", "/register").json(json!({ "email": 1, "password": PASSWORD }))
    })
    .await;
    p.step("register: invalid fields", 422, "validation_failed", |_| {
        req("POST", "/register").json(json!({ "email": "not-an-email", "password": "short" }))
    })
    .await;
    p.step("register: oversized", 413, "payload_too_large", |_| {
        req("POST", "/register").oversized()
    })
    .await;

    // POST /login
    let r = p
        .step("login", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": PASSWORD }))
        })
        .await;
    p.keep("r1", &r, refresh_of);
    p.step("login: wrong password", 401, "invalid_credentials", |_| {
        req("POST", "/login").json(json!({ "email": ALICE, "password": P2 }))
    })
    .await;
    p.step("login: unknown email", 401, "invalid_credentials", |_| {
        req("POST", "/login").json(json!({ "email": "nobody@example.com", "password": P2 }))
    })
    .await;
    p.step("login: missing fields", 422, "validation_failed", |_| {
        req("POST", "/login").json(json!({}))
    })
    .await;
    p.step("login: form body", 415, "unsupported_media_type", |_| {
        req("POST", "/login").raw("application/x-www-form-urlencoded", "email=a%40b.c")
    })
    .await;
    p.step("login: oversized", 413, "payload_too_large", |_| {
        req("POST", "/login").oversized()
    })
    .await;
    p.disable("carol").await;
    p.step("login: disabled account", 403, "account_disabled", |_| {
        req("POST", "/login").json(json!({ "email": CAROL, "password": PASSWORD }))
    })
    .await;

    // POST /refresh
    let r = p
        .step("refresh", 200, "", |s| {
            req("POST", "/refresh").json(json!({ "refresh_token": s.var("r1") }))
        })
        .await;
    p.keep("a2", &r, access_of);
    p.step(
        "refresh: reuse of a spent token",
        400,
        "invalid_token",
        |s| req("POST", "/refresh").json(json!({ "refresh_token": s.var("r1") })),
    )
    .await;
    p.step(
        "me: session revoked by the reuse",
        401,
        "unauthorized",
        |s| req("GET", "/users/me").bearer(s.var("a2")),
    )
    .await;
    p.step("refresh: unknown token", 400, "invalid_token", |_| {
        req("POST", "/refresh").json(json!({ "refresh_token": "nope" }))
    })
    .await;
    p.step("refresh: no token", 400, "invalid_token", |_| {
        req("POST", "/refresh")
    })
    .await;
    p.step("refresh: wrong type", 400, "malformed_request", |_| {
        req("POST", "/refresh").json(json!({ "refresh_token": 1 }))
    })
    .await;
    let r = p
        .step("login again", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": PASSWORD }))
        })
        .await;
    p.keep("r3", &r, refresh_of);
    let r = p
        .step("refresh by cookie", 200, "", |s| {
            req("POST", "/refresh").cookie(format!("authkit_refresh={}", s.var("r3")))
        })
        .await;
    p.keep("a4", &r, access_of);

    // GET /users/me
    p.step("me", 200, "", |s| {
        req("GET", "/users/me").bearer(s.var("a4"))
    })
    .await;
    p.step("me: no token", 401, "unauthorized", |_| {
        req("GET", "/users/me")
    })
    .await;
    p.step("me: malformed token", 401, "unauthorized", |_| {
        req("GET", "/users/me").bearer("not.a.jwt")
    })
    .await;

    // POST /verify-email
    p.keep_email_token("verify", ALICE, EmailKind::VerifyEmail, 1)
        .await;
    p.step("verify-email", 200, "", |s| {
        req("POST", "/verify-email").json(json!({ "token": s.var("verify") }))
    })
    .await;
    p.step("verify-email: spent token", 400, "invalid_token", |s| {
        req("POST", "/verify-email").json(json!({ "token": s.var("verify") }))
    })
    .await;
    p.step("verify-email: no token", 400, "invalid_token", |_| {
        req("POST", "/verify-email").json(json!({}))
    })
    .await;
    p.step(
        "verify-email: malformed JSON",
        400,
        "malformed_request",
        |_| req("POST", "/verify-email").raw("application/json", "{"),
    )
    .await;

    // POST /verify-email/resend
    p.step("resend: known address", 202, "", |_| {
        req("POST", "/verify-email/resend").json(json!({ "email": BOB }))
    })
    .await;
    p.step("resend: unknown address", 202, "", |_| {
        req("POST", "/verify-email/resend").json(json!({ "email": "nobody@example.com" }))
    })
    .await;
    p.step("resend: invalid address", 422, "validation_failed", |_| {
        req("POST", "/verify-email/resend").json(json!({ "email": "nope" }))
    })
    .await;
    p.step("resend: text/plain", 415, "unsupported_media_type", |_| {
        req("POST", "/verify-email/resend").raw("text/plain", "{}")
    })
    .await;

    // POST /password/forgot
    p.step("forgot: known address", 202, "", |_| {
        req("POST", "/password/forgot").json(json!({ "email": ALICE }))
    })
    .await;
    p.step("forgot: unknown address", 202, "", |_| {
        req("POST", "/password/forgot").json(json!({ "email": "nobody@example.com" }))
    })
    .await;
    p.step("forgot: invalid address", 422, "validation_failed", |_| {
        req("POST", "/password/forgot").json(json!({ "email": "nope" }))
    })
    .await;
    p.step("forgot: wrong type", 400, "malformed_request", |_| {
        req("POST", "/password/forgot").json(json!({ "email": [] }))
    })
    .await;

    // POST /password/reset
    p.keep_email_token("reset", ALICE, EmailKind::PasswordReset, 1)
        .await;
    p.step("reset: weak password", 422, "validation_failed", |s| {
        req("POST", "/password/reset")
            .json(json!({ "token": s.var("reset"), "new_password": "short" }))
    })
    .await;
    p.step("reset: unknown token", 400, "invalid_token", |_| {
        req("POST", "/password/reset").json(json!({ "token": "nope", "new_password": P2 }))
    })
    .await;
    p.step("reset: oversized", 413, "payload_too_large", |_| {
        req("POST", "/password/reset").oversized()
    })
    .await;
    p.step("reset", 204, "", |s| {
        req("POST", "/password/reset").json(json!({ "token": s.var("reset"), "new_password": P2 }))
    })
    .await;
    p.step("reset: spent token", 400, "invalid_token", |s| {
        req("POST", "/password/reset").json(json!({ "token": s.var("reset"), "new_password": P2 }))
    })
    .await;
    p.step(
        "me: session revoked by the reset",
        401,
        "unauthorized",
        |s| req("GET", "/users/me").bearer(s.var("a4")),
    )
    .await;

    // POST /password/change
    let r = p
        .step("login with the new password", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": P2 }))
        })
        .await;
    p.keep("a5", &r, access_of);
    let r = p
        .step("login on a second device", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": P2 }))
        })
        .await;
    p.keep("a6", &r, access_of);
    p.step("change: no token", 401, "unauthorized", |_| {
        req("POST", "/password/change").json(json!({ "current_password": P2, "new_password": P3 }))
    })
    .await;
    p.step(
        "change: wrong current password",
        401,
        "invalid_credentials",
        |s| {
            req("POST", "/password/change")
                .bearer(s.var("a5"))
                .json(json!({ "current_password": PASSWORD, "new_password": P3 }))
        },
    )
    .await;
    p.step("change: weak new password", 422, "validation_failed", |s| {
        req("POST", "/password/change")
            .bearer(s.var("a5"))
            .json(json!({ "current_password": P2, "new_password": "short" }))
    })
    .await;
    p.step("change: missing fields", 422, "validation_failed", |s| {
        req("POST", "/password/change")
            .bearer(s.var("a5"))
            .json(json!({}))
    })
    .await;
    p.step("change", 204, "", |s| {
        req("POST", "/password/change")
            .bearer(s.var("a5"))
            .json(json!({ "current_password": P2, "new_password": P3 }))
    })
    .await;
    p.step(
        "me: other session revoked by the change",
        401,
        "unauthorized",
        |s| req("GET", "/users/me").bearer(s.var("a6")),
    )
    .await;
    p.step("me: the changing session lives on", 200, "", |s| {
        req("GET", "/users/me").bearer(s.var("a5"))
    })
    .await;

    // PATCH /users/me
    p.step("patch me: display name", 200, "", |s| {
        req("PATCH", "/users/me")
            .bearer(s.var("a5"))
            .json(json!({ "display_name": "Alice L." }))
    })
    .await;
    p.step("patch me: no token", 401, "unauthorized", |_| {
        req("PATCH", "/users/me").json(json!({ "display_name": "x" }))
    })
    .await;
    p.step("patch me: invalid email", 422, "validation_failed", |s| {
        req("PATCH", "/users/me")
            .bearer(s.var("a5"))
            .json(json!({ "email": "nope", "current_password": P3 }))
    })
    .await;
    p.step(
        "patch me: email change without the password",
        422,
        "validation_failed",
        |s| {
            req("PATCH", "/users/me")
                .bearer(s.var("a5"))
                .json(json!({ "email": "alice2@example.com" }))
        },
    )
    .await;
    p.step(
        "patch me: email change with a wrong password",
        401,
        "invalid_credentials",
        |s| {
            req("PATCH", "/users/me")
                .bearer(s.var("a5"))
                .json(json!({ "email": "alice2@example.com", "current_password": P2 }))
        },
    )
    .await;
    p.step("patch me: email taken", 409, "email_taken", |s| {
        req("PATCH", "/users/me")
            .bearer(s.var("a5"))
            .json(json!({ "email": BOB, "current_password": P3 }))
    })
    .await;
    p.step("patch me: text/plain", 415, "unsupported_media_type", |s| {
        req("PATCH", "/users/me")
            .bearer(s.var("a5"))
            .raw("text/plain", "{}")
    })
    .await;
    p.step("patch me: oversized", 413, "payload_too_large", |s| {
        req("PATCH", "/users/me").bearer(s.var("a5")).oversized()
    })
    .await;

    // GET /users/me/export
    p.step("export", 200, "", |s| {
        req("GET", "/users/me/export").bearer(s.var("a5"))
    })
    .await;
    p.step("export: no token", 401, "unauthorized", |_| {
        req("GET", "/users/me/export")
    })
    .await;

    // GET /users/me/sessions, DELETE /users/me/sessions/{id}, DELETE /users/me/sessions
    let r = p
        .step("login on a tablet", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": P3 }))
        })
        .await;
    p.keep("a7", &r, access_of);
    let r = p
        .step("bob logs in", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": BOB, "password": PASSWORD }))
        })
        .await;
    p.keep("b1", &r, access_of);
    p.step("sessions", 200, "", |s| {
        req("GET", "/users/me/sessions").bearer(s.var("a5"))
    })
    .await;
    p.step("sessions: no token", 401, "unauthorized", |_| {
        req("GET", "/users/me/sessions")
    })
    .await;
    p.step("revoke a session", 204, "", |s| {
        req(
            "DELETE",
            format!("/users/me/sessions/{}", sid(&s.var("a7"))),
        )
        .bearer(s.var("a5"))
    })
    .await;
    p.step("me: the revoked session", 401, "unauthorized", |s| {
        req("GET", "/users/me").bearer(s.var("a7"))
    })
    .await;
    p.step("revoke: another user's session", 404, "not_found", |s| {
        req(
            "DELETE",
            format!("/users/me/sessions/{}", sid(&s.var("b1"))),
        )
        .bearer(s.var("a5"))
    })
    .await;
    p.step("revoke: not a session id", 404, "not_found", |s| {
        req("DELETE", "/users/me/sessions/not-a-uuid").bearer(s.var("a5"))
    })
    .await;
    p.step("revoke: no token", 401, "unauthorized", |s| {
        req(
            "DELETE",
            format!("/users/me/sessions/{}", sid(&s.var("a5"))),
        )
    })
    .await;
    p.step("revoke all", 204, "", |s| {
        req("DELETE", "/users/me/sessions").bearer(s.var("a5"))
    })
    .await;
    p.step("me: after revoke all", 401, "unauthorized", |s| {
        req("GET", "/users/me").bearer(s.var("a5"))
    })
    .await;
    p.step("revoke all: no token", 401, "unauthorized", |_| {
        req("DELETE", "/users/me/sessions")
    })
    .await;
    p.step("me: bob is unaffected", 200, "", |s| {
        req("GET", "/users/me").bearer(s.var("b1"))
    })
    .await;

    // POST /logout
    let r = p
        .step("login to log out", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": P3 }))
        })
        .await;
    p.keep("a8", &r, access_of);
    p.keep("r8", &r, refresh_of);
    p.step("logout: malformed body", 400, "malformed_request", |s| {
        req("POST", "/logout")
            .bearer(s.var("a8"))
            .raw("application/json", "{")
    })
    .await;
    p.step("logout", 204, "", |s| {
        req("POST", "/logout")
            .bearer(s.var("a8"))
            .json(json!({ "refresh_token": s.var("r8") }))
    })
    .await;
    p.step("logout: spent token", 401, "unauthorized", |s| {
        req("POST", "/logout").bearer(s.var("a8"))
    })
    .await;
    p.step("logout: no token", 401, "unauthorized", |_| {
        req("POST", "/logout")
    })
    .await;
    p.step(
        "refresh: token of a logged-out session",
        400,
        "invalid_token",
        |s| req("POST", "/refresh").json(json!({ "refresh_token": s.var("r8") })),
    )
    .await;

    // DELETE /users/me
    let r = p
        .step("login to delete", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ALICE, "password": P3 }))
        })
        .await;
    p.keep("a9", &r, access_of);
    p.step(
        "delete me: wrong password",
        401,
        "invalid_credentials",
        |s| {
            req("DELETE", "/users/me")
                .bearer(s.var("a9"))
                .json(json!({ "password": P2 }))
        },
    )
    .await;
    p.step(
        "delete me: missing password",
        422,
        "validation_failed",
        |s| {
            req("DELETE", "/users/me")
                .bearer(s.var("a9"))
                .json(json!({}))
        },
    )
    .await;
    p.step("delete me: no body", 415, "unsupported_media_type", |s| {
        req("DELETE", "/users/me").bearer(s.var("a9"))
    })
    .await;
    p.step("delete me: no token", 401, "unauthorized", |_| {
        req("DELETE", "/users/me").json(json!({ "password": P3 }))
    })
    .await;
    p.step("delete me", 204, "", |s| {
        req("DELETE", "/users/me")
            .bearer(s.var("a9"))
            .json(json!({ "password": P3 }))
    })
    .await;
    p.step("me: deleted account", 401, "unauthorized", |s| {
        req("GET", "/users/me").bearer(s.var("a9"))
    })
    .await;
    p.step("login: deleted account", 401, "invalid_credentials", |_| {
        req("POST", "/login").json(json!({ "email": ALICE, "password": P3 }))
    })
    .await;

    // Admin routes: an administrator (granted through the store on each side) and a plain user.
    for side in &mut p.sides {
        let admin = side.app.admin(ROOT).await;
        side.vars.insert("adm", access_of(&admin));
    }
    let r = p
        .step("register erin", 201, "", |_| {
            req("POST", "/register").json(json!({ "email": ERIN, "password": PASSWORD }))
        })
        .await;
    p.keep("erin", &r, |j| j["user"]["id"].as_str().unwrap().to_owned());
    let r = p
        .step("login erin", 200, "", |_| {
            req("POST", "/login").json(json!({ "email": ERIN, "password": PASSWORD }))
        })
        .await;
    p.keep("plain", &r, access_of);
    let unknown = "01900000-0000-7000-8000-000000000000";
    p.step("admin users", 200, "", |s| {
        req("GET", "/admin/users?limit=2").bearer(s.var("adm"))
    })
    .await;
    p.step("admin users: plain user", 403, "forbidden", |s| {
        req("GET", "/admin/users").bearer(s.var("plain"))
    })
    .await;
    p.step("admin users: bad limit", 422, "validation_failed", |s| {
        req("GET", "/admin/users?limit=0").bearer(s.var("adm"))
    })
    .await;
    p.step("admin user", 200, "", |s| {
        req("GET", format!("/admin/users/{}", s.var("erin"))).bearer(s.var("adm"))
    })
    .await;
    p.step("admin user: unknown", 404, "not_found", |s| {
        req("GET", format!("/admin/users/{unknown}")).bearer(s.var("adm"))
    })
    .await;
    p.step("admin patch user", 200, "", |s| {
        req("PATCH", format!("/admin/users/{}", s.var("erin")))
            .bearer(s.var("adm"))
            .json(json!({ "display_name": "Erin" }))
    })
    .await;
    p.step(
        "admin patch user: bad status",
        422,
        "validation_failed",
        |s| {
            req("PATCH", format!("/admin/users/{}", s.var("erin")))
                .bearer(s.var("adm"))
                .json(json!({ "status": "bogus" }))
        },
    )
    .await;
    p.step("admin roles", 200, "", |s| {
        req("GET", "/admin/roles").bearer(s.var("adm"))
    })
    .await;
    p.step("admin roles: no token", 401, "unauthorized", |_| {
        req("GET", "/admin/roles")
    })
    .await;
    p.step("admin create role", 201, "", |s| {
        req("POST", "/admin/roles")
            .bearer(s.var("adm"))
            .json(json!({ "name": "viewer", "permissions": ["users:read"] }))
    })
    .await;
    p.step("admin create role: exists", 409, "conflict", |s| {
        req("POST", "/admin/roles")
            .bearer(s.var("adm"))
            .json(json!({ "name": "viewer", "permissions": [] }))
    })
    .await;
    p.step("admin update role", 200, "", |s| {
        req("PUT", "/admin/roles/viewer")
            .bearer(s.var("adm"))
            .json(json!({ "description": "read only", "permissions": ["users:read"] }))
    })
    .await;
    p.step("admin update role: unknown", 404, "not_found", |s| {
        req("PUT", "/admin/roles/nope")
            .bearer(s.var("adm"))
            .json(json!({ "permissions": [] }))
    })
    .await;
    p.step("admin delete role", 204, "", |s| {
        req("DELETE", "/admin/roles/viewer").bearer(s.var("adm"))
    })
    .await;
    p.step("admin delete role: built-in", 409, "conflict", |s| {
        req("DELETE", "/admin/roles/admin").bearer(s.var("adm"))
    })
    .await;
    p.step("admin deleted users: plain user", 403, "forbidden", |s| {
        req("GET", "/admin/users/deleted").bearer(s.var("plain"))
    })
    .await;
    p.step("admin delete user", 204, "", |s| {
        req("DELETE", format!("/admin/users/{}", s.var("erin"))).bearer(s.var("adm"))
    })
    .await;
    p.step("admin delete user: again", 404, "not_found", |s| {
        req("DELETE", format!("/admin/users/{}", s.var("erin"))).bearer(s.var("adm"))
    })
    .await;
    p.step("admin deleted users", 200, "", |s| {
        req("GET", "/admin/users/deleted").bearer(s.var("adm"))
    })
    .await;
    p.step("admin restore user", 200, "", |s| {
        req("POST", format!("/admin/users/{}/restore", s.var("erin"))).bearer(s.var("adm"))
    })
    .await;
    p.step("admin restore user: not deleted", 404, "not_found", |s| {
        req("POST", format!("/admin/users/{}/restore", s.var("erin"))).bearer(s.var("adm"))
    })
    .await;
    p.step("admin audit", 200, "", |s| {
        req("GET", "/admin/audit?limit=5").bearer(s.var("adm"))
    })
    .await;
    p.step("admin audit: bad cursor", 422, "validation_failed", |s| {
        req("GET", "/admin/audit?cursor=nope").bearer(s.var("adm"))
    })
    .await;

    p.assert_coverage();
    p.transport().await;
    p.shutdown().await;
}
