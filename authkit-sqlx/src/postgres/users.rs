//! [`UserStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{
    AdminPatch, AuditEvent, Audited, Email, Locale, NewUser, Page, PasswordHash, ProfilePatch,
    QueuedMail, SessionId, TokenPurpose, User, UserCredentials, UserId, UserQuery, UserStatus,
};
use authkit_core::ports::{StoreError, StoreResult, UserStore};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnection, PgRow, Postgres};
use time::OffsetDateTime;

use super::audit::append_in;
use super::outbox::insert_mail;
use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{contains_pattern, distinct, locale, sorted, status};

macro_rules! user_columns {
    () => {
        "id, email, email_verified, display_name, locale, status, password_hash, created_at, \
         updated_at, last_login_at, deleted_at"
    };
}

macro_rules! select_user_columns {
    () => {
        "u.id, u.email, u.email_verified, u.display_name, u.locale, u.status, \
         u.password_hash, \
         u.created_at, u.updated_at, u.last_login_at, u.deleted_at, \
         ARRAY(SELECT r.role_name FROM authkit_user_roles r WHERE r.user_id = u.id) AS roles"
    };
}

macro_rules! select_user {
    () => {
        concat!("SELECT ", select_user_columns!(), " FROM authkit_users u ")
    };
}

/// The columns of a user row as the readers here expect them, from `authkit_users u` (for
/// a join elsewhere in this backend).
pub(super) const USER_SELECT_COLUMNS: &str = select_user_columns!();

const INSERT_USER: &str = concat!(
    "INSERT INTO authkit_users \
     (id, email, email_verified, display_name, locale, status, password_hash, created_at, \
     updated_at) \
     VALUES ($1, $2, false, $3, $6, 'active', $4, $5, $5) RETURNING ",
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
     locale = CASE WHEN $6 THEN $7 ELSE locale END, \
     updated_at = $5 \
     WHERE id = $1 AND deleted_at IS NULL";
const SET_PASSWORD: &str = "UPDATE authkit_users SET password_hash = $2, updated_at = $3 \
                            WHERE id = $1 AND deleted_at IS NULL";
/// A rehash: replaces the hash only while it is still `$2` (never undoes a password change).
const REPLACE_HASH: &str = "UPDATE authkit_users SET password_hash = $3 \
                            WHERE id = $1 AND password_hash = $2 AND deleted_at IS NULL";
const SET_STATUS: &str = "UPDATE authkit_users SET status = $2, updated_at = $3 \
                          WHERE id = $1 AND deleted_at IS NULL";
const SOFT_DELETE: &str =
    "UPDATE authkit_users SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL";
const RESTORE: &str = "UPDATE authkit_users SET deleted_at = NULL, updated_at = $2 \
                       WHERE id = $1 AND deleted_at IS NOT NULL";
/// Like [`UPDATE_PROFILE`], plus: `$5` (when not NULL) sets the verification whatever the email
/// did, `$6` (when not NULL) the status.
const ADMIN_UPDATE: &str = "UPDATE authkit_users SET \
     display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
     email = COALESCE($4, email), \
     email_verified = CASE WHEN $5::boolean IS NOT NULL THEN $5::boolean \
                      WHEN $4 IS NOT NULL AND $4 <> email THEN false \
                      ELSE email_verified END, \
     status = COALESCE($6, status), \
     updated_at = $7 \
     WHERE id = $1 AND deleted_at IS NULL";
/// Drops the grants of roles not in `$2`.
const REVOKE_OTHER_ROLES: &str = "DELETE FROM authkit_user_roles \
                                  WHERE user_id = $1 AND role_name <> ALL($2)";
/// Grants the roles of `$2` that exist and are not held yet. Held ones are skipped before the
/// foreign key check, so keeping a role takes no lock on its row.
const GRANT_ROLES: &str = "INSERT INTO authkit_user_roles (user_id, role_name) \
                           SELECT $1, name FROM authkit_roles WHERE name = ANY($2) \
                           ON CONFLICT (user_id, role_name) DO NOTHING";
const BUMP_AUTHZ: &str =
    "UPDATE authkit_sessions SET authz_version = authz_version + 1 WHERE user_id = $1";
/// Revokes the user's unrevoked sessions, except `$3` when it is not NULL.
const REVOKE_SESSIONS: &str = "UPDATE authkit_sessions SET revoked_at = $2 \
                               WHERE user_id = $1 AND revoked_at IS NULL \
                               AND id IS DISTINCT FROM $3";
/// Ends the user's outstanding password resets.
const SPEND_RESET_TOKENS: &str = "UPDATE authkit_one_time_tokens SET used_at = $2 \
                                  WHERE user_id = $1 AND purpose = $3 AND used_at IS NULL";
/// The unused reset tokens of `$1` sent to another email than its current one (after an email
/// change: a link in the old mailbox must not reset the account that moved away from it).
const SPEND_STALE_RESET_TOKENS: &str = "UPDATE authkit_one_time_tokens SET used_at = $2 \
     WHERE user_id = $1 AND purpose = $3 AND used_at IS NULL \
     AND email <> (SELECT email FROM authkit_users WHERE id = $1)";

impl PostgresStore {
    /// `create_user`, and `events` appended in the same transaction when given.
    async fn insert_user(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        events: Option<&[AuditEvent]>,
    ) -> StoreResult<User> {
        let id = new.id.as_uuid();
        let mut tx = self.begin().await?;
        let row = sqlx::query(INSERT_USER)
            .bind(id)
            .bind(new.email.as_str())
            .bind(new.display_name.as_deref())
            .bind(new.password_hash.expose())
            .bind(new.now)
            .bind(new.locale.as_ref().map(Locale::as_str))
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
        insert_mail(&mut tx, mail).await?;
        append_in(&mut tx, events).await?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
        self.insert_user(new, mail, None).await
    }

    /// The event is one more `INSERT` of the user's transaction.
    async fn create_user_audited(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: &AuditEvent,
    ) -> StoreResult<Audited<User>> {
        let user = self
            .insert_user(new, mail, Some(std::slice::from_ref(event)))
            .await?;
        Ok(Audited {
            value: user,
            audited: true,
        })
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
        mail: &QueuedMail,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(UPDATE_PROFILE)
            .bind(id.as_uuid())
            .bind(patch.display_name.is_some())
            .bind(patch.display_name.clone().flatten())
            .bind(patch.email.as_ref().map(Email::as_str))
            .bind(now)
            .bind(patch.locale.is_some())
            .bind(patch.locale.clone().flatten().as_ref().map(Locale::as_str))
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        if patch.email.is_some() {
            spend_stale_reset_tokens(&mut tx, id, now).await?;
        }
        let user = user_in(&mut tx, id).await?;
        insert_mail(&mut tx, mail).await?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool> {
        let replaced = sqlx::query(REPLACE_HASH)
            .bind(id.as_uuid())
            .bind(old.expose())
            .bind(new.expose())
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(replaced == 1)
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        mail: &QueuedMail,
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
        insert_mail(&mut tx, mail).await?;
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

    async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let restored = sqlx::query(RESTORE)
            .bind(id.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if restored == 0 {
            return Err(StoreError::NotFound);
        }
        let user = user_in(&mut tx, id).await?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn admin_update_user(
        &self,
        id: UserId,
        patch: &AdminPatch,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        // The user's row first (see above), then its grants and sessions.
        let updated = sqlx::query(ADMIN_UPDATE)
            .bind(id.as_uuid())
            .bind(patch.display_name.is_some())
            .bind(patch.display_name.clone().flatten())
            .bind(patch.email.as_ref().map(Email::as_str))
            .bind(patch.email_verified)
            .bind(patch.status.map(UserStatus::as_str))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        if patch.status == Some(UserStatus::Disabled) {
            revoke_sessions(&mut tx, id, None, now).await?;
        }
        if patch.email.is_some() {
            spend_stale_reset_tokens(&mut tx, id, now).await?;
        }
        if let Some(roles) = &patch.roles {
            // Only the difference is written: a kept grant is neither deleted nor re-inserted.
            let revoked = sqlx::query(REVOKE_OTHER_ROLES)
                .bind(id.as_uuid())
                .bind(roles)
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            let granted = sqlx::query(GRANT_ROLES)
                .bind(id.as_uuid())
                .bind(roles)
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            if revoked + granted > 0 {
                sqlx::query(BUMP_AUTHZ)
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
            }
        }
        let user = user_in(&mut tx, id).await?;
        tx.commit().await.map_err(map)?;
        Ok(user)
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        let limit = query.limit as usize;
        // With a role, walk that role's grants in user order (an index range scan on
        // `authkit_user_roles (role_name, user_id)`); else the users' primary key.
        let mut sql = QueryBuilder::<Postgres>::new(select_user!());
        let key = if let Some(role) = &query.role {
            sql.push("JOIN authkit_user_roles g ON g.user_id = u.id AND g.role_name = ")
                .push_bind(role.clone())
                .push(" ");
            "g.user_id"
        } else {
            "u.id"
        };
        sql.push(if query.deleted {
            "WHERE u.deleted_at IS NOT NULL"
        } else {
            "WHERE u.deleted_at IS NULL"
        });
        if let Some(after) = query.after {
            sql.push(format_args!(" AND {key} > "))
                .push_bind(after.as_uuid());
        }
        if let Some(needle) = &query.email_contains {
            sql.push(" AND u.email LIKE ")
                .push_bind(contains_pattern(needle))
                .push(" ESCAPE '\\'");
        }
        if let Some(status) = query.status {
            sql.push(" AND u.status = ").push_bind(status.as_str());
        }
        if let Some(verified) = query.verified {
            sql.push(" AND u.email_verified = ").push_bind(verified);
        }
        sql.push(format_args!(" ORDER BY {key} LIMIT "))
            .push_bind(i64::from(query.limit) + 1);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(map)?;
        let mut items = rows
            .iter()
            .map(|r| user_from_row(r, get(r, "roles")?))
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, has_more })
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
    spend(conn, SPEND_RESET_TOKENS, user, now).await
}

/// Marks used the unused password-reset tokens of `user` whose email is no longer the user's.
async fn spend_stale_reset_tokens(
    conn: &mut PgConnection,
    user: UserId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    spend(conn, SPEND_STALE_RESET_TOKENS, user, now).await
}

/// Runs `sql` ([`SPEND_RESET_TOKENS`] or [`SPEND_STALE_RESET_TOKENS`]) for `user` at `now`.
async fn spend(
    conn: &mut PgConnection,
    sql: &'static str,
    user: UserId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(sql)
        .bind(user.as_uuid())
        .bind(now)
        .bind(TokenPurpose::PasswordReset.as_str())
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

pub(super) fn user_from_row(row: &PgRow, roles: Vec<String>) -> StoreResult<User> {
    Ok(User {
        id: UserId(get(row, "id")?),
        email: Email::from_trusted(get(row, "email")?),
        email_verified: get(row, "email_verified")?,
        display_name: get(row, "display_name")?,
        locale: locale(get(row, "locale")?)?,
        status: status(&get::<String>(row, "status")?)?,
        // Sorted in Rust: byte order whatever the database collation.
        roles: sorted(roles),
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        last_login_at: get(row, "last_login_at")?,
        deleted_at: get(row, "deleted_at")?,
    })
}
