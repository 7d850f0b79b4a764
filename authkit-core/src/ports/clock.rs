//! The clock port: time is an input.

use std::fmt::Debug;

use time::OffsetDateTime;

/// Where authkit reads the current time. Only [`SystemClock`] reads the system time; tests use
/// `ManualClock` (feature `test-util`) to expire tokens without sleeping.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time (UTC).
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
