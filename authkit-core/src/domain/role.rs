//! Built-in roles and the permissions authkit knows.

/// Every permission of the admin API; the built-in `admin` role holds all of them.
pub const ALL_PERMISSIONS: &[&str] = &[
    "audit:read",
    "roles:read",
    "roles:write",
    "users:delete",
    "users:read",
    "users:write",
];

/// The built-in role holding every permission. Cannot be deleted.
pub const ADMIN_ROLE: &str = "admin";

/// The built-in role every new account holds (no admin permission). Cannot be deleted.
pub const USER_ROLE: &str = "user";

/// A role and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Unique name (`[a-z0-9_:-]`, 1..=64 characters).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Permission names, sorted, without duplicates.
    pub permissions: Vec<String>,
    /// `admin` and `user`: cannot be deleted.
    pub builtin: bool,
}
