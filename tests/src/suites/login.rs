//! `POST /login`.

use serde_json::json;

use crate::{AppOptions, Harness, PASSWORD};

pub async fn returns_token_pair_and_cookie(h: Harness) {
    let app = h.spawn().await;
    app.register("ada@example.com").await;
    let r = app
        .post(
            "/login",
            &json!({ "email": "ADA@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = &r.json;
    assert_eq!(p["token_type"], "Bearer");
    assert_eq!(p["expires_in"], 900);
    assert_eq!(
        p["refresh_expires_in"],
        24 * 3600,
        "no remember_me: 24 h absolute"
    );
    assert_eq!(p["user"]["email"], "ada@example.com");
    assert!(p["user"]["last_login_at"].is_string());
    let refresh = p["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh.len(),
        64,
        "base64url of a 128-bit selector and a 256-bit secret"
    );
    assert!(
        refresh
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{refresh}"
    );
    let cookies = r.set_cookies();
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("authkit_refresh="))
        .expect("refresh cookie");
    assert!(cookie.starts_with(&format!("authkit_refresh={refresh};")));
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));

    let claims = crate::suites::tokens::claims_of(p["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], p["user"]["id"]);
    assert_eq!(claims["roles"], json!(["user"]));
    assert_eq!(claims["perms"], json!([]));
    assert_eq!(claims["email_verified"], false);
    for c in ["iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp"] {
        assert!(!claims[c].is_null(), "claim {c} missing");
    }
    let remember = app
        .post(
            "/login",
            &json!({ "email": "ada@example.com", "password": PASSWORD, "remember_me": true }),
        )
        .await;
    assert_eq!(
        remember.json["refresh_expires_in"],
        14 * 24 * 3600,
        "idle expiry first"
    );
    app.shutdown().await;
}

pub async fn wrong_password_and_unknown_email_are_identical_401(h: Harness) {
    let app = h.spawn().await;
    app.register("known@example.com").await;
    let wrong = app
        .post(
            "/login",
            &json!({ "email": "known@example.com", "password": "not the password at all" }),
        )
        .await;
    let unknown = app
        .post(
            "/login",
            &json!({ "email": "nobody@example.com", "password": "not the password at all" }),
        )
        .await;
    wrong.assert_problem(401, "invalid_credentials");
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong.text, unknown.text, "byte-identical bodies");
    let names = |r: &crate::Reply| {
        let mut n: Vec<String> = r
            .headers
            .keys()
            .map(|k| k.to_string())
            .filter(|k| k != "date")
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&wrong), names(&unknown));
    assert!(wrong.header("www-authenticate").is_none());
    assert!(wrong.set_cookies().is_empty());
    app.shutdown().await;
}

pub async fn password_is_not_truncated_or_transformed(h: Harness) {
    let app = h.spawn().await;
    let long: String = "Tr0ub4dor&3 ".repeat(9);
    let r = app
        .post(
            "/register",
            &json!({ "email": "long@example.com", "password": long }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for variant in [
        &long[..72],
        &long[..64],
        &long.to_uppercase(),
        long.trim_end(),
    ] {
        let r = app
            .post(
                "/login",
                &json!({ "email": "long@example.com", "password": variant }),
            )
            .await;
        r.assert_problem(401, "invalid_credentials");
    }
    let ok = app
        .post(
            "/login",
            &json!({ "email": "long@example.com", "password": long }),
        )
        .await;
    assert_eq!(ok.status, 200);
    // NFKC: the NFD form of a password registered in NFC logs in.
    let nfc = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
    let nfd = "cafe\u{301} au lait, s'il vous plai\u{302}t";
    app.post(
        "/register",
        &json!({ "email": "nfc@example.com", "password": nfc }),
    )
    .await;
    let r = app
        .post(
            "/login",
            &json!({ "email": "nfc@example.com", "password": nfd }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The length limit applies to the NFKC form: 127 "é" and an "x" typed decomposed (255 code points)
    // is the registered 128-character password.
    let max_nfc = format!("{}x", "\u{e9}".repeat(127));
    let max_nfd = format!("{}x", "e\u{301}".repeat(127));
    let r = app
        .post(
            "/register",
            &json!({ "email": "max@example.com", "password": max_nfc }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/login",
            &json!({ "email": "max@example.com", "password": max_nfd }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Over the limit is refused like any wrong password.
    let r = app
        .post(
            "/login",
            &json!({ "email": "max@example.com", "password": "\u{e9}".repeat(129) }),
        )
        .await;
    r.assert_problem(401, "invalid_credentials");
    app.shutdown().await;
}

pub async fn missing_fields_are_422(h: Harness) {
    let app = h.spawn().await;
    let r = app
        .post("/login", &json!({ "email": "a@example.com" }))
        .await;
    r.assert_problem(422, "validation_failed");
    let r = app.post("/login", &json!({ "password": PASSWORD })).await;
    r.assert_problem(422, "validation_failed");
    let r = app
        .post(
            "/login",
            &json!({ "email": "a@example.com", "password": PASSWORD, "remember_me": "yes" }),
        )
        .await;
    r.assert_problem(400, "malformed_request");
    app.shutdown().await;
}

pub async fn unverified_email_is_403_only_after_correct_password(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            require_verified_email: true,
            ..AppOptions::default()
        })
        .await;
    app.register("unverified@example.com").await;
    let wrong = app
        .post(
            "/login",
            &json!({ "email": "unverified@example.com", "password": "a wrong password!!" }),
        )
        .await;
    wrong.assert_problem(401, "invalid_credentials");
    let right = app
        .post(
            "/login",
            &json!({ "email": "unverified@example.com", "password": PASSWORD }),
        )
        .await;
    right.assert_problem(403, "email_not_verified");
    assert!(right.set_cookies().is_empty());
    app.shutdown().await;
}
