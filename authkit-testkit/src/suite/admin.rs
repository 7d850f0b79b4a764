//! Checks of the administration ports: `restore_user`, `admin_update_user`, `list_users`, the
//! role CRUD of `RoleStore`, `list_audit`, and the sessions' `authz_version`.
//!
//! Every check scopes what it asserts to the users, roles and events it creates (a unique email
//! domain, role name or event name), so it tolerates a store shared with other data; unscoped
//! listings are checked for order and for every returned item matching the filter.

use std::collections::BTreeSet;
use std::sync::Arc;

use authkit_core::domain::{
    ALL_PERMISSIONS, AdminPatch, AuditEvent, AuditQuery, Email, QueuedMail, Role, SessionId, User,
    UserId, UserQuery, UserStatus,
};
use authkit_core::ports::{Conflict, Store, StoreError};
use time::{Duration, OffsetDateTime};

use super::{
    T0, is_conflict, new_user, read_user, rotated, rotation, session, stored, token_hash, unique,
    user,
};

// ---------------------------------------------------------------------------------------------
// helpers

/// A fresh email domain: every user of one check shares it, so `email_contains` scopes to them.
fn domain() -> String {
    format!("{}.io", unique())
}

async fn user_at(store: &Arc<dyn Store>, email: &str, roles: &[&str]) -> User {
    let email = Email::parse(email).unwrap_or_else(|e| panic!("{email:?} is valid: {e}"));
    store
        .create_user(&new_user(&email, roles, T0), &QueuedMail::none())
        .await
        .expect("create_user")
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A role name no other check uses.
fn role_name(label: &str) -> String {
    format!("{label}-{}", unique())
}

fn role(name: &str, description: &str, permissions: &[&str]) -> Role {
    Role {
        name: name.to_owned(),
        description: description.to_owned(),
        permissions: names(permissions),
        builtin: false,
    }
}

fn set_roles(roles: &[&str]) -> AdminPatch {
    AdminPatch {
        roles: Some(names(roles)),
        ..AdminPatch::default()
    }
}

async fn admin_update(
    store: &Arc<dyn Store>,
    id: UserId,
    patch: &AdminPatch,
    now: OffsetDateTime,
) -> User {
    store
        .admin_update_user(id, patch, now)
        .await
        .expect("admin_update_user")
}

/// The `authz_version` of each session, as stored.
async fn versions(store: &Arc<dyn Store>, ids: &[SessionId]) -> Vec<i64> {
    let mut out = Vec::new();
    for id in ids {
        out.push(stored(store, *id).await.authz_version);
    }
    out
}

/// Whether `user` is what `query` selects (the rule of `UserStore::list_users`).
fn selects(query: &UserQuery, user: &User) -> bool {
    user.deleted_at.is_some() == query.deleted
        && query
            .email_contains
            .as_ref()
            .is_none_or(|n| user.email.as_str().contains(&n.to_lowercase()))
        && query.status.is_none_or(|s| user.status == s)
        && query.verified.is_none_or(|v| user.email_verified == v)
        && query.role.as_ref().is_none_or(|r| user.roles.contains(r))
}

/// Every page of `query` from its cursor on, checking the paging rules: at most `limit` items
/// per page, ids ascending and after the cursor, a page followed by more is full and the next
/// one is not empty. Returns the pages.
async fn pages(store: &Arc<dyn Store>, query: &UserQuery) -> Vec<Vec<User>> {
    let mut q = query.clone();
    let mut out: Vec<Vec<User>> = Vec::new();
    loop {
        let page = store
            .list_users(&q)
            .await
            .unwrap_or_else(|e| panic!("list_users({q:?}): {e:?}"));
        let limit = q.limit as usize;
        assert!(
            page.items.len() <= limit,
            "at most limit ({limit}) users per page, got {} for {q:?}",
            page.items.len()
        );
        let mut previous = q.after;
        for u in &page.items {
            assert!(
                previous.is_none_or(|p| u.id > p),
                "ids strictly ascending, after the cursor, for {q:?}"
            );
            previous = Some(u.id);
        }
        if page.has_more {
            assert_eq!(
                page.items.len(),
                limit,
                "a page followed by more is full ({q:?})"
            );
        } else {
            assert!(
                out.is_empty() || !page.items.is_empty(),
                "has_more was true but nothing followed ({q:?})"
            );
            out.push(page.items);
            return out;
        }
        assert!(
            !page.items.is_empty(),
            "has_more with an empty page ({q:?})"
        );
        q.after = page.items.last().map(|u| u.id);
        out.push(page.items);
        assert!(out.len() <= 10_000, "list_users never ends for {query:?}");
    }
}

async fn list_all(store: &Arc<dyn Store>, query: &UserQuery) -> Vec<User> {
    pages(store, query).await.into_iter().flatten().collect()
}

/// Lists `query` (every page) and checks it against `ours` (the check's users, as stored):
/// every listed user matches the filters, and exactly the matching ones of `ours` are listed,
/// as stored, in id order.
async fn check_listing(store: &Arc<dyn Store>, ours: &[User], query: &UserQuery) {
    let listed = list_all(store, query).await;
    for u in &listed {
        assert!(
            selects(query, u),
            "list_users({query:?}) returned a user it does not select: {u:?}"
        );
    }
    let mine: BTreeSet<UserId> = ours.iter().map(|u| u.id).collect();
    let got: Vec<&User> = listed.iter().filter(|u| mine.contains(&u.id)).collect();
    let mut want: Vec<&User> = ours.iter().filter(|u| selects(query, u)).collect();
    want.sort_by_key(|u| u.id);
    assert_eq!(
        got, want,
        "list_users({query:?}) lists exactly the matching users"
    );
}

fn query(limit: u32) -> UserQuery {
    UserQuery {
        limit,
        ..UserQuery::default()
    }
}

// ---------------------------------------------------------------------------------------------
// authz_version

/// A new session has `authz_version` 0; a role change raises it; `rotate_refresh` keeps it
/// (returned and stored).
pub async fn authz_version_starts_at_zero_and_survives_rotation(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let s = session(&store, u.id, h1).await;
    assert_eq!(s.authz_version, 0, "a new session starts at version 0");
    assert_eq!(stored(&store, s.id).await.authz_version, 0);
    admin_update(&store, u.id, &set_roles(&["user", "admin"]), T0).await;
    assert_eq!(
        stored(&store, s.id).await.authz_version,
        1,
        "a role change raises the version"
    );
    let h2 = token_hash("h2");
    let after = rotated(
        store
            .rotate_refresh(&rotation(h1, h2, T0 + Duration::minutes(1)))
            .await
            .unwrap(),
        "rotation",
    );
    assert_eq!(after.authz_version, 1, "rotation keeps the version");
    assert_eq!(stored(&store, s.id).await.authz_version, 1);
    admin_update(&store, u.id, &set_roles(&["user"]), T0).await;
    let again = rotated(
        store
            .rotate_refresh(&rotation(h2, token_hash("h3"), T0 + Duration::minutes(2)))
            .await
            .unwrap(),
        "second rotation",
    );
    assert_eq!(again.authz_version, 2);
}

// ---------------------------------------------------------------------------------------------
// restore_user

/// `restore_user` clears `deleted_at`, sets `updated_at` and changes nothing else (revoked
/// sessions stay revoked); the user is live again. An unknown user, a live one and an already
/// restored one are `NotFound`.
pub async fn restore_user_undeletes(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let s = session(&store, u.id, token_hash("s")).await;
    let u = read_user(&store, u.id).await;
    let t1 = T0 + Duration::minutes(1);
    let t2 = T0 + Duration::minutes(2) + Duration::microseconds(3);
    let live = store.restore_user(u.id, t1).await;
    assert!(
        matches!(live, Err(StoreError::NotFound)),
        "restoring a live user is NotFound, got {live:?}"
    );
    assert_eq!(read_user(&store, u.id).await, u, "nothing changed");
    store.soft_delete_user(u.id, t1).await.expect("soft_delete");
    let deleted = read_user(&store, u.id).await;
    let restored = store.restore_user(u.id, t2).await.expect("restore_user");
    let expected = User {
        deleted_at: None,
        updated_at: t2,
        ..deleted
    };
    assert_eq!(restored, expected, "deleted_at cleared, updated_at = now");
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");
    assert_eq!(
        store
            .credentials_by_email(&u.email)
            .await
            .unwrap()
            .map(|c| c.user),
        Some(expected.clone()),
        "a restored user is live again"
    );
    assert_eq!(
        stored(&store, s.id).await.revoked_at,
        Some(t1),
        "sessions stay revoked"
    );
    let again = store.restore_user(u.id, t2).await;
    assert!(
        matches!(again, Err(StoreError::NotFound)),
        "restoring twice is NotFound, got {again:?}"
    );
    let unknown = store.restore_user(UserId::new_v7(T0), t2).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

// ---------------------------------------------------------------------------------------------
// admin_update_user

/// Each field of an `AdminPatch` alone: display name set and cleared, a new email stored
/// unverified (or verified when the patch says so), verification alone, status, roles
/// (unknown names ignored, sorted); every call sets `updated_at` and changes nothing else. An
/// empty patch only sets `updated_at`; the same email keeps its verification.
pub async fn admin_update_user_applies_each_field(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let mut expected = u.clone();
    let mut at = T0;
    let mut step = |patch: AdminPatch| {
        at += Duration::minutes(1) + Duration::microseconds(1);
        (patch, at)
    };

    let (patch, t) = step(AdminPatch::default());
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "empty patch"
    );

    let (patch, t) = step(AdminPatch {
        display_name: Some(Some("Grace Hopper".to_owned())),
        ..AdminPatch::default()
    });
    expected.display_name = Some("Grace Hopper".to_owned());
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "display name"
    );

    let (patch, t) = step(AdminPatch {
        email_verified: Some(true),
        ..AdminPatch::default()
    });
    expected.email_verified = true;
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "verify"
    );

    let (patch, t) = step(AdminPatch {
        email: Some(expected.email.clone()),
        ..AdminPatch::default()
    });
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "the same email keeps its verification"
    );

    let new_email = super::email("renamed");
    let (patch, t) = step(AdminPatch {
        email: Some(new_email.clone()),
        ..AdminPatch::default()
    });
    expected.email = new_email.clone();
    expected.email_verified = false;
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "a new email is unverified"
    );

    let verified_email = super::email("verified");
    let (patch, t) = step(AdminPatch {
        email: Some(verified_email.clone()),
        email_verified: Some(true),
        ..AdminPatch::default()
    });
    expected.email = verified_email.clone();
    expected.email_verified = true;
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "a new email verified by the patch"
    );
    assert!(
        store
            .credentials_by_email(&new_email)
            .await
            .unwrap()
            .is_none(),
        "the old email no longer finds the user"
    );

    let (patch, t) = step(AdminPatch {
        email_verified: Some(false),
        ..AdminPatch::default()
    });
    expected.email_verified = false;
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "unverify"
    );

    let (patch, t) = step(AdminPatch {
        display_name: Some(None),
        ..AdminPatch::default()
    });
    expected.display_name = None;
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "clear name"
    );

    let (patch, t) = step(set_roles(&["user", "no-such-role", "admin", "admin"]));
    expected.roles = names(&["admin", "user"]);
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "roles replaced, unknown ignored, sorted"
    );

    let (patch, t) = step(set_roles(&["admin"]));
    expected.roles = names(&["admin"]);
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "role removed"
    );

    let (patch, t) = step(set_roles(&[]));
    expected.roles = Vec::new();
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "no role"
    );

    let (patch, t) = step(AdminPatch {
        status: Some(UserStatus::Disabled),
        ..AdminPatch::default()
    });
    expected.status = UserStatus::Disabled;
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "disable"
    );

    let (patch, t) = step(AdminPatch {
        status: Some(UserStatus::Active),
        roles: Some(names(&["user"])),
        display_name: Some(Some("G".to_owned())),
        ..AdminPatch::default()
    });
    expected.status = UserStatus::Active;
    expected.roles = names(&["user"]);
    expected.display_name = Some("G".to_owned());
    expected.updated_at = t;
    assert_eq!(
        admin_update(&store, u.id, &patch, t).await,
        expected,
        "several fields at once"
    );
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");
    assert_eq!(
        read_user(&store, other.id).await,
        other,
        "other users untouched"
    );
}

/// `status: Disabled` revokes every unrevoked session of the user (an earlier revocation keeps
/// its time) and no one else's; `Active` and other fields revoke nothing.
pub async fn admin_update_user_disabling_revokes_sessions(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, u.id, token_hash("a")).await;
    let b = session(&store, u.id, token_hash("b")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    let t1 = T0 + Duration::minutes(1);
    assert!(store.revoke_session(u.id, b.id, t1).await.unwrap());
    let t2 = T0 + Duration::minutes(2);
    admin_update(
        &store,
        u.id,
        &AdminPatch {
            status: Some(UserStatus::Active),
            display_name: Some(Some("x".to_owned())),
            ..AdminPatch::default()
        },
        t2,
    )
    .await;
    assert_eq!(
        stored(&store, a.id).await.revoked_at,
        None,
        "Active revokes nothing"
    );
    let t3 = T0 + Duration::minutes(3);
    let disabled = admin_update(
        &store,
        u.id,
        &AdminPatch {
            status: Some(UserStatus::Disabled),
            ..AdminPatch::default()
        },
        t3,
    )
    .await;
    assert_eq!(disabled.status, UserStatus::Disabled);
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t3), "revoked");
    assert_eq!(
        stored(&store, b.id).await.revoked_at,
        Some(t1),
        "an earlier revocation keeps its time"
    );
    assert_eq!(
        stored(&store, theirs.id).await.revoked_at,
        None,
        "other users untouched"
    );
}

/// A taken email (a live or a soft-deleted user's) is `Conflict(Conflict::Email)` and nothing
/// of the patch is applied (neither the other fields nor the roles, no version raised); an
/// unknown or soft-deleted user is `NotFound`.
pub async fn admin_update_user_conflict_and_not_found(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let s = session(&store, u.id, token_hash("s")).await;
    let u = read_user(&store, u.id).await;
    let taken = user(&store).await;
    let gone = user(&store).await;
    store.soft_delete_user(gone.id, T0).await.unwrap();
    let t1 = T0 + Duration::minutes(1);
    for email in [&taken.email, &gone.email] {
        let result = store
            .admin_update_user(
                u.id,
                &AdminPatch {
                    email: Some(email.clone()),
                    display_name: Some(Some("changed".to_owned())),
                    email_verified: Some(true),
                    status: Some(UserStatus::Disabled),
                    roles: Some(names(&["admin"])),
                },
                t1,
            )
            .await;
        assert!(
            is_conflict(&result, Conflict::Email),
            "a taken email must be Conflict(Email), got {result:?}"
        );
        assert_eq!(read_user(&store, u.id).await, u, "nothing changed");
        let after = stored(&store, s.id).await;
        assert_eq!(after, s, "sessions untouched (not revoked, version kept)");
    }
    for id in [UserId::new_v7(T0), gone.id] {
        let result = store
            .admin_update_user(id, &set_roles(&["admin"]), t1)
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "unknown or deleted user must be NotFound, got {result:?}"
        );
    }
    assert_eq!(
        read_user(&store, gone.id).await,
        User {
            deleted_at: Some(T0),
            ..gone
        },
        "the deleted user is unchanged"
    );
}

/// A change of the role set raises the `authz_version` of every session of the user (revoked
/// ones included) by one, and of no other user's; the same set (in another order, with
/// duplicates or unknown names), a patch without roles, or one changing other fields, raises
/// nothing.
pub async fn admin_update_user_role_change_raises_authz_version(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, u.id, token_hash("a")).await;
    let b = session(&store, u.id, token_hash("b")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    assert!(
        store
            .revoke_session(u.id, b.id, T0 + Duration::seconds(1))
            .await
            .unwrap()
    );
    let ids = [a.id, b.id, theirs.id];
    let t = T0 + Duration::minutes(1);

    admin_update(&store, u.id, &set_roles(&["user"]), t).await;
    assert_eq!(versions(&store, &ids).await, [0, 0, 0], "same role set");
    admin_update(
        &store,
        u.id,
        &set_roles(&["user", "user", "no-such-role"]),
        t,
    )
    .await;
    assert_eq!(
        versions(&store, &ids).await,
        [0, 0, 0],
        "same set with duplicates and unknown names"
    );
    let renamed = AdminPatch {
        display_name: Some(Some("n".to_owned())),
        email_verified: Some(true),
        ..AdminPatch::default()
    };
    admin_update(&store, u.id, &renamed, t).await;
    assert_eq!(
        versions(&store, &ids).await,
        [0, 0, 0],
        "no roles in the patch"
    );

    admin_update(&store, u.id, &set_roles(&["admin", "user"]), t).await;
    assert_eq!(versions(&store, &ids).await, [1, 1, 0], "role added");
    admin_update(&store, u.id, &set_roles(&["user", "admin"]), t).await;
    assert_eq!(
        versions(&store, &ids).await,
        [1, 1, 0],
        "same set, other order"
    );
    admin_update(&store, u.id, &set_roles(&["admin"]), t).await;
    assert_eq!(versions(&store, &ids).await, [2, 2, 0], "role removed");
    admin_update(&store, u.id, &set_roles(&["user"]), t).await;
    assert_eq!(versions(&store, &ids).await, [3, 3, 0], "role swapped");
    admin_update(&store, u.id, &set_roles(&[]), t).await;
    assert_eq!(
        versions(&store, &ids).await,
        [4, 4, 0],
        "every role removed"
    );
    admin_update(&store, u.id, &set_roles(&["no-such-role"]), t).await;
    assert_eq!(
        versions(&store, &ids).await,
        [4, 4, 0],
        "still no role: unknown names change nothing"
    );
    let c = session(&store, u.id, token_hash("c")).await;
    assert_eq!(c.authz_version, 0, "a new session starts at 0");
}

// ---------------------------------------------------------------------------------------------
// list_users

/// 250 users listed with page sizes 1, 7, 50 and 100: each exactly once, in id order; every
/// page but the last is full and says `has_more`, the last does not (also when the count is a
/// multiple of the page size), and nothing follows it.
pub async fn list_users_paginates_every_user_once(store: Arc<dyn Store>) {
    let domain = domain();
    let mut ours = Vec::new();
    for i in 0..250 {
        ours.push(user_at(&store, &format!("p{i}@{domain}"), &["user"]).await);
    }
    let mut ids: Vec<UserId> = ours.iter().map(|u| u.id).collect();
    ids.sort();
    let mine: BTreeSet<UserId> = ids.iter().copied().collect();
    for limit in [1, 7, 50, 100] {
        // Unscoped (the store may hold other users): ours appear once each, in order.
        let all = list_all(&store, &query(limit)).await;
        let got: Vec<UserId> = all
            .iter()
            .map(|u| u.id)
            .filter(|id| mine.contains(id))
            .collect();
        assert_eq!(
            got, ids,
            "every user exactly once, in id order (limit {limit})"
        );
        // Scoped to ours: exact page shapes.
        let scoped = UserQuery {
            email_contains: Some(domain.clone()),
            ..query(limit)
        };
        let pages = pages(&store, &scoped).await;
        let expected_pages = ids.len().div_ceil(limit as usize);
        assert_eq!(
            pages.len(),
            expected_pages,
            "{} users in pages of {limit}",
            ids.len()
        );
        let listed: Vec<UserId> = pages.iter().flatten().map(|u| u.id).collect();
        assert_eq!(listed, ids, "scoped listing (limit {limit})");
        let last = *listed.last().unwrap();
        let after_last = store
            .list_users(&UserQuery {
                after: Some(last),
                ..scoped.clone()
            })
            .await
            .unwrap();
        assert!(
            after_last.items.is_empty() && !after_last.has_more,
            "nothing after the last page"
        );
    }
    // The users are returned as stored.
    let first = store
        .list_users(&UserQuery {
            email_contains: Some(domain.clone()),
            ..query(100)
        })
        .await
        .unwrap();
    for u in &first.items {
        assert_eq!(*u, read_user(&store, u.id).await, "listed as stored");
    }
    // A cursor in the middle.
    let middle = store
        .list_users(&UserQuery {
            email_contains: Some(domain.clone()),
            after: Some(ids[99]),
            ..query(100)
        })
        .await
        .unwrap();
    let got: Vec<UserId> = middle.items.iter().map(|u| u.id).collect();
    assert_eq!(got, ids[100..200].to_vec(), "the page after a cursor");
    assert!(middle.has_more);
}

/// Every filter alone and combined (status, verified, role, deleted, email), each checked
/// against the filter rule, page by page: only matching users, all of them, in id order.
/// Soft-deleted users are listed only with `deleted: true`, live ones only without.
pub async fn list_users_filters_alone_and_combined(store: Arc<dyn Store>) {
    let domain = domain();
    let team = role_name("team");
    store
        .create_role(&role(&team, "a team", &["users:read"]))
        .await
        .expect("create_role");
    // (status, verified, roles, deleted), twice each.
    let shapes: [(UserStatus, bool, &[&str], bool); 7] = [
        (UserStatus::Active, false, &["user"], false),
        (UserStatus::Disabled, false, &["user", "team"], false),
        (UserStatus::Active, true, &["team"], false),
        (UserStatus::Disabled, true, &[], false),
        (UserStatus::Active, true, &["user", "team"], true),
        (UserStatus::Disabled, false, &["user"], true),
        (UserStatus::Active, true, &["user", "admin"], false),
    ];
    let mut ours = Vec::new();
    for copy in 0..2 {
        for (i, (status, verified, roles, deleted)) in shapes.iter().enumerate() {
            let roles: Vec<&str> = roles
                .iter()
                .map(|r| if *r == "team" { team.as_str() } else { *r })
                .collect();
            let u = user_at(&store, &format!("f{i}.{copy}@{domain}"), &roles).await;
            let t = T0 + Duration::minutes(1);
            admin_update(
                &store,
                u.id,
                &AdminPatch {
                    status: Some(*status),
                    email_verified: Some(*verified),
                    ..AdminPatch::default()
                },
                t,
            )
            .await;
            if *deleted {
                store.soft_delete_user(u.id, t).await.expect("soft_delete");
            }
            ours.push(read_user(&store, u.id).await);
        }
    }
    let scope = Some(domain.clone());
    let mut queries = Vec::new();
    for deleted in [false, true] {
        for email in [None, scope.clone()] {
            for status in [None, Some(UserStatus::Active), Some(UserStatus::Disabled)] {
                for verified in [None, Some(true), Some(false)] {
                    for role in [None, Some(team.clone()), Some("user".to_owned())] {
                        queries.push(UserQuery {
                            email_contains: email.clone(),
                            status,
                            role,
                            verified,
                            deleted,
                            after: None,
                            limit: 100,
                        });
                    }
                }
            }
        }
    }
    for q in &queries {
        check_listing(&store, &ours, q).await;
    }
    // Small pages over filtered listings (scoped, so that they stay short).
    for q in queries.iter().filter(|q| q.email_contains.is_some()) {
        for limit in [1, 2] {
            check_listing(&store, &ours, &UserQuery { limit, ..q.clone() }).await;
        }
    }
    let nobody = UserQuery {
        role: Some(role_name("nobody")),
        ..query(100)
    };
    assert!(
        list_all(&store, &nobody).await.is_empty(),
        "a role nobody holds lists nobody"
    );
    // Restoring moves a user from the deleted listing to the live one.
    let deleted = ours
        .iter()
        .find(|u| u.deleted_at.is_some())
        .unwrap()
        .clone();
    let restored = store
        .restore_user(deleted.id, T0 + Duration::hours(1))
        .await
        .expect("restore_user");
    for (i, u) in ours.iter_mut().enumerate() {
        if u.id == restored.id {
            ours[i] = restored.clone();
            break;
        }
    }
    for deleted in [false, true] {
        check_listing(
            &store,
            &ours,
            &UserQuery {
                email_contains: scope.clone(),
                deleted,
                ..query(3)
            },
        )
        .await;
    }
}

/// `email_contains` is a case-insensitive, literal substring: `%`, `_` and `\` are not
/// wildcards or escapes, quotes and SQL fragments are plain text, and a search for `_` or `%`
/// does not match every user.
pub async fn list_users_email_contains_is_literal(store: Arc<dyn Store>) {
    let d = domain();
    let locals = [
        "a_b", "axb", "a%b", "azzb", "a\\b", "ab", "o'neil", "oxneil", "plain", "a\\_b", "a\\xb",
    ];
    let mut ours = Vec::new();
    for local in locals {
        ours.push(user_at(&store, &format!("{local}@{d}"), &["user"]).await);
    }
    let find = |needle: String| {
        let store = Arc::clone(&store);
        let ours = ours.clone();
        async move {
            let q = UserQuery {
                email_contains: Some(needle.clone()),
                ..query(100)
            };
            check_listing(&store, &ours, &q).await;
            let mine: BTreeSet<UserId> = ours.iter().map(|u| u.id).collect();
            let mut got: Vec<String> = list_all(&store, &q)
                .await
                .into_iter()
                .filter(|u| mine.contains(&u.id))
                .map(|u| u.email.local_part().to_owned())
                .collect();
            got.sort();
            got
        }
    };
    let upper = d.to_uppercase();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("_b@{d}"), vec!["a\\_b", "a_b"]),
        (format!("a_b@{upper}"), vec!["a_b"]),
        ("A_B@".to_owned(), vec!["a_b"]),
        (format!("a%b@{d}"), vec!["a%b"]),
        ("%".to_owned(), vec!["a%b"]),
        ("_".to_owned(), vec!["a\\_b", "a_b"]),
        ("\\".to_owned(), vec!["a\\_b", "a\\b", "a\\xb"]),
        (format!("a\\b@{d}"), vec!["a\\b"]),
        (format!("a\\_b@{d}"), vec!["a\\_b"]),
        ("'".to_owned(), vec!["o'neil"]),
        ("O'NEIL@".to_owned(), vec!["o'neil"]),
        ("\"".to_owned(), vec![]),
        ("' OR 1=1 --".to_owned(), vec![]),
        ("' OR '1'='1".to_owned(), vec![]),
        ("%' OR email LIKE '%".to_owned(), vec![]),
        ("a%".to_owned(), vec!["a%b"]),
        ("[ab]".to_owned(), vec![]),
        ("*".to_owned(), vec![]),
        (format!("@{d}"), locals.to_vec()),
    ];
    for (needle, mut want) in cases {
        want.sort_unstable();
        let got = find(needle.clone()).await;
        assert_eq!(got, want, "email_contains {needle:?} matches literally");
    }
}

// ---------------------------------------------------------------------------------------------
// roles

/// The built-in roles are listed as built-in with their permissions; `create_role` stores a
/// role (never built-in, permissions sorted without duplicates) and an existing name is
/// `Conflict(Conflict::Other)`; `roles()` is by name; `update_role` replaces description and
/// permissions (`NotFound` for an unknown role); `delete_role` removes the role and its grants
/// (`NotFound` when unknown, `Conflict(Conflict::Other)` for a built-in one, which stays).
pub async fn roles_crud(store: Arc<dyn Store>) {
    let mut all: Vec<String> = ALL_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect();
    all.sort();
    let listed = store.roles().await.expect("roles");
    let names_listed: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    let mut by_name = names_listed.clone();
    by_name.sort_unstable();
    assert_eq!(names_listed, by_name, "roles() is sorted by name");
    let admin = listed.iter().find(|r| r.name == "admin").expect("admin");
    assert!(admin.builtin, "admin is built-in");
    assert_eq!(admin.permissions, all, "admin holds every permission");
    let user_role = listed.iter().find(|r| r.name == "user").expect("user");
    assert!(user_role.builtin, "user is built-in");
    assert!(user_role.permissions.is_empty(), "user holds none");

    let name = role_name("editors");
    let mut asked = role(
        &name,
        "Edit things",
        &["users:write", "notes:edit", "users:write", "a.b-c_d:e"],
    );
    asked.builtin = true;
    let created = store.create_role(&asked).await.expect("create_role");
    let expected = Role {
        name: name.clone(),
        description: "Edit things".to_owned(),
        permissions: names(&["a.b-c_d:e", "notes:edit", "users:write"]),
        builtin: false,
    };
    assert_eq!(
        created, expected,
        "never built-in, permissions sorted and unique"
    );
    let find = |roles: Vec<Role>, name: &str| roles.into_iter().find(|r| r.name == name);
    assert_eq!(
        find(store.roles().await.unwrap(), &name),
        Some(expected.clone()),
        "listed"
    );
    assert_eq!(
        store.permissions_of(&names(&[&name])).await.unwrap(),
        expected.permissions
    );
    for taken in [name.as_str(), "admin", "user"] {
        let again = store.create_role(&role(taken, "again", &["x:y"])).await;
        assert!(
            is_conflict(&again, Conflict::Other),
            "an existing name is Conflict(Other), got {again:?}"
        );
    }
    assert_eq!(
        find(store.roles().await.unwrap(), &name),
        Some(expected.clone()),
        "the conflicting create changed nothing"
    );
    assert_eq!(
        store.permissions_of(&names(&["admin"])).await.unwrap(),
        all,
        "admin unchanged"
    );

    let empty = role_name("empty");
    let made = store.create_role(&role(&empty, "", &[])).await.unwrap();
    assert!(made.permissions.is_empty() && made.description.is_empty());
    assert_eq!(find(store.roles().await.unwrap(), &empty), Some(made));

    let updated = store
        .update_role(&role(&name, "Edit more", &["z:z", "notes:edit", "z:z"]))
        .await
        .expect("update_role");
    let expected = Role {
        description: "Edit more".to_owned(),
        permissions: names(&["notes:edit", "z:z"]),
        ..expected
    };
    assert_eq!(updated, expected, "description and permissions replaced");
    assert_eq!(
        find(store.roles().await.unwrap(), &name),
        Some(expected.clone())
    );
    assert_eq!(
        store.permissions_of(&names(&[&name])).await.unwrap(),
        expected.permissions
    );
    let unknown = store
        .update_role(&role(&role_name("ghost"), "", &["a:b"]))
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    let builtin = store
        .update_role(&Role {
            builtin: false,
            ..user_role.clone()
        })
        .await
        .expect("a built-in role can be updated");
    assert!(builtin.builtin, "and stays built-in");

    let holder = user_at(
        &store,
        &format!("holder@{}", domain()),
        &["user", name.as_str()],
    )
    .await;
    assert_eq!(holder.roles, sorted(&["user", &name]));
    for protected in ["admin", "user"] {
        let result = store.delete_role(protected).await;
        assert!(
            is_conflict(&result, Conflict::Other),
            "deleting a built-in role is Conflict(Other), got {result:?}"
        );
    }
    assert_eq!(
        store.permissions_of(&names(&["admin"])).await.unwrap(),
        all,
        "admin still there"
    );
    store.delete_role(&name).await.expect("delete_role");
    assert_eq!(find(store.roles().await.unwrap(), &name), None, "deleted");
    assert!(
        store
            .permissions_of(&names(&[&name]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        read_user(&store, holder.id).await.roles,
        ["user"],
        "its grants are gone"
    );
    let again = store.delete_role(&name).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    let unknown = store.delete_role(&role_name("ghost")).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");

    // The name is free again, with nothing left of the old role.
    let reborn = store
        .create_role(&role(&name, "new", &["only:this"]))
        .await
        .expect("re-create");
    assert_eq!(reborn.permissions, ["only:this"]);
    assert_eq!(
        store.permissions_of(&names(&[&name])).await.unwrap(),
        ["only:this"]
    );
    assert_eq!(read_user(&store, holder.id).await.roles, ["user"]);
    let listed: Vec<User> = list_all(
        &store,
        &UserQuery {
            role: Some(name.clone()),
            ..query(100)
        },
    )
    .await;
    assert!(listed.is_empty(), "nobody holds the re-created role");
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v = names(items);
    v.sort();
    v
}

/// `update_role` raises the `authz_version` of every session of the role's holders (and of
/// nobody else) when the permissions change, not when only the description does or the same
/// permissions come in another order; `delete_role` raises it for the holders; refused
/// deletions raise nothing.
pub async fn role_changes_raise_authz_version_of_holders_only(store: Arc<dyn Store>) {
    let name = role_name("ops");
    let other_role = role_name("other");
    store
        .create_role(&role(&name, "ops", &["b:b", "a:a"]))
        .await
        .expect("create_role");
    store
        .create_role(&role(&other_role, "other", &["c:c"]))
        .await
        .expect("create_role");
    let d = domain();
    let a = user_at(&store, &format!("a@{d}"), &["user", &name]).await;
    let b = user_at(&store, &format!("b@{d}"), &[&name]).await;
    let c = user_at(&store, &format!("c@{d}"), &["user", &other_role]).await;
    let a1 = session(&store, a.id, token_hash("a1")).await;
    let a2 = session(&store, a.id, token_hash("a2")).await;
    let b1 = session(&store, b.id, token_hash("b1")).await;
    let c1 = session(&store, c.id, token_hash("c1")).await;
    let ids = [a1.id, a2.id, b1.id, c1.id];

    store
        .update_role(&role(&name, "new description", &["a:a", "b:b", "a:a"]))
        .await
        .unwrap();
    assert_eq!(
        versions(&store, &ids).await,
        [0, 0, 0, 0],
        "same permissions (other order, duplicates): no raise"
    );
    store
        .update_role(&role(&name, "new description", &["a:a"]))
        .await
        .unwrap();
    assert_eq!(
        versions(&store, &ids).await,
        [1, 1, 1, 0],
        "permissions changed: holders raised"
    );
    store
        .update_role(&role(&name, "new description", &["a:a", "d:d"]))
        .await
        .unwrap();
    assert_eq!(versions(&store, &ids).await, [2, 2, 2, 0]);
    store
        .update_role(&role(&other_role, "other", &[]))
        .await
        .unwrap();
    assert_eq!(
        versions(&store, &ids).await,
        [2, 2, 2, 1],
        "the other role's holder only"
    );
    for builtin in ["admin", "user"] {
        assert!(store.delete_role(builtin).await.is_err());
    }
    assert_eq!(
        versions(&store, &ids).await,
        [2, 2, 2, 1],
        "a refused deletion raises nothing"
    );
    assert!(matches!(
        store.delete_role(&role_name("ghost")).await,
        Err(StoreError::NotFound)
    ));
    store.delete_role(&name).await.expect("delete_role");
    assert_eq!(
        versions(&store, &ids).await,
        [3, 3, 3, 1],
        "deleting the role raises its holders"
    );
    assert_eq!(read_user(&store, a.id).await.roles, ["user"]);
    assert!(read_user(&store, b.id).await.roles.is_empty());
    assert_eq!(
        read_user(&store, c.id).await.roles,
        sorted(&["user", &other_role])
    );
}

// ---------------------------------------------------------------------------------------------
// list_audit

/// `list_audit` lists newest first (id descending) from before the cursor, filtered by subject
/// and event name, alone or together, page by page with `has_more` exact; events read back
/// exactly.
pub async fn list_audit_orders_filters_and_pages(store: Arc<dyn Store>) {
    let a = user(&store).await;
    let b = user(&store).await;
    let login = format!("login-{}", unique());
    let logout = format!("logout-{}", unique());
    let mut ours = Vec::new();
    for i in 0..24_i64 {
        let at = T0 + Duration::seconds(i % 5) + Duration::microseconds(i);
        let subject = match i % 3 {
            0 => Some(a.id),
            1 => Some(b.id),
            _ => None,
        };
        let event = AuditEvent {
            id: authkit_core::domain::new_v7(at),
            at,
            event: if i % 2 == 0 {
                login.clone()
            } else {
                logout.clone()
            },
            user_id: subject,
            actor_id: Some(b.id),
            ip: Some("192.0.2.1".parse().unwrap()),
            user_agent: Some(format!("agent {i}")),
            detail: serde_json::json!({ "i": i }),
        };
        store.append_audit(&event).await.expect("append_audit");
        ours.push(event);
    }
    ours.sort_by_key(|e| std::cmp::Reverse(e.id));
    let mine: BTreeSet<uuid::Uuid> = ours.iter().map(|e| e.id).collect();
    let select = |q: &AuditQuery, e: &AuditEvent| {
        q.user_id.is_none_or(|u| e.user_id == Some(u))
            && q.event.as_ref().is_none_or(|ev| e.event == *ev)
            && q.before.is_none_or(|b| e.id < b)
    };
    for user_id in [None, Some(a.id), Some(b.id)] {
        for event in [None, Some(login.clone()), Some(logout.clone())] {
            for limit in [1, 5, 100] {
                let first = AuditQuery {
                    user_id,
                    event: event.clone(),
                    before: None,
                    limit,
                };
                let mut q = first.clone();
                let mut listed: Vec<AuditEvent> = Vec::new();
                loop {
                    let page = store.list_audit(&q).await.expect("list_audit");
                    assert!(page.items.len() <= limit as usize, "at most limit");
                    let mut previous = q.before;
                    for e in &page.items {
                        assert!(
                            previous.is_none_or(|p| e.id < p),
                            "ids strictly descending, before the cursor ({q:?})"
                        );
                        previous = Some(e.id);
                        assert!(select(&q, e), "{e:?} does not match {q:?}");
                    }
                    let more = page.has_more;
                    if more {
                        assert_eq!(page.items.len(), limit as usize, "full page before more");
                        assert!(!page.items.is_empty());
                    }
                    q.before = page.items.last().map(|e| e.id);
                    listed.extend(page.items);
                    if !more {
                        break;
                    }
                    assert!(listed.len() < 100_000, "list_audit never ends");
                }
                let got: Vec<AuditEvent> = listed
                    .into_iter()
                    .filter(|e| mine.contains(&e.id))
                    .collect();
                let want: Vec<AuditEvent> =
                    ours.iter().filter(|e| select(&first, e)).cloned().collect();
                assert_eq!(
                    got, want,
                    "list_audit({first:?}) lists exactly ours, newest first"
                );
            }
        }
    }
    // A cursor in the middle, scoped to one event name so that the page is exact.
    let logins: Vec<&AuditEvent> = ours.iter().filter(|e| e.event == login).collect();
    let page = store
        .list_audit(&AuditQuery {
            user_id: None,
            event: Some(login.clone()),
            before: Some(logins[3].id),
            limit: 4,
        })
        .await
        .unwrap();
    let want: Vec<AuditEvent> = logins[4..8].iter().map(|e| (*e).clone()).collect();
    assert_eq!(page.items, want, "the page before a cursor");
    assert!(page.has_more, "more logins follow");
    let tail = store
        .list_audit(&AuditQuery {
            user_id: None,
            event: Some(login.clone()),
            before: Some(logins[logins.len() - 3].id),
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(tail.items.len(), 2);
    assert!(!tail.has_more, "exactly the last two: no more");
    let none = store
        .list_audit(&AuditQuery {
            user_id: None,
            event: Some(format!("never-{}", unique())),
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(none.items.is_empty() && !none.has_more);
}
