//! [`RoleStore`] on PostgreSQL.
//!
//! Lock order, shared with the user writes: a role's row, then its holders' user rows (in id
//! order), then their sessions. Granting a role (an insert into `authkit_user_roles`) takes a
//! key-share lock on the role's row through the foreign key, which only `delete_role`'s
//! `FOR UPDATE` waits for, before it holds any other lock.

use async_trait::async_trait;
use authkit_core::domain::Role;
use authkit_core::ports::{Conflict, RoleStore, StoreError, StoreResult};
use sqlx::postgres::{PgConnection, PgRow};
use uuid::Uuid;

use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{distinct, sorted};

const PERMISSIONS_OF: &str = "SELECT DISTINCT permission FROM authkit_role_permissions \
                              WHERE role_name = ANY($1)";
const ROLES: &str = "SELECT r.name, r.description, r.builtin, \
                     ARRAY(SELECT p.permission FROM authkit_role_permissions p \
                           WHERE p.role_name = r.name) AS permissions \
                     FROM authkit_roles r";
const INSERT_ROLE: &str =
    "INSERT INTO authkit_roles (name, description, builtin) VALUES ($1, $2, false)";
/// Takes the role's row lock (no key update: grants are not blocked).
const UPDATE_ROLE: &str =
    "UPDATE authkit_roles SET description = $2 WHERE name = $1 RETURNING builtin";
const PERMISSIONS_OF_ROLE: &str =
    "SELECT permission FROM authkit_role_permissions WHERE role_name = $1";
const CLEAR_PERMISSIONS: &str = "DELETE FROM authkit_role_permissions WHERE role_name = $1";
const GRANT_PERMISSIONS: &str = "INSERT INTO authkit_role_permissions (role_name, permission) \
                                 SELECT $1, unnest($2::text[])";
/// Waits for the transactions granting the role, then keeps new grants out.
const LOCK_ROLE: &str = "SELECT builtin FROM authkit_roles WHERE name = $1 FOR UPDATE";
/// Locks the holders' user rows in id order (the order every user-wide write follows).
const LOCK_HOLDERS: &str = "SELECT u.id FROM authkit_users u \
                            WHERE u.id IN (SELECT g.user_id FROM authkit_user_roles g \
                                           WHERE g.role_name = $1) \
                            ORDER BY u.id FOR NO KEY UPDATE OF u";
const BUMP_USERS: &str = "UPDATE authkit_sessions SET authz_version = authz_version + 1 \
                          WHERE user_id = ANY($1)";
const REVOKE_GRANTS: &str = "DELETE FROM authkit_user_roles WHERE role_name = $1";
const DELETE_ROLE: &str = "DELETE FROM authkit_roles WHERE name = $1";

#[async_trait]
impl RoleStore for PostgresStore {
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let permissions: Vec<String> = sqlx::query_scalar(PERMISSIONS_OF)
            .bind(roles)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
        // Sorted in Rust: byte order whatever the database collation.
        Ok(sorted(permissions))
    }

    async fn roles(&self) -> StoreResult<Vec<Role>> {
        let mut roles = sqlx::query(ROLES)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(role_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        // Sorted in Rust: byte order whatever the database collation.
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    async fn create_role(&self, role: &Role) -> StoreResult<Role> {
        let permissions = distinct(&role.permissions);
        let mut tx = self.begin().await?;
        sqlx::query(INSERT_ROLE)
            .bind(&role.name)
            .bind(&role.description)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        grant_permissions(&mut tx, &role.name, &permissions).await?;
        tx.commit().await.map_err(map)?;
        Ok(Role {
            name: role.name.clone(),
            description: role.description.clone(),
            permissions,
            builtin: false,
        })
    }

    async fn update_role(&self, role: &Role) -> StoreResult<Role> {
        let permissions = distinct(&role.permissions);
        let mut tx = self.begin().await?;
        let builtin: Option<bool> = sqlx::query_scalar(UPDATE_ROLE)
            .bind(&role.name)
            .bind(&role.description)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let Some(builtin) = builtin else {
            return Err(StoreError::NotFound);
        };
        let current: Vec<String> = sqlx::query_scalar(PERMISSIONS_OF_ROLE)
            .bind(&role.name)
            .fetch_all(&mut *tx)
            .await
            .map_err(map)?;
        if sorted(current) != permissions {
            sqlx::query(CLEAR_PERMISSIONS)
                .bind(&role.name)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
            grant_permissions(&mut tx, &role.name, &permissions).await?;
            bump_holders(&mut tx, &role.name).await?;
        }
        tx.commit().await.map_err(map)?;
        Ok(Role {
            name: role.name.clone(),
            description: role.description.clone(),
            permissions,
            builtin,
        })
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let builtin: Option<bool> = sqlx::query_scalar(LOCK_ROLE)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        match builtin {
            None => return Err(StoreError::NotFound),
            Some(true) => return Err(StoreError::Conflict(Conflict::Other)),
            Some(false) => {}
        }
        bump_holders(&mut tx, name).await?;
        for statement in [REVOKE_GRANTS, CLEAR_PERMISSIONS, DELETE_ROLE] {
            sqlx::query(statement)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)
    }
}

/// Locks the role's holders (user rows, in id order) and raises the authorization version of
/// every session of theirs.
async fn bump_holders(conn: &mut PgConnection, role: &str) -> StoreResult<()> {
    let holders: Vec<Uuid> = sqlx::query_scalar(LOCK_HOLDERS)
        .bind(role)
        .fetch_all(&mut *conn)
        .await
        .map_err(map)?;
    if !holders.is_empty() {
        sqlx::query(BUMP_USERS)
            .bind(&holders)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
    }
    Ok(())
}

async fn grant_permissions(
    conn: &mut PgConnection,
    role: &str,
    permissions: &[String],
) -> StoreResult<()> {
    if !permissions.is_empty() {
        sqlx::query(GRANT_PERMISSIONS)
            .bind(role)
            .bind(permissions)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
    }
    Ok(())
}

fn role_from_row(row: &PgRow) -> StoreResult<Role> {
    Ok(Role {
        name: get(row, "name")?,
        description: get::<Option<String>>(row, "description")?.unwrap_or_default(),
        // Sorted in Rust: byte order whatever the database collation.
        permissions: sorted(get(row, "permissions")?),
        builtin: get(row, "builtin")?,
    })
}
