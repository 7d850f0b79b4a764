//! Secrets never reach a log line.

use serde_json::json;

use crate::{Harness, PASSWORD};

pub async fn no_secret_is_ever_logged(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("logs@example.com").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let rt1 = pair["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = app.post("/refresh", &json!({ "refresh_token": rt1 })).await;
    let rt2 = refreshed.json["refresh_token"].as_str().unwrap().to_owned();
    let access2 = refreshed.json["access_token"].as_str().unwrap().to_owned();
    // Failures log too: wrong password, reuse, bad tokens.
    let wrong_password = "a wrong password that must not be logged";
    app.post(
        "/login",
        &json!({ "email": "logs@example.com", "password": wrong_password }),
    )
    .await;
    app.post("/refresh", &json!({ "refresh_token": rt1 })).await;
    app.me(&access2).await;
    app.post_auth("/logout", &access2, &json!({})).await;
    let r = app
        .post(
            "/register",
            &json!({ "email": "logs2@example.com", "password": 12345 }),
        )
        .await;
    assert_eq!(r.status, 400);
    let logs = crate::logs::captured();
    assert!(logs.contains("authkit::audit"), "audit events are logged");
    assert!(logs.contains("login_failed"));
    assert!(logs.contains("refresh_reuse"));
    for secret in [PASSWORD, wrong_password, &access, &access2, &rt1, &rt2] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    // Neither the signature of a token nor the test secret.
    let sig = access.rsplit('.').next().unwrap();
    assert!(!logs.contains(sig));
    assert!(!logs.contains(std::str::from_utf8(crate::app::TEST_SECRET).unwrap()));
    assert!(!logs.contains("$argon2id$"), "no password hash in logs");
    app.shutdown().await;
}
