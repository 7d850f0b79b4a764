//! Ports: the traits that storage, mail, time and hashing are reached through.

mod clock;
mod hasher;
mod limits;
mod mailer;
mod store;

pub use clock::{Clock, SystemClock};
pub use hasher::{HashError, PasswordHasher};
pub use limits::{
    AttemptDecision, LoginThrottle, LoginThrottleStore, RateDecision, RateLimit, RateLimitStore,
    unix_ms,
};
pub use mailer::{EmailKind, LogMailer, Mailer, MailerError, OutgoingEmail};
pub use store::{
    AuditStore, BoxError, Conflict, KeyStore, OneTimeTokenStore, OutboxStore, PoolStats, RoleStore,
    SessionStore, Store, StoreError, StoreHealth, StoreResult, UserStore,
};
