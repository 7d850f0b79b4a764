//! [`MemoryStore`]: every storage port in process memory, behind one mutex (so every method is
//! trivially atomic). For tests and examples; data is lost on drop.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    ADMIN_ROLE, ALL_PERMISSIONS, AdminPatch, AuditEvent, AuditQuery, Audited, ClaimedEmail, Email,
    EmailId, EmailKind, EmailPayload, Locale, NewOneTimeToken, NewSession, NewUser, OneTimeToken,
    OutboxCounts, OutboxEntry, OutboxStatus, Page, PasswordHash, ProfilePatch, QueuedMail,
    RefreshRotation, RefreshSelector, Role, RotateOutcome, Session, SessionId, StoredSigningKey,
    TokenHash, TokenPurpose, USER_ROLE, User, UserCredentials, UserId, UserQuery, UserStatus,
};
use crate::ports::{
    AttemptDecision, AuditStore, Conflict, KeyStore, LoginThrottle, LoginThrottleStore,
    OneTimeTokenStore, OutboxStore, RoleStore, SessionStore, StoreError, StoreHealth, StoreResult,
    UserStore, unix_ms,
};

#[derive(Debug)]
struct StoredEmail {
    to: Email,
    kind: EmailKind,
    locale: Option<Locale>,
    payload: Option<EmailPayload>,
    status: OutboxStatus,
    attempts: u32,
    next_attempt_at: OffsetDateTime,
    locked_until: Option<OffsetDateTime>,
    last_error: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

#[derive(Debug)]
struct StoredToken {
    token: OneTimeToken,
    used: bool,
}

#[derive(Debug)]
struct State {
    users: BTreeMap<UserId, (User, PasswordHash)>,
    emails: HashMap<String, UserId>,
    /// Each session with its current refresh hash and its selector.
    sessions: HashMap<SessionId, (Session, TokenHash, Option<RefreshSelector>)>,
    /// The hashes that sessions without a selector rotated away.
    spent: HashMap<TokenHash, SessionId>,
    tokens: HashMap<TokenHash, StoredToken>,
    roles: BTreeMap<String, Role>,
    audit: Vec<AuditEvent>,
    keys: Vec<StoredSigningKey>,
    outbox: BTreeMap<EmailId, StoredEmail>,
    /// Set by [`MemoryStore::fail_enqueue_mail`].
    fail_enqueue: bool,
    /// Failed password checks per account key: (count, last attempt in ms).
    password_failures: HashMap<String, (u32, i64)>,
}

/// An in-memory [`crate::ports::Store`].
#[derive(Debug)]
pub struct MemoryStore(Mutex<State>);

impl Default for MemoryStore {
    fn default() -> Self {
        let mut roles = BTreeMap::new();
        for (name, description, permissions) in [
            (
                ADMIN_ROLE,
                "Every administrative permission",
                ALL_PERMISSIONS,
            ),
            (USER_ROLE, "Every account", &[][..]),
        ] {
            roles.insert(
                name.to_owned(),
                Role {
                    name: name.to_owned(),
                    description: description.to_owned(),
                    permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                    builtin: true,
                },
            );
        }
        Self(Mutex::new(State {
            users: BTreeMap::new(),
            emails: HashMap::new(),
            sessions: HashMap::new(),
            spent: HashMap::new(),
            tokens: HashMap::new(),
            roles,
            audit: Vec::new(),
            keys: Vec::new(),
            outbox: BTreeMap::new(),
            fail_enqueue: false,
            password_failures: HashMap::new(),
        }))
    }
}

impl MemoryStore {
    /// An empty store with the built-in roles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes [`OutboxStore::enqueue_mail`] fail as an unreachable database would, to show
    /// which flows write their email in the same call as their change (those keep working).
    pub fn fail_enqueue_mail(&self, fail: bool) {
        self.state().fail_enqueue = fail;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`SessionStore::create_session`], appending `event` (when given) under the same lock.
    fn insert_session(&self, new: &NewSession, event: Option<&AuditEvent>) -> StoreResult<Session> {
        let mut s = self.state();
        if s.sessions.contains_key(&new.id) {
            return Err(StoreError::Conflict(Conflict::Id));
        }
        let Some((user, _)) = s.users.get_mut(&new.user_id) else {
            return Err(StoreError::NotFound);
        };
        user.last_login_at = Some(new.now);
        let session = Session {
            id: new.id,
            user_id: new.user_id,
            created_at: new.now,
            last_used_at: new.now,
            expires_at: new.expires_at,
            idle_expires_at: new.idle_expires_at.min(new.expires_at),
            revoked_at: None,
            remember_me: new.remember_me,
            ip: new.ip,
            user_agent: new.user_agent.clone(),
            authz_version: 0,
        };
        s.sessions.insert(
            new.id,
            (session.clone(), new.refresh_hash, new.refresh_selector),
        );
        s.audit.extend(event.cloned());
        Ok(session)
    }

    /// [`UserStore::create_user`], appending `event` (when given) under the same lock.
    fn insert_user(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: Option<&AuditEvent>,
    ) -> StoreResult<User> {
        let mut s = self.state();
        if s.emails.contains_key(new.email.as_str()) {
            return Err(StoreError::Conflict(Conflict::Email));
        }
        if s.users.contains_key(&new.id) {
            return Err(StoreError::Conflict(Conflict::Id));
        }
        s.check_mail(mail)?;
        let mut roles: Vec<String> = new
            .roles
            .iter()
            .filter(|r| s.roles.contains_key(*r))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        roles.sort();
        let user = User {
            id: new.id,
            email: new.email.clone(),
            email_verified: false,
            display_name: new.display_name.clone(),
            locale: new.locale.clone(),
            status: UserStatus::Active,
            roles,
            created_at: new.now,
            updated_at: new.now,
            last_login_at: None,
            deleted_at: None,
        };
        s.emails.insert(new.email.as_str().to_owned(), new.id);
        s.users
            .insert(new.id, (user.clone(), new.password_hash.clone()));
        s.write_mail(mail);
        s.audit.extend(event.cloned());
        Ok(user)
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
        self.insert_user(new, mail, None)
    }

    /// Appends `event` under the same lock as the user (so atomically).
    async fn create_user_audited(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: &AuditEvent,
    ) -> StoreResult<Audited<User>> {
        let user = self.insert_user(new, mail, Some(event))?;
        Ok(Audited {
            value: user,
            audited: true,
        })
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.state().users.get(&id).map(|(u, _)| u.clone()))
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        let s = self.state();
        Ok(s.emails
            .get(email.as_str())
            .and_then(|id| s.users.get(id))
            .filter(|(u, _)| u.deleted_at.is_none())
            .map(|(u, h)| UserCredentials {
                user: u.clone(),
                password_hash: h.clone(),
            }))
    }

    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        Ok(self
            .state()
            .users
            .get(&id)
            .filter(|(u, _)| u.deleted_at.is_none())
            .map(|(u, h)| UserCredentials {
                user: u.clone(),
                password_hash: h.clone(),
            }))
    }

    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<User> {
        let mut s = self.state();
        let current = s.live_user_mut(id)?.0.email.clone();
        s.check_mail(mail)?;
        if let Some(email) = patch.email.as_ref().filter(|e| **e != current) {
            if s.emails.contains_key(email.as_str()) {
                return Err(StoreError::Conflict(Conflict::Email));
            }
            s.emails.remove(current.as_str());
            s.emails.insert(email.as_str().to_owned(), id);
        }
        let (user, _) = s.live_user_mut(id)?;
        if let Some(name) = &patch.display_name {
            user.display_name = name.clone();
        }
        if let Some(email) = patch.email.as_ref().filter(|e| **e != user.email) {
            user.email = email.clone();
            user.email_verified = false;
        }
        if let Some(locale) = &patch.locale {
            user.locale = locale.clone();
        }
        user.updated_at = now;
        let user = user.clone();
        s.spend_stale_reset_tokens(&user);
        s.write_mail(mail);
        Ok(user)
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool> {
        let mut s = self.state();
        let Ok(entry) = s.live_user_mut(id) else {
            return Ok(false);
        };
        if entry.1.expose() != old.expose() {
            return Ok(false);
        }
        entry.1 = new.clone();
        Ok(true)
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<()> {
        let mut s = self.state();
        s.live_user_mut(id)?;
        s.check_mail(mail)?;
        let entry = s.live_user_mut(id)?;
        entry.1 = hash.clone();
        entry.0.updated_at = now;
        s.revoke_sessions(id, keep, now);
        s.spend_reset_tokens(id);
        s.write_mail(mail);
        Ok(())
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut s = self.state();
        let (user, _) = s.live_user_mut(id)?;
        user.status = status;
        user.updated_at = now;
        let user = user.clone();
        if status == UserStatus::Disabled {
            s.revoke_sessions(id, None, now);
        }
        Ok(user)
    }

    async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()> {
        let mut s = self.state();
        s.live_user_mut(id)?.0.deleted_at = Some(now);
        s.revoke_sessions(id, None, now);
        Ok(())
    }

    async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User> {
        let mut s = self.state();
        match s.users.get_mut(&id) {
            Some((user, _)) if user.deleted_at.is_some() => {
                user.deleted_at = None;
                user.updated_at = now;
                Ok(user.clone())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    async fn admin_update_user(
        &self,
        id: UserId,
        patch: &AdminPatch,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut s = self.state();
        let current = s.live_user_mut(id)?.0.clone();
        let new_email = patch.email.as_ref().filter(|e| **e != current.email);
        if let Some(email) = new_email {
            if s.emails.contains_key(email.as_str()) {
                return Err(StoreError::Conflict(Conflict::Email));
            }
            s.emails.remove(current.email.as_str());
            s.emails.insert(email.as_str().to_owned(), id);
        }
        let roles = patch.roles.as_ref().map(|roles| {
            let mut r: Vec<String> = roles
                .iter()
                .filter(|r| s.roles.contains_key(*r))
                .cloned()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            r.sort();
            r
        });
        let (user, _) = s.live_user_mut(id)?;
        if let Some(name) = &patch.display_name {
            user.display_name = name.clone();
        }
        if let Some(email) = new_email {
            user.email = email.clone();
            user.email_verified = false;
        }
        if let Some(verified) = patch.email_verified {
            user.email_verified = verified;
        }
        if let Some(status) = patch.status {
            user.status = status;
        }
        let roles_changed = roles.as_ref().is_some_and(|r| *r != user.roles);
        if let Some(roles) = roles {
            user.roles = roles;
        }
        user.updated_at = now;
        let user = user.clone();
        s.spend_stale_reset_tokens(&user);
        if patch.status == Some(UserStatus::Disabled) {
            s.revoke_sessions(id, None, now);
        }
        if roles_changed {
            s.bump_sessions(id);
        }
        Ok(user)
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        let s = self.state();
        let needle = query.email_contains.as_ref().map(|n| n.to_lowercase());
        let mut items: Vec<User> = s
            .users
            .values()
            .map(|(u, _)| u)
            .filter(|u| query.after.is_none_or(|after| u.id > after))
            .filter(|u| u.deleted_at.is_some() == query.deleted)
            .filter(|u| {
                needle
                    .as_ref()
                    .is_none_or(|n| u.email.as_str().contains(n.as_str()))
            })
            .filter(|u| query.status.is_none_or(|st| u.status == st))
            .filter(|u| query.verified.is_none_or(|v| u.email_verified == v))
            .filter(|u| query.role.as_ref().is_none_or(|r| u.roles.contains(r)))
            .take(query.limit as usize + 1)
            .cloned()
            .collect();
        let has_more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        Ok(Page { items, has_more })
    }
}

impl State {
    /// Refuses `mail` when a row of it would conflict, before anything is written.
    fn check_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        if mail
            .token
            .as_ref()
            .is_some_and(|t| self.tokens.contains_key(&t.hash))
        {
            return Err(StoreError::Conflict(Conflict::Other));
        }
        let mut ids = HashSet::new();
        if mail
            .emails
            .iter()
            .any(|e| self.outbox.contains_key(&e.id) || !ids.insert(e.id))
        {
            return Err(StoreError::Conflict(Conflict::Id));
        }
        Ok(())
    }

    /// Writes `mail` (checked by [`State::check_mail`]).
    fn write_mail(&mut self, mail: &QueuedMail) {
        if let Some(token) = &mail.token {
            self.insert_token(token);
        }
        for e in &mail.emails {
            self.outbox.insert(
                e.id,
                StoredEmail {
                    to: e.to.clone(),
                    kind: e.kind,
                    locale: e.locale.clone(),
                    payload: Some(e.payload.clone()),
                    status: OutboxStatus::Queued,
                    attempts: 0,
                    next_attempt_at: e.created_at,
                    locked_until: None,
                    last_error: None,
                    created_at: e.created_at,
                    updated_at: e.created_at,
                },
            );
        }
    }

    fn insert_token(&mut self, token: &NewOneTimeToken) {
        self.tokens.insert(
            token.hash,
            StoredToken {
                token: OneTimeToken {
                    purpose: token.purpose,
                    user_id: token.user_id,
                    email: token.email.clone(),
                    created_at: token.created_at,
                    expires_at: token.expires_at,
                },
                used: false,
            },
        );
    }

    /// The message `id` when it is `processing`.
    fn processing_mut(&mut self, id: EmailId) -> StoreResult<&mut StoredEmail> {
        match self.outbox.get_mut(&id) {
            Some(e) if e.status == OutboxStatus::Processing => Ok(e),
            _ => Err(StoreError::NotFound),
        }
    }

    fn live_user_mut(&mut self, id: UserId) -> StoreResult<&mut (User, PasswordHash)> {
        match self.users.get_mut(&id) {
            Some(entry) if entry.0.deleted_at.is_none() => Ok(entry),
            _ => Err(StoreError::NotFound),
        }
    }

    fn revoke_sessions(&mut self, user: UserId, keep: Option<SessionId>, now: OffsetDateTime) {
        for (session, ..) in self.sessions.values_mut() {
            if session.user_id == user && session.revoked_at.is_none() && Some(session.id) != keep {
                session.revoked_at = Some(now);
            }
        }
    }

    fn bump_sessions(&mut self, user: UserId) {
        for (session, ..) in self.sessions.values_mut() {
            if session.user_id == user {
                session.authz_version += 1;
            }
        }
    }

    fn bump_holders(&mut self, role: &str) {
        let holders: Vec<UserId> = self
            .users
            .values()
            .filter(|(u, _)| u.roles.iter().any(|r| r == role))
            .map(|(u, _)| u.id)
            .collect();
        for user in holders {
            self.bump_sessions(user);
        }
    }

    /// Spends the reset tokens of `user` sent to another email than its current one.
    fn spend_stale_reset_tokens(&mut self, user: &User) {
        for t in self.tokens.values_mut() {
            if t.token.user_id == user.id
                && t.token.purpose == TokenPurpose::PasswordReset
                && t.token.email != user.email
            {
                t.used = true;
            }
        }
    }

    fn spend_reset_tokens(&mut self, user: UserId) {
        for t in self.tokens.values_mut() {
            if t.token.user_id == user && t.token.purpose == TokenPurpose::PasswordReset {
                t.used = true;
            }
        }
    }

    fn consume(
        &mut self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Option<OneTimeToken> {
        match self.tokens.get_mut(hash) {
            Some(t) if !t.used && t.token.purpose == purpose && now < t.token.expires_at => {
                t.used = true;
                Some(t.token.clone())
            }
            _ => None,
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
        self.insert_session(new, None)
    }

    /// Appends `event` under the same lock as the session (so atomically).
    async fn create_session_audited(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<Session>> {
        let session = self.insert_session(new, Some(event))?;
        Ok(Audited {
            value: session,
            audited: true,
        })
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self.state().sessions.get(&id).map(|(s, ..)| s.clone()))
    }

    /// A token with a selector finds its session by it, and any other hash than the current one
    /// is reuse; a token without one finds its session by hash, and the hashes such a session
    /// rotated away are remembered (`spent`) to tell reuse from an unknown token.
    async fn rotate_refresh(&self, r: &RefreshRotation) -> StoreResult<RotateOutcome> {
        let mut s = self.state();
        let found = s
            .sessions
            .iter()
            .find(|(_, (_, hash, selector))| match r.selector {
                Some(_) => *selector == r.selector,
                None => selector.is_none() && *hash == r.presented,
            })
            .map(|(id, _)| *id);
        let reused = match found {
            Some(id) => {
                let Some((session, hash, _)) = s.sessions.get_mut(&id) else {
                    return Ok(RotateOutcome::Invalid);
                };
                if *hash == r.presented {
                    if !session.is_live(r.now) {
                        return Ok(RotateOutcome::Invalid);
                    }
                    *hash = r.next;
                    session.last_used_at = r.now;
                    session.idle_expires_at = r.idle_expires_at.min(session.expires_at);
                    let rotated = session.clone();
                    if r.selector.is_none() {
                        s.spent.insert(r.presented, id);
                    }
                    return Ok(RotateOutcome::Rotated(rotated));
                }
                id
            }
            None if r.selector.is_some() => return Ok(RotateOutcome::Invalid),
            None => match s.spent.get(&r.presented) {
                Some(id) => *id,
                None => return Ok(RotateOutcome::Invalid),
            },
        };
        let Some((session, ..)) = s.sessions.get_mut(&reused) else {
            return Ok(RotateOutcome::Invalid);
        };
        if session.revoked_at.is_none() {
            session.revoked_at = Some(r.now);
        }
        Ok(RotateOutcome::Reused {
            session_id: reused,
            user_id: session.user_id,
        })
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut s = self.state();
        match s.sessions.get_mut(&id) {
            Some((session, ..)) if session.user_id == user && session.revoked_at.is_none() => {
                session.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        let mut s = self.state();
        let mut n = 0;
        for (session, ..) in s.sessions.values_mut() {
            if session.user_id == user && session.revoked_at.is_none() {
                session.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>> {
        let s = self.state();
        let mut out: Vec<Session> = s
            .sessions
            .values()
            .filter(|(x, ..)| x.user_id == user)
            .map(|(x, ..)| x.clone())
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.id));
        Ok(out)
    }

    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
        let mut s = self.state();
        let before = s.sessions.len();
        s.sessions.retain(|_, (x, ..)| {
            !(x.revoked_at.is_some_and(|at| at < ended_before)
                || x.expires_at < ended_before
                || x.idle_expires_at < ended_before)
        });
        let deleted = before - s.sessions.len();
        let State {
            sessions, spent, ..
        } = &mut *s;
        spent.retain(|_, id| sessions.contains_key(id));
        Ok(deleted as u64)
    }
}

#[async_trait]
impl OneTimeTokenStore for MemoryStore {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        let mut s = self.state();
        if s.tokens.contains_key(&token.hash) {
            return Err(StoreError::Conflict(Conflict::Other));
        }
        s.insert_token(token);
        Ok(())
    }

    async fn consume_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        Ok(self.state().consume(hash, purpose, now))
    }

    async fn peek_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        Ok(self
            .state()
            .tokens
            .get(hash)
            .filter(|t| !t.used && t.token.purpose == purpose && now < t.token.expires_at)
            .map(|t| t.token.clone()))
    }

    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        let mut s = self.state();
        let before = s.tokens.len();
        s.tokens.retain(|_, t| t.token.expires_at >= expired_before);
        Ok((before - s.tokens.len()) as u64)
    }

    async fn verify_email_with_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let mut s = self.state();
        let Some(token) = s.consume(hash, TokenPurpose::VerifyEmail, now) else {
            return Ok(None);
        };
        match s.live_user_mut(token.user_id) {
            Ok((user, _)) if user.email == token.email => {
                user.email_verified = true;
                user.updated_at = now;
                Ok(Some(user.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn reset_password_with_token(
        &self,
        hash: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<Option<User>> {
        let mut s = self.state();
        s.check_mail(mail)?;
        let Some(token) = s.consume(hash, TokenPurpose::PasswordReset, now) else {
            return Ok(None);
        };
        let Ok(entry) = s.live_user_mut(token.user_id) else {
            return Ok(None);
        };
        if entry.0.email != token.email {
            return Ok(None);
        }
        entry.1 = new_hash.clone();
        entry.0.updated_at = now;
        entry.0.email_verified = true;
        let user = entry.0.clone();
        s.revoke_sessions(token.user_id, None, now);
        s.spend_reset_tokens(token.user_id);
        s.write_mail(mail);
        Ok(Some(user))
    }
}

#[async_trait]
impl RoleStore for MemoryStore {
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
        let s = self.state();
        let mut perms: Vec<String> = roles
            .iter()
            .filter_map(|r| s.roles.get(r))
            .flat_map(|r| r.permissions.iter().cloned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        perms.sort();
        Ok(perms)
    }

    async fn roles(&self) -> StoreResult<Vec<Role>> {
        Ok(self.state().roles.values().cloned().collect())
    }

    async fn create_role(&self, role: &Role) -> StoreResult<Role> {
        let mut s = self.state();
        if s.roles.contains_key(&role.name) {
            return Err(StoreError::Conflict(Conflict::Other));
        }
        let role = Role {
            builtin: false,
            permissions: sorted(&role.permissions),
            ..role.clone()
        };
        s.roles.insert(role.name.clone(), role.clone());
        Ok(role)
    }

    async fn update_role(&self, role: &Role) -> StoreResult<Role> {
        let mut s = self.state();
        let permissions = sorted(&role.permissions);
        let Some(stored) = s.roles.get_mut(&role.name) else {
            return Err(StoreError::NotFound);
        };
        let changed = stored.permissions != permissions;
        stored.description = role.description.clone();
        stored.permissions = permissions;
        let updated = stored.clone();
        if changed {
            s.bump_holders(&role.name);
        }
        Ok(updated)
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        let mut s = self.state();
        match s.roles.get(name) {
            None => return Err(StoreError::NotFound),
            Some(r) if r.builtin => return Err(StoreError::Conflict(Conflict::Other)),
            Some(_) => {}
        }
        s.bump_holders(name);
        s.roles.remove(name);
        for (user, _) in s.users.values_mut() {
            user.roles.retain(|r| r != name);
        }
        Ok(())
    }
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .cloned()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort();
    v
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.state().audit.push(event.clone());
        Ok(())
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
        let s = self.state();
        let mut events: Vec<AuditEvent> = s
            .audit
            .iter()
            .filter(|e| query.before.is_none_or(|b| e.id < b))
            .filter(|e| query.user_id.is_none_or(|u| e.user_id == Some(u)))
            .filter(|e| query.event.as_ref().is_none_or(|ev| e.event == *ev))
            .cloned()
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.id));
        let has_more = events.len() > query.limit as usize;
        events.truncate(query.limit as usize);
        Ok(Page {
            items: events,
            has_more,
        })
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut s = self.state();
        let kept = s.audit.len();
        s.audit.retain(|e| e.at >= before);
        Ok((kept - s.audit.len()) as u64)
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let s = self.state();
        let mut events: Vec<AuditEvent> = s
            .audit
            .iter()
            .filter(|e| e.user_id == Some(user))
            .cloned()
            .collect();
        events.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        events.truncate(limit as usize);
        Ok(events)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let mut keys = self.state().keys.clone();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.kid.cmp(&a.kid)));
        Ok(keys)
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        let mut s = self.state();
        if s.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(Conflict::Other));
        }
        s.keys.push(key.clone());
        Ok(())
    }
}

#[async_trait]
impl LoginThrottleStore for MemoryStore {
    async fn begin_password_attempt(
        &self,
        key: &str,
        rule: &LoginThrottle,
        now: OffsetDateTime,
    ) -> StoreResult<AttemptDecision> {
        let now_ms = unix_ms(now);
        let mut s = self.state();
        let entry = s
            .password_failures
            .entry(key.to_owned())
            .or_insert((0, now_ms));
        match rule.check(entry.0, entry.1, now_ms) {
            Ok(()) => {
                *entry = (entry.0 + 1, entry.1.max(now_ms));
                Ok(AttemptDecision::Allowed)
            }
            Err(retry_after) => Ok(AttemptDecision::Throttled { retry_after }),
        }
    }

    async fn clear_password_failures(&self, key: &str) -> StoreResult<()> {
        self.state().password_failures.remove(key);
        Ok(())
    }

    async fn password_failures(&self, key: &str) -> StoreResult<u32> {
        Ok(self.state().password_failures.get(key).map_or(0, |e| e.0))
    }

    async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let before = unix_ms(before);
        let mut s = self.state();
        let n = s.password_failures.len();
        s.password_failures.retain(|_, (_, last)| *last >= before);
        Ok((n - s.password_failures.len()) as u64)
    }
}

#[async_trait]
impl StoreHealth for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        let mut s = self.state();
        if s.fail_enqueue {
            return Err(StoreError::Unavailable(
                "enqueue_mail fails (test switch)".into(),
            ));
        }
        s.check_mail(mail)?;
        s.write_mail(mail);
        Ok(())
    }

    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        let mut s = self.state();
        let mut due: Vec<(OffsetDateTime, EmailId)> = s
            .outbox
            .iter()
            .filter(|(_, e)| match e.status {
                OutboxStatus::Queued => e.next_attempt_at <= now,
                OutboxStatus::Processing => e.locked_until.is_some_and(|t| t <= now),
                _ => false,
            })
            .map(|(id, e)| (e.next_attempt_at, *id))
            .collect();
        due.sort();
        let mut claimed = Vec::new();
        for (_, id) in due.into_iter().take(limit as usize) {
            let Some(e) = s.outbox.get_mut(&id) else {
                continue;
            };
            let Some(payload) = e.payload.clone() else {
                continue;
            };
            e.status = OutboxStatus::Processing;
            e.locked_until = Some(lease_until);
            e.attempts += 1;
            e.updated_at = now;
            claimed.push(ClaimedEmail {
                id,
                to: e.to.clone(),
                kind: e.kind,
                locale: e.locale.clone(),
                payload,
                attempts: e.attempts,
                created_at: e.created_at,
            });
        }
        Ok(claimed)
    }

    async fn prepare_email(
        &self,
        id: EmailId,
        token: &NewOneTimeToken,
        payload: &EmailPayload,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut s = self.state();
        s.processing_mut(id)?;
        if s.tokens.contains_key(&token.hash) {
            return Err(StoreError::Conflict(Conflict::Other));
        }
        s.insert_token(token);
        let e = s.processing_mut(id)?;
        e.payload = Some(payload.clone());
        e.locale = locale.cloned();
        e.updated_at = now;
        Ok(())
    }

    async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        let mut s = self.state();
        let e = s.processing_mut(id)?;
        e.status = OutboxStatus::Sent;
        e.payload = None;
        e.locked_until = None;
        e.updated_at = now;
        Ok(())
    }

    async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        let mut s = self.state();
        let e = s.processing_mut(id)?;
        e.status = OutboxStatus::Dropped;
        e.payload = None;
        e.locked_until = None;
        e.updated_at = now;
        Ok(())
    }

    async fn mark_email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut s = self.state();
        let e = s.processing_mut(id)?;
        match retry_at {
            Some(at) => {
                e.status = OutboxStatus::Queued;
                e.next_attempt_at = at;
            }
            None => e.status = OutboxStatus::Abandoned,
        }
        e.last_error = Some(error.to_owned());
        e.locked_until = None;
        e.updated_at = now;
        Ok(())
    }

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        let mut counts = OutboxCounts::default();
        for e in self.state().outbox.values() {
            counts.add(e.status, 1);
        }
        Ok(counts)
    }

    async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        Ok(self
            .state()
            .outbox
            .iter()
            .filter(|(_, e)| status.is_none_or(|st| e.status == st))
            .take(limit as usize)
            .map(|(id, e)| OutboxEntry {
                id: *id,
                to: e.to.clone(),
                kind: e.kind,
                status: e.status,
                attempts: e.attempts,
                next_attempt_at: e.next_attempt_at,
                last_error: e.last_error.clone(),
                created_at: e.created_at,
                updated_at: e.updated_at,
            })
            .collect())
    }

    async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64> {
        let mut n = 0;
        for (id, e) in &mut self.state().outbox {
            if e.status == OutboxStatus::Abandoned && (ids.is_empty() || ids.contains(id)) {
                e.status = OutboxStatus::Queued;
                e.attempts = 0;
                e.next_attempt_at = now;
                e.updated_at = now;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut s = self.state();
        let n = s.outbox.len();
        s.outbox.retain(|_, e| {
            !(matches!(e.status, OutboxStatus::Sent | OutboxStatus::Dropped)
                && e.updated_at < before)
        });
        Ok((n - s.outbox.len()) as u64)
    }
}
