//! [`AuditStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{AuditEvent, UserId};
use authkit_core::ports::{AuditStore, StoreResult};
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{ip, json, json_text};

const APPEND: &str = "INSERT INTO authkit_audit_events \
                      (id, at, event, user_id, actor_id, ip, user_agent, detail) \
                      VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8::jsonb)";
const OF_USER: &str = "SELECT id, at, event, user_id, actor_id, host(ip) AS ip, user_agent, \
                       detail::text AS detail \
                       FROM authkit_audit_events WHERE user_id = $1 \
                       ORDER BY at DESC, id DESC LIMIT $2";

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        sqlx::query(APPEND)
            .bind(event.id)
            .bind(event.at)
            .bind(&event.event)
            .bind(event.user_id.map(|u| u.as_uuid()))
            .bind(event.actor_id.map(|u| u.as_uuid()))
            .bind(event.ip.map(|a| a.to_string()))
            .bind(event.user_agent.as_deref())
            .bind(json_text(&event.detail)?)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        sqlx::query(OF_USER)
            .bind(user.as_uuid())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(event_from_row)
            .collect()
    }
}

fn event_from_row(row: &PgRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: get(row, "id")?,
        at: get(row, "at")?,
        event: get(row, "event")?,
        user_id: get::<Option<Uuid>>(row, "user_id")?.map(UserId),
        actor_id: get::<Option<Uuid>>(row, "actor_id")?.map(UserId),
        ip: ip("ip", get(row, "ip")?)?,
        user_agent: get(row, "user_agent")?,
        detail: json("detail", &get::<String>(row, "detail")?)?,
    })
}
