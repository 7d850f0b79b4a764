//! A login whose account changes while its password is checked (between the credentials read
//! and the session's insert), on `MemoryStore`: the token carries the account as the session's
//! transaction saw it, and an account disabled meanwhile gets no session.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use authkit_core::domain::{AdminPatch, Email, Password, PasswordHash, UserId, UserStatus};
use authkit_core::hashing::Argon2Hasher;
use authkit_core::ports::{
    AuditStore, Clock, HashError, PasswordHasher, RoleStore, SessionStore, UserStore,
};
use authkit_core::service::{LoginInput, RequestContext};
use authkit_core::testing::{ManualClock, MemoryStore, fast_hasher};
use authkit_core::{AuthKit, Error};

use common::{PASSWORD, register};

/// A change to an account that the next password verification applies, once.
type Pending = Arc<Mutex<Option<(UserId, AdminPatch)>>>;

/// The test's hasher: it verifies, then applies the pending change (the login has read the
/// credentials and not yet opened the session).
#[derive(Debug)]
struct ChangesDuringVerify {
    inner: Argon2Hasher,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    pending: Pending,
}

#[async_trait]
impl PasswordHasher for ChangesDuringVerify {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let verified = self.inner.verify(password, hash).await;
        let patch = self.pending.lock().unwrap().take();
        if let Some((id, patch)) = patch {
            self.store
                .admin_update_user(id, &patch, self.clock.now())
                .await
                .unwrap();
        }
        verified
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        self.inner.needs_rehash(hash)
    }
}

struct Kit {
    kit: AuthKit,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    pending: Pending,
}

fn kit() -> Kit {
    let clock = Arc::new(ManualClock::starting_now());
    let store = Arc::new(MemoryStore::new());
    let pending = Pending::default();
    let hasher = ChangesDuringVerify {
        inner: fast_hasher(),
        store: store.clone(),
        clock: clock.clone(),
        pending: pending.clone(),
    };
    let kit = common::builder(store.clone(), clock.clone())
        .hasher(hasher)
        .build()
        .unwrap();
    Kit {
        kit,
        store,
        clock,
        pending,
    }
}

/// Registers `email` as an administrator; returns the user's id.
async fn admin(k: &Kit, email: &str) -> UserId {
    let id = register(&k.kit, email).await;
    let grant = AdminPatch {
        roles: Some(vec!["admin".to_owned()]),
        ..AdminPatch::default()
    };
    k.store
        .admin_update_user(id, &grant, k.clock.now())
        .await
        .unwrap();
    id
}

impl Kit {
    async fn login(&self, email: &str) -> Result<authkit_core::service::TokenPair, Error> {
        let input = LoginInput {
            email: Email::parse(email).unwrap(),
            password: Password::new(PASSWORD),
            remember_me: false,
        };
        self.kit.login(&RequestContext::default(), input).await
    }
}

/// An administrator whose role is taken away while the login checks the password: the token
/// carries the roles and permissions of the session's transaction, not the admin role the
/// credentials read still had (which no `authz_version` would catch: the session did not exist
/// when the role went).
#[tokio::test]
async fn a_role_taken_away_during_the_password_check_is_not_in_the_token() {
    let k = kit();
    let id = admin(&k, "demoted@example.com").await;
    let demote = AdminPatch {
        roles: Some(vec!["user".to_owned()]),
        ..AdminPatch::default()
    };
    *k.pending.lock().unwrap() = Some((id, demote));

    let pair = k.login("demoted@example.com").await.unwrap();
    assert!(k.pending.lock().unwrap().is_none(), "the change ran");
    assert_eq!(pair.user.roles, ["user"]);
    let principal = k.kit.authenticate_token(&pair.access_token).await.unwrap();
    assert_eq!(principal.roles, ["user"]);
    assert_eq!(
        principal.perms,
        k.store.permissions_of(&["user".to_owned()]).await.unwrap()
    );
    assert!(!principal.has("users:read"), "{:?}", principal.perms);
}

/// An account disabled while the login checks the password gets no live session and no token:
/// `AccountDisabled`, as a login that started after the change, and a `login_failed` event.
#[tokio::test]
async fn an_account_disabled_during_the_password_check_gets_no_session() {
    let k = kit();
    let id = admin(&k, "disabled@example.com").await;
    let disable = AdminPatch {
        status: Some(UserStatus::Disabled),
        ..AdminPatch::default()
    };
    *k.pending.lock().unwrap() = Some((id, disable));

    let refused = k.login("disabled@example.com").await;
    assert!(
        matches!(refused, Err(Error::AccountDisabled)),
        "{refused:?}"
    );
    let now = k.clock.now();
    let sessions = k.store.sessions_of(id).await.unwrap();
    assert_eq!(sessions.len(), 1, "the session was opened, then revoked");
    assert!(sessions.iter().all(|s| !s.is_live(now)), "{sessions:?}");
    let events: Vec<_> = k
        .store
        .audit_of_user(id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event, e.detail))
        .collect();
    let refusal = (
        "login_failed".to_owned(),
        serde_json::json!({ "reason": "account_disabled" }),
    );
    assert!(events.contains(&refusal), "{events:?}");
}
