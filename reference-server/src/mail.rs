//! The two mailers of the reference server: authkit-smtp's [`SmtpMailer`] when
//! `AUTHKIT_SMTP_URL` is set ([`smtp_mailer`]), otherwise core's [`LogMailer`], which writes
//! each email to the log.
//!
//! Both only report failures as [`MailerError`](authkit_core::ports::MailerError)s: the outbox
//! retries transient ones and never lets any change an API response.

use std::time::Duration;

use crate::config::SmtpUrl;

/// The zero-configuration mailer, authkit-core's: every email, text and link included, goes to
/// the log (target `authkit::mail`, level WARN). The log then holds working verification and
/// reset links, so configure SMTP before anyone else can read the log.
pub use authkit_core::ports::LogMailer;

/// The SMTP mailer, authkit-smtp's (lettre with rustls: plain, STARTTLS, implicit TLS, AUTH).
pub use authkit_smtp::SmtpMailer;

/// Why [`smtp_mailer`] failed.
#[derive(Debug, thiserror::Error)]
#[error("AUTHKIT_SMTP_URL: cannot set up the SMTP client: {0}")]
pub struct SmtpSetupError(#[source] authkit_smtp::SmtpConfigError);

/// The mailer for `AUTHKIT_SMTP_URL`, sending as `from` (`AUTHKIT_MAIL_FROM`, e.g.
/// `authkit <no-reply@example.com>`); connecting and each SMTP command give up after
/// `timeout`. No connection is made until the first message.
pub fn smtp_mailer(
    url: &SmtpUrl,
    from: &str,
    timeout: Duration,
) -> Result<SmtpMailer, SmtpSetupError> {
    SmtpMailer::builder(url.expose())
        .from(from)
        .timeout(timeout)
        .build()
        .map_err(SmtpSetupError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_the_server_configuration_and_hides_the_password() {
        let url = SmtpUrl::parse("smtp://me:hunter22@mail.example.com:587?tls=required").unwrap();
        let mailer = smtp_mailer(
            &url,
            "Authkit <no-reply@example.com>",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(mailer.security(), authkit_smtp::Security::StartTls);
        assert_eq!(mailer.from_mailbox(), "Authkit <no-reply@example.com>");
        assert!(!format!("{mailer:?}").contains("hunter22"));
    }
}
