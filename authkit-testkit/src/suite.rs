//! The conformance checks, one `pub async fn` per rule. [`store_suite!`](crate::store_suite)
//! calls each with a fresh store; they can also be called directly.
//!
//! Every check panics (with a message naming the broken rule) when the store misbehaves. Times
//! are fixed and microsecond-precise; emails, hashes and key ids carry a random suffix, so the
//! checks also tolerate a store shared with other data (except where noted: the outbox checks
//! and the purge checks need a store of their own).
//!
//! The checks whose name starts with `rate_limit_` or `concurrent_rate_limit_` take a
//! [`RateLimitStore`](authkit_core::ports::RateLimitStore) instead; they are stamped by
//! [`rate_limit_suite!`](crate::rate_limit_suite).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};

use authkit_core::domain::{
    ALL_PERMISSIONS, AdminPatch, AuditEvent, Email, NewOneTimeToken, NewSession, NewUser,
    PasswordHash, ProfilePatch, QueuedMail, RefreshAudit, RefreshRotation, RefreshSelector,
    RotateOutcome, Session, SessionId, SessionOwner, StoredSigningKey, TokenHash, TokenPurpose,
    User, UserId, UserStatus,
};
use authkit_core::ports::{Conflict, Store, StoreError};
use secrecy::{ExposeSecret as _, SecretBox};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;
use uuid::Uuid;

mod admin;
mod limits;
mod outbox;
pub use admin::*;
pub use limits::*;
pub use outbox::*;

/// The suite's fixed "now": a whole number of microseconds, as every store must round-trip.
pub const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05.123456 UTC);

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$c29tZWhhc2hzb21laGFzaA";

// ---------------------------------------------------------------------------------------------
// helpers

/// A random suffix that keeps values of concurrent or repeated checks apart.
fn unique() -> String {
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 0, 0))
        .simple()
        .to_string()
}

fn email(local: &str) -> Email {
    Email::parse(&format!("{local}.{}@example.com", unique())).unwrap()
}

fn new_user(email: &Email, roles: &[&str], now: OffsetDateTime) -> NewUser {
    NewUser {
        id: UserId::new_v7(now),
        email: email.clone(),
        display_name: None,
        locale: None,
        password_hash: PasswordHash::new(HASH),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        now,
    }
}

async fn user(store: &Arc<dyn Store>) -> User {
    store
        .create_user(
            &new_user(&email("user"), &["user"], T0),
            &QueuedMail::none(),
        )
        .await
        .expect("create_user")
}

fn token_hash(label: &str) -> TokenHash {
    TokenHash::of(&format!("{label}-{}", unique()))
}

/// The selector of each refresh hash the suite made ([`new_session`], [`rotation`]), as core
/// pairs them: a session's tokens all carry the selector it was opened with.
static SELECTORS: LazyLock<Mutex<HashMap<TokenHash, RefreshSelector>>> =
    LazyLock::new(Mutex::default);

fn selectors() -> std::sync::MutexGuard<'static, HashMap<TokenHash, RefreshSelector>> {
    SELECTORS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new session whose first refresh hash is `hash`, with a selector of its own.
fn new_session(user: UserId, hash: TokenHash, now: OffsetDateTime) -> NewSession {
    let selector = RefreshSelector::generate().expect("a selector");
    selectors().insert(hash, selector);
    NewSession {
        id: SessionId::new_v7(now),
        user_id: user,
        refresh_hash: hash,
        refresh_selector: Some(selector),
        now,
        expires_at: now + Duration::days(30),
        idle_expires_at: now + Duration::days(14),
        remember_me: false,
        ip: Some(IpAddr::from([192, 0, 2, 7])),
        user_agent: Some("suite/1.0".to_owned()),
    }
}

async fn session(store: &Arc<dyn Store>, user: UserId, hash: TokenHash) -> Session {
    store
        .create_session(&new_session(user, hash, T0))
        .await
        .expect("create_session")
}

async fn stored(store: &Arc<dyn Store>, id: SessionId) -> Session {
    store
        .session(id)
        .await
        .expect("session")
        .expect("the session exists")
}

/// The rotation of `presented` to `next`, with the selector a client's token of `presented`
/// carries (`None` for a hash the suite never issued, or one of a session without selector).
fn rotation(presented: TokenHash, next: TokenHash, now: OffsetDateTime) -> RefreshRotation {
    let mut selectors = selectors();
    let selector = selectors.get(&presented).copied();
    if let Some(selector) = selector {
        selectors.insert(next, selector);
    }
    RefreshRotation {
        selector,
        presented,
        next,
        now,
        idle_expires_at: now + Duration::days(14),
    }
}

fn rotated(outcome: RotateOutcome, what: &str) -> Session {
    match outcome {
        RotateOutcome::Rotated(s) => s,
        other => panic!("{what}: expected Rotated, got {other:?}"),
    }
}

fn new_token(user: &User, purpose: TokenPurpose, hash: TokenHash) -> NewOneTimeToken {
    NewOneTimeToken {
        hash,
        purpose,
        user_id: user.id,
        email: user.email.clone(),
        created_at: T0,
        expires_at: T0 + Duration::minutes(30),
    }
}

fn is_conflict(result: &Result<impl std::fmt::Debug, StoreError>, which: Conflict) -> bool {
    matches!(result, Err(StoreError::Conflict(c)) if *c == which)
}

// ---------------------------------------------------------------------------------------------
// users

/// `create_user` returns the user as stored and `user_by_id` reads it back identically
/// (timestamps to the microsecond); an unknown id is `None`.
pub async fn create_user_and_get_it(store: Arc<dyn Store>) {
    let email = email("Ada");
    let mut new = new_user(&email, &["user"], T0);
    new.display_name = Some("Ada Lovelace".to_owned());
    let created = store
        .create_user(&new, &QueuedMail::none())
        .await
        .expect("create_user");
    let expected = User {
        id: new.id,
        email: email.clone(),
        email_verified: false,
        display_name: Some("Ada Lovelace".to_owned()),
        locale: None,
        status: UserStatus::Active,
        roles: vec!["user".to_owned()],
        created_at: T0,
        updated_at: T0,
        last_login_at: None,
        deleted_at: None,
    };
    assert_eq!(created, expected, "create_user must return the stored user");
    let read = store.user_by_id(new.id).await.expect("user_by_id");
    assert_eq!(read, Some(expected), "user_by_id must read the user back");
    let unknown = store
        .user_by_id(UserId::new_v7(T0))
        .await
        .expect("user_by_id");
    assert_eq!(unknown, None, "an unknown id is None");
}

/// A second user with the same normalized email (other letter case) is
/// `Conflict(Conflict::Email)`, and the first user is untouched.
pub async fn email_conflict_is_case_insensitive(store: Arc<dyn Store>) {
    let suffix = unique();
    let first = Email::parse(&format!("Grace.{suffix}@Example.COM")).unwrap();
    let second = Email::parse(&format!("  grace.{suffix}@EXAMPLE.com")).unwrap();
    let created = store
        .create_user(&new_user(&first, &["user"], T0), &QueuedMail::none())
        .await
        .expect("create_user");
    let again = store
        .create_user(
            &new_user(&second, &["admin"], T0 + Duration::seconds(1)),
            &QueuedMail::none(),
        )
        .await;
    assert!(
        is_conflict(&again, Conflict::Email),
        "same normalized email must be Conflict(Email), got {again:?}"
    );
    let creds = store
        .credentials_by_email(&second)
        .await
        .expect("credentials_by_email")
        .expect("the first user is still there");
    assert_eq!(
        creds.user, created,
        "the conflicting insert changed nothing"
    );
}

/// Reusing a user id (with another email) is `Conflict(Conflict::Id)`.
pub async fn duplicate_user_id_conflicts(store: Arc<dyn Store>) {
    let created = user(&store).await;
    let mut again = new_user(&email("other"), &["user"], T0);
    again.id = created.id;
    let result = store.create_user(&again, &QueuedMail::none()).await;
    assert!(
        is_conflict(&result, Conflict::Id),
        "a reused user id must be Conflict(Id), got {result:?}"
    );
    assert_eq!(
        store
            .credentials_by_email(&again.email)
            .await
            .unwrap()
            .map(|c| c.user.id),
        None,
        "the conflicting user must not exist"
    );
}

/// Eight concurrent `create_user` with one email: exactly one succeeds, the others are
/// `Conflict(Conflict::Email)`.
pub async fn concurrent_create_user_one_email_succeeds_once(store: Arc<dyn Store>) {
    let email = email("race");
    let mut tasks = JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let new = new_user(&email, &["user"], T0 + Duration::milliseconds(i));
        tasks.spawn(async move { (new.id, store.create_user(&new, &QueuedMail::none()).await) });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, result) = joined.expect("task");
        match result {
            Ok(u) => winners.push((id, u)),
            Err(StoreError::Conflict(Conflict::Email)) => {}
            Err(e) => panic!("a losing create_user must be Conflict(Email), got {e:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent create_user succeeds"
    );
    let (id, winner) = &winners[0];
    let creds = store
        .credentials_by_email(&email)
        .await
        .unwrap()
        .expect("the winner exists");
    assert_eq!(creds.user.id, *id);
    assert_eq!(&creds.user, winner);
    assert_eq!(creds.user.roles, ["user"], "the winner has its roles");
}

/// Roles are granted with the user, reported sorted and without duplicates.
pub async fn roles_are_granted_sorted_and_deduplicated(store: Arc<dyn Store>) {
    let new = new_user(&email("roles"), &["user", "admin", "user"], T0);
    let created = store
        .create_user(&new, &QueuedMail::none())
        .await
        .expect("create_user");
    assert_eq!(
        created.roles,
        ["admin", "user"],
        "roles sorted and deduplicated"
    );
    let read = store.user_by_id(new.id).await.unwrap().unwrap();
    assert_eq!(read.roles, ["admin", "user"], "roles read back");
    let creds = store
        .credentials_by_email(&new.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(creds.user.roles, ["admin", "user"]);
}

/// Unknown role names are ignored (neither granted nor an error).
pub async fn unknown_roles_are_ignored(store: Arc<dyn Store>) {
    let new = new_user(&email("unknown-role"), &["no-such-role", "user"], T0);
    let created = store
        .create_user(&new, &QueuedMail::none())
        .await
        .expect("create_user");
    assert_eq!(created.roles, ["user"]);
    let read = store.user_by_id(new.id).await.unwrap().unwrap();
    assert_eq!(read.roles, ["user"]);
    let none = new_user(&email("no-role"), &["no-such-role"], T0);
    let created = store
        .create_user(&none, &QueuedMail::none())
        .await
        .expect("create_user");
    assert!(created.roles.is_empty());
    let read = store.user_by_id(none.id).await.unwrap().unwrap();
    assert!(read.roles.is_empty());
}

/// `credentials_by_email` returns the user with the stored hash; an unknown email is `None`.
pub async fn credentials_by_email_returns_the_hash(store: Arc<dyn Store>) {
    let mut new = new_user(&email("creds"), &["user"], T0);
    new.password_hash = PasswordHash::new(format!("{HASH}{}", unique()));
    let created = store
        .create_user(&new, &QueuedMail::none())
        .await
        .expect("create_user");
    let creds = store
        .credentials_by_email(&new.email)
        .await
        .expect("credentials_by_email")
        .expect("the user exists");
    assert_eq!(creds.user, created);
    assert_eq!(creds.password_hash.expose(), new.password_hash.expose());
    let unknown = store
        .credentials_by_email(&email("nobody"))
        .await
        .expect("credentials_by_email");
    assert!(unknown.is_none(), "an unknown email is None");
}

// ---------------------------------------------------------------------------------------------
// sessions

/// `create_session` sets the owner's `last_login_at` to the login time (and nothing else).
pub async fn create_session_sets_last_login_at(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let login = T0 + Duration::hours(1) + Duration::microseconds(1);
    store
        .create_session(&new_session(u.id, token_hash("login"), login))
        .await
        .expect("create_session");
    let read = store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(
        read.last_login_at,
        Some(login),
        "last_login_at = login time"
    );
    assert_eq!(
        User {
            last_login_at: None,
            ..read
        },
        u,
        "nothing else changed"
    );
}

/// A session for a user that does not exist is `NotFound`, and is not created.
pub async fn create_session_for_unknown_user_is_not_found(store: Arc<dyn Store>) {
    let new = new_session(UserId::new_v7(T0), token_hash("orphan"), T0);
    let result = store.create_session(&new).await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "unknown owner must be NotFound, got {result:?}"
    );
    assert_eq!(store.session(new.id).await.unwrap(), None);
}

/// `create_session_audited` creates the session as `create_session` does (and sets the
/// owner's `last_login_at`). When it says the event was appended (`audited`), the store holds
/// exactly that event, once; a store that did not append it holds none. An unknown user is
/// `NotFound`, with no event.
pub async fn create_session_audited_appends_the_event_once(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let mut new = new_session(u.id, token_hash("audited-login"), T0);
    new.ip = Some("192.0.2.9".parse().unwrap());
    let mut event = audit_event(u.id, T0, "login_ok");
    event.actor_id = Some(u.id);
    event.ip = new.ip;
    event.detail = serde_json::json!({ "session_id": new.id.to_string() });
    let created = store
        .create_session_audited(&new, &event)
        .await
        .expect("create_session_audited");
    assert_eq!(
        created.value,
        stored(&store, new.id).await,
        "the session as stored"
    );
    assert_eq!(read_user(&store, u.id).await.last_login_at, Some(T0));
    assert_appended_once(&store, u.id, created.audited, event).await;

    let (orphan, event) = login_of_stranger("audited-orphan");
    let r = store.create_session_audited(&orphan, &event).await;
    assert_stranger_left_nothing(&store, &orphan, r).await;
}

/// `create_session_with_owner` creates the session and appends the event as
/// `create_session_audited` does, and returns the owner as the login left it: `last_login_at`
/// set, and the roles it has then (not those it had when its credentials were read) with their
/// permissions. An unknown user is `NotFound`, with no session and no event.
pub async fn create_session_with_owner_reads_the_owner_as_the_login_left_it(store: Arc<dyn Store>) {
    let u = user(&store).await;
    // The roles change between the credentials read and the session (while the password was
    // checked).
    let patch = AdminPatch {
        roles: Some(vec!["admin".to_owned()]),
        ..AdminPatch::default()
    };
    store
        .admin_update_user(u.id, &patch, T0)
        .await
        .expect("admin_update_user");
    let t1 = T0 + Duration::minutes(1);
    let new = new_session(u.id, token_hash("with-owner"), t1);
    let event = audit_event(u.id, t1, "login_ok");
    let created = store
        .create_session_with_owner(&new, &event)
        .await
        .expect("create_session_with_owner");
    let (session, owner) = created.value;
    assert_eq!(
        session,
        stored(&store, new.id).await,
        "the session as stored"
    );
    let user = read_user(&store, u.id).await;
    assert_eq!(user.last_login_at, Some(t1));
    assert_eq!(user.roles, ["admin"]);
    let permissions = store.permissions_of(&user.roles).await.unwrap();
    assert!(!permissions.is_empty());
    assert_eq!(
        owner,
        SessionOwner { user, permissions },
        "the owner as user_by_id and permissions_of read it after the login"
    );
    assert_appended_once(&store, u.id, created.audited, event).await;

    let (orphan, event) = login_of_stranger("owner-orphan");
    let r = store.create_session_with_owner(&orphan, &event).await;
    assert_stranger_left_nothing(&store, &orphan, r).await;
}

/// The events of `user` are exactly `event`, once, when the store says it appended it
/// (`audited`); none when it did not (the caller appends it).
async fn assert_appended_once(
    store: &Arc<dyn Store>,
    user: UserId,
    audited: bool,
    event: AuditEvent,
) {
    let events = store.audit_of_user(user, 10).await.unwrap();
    if audited {
        assert_eq!(events, [event], "exactly the event, once");
    } else {
        assert_eq!(events, [], "not appended: the caller appends it");
    }
}

/// A login's session and `login_ok` event for a user that does not exist.
fn login_of_stranger(label: &str) -> (NewSession, AuditEvent) {
    let stranger = UserId::new_v7(T0);
    let orphan = new_session(stranger, token_hash(label), T0);
    (orphan, audit_event(stranger, T0, "login_ok"))
}

/// Opening `orphan` (a session of a [`login_of_stranger`]) gave `result`: it must be
/// `NotFound`, and the store must hold neither the session nor an event of its user.
async fn assert_stranger_left_nothing<T: std::fmt::Debug>(
    store: &Arc<dyn Store>,
    orphan: &NewSession,
    result: Result<T, StoreError>,
) {
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "an unknown user: NotFound, got {result:?}"
    );
    assert_eq!(store.audit_of_user(orphan.user_id, 10).await.unwrap(), []);
    assert_eq!(store.session(orphan.id).await.unwrap(), None);
}

/// A session reads back exactly as created (IPv4 and IPv6, user agent, flags, times); an idle
/// expiry past the absolute expiry is capped at creation; an unknown id is `None`.
pub async fn session_round_trips(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let mut new = new_session(u.id, token_hash("rt"), T0);
    new.remember_me = true;
    new.ip = Some("2001:db8::1".parse().unwrap());
    new.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) \u{e9}".to_owned());
    let created = store.create_session(&new).await.expect("create_session");
    let expected = Session {
        id: new.id,
        user_id: u.id,
        created_at: T0,
        last_used_at: T0,
        expires_at: T0 + Duration::days(30),
        idle_expires_at: T0 + Duration::days(14),
        revoked_at: None,
        remember_me: true,
        ip: new.ip,
        user_agent: new.user_agent.clone(),
        authz_version: 0,
    };
    assert_eq!(
        created, expected,
        "create_session returns the stored session"
    );
    assert_eq!(
        stored(&store, new.id).await,
        expected,
        "session reads it back"
    );

    let mut bare = new_session(u.id, token_hash("bare"), T0 + Duration::minutes(1));
    bare.ip = None;
    bare.user_agent = None;
    bare.idle_expires_at = bare.expires_at + Duration::days(1);
    let created = store.create_session(&bare).await.expect("create_session");
    assert_eq!(created.ip, None);
    assert_eq!(created.user_agent, None);
    assert_eq!(
        created.idle_expires_at, bare.expires_at,
        "idle expiry capped at the absolute expiry"
    );
    assert_eq!(stored(&store, bare.id).await, created);

    let mut v4 = new_session(u.id, token_hash("v4"), T0);
    v4.ip = Some("203.0.113.9".parse().unwrap());
    let created = store.create_session(&v4).await.expect("create_session");
    assert_eq!(created.ip, v4.ip);
    assert_eq!(stored(&store, v4.id).await.ip, v4.ip);

    assert_eq!(store.session(SessionId::new_v7(T0)).await.unwrap(), None);
}

/// `session_and_user` reads what `session` and `user_by_id` read, in every state: live, revoked,
/// with the user soft-deleted, and `None` for an unknown id.
pub async fn session_and_user_reads_both(store: Arc<dyn Store>) {
    let both = |id| {
        let store = Arc::clone(&store);
        async move {
            let session = store.session(id).await.expect("session");
            let user = match &session {
                Some(s) => store.user_by_id(s.user_id).await.expect("user_by_id"),
                None => None,
            };
            let joined = store.session_and_user(id).await.expect("session_and_user");
            (joined, session.zip(user))
        }
    };
    let admin = store
        .create_user(
            &new_user(&email("joined"), &["user", "admin"], T0),
            &QueuedMail::none(),
        )
        .await
        .expect("create_user");
    let other = user(&store).await;
    let _noise = session(&store, other.id, token_hash("noise")).await;
    let s = session(&store, admin.id, token_hash("joined")).await;

    let (joined, expected) = both(s.id).await;
    assert!(expected.is_some());
    assert_eq!(joined, expected, "a live session and its user");
    let (_, user) = joined.expect("present");
    assert_eq!(user.roles, ["admin", "user"], "with the user's roles");
    assert_eq!(user.id, admin.id);

    let t1 = T0 + Duration::minutes(1);
    assert!(store.revoke_session(admin.id, s.id, t1).await.unwrap());
    let (joined, expected) = both(s.id).await;
    assert_eq!(joined, expected, "a revoked session is read as it is");
    assert!(joined.expect("present").0.revoked_at.is_some());

    store.soft_delete_user(admin.id, t1).await.expect("delete");
    let (joined, expected) = both(s.id).await;
    assert_eq!(joined, expected, "a soft-deleted user is read as it is");
    assert!(joined.expect("present").1.deleted_at.is_some());

    assert_eq!(
        store.session_and_user(SessionId::new_v7(T0)).await.unwrap(),
        None,
        "an unknown session"
    );
}

/// Reusing a session id is `Conflict(Conflict::Id)` (never an upsert).
pub async fn duplicate_session_id_conflicts(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let first = session(&store, u.id, token_hash("first")).await;
    let mut again = new_session(u.id, token_hash("second"), T0 + Duration::hours(1));
    again.id = first.id;
    let result = store.create_session(&again).await;
    assert!(
        is_conflict(&result, Conflict::Id),
        "a reused session id must be Conflict(Id), got {result:?}"
    );
    assert_eq!(
        stored(&store, first.id).await,
        first,
        "the first session is untouched"
    );
}

/// `revoke_session` is `true` only for a live session of that user; another user's session,
/// an unknown id and an already revoked session give `false` and change nothing.
pub async fn revoke_session_only_revokes_own_live_sessions(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let other = user(&store).await;
    let s = session(&store, owner.id, token_hash("revoke")).await;
    let t1 = T0 + Duration::minutes(5);
    let t2 = T0 + Duration::minutes(6);

    assert!(
        !store.revoke_session(other.id, s.id, t1).await.unwrap(),
        "another user's session"
    );
    assert_eq!(stored(&store, s.id).await.revoked_at, None, "still live");
    assert!(
        !store
            .revoke_session(owner.id, SessionId::new_v7(T0), t1)
            .await
            .unwrap(),
        "unknown id"
    );
    assert!(
        store.revoke_session(owner.id, s.id, t1).await.unwrap(),
        "own live session"
    );
    assert_eq!(stored(&store, s.id).await.revoked_at, Some(t1));
    assert!(
        !store.revoke_session(owner.id, s.id, t2).await.unwrap(),
        "already revoked"
    );
    assert_eq!(
        stored(&store, s.id).await.revoked_at,
        Some(t1),
        "the first revocation time stays"
    );
}

/// `revoke_all_sessions` revokes every unrevoked session of the user, returns how many, and
/// leaves other users' sessions alone.
pub async fn revoke_all_sessions_counts(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, owner.id, token_hash("a")).await;
    let b = session(&store, owner.id, token_hash("b")).await;
    let c = session(&store, owner.id, token_hash("c")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    let t1 = T0 + Duration::minutes(1);
    let t2 = T0 + Duration::minutes(2);
    assert!(store.revoke_session(owner.id, c.id, t1).await.unwrap());

    assert_eq!(store.revoke_all_sessions(owner.id, t2).await.unwrap(), 2);
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t2));
    assert_eq!(stored(&store, b.id).await.revoked_at, Some(t2));
    assert_eq!(
        stored(&store, c.id).await.revoked_at,
        Some(t1),
        "kept its first revocation"
    );
    assert_eq!(
        stored(&store, theirs.id).await.revoked_at,
        None,
        "other users untouched"
    );
    assert!(unrevoked(&store, owner.id).await.is_empty());
    assert_eq!(store.revoke_all_sessions(owner.id, t2).await.unwrap(), 0);
    assert_eq!(
        store
            .revoke_all_sessions(UserId::new_v7(T0), t2)
            .await
            .unwrap(),
        0
    );
}

/// `sessions_of` lists every session of the user (revoked and expired ones included), newest
/// first.
pub async fn sessions_of_lists_all_newest_first(store: Arc<dyn Store>) {
    let owner = user(&store).await;
    let other = user(&store).await;
    let mut made = Vec::new();
    for i in 0..4 {
        let mut new = new_session(owner.id, token_hash("list"), T0 + Duration::minutes(i));
        if i == 0 {
            // Already expired at any later time: still listed.
            new.expires_at = T0 + Duration::seconds(1);
        }
        made.push(store.create_session(&new).await.expect("create_session"));
    }
    session(&store, other.id, token_hash("theirs")).await;
    let revoked_at = T0 + Duration::hours(1);
    assert!(
        store
            .revoke_session(owner.id, made[2].id, revoked_at)
            .await
            .unwrap()
    );
    made[2].revoked_at = Some(revoked_at);
    let listed = store.sessions_of(owner.id).await.expect("sessions_of");
    assert_eq!(
        listed,
        vec![
            made[3].clone(),
            made[2].clone(),
            made[1].clone(),
            made[0].clone()
        ],
        "every session of the user, newest first, the revoked one with its revocation time"
    );
    assert!(
        store
            .sessions_of(UserId::new_v7(T0))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The user's sessions that are not revoked.
async fn unrevoked(store: &Arc<dyn Store>, user: UserId) -> Vec<Session> {
    let mut all = store.sessions_of(user).await.expect("sessions_of");
    all.retain(|s| s.revoked_at.is_none());
    all
}

// ---------------------------------------------------------------------------------------------
// refresh rotation

/// Rotating the current hash moves it: the session takes `next`, `last_used_at` and the new
/// idle expiry; `next` rotates in turn, and the old hash is now spent (`Reused`).
pub async fn rotate_refresh_moves_the_hash(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let h2 = token_hash("h2");
    let h3 = token_hash("h3");
    let s = session(&store, u.id, h1).await;

    let t1 = T0 + Duration::hours(1) + Duration::microseconds(7);
    let r = rotation(h1, h2, t1);
    let after = rotated(store.rotate_refresh(&r).await.unwrap(), "current hash");
    let expected = Session {
        last_used_at: t1,
        idle_expires_at: r.idle_expires_at,
        ..s.clone()
    };
    assert_eq!(after, expected, "Rotated carries the updated session");
    assert_eq!(stored(&store, s.id).await, expected, "and it is stored");

    let t2 = t1 + Duration::hours(1);
    let again = rotated(
        store.rotate_refresh(&rotation(h2, h3, t2)).await.unwrap(),
        "the new current hash",
    );
    assert_eq!(again.last_used_at, t2);

    let t3 = t2 + Duration::minutes(1);
    let reused = store
        .rotate_refresh(&rotation(h1, token_hash("x"), t3))
        .await
        .unwrap();
    assert_eq!(
        reused,
        RotateOutcome::Reused {
            session_id: s.id,
            user_id: u.id
        },
        "the first hash is spent"
    );
}

/// Presenting a spent hash revokes the session (committed) and reports `Reused`; the session's
/// current hash is then refused, and presenting the spent hash again is still `Reused`.
pub async fn rotate_refresh_reuse_revokes_the_session(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let h2 = token_hash("h2");
    let s = session(&store, u.id, h1).await;
    let t1 = T0 + Duration::hours(1);
    rotated(
        store.rotate_refresh(&rotation(h1, h2, t1)).await.unwrap(),
        "first rotation",
    );

    let t2 = t1 + Duration::seconds(30);
    let outcome = store
        .rotate_refresh(&rotation(h1, token_hash("attacker"), t2))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        RotateOutcome::Reused {
            session_id: s.id,
            user_id: u.id
        }
    );
    assert_eq!(
        stored(&store, s.id).await.revoked_at,
        Some(t2),
        "reuse revokes the session"
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation(h2, token_hash("y"), t2 + Duration::seconds(1)))
            .await
            .unwrap(),
        RotateOutcome::Invalid,
        "the current hash of a revoked session is refused"
    );
    let t3 = t2 + Duration::minutes(1);
    assert_eq!(
        store
            .rotate_refresh(&rotation(h1, token_hash("z"), t3))
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: s.id,
            user_id: u.id
        },
        "a spent hash stays spent"
    );
    assert_eq!(
        stored(&store, s.id).await.revoked_at,
        Some(t2),
        "first revocation time kept"
    );
}

/// An unknown hash is `Invalid` and changes nothing.
pub async fn rotate_refresh_invalid_for_unknown_hash(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let s = session(&store, u.id, h1).await;
    let outcome = store
        .rotate_refresh(&rotation(
            token_hash("unknown"),
            token_hash("next"),
            T0 + Duration::hours(1),
        ))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Invalid);
    assert_eq!(stored(&store, s.id).await, s, "nothing changed");
    rotated(
        store
            .rotate_refresh(&rotation(h1, token_hash("next"), T0 + Duration::hours(2)))
            .await
            .unwrap(),
        "the real hash still works",
    );
}

/// A session with a selector is found by it, and by nothing else: its current hash presented
/// with a selector no session has, or with none, is `Invalid` and changes nothing; with its
/// own selector, it rotates.
pub async fn rotate_refresh_finds_the_session_by_its_selector(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let (ha, hb) = (token_hash("a"), token_hash("b"));
    let a = session(&store, u.id, ha).await;
    let b = session(&store, u.id, hb).await;
    let later = T0 + Duration::hours(1);
    let not_found = [
        RefreshRotation {
            selector: Some(RefreshSelector::generate().expect("a selector")),
            ..rotation(ha, token_hash("next"), later)
        },
        RefreshRotation {
            selector: None,
            ..rotation(ha, token_hash("next"), later)
        },
    ];
    for (i, r) in not_found.iter().enumerate() {
        assert_eq!(
            store.rotate_refresh(r).await.unwrap(),
            RotateOutcome::Invalid,
            "a's hash without a's selector #{i}"
        );
    }
    assert_eq!(stored(&store, a.id).await, a, "a unchanged");
    assert_eq!(stored(&store, b.id).await, b, "b unchanged");
    for (hash, s) in [(ha, &a), (hb, &b)] {
        let r = rotated(
            store
                .rotate_refresh(&rotation(hash, token_hash("next"), later))
                .await
                .unwrap(),
            "with its own selector",
        );
        assert_eq!(r.id, s.id);
    }
}

/// Any hash but the current one presented with a session's selector is reuse of that session:
/// another session's current hash, or one the session never had (a token made up with its
/// selector). `Reused` names the session of the selector, which alone is revoked (committed);
/// its current hash is then `Invalid`.
pub async fn rotate_refresh_of_another_hash_with_a_selector_is_reuse(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other_user = user(&store).await;
    let (ha, hb) = (token_hash("a"), token_hash("b"));
    let a = session(&store, u.id, ha).await;
    let b = session(&store, other_user.id, hb).await;
    let selector_of = |hash| rotation(hash, token_hash("unused"), T0).selector;
    let (selector_a, selector_b) = (selector_of(ha), selector_of(hb));
    assert!(selector_a.is_some() && selector_b.is_some());
    let t1 = T0 + Duration::hours(1);
    assert_eq!(
        store
            .rotate_refresh(&RefreshRotation {
                selector: selector_a,
                ..rotation(hb, token_hash("next"), t1)
            })
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: a.id,
            user_id: u.id
        },
        "b's current hash with a's selector"
    );
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t1));
    assert_eq!(stored(&store, b.id).await, b, "b unchanged");
    let t2 = t1 + Duration::minutes(1);
    assert_eq!(
        store
            .rotate_refresh(&RefreshRotation {
                selector: selector_b,
                ..rotation(token_hash("made-up"), token_hash("next"), t2)
            })
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: b.id,
            user_id: other_user.id
        },
        "a hash b never had, with b's selector"
    );
    assert_eq!(stored(&store, b.id).await.revoked_at, Some(t2));
    for (hash, what) in [(ha, "a"), (hb, "b")] {
        assert_eq!(
            store
                .rotate_refresh(&rotation(hash, token_hash("next"), t2))
                .await
                .unwrap(),
            RotateOutcome::Invalid,
            "{what}'s current hash, once {what} is revoked"
        );
    }
    assert_eq!(
        stored(&store, a.id).await.revoked_at,
        Some(t1),
        "a's revocation time stays"
    );
}

/// A session created without a selector (as sessions opened before selectors existed) is
/// found by its hash among the sessions without one: it rotates, its tokens stay without a
/// selector, and reuse of its spent hash revokes it. A selector with its hash is `Invalid`.
pub async fn rotate_refresh_without_selector_finds_the_session_by_hash(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let [h1, h2, h3] = [token_hash("h1"), token_hash("h2"), token_hash("h3")];
    let s = store
        .create_session(&NewSession {
            refresh_selector: None,
            ..new_session(u.id, h1, T0)
        })
        .await
        .expect("create_session");
    let without = |presented, next, at| RefreshRotation {
        selector: None,
        ..rotation(presented, next, at)
    };
    let t1 = T0 + Duration::hours(1);
    let stray = RefreshRotation {
        selector: Some(RefreshSelector::generate().expect("a selector")),
        ..without(h1, h2, t1)
    };
    assert_eq!(
        store.rotate_refresh(&stray).await.unwrap(),
        RotateOutcome::Invalid,
        "a hash without selector is not found with one"
    );
    assert_eq!(stored(&store, s.id).await, s, "nothing changed");
    let r = rotated(
        store.rotate_refresh(&without(h1, h2, t1)).await.unwrap(),
        "first rotation",
    );
    assert_eq!((r.id, r.last_used_at), (s.id, t1));
    rotated(
        store
            .rotate_refresh(&without(h2, h3, t1 + Duration::minutes(1)))
            .await
            .unwrap(),
        "second rotation",
    );
    let t2 = t1 + Duration::hours(1);
    assert_eq!(
        store
            .rotate_refresh(&without(h1, token_hash("x"), t2))
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: s.id,
            user_id: u.id
        },
        "a spent hash without selector is reuse"
    );
    assert_eq!(stored(&store, s.id).await.revoked_at, Some(t2));
}

/// The current hash of a revoked session is `Invalid` (not `Reused`) and changes nothing.
pub async fn rotate_refresh_invalid_for_revoked_session(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let s = session(&store, u.id, h1).await;
    let t1 = T0 + Duration::minutes(1);
    assert!(store.revoke_session(u.id, s.id, t1).await.unwrap());
    let before = stored(&store, s.id).await;
    for i in 1..=2 {
        let outcome = store
            .rotate_refresh(&rotation(h1, token_hash("next"), t1 + Duration::minutes(i)))
            .await
            .unwrap();
        assert_eq!(outcome, RotateOutcome::Invalid, "attempt {i}");
    }
    assert_eq!(stored(&store, s.id).await, before, "nothing changed");
}

/// At or after the absolute expiry a rotation is `Invalid` and changes nothing; one microsecond
/// before, it succeeds.
pub async fn rotate_refresh_invalid_after_absolute_expiry(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let mut new = new_session(u.id, h1, T0);
    new.expires_at = T0 + Duration::days(1);
    new.idle_expires_at = T0 + Duration::days(1);
    let s = store.create_session(&new).await.unwrap();
    for at in [new.expires_at, new.expires_at + Duration::days(1)] {
        assert_eq!(
            store
                .rotate_refresh(&rotation(h1, token_hash("late"), at))
                .await
                .unwrap(),
            RotateOutcome::Invalid,
            "at {at}"
        );
    }
    assert_eq!(stored(&store, s.id).await, s, "nothing changed");
    let just_before = new.expires_at - Duration::microseconds(1);
    rotated(
        store
            .rotate_refresh(&rotation(h1, token_hash("ok"), just_before))
            .await
            .unwrap(),
        "one microsecond before the absolute expiry",
    );
}

/// At or after the idle expiry a rotation is `Invalid` and changes nothing; one microsecond
/// before, it succeeds.
pub async fn rotate_refresh_invalid_after_idle_expiry(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let mut new = new_session(u.id, h1, T0);
    new.idle_expires_at = T0 + Duration::hours(1);
    let s = store.create_session(&new).await.unwrap();
    for at in [
        new.idle_expires_at,
        new.idle_expires_at + Duration::hours(1),
    ] {
        assert_eq!(
            store
                .rotate_refresh(&rotation(h1, token_hash("idle"), at))
                .await
                .unwrap(),
            RotateOutcome::Invalid,
            "at {at}"
        );
    }
    assert_eq!(stored(&store, s.id).await, s, "nothing changed");
    let just_before = new.idle_expires_at - Duration::microseconds(1);
    let after = rotated(
        store
            .rotate_refresh(&rotation(h1, token_hash("ok"), just_before))
            .await
            .unwrap(),
        "one microsecond before the idle expiry",
    );
    assert_eq!(after.idle_expires_at, just_before + Duration::days(14));
}

/// A rotation never moves the idle expiry past the absolute expiry.
pub async fn rotate_refresh_caps_idle_at_absolute_expiry(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let h1 = token_hash("h1");
    let mut new = new_session(u.id, h1, T0);
    new.expires_at = T0 + Duration::days(1);
    new.idle_expires_at = T0 + Duration::hours(1);
    store.create_session(&new).await.unwrap();
    let t1 = T0 + Duration::minutes(30);
    let r = rotation(h1, token_hash("h2"), t1);
    assert!(r.idle_expires_at > new.expires_at);
    let after = rotated(store.rotate_refresh(&r).await.unwrap(), "capped rotation");
    assert_eq!(
        after.idle_expires_at, new.expires_at,
        "capped at expires_at"
    );
    assert_eq!(stored(&store, new.id).await.idle_expires_at, new.expires_at);
}

/// Every hash rotated away stays spent, for its own session: two sessions rotate in turns,
/// then each of their spent hashes, the middle ones of the chains included, is `Reused` naming
/// its session, and revokes that session alone.
pub async fn rotate_refresh_spent_hashes_stay_with_their_session(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other_user = user(&store).await;
    let a = [token_hash("a0"), token_hash("a1"), token_hash("a2")];
    let b = [token_hash("b0"), token_hash("b1"), token_hash("b2")];
    let sa = session(&store, u.id, a[0]).await;
    let sb = session(&store, other_user.id, b[0]).await;
    let mut t = T0;
    for i in 0..2 {
        for (chain, s) in [(&a, &sa), (&b, &sb)] {
            t += Duration::minutes(1);
            let after = rotated(
                store
                    .rotate_refresh(&rotation(chain[i], chain[i + 1], t))
                    .await
                    .unwrap(),
                "rotation in turns",
            );
            assert_eq!(after.id, s.id);
        }
    }
    let reused_at = t + Duration::minutes(1);
    assert_eq!(
        store
            .rotate_refresh(&rotation(a[1], token_hash("x"), reused_at))
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: sa.id,
            user_id: u.id
        },
        "the middle hash of a chain is spent"
    );
    assert_eq!(stored(&store, sa.id).await.revoked_at, Some(reused_at));
    assert_eq!(
        stored(&store, sb.id).await.revoked_at,
        None,
        "the other session is untouched"
    );
    for (hash, what) in [(b[0], "first"), (b[1], "middle")] {
        assert_eq!(
            store
                .rotate_refresh(&rotation(hash, token_hash("y"), reused_at))
                .await
                .unwrap(),
            RotateOutcome::Reused {
                session_id: sb.id,
                user_id: other_user.id
            },
            "the {what} hash of the other chain is the other session's"
        );
    }
    assert_eq!(stored(&store, sb.id).await.revoked_at, Some(reused_at));
    assert_eq!(
        store
            .rotate_refresh(&rotation(a[0], token_hash("z"), reused_at))
            .await
            .unwrap(),
        RotateOutcome::Reused {
            session_id: sa.id,
            user_id: u.id
        },
        "the first hash of a chain is spent"
    );
}

/// `purge_sessions` deletes the sessions that ended before its time (strictly): revoked, past
/// their idle expiry or past their absolute expiry; a spent hash of a deleted session is then
/// unknown (`Invalid`, where it was `Reused`). A live session stays with its spent hashes.
pub async fn purge_sessions_deletes_ended_sessions_only(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let rotated_at = T0 + Duration::minutes(1);
    // Four sessions, each rotated once at `rotated_at`, so each has one spent hash.
    let open = async |expires_at: OffsetDateTime, idle_expires_at: OffsetDateTime| {
        let [first, next] = [token_hash("first"), token_hash("next")];
        let s = store
            .create_session(&NewSession {
                expires_at,
                idle_expires_at,
                ..new_session(u.id, first, T0)
            })
            .await
            .expect("create_session");
        let r = RefreshRotation {
            idle_expires_at,
            ..rotation(first, next, rotated_at)
        };
        rotated(store.rotate_refresh(&r).await.unwrap(), "first rotation");
        (s.id, first)
    };
    let (live, live_spent) = open(T0 + Duration::days(30), T0 + Duration::days(14)).await;
    let (revoked, revoked_spent) = open(T0 + Duration::days(30), T0 + Duration::days(14)).await;
    let (idle, idle_spent) = open(T0 + Duration::days(30), T0 + Duration::hours(2)).await;
    let (expired, expired_spent) = open(T0 + Duration::days(1), T0 + Duration::days(1)).await;
    let revoked_at = T0 + Duration::hours(1);
    assert!(
        store
            .revoke_session(u.id, revoked, revoked_at)
            .await
            .unwrap()
    );
    let reuse = async |hash: TokenHash, at: OffsetDateTime| {
        store
            .rotate_refresh(&rotation(hash, token_hash("reuse"), at))
            .await
            .unwrap()
    };
    let listed = async || {
        let mut ids: Vec<SessionId> = store
            .sessions_of(u.id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        ids
    };

    assert_eq!(
        store.purge_sessions(revoked_at).await.unwrap(),
        0,
        "revoked at the time given is not before it"
    );
    assert_eq!(
        reuse(revoked_spent, T0 + Duration::hours(3)).await,
        RotateOutcome::Reused {
            session_id: revoked,
            user_id: u.id
        },
        "before the purge, the revoked session's spent hash is known"
    );
    assert_eq!(
        store.purge_sessions(T0 + Duration::hours(3)).await.unwrap(),
        2,
        "the revoked session and the idle one"
    );
    assert_eq!(store.session(revoked).await.unwrap(), None);
    assert_eq!(store.session(idle).await.unwrap(), None);
    let mut kept = vec![live, expired];
    kept.sort();
    assert_eq!(
        listed().await,
        kept,
        "the live session and the expired one stay"
    );
    for (hash, what) in [(revoked_spent, "revoked"), (idle_spent, "idle")] {
        assert_eq!(
            reuse(hash, T0 + Duration::hours(4)).await,
            RotateOutcome::Invalid,
            "the {what} session's spent hash went with it"
        );
    }

    let later = T0 + Duration::days(2);
    assert_eq!(
        store.purge_sessions(later).await.unwrap(),
        1,
        "the session past its absolute expiry"
    );
    assert_eq!(store.session(expired).await.unwrap(), None);
    assert_eq!(reuse(expired_spent, later).await, RotateOutcome::Invalid);
    assert_eq!(
        store.purge_sessions(later).await.unwrap(),
        0,
        "nothing left to purge"
    );

    assert_eq!(listed().await, [live]);
    assert_eq!(
        reuse(live_spent, later).await,
        RotateOutcome::Reused {
            session_id: live,
            user_id: u.id
        },
        "a live session keeps its spent hashes, however old"
    );
}

/// Sixteen concurrent rotations of one hash: exactly one is `Rotated`; the others find it
/// replaced (`Reused`, never `Invalid`), so the session ends up revoked.
pub async fn concurrent_rotations_rotate_exactly_once(store: Arc<dyn Store>) {
    concurrent_rotations(store, true).await;
}

/// [`concurrent_rotations_rotate_exactly_once`] for a session without selector, found by its
/// hash.
pub async fn concurrent_rotations_without_selector_rotate_exactly_once(store: Arc<dyn Store>) {
    concurrent_rotations(store, false).await;
}

/// 16 concurrent rotations of one session's current hash, with the session's selector or, for
/// a session made without one, with none.
async fn concurrent_rotations(store: Arc<dyn Store>, with_selector: bool) {
    let u = user(&store).await;
    let h1 = token_hash("contended");
    let mut new = new_session(u.id, h1, T0);
    if !with_selector {
        new.refresh_selector = None;
    }
    let s = store.create_session(&new).await.expect("create_session");
    let t1 = T0 + Duration::hours(1);
    let mut tasks = JoinSet::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        let r = RefreshRotation {
            selector: new.refresh_selector,
            ..rotation(h1, token_hash("next"), t1)
        };
        tasks.spawn(async move { store.rotate_refresh(&r).await });
    }
    let (mut rotated_n, mut reused_n) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task").expect("rotate_refresh") {
            RotateOutcome::Rotated(after) => {
                assert_eq!(after.id, s.id);
                rotated_n += 1;
            }
            RotateOutcome::Reused {
                session_id,
                user_id,
            } => {
                assert_eq!((session_id, user_id), (s.id, u.id));
                reused_n += 1;
            }
            RotateOutcome::Invalid => panic!("a racing rotation must see the hash replaced: reuse"),
        }
    }
    assert_eq!(rotated_n, 1, "exactly one concurrent rotation succeeds");
    assert_eq!(reused_n, 15);
    assert_eq!(
        stored(&store, s.id).await.revoked_at,
        Some(t1),
        "reuse revoked the session"
    );
}

/// A user holding `user` and `admin` (so with permissions) and a session of it whose refresh
/// hash is returned.
async fn admin_with_session(store: &Arc<dyn Store>, name: &str) -> (User, Session, TokenHash) {
    let u = store
        .create_user(
            &new_user(&email(name), &["user", "admin"], T0),
            &QueuedMail::none(),
        )
        .await
        .expect("create_user");
    let h1 = token_hash("h1");
    let s = session(store, u.id, h1).await;
    (u, s, h1)
}

/// `rotate_refresh_with_owner` rotates as `rotate_refresh` does and, when it rotated, returns
/// the session's user as `user_by_id` reads it and that user's permissions as `permissions_of`
/// returns them; a spent or unknown hash has no owner.
pub async fn rotate_refresh_with_owner_reads_the_owner(store: Arc<dyn Store>) {
    let (u, s, h1) = admin_with_session(&store, "owner").await;
    let t1 = T0 + Duration::hours(1);
    let r = rotation(h1, token_hash("h2"), t1);
    let (outcome, owner) = store.rotate_refresh_with_owner(&r).await.unwrap();
    let after = rotated(outcome, "current hash");
    assert_eq!(
        after,
        stored(&store, s.id).await,
        "Rotated carries the stored session"
    );
    assert_eq!(after.last_used_at, t1);
    let expected = SessionOwner {
        user: store.user_by_id(u.id).await.unwrap().expect("the user"),
        permissions: store.permissions_of(&u.roles).await.unwrap(),
    };
    assert!(!expected.permissions.is_empty());
    assert_eq!(
        owner,
        Some(expected),
        "the owner as user_by_id and permissions_of read it"
    );

    let (outcome, owner) = store.rotate_refresh_with_owner(&r).await.unwrap();
    assert_eq!(
        (outcome, owner),
        (
            RotateOutcome::Reused {
                session_id: s.id,
                user_id: u.id
            },
            None
        ),
        "a spent hash: reuse, no owner"
    );
    let unknown = rotation(token_hash("unknown"), token_hash("next"), t1);
    assert_eq!(
        store.rotate_refresh_with_owner(&unknown).await.unwrap(),
        (RotateOutcome::Invalid, None)
    );
}

/// Concurrent `rotate_refresh_with_owner` calls on the sessions of users with different roles
/// (written together where the store batches them): each rotated session comes with its own
/// user and that user's permissions.
pub async fn concurrent_rotations_with_owner_return_each_owner(store: Arc<dyn Store>) {
    let mut users = Vec::new();
    for roles in [&["user"][..], &["admin"][..], &["user", "admin"][..]] {
        let u = store
            .create_user(&new_user(&email("many"), roles, T0), &QueuedMail::none())
            .await
            .expect("create_user");
        let permissions = store.permissions_of(&u.roles).await.unwrap();
        users.push((u, permissions));
    }
    let t1 = T0 + Duration::hours(1);
    let mut sessions = Vec::new();
    for i in 0..24 {
        let (u, permissions) = users[i % users.len()].clone();
        let h = token_hash("each");
        sessions.push((session(&store, u.id, h).await, h, u, permissions));
    }
    let mut tasks = JoinSet::new();
    for (s, h, u, permissions) in sessions {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let r = rotation(h, token_hash("next"), t1);
            let (outcome, owner) = store.rotate_refresh_with_owner(&r).await.unwrap();
            assert_eq!(rotated(outcome, "a live session").id, s.id);
            let owner = owner.expect("the owner of a rotated session");
            assert_eq!(owner.user.id, u.id);
            assert_eq!(owner.user.roles, u.roles);
            assert_eq!(owner.permissions, permissions);
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task");
    }
}

/// `rotate_refresh_audited` rotates and reads the owner as `rotate_refresh_with_owner` does.
/// When it says the event was appended, the store holds exactly `audit.event(session, user)`
/// for the rotated session, once; a store that did not append it holds no such event. A spent
/// or unknown hash appends nothing and says so.
pub async fn rotate_refresh_audited_appends_the_event_once(store: Arc<dyn Store>) {
    let (u, s, h1) = admin_with_session(&store, "audited").await;
    let t1 = T0 + Duration::hours(1);
    let audit = |n: u128| RefreshAudit {
        id: uuid::Uuid::from_u128(0x018c_0000_0000_7000_8000_0000_0000_0000 + n),
        at: t1,
        ip: Some("192.0.2.1".parse().unwrap()),
        user_agent: Some("suite".to_owned()),
    };
    let r = rotation(h1, token_hash("h2"), t1);
    let refreshed = store.rotate_refresh_audited(&r, &audit(1)).await.unwrap();
    let after = rotated(refreshed.outcome, "current hash");
    assert_eq!(
        after,
        stored(&store, s.id).await,
        "Rotated carries the stored session"
    );
    let expected = SessionOwner {
        user: store.user_by_id(u.id).await.unwrap().expect("the user"),
        permissions: store.permissions_of(&u.roles).await.unwrap(),
    };
    assert_eq!(
        refreshed.owner,
        Some(expected),
        "the owner, as rotate_refresh_with_owner"
    );
    let events = store.audit_of_user(u.id, 10).await.unwrap();
    if refreshed.audited {
        assert_eq!(
            events,
            [audit(1).event(s.id, u.id)],
            "exactly the event, once"
        );
    } else {
        assert_eq!(events, [], "not appended: the caller appends it");
    }

    let reused = store.rotate_refresh_audited(&r, &audit(2)).await.unwrap();
    assert_eq!(
        (reused.outcome, reused.owner, reused.audited),
        (
            RotateOutcome::Reused {
                session_id: s.id,
                user_id: u.id
            },
            None,
            false
        ),
        "a spent hash: reuse, nothing appended"
    );
    let unknown = rotation(token_hash("unknown"), token_hash("next"), t1);
    let invalid = store
        .rotate_refresh_audited(&unknown, &audit(3))
        .await
        .unwrap();
    assert_eq!(
        (invalid.outcome, invalid.audited),
        (RotateOutcome::Invalid, false)
    );
    assert_eq!(
        store.audit_of_user(u.id, 10).await.unwrap(),
        events,
        "neither appended an event"
    );
}

// ---------------------------------------------------------------------------------------------
// one-time tokens

fn assert_token(got: &authkit_core::domain::OneTimeToken, want: &NewOneTimeToken) {
    assert_eq!(got.purpose, want.purpose);
    assert_eq!(got.user_id, want.user_id);
    assert_eq!(got.email, want.email);
    assert_eq!(got.created_at, want.created_at);
    assert_eq!(got.expires_at, want.expires_at);
}

/// A token is consumed once: the first `consume_token` returns it, later ones `None`; an
/// unknown hash is `None`.
pub async fn consume_token_is_single_use(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let token = new_token(&u, TokenPurpose::PasswordReset, token_hash("reset"));
    store.insert_token(&token).await.expect("insert_token");
    let now = T0 + Duration::minutes(10);
    let got = store
        .consume_token(&token.hash, token.purpose, now)
        .await
        .unwrap()
        .expect("first use");
    assert_token(&got, &token);
    assert!(
        store
            .consume_token(&token.hash, token.purpose, now)
            .await
            .unwrap()
            .is_none(),
        "second use"
    );
    assert!(
        store
            .consume_token(&token_hash("unknown"), token.purpose, now)
            .await
            .unwrap()
            .is_none(),
        "unknown hash"
    );
}

/// A token of one purpose is `None` for another and stays usable for its own.
pub async fn consume_token_checks_purpose(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let token = new_token(&u, TokenPurpose::VerifyEmail, token_hash("verify"));
    store.insert_token(&token).await.expect("insert_token");
    let now = T0 + Duration::minutes(1);
    assert!(
        store
            .consume_token(&token.hash, TokenPurpose::PasswordReset, now)
            .await
            .unwrap()
            .is_none(),
        "wrong purpose"
    );
    let got = store
        .consume_token(&token.hash, TokenPurpose::VerifyEmail, now)
        .await
        .unwrap()
        .expect("right purpose, still unused");
    assert_token(&got, &token);
}

/// At or after `expires_at` a token is `None` and stays unused; one microsecond before, it is
/// consumed.
pub async fn consume_token_refuses_expired(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let token = new_token(&u, TokenPurpose::PasswordReset, token_hash("expiring"));
    store.insert_token(&token).await.expect("insert_token");
    for at in [token.expires_at, token.expires_at + Duration::days(1)] {
        assert!(
            store
                .consume_token(&token.hash, token.purpose, at)
                .await
                .unwrap()
                .is_none(),
            "expired at {at}"
        );
    }
    let got = store
        .consume_token(
            &token.hash,
            token.purpose,
            token.expires_at - Duration::microseconds(1),
        )
        .await
        .unwrap()
        .expect("one microsecond before expiry");
    assert_token(&got, &token);
}

/// Twenty concurrent consumes of one token: exactly one gets it.
pub async fn concurrent_consumes_succeed_once(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let token = new_token(&u, TokenPurpose::PasswordReset, token_hash("contended"));
    store.insert_token(&token).await.expect("insert_token");
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let (hash, purpose) = (token.hash, token.purpose);
        tasks.spawn(async move {
            store
                .consume_token(&hash, purpose, T0 + Duration::minutes(1))
                .await
        });
    }
    let mut winners = 0;
    while let Some(joined) = tasks.join_next().await {
        if joined.expect("task").expect("consume_token").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent consume succeeds");
}

/// `purge_tokens` deletes the tokens that expired before its time (strictly), used or not, and
/// nothing else: a deleted token's hash can be inserted again, a kept one's still conflicts,
/// and a kept unused token is still consumed.
pub async fn purge_tokens_deletes_expired_tokens_only(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let insert = async |name: &str, expires_in: Duration| {
        let token = NewOneTimeToken {
            expires_at: T0 + expires_in,
            ..new_token(&u, TokenPurpose::PasswordReset, token_hash(name))
        };
        store.insert_token(&token).await.expect("insert_token");
        token
    };
    let early = insert("early", Duration::hours(1)).await;
    let used = insert("used", Duration::hours(2)).await;
    let late = insert("late", Duration::hours(3)).await;
    let consumed = store
        .consume_token(&used.hash, used.purpose, T0 + Duration::minutes(5))
        .await
        .unwrap();
    assert!(consumed.is_some(), "used once, early");
    // Whether `token`'s hash is still stored: inserting it again conflicts. (When it is not,
    // this inserts it anew, unused, with the same expiry.)
    let present = async |token: &NewOneTimeToken| {
        is_conflict(&store.insert_token(token).await, Conflict::Other)
    };

    assert_eq!(
        store.purge_tokens(early.expires_at).await.unwrap(),
        0,
        "expiring at the time given is not expiring before it"
    );
    assert!(present(&early).await);
    assert_eq!(
        store.purge_tokens(T0 + Duration::hours(2)).await.unwrap(),
        1,
        "the token that expired first; the used one expires at the time given"
    );
    assert!(!present(&early).await, "its hash is free again");
    assert!(present(&used).await && present(&late).await);
    assert_eq!(
        store.purge_tokens(late.expires_at).await.unwrap(),
        2,
        "the used token, and the one inserted again (expired as before)"
    );
    assert!(!present(&used).await, "a used token goes once expired");
    assert!(present(&late).await);
    let got = store
        .consume_token(&late.hash, late.purpose, T0 + Duration::minutes(10))
        .await
        .unwrap()
        .expect("the kept token is consumed");
    assert_token(&got, &late);
    assert_eq!(
        store.purge_tokens(late.expires_at).await.unwrap(),
        1,
        "the used token's hash inserted again, and not the consumed one expiring then"
    );
}

/// Inserting a token hash twice is `Conflict(Conflict::Other)`; the first token is unchanged.
pub async fn duplicate_token_hash_conflicts(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let token = new_token(&u, TokenPurpose::VerifyEmail, token_hash("dup"));
    store.insert_token(&token).await.expect("insert_token");
    let mut again = token.clone();
    again.purpose = TokenPurpose::PasswordReset;
    let result = store.insert_token(&again).await;
    assert!(
        is_conflict(&result, Conflict::Other),
        "a duplicate hash must be Conflict(Other), got {result:?}"
    );
    let got = store
        .consume_token(&token.hash, TokenPurpose::VerifyEmail, T0)
        .await
        .unwrap()
        .expect("the first token is intact");
    assert_token(&got, &token);
}

// ---------------------------------------------------------------------------------------------
// account changes

/// Inserts a token of `purpose` for the user's current email (valid 30 minutes from [`T0`]).
async fn token(store: &Arc<dyn Store>, user: &User, purpose: TokenPurpose) -> NewOneTimeToken {
    let token = new_token(user, purpose, token_hash(purpose.as_str()));
    store.insert_token(&token).await.expect("insert_token");
    token
}

/// A user whose email is verified (through `verify_email_with_token` at [`T0`]).
async fn verified_user(store: &Arc<dyn Store>) -> User {
    let u = user(store).await;
    let t = token(store, &u, TokenPurpose::VerifyEmail).await;
    let verified = store
        .verify_email_with_token(&t.hash, T0)
        .await
        .expect("verify_email_with_token")
        .expect("a fresh verification token verifies");
    assert!(verified.email_verified, "verify_email_with_token verifies");
    verified
}

/// The user as stored (soft-deleted ones included).
async fn read_user(store: &Arc<dyn Store>, id: UserId) -> User {
    store
        .user_by_id(id)
        .await
        .expect("user_by_id")
        .expect("the user exists")
}

/// The stored password hash of a live user.
async fn hash_of(store: &Arc<dyn Store>, id: UserId) -> String {
    store
        .credentials_by_id(id)
        .await
        .expect("credentials_by_id")
        .expect("the user is live")
        .password_hash
        .expose()
        .to_owned()
}

/// A password hash no other check uses.
fn fresh_hash() -> PasswordHash {
    PasswordHash::new(format!("{HASH}-{}", unique()))
}

fn rename(name: Option<&str>) -> ProfilePatch {
    ProfilePatch {
        display_name: Some(name.map(str::to_owned)),
        ..ProfilePatch::default()
    }
}

fn change_email(email: &Email) -> ProfilePatch {
    ProfilePatch {
        email: Some(email.clone()),
        ..ProfilePatch::default()
    }
}

/// Whether `token` can still be consumed at `now` (it is consumed if so).
async fn usable(store: &Arc<dyn Store>, token: &NewOneTimeToken, now: OffsetDateTime) -> bool {
    store
        .consume_token(&token.hash, token.purpose, now)
        .await
        .expect("consume_token")
        .is_some()
}

/// `credentials_by_id` returns the user with the stored hash; an unknown id and a soft-deleted
/// user are `None`.
pub async fn credentials_by_id_excludes_deleted_users(store: Arc<dyn Store>) {
    let mut new = new_user(&email("by-id"), &["user"], T0);
    new.password_hash = fresh_hash();
    let created = store
        .create_user(&new, &QueuedMail::none())
        .await
        .expect("create_user");
    let other = user(&store).await;
    let creds = store
        .credentials_by_id(new.id)
        .await
        .expect("credentials_by_id")
        .expect("the user exists");
    assert_eq!(creds.user, created);
    assert_eq!(creds.password_hash.expose(), new.password_hash.expose());
    assert!(
        store
            .credentials_by_id(UserId::new_v7(T0))
            .await
            .expect("credentials_by_id")
            .is_none(),
        "an unknown id is None"
    );
    store
        .soft_delete_user(new.id, T0 + Duration::minutes(1))
        .await
        .expect("soft_delete_user");
    assert!(
        store
            .credentials_by_id(new.id)
            .await
            .expect("credentials_by_id")
            .is_none(),
        "a soft-deleted user is None"
    );
    assert_eq!(
        store
            .credentials_by_id(other.id)
            .await
            .unwrap()
            .map(|c| c.user),
        Some(other),
        "other users are still found"
    );
}

/// `update_profile` sets the display name (and `updated_at`, nothing else), leaves it when the
/// patch does not mention it, and clears it with `Some(None)`.
pub async fn update_profile_sets_and_clears_display_name(store: Arc<dyn Store>) {
    let u = verified_user(&store).await;
    let t1 = T0 + Duration::minutes(1) + Duration::microseconds(3);
    let name = "Grace Hopper \u{e9}";
    let named = store
        .update_profile(u.id, &rename(Some(name)), t1, &QueuedMail::none())
        .await
        .expect("update_profile");
    let expected = User {
        display_name: Some(name.to_owned()),
        updated_at: t1,
        ..u.clone()
    };
    assert_eq!(
        named, expected,
        "the name is set, updated_at = now, nothing else changes"
    );
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");

    let t2 = t1 + Duration::minutes(1);
    let kept = store
        .update_profile(u.id, &ProfilePatch::default(), t2, &QueuedMail::none())
        .await
        .expect("update_profile");
    let expected = User {
        updated_at: t2,
        ..expected
    };
    assert_eq!(kept, expected, "an empty patch leaves the name");
    assert_eq!(read_user(&store, u.id).await, expected);

    let t3 = t2 + Duration::minutes(1);
    let cleared = store
        .update_profile(u.id, &rename(None), t3, &QueuedMail::none())
        .await
        .expect("update_profile");
    let expected = User {
        display_name: None,
        updated_at: t3,
        ..expected
    };
    assert_eq!(cleared, expected, "Some(None) clears the name");
    assert_eq!(read_user(&store, u.id).await, expected);
}

/// A new email is stored unverified: the user is found under it, no longer under the old one
/// (which is free again), and a name in the same patch is applied too.
pub async fn update_profile_new_email_is_unverified(store: Arc<dyn Store>) {
    let u = verified_user(&store).await;
    let moved_to = email("moved");
    let t1 = T0 + Duration::minutes(1);
    let moved = store
        .update_profile(
            u.id,
            &ProfilePatch {
                display_name: Some(Some("Moved".to_owned())),
                email: Some(moved_to.clone()),
                ..ProfilePatch::default()
            },
            t1,
            &QueuedMail::none(),
        )
        .await
        .expect("update_profile");
    let expected = User {
        email: moved_to.clone(),
        email_verified: false,
        display_name: Some("Moved".to_owned()),
        updated_at: t1,
        ..u.clone()
    };
    assert_eq!(moved, expected, "a new email is unverified");
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");
    assert_eq!(
        store
            .credentials_by_email(&moved_to)
            .await
            .unwrap()
            .map(|c| c.user),
        Some(expected),
        "found under the new email"
    );
    assert!(
        store
            .credentials_by_email(&u.email)
            .await
            .unwrap()
            .is_none(),
        "not under the old one"
    );
    store
        .create_user(&new_user(&u.email, &["user"], t1), &QueuedMail::none())
        .await
        .expect("the old email is free again");
}

/// Setting the current email again (in any letter case) keeps it verified.
pub async fn update_profile_same_email_keeps_verification(store: Arc<dyn Store>) {
    let u = verified_user(&store).await;
    let same = Email::parse(&u.email.as_str().to_uppercase()).unwrap();
    assert_eq!(same, u.email);
    let t1 = T0 + Duration::minutes(1);
    let updated = store
        .update_profile(
            u.id,
            &ProfilePatch {
                display_name: Some(Some("Same".to_owned())),
                email: Some(same),
                ..ProfilePatch::default()
            },
            t1,
            &QueuedMail::none(),
        )
        .await
        .expect("update_profile");
    let expected = User {
        display_name: Some("Same".to_owned()),
        updated_at: t1,
        ..u.clone()
    };
    assert!(updated.email_verified, "the same email stays verified");
    assert_eq!(updated, expected);
    assert_eq!(read_user(&store, u.id).await, expected);
}

/// Another user's email (given in another letter case) and a soft-deleted user's email are
/// `Conflict(Conflict::Email)`, and nothing of the patch is applied.
pub async fn update_profile_email_conflicts(store: Arc<dyn Store>) {
    let u = verified_user(&store).await;
    let suffix = unique();
    let taken = store
        .create_user(
            &new_user(
                &Email::parse(&format!("Taken.{suffix}@Example.com")).unwrap(),
                &["user"],
                T0,
            ),
            &QueuedMail::none(),
        )
        .await
        .expect("create_user");
    let variant = Email::parse(&format!("  TAKEN.{suffix}@example.COM ")).unwrap();
    let patch = ProfilePatch {
        display_name: Some(Some("Thief".to_owned())),
        email: Some(variant),
        ..ProfilePatch::default()
    };
    let t1 = T0 + Duration::minutes(1);
    let result = store
        .update_profile(u.id, &patch, t1, &QueuedMail::none())
        .await;
    assert!(
        is_conflict(&result, Conflict::Email),
        "another user's email must be Conflict(Email), got {result:?}"
    );
    assert_eq!(read_user(&store, u.id).await, u, "nothing was applied");
    assert_eq!(
        read_user(&store, taken.id).await,
        taken,
        "the owner is untouched"
    );

    let gone = user(&store).await;
    store
        .soft_delete_user(gone.id, t1)
        .await
        .expect("soft_delete_user");
    let patch = ProfilePatch {
        display_name: Some(None),
        email: Some(gone.email.clone()),
        ..ProfilePatch::default()
    };
    let result = store
        .update_profile(u.id, &patch, t1 + Duration::minutes(1), &QueuedMail::none())
        .await;
    assert!(
        is_conflict(&result, Conflict::Email),
        "a soft-deleted user's email must be Conflict(Email), got {result:?}"
    );
    assert_eq!(read_user(&store, u.id).await, u, "nothing was applied");
}

/// Eight users moving to one free email at once: exactly one succeeds, the others are
/// `Conflict(Conflict::Email)`.
pub async fn concurrent_email_changes_to_one_address_succeed_once(store: Arc<dyn Store>) {
    let target = email("contended");
    let mut users = Vec::new();
    for _ in 0..8 {
        users.push(user(&store).await);
    }
    let mut tasks = JoinSet::new();
    for u in &users {
        let store = Arc::clone(&store);
        let (id, patch) = (u.id, change_email(&target));
        tasks.spawn(async move {
            (
                id,
                store
                    .update_profile(id, &patch, T0 + Duration::minutes(1), &QueuedMail::none())
                    .await,
            )
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            (id, Ok(_)) => winners.push(id),
            (_, Err(StoreError::Conflict(Conflict::Email))) => {}
            (_, Err(e)) => panic!("a losing update_profile must be Conflict(Email), got {e:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent email change succeeds"
    );
    let owner = store
        .credentials_by_email(&target)
        .await
        .unwrap()
        .expect("the winner has the email");
    assert_eq!(owner.user.id, winners[0]);
    for u in &users {
        if u.id != winners[0] {
            assert_eq!(&read_user(&store, u.id).await, u, "losers are untouched");
        }
    }
}

/// `update_profile` of an unknown or soft-deleted user is `NotFound` and changes nothing.
pub async fn update_profile_not_found_for_unknown_or_deleted(store: Arc<dyn Store>) {
    let patch = ProfilePatch {
        display_name: Some(Some("Ghost".to_owned())),
        email: Some(email("ghost")),
        ..ProfilePatch::default()
    };
    let t1 = T0 + Duration::minutes(1);
    let result = store
        .update_profile(UserId::new_v7(T0), &patch, t1, &QueuedMail::none())
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "an unknown user must be NotFound, got {result:?}"
    );
    let u = user(&store).await;
    store
        .soft_delete_user(u.id, t1)
        .await
        .expect("soft_delete_user");
    let before = read_user(&store, u.id).await;
    let result = store
        .update_profile(u.id, &patch, t1 + Duration::minutes(1), &QueuedMail::none())
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "a soft-deleted user must be NotFound, got {result:?}"
    );
    assert_eq!(read_user(&store, u.id).await, before, "nothing changed");
    store
        .create_user(
            &new_user(
                patch.email.as_ref().unwrap(),
                &["user"],
                T0 + Duration::hours(1),
            ),
            &QueuedMail::none(),
        )
        .await
        .expect("the refused email was not taken");
}

/// `set_password` stores the hash and `updated_at`, revokes every unrevoked session of the user
/// but `keep` (earlier revocations keep their time, other users are untouched), and spends the
/// user's outstanding reset tokens but not its verification tokens; with `keep = None` every
/// session goes.
pub async fn set_password_revokes_sessions_and_spends_resets(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, u.id, token_hash("a")).await;
    let b = session(&store, u.id, token_hash("b")).await;
    let keep = session(&store, u.id, token_hash("keep")).await;
    let old = session(&store, u.id, token_hash("old")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    let t_old = T0 + Duration::minutes(1);
    assert!(store.revoke_session(u.id, old.id, t_old).await.unwrap());
    let r1 = token(&store, &u, TokenPurpose::PasswordReset).await;
    let r2 = token(&store, &u, TokenPurpose::PasswordReset).await;
    let verify = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let their_reset = token(&store, &other, TokenPurpose::PasswordReset).await;
    let before = read_user(&store, u.id).await;

    let t1 = T0 + Duration::minutes(5) + Duration::microseconds(1);
    let new_hash = fresh_hash();
    store
        .set_password(u.id, &new_hash, Some(keep.id), t1, &QueuedMail::none())
        .await
        .expect("set_password");
    assert_eq!(hash_of(&store, u.id).await, new_hash.expose(), "new hash");
    assert_eq!(
        read_user(&store, u.id).await,
        User {
            updated_at: t1,
            ..before
        },
        "updated_at = now, nothing else"
    );
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t1));
    assert_eq!(stored(&store, b.id).await.revoked_at, Some(t1));
    assert_eq!(stored(&store, keep.id).await.revoked_at, None, "keep stays");
    assert_eq!(
        stored(&store, old.id).await.revoked_at,
        Some(t_old),
        "an earlier revocation keeps its time"
    );
    assert_eq!(
        stored(&store, theirs.id).await.revoked_at,
        None,
        "other users untouched"
    );
    assert_eq!(unrevoked(&store, u.id).await, vec![keep.clone()]);
    let t2 = t1 + Duration::minutes(1);
    assert!(!usable(&store, &r1, t2).await, "reset tokens are spent");
    assert!(!usable(&store, &r2, t2).await, "reset tokens are spent");
    assert!(
        usable(&store, &verify, t2).await,
        "verification tokens are not spent"
    );
    assert!(
        usable(&store, &their_reset, t2).await,
        "other users' reset tokens are not spent"
    );

    let t3 = t2 + Duration::minutes(1);
    let newer = fresh_hash();
    store
        .set_password(u.id, &newer, None, t3, &QueuedMail::none())
        .await
        .expect("set_password");
    assert_eq!(hash_of(&store, u.id).await, newer.expose());
    assert_eq!(
        stored(&store, keep.id).await.revoked_at,
        Some(t3),
        "without keep every session is revoked"
    );
    assert!(unrevoked(&store, u.id).await.is_empty());
    assert_eq!(stored(&store, theirs.id).await.revoked_at, None);
}

/// `set_password` for an unknown or soft-deleted user is `NotFound` and changes nothing (the
/// user's reset tokens stay usable).
pub async fn set_password_not_found_for_unknown_or_deleted(store: Arc<dyn Store>) {
    let t1 = T0 + Duration::minutes(1);
    let result = store
        .set_password(
            UserId::new_v7(T0),
            &fresh_hash(),
            None,
            t1,
            &QueuedMail::none(),
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "an unknown user must be NotFound, got {result:?}"
    );
    let u = user(&store).await;
    let reset = token(&store, &u, TokenPurpose::PasswordReset).await;
    store
        .soft_delete_user(u.id, t1)
        .await
        .expect("soft_delete_user");
    let before = read_user(&store, u.id).await;
    let t2 = t1 + Duration::minutes(1);
    let result = store
        .set_password(u.id, &fresh_hash(), None, t2, &QueuedMail::none())
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "a soft-deleted user must be NotFound, got {result:?}"
    );
    assert_eq!(read_user(&store, u.id).await, before, "nothing changed");
    assert!(
        usable(&store, &reset, t2).await,
        "a refused set_password spends nothing"
    );
}

/// `set_status(Disabled)` sets the status and `updated_at` and revokes every session of the
/// user (earlier revocations keep their time); `Active` revokes nothing. The user stays findable
/// by email with its status.
pub async fn set_status_disabled_revokes_sessions(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, u.id, token_hash("a")).await;
    let b = session(&store, u.id, token_hash("b")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    let t_b = T0 + Duration::minutes(1);
    assert!(store.revoke_session(u.id, b.id, t_b).await.unwrap());
    let before = read_user(&store, u.id).await;

    let t1 = T0 + Duration::minutes(2) + Duration::microseconds(9);
    let active = store
        .set_status(u.id, UserStatus::Active, t1)
        .await
        .expect("set_status");
    assert_eq!(
        active,
        User {
            updated_at: t1,
            ..before.clone()
        }
    );
    assert_eq!(
        stored(&store, a.id).await.revoked_at,
        None,
        "Active revokes nothing"
    );

    let t2 = t1 + Duration::minutes(1);
    let disabled = store
        .set_status(u.id, UserStatus::Disabled, t2)
        .await
        .expect("set_status");
    let expected = User {
        status: UserStatus::Disabled,
        updated_at: t2,
        ..before
    };
    assert_eq!(disabled, expected, "status and updated_at, nothing else");
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");
    assert_eq!(
        store
            .credentials_by_email(&u.email)
            .await
            .unwrap()
            .map(|c| c.user),
        Some(expected.clone()),
        "a disabled user is still found, with its status"
    );
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t2), "revoked");
    assert_eq!(
        stored(&store, b.id).await.revoked_at,
        Some(t_b),
        "an earlier revocation keeps its time"
    );
    assert_eq!(
        stored(&store, theirs.id).await.revoked_at,
        None,
        "other users untouched"
    );

    let c = session(&store, u.id, token_hash("c")).await;
    let t3 = t2 + Duration::minutes(1);
    let back = store
        .set_status(u.id, UserStatus::Active, t3)
        .await
        .expect("set_status");
    assert_eq!(back.status, UserStatus::Active);
    assert_eq!(back.updated_at, t3);
    assert_eq!(read_user(&store, u.id).await, back);
    assert_eq!(
        stored(&store, c.id).await.revoked_at,
        None,
        "re-activating revokes nothing"
    );
}

/// `set_status` for an unknown or soft-deleted user is `NotFound` and changes nothing.
pub async fn set_status_not_found_for_unknown_or_deleted(store: Arc<dyn Store>) {
    let t1 = T0 + Duration::minutes(1);
    for status in [UserStatus::Active, UserStatus::Disabled] {
        let result = store.set_status(UserId::new_v7(T0), status, t1).await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "an unknown user must be NotFound, got {result:?}"
        );
    }
    let u = user(&store).await;
    store
        .soft_delete_user(u.id, t1)
        .await
        .expect("soft_delete_user");
    let before = read_user(&store, u.id).await;
    for status in [UserStatus::Disabled, UserStatus::Active] {
        let result = store
            .set_status(u.id, status, t1 + Duration::minutes(1))
            .await;
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "a soft-deleted user must be NotFound, got {result:?}"
        );
    }
    assert_eq!(read_user(&store, u.id).await, before, "nothing changed");
}

/// `soft_delete_user` sets `deleted_at` (and nothing else), hides the user from both
/// credentials lookups, revokes its sessions (earlier revocations keep their time), keeps its
/// email taken, and a second delete (or an unknown id) is `NotFound`.
pub async fn soft_delete_user_hides_the_user_and_revokes_sessions(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, u.id, token_hash("a")).await;
    let old = session(&store, u.id, token_hash("old")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    let t_old = T0 + Duration::minutes(1);
    assert!(store.revoke_session(u.id, old.id, t_old).await.unwrap());
    let before = read_user(&store, u.id).await;

    let t1 = T0 + Duration::minutes(2) + Duration::microseconds(5);
    store
        .soft_delete_user(u.id, t1)
        .await
        .expect("soft_delete_user");
    let deleted = User {
        deleted_at: Some(t1),
        ..before
    };
    assert_eq!(
        read_user(&store, u.id).await,
        deleted,
        "user_by_id shows deleted_at, nothing else changed"
    );
    assert!(
        store
            .credentials_by_email(&u.email)
            .await
            .unwrap()
            .is_none(),
        "credentials_by_email hides it"
    );
    assert!(
        store.credentials_by_id(u.id).await.unwrap().is_none(),
        "credentials_by_id hides it"
    );
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t1), "revoked");
    assert_eq!(
        stored(&store, old.id).await.revoked_at,
        Some(t_old),
        "an earlier revocation keeps its time"
    );
    assert!(unrevoked(&store, u.id).await.is_empty());
    assert_eq!(
        stored(&store, theirs.id).await.revoked_at,
        None,
        "other users untouched"
    );
    assert!(
        store.credentials_by_id(other.id).await.unwrap().is_some(),
        "other users stay live"
    );

    let variant = Email::parse(&u.email.as_str().to_uppercase()).unwrap();
    let again = store
        .create_user(&new_user(&variant, &["user"], t1), &QueuedMail::none())
        .await;
    assert!(
        is_conflict(&again, Conflict::Email),
        "a soft-deleted user's email stays taken, got {again:?}"
    );

    let t2 = t1 + Duration::minutes(1);
    let twice = store.soft_delete_user(u.id, t2).await;
    assert!(
        matches!(twice, Err(StoreError::NotFound)),
        "a second delete must be NotFound, got {twice:?}"
    );
    assert_eq!(
        read_user(&store, u.id).await,
        deleted,
        "the first deletion time stays"
    );
    let unknown = store.soft_delete_user(UserId::new_v7(T0), t2).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound)),
        "an unknown user must be NotFound, got {unknown:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// token flows

/// `peek_token` returns what `consume_token` would, without consuming: repeatedly, only for the
/// token's purpose, only before `expires_at`, and no longer once the token is used.
pub async fn peek_token_does_not_consume(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let t = token(&store, &u, TokenPurpose::PasswordReset).await;
    let now = T0 + Duration::minutes(10);
    for i in 1..=2 {
        let got = store
            .peek_token(&t.hash, t.purpose, now)
            .await
            .expect("peek_token")
            .unwrap_or_else(|| panic!("peek {i} finds the token"));
        assert_token(&got, &t);
    }
    let peek = |purpose, at| {
        let store = Arc::clone(&store);
        let hash = t.hash;
        async move { store.peek_token(&hash, purpose, at).await.unwrap() }
    };
    assert!(
        peek(TokenPurpose::VerifyEmail, now).await.is_none(),
        "wrong purpose"
    );
    assert!(
        peek(t.purpose, t.expires_at).await.is_none(),
        "at expires_at"
    );
    assert!(
        peek(t.purpose, t.expires_at + Duration::days(1))
            .await
            .is_none(),
        "after expires_at"
    );
    assert!(
        peek(t.purpose, t.expires_at - Duration::microseconds(1))
            .await
            .is_some(),
        "one microsecond before expires_at"
    );
    assert!(
        store
            .peek_token(&token_hash("unknown"), t.purpose, now)
            .await
            .unwrap()
            .is_none(),
        "unknown hash"
    );
    assert!(usable(&store, &t, now).await, "peeking consumed nothing");
    assert!(
        peek(t.purpose, now).await.is_none(),
        "a used token is not peeked"
    );
}

/// `verify_email_with_token` marks the email verified (`updated_at = now`, nothing else) and
/// returns the user; the token is then spent.
pub async fn verify_email_with_token_verifies_once(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let t = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let t1 = T0 + Duration::minutes(10) + Duration::microseconds(2);
    let got = store
        .verify_email_with_token(&t.hash, t1)
        .await
        .expect("verify_email_with_token")
        .expect("a fresh token verifies");
    let expected = User {
        email_verified: true,
        updated_at: t1,
        ..u.clone()
    };
    assert_eq!(got, expected, "verified, updated_at = now, nothing else");
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");
    assert!(
        store
            .verify_email_with_token(&t.hash, t1 + Duration::minutes(1))
            .await
            .unwrap()
            .is_none(),
        "single use"
    );
    assert_eq!(
        read_user(&store, u.id).await,
        expected,
        "the reuse changed nothing"
    );
    assert!(
        store
            .peek_token(&t.hash, t.purpose, t1)
            .await
            .unwrap()
            .is_none(),
        "the token is spent"
    );
    assert_eq!(
        read_user(&store, other.id).await,
        other,
        "other users untouched"
    );
}

/// A password-reset token, an expired token and an unknown hash verify nothing; the refused
/// tokens stay usable for what they are (and before they expire).
pub async fn verify_email_with_token_checks_purpose_and_expiry(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let reset = token(&store, &u, TokenPurpose::PasswordReset).await;
    let verify = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let now = T0 + Duration::minutes(1);
    assert!(
        store
            .verify_email_with_token(&reset.hash, now)
            .await
            .unwrap()
            .is_none(),
        "a reset token does not verify"
    );
    for at in [verify.expires_at, verify.expires_at + Duration::days(1)] {
        assert!(
            store
                .verify_email_with_token(&verify.hash, at)
                .await
                .unwrap()
                .is_none(),
            "expired at {at}"
        );
    }
    assert!(
        store
            .verify_email_with_token(&token_hash("unknown"), now)
            .await
            .unwrap()
            .is_none(),
        "unknown hash"
    );
    assert_eq!(read_user(&store, u.id).await, u, "nothing verified");
    assert!(
        usable(&store, &reset, now).await,
        "the reset token was not spent"
    );
    let just_before = verify.expires_at - Duration::microseconds(1);
    let got = store
        .verify_email_with_token(&verify.hash, just_before)
        .await
        .unwrap()
        .expect("one microsecond before expiry, still usable");
    assert!(got.email_verified);
}

/// A verification token for an email the user no longer has (or of a deleted user) verifies
/// nothing and is spent all the same; a token for the new email verifies it.
pub async fn verify_email_with_token_refuses_a_changed_email(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let stale = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let t1 = T0 + Duration::minutes(1);
    let moved = store
        .update_profile(
            u.id,
            &change_email(&email("moved")),
            t1,
            &QueuedMail::none(),
        )
        .await
        .expect("update_profile");
    let t2 = t1 + Duration::minutes(1);
    assert!(
        store
            .verify_email_with_token(&stale.hash, t2)
            .await
            .unwrap()
            .is_none(),
        "a token for the old email verifies nothing"
    );
    assert_eq!(read_user(&store, u.id).await, moved, "nothing changed");
    assert!(
        store
            .peek_token(&stale.hash, stale.purpose, t2)
            .await
            .unwrap()
            .is_none(),
        "the stale token is spent all the same"
    );
    let fresh = token(&store, &moved, TokenPurpose::VerifyEmail).await;
    let got = store
        .verify_email_with_token(&fresh.hash, t2)
        .await
        .unwrap()
        .expect("a token for the current email verifies");
    assert_eq!(
        got,
        User {
            email_verified: true,
            updated_at: t2,
            ..moved
        }
    );

    let gone = user(&store).await;
    let orphan = token(&store, &gone, TokenPurpose::VerifyEmail).await;
    store
        .soft_delete_user(gone.id, t1)
        .await
        .expect("soft_delete_user");
    let deleted = read_user(&store, gone.id).await;
    assert!(
        store
            .verify_email_with_token(&orphan.hash, t2)
            .await
            .unwrap()
            .is_none(),
        "a deleted user is not verified"
    );
    assert_eq!(read_user(&store, gone.id).await, deleted, "nothing changed");
    assert!(
        store
            .peek_token(&orphan.hash, orphan.purpose, t2)
            .await
            .unwrap()
            .is_none(),
        "the token is spent all the same"
    );
}

/// Twenty concurrent verifications with one token: exactly one gets the user, none fails.
pub async fn concurrent_verifications_succeed_once(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let t = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let hash = t.hash;
        tasks.spawn(async move {
            store
                .verify_email_with_token(&hash, T0 + Duration::minutes(1))
                .await
        });
    }
    let mut winners = 0;
    while let Some(joined) = tasks.join_next().await {
        if joined
            .expect("task")
            .expect("verify_email_with_token")
            .is_some()
        {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent verification succeeds");
    assert!(read_user(&store, u.id).await.email_verified);
}

/// `reset_password_with_token` stores the new hash, revokes every session of the user (earlier
/// revocations keep their time), spends its other reset tokens (not its verification tokens),
/// marks the token's email verified and returns the user; the token is single use.
pub async fn reset_password_with_token_resets(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = user(&store).await;
    let a = session(&store, u.id, token_hash("a")).await;
    let old = session(&store, u.id, token_hash("old")).await;
    let theirs = session(&store, other.id, token_hash("theirs")).await;
    let t_old = T0 + Duration::minutes(1);
    assert!(store.revoke_session(u.id, old.id, t_old).await.unwrap());
    let r1 = token(&store, &u, TokenPurpose::PasswordReset).await;
    let r2 = token(&store, &u, TokenPurpose::PasswordReset).await;
    let verify = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let their_reset = token(&store, &other, TokenPurpose::PasswordReset).await;
    let before = read_user(&store, u.id).await;
    assert!(!before.email_verified);

    let t1 = T0 + Duration::minutes(5) + Duration::microseconds(4);
    let new_hash = fresh_hash();
    let got = store
        .reset_password_with_token(&r1.hash, &new_hash, t1, &QueuedMail::none())
        .await
        .expect("reset_password_with_token")
        .expect("a fresh reset token works");
    let expected = User {
        email_verified: true,
        updated_at: t1,
        ..before
    };
    assert_eq!(
        got, expected,
        "email verified, updated_at = now, nothing else"
    );
    assert_eq!(read_user(&store, u.id).await, expected, "and it is stored");
    assert_eq!(hash_of(&store, u.id).await, new_hash.expose(), "new hash");
    assert_eq!(stored(&store, a.id).await.revoked_at, Some(t1), "revoked");
    assert_eq!(
        stored(&store, old.id).await.revoked_at,
        Some(t_old),
        "an earlier revocation keeps its time"
    );
    assert_eq!(
        stored(&store, theirs.id).await.revoked_at,
        None,
        "other users untouched"
    );

    let t2 = t1 + Duration::minutes(1);
    for (t, what) in [(&r1, "the same token"), (&r2, "another reset token")] {
        assert!(
            store
                .reset_password_with_token(&t.hash, &fresh_hash(), t2, &QueuedMail::none())
                .await
                .unwrap()
                .is_none(),
            "{what} is spent"
        );
    }
    assert_eq!(hash_of(&store, u.id).await, new_hash.expose(), "hash kept");
    assert!(
        usable(&store, &verify, t2).await,
        "verification tokens are not spent"
    );
    assert!(
        usable(&store, &their_reset, t2).await,
        "other users' reset tokens are not spent"
    );
}

/// A new email, through `update_profile` or `admin_update_user`, spends the user's unused reset
/// tokens sent to the old one (a link in the mailbox the account left must not take it over);
/// a change that keeps the email spends nothing, and other users' tokens stay usable.
pub async fn an_email_change_spends_the_reset_tokens_of_the_old_email(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let other = store
        .create_user(
            &new_user(&email("other"), &["user"], T0),
            &QueuedMail::none(),
        )
        .await
        .expect("create_user");
    let theirs = token(&store, &other, TokenPurpose::PasswordReset).await;
    let t1 = T0 + Duration::minutes(1);
    let kept = new_token(&u, TokenPurpose::PasswordReset, token_hash("kept"));
    store.insert_token(&kept).await.expect("insert_token");
    store
        .update_profile(u.id, &change_email(&u.email), t1, &QueuedMail::none())
        .await
        .expect("update_profile");
    assert!(
        usable(&store, &kept, t1).await,
        "an unchanged email spends no reset token"
    );

    let before_profile = token(&store, &u, TokenPurpose::PasswordReset).await;
    let moved = store
        .update_profile(
            u.id,
            &change_email(&email("moved")),
            t1,
            &QueuedMail::none(),
        )
        .await
        .expect("update_profile");
    assert!(
        !usable(&store, &before_profile, t1).await,
        "update_profile's new email spends the reset token sent to the old one"
    );

    let before_admin = new_token(&moved, TokenPurpose::PasswordReset, token_hash("admin"));
    store
        .insert_token(&before_admin)
        .await
        .expect("insert_token");
    let patch = AdminPatch {
        email: Some(email("moved-again")),
        email_verified: Some(true),
        ..AdminPatch::default()
    };
    store
        .admin_update_user(u.id, &patch, t1)
        .await
        .expect("admin_update_user");
    assert!(
        !usable(&store, &before_admin, t1).await,
        "admin_update_user's new email spends the reset token sent to the old one"
    );
    assert!(
        usable(&store, &theirs, t1).await,
        "other users' reset tokens are not spent"
    );
}

/// A reset token for an email the user no longer has (one issued while the email was being
/// changed, say) resets nothing and is spent: the password, the verification and the sessions
/// stay as they were.
pub async fn reset_password_with_token_refuses_a_changed_email(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let s = session(&store, u.id, token_hash("s")).await;
    let stale = NewOneTimeToken {
        email: email("left-behind"),
        ..new_token(&u, TokenPurpose::PasswordReset, token_hash("stale"))
    };
    store.insert_token(&stale).await.expect("insert_token");
    let before = read_user(&store, u.id).await;
    let hash_before = hash_of(&store, u.id).await;
    let t1 = T0 + Duration::minutes(1);
    let got = store
        .reset_password_with_token(&stale.hash, &fresh_hash(), t1, &QueuedMail::none())
        .await
        .expect("reset_password_with_token");
    assert!(got.is_none(), "a token for another email resets nothing");
    assert_eq!(read_user(&store, u.id).await, before);
    assert_eq!(hash_of(&store, u.id).await, hash_before);
    assert!(
        !usable(&store, &stale, t1).await,
        "the refused token is spent all the same"
    );
    assert!(
        stored(&store, s.id).await.revoked_at.is_none(),
        "no session is revoked"
    );
}

/// A verification token, an expired token and an unknown hash reset nothing; a deleted user's
/// token resets nothing and is spent.
pub async fn reset_password_with_token_refuses_bad_tokens_and_deleted_users(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let s = session(&store, u.id, token_hash("s")).await;
    let verify = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let reset = token(&store, &u, TokenPurpose::PasswordReset).await;
    let before = read_user(&store, u.id).await;
    let now = T0 + Duration::minutes(1);
    let attempt = |hash: TokenHash, at: OffsetDateTime| {
        let store = Arc::clone(&store);
        async move {
            store
                .reset_password_with_token(&hash, &fresh_hash(), at, &QueuedMail::none())
                .await
                .expect("reset_password_with_token")
        }
    };
    assert!(
        attempt(verify.hash, now).await.is_none(),
        "a verification token does not reset"
    );
    for at in [reset.expires_at, reset.expires_at + Duration::days(1)] {
        assert!(attempt(reset.hash, at).await.is_none(), "expired at {at}");
    }
    assert!(
        attempt(token_hash("unknown"), now).await.is_none(),
        "unknown hash"
    );
    assert_eq!(hash_of(&store, u.id).await, HASH, "the hash is unchanged");
    assert_eq!(read_user(&store, u.id).await, before, "nothing changed");
    assert_eq!(stored(&store, s.id).await.revoked_at, None, "still live");
    assert!(
        usable(&store, &verify, now).await,
        "the verification token was not spent"
    );

    store
        .soft_delete_user(u.id, now)
        .await
        .expect("soft_delete_user");
    let deleted = read_user(&store, u.id).await;
    let t2 = now + Duration::minutes(1);
    assert!(
        attempt(reset.hash, t2).await.is_none(),
        "a deleted user's token resets nothing"
    );
    assert_eq!(read_user(&store, u.id).await, deleted, "nothing changed");
    assert!(
        store
            .peek_token(&reset.hash, reset.purpose, t2)
            .await
            .unwrap()
            .is_none(),
        "the token is spent all the same"
    );
}

/// Twenty concurrent resets with one token: exactly one gets the user, none fails, and the
/// stored hash is the winner's.
pub async fn concurrent_resets_succeed_once(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let t = token(&store, &u, TokenPurpose::PasswordReset).await;
    let mut tasks = JoinSet::new();
    for _ in 0..20 {
        let store = Arc::clone(&store);
        let (hash, new_hash) = (t.hash, fresh_hash());
        tasks.spawn(async move {
            let got = store
                .reset_password_with_token(
                    &hash,
                    &new_hash,
                    T0 + Duration::minutes(1),
                    &QueuedMail::none(),
                )
                .await;
            (new_hash, got)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (new_hash, got) = joined.expect("task");
        if got.expect("reset_password_with_token").is_some() {
            winners.push(new_hash);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent reset succeeds");
    assert_eq!(
        hash_of(&store, u.id).await,
        winners[0].expose(),
        "the winner's hash is stored"
    );
}

/// Eight concurrent resets of one user, each with its own token: exactly one succeeds (it spends
/// the others), and none fails (no deadlock between the token and user locks).
pub async fn concurrent_resets_of_one_user_succeed_once(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(token(&store, &u, TokenPurpose::PasswordReset).await);
    }
    let mut tasks = JoinSet::new();
    for t in &tokens {
        let store = Arc::clone(&store);
        let hash = t.hash;
        tasks.spawn(async move {
            store
                .reset_password_with_token(
                    &hash,
                    &fresh_hash(),
                    T0 + Duration::minutes(1),
                    &QueuedMail::none(),
                )
                .await
        });
    }
    let mut winners = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(Some(_)) => winners += 1,
            Ok(None) => {}
            Err(e) => panic!("a racing reset must not fail, got {e:?}"),
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one concurrent reset of one user succeeds"
    );
}

/// Password changes racing resets of the same user (four each, every reset with its own token):
/// none fails, at most one reset succeeds, and the stored hash is one of those written.
pub async fn concurrent_password_changes_and_resets_do_not_fail(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(token(&store, &u, TokenPurpose::PasswordReset).await);
    }
    let now = T0 + Duration::minutes(1);
    let mut tasks = JoinSet::new();
    for t in &tokens {
        let (reset, change) = (Arc::clone(&store), Arc::clone(&store));
        let (hash, reset_hash, change_hash) = (t.hash, fresh_hash(), fresh_hash());
        tasks.spawn(async move {
            let got = reset
                .reset_password_with_token(&hash, &reset_hash, now, &QueuedMail::none())
                .await
                .map(|u| u.is_some());
            (reset_hash, got)
        });
        tasks.spawn(async move {
            let got = change
                .set_password(u.id, &change_hash, None, now, &QueuedMail::none())
                .await
                .map(|()| false);
            (change_hash, got)
        });
    }
    let (mut written, mut resets) = (Vec::new(), 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            (hash, Ok(reset)) => {
                resets += usize::from(reset);
                written.push(hash.expose().to_owned());
            }
            (_, Err(e)) => panic!("a racing password change or reset must not fail, got {e:?}"),
        }
    }
    assert!(resets <= 1, "at most one reset succeeds, got {resets}");
    let stored_hash = hash_of(&store, u.id).await;
    assert!(
        written.contains(&stored_hash),
        "the stored hash is one that was written"
    );
}

// ---------------------------------------------------------------------------------------------
// roles, audit, keys, health

/// The built-in roles: `admin` grants every permission (sorted), `user` none; unknown roles
/// grant nothing; the union is deduplicated.
pub async fn builtin_role_permissions(store: Arc<dyn Store>) {
    let mut all: Vec<String> = ALL_PERMISSIONS.iter().map(|p| (*p).to_owned()).collect();
    all.sort();
    let roles = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(store.permissions_of(&roles(&["admin"])).await.unwrap(), all);
    assert!(
        store
            .permissions_of(&roles(&["user"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .permissions_of(&roles(&["no-such-role"]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.permissions_of(&[]).await.unwrap().is_empty());
    assert_eq!(
        store
            .permissions_of(&roles(&["user", "admin", "no-such-role", "admin"]))
            .await
            .unwrap(),
        all
    );
}

/// An audit event `name` about `subject` at `at`, with core's id (the UUIDv7 of `at`) and
/// nothing else set.
fn audit_event(subject: UserId, at: OffsetDateTime, name: &str) -> AuditEvent {
    AuditEvent {
        id: authkit_core::domain::new_v7(at),
        at,
        event: name.to_owned(),
        user_id: Some(subject),
        actor_id: None,
        ip: None,
        user_agent: None,
        detail: serde_json::json!({}),
    }
}

/// `purge_audit` deletes the events whose `at` is strictly before the time given, the earlier
/// ones of its own millisecond included, and keeps the others, which read back unchanged.
/// (Events of 2001: no other check of the suite makes any that old.)
pub async fn purge_audit_deletes_events_before_the_cutoff(store: Arc<dyn Store>) {
    let subject = user(&store).await;
    // Half-way through a millisecond, so that events 100 µs either side share it.
    let cutoff = time::macros::datetime!(2001-02-03 04:05:06.000500 UTC);
    let event = |at: OffsetDateTime, name: &str| audit_event(subject.id, at, name);
    let old = event(cutoff - Duration::days(1), "old");
    let just_before = event(cutoff - Duration::microseconds(100), "just_before");
    let at_cutoff = event(cutoff, "at_cutoff");
    let just_after = event(cutoff + Duration::microseconds(100), "just_after");
    let later = event(cutoff + Duration::seconds(1), "later");
    for e in [&at_cutoff, &later, &old, &just_after, &just_before] {
        store.append_audit(e).await.expect("append_audit");
    }
    assert_eq!(
        store.purge_audit(cutoff - Duration::days(2)).await.unwrap(),
        0,
        "nothing that old"
    );
    assert_eq!(
        store.purge_audit(cutoff).await.unwrap(),
        2,
        "the old event and the earlier one of the cutoff's millisecond"
    );
    assert_eq!(
        store.audit_of_user(subject.id, 10).await.unwrap(),
        vec![later.clone(), just_after, at_cutoff],
        "an event at the time given is not before it"
    );
    assert_eq!(
        store.purge_audit(cutoff).await.unwrap(),
        0,
        "again: nothing"
    );
    assert_eq!(
        store
            .purge_audit(later.at + Duration::microseconds(1))
            .await
            .unwrap(),
        3
    );
    assert!(
        store
            .audit_of_user(subject.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Audit events read back exactly (ip, user agent, JSON detail), only the subject's, newest
/// first (ties broken by id, descending), at most `limit`.
pub async fn audit_events_round_trip_newest_first(store: Arc<dyn Store>) {
    let subject = user(&store).await;
    let other = user(&store).await;
    let event = |at: OffsetDateTime, name: &str| audit_event(subject.id, at, name);
    let mut e1 = event(T0, "register");
    e1.ip = Some("198.51.100.4".parse().unwrap());
    e1.user_agent = Some("curl/8.0".to_owned());
    let mut e2 = event(T0 + Duration::seconds(1), "login_failed");
    e2.ip = Some("2001:db8::42".parse().unwrap());
    e2.detail = serde_json::json!({
        "reason": "wrong_password",
        "attempt": 3,
        "nested": {"list": [1, 2.5, null, true], "text": "caf\u{e9} \"quoted\""}
    });
    let tie = T0 + Duration::seconds(2) + Duration::microseconds(1);
    let mut e3 = event(tie, "login_ok");
    e3.actor_id = Some(other.id);
    let mut e4 = event(tie, "logout");
    e4.actor_id = Some(subject.id);
    let mut not_theirs = event(T0 + Duration::seconds(3), "login_ok");
    not_theirs.user_id = Some(other.id);
    let mut anonymous = event(T0 + Duration::seconds(4), "login_failed");
    anonymous.user_id = None;
    for e in [&e3, &e1, &not_theirs, &e4, &anonymous, &e2] {
        store.append_audit(e).await.expect("append_audit");
    }
    let (hi, lo) = if e3.id > e4.id { (e3, e4) } else { (e4, e3) };
    let expected = vec![hi, lo, e2, e1];
    assert_eq!(store.audit_of_user(subject.id, 10).await.unwrap(), expected);
    assert_eq!(
        store.audit_of_user(subject.id, 2).await.unwrap(),
        expected[..2].to_vec(),
        "limit"
    );
    assert!(store.audit_of_user(subject.id, 0).await.unwrap().is_empty());
    assert_eq!(
        store.audit_of_user(other.id, 10).await.unwrap(),
        vec![not_theirs]
    );
}

/// `append_audits` writes a batch in one call: every field of every event reads back, in order
/// (newest first by `at`, then id); an empty batch writes nothing.
pub async fn append_audits_keeps_order_and_fields(store: Arc<dyn Store>) {
    let subject = user(&store).await;
    let actor = user(&store).await;
    store.append_audits(&[]).await.expect("an empty batch");
    assert!(
        store
            .audit_of_user(subject.id, 10)
            .await
            .unwrap()
            .is_empty(),
        "an empty batch writes nothing"
    );
    // A millisecond or more apart: the UUIDv7 ids follow the times (list_audit orders by id).
    let at = |micros: i64| T0 + Duration::microseconds(micros);
    let e1 = AuditEvent {
        id: authkit_core::domain::new_v7(at(1_000)),
        at: at(1_000),
        event: "register".to_owned(),
        user_id: Some(subject.id),
        actor_id: None,
        ip: Some("198.51.100.4".parse().unwrap()),
        user_agent: Some("curl/8.0".to_owned()),
        detail: serde_json::json!({}),
    };
    let e2 = AuditEvent {
        id: authkit_core::domain::new_v7(at(2_000)),
        at: at(2_000),
        event: "role_granted".to_owned(),
        user_id: Some(subject.id),
        actor_id: Some(actor.id),
        ip: Some("2001:db8::42".parse().unwrap()),
        user_agent: None,
        detail: serde_json::json!({
            "role": "admin",
            "nested": {"list": [1, 2.5, null, true], "text": "caf\u{e9} \"quoted\""}
        }),
    };
    let e3 = AuditEvent {
        id: authkit_core::domain::new_v7(at(1_000_003)),
        at: at(1_000_003),
        event: "logout".to_owned(),
        user_id: Some(subject.id),
        actor_id: Some(subject.id),
        ip: None,
        user_agent: Some("suite/1.0".to_owned()),
        detail: serde_json::json!({"all": false}),
    };
    store
        .append_audits(&[e1.clone(), e2.clone(), e3.clone()])
        .await
        .expect("append_audits");
    let newest_first = vec![e3, e2, e1];
    assert_eq!(
        store.audit_of_user(subject.id, 10).await.unwrap(),
        newest_first,
        "audit_of_user"
    );
    let page = store
        .list_audit(&authkit_core::domain::AuditQuery {
            user_id: Some(subject.id),
            event: None,
            before: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(page.items, newest_first, "list_audit");
    assert!(!page.has_more);
    assert!(
        store.audit_of_user(actor.id, 10).await.unwrap().is_empty(),
        "the actor is not the subject"
    );
}

/// A batch larger than one SQL statement can bind (9000 events: more than 32766 / 8 and
/// 65535 / 8) is written whole, in order.
pub async fn append_audits_writes_a_large_batch_whole(store: Arc<dyn Store>) {
    let subject = user(&store).await;
    let events: Vec<AuditEvent> = (0..9000_i64)
        .map(|i| {
            let at = T0 + Duration::microseconds(i);
            AuditEvent {
                id: authkit_core::domain::new_v7(at),
                at,
                event: "login_ok".to_owned(),
                user_id: Some(subject.id),
                actor_id: None,
                ip: None,
                user_agent: None,
                detail: serde_json::json!({ "i": i }),
            }
        })
        .collect();
    store
        .append_audits(&events)
        .await
        .expect("append_audits of a large batch");
    let read = store.audit_of_user(subject.id, 10_000).await.unwrap();
    assert_eq!(read.len(), events.len(), "every event written");
    assert!(
        read.iter().rev().eq(events.iter()),
        "every event as written, newest first"
    );
}

/// Signing keys read back exactly (seed bytes, time), newest first with `kid` descending on
/// ties; a duplicate `kid` is `Conflict(Conflict::Other)`.
pub async fn signing_keys_round_trip_newest_first(store: Arc<dyn Store>) {
    let prefix = unique();
    let key = |kid: &str, byte: u8, at: OffsetDateTime| StoredSigningKey {
        kid: format!("{prefix}-{kid}"),
        seed: SecretBox::new(Box::new(std::array::from_fn(|i| byte ^ i as u8))),
        created_at: at,
    };
    let a = key("a", 0x11, T0);
    let b = key("b", 0x22, T0 + Duration::days(1));
    let c = key("c", 0x33, T0 + Duration::days(1));
    for k in [&b, &a, &c] {
        store
            .insert_signing_key(k)
            .await
            .expect("insert_signing_key");
    }
    let dup = key("a", 0x44, T0 + Duration::days(2));
    let result = store.insert_signing_key(&dup).await;
    assert!(
        is_conflict(&result, Conflict::Other),
        "a duplicate kid must be Conflict(Other), got {result:?}"
    );
    let listed: Vec<StoredSigningKey> = store
        .signing_keys()
        .await
        .expect("signing_keys")
        .into_iter()
        .filter(|k| k.kid.starts_with(&prefix))
        .collect();
    let summary = |keys: &[&StoredSigningKey]| {
        keys.iter()
            .map(|k| (k.kid.clone(), *k.seed.expose_secret(), k.created_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(&listed.iter().collect::<Vec<_>>()),
        summary(&[&c, &b, &a]),
        "newest first, kid descending on ties, seeds intact"
    );
}

/// `ping` succeeds on a reachable store.
pub async fn ping_succeeds(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}
