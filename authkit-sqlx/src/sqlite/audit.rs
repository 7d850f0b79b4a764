//! [`AuditStore`] on SQLite.

use async_trait::async_trait;
use authkit_core::domain::{AuditEvent, AuditQuery, Page, UserId};
use authkit_core::ports::{AuditStore, StoreError, StoreResult};
use sqlx::QueryBuilder;
use sqlx::sqlite::{Sqlite, SqliteRow};
use time::OffsetDateTime;

use super::batch::{Done, Write};
use super::{SqliteStore, get, micros, opt_uuid_at, time_at, uuid_at, uuid_text};
use crate::error::map;
use crate::rows::{ip, json, json_text};

/// The `INSERT` of `append_audits`: every event of the JSON array `?` ([`events_json`]), in
/// order. One parameter whatever the number of events, so one statement text, which stays
/// prepared on the writer, and no bind-parameter limit. The parameter is anonymous so that
/// the statement can follow others in one command (`create_user_audited`).
pub(super) const APPEND: &str = "INSERT INTO authkit_audit_events \
     (id, at, event, user_id, actor_id, ip, user_agent, detail) \
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
     value ->> 6, value ->> 7 FROM json_each(?) ORDER BY key";
const OF_USER: &str = "SELECT id, at, event, user_id, actor_id, ip, user_agent, detail \
                       FROM authkit_audit_events WHERE user_id = ?1 \
                       ORDER BY at DESC, id DESC LIMIT ?2";
const LIST: &str = "SELECT id, at, event, user_id, actor_id, ip, user_agent, detail \
                    FROM authkit_audit_events WHERE 1 = 1";
/// A slice of `purge_audit`: at most `?2` events whose `at` is before `?1` (µs), found on the
/// primary key. Core's ids are the UUIDv7 of `at`, so every such event has an id whose
/// timestamp is at most `?1`'s millisecond: its text sorts before the id prefix of the next
/// millisecond (`printf` below), and the walk stops there instead of reading the whole table.
const PURGE: &str = "DELETE FROM authkit_audit_events WHERE id IN \
     (SELECT id FROM authkit_audit_events \
      WHERE id < printf('%08x-%04x', (?1 / 1000 + 1) >> 16, (?1 / 1000 + 1) & 65535) \
      AND at < ?1 ORDER BY id LIMIT ?2)";
/// Events deleted per statement of a purge.
const PURGE_SLICE: i64 = 500;

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

    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.delete_in_slices(PURGE, micros(before)?, PURGE_SLICE)
            .await
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

/// The parameter of [`APPEND`]: `events` as a JSON array of rows, each the array of the
/// columns' values (times in microseconds, `detail` as its JSON text).
pub(super) fn events_json(events: &[&AuditEvent]) -> StoreResult<String> {
    let rows = events
        .iter()
        .map(|e| {
            Ok((
                uuid_text(e.id),
                micros(e.at)?,
                e.event.as_str(),
                e.user_id.map(|u| uuid_text(u.as_uuid())),
                e.actor_id.map(|u| uuid_text(u.as_uuid())),
                e.ip.map(|a| a.to_string()),
                e.user_agent.as_deref(),
                json_text(&e.detail)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    serde_json::to_string(&rows).map_err(|e| StoreError::Backend(Box::new(e)))
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
