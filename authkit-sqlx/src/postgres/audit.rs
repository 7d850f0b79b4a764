//! [`AuditStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{AuditEvent, AuditQuery, Page, UserId};
use authkit_core::ports::{AuditStore, StoreResult};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgRow, Postgres};
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
const LIST: &str = "SELECT id, at, event, user_id, actor_id, host(ip) AS ip, user_agent, \
                    detail::text AS detail FROM authkit_audit_events WHERE true";

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

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
        let limit = query.limit as usize;
        let mut sql = QueryBuilder::<Postgres>::new(LIST);
        if let Some(before) = query.before {
            sql.push(" AND id < ").push_bind(before);
        }
        if let Some(user) = query.user_id {
            sql.push(" AND user_id = ").push_bind(user.as_uuid());
        }
        if let Some(event) = &query.event {
            sql.push(" AND event = ").push_bind(event.clone());
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let mut items = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, has_more })
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
