//! The mailer port.

use std::fmt::{self, Debug};

use async_trait::async_trait;

pub use crate::domain::EmailKind;
use crate::domain::{Email, Locale};
use crate::ports::BoxError;

/// A message ready to send. `Debug` hides the bodies and the link, which carry tokens.
#[derive(Clone)]
pub struct OutgoingEmail {
    /// Recipient.
    pub to: Email,
    /// What the message is.
    pub kind: EmailKind,
    /// The language it was rendered in (the template set used).
    pub locale: Locale,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: Option<String>,
    /// The action link, when the message carries one.
    pub link: Option<String>,
}

impl Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("kind", &self.kind)
            .field("locale", &self.locale)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sending failed. The outbox worker retries the message with backoff unless the error is
/// permanent (the server refused it for good, e.g. SMTP 5xx), then abandons it.
#[derive(Debug, thiserror::Error)]
#[error("sending email failed")]
pub struct MailerError {
    /// Whether another attempt could succeed (a timeout, a refused connection, SMTP 4xx).
    pub transient: bool,
    /// The cause; its `Display` is stored as the message's `last_error`, so it must never
    /// contain the message body.
    #[source]
    pub source: BoxError,
}

impl MailerError {
    /// A failure worth retrying.
    pub fn transient(source: impl Into<BoxError>) -> Self {
        Self {
            transient: true,
            source: source.into(),
        }
    }

    /// A failure that will not go away by retrying.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        Self {
            transient: false,
            source: source.into(),
        }
    }
}

/// Delivers messages. Called by the outbox worker only, never while a request waits, so a
/// failure never changes an API response.
#[async_trait]
pub trait Mailer: Send + Sync + Debug + 'static {
    /// Delivers one message.
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError>;
}

/// Writes each message to the log (target `authkit::mail`, level WARN) instead of sending it:
/// for development, until a real mailer is configured. The log then holds the action links,
/// which carry one-time tokens, so never use it in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError> {
        tracing::warn!(
            target: "authkit::mail",
            to = %email.to,
            subject = %email.subject,
            "email not sent (no mailer configured); its text follows\n{}",
            email.text
        );
        Ok(())
    }
}
