//! Helpers shared by the server, binary and SMTP-flow tests: the end-to-end auth flow over
//! HTTP, the server binary as a child process ([`process`]), the server in-process
//! ([`running`]), fresh PostgreSQL databases ([`postgres`]), a PostgreSQL cluster of a test's
//! own that it can stop and start ([`pg_cluster`]) and an SMTP receiver ([`smtp`]).
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

pub(crate) mod pg_cluster;
pub(crate) mod postgres;
pub(crate) mod process;
pub(crate) mod running;
pub(crate) mod smtp;

use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// At least 15 characters, not a common password.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A fresh address per call, so that flows can share a database.
pub(crate) fn unique_email() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ada{}-{}@example.com",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A client without a cookie store: the refresh token travels in the body.
pub(crate) fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn json_of(response: reqwest::Response, expected: StatusCode, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{what}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// `/health`, `/ready` (database ok) and the JWKS (`okp_keys` Ed25519 keys).
pub(crate) async fn check_ops(base: &str, okp_keys: usize) {
    let client = client();
    let health = json_of(
        client.get(format!("{base}/health")).send().await.unwrap(),
        StatusCode::OK,
        "GET /health",
    )
    .await;
    assert_eq!(health, json!({"status": "ok"}));
    let ready = json_of(
        client.get(format!("{base}/ready")).send().await.unwrap(),
        StatusCode::OK,
        "GET /ready",
    )
    .await;
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"], json!({"database": "ok"}));
    for status in ["queued", "processing", "sent", "dropped", "abandoned"] {
        assert!(
            ready["outbox"][status].is_u64(),
            "/ready lacks outbox.{status}: {ready}"
        );
    }
    let jwks = json_of(
        client
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
        "GET /.well-known/jwks.json",
    )
    .await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), okp_keys, "{jwks}");
    for key in keys {
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert!(key.get("d").is_none(), "private key published: {key}");
    }
}

/// What a flow used, so callers can check logs for leaks.
pub(crate) struct FlowSecrets {
    /// Every access token issued.
    pub(crate) access_tokens: Vec<String>,
    /// Every refresh token issued.
    pub(crate) refresh_tokens: Vec<String>,
}

/// Register → login → /users/me → refresh → logout → the old access tokens get 401.
pub(crate) async fn auth_flow(base: &str) -> FlowSecrets {
    let client = client();
    let api = format!("{base}/api/v1");
    let email = unique_email();

    let registered = json_of(
        client
            .post(format!("{api}/register"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
        "POST /register",
    )
    .await;
    assert_eq!(registered["user"]["email"], email.as_str());
    assert_eq!(registered["user"]["roles"], json!(["user"]));

    let login = json_of(
        client
            .post(format!("{api}/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
        "POST /login",
    )
    .await;
    assert_eq!(login["token_type"], "Bearer");
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();

    let me = json_of(
        client
            .get(format!("{api}/users/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
        "GET /users/me",
    )
    .await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["id"], registered["user"]["id"]);

    let refreshed = json_of(
        client
            .post(format!("{api}/refresh"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
        "POST /refresh",
    )
    .await;
    let access2 = refreshed["access_token"].as_str().unwrap().to_owned();
    let refresh2 = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh, "the refresh token rotates");

    let logout = client
        .post(format!("{api}/logout"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT, "POST /logout");

    for (which, token) in [("first", &access), ("refreshed", &access2)] {
        let response = client
            .get(format!("{api}/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "the {which} access token still works after logout"
        );
        assert!(
            response.headers().contains_key("www-authenticate"),
            "401 without WWW-Authenticate"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "unauthorized");
    }

    FlowSecrets {
        access_tokens: vec![access, access2],
        refresh_tokens: vec![refresh, refresh2],
    }
}
