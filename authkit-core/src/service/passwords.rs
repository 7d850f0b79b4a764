//! Forgotten passwords (reset by email) and password changes.

use serde_json::json;

use crate::AuthKit;
use crate::domain::{AuditKind, Email, EmailKind, Password, TokenHash, TokenPurpose, User};
use crate::error::{Error, Result};
use crate::service::verification::MAX_TOKEN_LEN;
use crate::service::{Principal, RequestContext};

impl AuthKit {
    /// Checks a new password against the policy with the user's context words; the errors name
    /// `field`.
    pub(crate) fn check_new_password(
        &self,
        field: &str,
        password: &Password,
        user: &User,
    ) -> Result<()> {
        let config = &self.inner.config;
        let errors = config.password_policy.check(
            field,
            password,
            &[
                user.email.as_str(),
                user.email.local_part(),
                &config.service_name,
            ],
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// Queues a reset email for `email`, sent by the worker when the address belongs to an
    /// account (dropped otherwise). The request writes the same single outbox row whether or not
    /// the account exists, so neither the answer (202) nor its timing tells; the row survives a
    /// crash, and an SMTP outage only delays the email.
    pub async fn forgot_password(&self, ctx: &RequestContext, email: Email) -> Result<()> {
        if !self.email_allowed("forgot", &email).await? {
            return Ok(());
        }
        let now = self.inner.clock.now();
        let mail = self.lookup_mail(ctx, &email, EmailKind::PasswordReset, now)?;
        self.inner.store.enqueue_mail(&mail).await?;
        self.wake_email_worker();
        Ok(())
    }

    /// Sets a new password with a reset token: the token is checked first (`InvalidToken`), then
    /// the password policy (422, the token stays usable), then — in one store transaction — the
    /// token is spent, the password set, every session revoked and the email marked verified.
    /// No session is opened; the owner is told by email.
    pub async fn reset_password(
        &self,
        ctx: &RequestContext,
        token: &str,
        new_password: &Password,
    ) -> Result<()> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidToken);
        }
        let store = &self.inner.store;
        let hash = TokenHash::of(token);
        let now = self.inner.clock.now();
        let pending = store
            .peek_token(&hash, TokenPurpose::PasswordReset, now)
            .await?
            .ok_or(Error::InvalidToken)?;
        let user = store
            .credentials_by_id(pending.user_id)
            .await?
            .ok_or(Error::InvalidToken)?
            .user;
        self.check_new_password("new_password", new_password, &user)?;
        let new_hash = self.inner.hasher.hash(new_password).await?;
        let now = self.inner.clock.now();
        let notice = self.password_changed_mail(&user, now)?;
        let user = store
            .reset_password_with_token(&hash, &new_hash, now, &notice)
            .await?
            .ok_or(Error::InvalidToken)?;
        self.wake_email_worker();
        self.clear_password_failures(&user.email).await;
        self.audit(ctx, AuditKind::PasswordReset, Some(user.id), json!({}))
            .await;
        Ok(())
    }

    /// Changes the principal's password after checking the current one (`InvalidCredentials`);
    /// every other session is revoked, the calling one kept. The owner is told by email.
    pub async fn change_password(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        current: &Password,
        new_password: &Password,
    ) -> Result<()> {
        let user = self.verify_own_password(principal, current).await?;
        self.check_new_password("new_password", new_password, &user)?;
        let hash = self.inner.hasher.hash(new_password).await?;
        let now = self.inner.clock.now();
        let notice = self.password_changed_mail(&user, now)?;
        self.inner
            .store
            .set_password(user.id, &hash, Some(principal.session_id), now, &notice)
            .await?;
        self.wake_email_worker();
        self.audit(ctx, AuditKind::PasswordChanged, Some(user.id), json!({}))
            .await;
        Ok(())
    }

    /// The principal's user after checking `password` against the stored hash.
    pub(crate) async fn verify_own_password(
        &self,
        principal: &Principal,
        password: &Password,
    ) -> Result<User> {
        let creds = self
            .inner
            .store
            .credentials_by_id(principal.user_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        if !self
            .check_password(&creds.user.email, password, Some(&creds.password_hash))
            .await?
        {
            return Err(Error::InvalidCredentials);
        }
        Ok(creds.user)
    }
}
