//! The adapters' host-facing API on a host's own routes: `CurrentUser` and
//! `require_permission` (mounted by every test app at [`HOST_WHOAMI`] and [`HOST_ADMIN`]).

use serde_json::json;

use crate::Harness;
use crate::app::{HOST_ADMIN, HOST_WHOAMI, access_of, user_id_of};

pub async fn current_user_authenticates_host_routes(h: Harness) {
    let app = h.spawn().await;
    let pair = app.signed_in("host@example.com").await;
    let url = app.host_url(HOST_WHOAMI);
    let r = app
        .send(app.client.get(&url).bearer_auth(access_of(&pair)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, user_id_of(&pair));
    app.send(app.client.get(&url))
        .await
        .assert_problem(401, "unauthorized");
    app.send(app.client.get(&url).bearer_auth("not.a.jwt"))
        .await
        .assert_problem(401, "unauthorized");
    // A logged-out token is refused at once on host routes too.
    let r = app
        .post_auth("/logout", &access_of(&pair), &json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.send(app.client.get(&url).bearer_auth(access_of(&pair)))
        .await
        .assert_problem(401, "unauthorized");
    app.shutdown().await;
}

pub async fn permission_guard_is_401_then_403_then_through(h: Harness) {
    let app = h.spawn().await;
    let url = app.host_url(HOST_ADMIN);
    app.send(app.client.get(&url))
        .await
        .assert_problem(401, "unauthorized");
    let user = app.signed_in("plain@example.com").await;
    let r = app
        .send(app.client.get(&url).bearer_auth(access_of(&user)))
        .await;
    r.assert_problem(403, "forbidden");
    assert!(r.json["detail"].as_str().unwrap().contains("users:read"));
    assert_eq!(r.header("www-authenticate"), None);
    let admin = app.signed_in_admin("admin@example.com").await;
    let r = app
        .send(app.client.get(&url).bearer_auth(access_of(&admin)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, user_id_of(&admin));
    app.shutdown().await;
}
