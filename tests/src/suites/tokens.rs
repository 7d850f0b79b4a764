//! Access-token verification: forged, expired, wrong audience/issuer, `alg: none`, wrong `typ`,
//! key material in the header, key confusion.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use time::Duration;

use crate::app::{TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET};
use crate::{AppOptions, Harness, Keys};

/// The (unverified) claims of a JWT.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The (unverified) header of a JWT.
pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Signs `header.claims` with an HMAC key (HS256/384/512 as the header says).
pub fn forge(header: &Value, claims: &Value, key: &[u8], alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(key), alg)
        .unwrap();
    format!("{message}.{sig}")
}

pub async fn forged_and_malformed_tokens_are_401(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("jwt@example.com").await;
    let token = pair["access_token"].as_str().unwrap().to_owned();
    let header = header_of(&token);
    let claims = claims_of(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].is_string());
    // The genuine token, re-signed by us with the right key, is accepted: the harness works.
    let same = forge(&header, &claims, TEST_SECRET, Algorithm::HS256);
    assert_eq!(app.me(&same).await.status, 200);

    let with = |patch: Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let without = |field: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let hdr = |patch: Value| {
        let mut hd = header.clone();
        for (k, v) in patch.as_object().unwrap() {
            hd[k] = v.clone();
        }
        hd
    };
    let now = claims["iat"].as_i64().unwrap();
    let mut bad: Vec<(&str, String)> = vec![
        (
            "wrong audience",
            forge(
                &header,
                &with(json!({"aud": "other"})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "missing audience",
            forge(&header, &without("aud"), TEST_SECRET, Algorithm::HS256),
        ),
        (
            "wrong issuer",
            forge(
                &header,
                &with(json!({"iss": "https://evil.test"})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "missing issuer",
            forge(&header, &without("iss"), TEST_SECRET, Algorithm::HS256),
        ),
        (
            "missing exp",
            forge(&header, &without("exp"), TEST_SECRET, Algorithm::HS256),
        ),
        (
            "missing nbf",
            forge(&header, &without("nbf"), TEST_SECRET, Algorithm::HS256),
        ),
        (
            "missing sub",
            forge(&header, &without("sub"), TEST_SECRET, Algorithm::HS256),
        ),
        (
            "exp as string",
            forge(
                &header,
                &with(json!({"exp": "99999999999"})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "exp as float",
            forge(
                &header,
                &with(json!({"exp": 1.5e12})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "exp null",
            forge(
                &header,
                &with(json!({"exp": null})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "expired",
            forge(
                &header,
                &with(json!({"exp": now - 31})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "not yet valid",
            forge(
                &header,
                &with(json!({"nbf": now + 120})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "other user",
            forge(
                &header,
                &with(json!({"sub": uuid::Uuid::now_v7().to_string()})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "other session",
            forge(
                &header,
                &with(json!({"sid": uuid::Uuid::now_v7().to_string()})),
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "other deployment's secret",
            forge(
                &header,
                &claims,
                b"another-deployment-secret-0123456789",
                Algorithm::HS256,
            ),
        ),
        (
            "typ JWT",
            forge(
                &hdr(json!({"typ": "JWT"})),
                &claims,
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        ("no typ", {
            let mut hd = header.clone();
            hd.as_object_mut().unwrap().remove("typ");
            forge(&hd, &claims, TEST_SECRET, Algorithm::HS256)
        }),
        (
            "HS512",
            forge(
                &hdr(json!({"alg": "HS512"})),
                &claims,
                TEST_SECRET,
                Algorithm::HS512,
            ),
        ),
        (
            "unknown kid",
            forge(
                &hdr(json!({"kid": "../../dev/null"})),
                &claims,
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "sql kid",
            forge(
                &hdr(json!({"kid": "' OR 1=1--"})),
                &claims,
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        ("no kid", {
            let mut hd = header.clone();
            hd.as_object_mut().unwrap().remove("kid");
            forge(&hd, &claims, TEST_SECRET, Algorithm::HS256)
        }),
        (
            "jku",
            forge(
                &hdr(json!({"jku": "http://127.0.0.1:9/jwks"})),
                &claims,
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "jwk",
            forge(
                &hdr(json!({"jwk": {"kty": "oct", "k": "AA"}})),
                &claims,
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "x5u",
            forge(
                &hdr(json!({"x5u": "http://127.0.0.1:9/x"})),
                &claims,
                TEST_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "alg none",
            format!("{}.{}.", b64(&hdr(json!({"alg": "none"}))), b64(&claims)),
        ),
        (
            "alg none, no dot",
            format!("{}.{}", b64(&hdr(json!({"alg": "none"}))), b64(&claims)),
        ),
        ("garbage", "a.b.c".to_owned()),
        ("empty", String::new()),
    ];
    // Flipping bits anywhere breaks the token.
    for part in 0..3 {
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let bytes = flip_char(&parts[part]);
        parts[part] = bytes;
        bad.push(("bit flip", parts.join(".")));
    }
    for (what, forged) in &bad {
        let r = app.me(forged).await;
        assert_eq!(r.status, 401, "{what} was accepted: {}", r.text);
        r.assert_problem(401, "unauthorized");
    }
    app.shutdown().await;
}

/// Changes one character of a base64url segment (still valid base64url).
fn flip_char(segment: &str) -> String {
    let mut chars: Vec<char> = segment.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

pub async fn expired_access_token_is_401_after_the_leeway(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("late@example.com").await;
    let token = pair["access_token"].as_str().unwrap();
    app.clock.advance(Duration::seconds(900 + 20));
    assert_eq!(app.me(token).await.status, 200, "within the 30 s leeway");
    app.clock.advance(Duration::seconds(15));
    app.me(token).await.assert_problem(401, "unauthorized");
    app.shutdown().await;
}

pub async fn eddsa_tokens_and_key_confusion(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            keys: Keys::Ed25519,
            ..AppOptions::default()
        })
        .await;
    let pair = app.signed_in("ed@example.com").await;
    let token = pair["access_token"].as_str().unwrap();
    let header = header_of(token);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(app.me(token).await.status, 200);
    let jwks = app.kit.jwks();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
    let public = URL_SAFE_NO_PAD.decode(x).unwrap();
    let claims = claims_of(token);
    let hs_header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": header["kid"] });
    // HS256 with the public key (raw bytes, or its base64url text) as the MAC key is refused.
    for key in [public.clone(), x.as_bytes().to_vec()] {
        let forged = forge(&hs_header, &claims, &key, Algorithm::HS256);
        app.me(&forged).await.assert_problem(401, "unauthorized");
    }
    // An HS256 token from the test secret is refused by an EdDSA deployment.
    let hs = forge(&hs_header, &claims, TEST_SECRET, Algorithm::HS256);
    app.me(&hs).await.assert_problem(401, "unauthorized");
    assert_eq!(
        (TEST_ISSUER, TEST_AUDIENCE),
        (
            claims["iss"].as_str().unwrap(),
            claims["aud"].as_str().unwrap()
        )
    );
    app.shutdown().await;
}
