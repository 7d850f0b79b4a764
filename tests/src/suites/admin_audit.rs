//! `GET /admin/audit`: admin actions recorded with actor and subject, filters, keyset
//! pagination newest first, and no secret in any event (SECURITY 64).

use std::collections::BTreeSet;

use authkit_core::ports::EmailKind;
use serde_json::{Value, json};
use time::Duration;

use crate::app::{access_of, refresh_of, user_id_of};
use crate::suites::admin_users::{all_pages, assert_invalid_field, stored_hash};
use crate::{Harness, PASSWORD, TestApp};

const EVENT_FIELDS: &[&str] = &[
    "actor_id",
    "at",
    "detail",
    "event",
    "id",
    "ip",
    "user_agent",
    "user_id",
];

/// Moves the clock on a little, so that events of successive steps have ordered ids.
fn tick(app: &TestApp) {
    app.clock.advance(Duration::milliseconds(5));
}

/// Every event matching `query`, newest first (all pages, 100 at a time).
async fn events(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    all_pages(app, token, "/admin/audit", "events", query, 100)
        .await
        .concat()
}

/// Asserts that `events` are well-formed and newest first.
#[track_caller]
fn assert_newest_first(events: &[Value]) {
    for e in events {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, EVENT_FIELDS, "event fields: {e}");
        assert!(e["id"].is_string() && e["at"].is_string(), "{e}");
        assert!(e["event"].is_string(), "{e}");
    }
    for w in events.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(
            a["id"].as_str().unwrap() > b["id"].as_str().unwrap(),
            "ids descend: {a} then {b}"
        );
        let at = |e: &Value| {
            time::OffsetDateTime::parse(
                e["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        };
        assert!(at(a) >= at(b), "newest first: {a} then {b}");
    }
}

pub async fn admin_audit_records_admin_actions(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let admin_id = user_id_of(&admin);
    let victim = app.register("victim@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/admin/users/{victim}");
    tick(&app);
    let r = app
        .patch_auth(
            &path,
            &token,
            &json!({ "display_name": "V", "roles": ["user", "admin"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tick(&app);
    let r = app.delete_auth(&path, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    tick(&app);
    let r = app
        .post_auth(&format!("{path}/restore"), &token, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tick(&app);
    let r = app
        .post_auth(
            "/admin/roles",
            &token,
            &json!({ "name": "support", "permissions": ["users:read"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    tick(&app);
    let r = app
        .put_auth(
            "/admin/roles/support",
            &token,
            &json!({ "description": "x", "permissions": ["audit:read"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tick(&app);
    let r = app.delete_auth("/admin/roles/support", &token).await;
    assert_eq!(r.status, 204, "{}", r.text);

    let all = events(&app, &token, &[]).await;
    assert_newest_first(&all);
    let names: Vec<&str> = all.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let admin_events = [
        "role_deleted",
        "role_updated",
        "role_created",
        "admin_user_restored",
        "admin_user_deleted",
        "admin_user_updated",
    ];
    // Each recorded once, newest first.
    let positions: Vec<usize> = admin_events
        .iter()
        .map(|name| {
            assert_eq!(
                names.iter().filter(|n| *n == name).count(),
                1,
                "one {name} in {names:?}"
            );
            names.iter().position(|n| n == name).unwrap()
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "newest first: {names:?}"
    );
    for e in all
        .iter()
        .filter(|e| admin_events.contains(&e["event"].as_str().unwrap()))
    {
        assert_eq!(e["actor_id"], admin_id.as_str(), "actor of {e}");
        assert_eq!(e["ip"], "127.0.0.1", "ip of {e}");
        let event = e["event"].as_str().unwrap();
        if event.starts_with("admin_user_") {
            assert_eq!(e["user_id"], victim.as_str(), "subject of {e}");
        } else {
            assert_eq!(e["detail"]["role"], "support", "role of {e}");
        }
    }

    // Filters: by event, by subject, both.
    for name in admin_events {
        let found = events(&app, &token, &[("event", name)]).await;
        assert_eq!(found.len(), 1, "event={name}: {found:?}");
        assert_eq!(found[0]["event"], name);
    }
    let about_victim = events(&app, &token, &[("user_id", &victim)]).await;
    assert_newest_first(&about_victim);
    assert!(about_victim.iter().all(|e| e["user_id"] == victim.as_str()));
    let names: BTreeSet<&str> = about_victim
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "register",
            "admin_user_updated",
            "admin_user_deleted",
            "admin_user_restored"
        ])
    );
    let both = events(
        &app,
        &token,
        &[("user_id", &victim), ("event", "admin_user_deleted")],
    )
    .await;
    assert_eq!(both.len(), 1, "{both:?}");
    assert_eq!(
        events(
            &app,
            &token,
            &[("user_id", &admin_id), ("event", "admin_user_deleted")]
        )
        .await,
        Vec::<Value>::new(),
        "the actor is not the subject"
    );
    app.shutdown().await;
}

pub async fn admin_audit_filters_and_paginates(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let mut users = Vec::new();
    for i in 0..6 {
        tick(&app);
        let email = format!("u{i}@example.com");
        app.register(&email).await;
        tick(&app);
        let pair = app.login(&email).await;
        tick(&app);
        let r = app.try_refresh(&refresh_of(&pair)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        users.push(user_id_of(&pair));
    }
    tick(&app);
    app.try_login("u1@example.com", "not the password at all")
        .await
        .assert_problem(401, "invalid_credentials");

    let all = events(&app, &token, &[]).await;
    assert_newest_first(&all);
    assert!(all.len() >= 19, "{} events", all.len());
    assert!(all.len() < 100, "fits one page of 100");
    let all_ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = all_ids.iter().copied().collect();
    assert_eq!(unique.len(), all_ids.len(), "no duplicate ids");
    // The default page size holds them all here.
    let r = app.get_auth("/admin/audit", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["events", "next_cursor"], "{}", r.text);
    assert_eq!(r.json["events"].as_array().unwrap().len(), all.len());
    assert!(r.json["next_cursor"].is_null());

    // Small pages return every event exactly once, in the same order.
    for limit in [1, 3, 7] {
        let pages = all_pages(&app, &token, "/admin/audit", "events", &[], limit).await;
        assert_eq!(pages.len(), all.len().div_ceil(limit), "pages of {limit}");
        let ids: Vec<String> = pages
            .concat()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, all_ids, "limit {limit}");
    }

    // By subject.
    let about = events(&app, &token, &[("user_id", &users[1])]).await;
    assert_newest_first(&about);
    assert!(about.iter().all(|e| e["user_id"] == users[1].as_str()));
    let names: Vec<&str> = about.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["login_failed", "refresh", "login_ok", "register"],
        "{about:?}"
    );
    let paged: Vec<Value> = all_pages(
        &app,
        &token,
        "/admin/audit",
        "events",
        &[("user_id", &users[1])],
        1,
    )
    .await
    .concat();
    assert_eq!(paged, about);
    // By event.
    let logins = events(&app, &token, &[("event", "login_ok")]).await;
    assert_eq!(logins.len(), 7, "six users and the admin");
    assert!(logins.iter().all(|e| e["event"] == "login_ok"));
    let subjects: BTreeSet<&str> = logins
        .iter()
        .map(|e| e["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 7);
    let pages = all_pages(
        &app,
        &token,
        "/admin/audit",
        "events",
        &[("event", "login_ok")],
        2,
    )
    .await;
    assert_eq!(pages.len(), 4);
    assert_eq!(pages.concat(), logins);
    // Both.
    let one = events(
        &app,
        &token,
        &[("user_id", &users[1]), ("event", "login_failed")],
    )
    .await;
    assert_eq!(one.len(), 1, "{one:?}");
    let none = events(
        &app,
        &token,
        &[("user_id", &users[2]), ("event", "login_failed")],
    )
    .await;
    assert!(none.is_empty(), "{none:?}");
    assert!(
        events(&app, &token, &[("event", "no_such_event")])
            .await
            .is_empty()
    );
    let unknown = authkit_core::domain::new_v7(app.now()).to_string();
    assert!(
        events(&app, &token, &[("user_id", &unknown)])
            .await
            .is_empty()
    );
    assert!(
        events(&app, &token, &[("event", "' OR 1=1 --")])
            .await
            .is_empty()
    );

    // Bad parameters.
    for bad in ["0", "101", "-1", "x"] {
        let r = app
            .get_query("/admin/audit", &token, &[("limit", bad)])
            .await;
        assert_invalid_field(&r, "limit", &format!("audit limit={bad}"));
    }
    for bad in ["garbage", "1", "' OR 1=1 --"] {
        let r = app
            .get_query("/admin/audit", &token, &[("cursor", bad)])
            .await;
        assert_invalid_field(&r, "cursor", &format!("audit cursor={bad}"));
        let r = app
            .get_query("/admin/audit", &token, &[("user_id", bad)])
            .await;
        assert_invalid_field(&r, "user_id", &format!("audit user_id={bad}"));
    }
    app.shutdown().await;
}

pub async fn admin_audit_never_holds_secrets(h: Harness) {
    const NEW_PASSWORD: &str = "a brand new passphrase 2";
    const NEWER_PASSWORD: &str = "yet another secret phrase 3";
    const WRONG_PASSWORD: &str = "wrong guess passphrase 4";
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let mut secrets: Vec<String> = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        NEWER_PASSWORD.to_owned(),
        WRONG_PASSWORD.to_owned(),
        access_of(&admin),
        refresh_of(&admin),
        stored_hash(&app, "root@example.com").await,
    ];

    let pair = app.signed_in("frank@example.com").await;
    secrets.push(stored_hash(&app, "frank@example.com").await);
    secrets.push(access_of(&pair));
    secrets.push(refresh_of(&pair));
    let verify = app
        .token_in("frank@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app.post("/verify-email", &json!({ "token": verify })).await;
    assert!(r.status < 300, "{}", r.text);
    secrets.push(verify);
    let r = app.try_refresh(&refresh_of(&pair)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    secrets.push(access_of(&r.json));
    secrets.push(refresh_of(&r.json));
    let r = app
        .post_auth(
            "/password/change",
            &access_of(&r.json),
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    secrets.push(stored_hash(&app, "frank@example.com").await);
    let r = app
        .post("/password/forgot", &json!({ "email": "frank@example.com" }))
        .await;
    assert!(r.status < 300, "{}", r.text);
    let reset = app
        .token_in("frank@example.com", EmailKind::PasswordReset)
        .await;
    let r = app
        .post(
            "/password/reset",
            &json!({ "token": reset, "new_password": NEWER_PASSWORD }),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    secrets.push(reset);
    secrets.push(stored_hash(&app, "frank@example.com").await);
    app.try_login("frank@example.com", WRONG_PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let r = app.try_login("frank@example.com", NEWER_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    secrets.push(access_of(&r.json));
    secrets.push(refresh_of(&r.json));
    // Admin actions on the account.
    let path = format!("/admin/users/{}", user_id_of(&pair));
    let r = app
        .patch_auth(
            &path,
            &token,
            &json!({ "email": "frank2@example.com", "display_name": "Frank" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.delete_auth(&path, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // Every page's raw text, at a small page size.
    let mut text = String::new();
    let mut cursor: Option<String> = None;
    let mut count = 0;
    loop {
        let mut q = vec![("limit", "5".to_owned())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.get_query("/admin/audit", &token, &q).await;
        assert_eq!(r.status, 200, "{}", r.text);
        count += r.json["events"].as_array().unwrap().len();
        text.push_str(&r.text);
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(count >= 12, "{count} events: {text}");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}...) is in the audit log: {text}",
            &secret[..secret.len().min(12)]
        );
    }
    for word in ["Bearer", "authorization", "password_hash", "$argon2"] {
        assert!(!text.contains(word), "`{word}` in the audit log: {text}");
    }
    app.shutdown().await;
}
