//! Request and response bodies of the contract.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::User;
use crate::service::TokenPair;

/// The user object of API.md.
#[derive(Debug, Clone, Serialize)]
pub struct UserDto {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Verified.
    pub email_verified: bool,
    /// Display name.
    pub display_name: Option<String>,
    /// `active` or `disabled`.
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
pub struct UserEnvelope {
    /// The user.
    pub user: UserDto,
}

/// The token pair of API.md.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPairDto {
    /// Access JWT.
    pub access_token: String,
    /// Always `Bearer`.
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
pub struct RegisterRequest {
    /// Email.
    pub email: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

/// `POST /login`. No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
pub struct LoginRequest {
    /// Email.
    pub email: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Long session.
    pub remember_me: Option<bool>,
}

/// `POST /refresh` and `POST /logout` (both optional: the cookie may carry the token).
/// No `Debug`: it holds a token.
#[derive(Default, Deserialize)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: Option<String>,
}
