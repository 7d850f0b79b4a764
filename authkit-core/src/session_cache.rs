//! [`SessionCache`]: a short-lived, in-process memory of sessions and their users, in front of
//! the store, so that authenticating a request does not read the database every time.
//!
//! DESIGN.md allows the session check to be "a short-lived in-process cache that is
//! invalidated on revocation by this instance". The trade-off, as the crate documents it:
//! - Every change made through this instance's store (revocation, logout, password change,
//!   disabling, deletion, a role change, a refresh, a profile change...) forgets the entries it
//!   could have changed before the call returns, so this instance refuses a revoked session at
//!   once. A write to one session forgets that session; a write to one user (a login, a
//!   password or status change...) forgets that user's sessions; a change to roles forgets
//!   everything. So one user's login does not empty the memory of everyone else's sessions.
//! - A change made by *another* process on the same database (a second instance, the
//!   `authkit-server` CLI) is seen here after at most [`AuthConfig::session_cache_ttl`]
//!   (default 1 s); set it to zero to read the session on every request.
//!
//! The entry's liveness (expiry, revocation time) is still judged at each use by the caller
//! against its clock: the cache holds rows, not decisions. A read that raced a write is not
//! remembered (a generation count, raised by every write, is compared before inserting).
//!
//! [`AuthConfig::session_cache_ttl`]: crate::AuthConfig::session_cache_ttl

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    AdminPatch, AuditEvent, AuditQuery, Audited, ClaimedEmail, Email, EmailId, EmailPayload,
    Locale, NewOneTimeToken, NewSession, NewUser, OneTimeToken, OutboxCounts, OutboxEntry,
    OutboxStatus, Page, PasswordHash, ProfilePatch, QueuedMail, RefreshAudit, RefreshRotation,
    RefreshedSession, Role, RotateOutcome, Session, SessionId, SessionOwner, StoredSigningKey,
    TokenHash, TokenPurpose, User, UserCredentials, UserId, UserQuery, UserStatus,
};
use crate::ports::{
    AttemptDecision, AuditStore, KeyStore, LoginThrottle, LoginThrottleStore, OneTimeTokenStore,
    OutboxStore, PoolStats, RoleStore, SessionStore, Store, StoreError, StoreHealth, StoreResult,
    UserStore,
};

/// A store that remembers `session_and_user` answers for a short time and forgets them on every
/// write that could change them. Built by [`crate::AuthKitBuilder::build`] when
/// [`crate::AuthConfig::session_cache_ttl`] is not zero; every other call goes to the store.
pub(crate) struct SessionCache {
    inner: Arc<dyn Store>,
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Raised by every write that forgets entries; a read started under an older generation
    /// is not remembered.
    generation: u64,
    entries: HashMap<SessionId, Entry>,
}

struct Entry {
    session: Session,
    user: User,
    read_at: Instant,
}

/// Which entries a write makes stale.
#[derive(Clone, Copy)]
enum Forget {
    /// One session's entry (a change to that session only).
    Session(SessionId),
    /// The entries of one user's sessions (a change to that user's row or to its sessions).
    User(UserId),
    /// Every entry (a change to roles, or a write whose user is not known).
    All,
}

impl SessionCache {
    /// The most sessions remembered; the memory is emptied when it is full (a few MB at most).
    pub(crate) const CAPACITY: usize = 4096;

    pub(crate) fn new(inner: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The remembered entry, if it is younger than the TTL; and the generation to insert under.
    fn lookup(&self, id: SessionId) -> (Option<(Session, User)>, u64) {
        let state = self.state();
        let hit = state
            .entries
            .get(&id)
            .filter(|e| e.read_at.elapsed() < self.ttl)
            .map(|e| (e.session.clone(), e.user.clone()));
        (hit, state.generation)
    }

    /// Remembers a read made under `generation`, unless a write happened since.
    fn remember(&self, generation: u64, read_at: Instant, session: &Session, user: &User) {
        let mut state = self.state();
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= Self::CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(
            session.id,
            Entry {
                session: session.clone(),
                user: user.clone(),
                read_at,
            },
        );
    }

    /// Called after every write (whatever its result: a failed call may still have committed).
    fn forget(&self, what: Forget) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        match what {
            Forget::Session(id) => {
                state.entries.remove(&id);
            }
            Forget::User(id) => state.entries.retain(|_, e| e.user.id != id),
            Forget::All => state.entries.clear(),
        }
    }

    /// Forgets what a rotation changed: its session when it rotated or found reuse, all when
    /// it failed (it may still have committed).
    fn forget_rotated(&self, outcome: Result<&RotateOutcome, &StoreError>) {
        match outcome {
            Ok(RotateOutcome::Rotated(session)) => self.forget(Forget::Session(session.id)),
            Ok(RotateOutcome::Reused { session_id, .. }) => {
                self.forget(Forget::Session(*session_id))
            }
            Ok(RotateOutcome::Invalid) => {}
            Err(_) => self.forget(Forget::All),
        }
    }

    /// Forgets what a write by one-time token changed: the sessions of the user it names; all
    /// when it failed (it may still have committed, for a user not known here). A token that
    /// matched nothing changed nothing.
    fn forget_user_of(&self, outcome: Result<&Option<User>, &StoreError>) {
        match outcome {
            Ok(Some(user)) => self.forget(Forget::User(user.id)),
            Ok(None) => {}
            Err(_) => self.forget(Forget::All),
        }
    }

    /// Runs a write, then forgets what it may have changed.
    async fn write<T>(&self, what: Forget, call: impl Future<Output = T>) -> T {
        let result = call.await;
        self.forget(what);
        result
    }

    /// The session and its user, from memory or from the store (then remembered).
    async fn cached_session_and_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        let (hit, generation) = self.lookup(id);
        if hit.is_some() {
            return Ok(hit);
        }
        let read_at = Instant::now();
        let found = self.inner.session_and_user(id).await?;
        if let Some((session, user)) = &found {
            self.remember(generation, read_at, session, user);
        }
        Ok(found)
    }
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .field("entries", &self.state().entries.len())
            .finish()
    }
}

#[async_trait]
impl UserStore for SessionCache {
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
        self.inner.create_user(new, mail).await
    }
    async fn create_user_audited(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: &AuditEvent,
    ) -> StoreResult<Audited<User>> {
        self.inner.create_user_audited(new, mail, event).await
    }
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        self.inner.user_by_id(id).await
    }
    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        self.inner.credentials_by_email(email).await
    }
    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        self.inner.credentials_by_id(id).await
    }
    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<User> {
        self.write(
            Forget::User(id),
            self.inner.update_profile(id, patch, now, mail),
        )
        .await
    }
    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool> {
        self.write(
            Forget::User(id),
            self.inner.replace_password_hash(id, old, new),
        )
        .await
    }
    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<()> {
        self.write(
            Forget::User(id),
            self.inner.set_password(id, hash, keep, now, mail),
        )
        .await
    }
    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        self.write(Forget::User(id), self.inner.set_status(id, status, now))
            .await
    }
    async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()> {
        self.write(Forget::User(id), self.inner.soft_delete_user(id, now))
            .await
    }
    async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User> {
        self.write(Forget::User(id), self.inner.restore_user(id, now))
            .await
    }
    async fn admin_update_user(
        &self,
        id: UserId,
        patch: &AdminPatch,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        self.write(
            Forget::User(id),
            self.inner.admin_update_user(id, patch, now),
        )
        .await
    }
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        self.inner.list_users(query).await
    }
}

#[async_trait]
impl SessionStore for SessionCache {
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
        self.write(Forget::User(new.user_id), self.inner.create_session(new))
            .await
    }
    async fn create_session_audited(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<Session>> {
        self.write(
            Forget::User(new.user_id),
            self.inner.create_session_audited(new, event),
        )
        .await
    }
    async fn create_session_with_owner(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<(Session, SessionOwner)>> {
        self.write(
            Forget::User(new.user_id),
            self.inner.create_session_with_owner(new, event),
        )
        .await
    }
    /// From memory, or read with its user (and remembered); a session without a user (which a
    /// store's foreign key rules out) is read alone.
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        match self.cached_session_and_user(id).await? {
            Some((session, _)) => Ok(Some(session)),
            None => self.inner.session(id).await,
        }
    }
    async fn session_and_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        self.cached_session_and_user(id).await
    }
    async fn rotate_refresh(&self, rotation: &RefreshRotation) -> StoreResult<RotateOutcome> {
        let outcome = self.inner.rotate_refresh(rotation).await;
        self.forget_rotated(outcome.as_ref());
        outcome
    }
    async fn rotate_refresh_with_owner(
        &self,
        rotation: &RefreshRotation,
    ) -> StoreResult<(RotateOutcome, Option<SessionOwner>)> {
        let result = self.inner.rotate_refresh_with_owner(rotation).await;
        self.forget_rotated(result.as_ref().map(|(outcome, _)| outcome));
        result
    }
    async fn rotate_refresh_audited(
        &self,
        rotation: &RefreshRotation,
        audit: &RefreshAudit,
    ) -> StoreResult<RefreshedSession> {
        let result = self.inner.rotate_refresh_audited(rotation, audit).await;
        self.forget_rotated(result.as_ref().map(|refreshed| &refreshed.outcome));
        result
    }
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.write(
            Forget::Session(id),
            self.inner.revoke_session(user, id, now),
        )
        .await
    }
    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        self.write(
            Forget::User(user),
            self.inner.revoke_all_sessions(user, now),
        )
        .await
    }
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>> {
        self.inner.sessions_of(user).await
    }

    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
        // Only ended sessions go, and a cached one is checked for that on every use.
        self.inner.purge_sessions(ended_before).await
    }
}

#[async_trait]
impl OneTimeTokenStore for SessionCache {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        self.inner.insert_token(token).await
    }
    async fn consume_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        self.inner.consume_token(hash, purpose, now).await
    }
    async fn peek_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        self.inner.peek_token(hash, purpose, now).await
    }
    async fn verify_email_with_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let result = self.inner.verify_email_with_token(hash, now).await;
        self.forget_user_of(result.as_ref());
        result
    }
    async fn reset_password_with_token(
        &self,
        hash: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<Option<User>> {
        let result = self
            .inner
            .reset_password_with_token(hash, new_hash, now, mail)
            .await;
        self.forget_user_of(result.as_ref());
        result
    }
    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        // One-time tokens are not cached.
        self.inner.purge_tokens(expired_before).await
    }
}

#[async_trait]
impl RoleStore for SessionCache {
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
        self.inner.permissions_of(roles).await
    }
    async fn roles(&self) -> StoreResult<Vec<Role>> {
        self.inner.roles().await
    }
    async fn create_role(&self, role: &Role) -> StoreResult<Role> {
        self.inner.create_role(role).await
    }
    async fn update_role(&self, role: &Role) -> StoreResult<Role> {
        self.write(Forget::All, self.inner.update_role(role)).await
    }
    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        self.write(Forget::All, self.inner.delete_role(name)).await
    }
}

#[async_trait]
impl AuditStore for SessionCache {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.inner.append_audit(event).await
    }
    async fn append_audits(&self, events: &[AuditEvent]) -> StoreResult<()> {
        self.inner.append_audits(events).await
    }
    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        self.inner.audit_of_user(user, limit).await
    }
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
        self.inner.list_audit(query).await
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.inner.purge_audit(before).await
    }
}

#[async_trait]
impl KeyStore for SessionCache {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.inner.signing_keys().await
    }
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        self.inner.insert_signing_key(key).await
    }
}

#[async_trait]
impl OutboxStore for SessionCache {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        self.inner.enqueue_mail(mail).await
    }
    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        self.inner.claim_emails(now, lease_until, limit).await
    }
    async fn prepare_email(
        &self,
        id: EmailId,
        token: &NewOneTimeToken,
        payload: &EmailPayload,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.inner
            .prepare_email(id, token, payload, locale, now)
            .await
    }
    async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        self.inner.mark_email_sent(id, now).await
    }
    async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        self.inner.mark_email_dropped(id, now).await
    }
    async fn mark_email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.inner.mark_email_failed(id, error, retry_at, now).await
    }
    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        self.inner.outbox_counts().await
    }
    async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        self.inner.list_outbox(status, limit).await
    }
    async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64> {
        self.inner.requeue_emails(ids, now).await
    }
    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.inner.purge_outbox(before).await
    }
}

#[async_trait]
impl LoginThrottleStore for SessionCache {
    async fn begin_password_attempt(
        &self,
        key: &str,
        rule: &LoginThrottle,
        now: OffsetDateTime,
    ) -> StoreResult<AttemptDecision> {
        self.inner.begin_password_attempt(key, rule, now).await
    }
    async fn clear_password_failures(&self, key: &str) -> StoreResult<()> {
        self.inner.clear_password_failures(key).await
    }
    async fn password_failures(&self, key: &str) -> StoreResult<u32> {
        self.inner.password_failures(key).await
    }
    async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.inner.purge_password_failures(before).await
    }
}

#[async_trait]
impl StoreHealth for SessionCache {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    fn pool_stats(&self) -> Option<PoolStats> {
        self.inner.pool_stats()
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;
    use crate::testing::MemoryStore;

    const LONG: Duration = Duration::from_secs(3600);

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    /// A store with one user and one live session, that store behind a cache, and a handle on
    /// the store itself: a write through it is what another instance's write looks like.
    async fn cached_session(ttl: Duration) -> (SessionCache, Arc<dyn Store>, Session) {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let session = user_with_session(&*store, "a@example.com", "first").await;
        (SessionCache::new(store.clone(), ttl), store, session)
    }

    /// A new user with `email` and one live session (refresh token `refresh`), in `store`.
    async fn user_with_session(store: &dyn Store, email: &str, refresh: &str) -> Session {
        let now = at();
        let user = store
            .create_user(
                &NewUser {
                    id: UserId::new_v7(now),
                    email: Email::parse(email).unwrap(),
                    display_name: None,
                    locale: None,
                    password_hash: PasswordHash::new("$argon2id$test"),
                    roles: vec!["user".to_owned()],
                    now,
                },
                &QueuedMail::none(),
            )
            .await
            .unwrap();
        store
            .create_session(&new_session(user.id, refresh))
            .await
            .unwrap()
    }

    /// A day-long session of `user` with the refresh token `refresh`, made at [`at`].
    fn new_session(user: UserId, refresh: &str) -> NewSession {
        let now = at();
        NewSession {
            id: SessionId::new_v7(now),
            user_id: user,
            refresh_hash: TokenHash::of(refresh),
            refresh_selector: None,
            now,
            expires_at: now + time::Duration::days(1),
            idle_expires_at: now + time::Duration::days(1),
            remember_me: false,
            ip: None,
            user_agent: None,
        }
    }

    async fn revoked_at(cache: &SessionCache, id: SessionId) -> Option<OffsetDateTime> {
        cache.session(id).await.unwrap().unwrap().revoked_at
    }

    #[tokio::test]
    async fn remembers_until_a_write_through_it() {
        let (cache, store, session) = cached_session(LONG).await;
        assert_eq!(revoked_at(&cache, session.id).await, None);
        // Another process revokes: this instance keeps its memory for the TTL...
        assert!(
            store
                .revoke_session(session.user_id, session.id, at())
                .await
                .unwrap()
        );
        assert_eq!(revoked_at(&cache, session.id).await, None);
        let (_, user) = cache.session_and_user(session.id).await.unwrap().unwrap();
        assert_eq!(user.id, session.user_id);
        // ...until a write through this instance, which forgets before it returns.
        cache
            .revoke_all_sessions(session.user_id, at())
            .await
            .unwrap();
        assert_eq!(revoked_at(&cache, session.id).await, Some(at()));
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_every_time() {
        let (cache, store, session) = cached_session(Duration::ZERO).await;
        assert_eq!(revoked_at(&cache, session.id).await, None);
        store
            .revoke_session(session.user_id, session.id, at())
            .await
            .unwrap();
        assert_eq!(revoked_at(&cache, session.id).await, Some(at()));
    }

    #[tokio::test]
    async fn each_revoking_write_is_seen_at_once() {
        let later = at() + time::Duration::minutes(1);
        // revoke_session
        let (cache, _, s) = cached_session(LONG).await;
        revoked_at(&cache, s.id).await;
        assert!(cache.revoke_session(s.user_id, s.id, later).await.unwrap());
        assert_eq!(revoked_at(&cache, s.id).await, Some(later));
        // set_status(Disabled)
        let (cache, _, s) = cached_session(LONG).await;
        revoked_at(&cache, s.id).await;
        cache
            .set_status(s.user_id, UserStatus::Disabled, later)
            .await
            .unwrap();
        let (session, user) = cache.session_and_user(s.id).await.unwrap().unwrap();
        assert_eq!(
            (session.revoked_at, user.status),
            (Some(later), UserStatus::Disabled)
        );
        // soft_delete_user
        let (cache, _, s) = cached_session(LONG).await;
        revoked_at(&cache, s.id).await;
        cache.soft_delete_user(s.user_id, later).await.unwrap();
        let (_, user) = cache.session_and_user(s.id).await.unwrap().unwrap();
        assert_eq!(user.deleted_at, Some(later));
        // admin role change: the session's authorization version moves
        let (cache, _, s) = cached_session(LONG).await;
        revoked_at(&cache, s.id).await;
        let patch = AdminPatch {
            roles: Some(vec!["admin".to_owned()]),
            ..AdminPatch::default()
        };
        cache
            .admin_update_user(s.user_id, &patch, later)
            .await
            .unwrap();
        let session = cache.session(s.id).await.unwrap().unwrap();
        assert!(session.authz_version > s.authz_version);
        // rotation: reuse of the spent token revokes the session
        let (cache, _, s) = cached_session(LONG).await;
        revoked_at(&cache, s.id).await;
        let rotate = |presented: &str, next: &str| RefreshRotation {
            selector: None,
            presented: TokenHash::of(presented),
            next: TokenHash::of(next),
            now: later,
            idle_expires_at: later + time::Duration::days(1),
        };
        let outcome = cache
            .rotate_refresh(&rotate("first", "second"))
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated(_)));
        assert_eq!(
            cache.session(s.id).await.unwrap().unwrap().last_used_at,
            later
        );
        let outcome = cache
            .rotate_refresh(&rotate("first", "third"))
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Reused { .. }));
        assert_eq!(revoked_at(&cache, s.id).await, Some(later));
        // rotation with the owner (what a refresh calls): the same
        let (cache, _, s) = cached_session(LONG).await;
        revoked_at(&cache, s.id).await;
        let (outcome, owner) = cache
            .rotate_refresh_with_owner(&rotate("first", "second"))
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated(_)));
        assert_eq!(owner.map(|o| o.user.id), Some(s.user_id));
        assert_eq!(
            cache.session(s.id).await.unwrap().unwrap().last_used_at,
            later
        );
        let (outcome, _) = cache
            .rotate_refresh_with_owner(&rotate("first", "third"))
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Reused { .. }));
        assert_eq!(revoked_at(&cache, s.id).await, Some(later));
    }

    #[tokio::test]
    async fn a_write_to_one_user_keeps_the_other_users_sessions() {
        let (cache, store, a) = cached_session(LONG).await;
        let b = user_with_session(&*store, "b@example.com", "b's").await;
        let remembered = |id| cache.lookup(id).0.is_some();
        let both = || async {
            cache.session(a.id).await.unwrap().unwrap();
            cache.session(b.id).await.unwrap().unwrap();
        };
        // A login of a's: a's entry goes (its last login moved), b's stays.
        both().await;
        assert!(remembered(a.id) && remembered(b.id));
        let now = at();
        let new = new_session(a.user_id, "a's second");
        let event = AuditEvent {
            id: uuid::Uuid::now_v7(),
            at: now,
            event: "login_ok".to_owned(),
            user_id: Some(a.user_id),
            actor_id: Some(a.user_id),
            ip: None,
            user_agent: None,
            detail: serde_json::Value::Null,
        };
        cache.create_session_with_owner(&new, &event).await.unwrap();
        assert!(!remembered(a.id) && remembered(b.id));
        // Disabling a: the same.
        both().await;
        cache
            .set_status(a.user_id, UserStatus::Disabled, now)
            .await
            .unwrap();
        assert!(!remembered(a.id) && remembered(b.id));
        // A token that matches nothing changes nothing; a failed call forgets everything.
        both().await;
        let none = cache
            .verify_email_with_token(&TokenHash::of("no such token"), now)
            .await
            .unwrap();
        assert!(none.is_none());
        assert!(remembered(a.id) && remembered(b.id));
        cache.forget_user_of(Err(&StoreError::Unavailable("down".into())));
        assert!(!remembered(a.id) && !remembered(b.id));
        // A role's change reaches every user's permissions: everything goes.
        both().await;
        let role = cache.roles().await.unwrap().into_iter().next().unwrap();
        cache.update_role(&role).await.unwrap();
        assert!(!remembered(a.id) && !remembered(b.id));
    }

    #[tokio::test]
    async fn a_read_that_raced_a_write_is_not_remembered() {
        let (cache, store, s) = cached_session(LONG).await;
        let (hit, generation) = cache.lookup(s.id);
        assert!(hit.is_none());
        let (session, user) = store.session_and_user(s.id).await.unwrap().unwrap();
        // A write lands between the read and the remembering.
        cache.forget(Forget::All);
        cache.remember(generation, Instant::now(), &session, &user);
        assert!(cache.lookup(s.id).0.is_none());
        // Without a write in between, the read is remembered.
        let (_, generation) = cache.lookup(s.id);
        cache.remember(generation, Instant::now(), &session, &user);
        assert!(cache.lookup(s.id).0.is_some());
    }
}
