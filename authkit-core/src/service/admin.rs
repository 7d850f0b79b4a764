//! The admin API's use cases: users, roles and the audit log, each behind a permission that
//! the caller's [`Principal`] must hold (checked here, so hosts calling these methods directly
//! are protected too).

use serde_json::json;

use crate::AuthKit;
use crate::domain::{
    ADMIN_ROLE, AdminPatch, AuditEvent, AuditKind, AuditQuery, Email, Page, Password, QueuedMail,
    Role, USER_ROLE, User, UserId, UserQuery,
};
use crate::error::{Error, FieldError, Result};
use crate::service::{Principal, RequestContext};

/// Permission to list and read users.
pub const USERS_READ: &str = "users:read";
/// Permission to change users.
pub const USERS_WRITE: &str = "users:write";
/// Permission to delete and restore users.
pub const USERS_DELETE: &str = "users:delete";
/// Permission to list roles.
pub const ROLES_READ: &str = "roles:read";
/// Permission to create, change and delete roles.
pub const ROLES_WRITE: &str = "roles:write";
/// Permission to read the audit log.
pub const AUDIT_READ: &str = "audit:read";

/// Largest page of an admin listing.
pub const MAX_PAGE: u32 = 100;
/// Page size when none is asked.
pub const DEFAULT_PAGE: u32 = 50;

/// Whether `name` is a valid role or permission name: 1..=64 of `a-z 0-9 _ : . -`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:.-".contains(&b))
}

impl AuthKit {
    /// Lists users (live or deleted per `query.deleted`) with keyset pagination.
    pub async fn admin_list_users(
        &self,
        principal: &Principal,
        query: &UserQuery,
    ) -> Result<Page<User>> {
        principal.require(USERS_READ)?;
        Ok(self.inner.store.list_users(query).await?)
    }

    /// One user, deleted ones included (`deleted_at` set).
    pub async fn admin_user(&self, principal: &Principal, id: UserId) -> Result<User> {
        principal.require(USERS_READ)?;
        self.inner
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Changes a user. Changing roles also needs `roles:write`, and role names must exist
    /// (422 otherwise); changing another user's email needs every permission that user holds
    /// (403 otherwise: a new address takes the account's password resets); disabling revokes the user's
    /// sessions; a role change refuses the user's access tokens at once (their sessions'
    /// authorization version moves), so the next refresh carries the new roles.
    pub async fn admin_update_user(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        id: UserId,
        patch: AdminPatch,
    ) -> Result<User> {
        principal.require(USERS_WRITE)?;
        if let Some(roles) = &patch.roles {
            // Granting roles is granting permissions: `users:write` alone must not let its
            // holder make itself an administrator.
            principal.require(ROLES_WRITE)?;
            let known: Vec<String> = self
                .inner
                .store
                .roles()
                .await?
                .into_iter()
                .map(|r| r.name)
                .collect();
            let unknown: Vec<&String> = roles.iter().filter(|r| !known.contains(r)).collect();
            if !unknown.is_empty() {
                return Err(Error::invalid_field(
                    "roles",
                    "unknown_role",
                    format!("no such role: {}", join(&unknown)),
                ));
            }
        }
        if patch.email.is_some() && id != principal.user_id {
            // Whoever sets an account's email receives its password resets: `users:write`
            // alone must not reach the accounts of those who hold more than its holder.
            let target = self
                .inner
                .store
                .user_by_id(id)
                .await?
                .ok_or(Error::NotFound)?;
            let held = self.inner.store.permissions_of(&target.roles).await?;
            if let Some(missing) = held.iter().find(|p| !principal.has(p)) {
                return Err(Error::Forbidden {
                    permission: missing.clone(),
                });
            }
        }
        let now = self.inner.clock.now();
        let user = self.inner.store.admin_update_user(id, &patch, now).await?;
        self.audit_by(
            ctx,
            AuditKind::AdminUserUpdated,
            Some(id),
            Some(principal.user_id),
            json!({
                "display_name": patch.display_name.is_some(),
                "email": patch.email.is_some(),
                "email_verified": patch.email_verified,
                "status": patch.status.map(|s| s.as_str()),
                "roles": patch.roles,
            }),
        )
        .await;
        Ok(user)
    }

    /// Soft-deletes a user and revokes its sessions.
    pub async fn admin_delete_user(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        id: UserId,
    ) -> Result<()> {
        principal.require(USERS_DELETE)?;
        let now = self.inner.clock.now();
        self.inner.store.soft_delete_user(id, now).await?;
        self.audit_by(
            ctx,
            AuditKind::AdminUserDeleted,
            Some(id),
            Some(principal.user_id),
            json!({}),
        )
        .await;
        Ok(())
    }

    /// Restores a soft-deleted user (its sessions stay revoked).
    pub async fn admin_restore_user(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        id: UserId,
    ) -> Result<User> {
        principal.require(USERS_DELETE)?;
        let now = self.inner.clock.now();
        let user = self.inner.store.restore_user(id, now).await?;
        self.audit_by(
            ctx,
            AuditKind::AdminUserRestored,
            Some(id),
            Some(principal.user_id),
            json!({}),
        )
        .await;
        Ok(user)
    }

    /// Every role.
    pub async fn admin_roles(&self, principal: &Principal) -> Result<Vec<Role>> {
        principal.require(ROLES_READ)?;
        Ok(self.inner.store.roles().await?)
    }

    /// Creates a role (409 `conflict` when the name exists).
    pub async fn admin_create_role(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        role: Role,
    ) -> Result<Role> {
        principal.require(ROLES_WRITE)?;
        let mut errors = Vec::new();
        if !valid_name(&role.name) {
            errors.push(FieldError::new(
                "name",
                "invalid",
                "must be 1 to 64 of a-z, 0-9, _ : . -",
            ));
        }
        check_role_fields(&role, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let role = self
            .inner
            .store
            .create_role(&role)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => Error::Conflict("a role with this name exists".to_owned()),
                other => other,
            })?;
        self.audit_by(
            ctx,
            AuditKind::RoleCreated,
            None,
            Some(principal.user_id),
            json!({ "role": role.name, "permissions": role.permissions }),
        )
        .await;
        Ok(role)
    }

    /// Replaces a role's description and permissions. The built-in `admin` role keeps every
    /// permission (409 otherwise), so that an administrator always exists.
    pub async fn admin_update_role(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        role: Role,
    ) -> Result<Role> {
        principal.require(ROLES_WRITE)?;
        if !valid_name(&role.name) {
            // No role can have such a name (nor reach the store: PostgreSQL refuses NUL).
            return Err(Error::NotFound);
        }
        let mut errors = Vec::new();
        check_role_fields(&role, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        if role.name == ADMIN_ROLE
            && !crate::domain::ALL_PERMISSIONS
                .iter()
                .all(|p| role.permissions.iter().any(|q| q == p))
        {
            return Err(Error::Conflict(
                "the built-in admin role keeps every admin permission".to_owned(),
            ));
        }
        let role = self.inner.store.update_role(&role).await?;
        self.audit_by(
            ctx,
            AuditKind::RoleUpdated,
            None,
            Some(principal.user_id),
            json!({ "role": role.name, "permissions": role.permissions }),
        )
        .await;
        Ok(role)
    }

    /// Deletes a role (409 `conflict` for the built-in `admin` and `user`).
    pub async fn admin_delete_role(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        name: &str,
    ) -> Result<()> {
        principal.require(ROLES_WRITE)?;
        if !valid_name(name) {
            return Err(Error::NotFound);
        }
        self.inner
            .store
            .delete_role(name)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict("built-in roles cannot be deleted".to_owned())
                }
                other => other,
            })?;
        self.audit_by(
            ctx,
            AuditKind::RoleDeleted,
            None,
            Some(principal.user_id),
            json!({ "role": name }),
        )
        .await;
        Ok(())
    }

    /// The audit log, newest first, with keyset pagination.
    pub async fn admin_audit(
        &self,
        principal: &Principal,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent>> {
        principal.require(AUDIT_READ)?;
        Ok(self.inner.store.list_audit(query).await?)
    }
}

/// What [`AuthKit::bootstrap_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapped {
    /// A new account was created with the password, the `user` and `admin` roles and a
    /// verified email.
    Created,
    /// An existing account with a verified email was given the `admin` role; its password is
    /// unchanged.
    Promoted,
    /// An existing account whose email was not verified was given the `admin` role and the
    /// password, its email marked verified and its sessions revoked: whoever registered the
    /// address before (SECURITY 11, pre-account hijacking) no longer logs in.
    Claimed,
}

impl AuthKit {
    /// Makes `email` an administrator (the `create-admin` bootstrap), in the first of these that
    /// applies:
    /// - no account has the email: one is created with `password` (which must pass the policy),
    ///   the `user` and `admin` roles and a verified email;
    /// - its account's email is verified: the `admin` role is added; its password is left alone
    ///   and `password` ignored;
    /// - its account's email is not verified (anyone could have registered it): the operator
    ///   vouches for the address, so `password` (required, and checked by the policy) replaces
    ///   the account's, every session is revoked and every reset token spent (one transaction),
    ///   then the email is marked verified and the `admin` role added.
    ///
    /// A missing `password` where one is needed is a validation error on `password` with code
    /// `required`. Idempotent.
    pub async fn bootstrap_admin(
        &self,
        email: Email,
        password: Option<&Password>,
    ) -> Result<(User, Bootstrapped)> {
        let store = &self.inner.store;
        let ctx = RequestContext::default();
        let now = self.inner.clock.now();
        if let Some(creds) = store.credentials_by_email(&email).await? {
            let mut roles = creds.user.roles.clone();
            if !roles.iter().any(|r| r == ADMIN_ROLE) {
                roles.push(ADMIN_ROLE.to_owned());
            }
            let outcome = if creds.user.email_verified {
                Bootstrapped::Promoted
            } else {
                let password = password.ok_or_else(|| {
                    Error::invalid_field(
                        "password",
                        "required",
                        "the account's email is not verified, so its password is not trusted: \
                         a new one is needed",
                    )
                })?;
                self.check_new_password("password", password, &creds.user)?;
                let hash = self.inner.hasher.hash(password).await?;
                store
                    .set_password(creds.user.id, &hash, None, now, &QueuedMail::none())
                    .await?;
                self.audit(
                    &ctx,
                    AuditKind::PasswordChanged,
                    Some(creds.user.id),
                    json!({ "bootstrap": true }),
                )
                .await;
                Bootstrapped::Claimed
            };
            let patch = AdminPatch {
                roles: Some(roles),
                email_verified: Some(true),
                ..AdminPatch::default()
            };
            let user = store.admin_update_user(creds.user.id, &patch, now).await?;
            self.audit(
                &ctx,
                AuditKind::AdminUserUpdated,
                Some(user.id),
                json!({ "bootstrap": true, "roles": user.roles }),
            )
            .await;
            return Ok((user, outcome));
        }
        let password = password.ok_or_else(|| {
            Error::invalid_field(
                "password",
                "required",
                "a password is needed for a new account",
            )
        })?;
        // The roles come with the account (one transaction); no verification email is sent:
        // the operator vouches for the address, which is marked verified next (a failure in
        // between leaves an unverified account, which a second run claims as above).
        let user = self
            .create_account(
                &ctx,
                crate::service::RegisterInput {
                    email,
                    password: password.clone(),
                    display_name: None,
                    locale: None,
                },
                &[USER_ROLE, ADMIN_ROLE],
                false,
            )
            .await?;
        let patch = AdminPatch {
            email_verified: Some(true),
            ..AdminPatch::default()
        };
        let user = store.admin_update_user(user.id, &patch, now).await?;
        self.audit(
            &ctx,
            AuditKind::AdminUserUpdated,
            Some(user.id),
            json!({ "bootstrap": true, "roles": user.roles }),
        )
        .await;
        Ok((user, Bootstrapped::Created))
    }
}

fn check_role_fields(role: &Role, errors: &mut Vec<FieldError>) {
    if role.description.chars().count() > 500 {
        errors.push(FieldError::new(
            "description",
            "too_long",
            "must be at most 500 characters",
        ));
    } else if role
        .description
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(
            "description",
            "invalid",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    if role.permissions.len() > 100 || !role.permissions.iter().all(|p| valid_name(p)) {
        errors.push(FieldError::new(
            "permissions",
            "invalid",
            "at most 100 names of 1 to 64 of a-z, 0-9, _ : . -",
        ));
    }
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
