//! The email outbox: messages written in the same transaction as the change they announce,
//! delivered later by the worker ([`crate::AuthKit::run_email_worker`]).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::{Email, EmailId, Locale, NewOneTimeToken};

/// Which message this is: chooses its templates, and lets a host re-render it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmailKind {
    /// Asks the user to prove the address (carries a verification link).
    VerifyEmail,
    /// Carries a password-reset link.
    PasswordReset,
    /// Tells the owner the password was changed or reset.
    PasswordChanged,
    /// Tells the old address that the account's email was changed.
    EmailChanged,
}

impl EmailKind {
    /// Every kind.
    pub const ALL: [EmailKind; 4] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::EmailChanged,
    ];

    /// The stable name stores persist; also the template file stem (`verify_email.html`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::EmailChanged => "email_changed",
        }
    }

    /// Parses [`EmailKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EmailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an outbox message holds for its delivery, serialized by core and opaque to stores.
/// It may carry a one-time link, so it is a secret: `Debug` hides it, and stores erase it once
/// the message is sent or dropped.
#[derive(Clone)]
pub struct EmailPayload(SecretString);

impl EmailPayload {
    /// Wraps a stored payload.
    pub fn new(payload: impl Into<String>) -> Self {
        Self(SecretString::from(payload.into()))
    }

    /// The stored form, for stores to persist.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for EmailPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailPayload([redacted])")
    }
}

/// A message to queue ([`crate::ports::OutboxStore::enqueue_mail`]).
#[derive(Debug, Clone)]
pub struct NewEmail {
    /// Id chosen by core (UUIDv7).
    pub id: EmailId,
    /// Recipient.
    pub to: Email,
    /// What the message is.
    pub kind: EmailKind,
    /// The recipient's language, when known; `None` uses the configured default.
    pub locale: Option<Locale>,
    /// What delivery needs (opaque to stores).
    pub payload: EmailPayload,
    /// Queued at; the message is due from then.
    pub created_at: OffsetDateTime,
}

/// What is written in the same transaction as a change: the one-time token the change creates
/// (if any) and the emails that announce it. Empty for changes that send nothing.
#[derive(Debug, Clone, Default)]
pub struct QueuedMail {
    /// A token to insert as [`crate::ports::OneTimeTokenStore::insert_token`] does.
    pub token: Option<NewOneTimeToken>,
    /// Messages to insert with status `queued`, due at their `created_at`.
    pub emails: Vec<NewEmail>,
}

impl QueuedMail {
    /// Nothing to write.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.token.is_none() && self.emails.is_empty()
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting until `next_attempt_at`.
    Queued,
    /// Claimed by a worker until `locked_until`; a worker that dies leaves it to be claimed
    /// again after that.
    Processing,
    /// Handed to the mailer.
    Sent,
    /// Not sent because there was nobody to send it to (a reset requested for an unknown
    /// address, a verification for a verified one).
    Dropped,
    /// Failed on every attempt; an operator may queue it again.
    Abandoned,
}

impl OutboxStatus {
    /// Every status.
    pub const ALL: [OutboxStatus; 5] = [
        Self::Queued,
        Self::Processing,
        Self::Sent,
        Self::Dropped,
        Self::Abandoned,
    ];

    /// The stable name stores persist.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Sent => "sent",
            Self::Dropped => "dropped",
            Self::Abandoned => "abandoned",
        }
    }

    /// Parses [`OutboxStatus::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message a worker claimed ([`crate::ports::OutboxStore::claim_emails`]).
#[derive(Debug, Clone)]
pub struct ClaimedEmail {
    /// Its id.
    pub id: EmailId,
    /// Recipient.
    pub to: Email,
    /// What the message is.
    pub kind: EmailKind,
    /// The recipient's language, when known.
    pub locale: Option<Locale>,
    /// What delivery needs.
    pub payload: EmailPayload,
    /// Attempts so far, this one included (1 on the first claim).
    pub attempts: u32,
    /// Queued at.
    pub created_at: OffsetDateTime,
}

/// A message as operators see it: no payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its id.
    pub id: EmailId,
    /// Recipient.
    pub to: Email,
    /// What the message is.
    pub kind: EmailKind,
    /// Where it is.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// When a queued message is due.
    pub next_attempt_at: OffsetDateTime,
    /// The last delivery error (never a secret: a class of failure and the server's reply).
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: OffsetDateTime,
    /// Last change of status.
    pub updated_at: OffsetDateTime,
}

/// How many messages are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting.
    pub queued: u64,
    /// Claimed by a worker.
    pub processing: u64,
    /// Handed to the mailer (until purged).
    pub sent: u64,
    /// Nobody to send to (until purged).
    pub dropped: u64,
    /// Failed on every attempt.
    pub abandoned: u64,
}

impl OutboxCounts {
    /// The count of one status.
    pub fn get(&self, status: OutboxStatus) -> u64 {
        match status {
            OutboxStatus::Queued => self.queued,
            OutboxStatus::Processing => self.processing,
            OutboxStatus::Sent => self.sent,
            OutboxStatus::Dropped => self.dropped,
            OutboxStatus::Abandoned => self.abandoned,
        }
    }

    /// Adds `n` to one status.
    pub fn add(&mut self, status: OutboxStatus, n: u64) {
        let slot = match status {
            OutboxStatus::Queued => &mut self.queued,
            OutboxStatus::Processing => &mut self.processing,
            OutboxStatus::Sent => &mut self.sent,
            OutboxStatus::Dropped => &mut self.dropped,
            OutboxStatus::Abandoned => &mut self.abandoned,
        };
        *slot += n;
    }
}
