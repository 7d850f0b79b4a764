//! [`SmtpConfigError`] (building a mailer) and [`SendError`] (one delivery).

use std::fmt;
use std::time::Duration;

/// Why [`SmtpMailerBuilder::build`](crate::SmtpMailerBuilder::build) refused its settings.
/// The message never contains the URL's password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpConfigError {
    /// The URL does not parse.
    #[error("the SMTP URL does not parse ({0})")]
    Url(String),
    /// The scheme is neither `smtp` nor `smtps`.
    #[error("the SMTP URL has the scheme `{0}`; use smtp:// or smtps://")]
    Scheme(String),
    /// The URL names no host.
    #[error("the SMTP URL has no host")]
    NoHost,
    /// `tls=` has a value other than `required` or `opportunistic` (only `required` with
    /// `smtps://`).
    #[error(
        "the SMTP URL has tls={0}; use smtp://...?tls=required (STARTTLS), \
         smtp://...?tls=opportunistic, or smtps:// (implicit TLS)"
    )]
    TlsParameter(String),
    /// A query parameter other than `tls`.
    #[error("the SMTP URL has the unknown parameter `{0}` (only tls= is understood)")]
    UnknownParameter(String),
    /// A query parameter given more than once (`?tls=required&tls=opportunistic`): which one
    /// counts would be a guess.
    #[error("the SMTP URL has the parameter `{0}` more than once; give it once")]
    RepeatedParameter(String),
    /// `USER@` without `:PASSWORD`.
    #[error("the SMTP URL has a user name but no password (use USER:PASSWORD@HOST)")]
    MissingPassword,
    /// The user name or password is not UTF-8 once percent-decoded.
    #[error("the user name or password of the SMTP URL is not UTF-8 once percent-decoded")]
    CredentialsEncoding,
    /// The sender is not a mailbox.
    #[error(
        "the sender `{value}` is not a mailbox like `authkit <no-reply@example.com>` ({reason})"
    )]
    From {
        /// The sender as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The EHLO name is empty or holds spaces or control characters.
    #[error("the hello name `{0}` is not a host name")]
    HelloName(String),
    /// The timeout is zero.
    #[error("the SMTP timeout must be longer than zero")]
    ZeroTimeout,
    /// An extra root certificate holds no PEM certificate.
    #[error("the extra root certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)")]
    RootCertificate,
    /// The TLS client could not be set up.
    #[error("cannot set up TLS for SMTP ({0})")]
    Tls(String),
}

/// The step of an SMTP delivery where [`SendError`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Turning the [`OutgoingEmail`](authkit_core::ports::OutgoingEmail) into a MIME message.
    Build,
    /// TCP connection, implicit TLS handshake, the server's greeting and EHLO.
    Connect,
    /// STARTTLS, its handshake and the second EHLO.
    StartTls,
    /// AUTH (PLAIN or LOGIN).
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA.
    Data,
    /// The message content and the server's answer to its final `.`: the server's verdict on
    /// the message itself.
    Content,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Build => "building the message",
            Self::Connect => "connect",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::MailFrom => "MAIL FROM",
            Self::RcptTo => "RCPT TO",
            Self::Data => "DATA",
            Self::Content => "end of DATA",
        })
    }
}

/// Longest detail kept from the server or the network layer.
const MAX_DETAIL_CHARS: usize = 300;

/// One delivery failed. This is the source of the [`MailerError`] that
/// [`SmtpMailer`](crate::SmtpMailer) returns, and its `Display` is what the outbox stores as
/// the message's last error, so it is built to be safe there: the stage, the SMTP code and the
/// server's or network layer's words, cut to 300 characters, with the mailer's credentials and
/// the message's action link (which carries a one-time token) masked. The message content is
/// never part of it.
///
/// [`MailerError`]: authkit_core::ports::MailerError
#[derive(Debug, Clone)]
pub struct SendError {
    stage: Stage,
    transient: bool,
    timed_out: bool,
    code: Option<u16>,
    detail: String,
}

impl SendError {
    /// Where the delivery stopped.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Whether another attempt could succeed: everything except an SMTP 5xx reply and a
    /// message that cannot be built.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// Whether the server did not answer within the mailer's timeout.
    pub fn is_timeout(&self) -> bool {
        self.timed_out
    }

    /// The server's reply code, when the failure was a negative reply (e.g. 451, 550).
    pub fn code(&self) -> Option<u16> {
        self.code
    }

    pub(crate) fn from_lettre(stage: Stage, error: &lettre::transport::smtp::Error) -> Self {
        Self {
            stage,
            // lettre's "permanent" is exactly a 5xx reply; network, TLS and protocol trouble and
            // 4xx replies may pass.
            transient: !error.is_permanent(),
            timed_out: error.is_timeout(),
            code: error
                .status()
                .and_then(|code| code.to_string().parse().ok()),
            detail: error.to_string(),
        }
    }

    pub(crate) fn timed_out(stage: Stage, limit: Duration) -> Self {
        Self {
            stage,
            transient: true,
            timed_out: true,
            code: None,
            detail: format!("no answer within {limit:?}"),
        }
    }

    /// A failure decided here rather than by the server.
    pub(crate) fn local(stage: Stage, transient: bool, detail: String) -> Self {
        Self {
            stage,
            transient,
            timed_out: false,
            code: None,
            detail,
        }
    }

    /// Masks every non-empty `secret` in the detail, drops control characters (a server's
    /// multi-line reply becomes one line) and cuts it to [`MAX_DETAIL_CHARS`].
    pub(crate) fn scrubbed<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut detail: String = self
            .detail
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for secret in secrets {
            if !secret.is_empty() {
                detail = detail.replace(secret, "***");
            }
        }
        if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL_CHARS) {
            detail.truncate(cut);
            detail.push('…');
        }
        self.detail = detail;
        self
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SMTP {} failed: {}", self.stage, self.detail)
    }
}

// No `source()`: lettre's error would repeat the unscrubbed text.
impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_masks_secrets_flattens_and_cuts() {
        let e = SendError::local(
            Stage::Content,
            false,
            format!("550 no\r\nhttps://x/reset?token=abc {}", "y".repeat(400)),
        )
        .scrubbed(["https://x/reset?token=abc", ""]);
        let text = e.to_string();
        assert!(
            text.starts_with("SMTP end of DATA failed: 550 no  *** yyy"),
            "{text}"
        );
        assert!(!text.contains("token"));
        assert!(text.chars().count() < MAX_DETAIL_CHARS + 40, "{text}");
    }
}
