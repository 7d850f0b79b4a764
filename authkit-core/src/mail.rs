//! The emails authkit sends: plain text and HTML, and the links they carry (built from
//! [`crate::AuthConfig::public_url`], never from a request's Host header). Delivery happens on a
//! spawned task, so that a slow or failing mailer never changes a response or its timing.

use crate::AuthKit;
use crate::domain::{Email, OpaqueToken};
use crate::ports::{EmailKind, OutgoingEmail};

/// Escapes text for HTML.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(title: &str, paragraphs: &[&str], action: Option<(&str, &str)>) -> String {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str(&format!("<p>{}</p>", html_escape(p)));
    }
    if let Some((label, link)) = action {
        body.push_str(&format!(
            "<p><a href=\"{0}\" style=\"display:inline-block;padding:10px 16px;\
             background:#2563eb;color:#fff;border-radius:6px;text-decoration:none\">{1}</a></p>\
             <p style=\"color:#555;font-size:13px\">Or open this link: {0}</p>",
            html_escape(link),
            html_escape(label)
        ));
    }
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;max-width:560px;margin:auto\">\
         <h2>{}</h2>{body}</body></html>",
        html_escape(title)
    )
}

impl AuthKit {
    fn link(&self, page: &str, token: &OpaqueToken) -> String {
        format!(
            "{}/{page}?token={}",
            self.inner.config.public_url.trim_end_matches('/'),
            token.expose()
        )
    }

    /// The message asking `to` to verify the address.
    pub(crate) fn verification_email(&self, to: &Email, token: &OpaqueToken) -> OutgoingEmail {
        let service = &self.inner.config.service_name;
        let link = self.link("verify-email", token);
        let hours = self.inner.config.verify_email_ttl.whole_hours();
        let line = format!("Confirm that this is your email address for {service}.");
        let expiry = format!("The link works once and expires in {hours} hours.");
        OutgoingEmail {
            to: to.clone(),
            kind: EmailKind::VerifyEmail,
            subject: format!("Verify your email for {service}"),
            text: format!(
                "{line}\n\n{link}\n\n{expiry} If you did not sign up, ignore this message.\n"
            ),
            html: Some(html(
                "Verify your email",
                &[&line, &expiry],
                Some(("Verify email", &link)),
            )),
            link: Some(link),
        }
    }

    /// The message carrying a password-reset link.
    pub(crate) fn reset_email(&self, to: &Email, token: &OpaqueToken) -> OutgoingEmail {
        let service = &self.inner.config.service_name;
        let link = self.link("reset-password", token);
        let minutes = self.inner.config.password_reset_ttl.whole_minutes();
        let line = format!("Someone asked to reset the password of your {service} account.");
        let expiry = format!(
            "The link works once and expires in {minutes} minutes. If it was not you, ignore \
             this message: your password stays as it is."
        );
        OutgoingEmail {
            to: to.clone(),
            kind: EmailKind::PasswordReset,
            subject: format!("Reset your {service} password"),
            text: format!("{line}\n\n{link}\n\n{expiry}\n"),
            html: Some(html(
                "Reset your password",
                &[&line, &expiry],
                Some(("Choose a new password", &link)),
            )),
            link: Some(link),
        }
    }

    /// The notice that the password changed.
    pub(crate) fn password_changed_email(&self, to: &Email) -> OutgoingEmail {
        let service = &self.inner.config.service_name;
        let line = format!(
            "The password of your {service} account was changed, and your other sessions were \
             signed out."
        );
        let warn = "If it was not you, reset your password now and contact support.";
        OutgoingEmail {
            to: to.clone(),
            kind: EmailKind::PasswordChanged,
            subject: format!("Your {service} password was changed"),
            text: format!("{line}\n\n{warn}\n"),
            html: Some(html("Your password was changed", &[&line, warn], None)),
            link: None,
        }
    }

    /// The notice to the old address that the email changed.
    pub(crate) fn email_changed_email(&self, old: &Email, new: &Email) -> OutgoingEmail {
        let service = &self.inner.config.service_name;
        let line =
            format!("The email address of your {service} account was changed from {old} to {new}.");
        let warn = "If it was not you, contact support now.";
        OutgoingEmail {
            to: old.clone(),
            kind: EmailKind::EmailChanged,
            subject: format!("Your {service} email address was changed"),
            text: format!("{line}\n\n{warn}\n"),
            html: Some(html("Your email address was changed", &[&line, warn], None)),
            link: None,
        }
    }

    /// Sends `email` on a spawned task; a failure is logged (without the message, which may
    /// carry a token) and changes nothing else.
    pub(crate) fn send_in_background(&self, email: OutgoingEmail) {
        let mailer = std::sync::Arc::clone(&self.inner.mailer);
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&email).await {
                tracing::warn!(
                    target: "authkit::mail",
                    kind = ?email.kind,
                    error = %e,
                    source = e.0.to_string(),
                    "sending an email failed"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::html_escape;

    #[test]
    fn escapes_html() {
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
