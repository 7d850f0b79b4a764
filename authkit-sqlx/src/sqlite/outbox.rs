//! [`OutboxStore`] on SQLite, and [`insert_mail`], which writes a [`QueuedMail`] inside the
//! transaction of the change it belongs to.

use async_trait::async_trait;
use authkit_core::domain::{
    ClaimedEmail, EmailId, EmailPayload, Locale, NewEmail, NewOneTimeToken, OutboxCounts,
    OutboxEntry, OutboxStatus, QueuedMail,
};
use authkit_core::ports::{OutboxStore, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use time::OffsetDateTime;

use super::tokens::{INSERT_TOKEN, bind_token};
use super::{SqlQuery, SqliteStore, get, micros, time_at, uuid_at, uuid_text};
use crate::error::map;
use crate::rows::{attempts, count, email_kind, locale, outbox_status, recipient};

/// One `queued` message, bound by [`bind_email`]. Its parameters are anonymous (`?`, bound in
/// order) so that it can follow other statements in one command (`create_user`).
pub(super) const INSERT_EMAIL: &str = "INSERT INTO authkit_outbox \
     (id, kind, recipient, locale, payload, status, attempts, next_attempt_at, created_at, \
     updated_at) \
     VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?)";
/// One statement, so one write: SQLite takes the write lock before reading, and concurrent
/// claimers run one after the other, each seeing the previous one's claims.
const CLAIM: &str = "UPDATE authkit_outbox \
     SET status = 'processing', locked_until = ?2, attempts = attempts + 1, updated_at = ?1 \
     WHERE id IN (SELECT id FROM authkit_outbox \
                  WHERE (status = 'queued' AND next_attempt_at <= ?1) \
                     OR (status = 'processing' AND locked_until <= ?1) \
                  ORDER BY next_attempt_at, id LIMIT ?3) \
     RETURNING id, kind, recipient, locale, payload, attempts, next_attempt_at, created_at";
const PREPARE: &str = "UPDATE authkit_outbox SET payload = ?2, locale = ?3, updated_at = ?4 \
                       WHERE id = ?1 AND status = 'processing'";
/// `sent` or `dropped` (`?3`): the payload is erased.
const FINISH: &str = "UPDATE authkit_outbox \
                      SET status = ?3, payload = NULL, locked_until = NULL, updated_at = ?2 \
                      WHERE id = ?1 AND status = 'processing'";
/// Queued again at `?3`, or abandoned when `?3` is NULL (the payload is kept).
const FAIL: &str = "UPDATE authkit_outbox \
     SET status = CASE WHEN ?3 IS NULL THEN 'abandoned' ELSE 'queued' END, \
     next_attempt_at = coalesce(?3, next_attempt_at), \
     last_error = ?2, locked_until = NULL, updated_at = ?4 \
     WHERE id = ?1 AND status = 'processing'";
const COUNTS: &str = "SELECT status, count(*) AS n FROM authkit_outbox GROUP BY status";
macro_rules! entry_columns {
    () => {
        "SELECT id, recipient, kind, status, attempts, next_attempt_at, last_error, created_at, \
         updated_at FROM authkit_outbox "
    };
}
const LIST_ALL: &str = concat!(entry_columns!(), "ORDER BY id LIMIT ?1");
const LIST_STATUS: &str = concat!(entry_columns!(), "WHERE status = ?2 ORDER BY id LIMIT ?1");
const REQUEUE_ALL: &str = "UPDATE authkit_outbox \
     SET status = 'queued', attempts = 0, next_attempt_at = ?1, locked_until = NULL, \
     updated_at = ?1 \
     WHERE status = 'abandoned'";
/// `?2` is a JSON array of the ids.
const REQUEUE_IDS: &str = "UPDATE authkit_outbox \
     SET status = 'queued', attempts = 0, next_attempt_at = ?1, locked_until = NULL, \
     updated_at = ?1 \
     WHERE status = 'abandoned' AND id IN (SELECT value FROM json_each(?2))";
const PURGE: &str = "DELETE FROM authkit_outbox \
                     WHERE status IN ('sent', 'dropped') AND updated_at < ?1";

/// Writes `mail` (its token, then its messages as `queued`) on a transaction's connection.
pub(super) async fn insert_mail(conn: &mut SqliteConnection, mail: &QueuedMail) -> StoreResult<()> {
    if let Some(token) = &mail.token {
        insert_token(&mut *conn, token).await?;
    }
    for e in &mail.emails {
        bind_email(sqlx::query(INSERT_EMAIL), e)?
            .execute(&mut *conn)
            .await
            .map_err(map)?;
    }
    Ok(())
}

async fn insert_token(conn: &mut SqliteConnection, token: &NewOneTimeToken) -> StoreResult<()> {
    bind_token(sqlx::query(INSERT_TOKEN), token)?
        .execute(conn)
        .await
        .map_err(map)?;
    Ok(())
}

/// Binds `e` to the parameters of an [`INSERT_EMAIL`] that comes next in `query`.
pub(super) fn bind_email<'q>(query: SqlQuery<'q>, e: &'q NewEmail) -> StoreResult<SqlQuery<'q>> {
    let at = micros(e.created_at)?;
    Ok(query
        .bind(uuid_text(e.id.as_uuid()))
        .bind(e.kind.as_str())
        .bind(e.to.as_str())
        .bind(e.locale.as_ref().map(Locale::as_str))
        .bind(e.payload.expose())
        .bind(at)
        .bind(at)
        .bind(at))
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
impl OutboxStore for SqliteStore {
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
            .bind(micros(now)?)
            .bind(micros(lease_until)?)
            .bind(i64::from(limit))
            .fetch_all(self.writer())
            .await
            .map_err(map)?;
        // RETURNING gives no order: oldest due first, as claimed.
        let mut claimed = rows
            .iter()
            .map(|r| Ok((time_at(r, "next_attempt_at")?, claimed_from_row(r)?)))
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
            .bind(uuid_text(id.as_uuid()))
            .bind(payload.expose())
            .bind(locale.map(Locale::as_str))
            .bind(micros(now)?)
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
            .bind(uuid_text(id.as_uuid()))
            .bind(error)
            .bind(retry_at.map(micros).transpose()?)
            .bind(micros(now)?)
            .execute(self.writer())
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
            sqlx::query(REQUEUE_ALL).bind(micros(now)?)
        } else {
            let ids: Vec<String> = ids.iter().map(|id| uuid_text(id.as_uuid())).collect();
            let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(Box::new(e)))?;
            sqlx::query(REQUEUE_IDS).bind(micros(now)?).bind(ids)
        };
        Ok(query
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Ok(sqlx::query(PURGE)
            .bind(micros(before)?)
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected())
    }
}

impl SqliteStore {
    /// Marks a `processing` message `sent` or `dropped`, erasing its payload.
    async fn finish(
        &self,
        id: EmailId,
        status: OutboxStatus,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let updated = sqlx::query(FINISH)
            .bind(uuid_text(id.as_uuid()))
            .bind(micros(now)?)
            .bind(status.as_str())
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected();
        found(updated)
    }
}

fn claimed_from_row(row: &SqliteRow) -> StoreResult<ClaimedEmail> {
    Ok(ClaimedEmail {
        id: EmailId(uuid_at(row, "id")?),
        to: recipient(&get::<String>(row, "recipient")?)?,
        kind: email_kind(&get::<String>(row, "kind")?)?,
        locale: locale(get(row, "locale")?)?,
        payload: EmailPayload::new(get::<String>(row, "payload")?),
        attempts: attempts(get(row, "attempts")?)?,
        created_at: time_at(row, "created_at")?,
    })
}

fn entry_from_row(row: &SqliteRow) -> StoreResult<OutboxEntry> {
    Ok(OutboxEntry {
        id: EmailId(uuid_at(row, "id")?),
        to: recipient(&get::<String>(row, "recipient")?)?,
        kind: email_kind(&get::<String>(row, "kind")?)?,
        status: outbox_status(&get::<String>(row, "status")?)?,
        attempts: attempts(get(row, "attempts")?)?,
        next_attempt_at: time_at(row, "next_attempt_at")?,
        last_error: get(row, "last_error")?,
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use authkit_core::domain::{Email, EmailKind, NewEmail};
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05.123456 UTC);

    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/authkit.db", dir.path().display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    fn message(at: OffsetDateTime) -> NewEmail {
        NewEmail {
            id: EmailId::new_v7(at),
            to: Email::parse("ada@example.com").unwrap(),
            kind: EmailKind::PasswordChanged,
            locale: Some(Locale::parse("pt-BR").unwrap()),
            payload: EmailPayload::new("secret link"),
            created_at: at,
        }
    }

    async fn payload_of(store: &SqliteStore, id: EmailId) -> Option<String> {
        sqlx::query_scalar("SELECT payload FROM authkit_outbox WHERE id = ?1")
            .bind(uuid_text(id.as_uuid()))
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// `sent` and `dropped` erase the payload; a failure keeps it.
    #[tokio::test]
    async fn delivered_messages_lose_their_payload() {
        let (store, _dir) = store().await;
        let (a, b, c) = (message(T0), message(T0), message(T0));
        store
            .enqueue_mail(&QueuedMail {
                token: None,
                emails: vec![a.clone(), b.clone(), c.clone()],
            })
            .await
            .unwrap();
        assert_eq!(store.claim_emails(T0, T0, 10).await.unwrap().len(), 3);
        store.mark_email_sent(a.id, T0).await.unwrap();
        store.mark_email_dropped(b.id, T0).await.unwrap();
        store.mark_email_failed(c.id, "x", None, T0).await.unwrap();
        assert_eq!(payload_of(&store, a.id).await, None);
        assert_eq!(payload_of(&store, b.id).await, None);
        assert_eq!(
            payload_of(&store, c.id).await.as_deref(),
            Some("secret link")
        );
    }

    /// A row that does not convert (unknown kind, bad recipient, unnormalized locale, unknown
    /// status) is a `Backend` error, never a panic.
    #[tokio::test]
    async fn corrupt_rows_are_backend_errors() {
        for (column, value) in [
            ("kind", "carrier_pigeon"),
            ("recipient", "not an email"),
            ("recipient", "Ada@Example.com"),
            ("locale", "PT_br"),
            ("locale", "english please"),
        ] {
            let (store, _dir) = store().await;
            let m = message(T0);
            store
                .enqueue_mail(&QueuedMail {
                    token: None,
                    emails: vec![m.clone()],
                })
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE authkit_outbox SET {column} = ?1"
            )))
            .bind(value)
            .execute(store.pool())
            .await
            .unwrap();
            let listed = store.list_outbox(None, 10).await;
            if column != "locale" {
                assert!(
                    matches!(listed, Err(StoreError::Backend(_))),
                    "{column} = {value:?}: list_outbox gave {listed:?}"
                );
            }
            let claimed = store.claim_emails(T0, T0, 10).await;
            assert!(
                matches!(claimed, Err(StoreError::Backend(_))),
                "{column} = {value:?}: claim_emails gave {claimed:?}"
            );
        }
        // The status CHECK keeps unknown statuses out; one slipped past it is refused too.
        let (store, _dir) = store().await;
        let m = message(T0);
        store
            .enqueue_mail(&QueuedMail {
                token: None,
                emails: vec![m],
            })
            .await
            .unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::raw_sql(
            "PRAGMA ignore_check_constraints = ON; UPDATE authkit_outbox SET status = 'lost'",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        let counts = store.outbox_counts().await;
        assert!(
            matches!(counts, Err(StoreError::Backend(_))),
            "an unknown status: {counts:?}"
        );
    }
}
