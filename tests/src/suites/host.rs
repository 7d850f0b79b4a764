//! The adapters' host-facing API on a host's own routes: `CurrentUser`, `MaybeUser` and
//! `require_permission` (mounted by every test app at [`HOST_WHOAMI`], [`HOST_MAYBE`] and
//! [`HOST_ADMIN`]).

use authkit_core::AuthConfig;
use serde_json::json;

use crate::app::{ANONYMOUS, HOST_ADMIN, HOST_MAYBE, HOST_WHOAMI, access_of, user_id_of};
use crate::{AppOptions, Harness, TestApp};

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

fn no_session_cache(config: &mut AuthConfig) {
    // Every authentication reads the session, so closing the database is an outage at once.
    config.session_cache_ttl = std::time::Duration::ZERO;
}

/// `MaybeUser` on [`HOST_MAYBE`] with `authorization` (none if `None`), and the same request to
/// `CurrentUser` on [`HOST_WHOAMI`].
async fn maybe_and_current(
    app: &TestApp,
    authorization: Option<&str>,
) -> (crate::Reply, crate::Reply) {
    let mut replies = Vec::new();
    for path in [HOST_MAYBE, HOST_WHOAMI] {
        let mut request = app.client.get(app.host_url(path));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        replies.push(app.send(request).await);
    }
    let current = replies.pop().unwrap();
    (replies.pop().unwrap(), current)
}

/// Optional authentication is anonymous only without credentials: credentials that are
/// presented and bad (garbage, another scheme, revoked, expired) are `CurrentUser`'s 401, and
/// a database outage its 503 — never an anonymous caller (actix's own `Option<T>` would make
/// all of these `None`).
pub async fn maybe_user_is_anonymous_only_without_credentials(h: Harness) {
    let app = h
        .spawn_with(AppOptions {
            configure: Some(no_session_cache),
            ..AppOptions::default()
        })
        .await;
    let (maybe, _) = maybe_and_current(&app, None).await;
    assert_eq!(maybe.status, 200, "{}", maybe.text);
    assert_eq!(maybe.text, ANONYMOUS);

    let pair = app.signed_in("maybe@example.com").await;
    let bearer = format!("Bearer {}", access_of(&pair));
    let (maybe, _) = maybe_and_current(&app, Some(&bearer)).await;
    assert_eq!(maybe.status, 200, "{}", maybe.text);
    assert_eq!(maybe.text, user_id_of(&pair));

    let refused = |maybe: &crate::Reply, current: &crate::Reply, what: &str| {
        maybe.assert_problem(401, "unauthorized");
        maybe.assert_identical(current, what);
    };
    for garbage in [
        "Bearer not.a.jwt",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "garbage",
    ] {
        let (maybe, current) = maybe_and_current(&app, Some(garbage)).await;
        refused(&maybe, &current, garbage);
    }

    // Revoked: a logged-out token.
    let r = app
        .post_auth("/logout", &access_of(&pair), &json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (maybe, current) = maybe_and_current(&app, Some(&bearer)).await;
    refused(&maybe, &current, "a revoked token");

    // Expired: past the access token's lifetime and the leeway.
    let pair = app.login("maybe@example.com").await;
    let bearer = format!("Bearer {}", access_of(&pair));
    app.clock.advance(time::Duration::hours(1));
    let (maybe, current) = maybe_and_current(&app, Some(&bearer)).await;
    refused(&maybe, &current, "an expired token");

    // A database outage: a valid token cannot be checked, so 503, not anonymous.
    let pair = app.login("maybe@example.com").await;
    let bearer = format!("Bearer {}", access_of(&pair));
    app.close_database().await;
    let (maybe, current) = maybe_and_current(&app, Some(&bearer)).await;
    maybe.assert_problem(503, "unavailable");
    maybe.assert_identical(&current, "a database outage");
    let (maybe, _) = maybe_and_current(&app, None).await;
    assert_eq!(maybe.status, 200, "{}", maybe.text);
    assert_eq!(maybe.text, ANONYMOUS);
    app.shutdown().await;
}
