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
        let builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.subject.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use authkit_core::domain::Email;
    use authkit_core::ports::EmailKind;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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

    /// A minimal SMTP server that accepts one message and keeps its DATA.
    async fn fake_smtp() -> (u16, Arc<Mutex<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = Arc::new(Mutex::new(String::new()));
        let seen = Arc::clone(&data);
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        let mut d = seen.lock().unwrap();
                        d.push_str(&line);
                        d.push('\n');
                    }
                    continue;
                }
                let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 fake\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                write.write_all(reply).await.unwrap();
            }
        });
        (port, data)
    }

    fn mailer(url: &str, timeout: Duration) -> SmtpMailer {
        let from: Mailbox = "authkit <no-reply@example.com>".parse().unwrap();
        SmtpMailer::new(&SmtpUrl::parse(url).unwrap(), from, timeout).unwrap()
    }

    #[tokio::test]
    async fn smtp_mailer_delivers_over_plain_smtp() {
        let (port, data) = fake_smtp().await;
        let mailer = mailer(&format!("smtp://127.0.0.1:{port}"), Duration::from_secs(10));
        mailer.send(&email(true)).await.unwrap();
        let data = data.lock().unwrap().clone();
        assert!(data.contains("Subject: Verify your email"), "{data}");
        assert!(data.contains("To: ada@example.com"), "{data}");
        assert!(data.contains("multipart/alternative"), "{data}");
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
