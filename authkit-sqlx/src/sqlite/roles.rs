//! [`RoleStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::ports::{RoleStore, StoreError, StoreResult};

use super::SqliteStore;
use crate::error::map;
use crate::rows::sorted;

/// `?1` is a JSON array of role names.
const PERMISSIONS_OF: &str = "SELECT DISTINCT permission FROM authkit_role_permissions \
                              WHERE role_name IN (SELECT value FROM json_each(?1))";

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
}
