//! Building the outbox rows of each email: recipient, kind, language and the variables its
//! templates need (serialized into the opaque payload stores keep).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::AuthKit;
use crate::domain::{
    Email, EmailId, EmailKind, EmailPayload, Locale, NewEmail, NewOneTimeToken, OpaqueToken,
    QueuedMail, TokenPurpose, User, UserId,
};
use crate::error::{Error, Result};
use crate::service::RequestContext;

/// What an outbox payload holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Content {
    /// Ready to render: the kind's template variables (may hold a one-time link).
    Ready {
        /// Template variables.
        vars: BTreeMap<String, String>,
    },
    /// A reset or verification requested by address: the worker looks the account up and
    /// creates the token. The request's context is kept for the audit event.
    Lookup {
        /// Client address of the request.
        ip: Option<IpAddr>,
        /// Client user agent of the request.
        user_agent: Option<String>,
    },
}

impl Content {
    pub(crate) fn to_payload(&self) -> Result<EmailPayload> {
        serde_json::to_string(self)
            .map(EmailPayload::new)
            .map_err(|e| Error::Internal(Box::new(e)))
    }

    pub(crate) fn from_payload(payload: &EmailPayload) -> Option<Self> {
        serde_json::from_str(payload.expose()).ok()
    }
}

fn vars<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl AuthKit {
    fn link(&self, page: &str, token: &OpaqueToken) -> String {
        format!(
            "{}/{page}?token={}",
            self.inner.config.public_url.trim_end_matches('/'),
            token.expose()
        )
    }

    fn new_email(
        &self,
        to: &Email,
        kind: EmailKind,
        locale: Option<&Locale>,
        content: &Content,
        now: OffsetDateTime,
    ) -> Result<NewEmail> {
        Ok(NewEmail {
            id: EmailId::new_v7(now),
            to: to.clone(),
            kind,
            locale: locale.cloned(),
            payload: content.to_payload()?,
            created_at: now,
        })
    }

    /// A one-time token for (`user`, `email`) and the variables of the email that carries it.
    pub(crate) fn one_time_link(
        &self,
        kind: EmailKind,
        user: UserId,
        email: &Email,
        now: OffsetDateTime,
    ) -> Result<(NewOneTimeToken, BTreeMap<String, String>)> {
        let config = &self.inner.config;
        let token = OpaqueToken::generate()?;
        let (purpose, ttl, vars) = match kind {
            EmailKind::PasswordReset => (
                TokenPurpose::PasswordReset,
                config.password_reset_ttl,
                vars([
                    ("link", self.link("reset-password", &token)),
                    (
                        "expires_minutes",
                        config.password_reset_ttl.whole_minutes().to_string(),
                    ),
                ]),
            ),
            _ => (
                TokenPurpose::VerifyEmail,
                config.verify_email_ttl,
                vars([
                    ("link", self.link("verify-email", &token)),
                    (
                        "expires_hours",
                        config.verify_email_ttl.whole_hours().to_string(),
                    ),
                ]),
            ),
        };
        let row = NewOneTimeToken {
            hash: token.hash(),
            purpose,
            user_id: user,
            email: email.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        Ok((row, vars))
    }

    /// The verification token for the user's current address and the email carrying it.
    pub(crate) fn verification_mail(
        &self,
        id: UserId,
        email: &Email,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> Result<QueuedMail> {
        let (token, vars) = self.one_time_link(EmailKind::VerifyEmail, id, email, now)?;
        let email = self.new_email(
            email,
            EmailKind::VerifyEmail,
            locale,
            &Content::Ready { vars },
            now,
        )?;
        Ok(QueuedMail {
            token: Some(token),
            emails: vec![email],
        })
    }

    /// The notice that the password changed.
    pub(crate) fn password_changed_mail(
        &self,
        user: &User,
        now: OffsetDateTime,
    ) -> Result<QueuedMail> {
        let email = self.new_email(
            &user.email,
            EmailKind::PasswordChanged,
            user.locale.as_ref(),
            &Content::Ready {
                vars: BTreeMap::new(),
            },
            now,
        )?;
        Ok(QueuedMail {
            token: None,
            emails: vec![email],
        })
    }

    /// The notice to the old address that the email changed.
    pub(crate) fn email_changed_notice(
        &self,
        old: &Email,
        new: &Email,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> Result<NewEmail> {
        self.new_email(
            old,
            EmailKind::EmailChanged,
            locale,
            &Content::Ready {
                vars: vars([
                    ("old_email", old.to_string()),
                    ("new_email", new.to_string()),
                ]),
            },
            now,
        )
    }

    /// A reset or verification requested by address, resolved later by the worker.
    pub(crate) fn lookup_mail(
        &self,
        ctx: &RequestContext,
        to: &Email,
        kind: EmailKind,
        now: OffsetDateTime,
    ) -> Result<QueuedMail> {
        let content = Content::Lookup {
            ip: ctx.ip,
            user_agent: ctx.user_agent_truncated(),
        };
        Ok(QueuedMail {
            token: None,
            emails: vec![self.new_email(to, kind, None, &content, now)?],
        })
    }

    /// Tells a running worker that mail was queued.
    pub(crate) fn wake_email_worker(&self) {
        self.inner.outbox_wakeup.notify_one();
    }
}
