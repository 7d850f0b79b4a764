//! `POST /register`.

use serde_json::json;

use crate::{Harness, PASSWORD};

pub async fn creates_user_with_user_role(h: Harness) {
    let app = h.spawn().await;
    let r = app
        .post(
            "/register",
            &json!({ "email": "  Ada@Example.COM ", "password": PASSWORD, "display_name": "Ada" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let user = &r.json["user"];
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["display_name"], "Ada");
    assert_eq!(user["status"], "active");
    assert_eq!(user["roles"], json!(["user"]));
    assert!(user["last_login_at"].is_null());
    assert!(
        user["locale"].is_null(),
        "no locale chosen: the service default"
    );
    let id = user["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    for ts in ["created_at", "updated_at"] {
        let v = user[ts].as_str().unwrap();
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).unwrap();
    }
    assert!(!r.text.contains("argon2") && !r.text.contains(PASSWORD));
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        10,
        "exactly the user object of API.md plus `locale`, nothing more: {keys:?}"
    );
    app.shutdown().await;
}

pub async fn duplicate_email_is_409_case_insensitively(h: Harness) {
    let app = h.spawn().await;
    app.register("dup@example.com").await;
    let r = app
        .post(
            "/register",
            &json!({ "email": "DUP@example.com", "password": "another long password" }),
        )
        .await;
    r.assert_problem(409, "email_taken");
    app.shutdown().await;
}

pub async fn invalid_fields_are_422_with_reasons(h: Harness) {
    let app = h.spawn().await;
    let cases = [
        (
            json!({ "email": "a@example.com", "password": "short" }),
            "password",
            "too_short",
        ),
        (
            json!({ "email": "a@example.com", "password": "x".repeat(129) }),
            "password",
            "too_long",
        ),
        (
            json!({ "email": "a@example.com", "password": "passwordpassword" }),
            "password",
            "common_password",
        ),
        (
            json!({ "email": "a@example.com", "password": "123456789012345" }),
            "password",
            "common_password",
        ),
        (
            json!({ "email": "a@example.com", "password": "1qaz2wsx3edc4rfv" }),
            "password",
            "common_password",
        ),
        (
            json!({ "email": "not-an-email", "password": PASSWORD }),
            "email",
            "invalid_email",
        ),
        (json!({ "password": PASSWORD }), "email", "required"),
        (json!({ "email": "a@example.com" }), "password", "required"),
        (
            json!({ "email": "a@example.com", "password": null }),
            "password",
            "required",
        ),
        (
            json!({ "email": "someone.long@example.com", "password": "Someone.Long@example.com" }),
            "password",
            "context_word",
        ),
        (
            json!({ "email": "someone.longname@example.com", "password": "someone.longname" }),
            "password",
            "context_word",
        ),
    ];
    for (body, field, code) in cases {
        let r = app.post("/register", &body).await;
        r.assert_problem(422, "validation_failed");
        let errors = r.json["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{body} -> {}",
            r.text
        );
    }
    // Exactly min_len (15) and max_len (128) code points are accepted, emoji counted as one.
    let exact = [
        "tangerine-oak-7".to_owned(),
        format!("{}x", "é".repeat(127)),
        format!("{}🎉", "😀".repeat(14)),
    ];
    for (i, pw) in exact.iter().enumerate() {
        let r = app
            .post(
                "/register",
                &json!({ "email": format!("len{i}@example.com"), "password": pw }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.shutdown().await;
}

pub async fn concurrent_registrations_create_one_account(h: Harness) {
    let app = h.spawn().await;
    let replies = futures::future::join_all((0..8).map(|i| {
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@Example.com"
        };
        app.post(
            "/register",
            &json!({ "email": email, "password": PASSWORD }),
        )
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let taken = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, taken), (1, 7), "{replies:?}");
    app.login("race@example.com").await;
    app.shutdown().await;
}

pub async fn client_cannot_assign_roles_or_verification(h: Harness) {
    let app = h.spawn().await;
    let r = app
        .post(
            "/register",
            &json!({
                "email": "mass@example.com", "password": PASSWORD,
                "roles": ["admin"], "email_verified": true, "status": "disabled",
                "id": "00000000-0000-7000-8000-000000000000",
            }),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json["user"]["roles"], json!(["user"]));
    assert_eq!(r.json["user"]["email_verified"], false);
    assert_eq!(r.json["user"]["status"], "active");
    assert_ne!(r.json["user"]["id"], "00000000-0000-7000-8000-000000000000");
    let pair = app.login("mass@example.com").await;
    let claims = crate::suites::tokens::claims_of(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["perms"], json!([]));
    app.shutdown().await;
}
