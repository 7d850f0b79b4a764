//! Secrets never reach a log line, nor the database in raw form.

use authkit_core::domain::TokenHash;
use authkit_core::ports::EmailKind;
use serde_json::json;

use crate::app::{access_of, refresh_of};
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

/// SECURITY item 37: the stored data, every row of every table as a dump shows them, holds no
/// password and no raw token. Refresh and one-time tokens appear only as their SHA-256 (the
/// live ones are found that way: the dump does show binary columns), access tokens not at all.
/// The outbox holds a one-time link until its email is sent, so the dump is taken once the
/// outbox is idle.
pub async fn no_raw_token_in_a_database_dump(h: Harness) {
    let app = h.spawn().await;
    let email = "dump@example.com";
    let pair = app.signed_in(email).await;
    let verify = app.token_in(email, EmailKind::VerifyEmail).await;
    let r = app.post("/verify-email", &json!({ "token": verify })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt1 = refresh_of(&pair);
    let refreshed = app.post("/refresh", &json!({ "refresh_token": rt1 })).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let rt2 = refresh_of(&refreshed.json);
    let r = app
        .post("/password/forgot", &json!({ "email": email }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let reset = app.token_in(email, EmailKind::PasswordReset).await;
    app.wait_for_outbox_idle().await;

    let dump = app.dump_database().await;
    let lower = dump.to_lowercase();
    // The live tokens are stored, as their hashes; the session's selector as it is.
    for live in [&rt2, &reset] {
        assert!(
            lower.contains(&hex(TokenHash::of(live).as_bytes())),
            "the dump lacks a live token's hash: it does not show the stored data"
        );
    }
    assert!(lower.contains(&hex(&decode(&rt2)[..16])), "the selector");
    for secret in [PASSWORD, &verify, &rt1, &rt2, &reset] {
        assert!(!dump.contains(secret), "a password or token is stored raw");
    }
    for access in [access_of(&pair), access_of(&refreshed.json)] {
        let signature = access.rsplit('.').next().unwrap().to_owned();
        assert!(!dump.contains(&signature), "an access token is stored");
    }
    // Nor their random bytes in binary form: a token's last 32 bytes are its secret.
    for token in [&verify, &rt1, &rt2, &reset] {
        let bytes = decode(token);
        assert!(
            !lower.contains(&hex(&bytes[bytes.len() - 32..])),
            "a token's secret bytes are stored"
        );
    }
    app.shutdown().await;
}

fn decode(token: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("tokens are base64url")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
