//! Email verification: the token sent at registration (and on request), and its use.

use serde_json::json;

use crate::AuthKit;
use crate::domain::{
    AuditKind, Email, NewOneTimeToken, OpaqueToken, TokenHash, TokenPurpose, User, UserId,
};
use crate::error::{Error, Result};
use crate::service::RequestContext;

/// Longest token string looked up; longer ones cannot be ours.
pub(crate) const MAX_TOKEN_LEN: usize = 256;

impl AuthKit {
    /// Stores a new verification token for (`user`, `email`) and mails its link.
    pub(crate) async fn send_verification(&self, user: UserId, email: &Email) -> Result<()> {
        let token = OpaqueToken::generate()?;
        let now = self.inner.clock.now();
        self.inner
            .store
            .insert_token(&NewOneTimeToken {
                hash: token.hash(),
                purpose: TokenPurpose::VerifyEmail,
                user_id: user,
                email: email.clone(),
                created_at: now,
                expires_at: now + self.inner.config.verify_email_ttl,
            })
            .await?;
        self.send_in_background(self.verification_email(email, &token));
        Ok(())
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

    /// Sends a new verification email when `email` belongs to an unverified account; does
    /// nothing otherwise. The caller answers 202 either way, and the work runs on a spawned
    /// task, so neither the response nor its timing says whether the account exists.
    pub fn resend_verification(&self, email: Email) {
        let kit = self.clone();
        tokio::spawn(async move {
            let result = async {
                match kit.inner.store.credentials_by_email(&email).await? {
                    Some(c) if !c.user.email_verified => {
                        kit.send_verification(c.user.id, &c.user.email).await
                    }
                    _ => Ok(()),
                }
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(target: "authkit::mail", error = %e, "resending verification failed");
            }
        });
    }
}
