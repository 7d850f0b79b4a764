//! Domain types: parsed values, entities, and the secrets that never print.

mod audit;
mod email;
mod ids;
mod keys;
mod locale;
mod outbox;
mod page;
mod password;
mod role;
mod session;
mod token;
mod user;

pub use audit::{AuditEvent, AuditKind, Audited, RefreshAudit};
pub use email::{Email, EmailError, MAX_EMAIL_LEN};
pub use ids::{EmailId, SessionId, UserId, new_v7};
pub use keys::StoredSigningKey;
pub use locale::{Locale, MAX_LOCALE_LEN};
pub use outbox::{
    ClaimedEmail, EmailKind, EmailPayload, NewEmail, OutboxCounts, OutboxEntry, OutboxStatus,
    QueuedMail,
};
pub use page::{AuditQuery, Page, UserQuery};
pub use password::{MIN_PASSWORD_FLOOR, Password, PasswordHash, PasswordPolicy};
pub use role::{ADMIN_ROLE, ALL_PERMISSIONS, Role, USER_ROLE};
pub use session::{
    NewSession, RefreshRotation, RefreshedSession, RotateOutcome, Session, SessionOwner,
};
pub use token::{
    NewOneTimeToken, OneTimeToken, OpaqueToken, RandomError, RefreshSelector, SELECTOR_BYTES,
    TOKEN_BYTES, TokenHash, TokenPurpose, random_bytes,
};
pub use user::{AdminPatch, NewUser, ProfilePatch, User, UserCredentials, UserStatus};
