//! Audit events: an append-only record of what happened to accounts. Never holds a secret.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SessionId, UserId};

/// The kinds of event authkit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A user registered.
    Register,
    /// A login succeeded.
    LoginOk,
    /// A login failed (wrong password, disabled account...).
    LoginFailed,
    /// A refresh token was rotated.
    Refresh,
    /// A spent refresh token (or another secret with a session's selector) was presented
    /// again; its session was revoked.
    RefreshReuse,
    /// A session was ended by its owner.
    Logout,
    /// An email address was verified.
    EmailVerified,
    /// A password reset was requested for an existing account.
    PasswordResetRequested,
    /// The password was reset with a token.
    PasswordReset,
    /// The password was changed by its owner.
    PasswordChanged,
    /// The email address was changed.
    EmailChanged,
    /// The profile (display name) was changed.
    ProfileUpdated,
    /// The account was deleted by its owner.
    AccountDeleted,
    /// One session was revoked by its owner.
    SessionRevoked,
    /// Every session was revoked by the owner ("log out everywhere").
    AllSessionsRevoked,
    /// An administrator changed a user.
    AdminUserUpdated,
    /// An administrator deleted a user.
    AdminUserDeleted,
    /// An administrator restored a deleted user.
    AdminUserRestored,
    /// A role was created.
    RoleCreated,
    /// A role's description or permissions changed.
    RoleUpdated,
    /// A role was deleted.
    RoleDeleted,
}

impl AuditKind {
    /// The stable event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::LoginOk => "login_ok",
            Self::LoginFailed => "login_failed",
            Self::Refresh => "refresh",
            Self::RefreshReuse => "refresh_reuse",
            Self::Logout => "logout",
            Self::EmailVerified => "email_verified",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged => "email_changed",
            Self::ProfileUpdated => "profile_updated",
            Self::AccountDeleted => "account_deleted",
            Self::SessionRevoked => "session_revoked",
            Self::AllSessionsRevoked => "all_sessions_revoked",
            Self::AdminUserUpdated => "admin_user_updated",
            Self::AdminUserDeleted => "admin_user_deleted",
            Self::AdminUserRestored => "admin_user_restored",
            Self::RoleCreated => "role_created",
            Self::RoleUpdated => "role_updated",
            Self::RoleDeleted => "role_deleted",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Event id (UUIDv7).
    pub id: Uuid,
    /// When it happened.
    pub at: OffsetDateTime,
    /// Stable event name ([`AuditKind::as_str`]).
    pub event: String,
    /// The account concerned, if known.
    pub user_id: Option<UserId>,
    /// Who acted (the user themselves, or an admin), if known.
    pub actor_id: Option<UserId>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Free-form, secret-free detail (e.g. the failure reason).
    pub detail: serde_json::Value,
}

/// What a store's write with its audit event returned
/// ([`crate::ports::UserStore::create_user_audited`],
/// [`crate::ports::SessionStore::create_session_audited`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited<T> {
    /// What the write alone returns (the user, the session).
    pub value: T,
    /// Whether the store appended the write's audit event in the same transaction; when
    /// `false` (a store that does not write both at once) the caller appends it.
    pub audited: bool,
}

/// The audit event of a refresh as far as it is known before the rotation: the rotated session
/// completes it ([`RefreshAudit::event`]). A store that writes it together with the rotation
/// takes it in [`crate::ports::SessionStore::rotate_refresh_audited`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshAudit {
    /// Event id (UUIDv7).
    pub id: Uuid,
    /// When it happened (the rotation's `now`).
    pub at: OffsetDateTime,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl RefreshAudit {
    /// The event of the rotation of `session`, owned by `user`: [`AuditKind::Refresh`], by and
    /// about the owner, with the session's id as `detail.session_id`.
    pub fn event(&self, session: SessionId, user: UserId) -> AuditEvent {
        AuditEvent {
            id: self.id,
            at: self.at,
            event: AuditKind::Refresh.as_str().to_owned(),
            user_id: Some(user),
            actor_id: Some(user),
            ip: self.ip,
            user_agent: self.user_agent.clone(),
            detail: serde_json::json!({ "session_id": session.to_string() }),
        }
    }
}
