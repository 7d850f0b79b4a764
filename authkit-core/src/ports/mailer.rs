//! The mailer port.

use std::fmt::{self, Debug};

use async_trait::async_trait;

use crate::domain::Email;
use crate::ports::BoxError;

/// Which message this is, so that a host can re-render it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A message ready to send. `Debug` hides the bodies and the link, which carry tokens.
#[derive(Clone)]
pub struct OutgoingEmail {
    /// Recipient.
    pub to: Email,
    /// What the message is.
    pub kind: EmailKind,
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
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sending failed; the message may be retried.
#[derive(Debug, thiserror::Error)]
#[error("sending email failed")]
pub struct MailerError(#[source] pub BoxError);

/// Delivers messages. A failure never changes an API response: callers log it.
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
