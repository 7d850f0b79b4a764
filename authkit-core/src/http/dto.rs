//! Request and response bodies of the contract.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{AuditEvent, Session, SessionId, User};
use crate::service::TokenPair;

/// The user object of API.md.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = User, description = "A user account."))]
pub struct UserDto {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    /// Email.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: String,
    /// Verified.
    pub email_verified: bool,
    /// Display name.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub display_name: Option<String>,
    /// Language of the user's emails (`null`: the service default).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub locale: Option<String>,
    /// `active` or `disabled`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::user_status))]
    pub status: &'static str,
    /// Role names.
    pub roles: Vec<String>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Last login.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            email_verified: u.email_verified,
            display_name: u.display_name.clone(),
            locale: u.locale.as_ref().map(|l| l.as_str().to_owned()),
            status: u.status.as_str(),
            roles: u.roles.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// `{"user": ...}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserEnvelope {
    /// The user.
    pub user: UserDto,
}

/// The token pair of API.md.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TokenPair, description = "The tokens issued by login and refresh."))]
pub struct TokenPairDto {
    /// Access JWT.
    pub access_token: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::bearer))]
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Refresh token.
    pub refresh_token: String,
    /// Refresh-token lifetime in seconds.
    pub refresh_expires_in: i64,
    /// The user.
    pub user: UserDto,
}

impl From<&TokenPair> for TokenPairDto {
    fn from(p: &TokenPair) -> Self {
        Self {
            access_token: p.access_token.clone(),
            token_type: "Bearer",
            expires_in: p.expires_in,
            refresh_token: p.refresh_token.expose().to_owned(),
            refresh_expires_in: p.refresh_expires_in,
            user: UserDto::from(&p.user),
        }
    }
}

/// `POST /register`. Unknown fields are ignored (no mass assignment). No `Debug`: it holds a
/// password.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A new account. Unknown fields are ignored.")
)]
pub struct RegisterRequest {
    /// Email.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Email, examples("ada@example.com")))]
    pub email: Option<String>,
    /// Password: at least 15 characters by default (counted after Unicode NFKC), at most 128,
    /// not a common password, not the email.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Password, examples("correct horse battery staple")))]
    pub password: Option<String>,
    /// Display name (at most 100 characters, no control characters; trimmed).
    #[cfg_attr(feature = "openapi", schema(examples("Ada Lovelace")))]
    pub display_name: Option<String>,
    /// Language of the user's emails (`en`, `pt-BR`).
    #[cfg_attr(feature = "openapi", schema(examples("en")))]
    pub locale: Option<String>,
}

/// `POST /login`. No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "Credentials.")
)]
pub struct LoginRequest {
    /// Email.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Email, examples("ada@example.com")))]
    pub email: Option<String>,
    /// Password.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Password, examples("correct horse battery staple")))]
    pub password: Option<String>,
    /// Long session.
    pub remember_me: Option<bool>,
}

/// `POST /refresh` and `POST /logout` (both optional: the cookie may carry the token).
/// No `Debug`: it holds a token.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A refresh token (optional where the cookie may carry it).")
)]
pub struct RefreshRequest {
    /// The refresh token.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub refresh_token: Option<String>,
}

/// `POST /verify-email`. No `Debug`: it holds a token.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "The token of a verification email.")
)]
pub struct TokenRequest {
    /// The token from the email.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String))]
    pub token: Option<String>,
}

/// `POST /verify-email/resend` and `POST /password/forgot`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailRequest {
    /// The address.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Email, examples("ada@example.com")))]
    pub email: Option<String>,
}

/// `POST /password/reset`. No `Debug`: it holds a token and a password.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "The token of a reset email and the new password.")
)]
pub struct ResetPasswordRequest {
    /// The token from the email.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String))]
    pub token: Option<String>,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Password, examples("a new and longer passphrase")))]
    pub new_password: Option<String>,
}

/// `POST /password/change`. No `Debug`: it holds passwords.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "The current and the new password.")
)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Password, examples("correct horse battery staple")))]
    pub current_password: Option<String>,
    /// The new password (the same rules as at registration).
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Password, examples("a new and longer passphrase")))]
    pub new_password: Option<String>,
}

/// `PATCH /users/me`. Unknown fields are ignored. No `Debug`: it may hold a password.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "Profile changes; absent fields are unchanged. Unknown fields are ignored."
    )
)]
pub struct UpdateMeRequest {
    /// Absent: unchanged; `null`: cleared; a string: set.
    #[serde(default, deserialize_with = "present")]
    pub display_name: Option<Option<String>>,
    /// A new email.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: Option<String>,
    /// Absent: unchanged; `null`: back to the service default; a tag: set.
    #[serde(default, deserialize_with = "present")]
    pub locale: Option<Option<String>>,
    /// Required when the email changes.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub current_password: Option<String>,
}

/// Tells a present field (even `null`) from an absent one.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `DELETE /users/me`. No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "The current password, to confirm.")
)]
pub struct PasswordRequest {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = String, format = Password, examples("correct horse battery staple")))]
    pub password: Option<String>,
}

/// The 202 body of `/verify-email/resend` and `/password/forgot`, the same whether or not the
/// address has an account.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    /// Always `accepted`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::accepted))]
    pub status: &'static str,
    /// What happens next.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub detail: &'static str,
}

/// A session as `GET /users/me/sessions` lists it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Session))]
pub struct SessionDto {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    /// Login time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last login or refresh.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// When the session ends unless refreshed (the nearer of idle and absolute expiry).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Client address at login.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ip: Option<String>,
    /// Client user agent at login.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user_agent: Option<String>,
    /// Whether this is the caller's session.
    pub current: bool,
}

impl SessionDto {
    /// The DTO of `s`; `current` is the caller's session id.
    pub fn new(s: &Session, current: SessionId) -> Self {
        Self {
            id: s.id.to_string(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.idle_expires_at.min(s.expires_at),
            ip: s.ip.map(|ip| ip.to_string()),
            user_agent: s.user_agent.clone(),
            current: s.id == current,
        }
    }
}

/// `{"sessions": [...]}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionsEnvelope {
    /// Live sessions, newest first.
    pub sessions: Vec<SessionDto>,
}

/// A session in an export (revocation included).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ExportSession))]
pub struct ExportSessionDto {
    /// The listing fields.
    #[serde(flatten)]
    pub session: SessionDto,
    /// Absolute expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub absolute_expires_at: OffsetDateTime,
    /// Revocation time, if revoked.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// An audit event in an export.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AuditEvent))]
pub struct AuditEventDto {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Event name.
    pub event: String,
    /// Subject.
    #[cfg_attr(feature = "openapi", schema(required = true, format = "uuid"))]
    pub user_id: Option<String>,
    /// Actor.
    #[cfg_attr(feature = "openapi", schema(required = true, format = "uuid"))]
    pub actor_id: Option<String>,
    /// Client address.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ip: Option<String>,
    /// Client user agent.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user_agent: Option<String>,
    /// Secret-free detail.
    pub detail: serde_json::Value,
}

impl From<&AuditEvent> for AuditEventDto {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at,
            event: e.event.clone(),
            user_id: e.user_id.map(|u| u.to_string()),
            actor_id: e.actor_id.map(|u| u.to_string()),
            ip: e.ip.map(|ip| ip.to_string()),
            user_agent: e.user_agent.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// `GET /users/me/export`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Export))]
pub struct ExportDto {
    /// The profile.
    pub user: UserDto,
    /// Role names.
    pub roles: Vec<String>,
    /// Every session, revoked ones included.
    pub sessions: Vec<ExportSessionDto>,
    /// Audit events, newest first.
    pub audit_events: Vec<AuditEventDto>,
}
