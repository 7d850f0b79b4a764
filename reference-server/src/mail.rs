//! The two mailers of the reference server: [`SmtpMailer`] (lettre over SMTP) when
//! `AUTHKIT_SMTP_URL` is set, otherwise core's [`LogMailer`], which writes each email to the
//! log.
//!
//! Both only report failures as [`MailerError`]: core logs them and never lets them change an
//! API response.

use std::fmt;
use std::time::Duration;

use authkit_core::async_trait;
use authkit_core::ports::{Mailer, MailerError, OutgoingEmail};
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SmtpUrl;

/// The zero-configuration mailer, authkit-core's: every email, text and link included, goes to
/// the log (target `authkit::mail`, level WARN). The log then holds working verification and
/// reset links, so configure SMTP before anyone else can read the log.
pub use authkit_core::ports::LogMailer;

/// Why [`SmtpMailer::new`] failed.
#[derive(Debug, thiserror::Error)]
#[error("AUTHKIT_SMTP_URL: cannot set up the SMTP client: {0}")]
pub struct SmtpSetupError(#[source] lettre::transport::smtp::Error);

/// Sends emails through an SMTP server with lettre (rustls for TLS), one connection per
/// message, every delivery bounded by a timeout.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    url: SmtpUrl,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("url", &self.url)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (plain `smtp://`, STARTTLS with `?tls=required`, implicit TLS with
    /// `smtps://`, credentials in the URL) sending as `from`. No connection is made until the
    /// first message; each delivery gives up after `timeout`.
    pub fn new(url: &SmtpUrl, from: Mailbox, timeout: Duration) -> Result<Self, SmtpSetupError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(SmtpSetupError)?
            .timeout(Some(timeout))
            .build();
        Ok(Self {
            transport,
            from,
            timeout,
            url: url.clone(),
        })
    }

    fn message(&self, email: &OutgoingEmail) -> Result<Message, MailerError> {
        let to: Address = email
            .to
            .as_str()
            .parse()
            .map_err(|e| MailerError(Box::new(e)))?;
        // lettre adds Date but not Message-ID, which RFC 5322 asks for and which large
        // providers require: a unique id in the sender's domain.
        let message_id = format!(
            "<{}@{}>",
            authkit_core::uuid::Uuid::now_v7().simple(),
            self.from.email.domain()
        );
        let builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.subject.clone())
            .message_id(Some(message_id));
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        };
        message.map_err(|e| MailerError(Box::new(e)))
    }
}

/// The delivery did not finish within the timeout.
#[derive(Debug, thiserror::Error)]
#[error("SMTP delivery timed out after {0:?}")]
struct SendTimedOut(Duration);

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError> {
        let message = self.message(email)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => {
                tracing::debug!(
                    target: "authkit_server::mail",
                    to = %email.to,
                    kind = ?email.kind,
                    "email sent"
                );
                Ok(())
            }
            Ok(Err(e)) => Err(MailerError(Box::new(e))),
            Err(_elapsed) => Err(MailerError(Box::new(SendTimedOut(self.timeout)))),
        }
    }
}

// The SMTP receiver of the integration tests, written once. (A `#[path]` inside the inline
// `tests` module would resolve from `src/mail/tests/`, which does not exist.)
#[cfg(test)]
#[path = "../tests/common/smtp.rs"]
mod smtp_receiver;

#[cfg(test)]
mod tests {
    use super::smtp_receiver::SmtpReceiver;
    use super::*;
    use authkit_core::domain::Email;
    use authkit_core::ports::EmailKind;
    use tokio::net::TcpListener;

    fn email(html: bool) -> OutgoingEmail {
        OutgoingEmail {
            to: Email::parse("ada@example.com").unwrap(),
            kind: EmailKind::VerifyEmail,
            subject: "Verify your email".to_owned(),
            text: "Open http://localhost:8080/verify-email?token=abc".to_owned(),
            html: html.then(|| "<p>Open <a href=\"x\">this</a></p>".to_owned()),
            link: Some("http://localhost:8080/verify-email?token=abc".to_owned()),
        }
    }

    fn mailer(url: &str, timeout: Duration) -> SmtpMailer {
        let from: Mailbox = "authkit <no-reply@example.com>".parse().unwrap();
        SmtpMailer::new(&SmtpUrl::parse(url).unwrap(), from, timeout).unwrap()
    }

    #[tokio::test]
    async fn smtp_mailer_delivers_over_plain_smtp() {
        let receiver = SmtpReceiver::start().await;
        let mailer = mailer(&receiver.url(), Duration::from_secs(10));
        mailer.send(&email(true)).await.unwrap();
        // The receiver stores a message before its 250, so it is there once send returns.
        let sent = receiver.messages();
        assert_eq!(sent.len(), 1);
        let m = &sent[0];
        assert_eq!(m.mail_from, "no-reply@example.com");
        assert_eq!(m.rcpt_to, ["ada@example.com"]);
        let message = m.message();
        assert_eq!(message.header("Subject"), Some("Verify your email"));
        assert_eq!(message.header("To"), Some("ada@example.com"));
        let id = message.header("Message-ID").unwrap();
        assert!(
            id.starts_with('<') && id.ends_with("@example.com>") && id.len() > 20,
            "Message-ID: {id}"
        );
        assert_eq!(message.mime_type(), "multipart/alternative");
        assert_eq!(m.leaf_types(), ["text/plain", "text/html"]);
        assert_eq!(
            m.body_of("text/plain").unwrap().trim_end(),
            "Open http://localhost:8080/verify-email?token=abc"
        );
        assert_eq!(
            m.body_of("text/html").unwrap().trim_end(),
            "<p>Open <a href=\"x\">this</a></p>"
        );
    }

    #[tokio::test]
    async fn smtp_mailer_sends_text_only_messages_as_text_plain() {
        let receiver = SmtpReceiver::start().await;
        let mailer = mailer(&receiver.url(), Duration::from_secs(10));
        mailer.send(&email(false)).await.unwrap();
        let sent = receiver.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].leaf_types(), ["text/plain"]);
    }

    #[tokio::test]
    async fn smtp_failure_is_a_mailer_error_within_the_timeout() {
        // A listener that accepts and never answers: the greeting never comes.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let mailer = mailer(
            &format!("smtp://127.0.0.1:{port}"),
            Duration::from_millis(300),
        );
        let started = std::time::Instant::now();
        assert!(mailer.send(&email(false)).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(silent);
    }

    #[test]
    fn smtp_mailer_debug_hides_the_password() {
        let m = mailer(
            "smtps://me:hunter22@mail.example.com",
            Duration::from_secs(1),
        );
        assert!(!format!("{m:?}").contains("hunter22"));
    }

    #[tokio::test]
    async fn log_mailer_never_fails() {
        LogMailer.send(&email(false)).await.unwrap();
    }
}
