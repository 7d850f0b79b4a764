//! [`RoleStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::Role;
use authkit_core::ports::{Conflict, RoleStore, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::{SqliteStore, get};
use crate::error::map;
use crate::rows::{corrupt, distinct, sorted};

/// `?1` is a JSON array of role names.
const PERMISSIONS_OF: &str = "SELECT DISTINCT permission FROM authkit_role_permissions \
                              WHERE role_name IN (SELECT value FROM json_each(?1))";
const ROLES: &str = "SELECT r.name AS name, r.description AS description, r.builtin AS builtin, \
                     (SELECT json_group_array(p.permission) FROM authkit_role_permissions p \
                      WHERE p.role_name = r.name) AS permissions \
                     FROM authkit_roles r ORDER BY r.name";
const INSERT_ROLE: &str =
    "INSERT INTO authkit_roles (name, description, builtin) VALUES (?1, ?2, 0)";
const UPDATE_ROLE: &str =
    "UPDATE authkit_roles SET description = ?2 WHERE name = ?1 RETURNING builtin";
const PERMISSIONS_OF_ROLE: &str =
    "SELECT permission FROM authkit_role_permissions WHERE role_name = ?1";
const CLEAR_PERMISSIONS: &str = "DELETE FROM authkit_role_permissions WHERE role_name = ?1";
const GRANT_PERMISSION: &str =
    "INSERT INTO authkit_role_permissions (role_name, permission) VALUES (?1, ?2)";
const IS_BUILTIN: &str = "SELECT builtin FROM authkit_roles WHERE name = ?1";
/// Raises the authorization version of every session of the role's holders.
const BUMP_HOLDERS: &str = "UPDATE authkit_sessions SET authz_version = authz_version + 1 \
                            WHERE user_id IN \
                            (SELECT user_id FROM authkit_user_roles WHERE role_name = ?1)";
const REVOKE_GRANTS: &str = "DELETE FROM authkit_user_roles WHERE role_name = ?1";
const DELETE_ROLE: &str = "DELETE FROM authkit_roles WHERE name = ?1";

#[async_trait]
impl RoleStore for SqliteStore {
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let names = serde_json::to_string(roles).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let permissions: Vec<String> = sqlx::query_scalar(PERMISSIONS_OF)
            .bind(names)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
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
        // Byte order, like every name list authkit returns.
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
            sqlx::query(BUMP_HOLDERS)
                .bind(&role.name)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
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
        let builtin: Option<bool> = sqlx::query_scalar(IS_BUILTIN)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        match builtin {
            None => return Err(StoreError::NotFound),
            Some(true) => return Err(StoreError::Conflict(Conflict::Other)),
            Some(false) => {}
        }
        sqlx::query(BUMP_HOLDERS)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        // Explicit rather than relying on the cascades: a pool built by the host may have
        // foreign keys off.
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

async fn grant_permissions(
    conn: &mut SqliteConnection,
    role: &str,
    permissions: &[String],
) -> StoreResult<()> {
    for permission in permissions {
        sqlx::query(GRANT_PERMISSION)
            .bind(role)
            .bind(permission)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
    }
    Ok(())
}

fn role_from_row(row: &SqliteRow) -> StoreResult<Role> {
    let permissions: Vec<String> = serde_json::from_str(&get::<String>(row, "permissions")?)
        .map_err(|e| corrupt("permissions", Some(Box::new(e))))?;
    Ok(Role {
        name: get(row, "name")?,
        description: get::<Option<String>>(row, "description")?.unwrap_or_default(),
        permissions: sorted(permissions),
        builtin: get(row, "builtin")?,
    })
}
