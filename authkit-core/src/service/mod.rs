//! The use cases, as methods on [`crate::AuthKit`].

mod accounts;
pub mod admin;
mod audit;
mod passwords;
mod principal;
mod profile;
mod sessions;
mod throttle;
mod verification;

pub use accounts::{ImportUser, LoginInput, RegisterInput};
pub use admin::Bootstrapped;
pub(crate) use audit::AuditWriter;
pub use principal::Principal;
pub(crate) use profile::display_name as profile_display_name;
pub use profile::{EXPORT_AUDIT_LIMIT, MAX_DISPLAY_NAME, ProfileUpdate, UserExport};
pub use sessions::{SESSION_RETENTION, TokenPair};

use std::net::IpAddr;

/// Who is asking: recorded on sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent (truncated to 512 bytes when stored).
    pub user_agent: Option<String>,
}

impl RequestContext {
    /// The user agent, cut to at most 512 bytes on a character boundary.
    pub(crate) fn user_agent_truncated(&self) -> Option<String> {
        self.user_agent
            .as_deref()
            .map(|ua| cut_at_boundary(ua, 512).to_owned())
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut_at_boundary(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
