//! [`UserStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{Email, NewUser, PasswordHash, User, UserCredentials, UserId};
use authkit_core::ports::{StoreResult, UserStore};
use sqlx::postgres::PgRow;

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
