//! [`AuditStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::{AuditEvent, AuditQuery, Page, UserId};
use authkit_core::ports::{AuditStore, StoreResult};
use sqlx::QueryBuilder;
use sqlx::sqlite::{Sqlite, SqliteRow};

use super::batch::{Done, Write};
use super::{SqliteStore, get, micros, opt_uuid_at, time_at, uuid_at, uuid_text};
use crate::error::map;
use crate::rows::{ip, json, json_text};

/// The multi-row `INSERT` of `append_audits`, up to `VALUES`.
const APPEND: &str = "INSERT INTO authkit_audit_events \
                      (id, at, event, user_id, actor_id, ip, user_agent, detail) ";
/// Events per `INSERT`: 8 bind parameters each, and SQLite allows at most 32766 in one
/// statement. Only the one-event `INSERT` (`append_audit`) stays prepared on the connection:
/// one prepared statement per batch size would crowd the others out of its statement cache.
pub(super) const EVENTS_PER_INSERT: usize = 32766 / 8;
const OF_USER: &str = "SELECT id, at, event, user_id, actor_id, ip, user_agent, detail \
                       FROM authkit_audit_events WHERE user_id = ?1 \
                       ORDER BY at DESC, id DESC LIMIT ?2";
const LIST: &str = "SELECT id, at, event, user_id, actor_id, ip, user_agent, detail \
                    FROM authkit_audit_events WHERE 1 = 1";

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.append_audits(std::slice::from_ref(event)).await
    }

    /// One multi-row `INSERT` (several past the bind-parameter limit), written with whatever
    /// rotations and audit events queued up meanwhile (`batch`). No event, no statement.
    async fn append_audits(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        match self.batched(Write::Audit(events.to_vec())).await? {
            Done::Appended => Ok(()),
            Done::Rotated { .. } => Err(super::batch::stopped()),
        }
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        sqlx::query(OF_USER)
            .bind(uuid_text(user.as_uuid()))
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
        let mut sql = QueryBuilder::<Sqlite>::new(LIST);
        if let Some(before) = query.before {
            sql.push(" AND id < ").push_bind(uuid_text(before));
        }
        if let Some(user) = query.user_id {
            sql.push(" AND user_id = ")
                .push_bind(uuid_text(user.as_uuid()));
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

/// The `INSERT` of `events` (one to [`EVENTS_PER_INSERT`] of them), in their order.
pub(super) fn insert_events(events: &[&AuditEvent]) -> StoreResult<QueryBuilder<Sqlite>> {
    let rows = events
        .iter()
        .map(|e| Ok((e, micros(e.at)?, json_text(&e.detail)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut sql = QueryBuilder::new(APPEND);
    sql.push_values(rows, |mut row, (e, at, detail)| {
        row.push_bind(uuid_text(e.id))
            .push_bind(at)
            .push_bind(e.event.as_str())
            .push_bind(e.user_id.map(|u| uuid_text(u.as_uuid())))
            .push_bind(e.actor_id.map(|u| uuid_text(u.as_uuid())))
            .push_bind(e.ip.map(|a| a.to_string()))
            .push_bind(e.user_agent.as_deref())
            .push_bind(detail);
    });
    Ok(sql)
}

fn event_from_row(row: &SqliteRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: uuid_at(row, "id")?,
        at: time_at(row, "at")?,
        event: get(row, "event")?,
        user_id: opt_uuid_at(row, "user_id")?.map(UserId),
        actor_id: opt_uuid_at(row, "actor_id")?.map(UserId),
        ip: ip("ip", get(row, "ip")?)?,
        user_agent: get(row, "user_agent")?,
        detail: json("detail", &get::<String>(row, "detail")?)?,
    })
}
