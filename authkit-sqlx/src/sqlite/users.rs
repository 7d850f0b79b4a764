//! [`UserStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::{
    AdminPatch, AuditEvent, Audited, Email, Locale, NewUser, Page, PasswordHash, ProfilePatch,
    QueuedMail, SessionId, TokenPurpose, User, UserCredentials, UserId, UserQuery, UserStatus,
};
use authkit_core::ports::{StoreError, StoreResult, UserStore};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, QueryBuilder};
use time::OffsetDateTime;

use super::audit::{APPEND, events_json};
use super::outbox::{INSERT_EMAIL, bind_email, insert_mail};
use super::tokens::{INSERT_TOKEN, bind_token};
use super::{SqliteStore, get, micros, opt_time_at, time_at, uuid_at, uuid_text};
use crate::error::map;
use crate::rows::{contains_pattern, corrupt, distinct, locale, sorted, status};

macro_rules! select_user_columns {
    () => {
        "u.id AS id, u.email AS email, u.email_verified AS email_verified, \
         u.display_name AS display_name, u.locale AS locale, u.status AS status, \
         u.password_hash AS password_hash, \
         u.created_at AS created_at, u.updated_at AS updated_at, \
         u.last_login_at AS last_login_at, u.deleted_at AS deleted_at, \
         (SELECT json_group_array(r.role_name) FROM authkit_user_roles r \
          WHERE r.user_id = u.id) AS roles"
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

/// The first statements of `create_user`: the user, and its roles (unknown names ignored) from
/// a JSON array of names. The token ([`INSERT_TOKEN`]), each email ([`INSERT_EMAIL`]), the
/// audit event ([`APPEND`]) and last [`CREATED_USER`] follow in the same command, sent to the
/// writer's thread at once (each statement apart would be a round trip to it) in one
/// transaction. Their parameters are anonymous (`?`), bound in the order they appear: sqlx
/// numbers `?NNN` across the whole command, so numbered ones cannot be shared between
/// statements.
const CREATE_USER: &str = "INSERT INTO authkit_users \
     (id, email, email_verified, display_name, locale, status, password_hash, created_at, \
     updated_at) \
     VALUES (?, ?, 0, ?, ?, 'active', ?, ?, ?); \
     INSERT INTO authkit_user_roles (user_id, role_name) \
     SELECT ?, name FROM authkit_roles WHERE name IN (SELECT value FROM json_each(?));";
/// The user as [`CREATE_USER`] stored it.
const CREATED_USER: &str = concat!(select_user!(), "WHERE u.id = ?");
const USER_BY_ID: &str = concat!(select_user!(), "WHERE u.id = ?1");
const CREDENTIALS_BY_EMAIL: &str = concat!(
    select_user!(),
    "WHERE u.email = ?1 AND u.deleted_at IS NULL"
);
const CREDENTIALS_BY_ID: &str = concat!(select_user!(), "WHERE u.id = ?1 AND u.deleted_at IS NULL");
/// Every `SET` expression sees the row as it was, so `email_verified` drops only when the email
/// really changes. A taken email fails on `authkit_users_email_key` (`Conflict(Email)`).
const UPDATE_PROFILE: &str = "UPDATE authkit_users SET \
     display_name = CASE WHEN ?2 THEN ?3 ELSE display_name END, \
     email = coalesce(?4, email), \
     email_verified = CASE WHEN ?4 IS NOT NULL AND ?4 <> email THEN 0 ELSE email_verified END, \
     locale = CASE WHEN ?6 THEN ?7 ELSE locale END, \
     updated_at = ?5 \
     WHERE id = ?1 AND deleted_at IS NULL";
const SET_PASSWORD: &str = "UPDATE authkit_users SET password_hash = ?2, updated_at = ?3 \
                            WHERE id = ?1 AND deleted_at IS NULL";
/// A rehash: replaces the hash only while it is still `?2` (never undoes a password change).
const REPLACE_HASH: &str = "UPDATE authkit_users SET password_hash = ?3 \
                            WHERE id = ?1 AND password_hash = ?2 AND deleted_at IS NULL";
const SET_STATUS: &str = "UPDATE authkit_users SET status = ?2, updated_at = ?3 \
                          WHERE id = ?1 AND deleted_at IS NULL";
const SOFT_DELETE: &str =
    "UPDATE authkit_users SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL";
const RESTORE: &str = "UPDATE authkit_users SET deleted_at = NULL, updated_at = ?2 \
                       WHERE id = ?1 AND deleted_at IS NOT NULL";
/// Like [`UPDATE_PROFILE`], plus: `?5` (when not NULL) sets the verification whatever the email
/// did, `?6` (when not NULL) the status.
const ADMIN_UPDATE: &str = "UPDATE authkit_users SET \
     display_name = CASE WHEN ?2 THEN ?3 ELSE display_name END, \
     email = coalesce(?4, email), \
     email_verified = CASE WHEN ?5 IS NOT NULL THEN ?5 \
                      WHEN ?4 IS NOT NULL AND ?4 <> email THEN 0 \
                      ELSE email_verified END, \
     status = coalesce(?6, status), \
     updated_at = ?7 \
     WHERE id = ?1 AND deleted_at IS NULL";
/// `?2` is a JSON array of the role names to keep.
const REVOKE_OTHER_ROLES: &str = "DELETE FROM authkit_user_roles \
                                  WHERE user_id = ?1 \
                                  AND role_name NOT IN (SELECT value FROM json_each(?2))";
/// Grants the roles of the JSON array `?2` that exist and are not held yet.
const GRANT_ROLES: &str = "INSERT INTO authkit_user_roles (user_id, role_name) \
                           SELECT ?1, name FROM authkit_roles \
                           WHERE name IN (SELECT value FROM json_each(?2)) \
                           ON CONFLICT (user_id, role_name) DO NOTHING";
const BUMP_AUTHZ: &str =
    "UPDATE authkit_sessions SET authz_version = authz_version + 1 WHERE user_id = ?1";
/// Revokes the user's unrevoked sessions, except `?3` when it is not NULL.
const REVOKE_SESSIONS: &str = "UPDATE authkit_sessions SET revoked_at = ?2 \
                               WHERE user_id = ?1 AND revoked_at IS NULL \
                               AND (?3 IS NULL OR id <> ?3)";
/// Ends the user's outstanding password resets.
const SPEND_RESET_TOKENS: &str = "UPDATE authkit_one_time_tokens SET used_at = ?2 \
                                  WHERE user_id = ?1 AND purpose = ?3 AND used_at IS NULL";
/// The unused reset tokens of `?1` sent to another email than its current one (after an email
/// change: a link in the old mailbox must not reset the account that moved away from it).
const SPEND_STALE_RESET_TOKENS: &str = "UPDATE authkit_one_time_tokens SET used_at = ?2 \
     WHERE user_id = ?1 AND purpose = ?3 AND used_at IS NULL \
     AND email <> (SELECT email FROM authkit_users WHERE id = ?1)";

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
        self.insert_user(new, mail, None).await
    }

    /// The event is one more statement of the user's command.
    async fn create_user_audited(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: &AuditEvent,
    ) -> StoreResult<Audited<User>> {
        let user = self.insert_user(new, mail, Some(event)).await?;
        Ok(Audited {
            value: user,
            audited: true,
        })
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query(USER_BY_ID)
            .bind(uuid_text(id.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map(|r| user_from_row(&r, roles_of(&r)?)).transpose()
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        let row = sqlx::query(CREDENTIALS_BY_EMAIL)
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map(|r| {
            Ok(UserCredentials {
                user: user_from_row(&r, roles_of(&r)?)?,
                password_hash: PasswordHash::new(get::<String>(&r, "password_hash")?),
            })
        })
        .transpose()
    }

    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        let row = sqlx::query(CREDENTIALS_BY_ID)
            .bind(uuid_text(id.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.map(|r| {
            Ok(UserCredentials {
                user: user_from_row(&r, roles_of(&r)?)?,
                password_hash: PasswordHash::new(get::<String>(&r, "password_hash")?),
            })
        })
        .transpose()
    }

    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(UPDATE_PROFILE)
            .bind(uuid_text(id.as_uuid()))
            .bind(patch.display_name.is_some())
            .bind(patch.display_name.clone().flatten())
            .bind(patch.email.as_ref().map(Email::as_str))
            .bind(micros(now)?)
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
            .bind(uuid_text(id.as_uuid()))
            .bind(old.expose())
            .bind(new.expose())
            .execute(self.writer())
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
            .bind(uuid_text(id.as_uuid()))
            .bind(hash.expose())
            .bind(micros(now)?)
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
            .bind(uuid_text(id.as_uuid()))
            .bind(status.as_str())
            .bind(micros(now)?)
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
            .bind(uuid_text(id.as_uuid()))
            .bind(micros(now)?)
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
            .bind(uuid_text(id.as_uuid()))
            .bind(micros(now)?)
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
        let user_id = uuid_text(id.as_uuid());
        let mut tx = self.begin().await?;
        let updated = sqlx::query(ADMIN_UPDATE)
            .bind(&user_id)
            .bind(patch.display_name.is_some())
            .bind(patch.display_name.clone().flatten())
            .bind(patch.email.as_ref().map(Email::as_str))
            .bind(patch.email_verified)
            .bind(patch.status.map(UserStatus::as_str))
            .bind(micros(now)?)
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
            let names =
                serde_json::to_string(roles).map_err(|e| StoreError::Backend(Box::new(e)))?;
            let revoked = sqlx::query(REVOKE_OTHER_ROLES)
                .bind(&user_id)
                .bind(&names)
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            let granted = sqlx::query(GRANT_ROLES)
                .bind(&user_id)
                .bind(&names)
                .execute(&mut *tx)
                .await
                .map_err(map)?
                .rows_affected();
            if revoked + granted > 0 {
                sqlx::query(BUMP_AUTHZ)
                    .bind(&user_id)
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
        let mut sql = QueryBuilder::<Sqlite>::new(select_user!());
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
                .push_bind(uuid_text(after.as_uuid()));
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
            .map(|r| user_from_row(r, roles_of(r)?))
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, has_more })
    }
}

/// The user with this id (deleted or not), read inside a transaction; `NotFound` when missing.
pub(super) async fn user_in(conn: &mut SqliteConnection, id: UserId) -> StoreResult<User> {
    let row = sqlx::query(USER_BY_ID)
        .bind(uuid_text(id.as_uuid()))
        .fetch_optional(conn)
        .await
        .map_err(map)?
        .ok_or(StoreError::NotFound)?;
    user_from_row(&row, roles_of(&row)?)
}

/// Revokes every unrevoked session of `user` except `keep`.
pub(super) async fn revoke_sessions(
    conn: &mut SqliteConnection,
    user: UserId,
    keep: Option<SessionId>,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(REVOKE_SESSIONS)
        .bind(uuid_text(user.as_uuid()))
        .bind(micros(now)?)
        .bind(keep.map(|k| uuid_text(k.as_uuid())))
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

/// Marks every unused password-reset token of `user` used.
pub(super) async fn spend_reset_tokens(
    conn: &mut SqliteConnection,
    user: UserId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    spend(conn, SPEND_RESET_TOKENS, user, now).await
}

/// Marks used the unused password-reset tokens of `user` whose email is no longer the user's.
async fn spend_stale_reset_tokens(
    conn: &mut SqliteConnection,
    user: UserId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    spend(conn, SPEND_STALE_RESET_TOKENS, user, now).await
}

/// Runs `sql` ([`SPEND_RESET_TOKENS`] or [`SPEND_STALE_RESET_TOKENS`]) for `user` at `now`.
async fn spend(
    conn: &mut SqliteConnection,
    sql: &'static str,
    user: UserId,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(sql)
        .bind(uuid_text(user.as_uuid()))
        .bind(micros(now)?)
        .bind(TokenPurpose::PasswordReset.as_str())
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

impl SqliteStore {
    /// `create_user`, and `event` appended in the same transaction when given: `BEGIN`, one
    /// command of every statement ([`CREATE_USER`] and those after it), `COMMIT`. A failing
    /// statement (a taken email) ends the command, and the transaction rolls back.
    async fn insert_user(
        &self,
        new: &NewUser,
        mail: &QueuedMail,
        event: Option<&AuditEvent>,
    ) -> StoreResult<User> {
        let id = uuid_text(new.id.as_uuid());
        let now = micros(new.now)?;
        let roles = serde_json::to_string(&distinct(&new.roles))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let events = event.map(|e| events_json(&[e])).transpose()?;
        let mut sql = String::from(CREATE_USER);
        let then = mail.token.iter().map(|_| INSERT_TOKEN);
        let then = then.chain(mail.emails.iter().map(|_| INSERT_EMAIL));
        for statement in then.chain(events.iter().map(|_| APPEND)) {
            sql.push_str(statement);
            sql.push(';');
        }
        sql.push_str(CREATED_USER);

        // Built from the constants above only: no value reaches the text.
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(&id)
            .bind(new.email.as_str())
            .bind(new.display_name.as_deref())
            .bind(new.locale.as_ref().map(Locale::as_str))
            .bind(new.password_hash.expose())
            .bind(now)
            .bind(now)
            .bind(&id)
            .bind(roles);
        if let Some(token) = &mail.token {
            query = bind_token(query, token)?;
        }
        for e in &mail.emails {
            query = bind_email(query, e)?;
        }
        if let Some(events) = events {
            query = query.bind(events);
        }
        query = query.bind(&id);

        let mut tx = self.begin().await?;
        let row = query.fetch_one(&mut *tx).await.map_err(map)?;
        tx.commit().await.map_err(map)?;
        user_from_row(&row, roles_of(&row)?)
    }
}

/// The role names of a [`select_user!`] row (a JSON array), sorted.
pub(super) fn roles_of(row: &SqliteRow) -> StoreResult<Vec<String>> {
    let json: String = get(row, "roles")?;
    let roles: Vec<String> =
        serde_json::from_str(&json).map_err(|e| corrupt("roles", Some(Box::new(e))))?;
    Ok(sorted(roles))
}

pub(super) fn user_from_row(row: &SqliteRow, roles: Vec<String>) -> StoreResult<User> {
    Ok(User {
        id: UserId(uuid_at(row, "id")?),
        email: Email::from_trusted(get(row, "email")?),
        email_verified: get(row, "email_verified")?,
        display_name: get(row, "display_name")?,
        locale: locale(get(row, "locale")?)?,
        status: status(&get::<String>(row, "status")?)?,
        roles: sorted(roles),
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
        last_login_at: opt_time_at(row, "last_login_at")?,
        deleted_at: opt_time_at(row, "deleted_at")?,
    })
}
