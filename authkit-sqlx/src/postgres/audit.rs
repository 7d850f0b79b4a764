//! [`AuditStore`] on PostgreSQL.

use async_trait::async_trait;
use authkit_core::domain::{AuditEvent, AuditQuery, Page, UserId};
use authkit_core::ports::{AuditStore, StoreResult};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnection, PgRow, Postgres};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{ip, json, json_text};

/// The multi-row `INSERT` of `append_audits`, up to `VALUES`.
const APPEND: &str = "INSERT INTO authkit_audit_events \
                      (id, at, event, user_id, actor_id, ip, user_agent, detail) ";
/// Events per `INSERT`: 8 bind parameters each, and PostgreSQL allows at most 65535 in one
/// statement. Only the one-event `INSERT` (`append_audit`) stays prepared on the connection:
/// one prepared statement per batch size would crowd the others out of its statement cache.
const EVENTS_PER_INSERT: usize = 65535 / 8;
/// A slice of `purge_audit`: at most `$2` events whose `at` is before `$1`, found on the
/// primary key. Core's ids are the UUIDv7 of `at`, so every such event has an id below the
/// first id of the millisecond after `$1`'s (built below), where the walk stops instead of
/// reading the whole table.
const PURGE: &str = "DELETE FROM authkit_audit_events WHERE id IN \
     (SELECT id FROM authkit_audit_events \
      WHERE id < (lpad(to_hex(floor(extract(epoch FROM $1::timestamptz) * 1000)::bigint + 1), \
                       12, '0') || repeat('0', 20))::uuid \
      AND at < $1 ORDER BY id LIMIT $2)";
/// Events deleted per statement of a purge.
const PURGE_SLICE: i64 = 1_000;
const OF_USER: &str = "SELECT id, at, event, user_id, actor_id, host(ip) AS ip, user_agent, \
                       detail::text AS detail \
                       FROM authkit_audit_events WHERE user_id = $1 \
                       ORDER BY at DESC, id DESC LIMIT $2";
const LIST: &str = "SELECT id, at, event, user_id, actor_id, host(ip) AS ip, user_agent, \
                    detail::text AS detail FROM authkit_audit_events WHERE true";

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.append_audits(std::slice::from_ref(event)).await
    }

    /// One multi-row `INSERT`, autocommit; a batch too large for one `INSERT` takes several, in
    /// one transaction. No event, no statement.
    async fn append_audits(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        if events.len() <= EVENTS_PER_INSERT {
            let mut sql = insert_events(events)?;
            sql.build()
                .persistent(events.len() == 1)
                .execute(&self.pool)
                .await
                .map_err(map)?;
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            let mut sql = insert_events(chunk)?;
            sql.build()
                .persistent(chunk.len() == 1)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.delete_in_slices(PURGE, before, PURGE_SLICE).await
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

/// Appends `events` (at most [`EVENTS_PER_INSERT`]; none when `None`) on a transaction's
/// connection: the audit events of the change it writes (`create_user_audited`,
/// `create_session_audited`).
pub(super) async fn append_in(
    conn: &mut PgConnection,
    events: Option<&[AuditEvent]>,
) -> StoreResult<()> {
    if let Some(events) = events {
        insert_events(events)?
            .build()
            .execute(conn)
            .await
            .map_err(map)?;
    }
    Ok(())
}

/// The `INSERT` of `events` (one to [`EVENTS_PER_INSERT`] of them), in their order.
fn insert_events(events: &[AuditEvent]) -> StoreResult<QueryBuilder<Postgres>> {
    let rows = events
        .iter()
        .map(|e| Ok((e, json_text(&e.detail)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut sql = QueryBuilder::new(APPEND);
    sql.push_values(rows, |mut row, (e, detail)| {
        row.push_bind(e.id)
            .push_bind(e.at)
            .push_bind(e.event.as_str())
            .push_bind(e.user_id.map(|u| u.as_uuid()))
            .push_bind(e.actor_id.map(|u| u.as_uuid()))
            .push_bind(e.ip.map(|a| a.to_string()))
            .push_unseparated("::inet")
            .push_bind(e.user_agent.as_deref())
            .push_bind(detail)
            .push_unseparated("::jsonb");
    });
    Ok(sql)
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
