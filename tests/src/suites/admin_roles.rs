//! The admin role routes (`/admin/roles...`), the permissions carried by access tokens, and
//! how role changes reach issued tokens (SECURITY 34, 60).

use std::collections::BTreeSet;

use authkit_core::domain::{ALL_PERMISSIONS, Email, Password};
use authkit_core::ports::EmailKind;
use authkit_core::service::Bootstrapped;
use serde_json::{Value, json};

use crate::app::{access_of, refresh_of, user_id_of};
use crate::suites::admin_users::assert_invalid_field;
use crate::suites::tokens::claims_of;
use crate::{Harness, PASSWORD, TestApp};

fn claim_set(token: &str, name: &str) -> BTreeSet<String> {
    let claims = claims_of(token);
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

/// Every role of `GET /admin/roles`.
async fn roles(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get_auth("/admin/roles", token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["roles"], "{}", r.text);
    r.json["roles"].as_array().unwrap().clone()
}

async fn role(app: &TestApp, token: &str, name: &str) -> Option<Value> {
    roles(app, token)
        .await
        .into_iter()
        .find(|r| r["name"] == name)
}

/// Creates `name` with `permissions`; asserts 201.
async fn create_role(app: &TestApp, token: &str, name: &str, permissions: &[&str]) -> Value {
    let r = app
        .post_auth(
            "/admin/roles",
            token,
            &json!({ "name": name, "description": format!("{name} role"), "permissions": permissions }),
        )
        .await;
    assert_eq!(r.status, 201, "create role {name}: {}", r.text);
    r.json
}

/// Gives `user_id` exactly `roles` through the admin API; asserts 200.
async fn grant(app: &TestApp, token: &str, user_id: &str, roles: &[&str]) {
    let r = app
        .patch_auth(
            &format!("/admin/users/{user_id}"),
            token,
            &json!({ "roles": roles }),
        )
        .await;
    assert_eq!(r.status, 200, "grant {roles:?}: {}", r.text);
}

pub async fn admin_access_token_carries_every_permission(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    assert_eq!(claim_set(&token, "perms"), set(ALL_PERMISSIONS));
    assert_eq!(claim_set(&token, "roles"), set(&["admin", "user"]));
    // An account created with the roles by the store, too.
    let stored = app.signed_in_admin("stored@example.com").await;
    assert_eq!(
        claim_set(&access_of(&stored), "perms"),
        set(ALL_PERMISSIONS)
    );

    // The create-admin bootstrap: a new account is made an administrator...
    let (user, outcome) = app
        .kit
        .bootstrap_admin(
            Email::parse("boot@example.com").unwrap(),
            Some(&Password::new(PASSWORD)),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Bootstrapped::Created);
    assert!(user.roles.iter().any(|r| r == "admin"));
    assert!(user.email_verified);
    let boot = app.login("boot@example.com").await;
    assert_eq!(claim_set(&access_of(&boot), "perms"), set(ALL_PERMISSIONS));
    let r = app.get_auth("/admin/audit", &access_of(&boot)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // ...idempotently...
    let (_, outcome) = app
        .kit
        .bootstrap_admin(Email::parse("boot@example.com").unwrap(), None)
        .await
        .unwrap();
    assert_eq!(outcome, Bootstrapped::Promoted);
    // ...an existing account with a verified email is promoted, its password kept and its
    // issued tokens refused until a refresh...
    let plain = app.signed_in("plain@example.com").await;
    let verification = app
        .token_in("plain@example.com", EmailKind::VerifyEmail)
        .await;
    let r = app
        .post("/verify-email", &json!({ "token": verification }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claim_set(&access_of(&plain), "perms"), set(&[]));
    let (_, outcome) = app
        .kit
        .bootstrap_admin(
            Email::parse("plain@example.com").unwrap(),
            Some(&Password::new("an ignored operator passphrase")),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Bootstrapped::Promoted);
    app.me(&access_of(&plain))
        .await
        .assert_problem(401, "unauthorized");
    let r = app.try_refresh(&refresh_of(&plain)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claim_set(&access_of(&r.json), "perms"),
        set(ALL_PERMISSIONS)
    );
    app.login("plain@example.com").await;

    // ...and one whose email is not verified is not trusted (SECURITY 11: whoever registered
    // the address first may not be its owner): a password is needed, and it replaces the
    // account's, whose sessions end.
    let squatter = app.signed_in("ops@example.com").await;
    let missing = app
        .kit
        .bootstrap_admin(Email::parse("ops@example.com").unwrap(), None)
        .await;
    assert!(
        matches!(&missing, Err(authkit_core::Error::Validation(errors))
            if errors.iter().any(|e| e.field == "password" && e.code == "required")),
        "{missing:?}"
    );
    let weak = app
        .kit
        .bootstrap_admin(
            Email::parse("ops@example.com").unwrap(),
            Some(&Password::new("short")),
        )
        .await;
    assert!(
        matches!(&weak, Err(authkit_core::Error::Validation(_))),
        "{weak:?}"
    );
    app.login("ops@example.com").await;
    let operator = "the operator's own passphrase";
    let (user, outcome) = app
        .kit
        .bootstrap_admin(
            Email::parse("ops@example.com").unwrap(),
            Some(&Password::new(operator)),
        )
        .await
        .unwrap();
    assert_eq!(outcome, Bootstrapped::Claimed);
    assert!(user.email_verified);
    assert_eq!(user.roles, ["admin", "user"]);
    app.try_login("ops@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.me(&access_of(&squatter))
        .await
        .assert_problem(401, "unauthorized");
    app.try_refresh(&refresh_of(&squatter))
        .await
        .assert_problem(400, "invalid_token");
    let r = app.try_login("ops@example.com", operator).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claim_set(&access_of(&r.json), "perms"),
        set(ALL_PERMISSIONS)
    );
    app.shutdown().await;
}

pub async fn admin_roles_lists_the_builtin_roles(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    let all = roles(&app, &token).await;
    for r in &all {
        let mut keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["builtin", "description", "name", "permissions"],
            "{r}"
        );
        assert!(r["description"].is_string(), "{r}");
    }
    let admin_role = all.iter().find(|r| r["name"] == "admin").expect("admin");
    assert_eq!(admin_role["permissions"], json!(ALL_PERMISSIONS));
    assert_eq!(admin_role["builtin"], true);
    let user_role = all.iter().find(|r| r["name"] == "user").expect("user");
    assert_eq!(user_role["permissions"], json!([]));
    assert_eq!(user_role["builtin"], true);
    app.shutdown().await;
}

pub async fn admin_roles_create_update_delete(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);

    let r = app
        .post_auth(
            "/admin/roles",
            &token,
            &json!({
                "name": "support",
                "description": "Help desk",
                "permissions": ["users:read", "audit:read", "users:read"],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json,
        json!({
            "name": "support",
            "description": "Help desk",
            "permissions": ["audit:read", "users:read"],
            "builtin": false,
        })
    );
    assert_eq!(
        role(&app, &token, "support").await,
        Some(r.json.clone()),
        "listed as created"
    );
    // Description is optional.
    let r = app
        .post_auth(
            "/admin/roles",
            &token,
            &json!({ "name": "bare", "permissions": [] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["description"], "");
    assert_eq!(r.json["permissions"], json!([]));

    // Names are unique, built-in ones included.
    for name in ["support", "admin", "user"] {
        let r = app
            .post_auth(
                "/admin/roles",
                &token,
                &json!({ "name": name, "description": "again", "permissions": [] }),
            )
            .await;
        assert_eq!(r.status, 409, "create {name} twice: {}", r.text);
        r.assert_problem(409, "conflict");
    }
    let support = role(&app, &token, "support").await.unwrap();
    assert_eq!(
        support["description"], "Help desk",
        "the conflict changed nothing"
    );
    for bad in ["Bad Name", "", "UPPER", "semi;colon", &"x".repeat(65)] {
        let r = app
            .post_auth(
                "/admin/roles",
                &token,
                &json!({ "name": bad, "permissions": [] }),
            )
            .await;
        assert_invalid_field(&r, "name", &format!("role name {bad:?}"));
    }
    let r = app
        .post_auth("/admin/roles", &token, &json!({ "permissions": [] }))
        .await;
    assert_invalid_field(&r, "name", "missing name");
    let r = app
        .post_auth(
            "/admin/roles",
            &token,
            &json!({ "name": "weird", "permissions": ["Not A Permission"] }),
        )
        .await;
    assert_invalid_field(&r, "permissions", "bad permission name");
    assert_eq!(role(&app, &token, "weird").await, None);

    // PUT replaces the description and permissions.
    let r = app
        .put_auth(
            "/admin/roles/support",
            &token,
            &json!({ "description": "Tier 2", "permissions": ["users:write", "users:read"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({
            "name": "support",
            "description": "Tier 2",
            "permissions": ["users:read", "users:write"],
            "builtin": false,
        })
    );
    assert_eq!(role(&app, &token, "support").await, Some(r.json.clone()));
    let r = app
        .put_auth(
            "/admin/roles/nosuch",
            &token,
            &json!({ "description": "x", "permissions": [] }),
        )
        .await;
    assert_eq!(r.status, 404, "PUT an unknown role: {}", r.text);
    r.assert_problem(404, "not_found");
    assert_eq!(
        role(&app, &token, "nosuch").await,
        None,
        "PUT does not create"
    );
    // The admin role keeps every permission.
    let fewer: Vec<&str> = ALL_PERMISSIONS
        .iter()
        .copied()
        .filter(|p| *p != "roles:write")
        .collect();
    for permissions in [json!(fewer), json!([])] {
        let r = app
            .put_auth(
                "/admin/roles/admin",
                &token,
                &json!({ "description": "x", "permissions": permissions }),
            )
            .await;
        assert_eq!(r.status, 409, "shrink admin to {permissions}: {}", r.text);
        r.assert_problem(409, "conflict");
    }
    let admin_role = role(&app, &token, "admin").await.unwrap();
    assert_eq!(admin_role["permissions"], json!(ALL_PERMISSIONS));
    assert_eq!(app.get_auth("/admin/roles", &token).await.status, 200);

    // DELETE.
    let r = app.delete_auth("/admin/roles/support", &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert_eq!(role(&app, &token, "support").await, None);
    for name in ["support", "nosuch"] {
        let r = app
            .delete_auth(&format!("/admin/roles/{name}"), &token)
            .await;
        assert_eq!(r.status, 404, "DELETE {name}: {}", r.text);
        r.assert_problem(404, "not_found");
    }
    for name in ["admin", "user"] {
        let r = app
            .delete_auth(&format!("/admin/roles/{name}"), &token)
            .await;
        assert_eq!(r.status, 409, "DELETE built-in {name}: {}", r.text);
        r.assert_problem(409, "conflict");
        assert!(role(&app, &token, name).await.is_some());
    }
    // A deleted name can be created again.
    create_role(&app, &token, "support", &["users:read"]).await;
    app.shutdown().await;
}

pub async fn admin_role_permission_change_refuses_holders_tokens(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    create_role(&app, &token, "support", &["users:read"]).await;
    let holder = app.signed_in("holder@example.com").await;
    grant(&app, &token, &user_id_of(&holder), &["user", "support"]).await;
    let r = app.try_refresh(&refresh_of(&holder)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let holder = r.json.clone();
    assert_eq!(
        claim_set(&access_of(&holder), "perms"),
        set(&["users:read"])
    );
    assert_eq!(
        claim_set(&access_of(&holder), "roles"),
        set(&["support", "user"])
    );
    let bystander = app.signed_in("bystander@example.com").await;

    let r = app
        .put_auth(
            "/admin/roles/support",
            &token,
            &json!({ "description": "more", "permissions": ["users:read", "audit:read"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Holders' issued tokens are refused until they refresh.
    app.me(&access_of(&holder))
        .await
        .assert_problem(401, "unauthorized");
    app.get_auth("/admin/users", &access_of(&holder))
        .await
        .assert_problem(401, "unauthorized");
    // Non-holders, the admin included, are unaffected.
    assert_eq!(app.me(&access_of(&bystander)).await.status, 200);
    assert_eq!(app.me(&token).await.status, 200);
    let r = app.try_refresh(&refresh_of(&holder)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let holder = r.json.clone();
    assert_eq!(
        claim_set(&access_of(&holder), "perms"),
        set(&["audit:read", "users:read"])
    );
    let r = app.get_auth("/admin/audit", &access_of(&holder)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Narrowing works the same way.
    let r = app
        .put_auth(
            "/admin/roles/support",
            &token,
            &json!({ "description": "less", "permissions": [] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get_auth("/admin/audit", &access_of(&holder))
        .await
        .assert_problem(401, "unauthorized");
    let r = app.try_refresh(&refresh_of(&holder)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let holder = r.json.clone();
    assert_eq!(claim_set(&access_of(&holder), "perms"), set(&[]));
    app.get_auth("/admin/audit", &access_of(&holder))
        .await
        .assert_problem(403, "forbidden");
    app.get_auth("/admin/users", &access_of(&holder))
        .await
        .assert_problem(403, "forbidden");
    app.shutdown().await;
}

pub async fn admin_deleting_a_role_strips_it_from_holders(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    create_role(&app, &token, "support", &["users:read"]).await;
    let holder = app.signed_in("holder@example.com").await;
    let holder_id = user_id_of(&holder);
    grant(&app, &token, &holder_id, &["user", "support"]).await;
    let holder = app.login("holder@example.com").await;
    let r = app.get_auth("/admin/users", &access_of(&holder)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let r = app.delete_auth("/admin/roles/support", &token).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // A removed role reaches issued tokens like any role change.
    app.get_auth("/admin/users", &access_of(&holder))
        .await
        .assert_problem(401, "unauthorized");
    let r = app
        .get_auth(&format!("/admin/users/{holder_id}"), &token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["roles"], json!(["user"]), "{}", r.text);
    let r = app
        .get_query("/admin/users", &token, &[("role", "support")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["users"], json!([]));
    let r = app.try_refresh(&refresh_of(&holder)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claim_set(&access_of(&r.json), "perms"), set(&[]));
    assert_eq!(claim_set(&access_of(&r.json), "roles"), set(&["user"]));
    app.get_auth("/admin/users", &access_of(&r.json))
        .await
        .assert_problem(403, "forbidden");
    // A role of the same name created later is not silently held again.
    create_role(&app, &token, "support", &["users:read"]).await;
    let again = app.login("holder@example.com").await;
    assert_eq!(claim_set(&access_of(&again), "perms"), set(&[]));
    app.shutdown().await;
}

pub async fn admin_read_only_role_holder_can_only_read_users(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root@example.com").await;
    let token = access_of(&admin);
    create_role(&app, &token, "viewer", &["users:read"]).await;
    let viewer = app.signed_in("viewer@example.com").await;
    let victim = app.register("victim@example.com").await;
    let victim_id = victim["id"].as_str().unwrap().to_owned();
    grant(&app, &token, &user_id_of(&viewer), &["user", "viewer"]).await;
    let viewer = app.login("viewer@example.com").await;
    let v = access_of(&viewer);
    assert_eq!(claim_set(&v, "perms"), set(&["users:read"]));

    for path in [
        "/admin/users".to_owned(),
        "/admin/users/deleted".to_owned(),
        format!("/admin/users/{victim_id}"),
    ] {
        let r = app.get_auth(&path, &v).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
    }
    let user_path = format!("/admin/users/{victim_id}");
    let refused = [
        app.delete_auth(&user_path, &v).await,
        app.patch_auth(&user_path, &v, &json!({ "display_name": "x" }))
            .await,
        app.patch_auth(
            &format!("/admin/users/{}", user_id_of(&viewer)),
            &v,
            &json!({ "roles": ["user", "viewer", "admin"] }),
        )
        .await,
        app.post_auth(&format!("{user_path}/restore"), &v, &json!({}))
            .await,
        app.get_auth("/admin/roles", &v).await,
        app.post_auth(
            "/admin/roles",
            &v,
            &json!({ "name": "mine", "permissions": ["users:write"] }),
        )
        .await,
        app.put_auth(
            "/admin/roles/viewer",
            &v,
            &json!({ "description": "", "permissions": ALL_PERMISSIONS }),
        )
        .await,
        app.delete_auth("/admin/roles/viewer", &v).await,
        app.get_auth("/admin/audit", &v).await,
    ];
    for r in refused {
        assert_eq!(r.status, 403, "{}", r.text);
        r.assert_problem(403, "forbidden");
    }
    // Nothing changed.
    let r = app.get_auth(&user_path, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["display_name"].is_null(), "{}", r.text);
    let viewer_role = role(&app, &token, "viewer").await.unwrap();
    assert_eq!(viewer_role["permissions"], json!(["users:read"]));
    assert_eq!(role(&app, &token, "mine").await, None);
    let r = app
        .get_auth(&format!("/admin/users/{}", user_id_of(&viewer)), &token)
        .await;
    let held: BTreeSet<String> = r.json["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(held, set(&["user", "viewer"]));
    app.shutdown().await;
}

/// `users:write` alone cannot grant roles (that would let its holder make itself admin):
/// changing roles needs `roles:write` too, while other fields only need `users:write`.
pub async fn admin_users_write_cannot_grant_roles(h: Harness) {
    let app = h.spawn().await;
    let admin = app.admin("root2@example.com").await;
    let token = access_of(&admin);
    create_role(&app, &token, "editor", &["users:read", "users:write"]).await;
    let editor = app.signed_in("editor@example.com").await;
    grant(&app, &token, &user_id_of(&editor), &["user", "editor"]).await;
    let editor = app.login("editor@example.com").await;
    let e = access_of(&editor);
    let own = format!("/admin/users/{}", user_id_of(&editor));
    app.patch_auth(&own, &e, &json!({ "roles": ["user", "editor", "admin"] }))
        .await
        .assert_problem(403, "forbidden");
    let r = app
        .patch_auth(&own, &e, &json!({ "display_name": "Editor" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let held: BTreeSet<String> = r.json["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(held, set(&["user", "editor"]), "no role was granted");
    app.shutdown().await;
}
