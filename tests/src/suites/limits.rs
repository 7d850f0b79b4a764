//! Abuse limits and browser protections (SECURITY 12-17, 22, 24, 48, 50, 55): per-IP rate
//! limits on every route and on the credential routes, the client address behind trusted
//! proxies, the per-account throttle of failed password checks, the per-address limit on
//! forgot/resend emails, security headers on every answer, CORS, the cross-site check, the
//! header-size limit, hash-pool overload and rehash on login.

use authkit_core::domain::{Email, PasswordHash};
use authkit_core::hashing::{Argon2Config, Argon2Hasher};
use authkit_core::ports::{EmailKind, PasswordHasher, RateLimit};
use authkit_core::service::{ImportUser, RequestContext};
use authkit_core::{AuthConfig, limits::LoginThrottle};
use serde_json::{Value, json};
use time::Duration;

use crate::app::{PUBLIC_URL, access_of, refresh_of, token_of};
use crate::suites::passwords::NEW_PASSWORD;
use crate::{AppOptions, Harness, PASSWORD, Reply, TestApp};

/// A wrong password that satisfies the policy (so only the check can refuse it).
const WRONG: &str = "not the password at all";
/// The origin allowed by the CORS tests.
const APP_ORIGIN: &str = "https://app.example.com";
/// A foreign origin.
const EVIL_ORIGIN: &str = "https://evil.example";

/// Asserts a 429 `rate_limited` problem with `Retry-After: <seconds>` and the security headers.
#[track_caller]
fn assert_rate_limited(r: &Reply, seconds: u64) {
    r.assert_problem(429, "rate_limited");
    assert_eq!(
        r.header("retry-after"),
        Some(seconds.to_string().as_str()),
        "Retry-After; body: {}",
        r.text
    );
    assert_security_headers(r, "429");
}

/// Asserts the headers every authkit answer carries (SECURITY 55).
#[track_caller]
fn assert_security_headers(r: &Reply, what: &str) {
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP `{csp}`"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
}

/// `POST /login` as a client behind a proxy that sent `X-Forwarded-For: xff`.
async fn login_via(app: &TestApp, xff: &str, email: &str, password: &str) -> Reply {
    app.send(
        app.client
            .post(app.url("/login"))
            .header("x-forwarded-for", xff)
            .json(&json!({ "email": email, "password": password })),
    )
    .await
}

/// `POST path` with a JSON body and an `Origin` header.
async fn post_from(app: &TestApp, origin: &str, path: &str, body: &Value) -> Reply {
    app.send(
        app.client
            .post(app.url(path))
            .header("origin", origin)
            .json(body),
    )
    .await
}

/// `POST /refresh` with only the refresh cookie (no body) and `extra` headers.
async fn cookie_refresh(app: &TestApp, refresh_token: &str, extra: &[(&str, &str)]) -> Reply {
    let mut request = app
        .client
        .post(app.url("/refresh"))
        .header("cookie", format!("authkit_refresh={refresh_token}"));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    app.send(request).await
}

/// The IP recorded for the current session of `access` (`GET /users/me/sessions`).
async fn session_ip(app: &TestApp, access: &str) -> Value {
    let r = app.get_auth("/users/me/sessions", access).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sessions = r.json["sessions"].as_array().unwrap();
    let current = sessions
        .iter()
        .find(|s| s["current"] == true)
        .unwrap_or_else(|| panic!("a current session: {}", r.text));
    current["ip"].clone()
}

fn email(address: &str) -> Email {
    Email::parse(address).unwrap()
}

async fn failed_checks(app: &TestApp, address: &str) -> u32 {
    app.kit
        .failed_password_checks(&email(address))
        .await
        .unwrap()
}

/// Requests a password reset for `address` and returns the newest emailed token.
async fn reset_token(app: &TestApp, address: &str) -> String {
    let before = app.emails(address, EmailKind::PasswordReset).len();
    let r = app
        .post("/password/forgot", &json!({ "email": address }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    token_of(
        &app.wait_for_emails(address, EmailKind::PasswordReset, before + 1)
            .await[before],
    )
}

/// Resets `address`'s password to [`NEW_PASSWORD`] with an emailed token; asserts 204.
async fn reset_to_new_password(app: &TestApp, address: &str) {
    let token = reset_token(app, address).await;
    let r = app
        .post(
            "/password/reset",
            &json!({ "token": token, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

// --- Per-IP limits -----------------------------------------------------------------------------

fn five_per_minute_per_ip(config: &mut AuthConfig) {
    config.limits.per_ip = RateLimit::per_minute(5);
}

/// Five requests to assorted routes (failures count as much as successes), then 429 with the
/// GCRA's wait (60 s / 5 = 12 s); after that wait, exactly one more.
async fn per_ip_limit(h: Harness, rate_limits_in_database: bool) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(five_per_minute_per_ip),
            rate_limits_in_database,
            ..AppOptions::default()
        })
        .await;
    let me = app.send(app.client.get(app.url("/users/me"))).await;
    me.assert_problem(401, "unauthorized");
    app.try_login("nobody@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    app.send(app.client.get(app.url("/users/me/sessions")))
        .await
        .assert_problem(401, "unauthorized");
    app.try_refresh("not-a-refresh-token")
        .await
        .assert_problem(400, "invalid_token");
    let preflight = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/login"))
                .header("origin", APP_ORIGIN)
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(preflight.status, 204, "a preflight counts too");
    let r = app.send(app.client.get(app.url("/users/me"))).await;
    assert_rate_limited(&r, 12);
    // The limit is per client, not per route, and refusals are not counted.
    for _ in 0..3 {
        assert_rate_limited(&app.try_login("nobody@example.com", WRONG).await, 12);
    }
    app.clock.advance(Duration::seconds(12));
    let r = app
        .post(
            "/password/forgot",
            &json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(r.status, 202, "one token came back after 12 s: {}", r.text);
    assert_rate_limited(&app.send(app.client.get(app.url("/users/me"))).await, 12);
    // A quiet minute refills the whole bucket.
    app.clock.advance(Duration::minutes(1));
    for i in 0..5 {
        let r = app.send(app.client.get(app.url("/users/me"))).await;
        assert_eq!(
            r.status, 401,
            "request {i} after a quiet minute: {}",
            r.text
        );
    }
    assert_rate_limited(&app.send(app.client.get(app.url("/users/me"))).await, 12);
    app.shutdown().await;
}

pub async fn per_ip_limit_covers_every_route(h: Harness) {
    per_ip_limit(h, false).await;
}

pub async fn per_ip_limit_counts_in_the_database(h: Harness) {
    per_ip_limit(h, true).await;
}

fn three_credential_requests_per_minute(config: &mut AuthConfig) {
    config.limits.per_ip_credentials = RateLimit::per_minute(3);
}

pub async fn credential_routes_share_a_tighter_per_ip_limit(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(three_credential_requests_per_minute),
            ..AppOptions::default()
        })
        .await;
    for _ in 0..3 {
        app.try_login("nobody@example.com", WRONG)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_rate_limited(&app.try_login("nobody@example.com", WRONG).await, 20);
    // Other routes keep answering.
    app.send(app.client.get(app.url("/users/me")))
        .await
        .assert_problem(401, "unauthorized");
    app.try_refresh("not-a-refresh-token")
        .await
        .assert_problem(400, "invalid_token");

    // Every credential route counts in the same bucket: three requests to it use the bucket
    // up, so that a login and the route itself are then refused.
    type Request = fn(&TestApp, usize) -> reqwest::RequestBuilder;
    let routes: [(&str, u16, Request); 5] = [
        ("register", 201, |app, i| {
            app.client
                .post(app.url("/register"))
                .json(&json!({ "email": format!("new{i}@example.com"), "password": PASSWORD }))
        }),
        ("forgot", 202, |app, _| {
            app.client
                .post(app.url("/password/forgot"))
                .json(&json!({ "email": "nobody@example.com" }))
        }),
        ("reset", 400, |app, _| {
            app.client
                .post(app.url("/password/reset"))
                .json(&json!({ "token": "not-a-token", "new_password": NEW_PASSWORD }))
        }),
        ("resend", 202, |app, _| {
            app.client
                .post(app.url("/verify-email/resend"))
                .json(&json!({ "email": "nobody@example.com" }))
        }),
        ("verify-email", 400, |app, _| {
            app.client
                .post(app.url("/verify-email"))
                .json(&json!({ "token": "not-a-token" }))
        }),
    ];
    let mut n = 0;
    for (name, status, request) in routes {
        app.clock.advance(Duration::minutes(1));
        for _ in 0..3 {
            n += 1;
            let r = app.send(request(&app, n)).await;
            assert_eq!(r.status, status, "{name}: {}", r.text);
        }
        assert_rate_limited(&app.try_login("nobody@example.com", WRONG).await, 20);
        n += 1;
        assert_rate_limited(&app.send(request(&app, n)).await, 20);
        app.send(app.client.get(app.url("/users/me")))
            .await
            .assert_problem(401, "unauthorized");
    }
    app.shutdown().await;
}

fn five_credential_requests_per_minute(config: &mut AuthConfig) {
    config.limits.per_ip_credentials = RateLimit::per_minute(5);
}

pub async fn forwarded_for_is_ignored_without_a_trusted_proxy(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(five_credential_requests_per_minute),
            ..AppOptions::default()
        })
        .await;
    app.register_many(&["xff@example.com".to_owned()], 1).await;
    let r = login_via(&app, "9.9.9.9", "xff@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        session_ip(&app, &access_of(&r.json)).await,
        "127.0.0.1",
        "the socket's address, not the header's"
    );
    // A brute force from one address rotating X-Forwarded-For gains nothing.
    let mut statuses = Vec::new();
    for i in 1..20 {
        let r = login_via(
            &app,
            &format!("10.0.{i}.{i}"),
            &format!("victim{i}@example.com"),
            WRONG,
        )
        .await;
        if r.status == 429 {
            assert_rate_limited(&r, 12);
        } else {
            r.assert_problem(401, "invalid_credentials");
        }
        statuses.push(r.status);
    }
    let mut expected = vec![401; 4];
    expected.extend([429; 15]);
    assert_eq!(
        statuses, expected,
        "five logins a minute, whatever the header"
    );
    app.shutdown().await;
}

fn two_credential_requests_behind_a_proxy(config: &mut AuthConfig) {
    config.limits.per_ip_credentials = RateLimit::per_minute(2);
    config.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

pub async fn forwarded_for_from_a_trusted_proxy_keys_the_real_client(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(two_credential_requests_behind_a_proxy),
            ..AppOptions::default()
        })
        .await;
    app.register_many(&["proxied@example.com".to_owned()], 1)
        .await;
    // The session records the client the proxy saw.
    let r = login_via(&app, "9.9.9.9", "proxied@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(session_ip(&app, &access_of(&r.json)).await, "9.9.9.9");
    // A client's own entry on the left is not believed: the proxy's (rightmost) one is.
    let r = login_via(&app, "6.6.6.6, 4.4.4.4", "proxied@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(session_ip(&app, &access_of(&r.json)).await, "4.4.4.4");

    // Distinct clients, distinct buckets.
    for _ in 0..2 {
        login_via(&app, "1.1.1.1", "nobody@example.com", WRONG)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_rate_limited(
        &login_via(&app, "1.1.1.1", "nobody@example.com", WRONG).await,
        30,
    );
    login_via(&app, "2.2.2.2", "nobody@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    // Forged left parts: all keyed on 5.5.5.5, whatever the client wrote before it.
    login_via(&app, "6.6.6.6, 5.5.5.5", "nobody@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    login_via(&app, "7.7.7.7, 5.5.5.5", "nobody@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_rate_limited(
        &login_via(&app, "8.8.8.8, 5.5.5.5", "nobody@example.com", WRONG).await,
        30,
    );
    assert_rate_limited(
        &login_via(&app, "5.5.5.5", "nobody@example.com", WRONG).await,
        30,
    );
    // The forged entries got no bucket of their own used up: 6.6.6.6 is still fresh.
    login_via(&app, "6.6.6.6", "nobody@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    app.shutdown().await;
}

// --- Per-account throttle ----------------------------------------------------------------------

fn behind_a_trusted_proxy(config: &mut AuthConfig) {
    config.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

pub async fn failed_logins_are_throttled_per_account_identically(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(behind_a_trusted_proxy),
            ..AppOptions::default()
        })
        .await;
    let known = "victim@example.com";
    let unknown = "ghost@example.com";
    app.register(known).await;
    // Ten free failures, each from another client address: the counter is the account's.
    for i in 0..10 {
        let xff = format!("203.0.113.{i}");
        let k = login_via(&app, &xff, known, WRONG).await;
        let u = login_via(&app, &xff, unknown, WRONG).await;
        k.assert_problem(401, "invalid_credentials");
        k.assert_identical(&u, &format!("failure {}", i + 1));
    }
    assert_eq!(failed_checks(&app, known).await, 10);
    assert_eq!(failed_checks(&app, unknown).await, 10);
    let k = login_via(&app, "198.51.100.1", known, WRONG).await;
    let u = login_via(&app, "198.51.100.1", unknown, WRONG).await;
    assert_rate_limited(&k, 1);
    k.assert_identical(&u, "the 11th attempt");
    assert_eq!(k.header("retry-after"), u.header("retry-after"));
    assert_eq!(
        failed_checks(&app, known).await,
        10,
        "a refusal is not counted"
    );
    // One attempt a second later, then the wait doubles.
    app.clock.advance(Duration::seconds(1));
    let k = app.try_login(known, WRONG).await;
    let u = app.try_login(unknown, WRONG).await;
    k.assert_problem(401, "invalid_credentials");
    k.assert_identical(&u, "the attempt after 1 s");
    let k = app.try_login(known, WRONG).await;
    let u = app.try_login(unknown, WRONG).await;
    assert_rate_limited(&k, 2);
    k.assert_identical(&u, "the attempt right after");
    assert_eq!(k.header("retry-after"), u.header("retry-after"));
    // The right password is not even checked while throttled.
    let r = app.try_login(known, PASSWORD).await;
    assert_rate_limited(&r, 2);
    app.clock.advance(Duration::seconds(2));
    let r = app.try_login(known, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        failed_checks(&app, known).await,
        0,
        "a success clears the count"
    );
    for _ in 0..10 {
        app.try_login(known, WRONG)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    app.shutdown().await;
}

pub async fn password_reset_unlocks_a_throttled_account(h: Harness) {
    let app = h.spawn().await;
    let address = "locked@example.com";
    app.register(address).await;
    for _ in 0..10 {
        app.try_login(address, WRONG)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_rate_limited(&app.try_login(address, WRONG).await, 1);
    // The owner is never locked out of the reset (SECURITY 15), and the reset clears the count.
    reset_to_new_password(&app, address).await;
    assert_eq!(failed_checks(&app, address).await, 0);
    let r = app.try_login(address, NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "at once after the reset: {}", r.text);
    app.shutdown().await;
}

pub async fn wrong_current_password_counts_on_the_account(h: Harness) {
    let app = h.spawn().await;
    let address = "changer@example.com";
    let pair = app.signed_in(address).await;
    let access = access_of(&pair);
    let change = json!({ "current_password": WRONG, "new_password": NEW_PASSWORD });
    for _ in 0..10 {
        app.post_auth("/password/change", &access, &change)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(failed_checks(&app, address).await, 10);
    assert_rate_limited(
        &app.post_auth("/password/change", &access, &change).await,
        1,
    );
    let right = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    assert_rate_limited(&app.post_auth("/password/change", &access, &right).await, 1);
    // The same account, whichever route guesses.
    assert_rate_limited(&app.try_login(address, PASSWORD).await, 1);
    app.shutdown().await;
}

fn small_throttle(config: &mut AuthConfig) {
    config.limits.login_throttle = LoginThrottle {
        free_failures: 2,
        base_delay: Duration::seconds(1),
        max_delay: Duration::minutes(15),
        max_failures: 5,
    };
}

pub async fn throttle_ceiling_holds_until_a_reset(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(small_throttle),
            ..AppOptions::default()
        })
        .await;
    let address = "ceiling@example.com";
    app.register(address).await;
    for _ in 0..2 {
        app.try_login(address, WRONG)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_rate_limited(&app.try_login(address, WRONG).await, 1);
    for wait in [1, 2, 4] {
        app.clock.advance(Duration::seconds(wait));
        app.try_login(address, WRONG)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(failed_checks(&app, address).await, 5);
    // At the ceiling only a reset unlocks: waiting does not, and the password is not checked.
    let r = app.try_login(address, PASSWORD).await;
    assert_rate_limited(&r, 15 * 60);
    app.clock.advance(Duration::days(30) - Duration::minutes(1));
    assert_rate_limited(&app.try_login(address, PASSWORD).await, 15 * 60);
    assert_rate_limited(&app.try_login(address, WRONG).await, 15 * 60);
    assert_eq!(failed_checks(&app, address).await, 5);
    reset_to_new_password(&app, address).await;
    let r = app.try_login(address, NEW_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn concurrent_wrong_passwords_are_each_counted_once(h: Harness) {
    let app = h.spawn().await;
    let address = "parallel@example.com";
    app.register(address).await;
    let replies = futures::future::join_all((0..200).map(|_| app.try_login(address, WRONG))).await;
    let mut failures = 0;
    for r in &replies {
        match r.status {
            401 => {
                r.assert_problem(401, "invalid_credentials");
                failures += 1;
            }
            429 => r.assert_problem(429, "rate_limited"),
            other => panic!("{other}: {}", r.text),
        }
    }
    assert_eq!(
        failures, 10,
        "the frozen clock allows the ten free failures only"
    );
    assert_eq!(
        failed_checks(&app, address).await,
        failures,
        "every checked attempt was counted, none twice"
    );
    app.shutdown().await;
}

// --- Per-address email limits ------------------------------------------------------------------

fn one_email_a_minute_five_an_hour(config: &mut AuthConfig) {
    config.limits.emails_per_address = RateLimit::per_minute(1);
    config.limits.emails_per_address_hourly = RateLimit::per_hour(5);
}

pub async fn forgot_and_resend_emails_are_limited_per_address(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(one_email_a_minute_five_an_hour),
            ..AppOptions::default()
        })
        .await;
    let known = "mailbox@example.com";
    let unknown = "nobody@example.com";
    app.register(known).await;
    app.wait_for_emails(known, EmailKind::VerifyEmail, 1).await;
    for (route, kind) in [
        ("/password/forgot", EmailKind::PasswordReset),
        ("/verify-email/resend", EmailKind::VerifyEmail),
    ] {
        let base = app.emails(known, kind).len();
        // Known and unknown addresses get the same answer at every step, limited or not.
        let ask = async |what: &str| {
            let k = app.post(route, &json!({ "email": known })).await;
            let u = app.post(route, &json!({ "email": unknown })).await;
            assert_eq!(k.status, 202, "{route} {what}: {}", k.text);
            k.assert_identical(&u, &format!("{route} {what}: known vs unknown"));
            k
        };
        let first = ask("first").await;
        let second = ask("second, same minute").await;
        first.assert_identical(&second, &format!("{route}: limited or not"));
        app.wait_for_emails(known, kind, base + 1).await;
        app.clock.advance(Duration::seconds(60));
        ask("a minute later").await;
        app.wait_for_emails(known, kind, base + 2).await;
        // The second request's email would have been sent before this one.
        app.assert_no_email(known, kind, base + 2).await;
        // Five an hour: three more a minute apart, then the sixth within the hour is dropped.
        for n in 3..=5 {
            app.clock.advance(Duration::seconds(60));
            ask("within the hour").await;
            app.wait_for_emails(known, kind, base + n).await;
        }
        app.clock.advance(Duration::seconds(60));
        ask("sixth within the hour").await;
        app.clock.advance(Duration::hours(1));
        ask("an hour later").await;
        app.wait_for_emails(known, kind, base + 6).await;
        app.assert_no_email(known, kind, base + 6).await;
    }
    assert!(
        app.mailer
            .messages()
            .iter()
            .all(|m| m.to.as_str() != unknown),
        "nothing is ever sent to an unknown address"
    );
    app.shutdown().await;
}

// --- Headers, CORS, cross-site requests --------------------------------------------------------

/// One answer of every kind the contract gives: 200, 201, 202, 204, 400, 401, 403, 404, 413,
/// 415, 422 and 429.
async fn every_kind_of_answer(app: &TestApp) -> Vec<(&'static str, Reply)> {
    let mut out = Vec::new();
    let r = app
        .post(
            "/register",
            &json!({ "email": "headers@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    out.push(("201 register", r));
    let r = app.try_login("headers@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let pair = r.json.clone();
    out.push(("200 login", r));
    let access = access_of(&pair);
    let r = app.me(&access).await;
    assert_eq!(r.status, 200, "{}", r.text);
    out.push(("200 me", r));
    let r = app
        .post(
            "/password/forgot",
            &json!({ "email": "headers@example.com" }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    out.push(("202 forgot", r));
    let r = app.try_refresh("not-a-refresh-token").await;
    r.assert_problem(400, "invalid_token");
    out.push(("400 refresh", r));
    let r = app.send(app.client.get(app.url("/users/me"))).await;
    r.assert_problem(401, "unauthorized");
    out.push(("401 me", r));
    let r = post_from(
        app,
        EVIL_ORIGIN,
        "/refresh",
        &json!({ "refresh_token": "x" }),
    )
    .await;
    r.assert_problem(403, "forbidden");
    out.push(("403 cross-site", r));
    let r = app
        .delete_auth(
            &format!("/users/me/sessions/{}", uuid::Uuid::now_v7()),
            &access,
        )
        .await;
    r.assert_problem(404, "not_found");
    out.push(("404 unknown session", r));
    let huge = json!({ "email": "a@example.com", "password": "p".repeat(1 << 20) });
    let r = app
        .send_oversized(|| app.client.post(app.url("/login")).json(&huge))
        .await;
    r.assert_problem(413, "payload_too_large");
    out.push(("413", r));
    let r = app
        .send(
            app.client
                .post(app.url("/login"))
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    r.assert_problem(415, "unsupported_media_type");
    out.push(("415", r));
    let r = app
        .post("/login", &json!({ "email": "headers@example.com" }))
        .await;
    r.assert_problem(422, "validation_failed");
    out.push(("422", r));
    for _ in 0..10 {
        app.try_login("throttled@example.com", WRONG).await;
    }
    let r = app.try_login("throttled@example.com", WRONG).await;
    r.assert_problem(429, "rate_limited");
    out.push(("429", r));
    let r = app.post_auth("/logout", &access, &json!({})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    out.push(("204 logout", r));
    out
}

pub async fn security_headers_on_every_kind_of_answer(h: Harness) {
    let app = h.spawn().await;
    for (what, r) in every_kind_of_answer(&app).await {
        assert_security_headers(&r, what);
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "{what}: no HSTS for an http public URL"
        );
    }
    app.shutdown().await;

    fn https(config: &mut AuthConfig) {
        config.public_url = "https://auth.example.com".to_owned();
    }
    let app = h
        .spawn_with(AppOptions {
            configure: Some(https),
            ..AppOptions::default()
        })
        .await;
    for (what, r) in every_kind_of_answer(&app).await {
        assert_security_headers(&r, what);
        let hsts = r.header("strict-transport-security").unwrap_or_else(|| {
            panic!("{what}: HSTS for an https public URL");
        });
        assert!(hsts.starts_with("max-age="), "{what}: {hsts}");
        let age: u64 = hsts["max-age=".len()..]
            .split(';')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(age >= 180 * 24 * 3600, "{what}: a lasting max-age: {hsts}");
    }
    app.shutdown().await;
}

fn app_origin(config: &mut AuthConfig) {
    config.cors_origins = vec![APP_ORIGIN.to_owned()];
}

/// `OPTIONS path` from `origin` asking for `method`.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Reply {
    app.send(
        app.client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            ),
    )
    .await
}

fn header_list(r: &Reply, name: &str) -> Vec<String> {
    r.headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

pub async fn cors_answers_only_allowed_origins(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(app_origin),
            ..AppOptions::default()
        })
        .await;
    let r = preflight(&app, "/login", APP_ORIGIN, "POST").await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP_ORIGIN));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let methods = header_list(&r, "access-control-allow-methods");
    assert!(methods.contains(&"post".to_owned()), "{methods:?}");
    let allowed = header_list(&r, "access-control-allow-headers");
    for needed in ["authorization", "content-type"] {
        assert!(allowed.contains(&needed.to_owned()), "{allowed:?}");
    }
    assert_security_headers(&r, "preflight");
    // The methods of the path: GET, PATCH and DELETE on /users/me.
    let r = preflight(&app, "/users/me", APP_ORIGIN, "PATCH").await;
    assert_eq!(r.header("access-control-allow-origin"), Some(APP_ORIGIN));
    let methods = header_list(&r, "access-control-allow-methods");
    for m in ["get", "patch", "delete"] {
        assert!(methods.contains(&m.to_owned()), "{methods:?}");
    }
    // A foreign origin, a look-alike, or a method the path does not serve: no grant.
    for (origin, method) in [
        (EVIL_ORIGIN, "POST"),
        ("https://app.example.com.evil.example", "POST"),
        ("http://app.example.com", "POST"),
        ("null", "POST"),
        (APP_ORIGIN, "DELETE"),
    ] {
        let r = preflight(&app, "/login", origin, method).await;
        assert!(r.status < 500, "{origin} {method}: {}", r.status);
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "{origin} {method}"
        );
        assert_eq!(r.header("access-control-allow-credentials"), None);
    }
    // Actual requests from the allowed origin carry the grant and `Vary: Origin`.
    app.register("cors@example.com").await;
    let r = post_from(
        &app,
        APP_ORIGIN,
        "/login",
        &json!({ "email": "cors@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP_ORIGIN));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(
        header_list(&r, "vary").contains(&"origin".to_owned()),
        "{:?}",
        r.headers
    );
    let r = app
        .send(
            app.client
                .get(app.url("/users/me"))
                .header("origin", APP_ORIGIN)
                .bearer_auth(access_of(&r.json)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP_ORIGIN));
    // Errors too, so that the browser lets the page read them.
    let r = post_from(
        &app,
        APP_ORIGIN,
        "/login",
        &json!({ "email": "cors@example.com", "password": WRONG }),
    )
    .await;
    r.assert_problem(401, "invalid_credentials");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP_ORIGIN));
    // A foreign origin: no grant, and a state change is refused (see the cross-site test).
    let r = app
        .send(
            app.client
                .get(app.url("/users/me"))
                .header("origin", EVIL_ORIGIN),
        )
        .await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert!(
        header_list(&r, "vary").contains(&"origin".to_owned()),
        "the answer depends on Origin: {:?}",
        r.headers
    );
    app.shutdown().await;
}

pub async fn cross_site_state_changes_are_forbidden(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(app_origin),
            ..AppOptions::default()
        })
        .await;
    let pair = app.signed_in("csrf@example.com").await;
    let rt = refresh_of(&pair);
    // The refresh cookie alone, sent by a foreign page: refused, and the token is not spent.
    let r = cookie_refresh(&app, &rt, &[("origin", EVIL_ORIGIN)]).await;
    r.assert_problem(403, "forbidden");
    assert!(r.set_cookies().is_empty());
    for extra in [
        [("origin", "null")].as_slice(),
        [("origin", "https://app.example.com.evil.example")].as_slice(),
        [("sec-fetch-site", "cross-site")].as_slice(),
    ] {
        cookie_refresh(&app, &rt, extra)
            .await
            .assert_problem(403, "forbidden");
    }
    // The public URL's origin, an allowed origin, this server's own origin and non-browser
    // clients (no Origin) are served; each refresh spends the token it used.
    let own = app.base.trim_end_matches("/api/v1").to_owned();
    let mut token = rt;
    for extra in [
        vec![("origin", PUBLIC_URL)],
        vec![("origin", APP_ORIGIN)],
        vec![("origin", own.as_str())],
        vec![("sec-fetch-site", "same-origin")],
        vec![],
    ] {
        let r = cookie_refresh(&app, &token, &extra).await;
        assert_eq!(r.status, 200, "{extra:?}: {}", r.text);
        token = refresh_of(&r.json);
    }
    // Logout, password change and admin routes from a foreign page: refused.
    let pair = app.login("csrf@example.com").await;
    let access = access_of(&pair);
    let r = app
        .send(
            app.client
                .post(app.url("/logout"))
                .bearer_auth(&access)
                .header("origin", EVIL_ORIGIN)
                .json(&json!({})),
        )
        .await;
    r.assert_problem(403, "forbidden");
    assert_eq!(app.me(&access).await.status, 200, "the session lives on");
    let r = app
        .send(
            app.client
                .post(app.url("/password/change"))
                .bearer_auth(&access)
                .header("origin", EVIL_ORIGIN)
                .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let admin = app.admin("csrf-admin@example.com").await;
    let r = app
        .send(
            app.client
                .post(app.url("/admin/roles"))
                .bearer_auth(access_of(&admin))
                .header("origin", EVIL_ORIGIN)
                .json(&json!({ "name": "evil", "permissions": ["users:read"] })),
        )
        .await;
    r.assert_problem(403, "forbidden");
    // Reads are not state changes.
    let r = app
        .send(
            app.client
                .get(app.url("/users/me"))
                .bearer_auth(&access)
                .header("origin", EVIL_ORIGIN),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .send(
            app.client
                .post(app.url("/logout"))
                .bearer_auth(&access)
                .header("origin", APP_ORIGIN)
                .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.shutdown().await;
}

/// SECURITY 48: what an HTML form or a `text/plain` fetch can send cross-site without a
/// preflight (a "simple" content type, no custom header) never refreshes with the cookie alone,
/// even without an Origin header (older browsers), and leaves the token unspent.
pub async fn cookie_refresh_refuses_form_content_types(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("form@example.com").await;
    let rt = refresh_of(&pair);
    for (content_type, body) in [
        ("application/x-www-form-urlencoded", ""),
        ("application/x-www-form-urlencoded", "a=b"),
        ("text/plain", ""),
        ("multipart/form-data; boundary=x", ""),
    ] {
        let r = app
            .send(
                app.client
                    .post(app.url("/refresh"))
                    .header("cookie", format!("authkit_refresh={rt}"))
                    .header("content-type", content_type)
                    .body(body),
            )
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{content_type} {body:?}: {} {}",
            r.status,
            r.json["code"]
        );
        assert!(r.set_cookies().is_empty(), "{content_type}");
    }
    let r = cookie_refresh(&app, &rt, &[]).await;
    assert_eq!(r.status, 200, "the token was not spent: {}", r.text);
    app.shutdown().await;
}

// --- Header size, hash pool, rehash ------------------------------------------------------------

pub async fn oversized_headers_are_431(h: Harness) {
    let app = h.spawn().await;
    let r = app
        .send(
            app.client
                .post(app.url("/login"))
                .header("x-filler", "a".repeat(20 * 1024))
                .json(&json!({ "email": "a@example.com", "password": WRONG })),
        )
        .await;
    r.assert_problem(431, "headers_too_large");
    assert_security_headers(&r, "431");
    // Many headers just under the limit add up.
    let mut request = app.client.get(app.url("/users/me"));
    for i in 0..20 {
        request = request.header(format!("x-filler-{i}"), "b".repeat(1000));
    }
    app.send(request)
        .await
        .assert_problem(431, "headers_too_large");
    // A normal request passes.
    app.send(app.client.get(app.url("/users/me")))
        .await
        .assert_problem(401, "unauthorized");
    app.shutdown().await;
}

/// Real argon2 cost (19 MiB, t = 2) on one worker with room for one waiting job.
fn one_slow_hash_worker() -> Argon2Hasher {
    Argon2Hasher::new(&Argon2Config {
        m_cost: 19456,
        t_cost: 2,
        p_cost: 1,
        workers: 1,
        queue: 1,
        ..Argon2Config::insecure_fast()
    })
    .unwrap()
}

pub async fn hash_pool_overload_is_503_not_500(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            hasher: Some(one_slow_hash_worker),
            ..AppOptions::default()
        })
        .await;
    // The first unknown-address login also makes the dummy hash.
    app.try_login("warm@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    // Distinct addresses, so the per-account throttle stays out of the way. A burst almost
    // always overflows a queue of one; a few bursts make sure without timing anything.
    let mut overloaded = 0;
    for round in 0..5 {
        let replies = futures::future::join_all(
            (0..16).map(|i| app.try_login(&format!("burst{round}-{i}@example.com"), WRONG)),
        )
        .await;
        for r in &replies {
            match r.status {
                401 => r.assert_problem(401, "invalid_credentials"),
                503 => {
                    r.assert_problem(503, "unavailable");
                    let wait: u64 = r
                        .header("retry-after")
                        .unwrap_or_else(|| panic!("503 without Retry-After"))
                        .parse()
                        .unwrap();
                    assert!(wait >= 1);
                    overloaded += 1;
                }
                other => panic!("{other}: {}", r.text),
            }
        }
        assert!(
            replies.iter().any(|r| r.status == 401),
            "the pool keeps serving"
        );
        if overloaded > 0 {
            break;
        }
    }
    assert!(overloaded > 0, "16 logins at once overflow a pool of 1 + 1");
    app.shutdown().await;
}

async fn stored_hash(app: &TestApp, address: &str) -> String {
    app.kit
        .store()
        .credentials_by_email(&email(address))
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .expose()
        .to_owned()
}

async fn import(app: &TestApp, address: &str, hash: &str) {
    app.kit
        .import_user(
            &RequestContext::default(),
            ImportUser {
                email: email(address),
                password_hash: PasswordHash::new(hash),
                email_verified: false,
                display_name: None,
                locale: None,
            },
        )
        .await
        .unwrap();
}

/// The PHC prefix of the test apps' hasher (`Argon2Config::insecure_fast`).
const TEST_HASH_PREFIX: &str = "$argon2id$v=19$m=8,t=1,p=1$";

pub async fn imported_hashes_are_upgraded_on_login(h: Harness) {
    let app = h.spawn().await;
    // bcrypt from another system.
    let bcrypt_hash = bcrypt::hash(PASSWORD, 4).unwrap();
    import(&app, "bcrypt@example.com", &bcrypt_hash).await;
    app.try_login("bcrypt@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(
        stored_hash(&app, "bcrypt@example.com").await,
        bcrypt_hash,
        "a failed login never rewrites the hash"
    );
    let r = app.try_login("bcrypt@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let upgraded = stored_hash(&app, "bcrypt@example.com").await;
    assert!(upgraded.starts_with(TEST_HASH_PREFIX), "{upgraded}");
    let r = app.try_login("bcrypt@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "the new hash verifies: {}", r.text);
    assert_eq!(stored_hash(&app, "bcrypt@example.com").await, upgraded);

    // bcrypt reads 72 bytes; a longer password never logs in (no silent truncation).
    let long = "Tr0ub4dor&3 ".repeat(9);
    assert!(long.len() > 72);
    let truncated_hash = bcrypt::hash(&long, 4).unwrap();
    import(&app, "long-bcrypt@example.com", &truncated_hash).await;
    for password in [long.as_str(), &format!("{}different tail", &long[..72])] {
        app.try_login("long-bcrypt@example.com", password)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    assert_eq!(
        stored_hash(&app, "long-bcrypt@example.com").await,
        truncated_hash
    );

    // argon2 with other parameters: replaced by the current ones on login.
    let older = Argon2Hasher::new(&Argon2Config {
        m_cost: 16,
        ..Argon2Config::insecure_fast()
    })
    .unwrap();
    let old_hash = older
        .hash(&authkit_core::domain::Password::new(PASSWORD))
        .await
        .unwrap()
        .expose()
        .to_owned();
    assert!(old_hash.starts_with("$argon2id$v=19$m=16,t=1,p=1$"));
    import(&app, "argon@example.com", &old_hash).await;
    app.try_login("argon@example.com", WRONG)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(stored_hash(&app, "argon@example.com").await, old_hash);
    let r = app.try_login("argon@example.com", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let upgraded = stored_hash(&app, "argon@example.com").await;
    assert!(upgraded.starts_with(TEST_HASH_PREFIX), "{upgraded}");
    app.shutdown().await;
}
