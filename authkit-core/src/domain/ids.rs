//! Identifiers: UUIDv7 newtypes, time-ordered so that keyset pagination on the id follows creation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id whose timestamp is `now`.
            pub fn new_v7(now: OffsetDateTime) -> Self {
                Self(new_v7(now))
            }

            /// The inner UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// The immutable id of a user (the `sub` of access tokens).
    UserId
);
id_type!(
    /// The id of a session (the `sid` of access tokens).
    SessionId
);
id_type!(
    /// The id of an outbox message.
    EmailId
);

/// A new UUIDv7 whose timestamp is `now` (for ids that have no newtype, e.g. audit events).
pub fn new_v7(now: OffsetDateTime) -> Uuid {
    let nanos = now.unix_timestamp_nanos().max(0);
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(0);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, subsec);
    Uuid::new_v7(ts)
}
