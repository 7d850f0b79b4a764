//! Users and what stores need to create them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Email, Locale, PasswordHash, UserId};

/// Whether an account may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Refused at login (after a correct password) with `account_disabled`.
    Disabled,
}

impl UserStatus {
    /// The stable name stores persist and the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Parses [`UserStatus::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A user as the API shows it (the password hash is never part of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Immutable id.
    pub id: UserId,
    /// Normalized address.
    pub email: Email,
    /// Whether the address was proven.
    pub email_verified: bool,
    /// Optional display name.
    pub display_name: Option<String>,
    /// The language of the user's emails; `None` uses the configured default.
    pub locale: Option<Locale>,
    /// Active or disabled.
    pub status: UserStatus,
    /// Names of the roles held, sorted.
    pub roles: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change of the profile.
    pub updated_at: OffsetDateTime,
    /// Last successful login.
    pub last_login_at: Option<OffsetDateTime>,
    /// Set when soft-deleted.
    pub deleted_at: Option<OffsetDateTime>,
}

/// A user with the stored password hash, as login needs it.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// The stored PHC hash.
    pub password_hash: PasswordHash,
}

/// What [`crate::ports::UserStore::create_user`] inserts.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Id chosen by core (UUIDv7).
    pub id: UserId,
    /// Normalized address, unique among all users (soft-deleted ones included).
    pub email: Email,
    /// Optional display name.
    pub display_name: Option<String>,
    /// The language of the user's emails, when chosen.
    pub locale: Option<Locale>,
    /// Hash of the password.
    pub password_hash: PasswordHash,
    /// Roles granted in the same transaction (every new user holds `user`).
    pub roles: Vec<String>,
    /// Creation time, also `updated_at`.
    pub now: OffsetDateTime,
}

/// A change to a user's own profile ([`crate::ports::UserStore::update_profile`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    /// `Some(None)` clears the display name, `None` leaves it.
    pub display_name: Option<Option<String>>,
    /// A new email (stored unverified), or `None` to leave it.
    pub email: Option<Email>,
    /// `Some(None)` clears the locale (back to the configured default), `None` leaves it.
    pub locale: Option<Option<Locale>>,
}

/// An administrator's change to a user ([`crate::ports::UserStore::admin_update_user`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminPatch {
    /// `Some(None)` clears the display name.
    pub display_name: Option<Option<String>>,
    /// A new email (kept as verified or not according to `email_verified`, else unverified).
    pub email: Option<Email>,
    /// Sets verification.
    pub email_verified: Option<bool>,
    /// Sets the status; `Disabled` revokes every session.
    pub status: Option<UserStatus>,
    /// Replaces the roles (names that exist; core checks).
    pub roles: Option<Vec<String>>,
}
