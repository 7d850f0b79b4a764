//! Storage ports. Each trait is a small contract over one aggregate; [`Store`] joins them.
//!
//! Rules every implementation follows (checked by the conformance suite in `authkit-testkit`):
//! - Stores never read the clock: `now` is always a parameter.
//! - Emails are stored normalized ([`Email`] already is) and compared exactly.
//! - Where a method says "atomically", concurrent callers observe it as one step: at most one of
//!   several racing callers succeeds (one transaction or one conditional `UPDATE`).
//! - A [`QueuedMail`] parameter is written in the same transaction as the change it belongs to
//!   (as [`OutboxStore::enqueue_mail`] writes it), and only when the change happens: a refused
//!   change writes none of it.
//! - Errors are semantic ([`StoreError`]); a lost connection is [`StoreError::Unavailable`].

use std::error::Error as StdError;
use std::fmt::Debug;

use async_trait::async_trait;

use crate::ports::LoginThrottleStore;
use time::OffsetDateTime;

use crate::domain::{
    AdminPatch, AuditEvent, AuditQuery, Audited, ClaimedEmail, Email, EmailId, EmailPayload,
    Locale, NewOneTimeToken, NewSession, NewUser, OneTimeToken, OutboxCounts, OutboxEntry,
    OutboxStatus, Page, PasswordHash, ProfilePatch, QueuedMail, RefreshAudit, RefreshRotation,
    RefreshedSession, Role, RotateOutcome, Session, SessionId, SessionOwner, StoredSigningKey,
    TokenHash, TokenPurpose, User, UserCredentials, UserId, UserQuery, UserStatus,
};

/// A boxed error source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was broken.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// The backend cannot be reached (pool timeout, connection refused, I/O). Maps to 503.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other backend failure. Maps to 500.
    #[error("store backend error")]
    Backend(#[source] BoxError),
}

/// Which uniqueness rule a [`StoreError::Conflict`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conflict {
    /// Another user has this email (case-insensitively).
    Email,
    /// An id was reused.
    Id,
    /// Another unique value (e.g. a key id).
    Other,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Email => "email taken",
            Self::Id => "duplicate id",
            Self::Other => "duplicate value",
        })
    }
}

/// Users and their credentials.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts the user with its password hash, grants `new.roles` and writes `mail` (the
    /// verification token and email), in one transaction.
    ///
    /// MUST return `StoreError::Conflict(Conflict::Email)` when any user (soft-deleted ones
    /// included) has the same normalized email, also when racing another insert of that email.
    /// MUST NOT leave a user without its roles, token or emails. Unknown role names are ignored.
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User>;

    /// [`Self::create_user`], and `event` (the creation's audit event) appended in the same
    /// transaction: no account exists without it, and a creation that fails appends nothing.
    /// A store that appends it must append exactly `event`, once, and say so (`audited`). The
    /// default only creates the user (`audited: false`) and the caller appends the event
    /// itself; a store whose writes queue for one writer (SQLite) should write both in one turn
    /// of it.
    async fn create_user_audited(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: &AuditEvent,
    ) -> StoreResult<Audited<User>> {
        let _ = event;
        Ok(Audited {
            value: self.create_user(new, mail).await?,
            audited: false,
        })
    }

    /// The user with this id, soft-deleted ones included (`deleted_at` set), or `None`.
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>>;

    /// The user with this normalized email and the stored hash, or `None`.
    /// MUST NOT return soft-deleted users.
    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<UserCredentials>>;

    /// The user with this id and the stored hash, or `None`.
    /// MUST NOT return soft-deleted users.
    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>>;

    /// Applies a profile change, sets `updated_at = now` and writes `mail`, in one transaction.
    /// A new email is stored unverified (`email_verified = false`), and the user's unused
    /// password-reset tokens sent to another email are spent (a link in the mailbox the account
    /// left must not reset it); an email equal to the current one changes nothing about either.
    /// MUST return `NotFound` for an unknown or soft-deleted user and
    /// `Conflict(Conflict::Email)` when another user (soft-deleted ones included) has the email.
    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<User>;

    /// Replaces the stored hash by `new` only while it still equals `old` (one conditional
    /// `UPDATE`): a rehash with new parameters after a successful login, which must never undo a
    /// password change that happened meanwhile. Changes nothing else (no `updated_at`, no
    /// session). Returns whether the hash was replaced.
    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool>;

    /// In one transaction: stores the new hash, sets `updated_at = now`, revokes every
    /// unrevoked session of the user except `keep`, and marks every unused password-reset
    /// token of the user used (a password change ends outstanding resets), and writes `mail`.
    /// MUST return `NotFound` for an unknown or soft-deleted user.
    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<()>;

    /// Sets the status and `updated_at = now`; setting `Disabled` also revokes every session
    /// of the user, in the same transaction. MUST return `NotFound` for an unknown or
    /// soft-deleted user.
    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> StoreResult<User>;

    /// Soft-deletes the user (`deleted_at = now`) and revokes every session, in one
    /// transaction. The email stays taken. MUST return `NotFound` for an unknown or already
    /// deleted user.
    async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()>;

    /// Clears `deleted_at` (and sets `updated_at = now`). MUST return `NotFound` for an unknown
    /// user or one that is not deleted.
    async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User>;

    /// Applies an administrator's change in one transaction, setting `updated_at = now`:
    /// a new email is stored unverified unless `patch.email_verified` says otherwise, and spends
    /// the unused password-reset tokens sent to another email (as [`Self::update_profile`]);
    /// `status: Disabled` revokes every session; `roles` replaces the user's roles (names that
    /// do not exist are ignored) and, when they differ from the current ones, raises the
    /// `authz_version` of every session of the user.
    /// MUST return `NotFound` for an unknown or soft-deleted user and `Conflict(Conflict::Email)`
    /// when another user has the email.
    async fn admin_update_user(
        &self,
        id: UserId,
        patch: &AdminPatch,
        now: OffsetDateTime,
    ) -> StoreResult<User>;

    /// Users matching `query`, ordered by id ascending, the first `query.limit` after
    /// `query.after`; `has_more` tells whether another page follows. The cost MUST NOT grow
    /// with the number of users for an unfiltered page (an index range scan on the id).
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>>;
}

/// Sessions and their rotating refresh tokens. (A session store is also its users' and roles'
/// store: [`SessionStore::session_and_user`] reads a session with its user, and
/// [`SessionStore::rotate_refresh_with_owner`] a rotation with its user's permissions.)
#[async_trait]
pub trait SessionStore: UserStore + RoleStore + Send + Sync + 'static {
    /// Inserts a session (never upserts; a duplicate id is `Conflict(Conflict::Id)`) and sets the
    /// owner's `last_login_at` to `new.now`, in one transaction. An unknown user is `NotFound`.
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session>;

    /// [`Self::create_session`], and `event` (the login's audit event) appended in the same
    /// transaction: a session and its event exist together or not at all. A store that
    /// appends it must append exactly `event`, once, and say so (`audited`). The default only
    /// creates the session (`audited: false`) and the caller appends the event itself.
    async fn create_session_audited(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<Session>> {
        let _ = event;
        Ok(Audited {
            value: self.create_session(new).await?,
            audited: false,
        })
    }

    /// What every successful login writes and reads: [`Self::create_session_audited`] and the
    /// session's owner as the same transaction leaves it (as [`Self::session_owner`] reads it:
    /// `last_login_at = new.now`, the roles and their permissions of that moment, not of the
    /// credentials read before the password was checked). An unknown user is `NotFound`, with
    /// no session and no event. The default makes the calls one after another (the owner read
    /// after the commit; a user gone by then is `NotFound`, its session left to the purge);
    /// a database store should read the owner in the session's transaction, without round
    /// trips of its own.
    async fn create_session_with_owner(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<(Session, SessionOwner)>> {
        let Audited { value, audited } = self.create_session_audited(new, event).await?;
        let owner = self
            .session_owner(new.user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(Audited {
            value: (value, owner),
            audited,
        })
    }

    /// The session with this id, revoked and expired ones included, or `None`.
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>>;

    /// The session with this id (as [`Self::session`]) and its user (as
    /// [`UserStore::user_by_id`], soft-deleted users included), or `None` when either is
    /// missing: what every `GET /users/me` reads. The default makes the two reads; a database
    /// store should answer with one query.
    async fn session_and_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        let Some(session) = self.session(id).await? else {
            return Ok(None);
        };
        Ok(self
            .user_by_id(session.user_id)
            .await?
            .map(|user| (session, user)))
    }

    /// Rotates a refresh token, atomically (a compare-and-swap on the current hash). The session
    /// is the one whose selector is `rotation.selector`, a key that no rotation changes (when
    /// `None`: the session without a selector whose current hash is `presented`):
    /// - `presented` is the current token of that session, which is live at `now` (not revoked,
    ///   `now < expires_at`, `now < idle_expires_at`): the session's current hash becomes `next`,
    ///   `last_used_at = now`, `idle_expires_at = min(rotation.idle_expires_at, expires_at)`;
    ///   returns `Rotated` with the updated session. For a session without a selector,
    ///   `presented` is remembered as spent. Of several concurrent calls with the same
    ///   `presented`, exactly one gets `Rotated`.
    /// - Reuse: a session has the selector but another current hash than `presented` (an
    ///   earlier token of that session, or one made up with its selector), or, without a
    ///   selector, `presented` is a spent hash of a session. The session is revoked (committed
    ///   even though the caller answers with an error) and `Reused` is returned, revoked or
    ///   expired sessions included. A selector is only ever handed out inside the session's
    ///   tokens, so whoever presents it has held one of them (or read the database), and could
    ///   end the session by presenting that token again.
    /// - Otherwise (no such session; or `presented` is the current hash of a session that is
    ///   revoked or expired): `Invalid`, nothing changes.
    async fn rotate_refresh(&self, rotation: &RefreshRotation) -> StoreResult<RotateOutcome>;

    /// [`Self::rotate_refresh`] and, when it rotated, the session's owner: the user as
    /// [`UserStore::user_by_id`] reads it after the rotation, and that user's permissions as
    /// [`RoleStore::permissions_of`] returns them (`None` when the user is missing). What every
    /// `POST /refresh` needs to mint its access token. The permissions MUST be no older than
    /// the rotated session's `authz_version`: a role change raises that version before it
    /// commits, so an owner read in the rotation's own statement is right only where that
    /// statement cannot see roles older than the session row it rotated (on SQLite, whose one
    /// writer orders them, it cannot; under PostgreSQL's READ COMMITTED, a statement that
    /// waited for the session's row lock can). The default makes the calls in turn.
    async fn rotate_refresh_with_owner(
        &self,
        rotation: &RefreshRotation,
    ) -> StoreResult<(RotateOutcome, Option<SessionOwner>)> {
        let outcome = self.rotate_refresh(rotation).await?;
        let owner = match &outcome {
            RotateOutcome::Rotated(session) => self.session_owner(session.user_id).await?,
            RotateOutcome::Reused { .. } | RotateOutcome::Invalid => None,
        };
        Ok((outcome, owner))
    }

    /// What every `POST /refresh` writes, in as few writes as the store can:
    /// [`Self::rotate_refresh_with_owner`] and, when the token rotated, the refresh's audit
    /// event (`audit.event(session.id, session.user_id)`) appended with the rotation, before
    /// this returns (`audited: true`). A store that appends it must append exactly that event, once, and only
    /// for a rotation that happened. The default only rotates (`audited: false`) and the caller
    /// appends the event itself; a store whose writes queue for one writer (SQLite) should write
    /// both in one turn of it.
    async fn rotate_refresh_audited(
        &self,
        rotation: &RefreshRotation,
        audit: &RefreshAudit,
    ) -> StoreResult<RefreshedSession> {
        let _ = audit;
        let (outcome, owner) = self.rotate_refresh_with_owner(rotation).await?;
        Ok(RefreshedSession {
            outcome,
            owner,
            audited: false,
        })
    }

    /// The user with this id (as [`UserStore::user_by_id`]) and its permissions (as
    /// [`RoleStore::permissions_of`]), or `None`: the owner part of
    /// [`Self::rotate_refresh_with_owner`], in two reads.
    async fn session_owner(&self, user: UserId) -> StoreResult<Option<SessionOwner>> {
        let Some(user) = self.user_by_id(user).await? else {
            return Ok(None);
        };
        let permissions = self.permissions_of(&user.roles).await?;
        Ok(Some(SessionOwner { user, permissions }))
    }

    /// Revokes one session of `user`. Returns `true` when a live session of that user was revoked,
    /// `false` when the id is unknown, belongs to another user, or was already revoked.
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Revokes every unrevoked session of `user` and returns how many it revoked.
    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64>;

    /// Every session of `user`, revoked and expired ones included (the caller filters with
    /// [`Session::is_live`]), newest first.
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>>;

    /// Deletes every session that ended before `ended_before` (strictly): revoked before it,
    /// or whose absolute or idle expiry is before it; with it go the spent refresh hashes of
    /// each (kept for sessions without a selector). Returns how many sessions it deleted. A session live at `ended_before` is never
    /// deleted, nor are its spent hashes, whatever their age. A spent hash of a deleted session
    /// is then unknown ([`RotateOutcome::Invalid`] instead of `Reused`): its session is over
    /// either way. What [`crate::AuthKit::purge_sessions`] runs every hour, so that a
    /// database does not keep every refresh token it ever rotated.
    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64>;
}

/// Single-use tokens for email verification and password reset.
#[async_trait]
pub trait OneTimeTokenStore: Send + Sync + 'static {
    /// Stores a token's hash. A duplicate hash is `Conflict(Conflict::Other)`.
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()>;

    /// Atomically marks the token used and returns it. `None` when the hash is unknown, already
    /// used, expired at `now`, or of another purpose. Of several concurrent calls with one hash,
    /// at most one gets `Some`.
    async fn consume_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>>;

    /// The token if it would be consumed now (known, unused, unexpired, of `purpose`), without
    /// consuming it.
    async fn peek_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>>;

    /// In one transaction: consumes a `VerifyEmail` token (as [`Self::consume_token`]) and, when
    /// its user is not deleted and still has the token's email, marks that email verified
    /// (`updated_at = now`) and returns the user. Returns `None` when the token cannot be
    /// consumed, or when the user's email changed since (the token is spent all the same).
    /// Of several concurrent calls with one hash, at most one gets `Some`.
    async fn verify_email_with_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>>;

    /// In one transaction: consumes a `PasswordReset` token and, when its user is not deleted
    /// and still has the token's email, does what [`UserStore::set_password`] does with
    /// `keep = None` (new hash, every session revoked, every other reset token spent), marks the
    /// email verified (the reset proved control of it) and writes `mail` (the notice). Returns
    /// the user, or `None` when the token cannot be consumed, its user is deleted or its email
    /// changed since (the token is spent all the same; `mail` is not written). Of several concurrent calls with one hash, at most one gets
    /// `Some`.
    async fn reset_password_with_token(
        &self,
        hash: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<Option<User>>;

    /// Deletes every token whose expiry is before `expired_before` (strictly), used or not, and
    /// returns how many. A token still unexpired at `expired_before` is never deleted. An
    /// expired or used token is refused either way (`invalid_token`), so a deleted one changes
    /// no answer. What [`crate::AuthKit::purge_tokens`] runs every hour, so that a database
    /// does not keep a row for every verification and reset email it ever sent.
    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64>;
}

/// Roles and the permissions they grant. The built-in roles `admin` (every permission) and
/// `user` (none) exist from the first migration.
#[async_trait]
pub trait RoleStore: Send + Sync + 'static {
    /// The union of the permissions granted by `roles`, sorted and without duplicates.
    /// Unknown role names grant nothing.
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>>;

    /// Every role, by name.
    async fn roles(&self) -> StoreResult<Vec<Role>>;

    /// Creates a role (never built-in). MUST return `Conflict(Conflict::Other)` when the name
    /// exists.
    async fn create_role(&self, role: &Role) -> StoreResult<Role>;

    /// Replaces the description and permissions of a role and, when the permissions changed,
    /// raises the `authz_version` of every session of its holders, in one transaction. MUST
    /// return `NotFound` for an unknown role.
    async fn update_role(&self, role: &Role) -> StoreResult<Role>;

    /// Deletes a role and its grants, raising the `authz_version` of every session of its
    /// holders, in one transaction. MUST return `NotFound` for an unknown role and
    /// `Conflict(Conflict::Other)` for a built-in one (nothing changes).
    async fn delete_role(&self, name: &str) -> StoreResult<()>;
}

/// The append-only audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends one event.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;

    /// Appends `events` in order, as one write where the backend can (core's audit writer
    /// hands over what queued up while the previous batch was written). The default appends
    /// them one by one; a database store should insert them in one statement or transaction.
    async fn append_audits(&self, events: &[AuditEvent]) -> StoreResult<()> {
        for event in events {
            self.append_audit(event).await?;
        }
        Ok(())
    }

    /// The events about `user` (as subject), newest first, at most `limit`.
    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>>;

    /// Events matching `query`, newest first (id descending), the first `query.limit` before
    /// `query.before`; `has_more` tells whether another page follows.
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEvent>>;

    /// Deletes every event whose `at` is strictly before `before`; returns how many. A store
    /// may find them by their id, which core makes the UUIDv7 of `at` (so that the deletion
    /// walks the primary key instead of the whole table): an appended event whose id is later
    /// than its `at` may then be kept. A database store deletes in slices, committing each,
    /// so that no statement holds the writer for long.
    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Token signing keys shared by every instance on one database.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Every stored signing key, newest first (`created_at` descending, then `kid` descending).
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;

    /// Inserts a key. A duplicate `kid` is `Conflict(Conflict::Other)`.
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
}

/// The email outbox. Messages are claimed by workers with a lease, so that several workers
/// (instances) on one database never hold the same message at once, and a worker that dies
/// leaves its messages to be claimed again once the lease ends.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// In one transaction: inserts `mail.token` (as [`OneTimeTokenStore::insert_token`]) and
    /// every message of `mail.emails` with status `queued`, `attempts = 0`, due at its
    /// `created_at`. A duplicate message id is `Conflict(Conflict::Id)`.
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()>;

    /// Atomically claims up to `limit` messages that are due: `queued` with
    /// `next_attempt_at <= now`, or `processing` with `locked_until <= now` (their worker died).
    /// Each claimed message becomes `processing` with `locked_until = lease_until` and
    /// `attempts + 1`; the oldest due come first (`next_attempt_at`, then id). Concurrent callers
    /// MUST NOT claim the same message (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>>;

    /// In one transaction: inserts `token` and replaces the payload and locale of the message
    /// (a reset or verification whose account was looked up by the worker). MUST return
    /// `NotFound` when the message is not `processing`.
    async fn prepare_email(
        &self,
        id: EmailId,
        token: &NewOneTimeToken,
        payload: &EmailPayload,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Marks a `processing` message `sent` and erases its payload. `NotFound` when the
    /// message is not `processing`.
    async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()>;

    /// Marks a `processing` message `dropped` (nobody to send it to) and erases its payload.
    /// `NotFound` when the message is not `processing`.
    async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()>;

    /// Records a failed attempt of a `processing` message and its `error`: with `retry_at`, it
    /// is `queued` again, due then; without, it is `abandoned` (the payload is kept so that an
    /// operator can queue it again). `NotFound` when the message is not `processing`.
    async fn mark_email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// How many messages are in each status.
    async fn outbox_counts(&self) -> StoreResult<OutboxCounts>;

    /// Messages with `status` (every status when `None`), oldest first (id ascending), at most
    /// `limit`.
    async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>>;

    /// Queues `abandoned` messages again (those in `ids`, or every one when `ids` is empty):
    /// `queued`, `attempts = 0`, due at `now`, `last_error` kept. Returns how many.
    async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64>;

    /// Deletes `sent` and `dropped` messages whose last change is before `before`. Returns how
    /// many.
    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Liveness of the backend, for readiness probes, and its connection pool, for metrics.
#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Succeeds when the backend answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// The connection pool at this moment, for metrics; `None` (the default) for a store
    /// without one.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}

/// A connection pool at one moment ([`StoreHealth::pool_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections lent out.
    pub in_use: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// Every storage port; what [`crate::AuthKit`] holds as `Arc<dyn Store>`.
pub trait Store:
    UserStore
    + SessionStore
    + OneTimeTokenStore
    + RoleStore
    + AuditStore
    + KeyStore
    + OutboxStore
    + LoginThrottleStore
    + StoreHealth
    + Debug
{
}

impl<T> Store for T where
    T: UserStore
        + SessionStore
        + OneTimeTokenStore
        + RoleStore
        + AuditStore
        + KeyStore
        + OutboxStore
        + LoginThrottleStore
        + StoreHealth
        + Debug
{
}
