//! Keyset pagination and the filters of the admin listings.

use uuid::Uuid;

use super::{UserId, UserStatus};

/// One page of a keyset-paginated listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// At most `limit` items.
    pub items: Vec<T>,
    /// Whether more items follow the last one.
    pub has_more: bool,
}

/// Which users [`crate::ports::UserStore::list_users`] lists: ordered by id (creation order),
/// starting after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Case-insensitive substring of the email, matched literally (`%`, `_` and `\\` are not
    /// wildcards).
    pub email_contains: Option<String>,
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Only holders of this role.
    pub role: Option<String>,
    /// Only verified (or unverified) emails.
    pub verified: Option<bool>,
    /// Soft-deleted users only (`true`) or live users only (`false`).
    pub deleted: bool,
    /// Keyset cursor: the last id of the previous page.
    pub after: Option<UserId>,
    /// Page size (1..=100).
    pub limit: u32,
}

/// Which audit events [`crate::ports::AuditStore::list_audit`] lists: newest first (id
/// descending), starting before `before`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this user.
    pub user_id: Option<UserId>,
    /// Only this event name.
    pub event: Option<String>,
    /// Keyset cursor: the last id of the previous page.
    pub before: Option<Uuid>,
    /// Page size (1..=100).
    pub limit: u32,
}
