//! The user's own profile: changes, deletion, and the export of everything held on them.

use serde_json::json;

use crate::AuthKit;
use crate::domain::{
    AuditEvent, AuditKind, Email, Locale, Password, ProfilePatch, QueuedMail, Session, User,
};
use crate::error::{Error, FieldError, Result};
use crate::service::{Principal, RequestContext};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;

/// What [`AuthKit::update_profile`] takes.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// `Some(None)` clears the display name, `None` leaves it.
    pub display_name: Option<Option<String>>,
    /// A new email address.
    pub email: Option<Email>,
    /// `Some(None)` clears the locale (back to the configured default), `None` leaves it.
    pub locale: Option<Option<Locale>>,
    /// The current password, required when the email changes.
    pub current_password: Option<Password>,
}

/// Everything authkit holds on a user ([`AuthKit::export`]).
#[derive(Debug, Clone)]
pub struct UserExport {
    /// The profile (with its roles).
    pub user: User,
    /// Every session, revoked and expired ones included.
    pub sessions: Vec<Session>,
    /// Audit events about the user, newest first (at most [`EXPORT_AUDIT_LIMIT`]).
    pub audit_events: Vec<AuditEvent>,
}

/// Most audit events in an export.
pub const EXPORT_AUDIT_LIMIT: u32 = 1000;

/// Validates a display name: trimmed, empty means none, at most 100 characters, no control
/// characters.
pub(crate) fn display_name(value: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    match value.map(|n| n.trim().to_owned()) {
        Some(n) if n.is_empty() => None,
        Some(n) if n.chars().count() > MAX_DISPLAY_NAME || n.chars().any(char::is_control) => {
            errors.push(FieldError::new(
                "display_name",
                "invalid",
                format!("must be at most {MAX_DISPLAY_NAME} characters without control characters"),
            ));
            None
        }
        other => other,
    }
}

impl AuthKit {
    /// Changes the principal's display name and/or email. A new email needs the current
    /// password (422 `required` without it, 401 `invalid_credentials` when wrong), is stored
    /// unverified, gets a verification email, and the old address is told.
    pub async fn update_profile(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        update: ProfileUpdate,
    ) -> Result<User> {
        let mut errors = Vec::new();
        let display_name = update
            .display_name
            .map(|name| display_name(name, &mut errors));
        let current = self
            .inner
            .store
            .credentials_by_id(principal.user_id)
            .await?
            .ok_or(Error::Unauthorized)?
            .user;
        // A changed address needs the password and triggers the emails; the requested address
        // is passed to the store either way, so that the answer always shows what was asked
        // even when another request changed the email meanwhile.
        let new_email = update.email.clone().filter(|e| *e != current.email);
        if new_email.is_some() && update.current_password.is_none() {
            errors.push(FieldError::new(
                "current_password",
                "required",
                "is required to change the email address",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        if let (Some(_), Some(password)) = (&new_email, &update.current_password) {
            self.verify_own_password(principal, password).await?;
        }
        let now = self.inner.clock.now();
        // A new address gets a verification email and the old one a notice, written with the
        // change; both in the user's (possibly just changed) language.
        let mail = match &new_email {
            Some(new) => {
                let locale = match &update.locale {
                    Some(l) => l.as_ref(),
                    None => current.locale.as_ref(),
                };
                let mut mail = self.verification_mail(current.id, new, locale, now)?;
                mail.emails
                    .push(self.email_changed_notice(&current.email, new, locale, now)?);
                mail
            }
            None => QueuedMail::none(),
        };
        let user = self
            .inner
            .store
            .update_profile(
                principal.user_id,
                &ProfilePatch {
                    display_name,
                    email: update.email,
                    locale: update.locale,
                },
                now,
                &mail,
            )
            .await?;
        if new_email.is_some() {
            self.wake_email_worker();
            self.audit(
                ctx,
                AuditKind::EmailChanged,
                Some(user.id),
                json!({ "from": current.email, "to": user.email }),
            )
            .await;
        } else {
            self.audit(ctx, AuditKind::ProfileUpdated, Some(user.id), json!({}))
                .await;
        }
        Ok(user)
    }

    /// Soft-deletes the principal's account after checking the password: every session is
    /// revoked and login is refused from then on.
    pub async fn delete_account(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        password: &Password,
    ) -> Result<()> {
        let user = self.verify_own_password(principal, password).await?;
        let now = self.inner.clock.now();
        self.inner.store.soft_delete_user(user.id, now).await?;
        self.audit(ctx, AuditKind::AccountDeleted, Some(user.id), json!({}))
            .await;
        Ok(())
    }

    /// Everything held on the principal's user: profile and roles, sessions, audit events.
    pub async fn export(&self, principal: &Principal) -> Result<UserExport> {
        let user = self.current_user(principal).await?;
        let store = &self.inner.store;
        Ok(UserExport {
            sessions: store.sessions_of(user.id).await?,
            audit_events: store.audit_of_user(user.id, EXPORT_AUDIT_LIMIT).await?,
            user,
        })
    }
}
