//! [`RoleStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::ports::{RoleStore, StoreResult};

use super::PostgresStore;
use crate::error::map;
use crate::rows::sorted;

const PERMISSIONS_OF: &str = "SELECT DISTINCT permission FROM authkit_role_permissions \
                              WHERE role_name = ANY($1)";

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
}
