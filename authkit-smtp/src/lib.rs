//! SMTP delivery for authkit: [`SmtpMailer`], a [`Mailer`](authkit_core::ports::Mailer) over
//! [lettre](https://docs.rs/lettre) on tokio, TLS by rustls (no OpenSSL), configured from one
//! URL in the form of the reference server's `AUTHKIT_SMTP_URL`:
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use authkit_core::domain::{Email, Locale};
//! use authkit_core::ports::{EmailKind, Mailer, OutgoingEmail};
//! use authkit_smtp::SmtpMailer;
//!
//! // STARTTLS on port 587 with AUTH; `smtps://` is implicit TLS, plain `smtp://` has no TLS.
//! let mailer = SmtpMailer::builder("smtp://mailer:s3cret@mail.example.com:587?tls=required")
//!     .from("Example <no-reply@example.com>")
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//!
//! // Normally the kit calls it: `AuthKit::builder(config).mailer(mailer)`.
//! mailer
//!     .send(&OutgoingEmail {
//!         to: Email::parse("ada@example.com")?,
//!         kind: EmailKind::VerifyEmail,
//!         locale: Locale::english(),
//!         subject: "Verify your email".to_owned(),
//!         text: "Open https://example.com/verify-email?token=...".to_owned(),
//!         html: Some("<p>Open <a href=\"https://example.com/verify-email?token=...\">this link</a></p>".to_owned()),
//!         link: Some("https://example.com/verify-email?token=...".to_owned()),
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Each message goes out on its own connection as `multipart/alternative` (text, then HTML)
//! or `text/plain` alone, with `Date`, a `Message-ID` in the sender's domain and
//! `Content-Language` from [`OutgoingEmail::locale`](authkit_core::ports::OutgoingEmail).
//! Connecting and then every SMTP command each get the [timeout](SmtpMailerBuilder::timeout).
//!
//! Failures are [`MailerError`](authkit_core::ports::MailerError)s with a [`SendError`] source:
//! permanent for an SMTP 5xx reply, transient otherwise (4xx, timeouts, network and TLS
//! trouble), so the outbox retries only what may pass. Their text never holds the message,
//! the password or the action link.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod endpoint;
mod error;
mod mailer;

pub use endpoint::Security;
pub use error::{SendError, SmtpConfigError, Stage};
pub use mailer::{DEFAULT_FROM, DEFAULT_TIMEOUT, SmtpMailer, SmtpMailerBuilder};
