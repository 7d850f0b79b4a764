//! Email verification: the token sent at registration (and on request), and its use.

use serde_json::json;

use crate::AuthKit;
use crate::domain::{AuditKind, Email, EmailKind, TokenHash, User};
use crate::error::{Error, Result};
use crate::service::RequestContext;

/// Longest token string looked up; longer ones cannot be ours.
pub(crate) const MAX_TOKEN_LEN: usize = 256;

impl AuthKit {
    /// Deletes the one-time tokens (email verification and password reset) that expired before
    /// `now`, used or not ([`crate::ports::OneTimeTokenStore::purge_tokens`]); returns how
    /// many. An expired token is refused like an unknown one (`invalid_token`), so none is kept
    /// past its expiry; without this, every verification and reset email ever sent would keep
    /// its row. The email worker ([`AuthKit::run_email_worker`]) runs it every hour; a host that
    /// runs no worker can call it on its own schedule.
    pub async fn purge_tokens(&self, now: time::OffsetDateTime) -> Result<u64> {
        Ok(self.inner.store.purge_tokens(now).await?)
    }

    /// Uses a verification token: single use, expiring, bound to the (user, email) pair it was
    /// sent for. Any refusal is `InvalidToken`.
    pub async fn verify_email(&self, ctx: &RequestContext, token: &str) -> Result<User> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidToken);
        }
        let now = self.inner.clock.now();
        let user = self
            .inner
            .store
            .verify_email_with_token(&TokenHash::of(token), now)
            .await?
            .ok_or(Error::InvalidToken)?;
        self.audit(
            ctx,
            AuditKind::EmailVerified,
            Some(user.id),
            json!({ "email": user.email }),
        )
        .await;
        Ok(user)
    }

    /// Queues a new verification email for `email`, sent by the worker when the address
    /// belongs to an unverified account (dropped otherwise). The request writes the same single
    /// outbox row whether or not the account exists, so neither the answer (202) nor its timing
    /// tells; the row survives a crash.
    pub async fn resend_verification(&self, ctx: &RequestContext, email: Email) -> Result<()> {
        if !self.email_allowed("resend", &email).await? {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let mail = self.lookup_mail(ctx, &email, EmailKind::VerifyEmail, now)?;
        self.inner.store.enqueue_mail(&mail).await?;
        self.wake_email_worker();
        Ok(())
    }
}
