//! `POST /refresh`: rotation, strict single use, reuse detection, expiry, the cookie.

use serde_json::{Value, json};
use time::Duration;

use crate::{Harness, PASSWORD};

fn refresh_token(pair: &Value) -> String {
    pair["refresh_token"].as_str().unwrap().to_owned()
}

fn access_token(pair: &Value) -> String {
    pair["access_token"].as_str().unwrap().to_owned()
}

pub async fn rotates_and_spends_the_old_token(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("rot@example.com").await;
    let rt1 = refresh_token(&pair);
    let r = app.post("/refresh", &json!({ "refresh_token": rt1 })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt2 = refresh_token(&r.json);
    assert_ne!(rt1, rt2);
    assert_eq!(r.json["user"]["email"], "rot@example.com");
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with(&format!("authkit_refresh={rt2};")))
    );
    let new_access = access_token(&r.json);
    assert_eq!(app.me(&new_access).await.status, 200);
    let old_claims = crate::suites::tokens::claims_of(&access_token(&pair));
    let new_claims = crate::suites::tokens::claims_of(&new_access);
    assert_eq!(old_claims["sid"], new_claims["sid"], "same session");
    assert_ne!(old_claims["jti"], new_claims["jti"]);
    app.shutdown().await;
}

pub async fn reuse_revokes_the_whole_session(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("reuse@example.com").await;
    let other_device = app.login("reuse@example.com").await;
    let rt1 = refresh_token(&pair);
    let r2 = app.post("/refresh", &json!({ "refresh_token": rt1 })).await;
    let rt2 = refresh_token(&r2.json);
    let r3 = app.post("/refresh", &json!({ "refresh_token": rt2 })).await;
    let rt3 = refresh_token(&r3.json);
    let access3 = access_token(&r3.json);
    assert_eq!(app.me(&access3).await.status, 200);

    app.post("/refresh", &json!({ "refresh_token": rt1 }))
        .await
        .assert_problem(400, "invalid_token");
    // The head of the family and the session's access tokens die with it.
    app.post("/refresh", &json!({ "refresh_token": rt3 }))
        .await
        .assert_problem(400, "invalid_token");
    app.me(&access3).await.assert_problem(401, "unauthorized");
    app.me(&access_token(&pair))
        .await
        .assert_problem(401, "unauthorized");
    // Another device's session is untouched.
    assert_eq!(app.me(&access_token(&other_device)).await.status, 200);
    let r = app
        .post(
            "/refresh",
            &json!({ "refresh_token": refresh_token(&other_device) }),
        )
        .await;
    assert_eq!(r.status, 200);
    app.shutdown().await;
}

/// A token made up from a session's selector (its first 16 bytes) and another secret is taken
/// for reuse: 400, and the session is over, its real token and access tokens included. The
/// user's other session is untouched.
pub async fn a_made_up_secret_with_a_sessions_selector_revokes_it(h: Harness) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = h.spawn().await;
    let pair = app.signed_in("madeup@example.com").await;
    let other_device = app.login("madeup@example.com").await;
    let rt = refresh_token(&pair);
    let mut bytes = b64.decode(&rt).expect("base64url");
    assert_eq!(bytes.len(), 48, "a 16-byte selector and a 32-byte secret");
    for b in &mut bytes[16..] {
        *b = !*b;
    }
    app.post("/refresh", &json!({ "refresh_token": b64.encode(&bytes) }))
        .await
        .assert_problem(400, "invalid_token");
    app.post("/refresh", &json!({ "refresh_token": rt }))
        .await
        .assert_problem(400, "invalid_token");
    app.me(&access_token(&pair))
        .await
        .assert_problem(401, "unauthorized");
    let r = app
        .post(
            "/refresh",
            &json!({ "refresh_token": refresh_token(&other_device) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn concurrent_refreshes_give_exactly_one_success(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("race@example.com").await;
    let rt = refresh_token(&pair);
    let replies = futures::future::join_all(
        (0..16).map(|_| app.post("/refresh", &json!({ "refresh_token": rt }))),
    )
    .await;
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_problem(400, "invalid_token");
    }
    app.shutdown().await;
}

pub async fn cookie_refresh_works(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("cookie@example.com").await;
    let rt = refresh_token(&pair);
    let r = app
        .send(
            app.client
                .post(app.url("/refresh"))
                .header("cookie", format!("theme=dark; authkit_refresh={rt}")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The body wins over the cookie; an empty JSON body falls back to the cookie.
    let rt2 = refresh_token(&r.json);
    let r = app
        .send(
            app.client
                .post(app.url("/refresh"))
                .header("cookie", format!("authkit_refresh={rt2}"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.shutdown().await;
}

pub async fn bad_refresh_tokens_are_400(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("bad@example.com").await;
    for body in [
        json!({}),
        json!({ "refresh_token": "" }),
        json!({ "refresh_token": "   " }),
        json!({ "refresh_token": "nope" }),
        json!({ "refresh_token": refresh_token(&pair).to_uppercase() }),
        json!({ "refresh_token": access_token(&pair) }),
        json!({ "refresh_token": "x".repeat(5000) }),
    ] {
        app.post("/refresh", &body)
            .await
            .assert_problem(400, "invalid_token");
    }
    app.post("/refresh", &json!({ "refresh_token": 42 }))
        .await
        .assert_problem(400, "malformed_request");
    let r = app.send(app.client.post(app.url("/refresh"))).await;
    r.assert_problem(400, "invalid_token");
    app.shutdown().await;
}

pub async fn sessions_expire_idle_and_absolute(h: Harness) {
    let app = h.spawn().await;
    app.register("exp@example.com").await;
    // Without remember_me the session dies after 24 h however often it is refreshed.
    let mut rt = refresh_token(&app.login("exp@example.com").await);
    for _ in 0..3 {
        app.clock.advance(Duration::hours(7));
        let r = app.post("/refresh", &json!({ "refresh_token": rt })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        rt = refresh_token(&r.json);
    }
    app.clock.advance(Duration::hours(4));
    app.post("/refresh", &json!({ "refresh_token": rt }))
        .await
        .assert_problem(400, "invalid_token");

    // With remember_me: unused for 14 days it dies (idle)...
    let login = |remember: bool| {
        app.post(
            "/login",
            &json!({ "email": "exp@example.com", "password": PASSWORD, "remember_me": remember }),
        )
    };
    let idle = refresh_token(&login(true).await.json);
    app.clock.advance(Duration::days(14) + Duration::seconds(1));
    app.post("/refresh", &json!({ "refresh_token": idle }))
        .await
        .assert_problem(400, "invalid_token");
    // ...and refreshed every 10 days it still dies at 30 days (absolute).
    let mut rt = refresh_token(&login(true).await.json);
    for _ in 0..2 {
        app.clock.advance(Duration::days(10));
        let r = app.post("/refresh", &json!({ "refresh_token": rt })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        rt = refresh_token(&r.json);
    }
    app.clock.advance(Duration::days(10));
    app.post("/refresh", &json!({ "refresh_token": rt }))
        .await
        .assert_problem(400, "invalid_token");
    // Passwords never expire (no forced rotation).
    app.clock.advance(Duration::days(400));
    app.login("exp@example.com").await;
    app.shutdown().await;
}
