//! The admin user routes (`/admin/users...`) and the permission check of every admin route,
//! generated from the route table (SECURITY 34, 60-62).

use std::collections::BTreeSet;

use authkit_core::domain::{ALL_PERMISSIONS, Email};
use authkit_core::http::{ROUTES, RouteId};
use serde_json::{Value, json};

use crate::app::{access_of, refresh_of, user_id_of};
use crate::suites::tokens::claims_of;
use crate::{Harness, PASSWORD, Reply, TestApp};

/// The fields of a user object in the admin API (plus `deleted_at` for deleted users).
const USER_FIELDS: &[&str] = &[
    "created_at",
    "display_name",
    "email",
    "email_verified",
    "id",
    "last_login_at",
    "locale",
    "roles",
    "status",
    "updated_at",
];

/// Follows `next_cursor` from the first page of `GET path?query&limit=limit` to the last;
/// returns every page's items (under `key`) and asserts each page's shape.
pub(crate) async fn all_pages(
    app: &TestApp,
    token: &str,
    path: &str,
    key: &str,
    query: &[(&str, &str)],
    limit: usize,
) -> Vec<Vec<Value>> {
    let limit_s = limit.to_string();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("limit", &limit_s));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let r = app.get_query(path, token, &q).await;
        assert_eq!(r.status, 200, "GET {path} {q:?}: {}", r.text);
        let items = r.json[key]
            .as_array()
            .unwrap_or_else(|| panic!("`{key}` array: {}", r.text))
            .clone();
        assert!(items.len() <= limit, "page over the limit: {}", items.len());
        pages.push(items);
        match &r.json["next_cursor"] {
            Value::Null => {
                assert!(
                    r.json.as_object().unwrap().contains_key("next_cursor"),
                    "next_cursor is present (null) on the last page: {}",
                    r.text
                );
                return pages;
            }
            Value::String(next) => {
                assert_eq!(
                    pages.last().unwrap().len(),
                    limit,
                    "a page with a next_cursor is full"
                );
                cursor = Some(next.clone());
            }
            other => panic!("next_cursor is a string or null, got {other}"),
        }
        assert!(pages.len() <= 1000, "pagination does not end");
    }
}

/// Every user of a listing (all pages, 100 at a time).
async fn all_users(app: &TestApp, token: &str, path: &str, query: &[(&str, &str)]) -> Vec<Value> {
    all_pages(app, token, path, "users", query, 100)
        .await
        .concat()
}

/// The emails of a one-page listing with `query`, sorted.
async fn emails_matching(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<String> {
    let mut q = query.to_vec();
    q.push(("limit", "100"));
    let r = app.get_query("/admin/users", token, &q).await;
    assert_eq!(r.status, 200, "GET /admin/users {query:?}: {}", r.text);
    assert!(r.json["next_cursor"].is_null(), "{}", r.text);
    let mut emails: Vec<String> = r.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

/// Query pairs.
type Query<'a> = Vec<(&'a str, &'a str)>;

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Asserts a 422 `validation_failed` naming `field`.
#[track_caller]
pub(crate) fn assert_invalid_field(r: &Reply, field: &str, what: &str) {
    assert_eq!(r.status, 422, "{what}: {}", r.text);
    r.assert_problem(422, "validation_failed");
    assert!(
        r.json["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["field"] == field)),
        "{what}: errors name `{field}`: {}",
        r.text
    );
}

/// Asserts that `user` has exactly the fields of a user object (`deleted_at` only if `deleted`)
/// and nothing secret.
#[track_caller]
fn assert_user_object(user: &Value, deleted: bool) {
    let mut keys: Vec<&str> = user
        .as_object()
        .unwrap_or_else(|| panic!("a user object: {user}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = USER_FIELDS.to_vec();
    if deleted {
        expected.push("deleted_at");
        expected.sort_unstable();
        assert!(user["deleted_at"].is_string(), "deleted_at set: {user}");
    }
    assert_eq!(keys, expected, "user fields: {user}");
}

/// The stored password hash of `email`.
pub(crate) async fn stored_hash(app: &TestApp, email: &str) -> String {
    app.kit
        .store()
        .credentials_by_email(&Email::parse(email).unwrap())
        .await
        .unwrap()
        .expect("a live account")
        .password_hash
        .expose()
        .to_owned()
}

pub async fn admin_routes_require_a_token_then_a_permission(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let admin_token = access_of(&admin);
    let plain = app.signed_in("plain@example.com").await;
    let plain_token = access_of(&plain);
    let victim = app.register("victim@example.com").await;
    let victim_id = victim["id"].as_str().unwrap().to_owned();
    let r = app
        .post_auth(
            "/admin/roles",
            &admin_token,
            &json!({ "name": "support", "description": "d", "permissions": ["users:read"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // No admin route without a permission, and every one of them checked below.
    for route in ROUTES {
        if route.path.starts_with("/admin") {
            assert!(
                route.permission.is_some(),
                "{} has a permission",
                route.path
            );
        }
    }
    let admin_routes: Vec<_> = ROUTES.iter().filter(|r| r.permission.is_some()).collect();
    assert!(
        admin_routes.len() >= 11,
        "{} admin routes",
        admin_routes.len()
    );

    let request = |route: &authkit_core::http::RouteSpec| {
        let path = route
            .path
            .replace("{id}", &victim_id)
            .replace("{name}", "support");
        let body = match route.id {
            RouteId::AdminUpdateUser => json!({ "display_name": "Mallory" }),
            RouteId::AdminCreateRole => {
                json!({ "name": "sneaky", "description": "", "permissions": ["users:read"] })
            }
            RouteId::AdminUpdateRole => {
                json!({ "description": "changed", "permissions": ALL_PERMISSIONS })
            }
            _ => json!({}),
        };
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let with_body = matches!(route.method.as_str(), "POST" | "PUT" | "PATCH");
        let mut rb = app.client.request(method, app.url(&path));
        if with_body {
            rb = rb.json(&body);
        }
        (format!("{} {path}", route.method), rb)
    };

    for route in &admin_routes {
        let (what, rb) = request(route);
        let r = app.send(rb).await;
        assert_eq!(r.status, 401, "{what} without a token: {}", r.text);
        r.assert_problem(401, "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");

        let (what, rb) = request(route);
        let r = app.send(rb.bearer_auth("not.a.jwt")).await;
        assert_eq!(r.status, 401, "{what} with a garbage token: {}", r.text);
        r.assert_problem(401, "unauthorized");

        let (what, rb) = request(route);
        let r = app.send(rb.bearer_auth(&plain_token)).await;
        assert_eq!(
            r.status, 403,
            "{what} with a plain user's token: {}",
            r.text
        );
        r.assert_problem(403, "forbidden");
        assert_eq!(r.header("www-authenticate"), None, "{what}");
    }

    // Nothing was done by the refused requests.
    let r = app
        .get_auth(&format!("/admin/users/{victim_id}"), &admin_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["display_name"].is_null(), "{}", r.text);
    assert!(r.json["deleted_at"].is_null(), "{}", r.text);
    let r = app.get_auth("/admin/roles", &admin_token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let roles = r.json["roles"].as_array().unwrap();
    assert!(!roles.iter().any(|r| r["name"] == "sneaky"), "{}", r.text);
    let support = roles.iter().find(|r| r["name"] == "support").unwrap();
    assert_eq!(support["permissions"], json!(["users:read"]));

    // The same requests go through with the admin's token: the 403s were about permissions,
    // not about the paths or bodies. (Table order: the user is deleted, then restored.)
    for route in &admin_routes {
        let (what, rb) = request(route);
        let r = app.send(rb.bearer_auth(&admin_token)).await;
        assert!(
            (200..300).contains(&r.status),
            "{what} with the admin's token: {} {}",
            r.status,
            r.text
        );
    }
    app.shutdown().await;
}

pub async fn admin_list_users_shape_default_page_and_limits(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let emails: Vec<String> = (0..59).map(|i| format!("u{i:02}@example.com")).collect();
    app.register_many(&emails, 20).await;

    let r = app.get_auth("/admin/users", &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["next_cursor", "users"], "{}", r.text);
    let first = r.json["users"].as_array().unwrap();
    assert_eq!(first.len(), 50, "the default page is 50");
    for u in first {
        assert_user_object(u, false);
    }
    // No secret in a listing.
    let hash = stored_hash(&app, "root@example.com").await;
    assert!(!r.text.contains(&hash), "a password hash is listed");
    assert!(!r.text.contains("password"), "{}", r.text);
    let cursor = r.json["next_cursor"]
        .as_str()
        .expect("a next_cursor")
        .to_owned();
    let r = app
        .get_query("/admin/users", &token, &[("cursor", &cursor)])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["users"].as_array().unwrap().len(), 10);
    assert!(r.json["next_cursor"].is_null(), "{}", r.text);

    // The admin itself is listed, with its roles.
    let everyone = all_users(&app, &token, "/admin/users", &[]).await;
    assert_eq!(everyone.len(), 60);
    let root = everyone
        .iter()
        .find(|u| u["id"] == user_id_of(&admin))
        .expect("the admin is listed");
    assert_eq!(root["email"], "root@example.com");
    let roles: BTreeSet<&str> = root["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(roles, BTreeSet::from(["admin", "user"]));

    // Limits 1 and 100 are fine.
    let r = app
        .get_query("/admin/users", &token, &[("limit", "1")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["users"].as_array().unwrap().len(), 1);
    assert!(r.json["next_cursor"].is_string(), "{}", r.text);
    let r = app
        .get_query("/admin/users", &token, &[("limit", "100")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["users"].as_array().unwrap().len(), 60);
    assert!(r.json["next_cursor"].is_null(), "{}", r.text);

    for bad in ["0", "101", "-1", "x", "1.5", "99999999999999999999"] {
        let r = app
            .get_query("/admin/users", &token, &[("limit", bad)])
            .await;
        assert_invalid_field(&r, "limit", &format!("limit={bad}"));
        let r = app
            .get_query("/admin/users/deleted", &token, &[("limit", bad)])
            .await;
        assert_invalid_field(&r, "limit", &format!("deleted limit={bad}"));
    }
    for bad in ["garbage", "' OR 1=1 --", "12345"] {
        let r = app
            .get_query("/admin/users", &token, &[("cursor", bad)])
            .await;
        assert_invalid_field(&r, "cursor", &format!("cursor={bad}"));
    }
    app.shutdown().await;
}

pub async fn admin_list_users_paginates_every_user_exactly_once(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let emails: Vec<String> = (0..250)
        .map(|i| format!("bulk{i:03}@example.com"))
        .collect();
    let mut expected: BTreeSet<String> = app.register_many(&emails, 25).await.into_iter().collect();
    expected.insert(user_id_of(&admin));
    assert_eq!(expected.len(), 251);

    for limit in [7, 50, 100] {
        let pages = all_pages(&app, &token, "/admin/users", "users", &[], limit).await;
        assert_eq!(pages.len(), 251usize.div_ceil(limit), "pages of {limit}");
        let ids: Vec<String> = pages
            .concat()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 251, "limit {limit}: every user once");
        let seen: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(seen.len(), 251, "limit {limit}: no user twice");
        assert_eq!(seen, expected, "limit {limit}: the same users");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "limit {limit}: ordered by id"
        );
    }
    // A last page that is exactly full ends the listing (no trailing empty page).
    for limit in [25, 50] {
        let pages = all_pages(
            &app,
            &token,
            "/admin/users",
            "users",
            &[("email", "bulk")],
            limit,
        )
        .await;
        assert_eq!(pages.len(), 250 / limit, "filtered pages of {limit}");
        assert!(pages.iter().all(|p| p.len() == limit));
    }
    app.shutdown().await;
}

pub async fn admin_list_users_email_filter_is_literal(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    for email in [
        "a%b@x.io",
        "a_b@x.io",
        "o'neil@x.io",
        "axb@x.io",
        "ab@x.io",
        "a\\b@x.io",
        "Mixed.Case@X.io",
    ] {
        app.register(email).await;
    }
    let all_x = sorted(&[
        "a%b@x.io",
        "a_b@x.io",
        "o'neil@x.io",
        "axb@x.io",
        "ab@x.io",
        "a\\b@x.io",
        "mixed.case@x.io",
    ]);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("_", sorted(&["a_b@x.io"])),
        ("%", sorted(&["a%b@x.io"])),
        ("a_b", sorted(&["a_b@x.io"])),
        ("a%b", sorted(&["a%b@x.io"])),
        ("%_", vec![]),
        ("a%", sorted(&["a%b@x.io"])),
        ("'", sorted(&["o'neil@x.io"])),
        ("O'NEIL", sorted(&["o'neil@x.io"])),
        ("\\", sorted(&["a\\b@x.io"])),
        ("a\\", sorted(&["a\\b@x.io"])),
        ("MIXED.case", sorted(&["mixed.case@x.io"])),
        ("x.io", all_x.clone()),
        ("@X.IO", all_x),
        ("*", vec![]),
        ("' OR 1=1 --", vec![]),
        ("x' OR 'a'='a", vec![]),
        ("\"; DROP TABLE users; --", vec![]),
        ("nobody", vec![]),
    ];
    for (needle, expected) in cases {
        assert_eq!(
            emails_matching(&app, &token, &[("email", needle)]).await,
            expected,
            "email={needle:?}"
        );
    }
    // Hand-encoded: `%25` is a literal `%`, `_` and `%27` literal too.
    for (raw, expected) in [
        ("email=%25", "a%b@x.io"),
        ("email=_", "a_b@x.io"),
        ("email=o%27n", "o'neil@x.io"),
    ] {
        let r = app.get_auth(&format!("/admin/users?{raw}"), &token).await;
        assert_eq!(r.status, 200, "{raw}: {}", r.text);
        let got: Vec<&str> = r.json["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(got, [expected], "{raw}");
    }
    // An empty filter is no filter.
    assert_eq!(
        emails_matching(&app, &token, &[("email", "")]).await.len(),
        8
    );
    // Every user is still there: the injection attempts changed nothing.
    assert_eq!(all_users(&app, &token, "/admin/users", &[]).await.len(), 8);
    app.shutdown().await;
}

pub async fn admin_list_users_filters_by_status_role_and_verified(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@f.io").await;
    let token = access_of(&admin);
    let mut ids = Vec::new();
    for email in ["u1@f.io", "u2@f.io", "u3@f.io", "u4@f.io", "u5@f.io"] {
        ids.push(app.register(email).await["id"].as_str().unwrap().to_owned());
    }
    let patch = |i: usize, body: Value| {
        let fut = app.patch_auth(&format!("/admin/users/{}", ids[i]), &token, &body);
        async move {
            let r = fut.await;
            assert_eq!(r.status, 200, "PATCH {body}: {}", r.text);
        }
    };
    // u1: active, unverified, user. u2: disabled. u3: verified. u4: admin.
    // u5: disabled, verified, admin without user.
    patch(1, json!({ "status": "disabled" })).await;
    patch(2, json!({ "email_verified": true })).await;
    patch(3, json!({ "roles": ["user", "admin"] })).await;
    patch(
        4,
        json!({ "status": "disabled", "email_verified": true, "roles": ["admin"] }),
    )
    .await;

    let cases: Vec<(Query, Vec<&str>)> = vec![
        (vec![("status", "disabled")], vec!["u2@f.io", "u5@f.io"]),
        (
            vec![("status", "active")],
            vec!["root@f.io", "u1@f.io", "u3@f.io", "u4@f.io"],
        ),
        (
            vec![("role", "admin")],
            vec!["root@f.io", "u4@f.io", "u5@f.io"],
        ),
        (
            vec![("role", "user")],
            vec!["root@f.io", "u1@f.io", "u2@f.io", "u3@f.io", "u4@f.io"],
        ),
        (vec![("role", "nosuch")], vec![]),
        (vec![("verified", "true")], vec!["u3@f.io", "u5@f.io"]),
        (
            vec![("verified", "false")],
            vec!["root@f.io", "u1@f.io", "u2@f.io", "u4@f.io"],
        ),
        (
            vec![("status", "disabled"), ("role", "admin")],
            vec!["u5@f.io"],
        ),
        (
            vec![("status", "active"), ("verified", "true")],
            vec!["u3@f.io"],
        ),
        (
            vec![("role", "admin"), ("verified", "false"), ("email", "U")],
            vec!["u4@f.io"],
        ),
        (
            vec![
                ("role", "user"),
                ("status", "disabled"),
                ("verified", "false"),
            ],
            vec!["u2@f.io"],
        ),
        (
            vec![("status", "disabled"), ("email", "u5")],
            vec!["u5@f.io"],
        ),
        (vec![("status", "disabled"), ("email", "u1")], vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            emails_matching(&app, &token, &query).await,
            sorted(&expected),
            "{query:?}"
        );
    }
    // A filtered listing paginates too.
    let pages = all_pages(
        &app,
        &token,
        "/admin/users",
        "users",
        &[("role", "admin")],
        1,
    )
    .await;
    assert_eq!(pages.len(), 3);
    // Bad filter values are refused, not ignored.
    let r = app
        .get_query("/admin/users", &token, &[("status", "bogus")])
        .await;
    assert_invalid_field(&r, "status", "status=bogus");
    let r = app
        .get_query("/admin/users", &token, &[("verified", "maybe")])
        .await;
    assert_invalid_field(&r, "verified", "verified=maybe");
    app.shutdown().await;
}

pub async fn admin_deleted_users_are_listed_apart(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let d1 = app.register("d1@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d2 = app.signed_in("d2@example.com").await;
    let keep = app.register("keep@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.delete_auth(&format!("/admin/users/{d1}"), &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    // A user deleting their own account is listed as deleted too.
    let r = app
        .delete_auth_json(
            "/users/me",
            &access_of(&d2),
            &json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let d2 = user_id_of(&d2);

    let deleted = all_users(&app, &token, "/admin/users/deleted", &[]).await;
    let deleted_ids: BTreeSet<&str> = deleted.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(deleted_ids, BTreeSet::from([d1.as_str(), d2.as_str()]));
    for u in &deleted {
        assert_user_object(u, true);
    }
    let live = all_users(&app, &token, "/admin/users", &[]).await;
    let live_ids: BTreeSet<&str> = live.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(
        live_ids,
        BTreeSet::from([user_id_of(&admin).as_str(), keep.as_str()])
    );
    for u in &live {
        assert_user_object(u, false);
    }
    // Filters and pagination apply to the deleted listing.
    let r = app
        .get_query("/admin/users/deleted", &token, &[("email", "D1@")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["users"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.json["users"][0]["id"], d1.as_str());
    let pages = all_pages(&app, &token, "/admin/users/deleted", "users", &[], 1).await;
    assert_eq!(pages.len(), 2);
    let r = app
        .get_query("/admin/users/deleted", &token, &[("cursor", "nope")])
        .await;
    assert_invalid_field(&r, "cursor", "deleted cursor=nope");
    // A deleted user can still be read by id, with `deleted_at`.
    let r = app.get_auth(&format!("/admin/users/{d1}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_user_object(&r.json, true);
    app.shutdown().await;
}

pub async fn admin_get_user_by_id(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let user = app.register("someone@example.com").await;
    let id = user["id"].as_str().unwrap();
    let r = app.get_auth(&format!("/admin/users/{id}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_user_object(&r.json, false);
    assert_eq!(r.json["id"], id);
    assert_eq!(r.json["email"], "someone@example.com");
    assert_eq!(r.json["email_verified"], false);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["roles"], json!(["user"]));
    assert_eq!(r.json["created_at"], user["created_at"]);
    let hash = stored_hash(&app, "someone@example.com").await;
    assert!(!r.text.contains(&hash), "the hash is shown");

    for bad in [
        authkit_core::domain::new_v7(app.now()).to_string(),
        uuid::Uuid::nil().to_string(),
        "not-a-uuid".to_owned(),
        "123".to_owned(),
        format!("{id}x"),
        "%27%20OR%201%3D1".to_owned(),
    ] {
        let r = app.get_auth(&format!("/admin/users/{bad}"), &token).await;
        assert_eq!(r.status, 404, "GET /admin/users/{bad}: {}", r.text);
        r.assert_problem(404, "not_found");
    }
    app.shutdown().await;
}

pub async fn admin_patch_updates_a_user(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let id = app.register("alice@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.register("bob@example.com").await;
    let path = format!("/admin/users/{id}");

    let r = app
        .patch_auth(
            &path,
            &token,
            &json!({
                "display_name": "Alice A",
                "email": "Alice.New@Example.com",
                "email_verified": true,
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_user_object(&r.json, false);
    assert_eq!(r.json["id"], id.as_str());
    assert_eq!(r.json["display_name"], "Alice A");
    assert_eq!(r.json["email"], "alice.new@example.com");
    assert_eq!(r.json["email_verified"], true);
    assert_eq!(r.json["roles"], json!(["user"]));
    let r = app.get_auth(&path, &token).await;
    assert_eq!(r.json["email"], "alice.new@example.com", "{}", r.text);
    assert_eq!(r.json["display_name"], "Alice A");
    // The new address logs in; the old one no longer does.
    app.login("alice.new@example.com").await;
    app.try_login("alice@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");

    let r = app
        .patch_auth(&path, &token, &json!({ "display_name": null }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["display_name"].is_null(), "{}", r.text);
    assert_eq!(r.json["email_verified"], true, "untouched fields stay");
    let r = app
        .patch_auth(&path, &token, &json!({ "email_verified": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email_verified"], false);

    // Someone else's address, in any case, is taken.
    for taken in ["bob@example.com", "BOB@Example.COM", "root@example.com"] {
        let r = app
            .patch_auth(&path, &token, &json!({ "email": taken }))
            .await;
        assert_eq!(r.status, 409, "email {taken}: {}", r.text);
        r.assert_problem(409, "email_taken");
    }
    let r = app
        .patch_auth(&path, &token, &json!({ "email": "not an email" }))
        .await;
    assert_invalid_field(&r, "email", "invalid email");

    // A refused PATCH changes nothing, not even its valid fields.
    let r = app
        .patch_auth(
            &path,
            &token,
            &json!({ "display_name": "Should Not", "status": "bogus" }),
        )
        .await;
    assert_invalid_field(&r, "status", "status bogus");
    let r = app
        .patch_auth(
            &path,
            &token,
            &json!({ "display_name": "Should Not", "roles": ["user", "nosuch"] }),
        )
        .await;
    assert_invalid_field(&r, "roles", "unknown role");
    assert!(
        r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "unknown_role"),
        "{}",
        r.text
    );
    let r = app.get_auth(&path, &token).await;
    assert!(r.json["display_name"].is_null(), "{}", r.text);
    assert_eq!(r.json["roles"], json!(["user"]));
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["email"], "alice.new@example.com");

    // Unknown and malformed ids.
    for bad in [
        authkit_core::domain::new_v7(app.now()).to_string(),
        "nope".to_owned(),
    ] {
        let r = app
            .patch_auth(
                &format!("/admin/users/{bad}"),
                &token,
                &json!({ "display_name": "x" }),
            )
            .await;
        assert_eq!(r.status, 404, "PATCH {bad}: {}", r.text);
        r.assert_problem(404, "not_found");
    }
    app.shutdown().await;
}

/// `users:write` without `roles:write` changes the email of accounts that hold no more than its
/// holder, but not of an administrator: the new address would receive the administrator's
/// password reset. Its other changes to an administrator still apply.
pub async fn admin_email_change_needs_the_target_s_permissions(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let admin_id = user_id_of(&admin);
    let r = app
        .post_auth(
            "/admin/roles",
            &access_of(&admin),
            &json!({
                "name": "support",
                "description": "edits accounts",
                "permissions": ["users:read", "users:write"],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let support = app.register("support@example.com").await;
    app.set_roles(support["id"].as_str().unwrap(), &["user", "support"])
        .await;
    let support_token = access_of(&app.login("support@example.com").await);
    let plain_id = app.register("plain@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app
        .patch_auth(
            &format!("/admin/users/{admin_id}"),
            &support_token,
            &json!({ "email": "support-owns-this@example.com" }),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let r = app
        .get_auth(&format!("/admin/users/{admin_id}"), &access_of(&admin))
        .await;
    assert_eq!(r.json["email"], "root@example.com", "{}", r.text);
    app.login("root@example.com").await;

    let r = app
        .patch_auth(
            &format!("/admin/users/{admin_id}"),
            &support_token,
            &json!({ "display_name": "Root" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .patch_auth(
            &format!("/admin/users/{plain_id}"),
            &support_token,
            &json!({ "email": "plain-moved@example.com" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "plain-moved@example.com");
    app.shutdown().await;
}

/// Text that no stored value can hold (a NUL, which PostgreSQL refuses in `text`, or another
/// control character) is a 4xx on every admin route that takes text, on both databases: 422
/// naming the listing filter or the role description, 404 for a role name.
pub async fn admin_text_with_control_characters_is_a_4xx(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    for bad in ["\u{0}", "a\u{0}b", "\u{1b}[2J"] {
        for (path, key) in [
            ("/admin/users", "email"),
            ("/admin/users", "role"),
            ("/admin/users/deleted", "email"),
            ("/admin/audit", "event"),
        ] {
            let r = app.get_query(path, &token, &[(key, bad)]).await;
            assert_invalid_field(&r, key, &format!("{path}?{key}={bad:?}"));
        }
        let r = app
            .post_auth(
                "/admin/roles",
                &token,
                &json!({ "name": "ops", "description": format!("on call {bad}"), "permissions": [] }),
            )
            .await;
        assert_invalid_field(&r, "description", &format!("description {bad:?}"));
        let name = format!("ops{bad}");
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let path = format!("/admin/roles/{encoded}");
        let r = app
            .put_auth(
                &path,
                &token,
                &json!({ "description": "", "permissions": [] }),
            )
            .await;
        r.assert_problem(404, "not_found");
        app.delete_auth(&path, &token)
            .await
            .assert_problem(404, "not_found");
    }
    // Line breaks and tabs are text.
    let r = app
        .post_auth(
            "/admin/roles",
            &token,
            &json!({ "name": "ops", "description": "on call\n\tweekdays", "permissions": [] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.shutdown().await;
}

pub async fn admin_disabling_a_user_revokes_sessions(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let one = app.signed_in("carol@example.com").await;
    let two = app.login("carol@example.com").await;
    let path = format!("/admin/users/{}", user_id_of(&one));

    let r = app
        .patch_auth(&path, &token, &json!({ "status": "disabled" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "disabled");
    for pair in [&one, &two] {
        app.me(&access_of(pair))
            .await
            .assert_problem(401, "unauthorized");
        app.try_refresh(&refresh_of(pair))
            .await
            .assert_problem(400, "invalid_token");
    }
    app.try_login("carol@example.com", PASSWORD)
        .await
        .assert_problem(403, "account_disabled");
    app.try_login("carol@example.com", "not the password at all")
        .await
        .assert_problem(401, "invalid_credentials");
    // The admin's own session is untouched.
    assert_eq!(app.me(&token).await.status, 200);

    let r = app
        .patch_auth(&path, &token, &json!({ "status": "active" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "active");
    let three = app.login("carol@example.com").await;
    assert_eq!(app.me(&access_of(&three)).await.status, 200);
    // Re-enabling brings no old session back.
    app.try_refresh(&refresh_of(&one))
        .await
        .assert_problem(400, "invalid_token");
    app.me(&access_of(&two))
        .await
        .assert_problem(401, "unauthorized");
    app.shutdown().await;
}

fn claim_set(claims: &Value, name: &str) -> BTreeSet<String> {
    claims[name]
        .as_array()
        .unwrap_or_else(|| panic!("`{name}` claim: {claims}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn admin_role_change_reaches_issued_tokens(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let user = app.signed_in("dave@example.com").await;
    let path = format!("/admin/users/{}", user_id_of(&user));
    let claims = claims_of(&access_of(&user));
    assert_eq!(claim_set(&claims, "roles"), set(&["user"]));
    assert_eq!(claim_set(&claims, "perms"), set(&[]));

    // Promotion: the token issued before is refused at once; a refresh carries the change.
    let r = app
        .patch_auth(&path, &token, &json!({ "roles": ["user", "admin"] }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let roles: BTreeSet<String> = r.json["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, set(&["admin", "user"]));
    app.me(&access_of(&user))
        .await
        .assert_problem(401, "unauthorized");
    let r = app.try_refresh(&refresh_of(&user)).await;
    assert_eq!(r.status, 200, "refresh after a role change: {}", r.text);
    let promoted = r.json.clone();
    let claims = claims_of(&access_of(&promoted));
    assert_eq!(claim_set(&claims, "roles"), set(&["admin", "user"]));
    assert_eq!(claim_set(&claims, "perms"), set(ALL_PERMISSIONS));
    let r = app.get_auth("/admin/users", &access_of(&promoted)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The same role set (in any order) leaves issued tokens alone.
    for same in [json!(["user", "admin"]), json!(["admin", "user"])] {
        let r = app
            .patch_auth(&path, &token, &json!({ "roles": same }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.me(&access_of(&promoted)).await;
        assert_eq!(
            r.status, 200,
            "after an unchanged role set {same}: {}",
            r.text
        );
    }

    // Demotion: refused at once; the refreshed token has no admin permission.
    let r = app
        .patch_auth(&path, &token, &json!({ "roles": ["user"] }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["roles"], json!(["user"]));
    app.get_auth("/admin/users", &access_of(&promoted))
        .await
        .assert_problem(401, "unauthorized");
    app.me(&access_of(&promoted))
        .await
        .assert_problem(401, "unauthorized");
    let r = app.try_refresh(&refresh_of(&promoted)).await;
    assert_eq!(r.status, 200, "refresh after a demotion: {}", r.text);
    let demoted = r.json.clone();
    let claims = claims_of(&access_of(&demoted));
    assert_eq!(claim_set(&claims, "roles"), set(&["user"]));
    assert_eq!(claim_set(&claims, "perms"), set(&[]));
    app.get_auth("/admin/users", &access_of(&demoted))
        .await
        .assert_problem(403, "forbidden");
    // A fresh login agrees.
    let again = app.login("dave@example.com").await;
    assert_eq!(claim_set(&claims_of(&access_of(&again)), "perms"), set(&[]));
    // The admin's own token was never touched.
    assert_eq!(app.me(&token).await.status, 200);
    app.shutdown().await;
}

pub async fn admin_delete_and_restore_a_user(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let user = app.signed_in("erin@example.com").await;
    let id = user_id_of(&user);
    let path = format!("/admin/users/{id}");

    let r = app.delete_auth(&path, &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "{}", r.text);
    app.me(&access_of(&user))
        .await
        .assert_problem(401, "unauthorized");
    app.try_refresh(&refresh_of(&user))
        .await
        .assert_problem(400, "invalid_token");
    app.try_login("erin@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    let deleted = all_users(&app, &token, "/admin/users/deleted", &[]).await;
    assert!(deleted.iter().any(|u| u["id"] == id.as_str()));
    let live = all_users(&app, &token, "/admin/users", &[]).await;
    assert!(!live.iter().any(|u| u["id"] == id.as_str()));

    let r = app
        .post_auth(&format!("{path}/restore"), &token, &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_user_object(&r.json, false);
    assert_eq!(r.json["id"], id.as_str());
    assert_eq!(r.json["email"], "erin@example.com");
    let again = app.login("erin@example.com").await;
    assert_eq!(app.me(&access_of(&again)).await.status, 200);
    // The sessions revoked by the deletion stay revoked.
    app.try_refresh(&refresh_of(&user))
        .await
        .assert_problem(400, "invalid_token");
    let deleted = all_users(&app, &token, "/admin/users/deleted", &[]).await;
    assert!(!deleted.iter().any(|u| u["id"] == id.as_str()));
    let live = all_users(&app, &token, "/admin/users", &[]).await;
    assert!(live.iter().any(|u| u["id"] == id.as_str()));

    // Restoring a live user, or an unknown one, is 404.
    let r = app
        .post_auth(&format!("{path}/restore"), &token, &json!({}))
        .await;
    assert_eq!(r.status, 404, "restore a live user: {}", r.text);
    r.assert_problem(404, "not_found");
    let unknown = authkit_core::domain::new_v7(app.now());
    let r = app
        .post_auth(
            &format!("/admin/users/{unknown}/restore"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "restore an unknown user: {}", r.text);
    r.assert_problem(404, "not_found");
    // Deleting an unknown or malformed id is 404.
    for bad in [unknown.to_string(), "nope".to_owned()] {
        let r = app
            .delete_auth(&format!("/admin/users/{bad}"), &token)
            .await;
        assert_eq!(r.status, 404, "DELETE {bad}: {}", r.text);
        r.assert_problem(404, "not_found");
    }
    app.shutdown().await;
}
