//! [`OutboxStore`] on PostgreSQL, and [`insert_mail`], which writes a [`QueuedMail`] inside the
//! transaction of the change it belongs to.

use async_trait::async_trait;
use authkit_core::domain::{
    ClaimedEmail, EmailId, EmailPayload, Locale, NewOneTimeToken, OutboxCounts, OutboxEntry,
    OutboxStatus, QueuedMail,
};
use authkit_core::ports::{OutboxStore, StoreError, StoreResult};
use sqlx::postgres::{PgConnection, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tokens::INSERT_TOKEN;
use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{attempts, count, email_kind, locale, outbox_status, recipient};

const INSERT_EMAIL: &str = "INSERT INTO authkit_outbox \
     (id, kind, recipient, locale, payload, status, attempts, next_attempt_at, created_at, \
     updated_at) \
     VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6, $6)";
/// The due rows are locked in the subquery: `FOR UPDATE` is what keeps two claimers from taking
/// one row (the second waits for the lock, then re-checks the row, which is no longer due);
/// `SKIP LOCKED` makes it skip rows another claimer holds instead of waiting and coming back
/// with a half-empty batch. Without the locking clause, concurrent claims do take rows twice
/// (the two-worker tests catch it).
const CLAIM: &str = "UPDATE authkit_outbox \
     SET status = 'processing', locked_until = $2, attempts = attempts + 1, updated_at = $1 \
     WHERE id IN (SELECT id FROM authkit_outbox \
                  WHERE (status = 'queued' AND next_attempt_at <= $1) \
                     OR (status = 'processing' AND locked_until <= $1) \
                  ORDER BY next_attempt_at, id LIMIT $3 \
                  FOR UPDATE SKIP LOCKED) \
     RETURNING id, kind, recipient, locale, payload, attempts, next_attempt_at, created_at";
const PREPARE: &str = "UPDATE authkit_outbox SET payload = $2, locale = $3, updated_at = $4 \
                       WHERE id = $1 AND status = 'processing'";
/// `sent` or `dropped` (`$3`): the payload is erased.
const FINISH: &str = "UPDATE authkit_outbox \
                      SET status = $3, payload = NULL, locked_until = NULL, updated_at = $2 \
                      WHERE id = $1 AND status = 'processing'";
/// Queued again at `$3`, or abandoned when `$3` is NULL (the payload is kept).
const FAIL: &str = "UPDATE authkit_outbox \
     SET status = CASE WHEN $3::timestamptz IS NULL THEN 'abandoned' ELSE 'queued' END, \
     next_attempt_at = COALESCE($3::timestamptz, next_attempt_at), \
     last_error = $2, locked_until = NULL, updated_at = $4 \
     WHERE id = $1 AND status = 'processing'";
const COUNTS: &str = "SELECT status, count(*) AS n FROM authkit_outbox GROUP BY status";
macro_rules! entry_columns {
    () => {
        "SELECT id, recipient, kind, status, attempts, next_attempt_at, last_error, created_at, \
         updated_at FROM authkit_outbox "
    };
}
const LIST_ALL: &str = concat!(entry_columns!(), "ORDER BY id LIMIT $1");
const LIST_STATUS: &str = concat!(entry_columns!(), "WHERE status = $2 ORDER BY id LIMIT $1");
const REQUEUE_ALL: &str = "UPDATE authkit_outbox \
     SET status = 'queued', attempts = 0, next_attempt_at = $1, locked_until = NULL, \
     updated_at = $1 \
     WHERE status = 'abandoned'";
const REQUEUE_IDS: &str = "UPDATE authkit_outbox \
     SET status = 'queued', attempts = 0, next_attempt_at = $1, locked_until = NULL, \
     updated_at = $1 \
     WHERE status = 'abandoned' AND id = ANY($2)";
const PURGE: &str = "DELETE FROM authkit_outbox \
                     WHERE status IN ('sent', 'dropped') AND updated_at < $1";

/// Writes `mail` (its token, then its messages as `queued`) on a transaction's connection.
pub(super) async fn insert_mail(conn: &mut PgConnection, mail: &QueuedMail) -> StoreResult<()> {
    if let Some(token) = &mail.token {
        insert_token(&mut *conn, token).await?;
    }
    for e in &mail.emails {
        sqlx::query(INSERT_EMAIL)
            .bind(e.id.as_uuid())
            .bind(e.kind.as_str())
            .bind(e.to.as_str())
            .bind(e.locale.as_ref().map(Locale::as_str))
            .bind(e.payload.expose())
            .bind(e.created_at)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
    }
    Ok(())
}

async fn insert_token(conn: &mut PgConnection, token: &NewOneTimeToken) -> StoreResult<()> {
    sqlx::query(INSERT_TOKEN)
        .bind(&token.hash.as_bytes()[..])
        .bind(token.purpose.as_str())
        .bind(token.user_id.as_uuid())
        .bind(token.email.as_str())
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

/// `NotFound` when a conditional update matched nothing.
fn found(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_mail(&mut tx, mail).await?;
        tx.commit().await.map_err(map)
    }

    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        let rows = sqlx::query(CLAIM)
            .bind(now)
            .bind(lease_until)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
        // RETURNING gives no order: oldest due first, as claimed.
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok((
                    get::<OffsetDateTime>(r, "next_attempt_at")?,
                    claimed_from_row(r)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|(due, e)| (*due, e.id));
        Ok(claimed.into_iter().map(|(_, e)| e).collect())
    }

    async fn prepare_email(
        &self,
        id: EmailId,
        token: &NewOneTimeToken,
        payload: &EmailPayload,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(PREPARE)
            .bind(id.as_uuid())
            .bind(payload.expose())
            .bind(locale.map(Locale::as_str))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        found(updated)?;
        insert_token(&mut tx, token).await?;
        tx.commit().await.map_err(map)
    }

    async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        self.finish(id, OutboxStatus::Sent, now).await
    }

    async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        self.finish(id, OutboxStatus::Dropped, now).await
    }

    async fn mark_email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let updated = sqlx::query(FAIL)
            .bind(id.as_uuid())
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        found(updated)
    }

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        let rows = sqlx::query(COUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(map)?;
        let mut counts = OutboxCounts::default();
        for r in &rows {
            counts.add(
                outbox_status(&get::<String>(r, "status")?)?,
                count(get(r, "n")?)?,
            );
        }
        Ok(counts)
    }

    async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let query = match status {
            None => sqlx::query(LIST_ALL).bind(i64::from(limit)),
            Some(s) => sqlx::query(LIST_STATUS)
                .bind(i64::from(limit))
                .bind(s.as_str()),
        };
        query
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64> {
        let query = if ids.is_empty() {
            sqlx::query(REQUEUE_ALL).bind(now)
        } else {
            let ids: Vec<Uuid> = ids.iter().map(EmailId::as_uuid).collect();
            sqlx::query(REQUEUE_IDS).bind(now).bind(ids)
        };
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Ok(sqlx::query(PURGE)
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected())
    }
}

impl PostgresStore {
    /// Marks a `processing` message `sent` or `dropped`, erasing its payload.
    async fn finish(
        &self,
        id: EmailId,
        status: OutboxStatus,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let updated = sqlx::query(FINISH)
            .bind(id.as_uuid())
            .bind(now)
            .bind(status.as_str())
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        found(updated)
    }
}

fn claimed_from_row(row: &PgRow) -> StoreResult<ClaimedEmail> {
    Ok(ClaimedEmail {
        id: EmailId(get(row, "id")?),
        to: recipient(&get::<String>(row, "recipient")?)?,
        kind: email_kind(&get::<String>(row, "kind")?)?,
        locale: locale(get(row, "locale")?)?,
        payload: EmailPayload::new(get::<String>(row, "payload")?),
        attempts: attempts(i64::from(get::<i32>(row, "attempts")?))?,
        created_at: get(row, "created_at")?,
    })
}

fn entry_from_row(row: &PgRow) -> StoreResult<OutboxEntry> {
    Ok(OutboxEntry {
        id: EmailId(get(row, "id")?),
        to: recipient(&get::<String>(row, "recipient")?)?,
        kind: email_kind(&get::<String>(row, "kind")?)?,
        status: outbox_status(&get::<String>(row, "status")?)?,
        attempts: attempts(i64::from(get::<i32>(row, "attempts")?))?,
        next_attempt_at: get(row, "next_attempt_at")?,
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}
