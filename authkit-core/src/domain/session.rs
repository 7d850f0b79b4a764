//! Sessions: one per login, carrying the current refresh token's hash.

use std::net::IpAddr;

use time::OffsetDateTime;

use super::{RefreshSelector, SessionId, TokenHash, User, UserId};

/// A login session. Its refresh token rotates on every refresh; the session id stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id (`sid` claim).
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Creation (login) time.
    pub created_at: OffsetDateTime,
    /// Last login or refresh.
    pub last_used_at: OffsetDateTime,
    /// Absolute expiry: the session dies then, however often it is refreshed.
    pub expires_at: OffsetDateTime,
    /// Idle expiry: moved forward at each refresh, never past `expires_at`.
    pub idle_expires_at: OffsetDateTime,
    /// Set when revoked (logout, reuse detection, password change...).
    pub revoked_at: Option<OffsetDateTime>,
    /// Whether "remember me" was asked at login.
    pub remember_me: bool,
    /// Client address at login.
    pub ip: Option<IpAddr>,
    /// Client user agent at login (truncated to 512 bytes).
    pub user_agent: Option<String>,
    /// Authorization version: raised by the store whenever the owner's roles, or the
    /// permissions of one of those roles, change. Access tokens carry the version they were
    /// issued under (`av`) and are refused once it moved, so a role change reaches tokens
    /// already issued at once (the client refreshes and gets the new roles).
    pub authz_version: i64,
}

impl Session {
    /// Whether the session still authorizes requests at `now`: not revoked and neither
    /// the absolute nor the idle expiry reached.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now < self.idle_expires_at
    }
}

/// What [`crate::ports::SessionStore::create_session`] inserts.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Id chosen by core.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Hash of the first refresh token.
    pub refresh_hash: TokenHash,
    /// The selector of the session's refresh tokens, which the store finds it by
    /// ([`RefreshRotation::selector`]). Core always sets one; `None` makes a session whose
    /// tokens carry none, as sessions opened before selectors existed have (found by hash).
    pub refresh_selector: Option<RefreshSelector>,
    /// Login time (also `last_used_at`, and the owner's `last_login_at`).
    pub now: OffsetDateTime,
    /// Absolute expiry.
    pub expires_at: OffsetDateTime,
    /// First idle expiry.
    pub idle_expires_at: OffsetDateTime,
    /// "Remember me".
    pub remember_me: bool,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// One refresh-token rotation, passed to [`crate::ports::SessionStore::rotate_refresh`].
#[derive(Debug, Clone)]
pub struct RefreshRotation {
    /// The selector of the token the client presented ([`RefreshSelector::of`]): the store
    /// looks for the session with this selector and the `presented` hash. `None` for a token
    /// without one: the store looks for a session without a selector and this hash (sessions
    /// opened before selectors existed, whose rotations keep issuing tokens of that form).
    pub selector: Option<RefreshSelector>,
    /// Hash of the token the client presented.
    pub presented: TokenHash,
    /// Hash of the token that replaces it.
    pub next: TokenHash,
    /// Current time.
    pub now: OffsetDateTime,
    /// New idle expiry if the rotation succeeds; the store caps it at the absolute expiry.
    pub idle_expires_at: OffsetDateTime,
}

/// The result of a rotation attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// `presented` was the session's current token; it is now spent and `next` is current.
    Rotated(Session),
    /// `presented` was an already spent token of a session (for a token with a selector: any
    /// token of that session but its current one): the store has revoked that whole session
    /// (committed) and reports whose it was.
    Reused {
        /// The revoked session.
        session_id: SessionId,
        /// Its owner.
        user_id: UserId,
    },
    /// Unknown token, or the token of a session that is revoked or expired. Nothing changed.
    Invalid,
}

/// A session's owner as a refresh reads it
/// ([`crate::ports::SessionStore::rotate_refresh_with_owner`]): the user and the permissions of
/// the user's roles, which the new access token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    /// The user, as [`crate::ports::UserStore::user_by_id`] reads it (disabled and soft-deleted
    /// users included).
    pub user: User,
    /// The permissions of `user.roles`, as [`crate::ports::RoleStore::permissions_of`] returns
    /// them.
    pub permissions: Vec<String>,
}

/// What [`crate::ports::SessionStore::rotate_refresh_audited`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedSession {
    /// The rotation's outcome.
    pub outcome: RotateOutcome,
    /// The session's owner when it rotated (as
    /// [`crate::ports::SessionStore::rotate_refresh_with_owner`] reads it).
    pub owner: Option<SessionOwner>,
    /// Whether the store appended the refresh's audit event with the rotation; when `false`
    /// (it did not rotate, or the store does not write both at once) the caller appends it.
    pub audited: bool,
}
