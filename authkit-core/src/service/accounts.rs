//! Registration and login.

use serde_json::json;

use crate::AuthKit;
use crate::domain::{
    AuditKind, Audited, Email, Locale, NewUser, Password, PasswordHash, QueuedMail, USER_ROLE,
    User, UserId, UserStatus,
};
use crate::error::{Error, Result};
use crate::metrics::{self, LoginOutcome};
use crate::service::{RequestContext, TokenPair};

/// What [`AuthKit::register`] takes.
#[derive(Debug, Clone)]
pub struct RegisterInput {
    /// The address.
    pub email: Email,
    /// The chosen password (checked against the policy).
    pub password: Password,
    /// Optional display name (at most 100 characters).
    pub display_name: Option<String>,
    /// The language of the user's emails; `None` uses the configured default.
    pub locale: Option<Locale>,
}

/// What [`AuthKit::login`] takes.
#[derive(Debug, Clone)]
pub struct LoginInput {
    /// The address.
    pub email: Email,
    /// The password.
    pub password: Password,
    /// Long (30 d) rather than short (24 h) absolute session lifetime.
    pub remember_me: bool,
}

/// What [`AuthKit::import_user`] takes: an account moved from another system with the
/// password hash that system stored.
#[derive(Debug, Clone)]
pub struct ImportUser {
    /// The address.
    pub email: Email,
    /// The stored hash: an argon2 PHC string (`$argon2id$…`) or a bcrypt hash (`$2b$…`).
    pub password_hash: PasswordHash,
    /// Whether the old system had verified the address.
    pub email_verified: bool,
    /// Optional display name (at most 100 characters).
    pub display_name: Option<String>,
    /// The language of the user's emails.
    pub locale: Option<Locale>,
}

impl AuthKit {
    /// Creates an account with a password hash made elsewhere (a migration from another
    /// system), holding the `user` role and sending no email. The hash must be one the hasher
    /// reads ([`crate::ports::PasswordHasher::recognizes`]: argon2 or bcrypt for the default
    /// hasher), else a 422 on `password_hash`. The first successful login replaces it with an
    /// argon2id hash of the current parameters. When `email_verified` is set, the address is
    /// marked verified right after the account is created (a second write: a failure there
    /// leaves the account unverified, and its owner can verify it by email).
    pub async fn import_user(&self, ctx: &RequestContext, input: ImportUser) -> Result<User> {
        let mut errors = Vec::new();
        if !self.inner.hasher.recognizes(&input.password_hash) {
            errors.push(crate::error::FieldError::new(
                "password_hash",
                "unsupported",
                "must be an argon2 PHC string or a bcrypt hash",
            ));
        }
        let display_name = super::profile::display_name(input.display_name, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = self.inner.clock.now();
        let id = UserId::new_v7(now);
        let event = self.audit_event(
            ctx,
            AuditKind::Register,
            Some(id),
            Some(id),
            json!({ "imported": true }),
        );
        let store = &self.inner.store;
        let Audited {
            value: mut user,
            audited,
        } = store
            .create_user_audited(
                &NewUser {
                    id,
                    email: input.email,
                    display_name,
                    locale: input.locale,
                    password_hash: input.password_hash,
                    roles: vec![USER_ROLE.to_owned()],
                    now,
                },
                &QueuedMail::none(),
                &event,
            )
            .await?;
        self.record_unless_audited(AuditKind::Register, event, audited)
            .await;
        if input.email_verified {
            user = store
                .admin_update_user(
                    user.id,
                    &crate::domain::AdminPatch {
                        email_verified: Some(true),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
        }
        Ok(user)
    }

    /// Creates an account holding the `user` role. The password is checked against the policy
    /// and hashed before any write; the user, its role, the verification token and the
    /// verification email (in the outbox) are inserted in one transaction, so concurrent
    /// registrations of one address create exactly one account (`EmailTaken` for the others)
    /// and a crash leaves either nothing or all of it.
    pub async fn register(&self, ctx: &RequestContext, input: RegisterInput) -> Result<User> {
        let user = self.create_account(ctx, input, &[USER_ROLE], true).await?;
        metrics::registration();
        Ok(user)
    }

    /// Checks the input, hashes the password and inserts the account with `roles` (and, when
    /// `verification` holds, its verification token and email) in one store call.
    pub(crate) async fn create_account(
        &self,
        ctx: &RequestContext,
        input: RegisterInput,
        roles: &[&str],
        verification: bool,
    ) -> Result<User> {
        let config = &self.inner.config;
        let mut errors = config.password_policy.check(
            "password",
            &input.password,
            &[
                input.email.as_str(),
                input.email.local_part(),
                &config.service_name,
            ],
        );
        let display_name = super::profile::display_name(input.display_name, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let hash = self.inner.hasher.hash(&input.password).await?;
        let now = self.inner.clock.now();
        let id = UserId::new_v7(now);
        let mail = if verification {
            self.verification_mail(id, &input.email, input.locale.as_ref(), now)?
        } else {
            QueuedMail::none()
        };
        // Appended with the account when the store can (one write instead of two).
        let event = self.audit_event(ctx, AuditKind::Register, Some(id), Some(id), json!({}));
        let Audited {
            value: user,
            audited,
        } = self
            .inner
            .store
            .create_user_audited(
                &NewUser {
                    id,
                    email: input.email,
                    display_name,
                    locale: input.locale,
                    password_hash: hash,
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    now,
                },
                &mail,
                &event,
            )
            .await?;
        if !mail.is_empty() {
            self.wake_email_worker();
        }
        self.record_unless_audited(AuditKind::Register, event, audited)
            .await;
        Ok(user)
    }

    /// Checks the password and opens a session. Unknown email and wrong password fail alike
    /// (`InvalidCredentials`, after a hash verification of the same cost); a disabled account
    /// or (when required) an unverified email is refused only after a correct password.
    pub async fn login(&self, ctx: &RequestContext, input: LoginInput) -> Result<TokenPair> {
        let found = self.inner.store.credentials_by_email(&input.email).await?;
        let checked = self
            .check_password(
                &input.email,
                &input.password,
                found.as_ref().map(|c| &c.password_hash),
            )
            .await;
        let reason = match (&checked, &found) {
            (Err(Error::RateLimited { .. }), _) => Some("throttled"),
            (_, None) => Some("unknown_email"),
            (Ok(false), Some(_)) => Some("wrong_password"),
            _ => None,
        };
        match (&checked, reason) {
            (Err(Error::RateLimited { .. }), _) => metrics::login_attempt(LoginOutcome::Throttled),
            // A right password: counted below. An error: the check itself failed (store, hash
            // queue: 503), which is no outcome of the login.
            (Err(_), _) | (_, None) => {}
            (Ok(_), Some(_)) => metrics::login_attempt(LoginOutcome::Failed),
        }
        if let Some(reason) = reason {
            let user_id = found.as_ref().map(|c| c.user.id);
            self.audit(
                ctx,
                AuditKind::LoginFailed,
                user_id,
                json!({ "reason": reason }),
            )
            .await;
        }
        let ok = checked?;
        let (Some(creds), true) = (found, ok) else {
            return Err(Error::InvalidCredentials);
        };
        self.rehash_if_needed(creds.user.id, &input.password, &creds.password_hash)
            .await;
        let user = creds.user;
        if user.status == UserStatus::Disabled {
            self.refuse_login(ctx, user.id, "account_disabled").await;
            return Err(Error::AccountDisabled);
        }
        if self.inner.config.require_verified_email && !user.email_verified {
            self.refuse_login(ctx, user.id, "email_not_verified").await;
            return Err(Error::EmailNotVerified);
        }
        // The session's `login_ok` event is recorded with it.
        let pair = self.open_session(ctx, user.id, input.remember_me).await?;
        metrics::login_attempt(LoginOutcome::Ok);
        Ok(pair)
    }

    /// Records a login refused after a correct password: its `login_failed` event (`reason`)
    /// and the failed attempt.
    pub(crate) async fn refuse_login(&self, ctx: &RequestContext, user: UserId, reason: &str) {
        self.audit(
            ctx,
            AuditKind::LoginFailed,
            Some(user),
            json!({ "reason": reason }),
        )
        .await;
        metrics::login_attempt(LoginOutcome::Failed);
    }

    /// Verifies against a hash of the same parameters so that an unknown email costs what a
    /// known one does.
    pub(crate) async fn dummy_verify(&self, password: &Password) -> Result<()> {
        let hash: &PasswordHash = self
            .inner
            .dummy_hash
            .get_or_try_init(|| async {
                let mut random = [0u8; 32];
                crate::domain::random_bytes(&mut random)?;
                let dummy = Password::new(format!("{random:02x?}"));
                self.inner.hasher.hash(&dummy).await.map_err(Error::from)
            })
            .await?;
        let _ = self.inner.hasher.verify(password, hash).await?;
        Ok(())
    }
}
