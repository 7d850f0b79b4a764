//! `GET /users/me/sessions`, `DELETE /users/me/sessions/{id}` and `DELETE /users/me/sessions`
//! (SECURITY 44-46, 61).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::app::{access_of, refresh_of};
use crate::suites::passwords::assert_session_dead;
use crate::{Harness, PASSWORD, TestApp};

/// The session id (`sid` claim) of a token pair.
fn sid(pair: &Value) -> String {
    crate::suites::tokens::claims_of(&access_of(pair))["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("a timestamp: {v}")),
        &Rfc3339,
    )
    .unwrap()
}

/// Logs in with a `User-Agent` header.
async fn login_as(app: &TestApp, email: &str, user_agent: &str, remember_me: bool) -> Value {
    let r = app
        .send(
            app.client
                .post(app.url("/login"))
                .header("user-agent", user_agent)
                .json(&json!({ "email": email, "password": PASSWORD, "remember_me": remember_me })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// `GET /users/me/sessions`; asserts 200 and returns the list.
async fn sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let r = app.get_auth("/users/me/sessions", access).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{{\"sessions\": [...]}}: {}", r.text))
        .clone()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn sessions_lists_live_sessions_newest_first(h: Harness) {
    let app = h.spawn().await;
    app.register("devices@example.com").await;
    let phone = login_as(&app, "devices@example.com", "phone-agent/1.0", false).await;
    app.clock.advance(Duration::minutes(1));
    let laptop = login_as(&app, "devices@example.com", "laptop-agent/2.0", false).await;
    app.clock.advance(Duration::minutes(1));
    let tablet = login_as(&app, "devices@example.com", "tablet-agent/3.0", true).await;
    app.clock.advance(Duration::minutes(1));
    let gone = login_as(&app, "devices@example.com", "gone-agent/4.0", false).await;
    assert_eq!(
        app.post_auth("/logout", &access_of(&gone), &json!({}))
            .await
            .status,
        204
    );
    // Another user's sessions never show.
    let stranger = app.signed_in("stranger@example.com").await;

    let r = app
        .get_auth("/users/me/sessions", &access_of(&laptop))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(keys(&r.json), BTreeSet::from(["sessions".to_owned()]));
    let list = r.json["sessions"].as_array().unwrap();
    assert_eq!(
        ids(list),
        [sid(&tablet), sid(&laptop), sid(&phone)],
        "live sessions only, newest first: {}",
        r.text
    );
    let expected_keys: BTreeSet<String> = [
        "id",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip",
        "user_agent",
        "current",
    ]
    .map(str::to_owned)
    .into();
    for (s, (agent, ttls)) in list.iter().zip([
        // "Remember me": the idle (14 d) or the absolute (30 d) expiry.
        ("tablet-agent/3.0", [Duration::days(14), Duration::days(30)]),
        ("laptop-agent/2.0", [Duration::hours(24); 2]),
        ("phone-agent/1.0", [Duration::hours(24); 2]),
    ]) {
        assert_eq!(keys(s), expected_keys, "{s}");
        assert_eq!(s["ip"], "127.0.0.1");
        assert_eq!(s["user_agent"], agent);
        assert_eq!(s["current"], s["id"] == json!(sid(&laptop)), "{s}");
        assert_eq!(ts(&s["last_used_at"]), ts(&s["created_at"]));
        let created = ts(&s["created_at"]);
        assert!(
            ttls.iter()
                .any(|ttl| ts(&s["expires_at"]) == created + *ttl),
            "{s}"
        );
    }
    assert!(!list.iter().any(|s| s["id"] == json!(sid(&stranger))));
    // No token or token hash in the listing.
    for secret in [refresh_of(&laptop), refresh_of(&phone), access_of(&laptop)] {
        assert!(!r.text.contains(&secret));
    }
    assert!(!r.text.contains("hash"));
    // Seen from another session, `current` follows the caller.
    let list = sessions(&app, &access_of(&phone)).await;
    for s in &list {
        assert_eq!(s["current"], s["id"] == json!(sid(&phone)), "{s}");
    }
    app.shutdown().await;
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

pub async fn session_last_used_moves_on_refresh_and_expired_sessions_vanish(h: Harness) {
    let app = h.spawn().await;
    app.register("usage@example.com").await;
    let keeper = login_as(&app, "usage@example.com", "keeper/1.0", true).await;
    let short = login_as(&app, "usage@example.com", "short/1.0", false).await;
    let login_time = app.now();
    app.clock.advance(Duration::hours(1));
    let refreshed = app.try_refresh(&refresh_of(&keeper)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let list = sessions(&app, &access_of(&refreshed.json)).await;
    let find = |list: &[Value], pair: &Value| {
        list.iter()
            .find(|s| s["id"] == json!(sid(pair)))
            .cloned()
            .unwrap_or_else(|| panic!("session listed: {list:?}"))
    };
    let k = find(&list, &keeper);
    assert_eq!(ts(&k["created_at"]), login_time);
    assert_eq!(ts(&k["last_used_at"]), login_time + Duration::hours(1));
    assert_eq!(k["current"], true);
    let s = find(&list, &short);
    assert_eq!(ts(&s["last_used_at"]), login_time);
    assert_eq!(s["current"], false);
    // The short session expires at 24 h and leaves the list; the long one stays.
    app.clock.advance(Duration::hours(24));
    let again = app.try_refresh(&refresh_of(&refreshed.json)).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let list = sessions(&app, &access_of(&again.json)).await;
    assert_eq!(ids(&list), [sid(&keeper)], "{list:?}");
    app.shutdown().await;
}

pub async fn revoking_a_session_kills_its_tokens(h: Harness) {
    let app = h.spawn().await;
    let caller = app.signed_in("revoke@example.com").await;
    let other = app.login("revoke@example.com").await;
    let third = app.login("revoke@example.com").await;
    let access = access_of(&caller);
    let r = app
        .delete_auth(&format!("/users/me/sessions/{}", sid(&other)), &access)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert_session_dead(&app, &other).await;
    // The caller and the third session live on.
    assert_eq!(app.me(&access).await.status, 200);
    assert_eq!(app.me(&access_of(&third)).await.status, 200);
    // (Both logins happened at the same clock time, so their order is not asserted.)
    let listed: BTreeSet<String> = ids(&sessions(&app, &access).await).into_iter().collect();
    assert_eq!(listed, BTreeSet::from([sid(&third), sid(&caller)]));
    // Already revoked, unknown, or not a UUID: 404.
    for id in [
        sid(&other),
        uuid::Uuid::now_v7().to_string(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
        "not-a-uuid".to_owned(),
        "1".to_owned(),
    ] {
        app.delete_auth(&format!("/users/me/sessions/{id}"), &access)
            .await
            .assert_problem(404, "not_found");
    }
    // Any own session can revoke another.
    let r = app
        .delete_auth(&format!("/users/me/sessions/{}", sid(&third)), &access)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_session_dead(&app, &third).await;
    let r = app.try_refresh(&refresh_of(&caller)).await;
    assert_eq!(r.status, 200, "the caller's refresh token still works");
    app.shutdown().await;
}

pub async fn another_users_session_cannot_be_revoked(h: Harness) {
    let app = h.spawn().await;
    let alice = app.signed_in("alice@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let r = app
        .delete_auth(
            &format!("/users/me/sessions/{}", sid(&bob)),
            &access_of(&alice),
        )
        .await;
    r.assert_problem(404, "not_found");
    // Exactly the answer for an unknown id: no oracle on other users' session ids.
    let unknown = app
        .delete_auth(
            &format!("/users/me/sessions/{}", uuid::Uuid::now_v7()),
            &access_of(&alice),
        )
        .await;
    r.assert_identical(&unknown, "another user's session vs unknown id");
    assert_eq!(app.me(&access_of(&bob)).await.status, 200);
    let refreshed = app.try_refresh(&refresh_of(&bob)).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert!(
        !sessions(&app, &access_of(&alice))
            .await
            .iter()
            .any(|s| s["id"] == json!(sid(&bob)))
    );
    app.shutdown().await;
}

pub async fn revoke_all_sessions_logs_out_everywhere(h: Harness) {
    let app = h.spawn().await;
    let caller = app.signed_in("everywhere@example.com").await;
    let other = app.login("everywhere@example.com").await;
    let third = app.login("everywhere@example.com").await;
    let bystander = app.signed_in("bystander@example.com").await;
    let r = app
        .delete_auth("/users/me/sessions", &access_of(&caller))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    for pair in [&caller, &other, &third] {
        assert_session_dead(&app, pair).await;
    }
    // Another user is untouched, and the account itself still logs in.
    assert_eq!(app.me(&access_of(&bystander)).await.status, 200);
    let fresh = app.login("everywhere@example.com").await;
    assert_eq!(
        ids(&sessions(&app, &access_of(&fresh)).await),
        [sid(&fresh)]
    );
    app.shutdown().await;
}
