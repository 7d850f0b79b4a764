//! [`UserStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{
    Email, NewUser, PasswordHash, ProfilePatch, SessionId, TokenPurpose, User, UserCredentials,
    UserId, UserStatus,
};
use authkit_core::ports::{StoreError, StoreResult, UserStore};
use sqlx::postgres::{PgConnection, PgRow};
use time::OffsetDateTime;

use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{distinct, sorted, status};

macro_rules! user_columns {
    () => {
        "id, email, email_verified, display_name, status, password_hash, created_at, updated_at, \
         last_login_at, deleted_at"
    };
}

macro_rules! select_user {
    () => {
        "SELECT u.id, u.email, u.email_verified, u.display_name, u.status, u.password_hash, \
         u.created_at, u.updated_at, u.last_login_at, u.deleted_at, \
         ARRAY(SELECT r.role_name FROM authkit_user_roles r WHERE r.user_id = u.id) AS roles \
         FROM authkit_users u "
    };
}

const INSERT_USER: &str = concat!(
    "INSERT INTO authkit_users \
     (id, email, email_verified, display_name, status, password_hash, created_at, updated_at) \
     VALUES ($1, $2, false, $3, 'active', $4, $5, $5) RETURNING ",
    user_columns!()
);
/// Grants a role only if it exists (unknown names are ignored).
const GRANT_ROLE: &str = "INSERT INTO authkit_user_roles (user_id, role_name) \
                          SELECT $1, name FROM authkit_roles WHERE name = $2";
const USER_BY_ID: &str = concat!(select_user!(), "WHERE u.id = $1");
const CREDENTIALS_BY_EMAIL: &str = concat!(
    select_user!(),
    "WHERE u.email = $1 AND u.deleted_at IS NULL"
);
const CREDENTIALS_BY_ID: &str = concat!(select_user!(), "WHERE u.id = $1 AND u.deleted_at IS NULL");
/// Every `SET` expression sees the row as it was, so `email_verified` drops only when the email
/// really changes. A taken email fails on `authkit_users_email_key` (`Conflict(Email)`).
const UPDATE_PROFILE: &str = "UPDATE authkit_users SET \
     display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
     email = COALESCE($4, email), \
     email_verified = CASE WHEN $4 IS NOT NULL AND $4 <> email THEN false \
                      ELSE email_verified END, \
     updated_at = $5 \
     WHERE id = $1 AND deleted_at IS NULL";
const SET_PASSWORD: &str = "UPDATE authkit_users SET password_hash = $2, updated_at = $3 \
                            WHERE id = $1 AND deleted_at IS NULL";
const SET_STATUS: &str = "UPDATE authkit_users SET status = $2, updated_at = $3 \
                          WHERE id = $1 AND deleted_at IS NULL";
const SOFT_DELETE: &str =
    "UPDATE authkit_users SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL";
/// Revokes the user's unrevoked sessions, except `$3` when it is not NULL.
const REVOKE_SESSIONS: &str = "UPDATE authkit_sessions SET revoked_at = $2 \
                               WHERE user_id = $1 AND revoked_at IS NULL \
                               AND id IS DISTINCT FROM $3";
/// Ends the user's outstanding password resets.
const SPEND_RESET_TOKENS: &str = "UPDATE authkit_one_time_tokens SET used_at = $2 \
                                  WHERE user_id = $1 AND purpose = $3 AND used_at IS NULL";

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        let id = new.id.as_uuid();
        let mut tx = self.begin().await?;
        let row = sqlx::query(INSERT_USER)
            .bind(id)
            .bind(new.email.as_str())
            .bind(new.display_name.as_deref())
            .bind(new.password_hash.expose())
            .bind(new.now)
            .fetch_one(&mut *tx)
            .await
            .map_err(map)?;
        let mut roles = Vec::new();
        for role in distinct(&new.roles) {
            let granted = sqlx::query(GRANT_ROLE)
                .bind(id)
                .bind(&role)
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            if granted == 1 {
                roles.push(role);
            }
        }
        let user = user_from_row(&row, roles)?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query(USER_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map(|r| user_from_row(&r, get(&r, "roles")?))
            .transpose()
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        let row = sqlx::query(CREDENTIALS_BY_EMAIL)
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map(|r| {
            Ok(UserCredentials {
                user: user_from_row(&r, get(&r, "roles")?)?,
                password_hash: PasswordHash::new(get::<String>(&r, "password_hash")?),
            })
        })
        .transpose()
    }

    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        let row = sqlx::query(CREDENTIALS_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map(|r| {
            Ok(UserCredentials {
                user: user_from_row(&r, get(&r, "roles")?)?,
                password_hash: PasswordHash::new(get::<String>(&r, "password_hash")?),
            })
        })
        .transpose()
    }

    // Every write below takes the user's row lock first (its `UPDATE authkit_users`), then the
    // rows of its sessions and tokens: one lock order for every user-wide change, so concurrent
    // ones queue instead of deadlocking.

    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(UPDATE_PROFILE)
            .bind(id.as_uuid())
            .bind(patch.display_name.is_some())
            .bind(patch.display_name.clone().flatten())
            .bind(patch.email.as_ref().map(Email::as_str))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        let user = user_in(&mut tx, id).await?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(SET_PASSWORD)
            .bind(id.as_uuid())
            .bind(hash.expose())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        revoke_sessions(&mut tx, id, keep, now).await?;
        spend_reset_tokens(&mut tx, id, now).await?;
        tx.commit().await.map_err(map)
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(SET_STATUS)
            .bind(id.as_uuid())
            .bind(status.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        if status == UserStatus::Disabled {
            revoke_sessions(&mut tx, id, None, now).await?;
        }
        let user = user_in(&mut tx, id).await?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query(SOFT_DELETE)
            .bind(id.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        revoke_sessions(&mut tx, id, None, now).await?;
        tx.commit().await.map_err(map)
    }
}

/// The user with this id (deleted or not), read inside a transaction; `NotFound` when missing.
pub(super) async fn user_in(conn: &mut PgConnection, id: UserId) -> StoreResult<User> {
    let row = sqlx::query(USER_BY_ID)
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .map_err(map)?
        .ok_or(StoreError::NotFound)?;
    user_from_row(&row, get(&row, "roles")?)
}

/// Revokes every unrevoked session of `user` except `keep`.
pub(super) async fn revoke_sessions(
    conn: &mut PgConnection,
    user: UserId,
    keep: Option<SessionId>,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(REVOKE_SESSIONS)
        .bind(user.as_uuid())
        .bind(now)
        .bind(keep.map(|k| k.as_uuid()))
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

/// Marks every unused password-reset token of `user` used.
pub(super) async fn spend_reset_tokens(
    conn: &mut PgConnection,
    user: UserId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(SPEND_RESET_TOKENS)
        .bind(user.as_uuid())
        .bind(now)
        .bind(TokenPurpose::PasswordReset.as_str())
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

fn user_from_row(row: &PgRow, roles: Vec<String>) -> StoreResult<User> {
    Ok(User {
        id: UserId(get(row, "id")?),
        email: Email::from_trusted(get(row, "email")?),
        email_verified: get(row, "email_verified")?,
        display_name: get(row, "display_name")?,
        status: status(&get::<String>(row, "status")?)?,
        // Sorted in Rust: byte order whatever the database collation.
        roles: sorted(roles),
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_login_at: get(row, "last_login_at")?,
        deleted_at: get(row, "deleted_at")?,
    })
}
