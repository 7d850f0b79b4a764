//! Group commit of the two writes every busy server makes most: refresh-token rotations and
//! audit events.
//!
//! SQLite has one writer, and through sqlx each statement is a round trip to the connection's
//! thread, and each loan of the writer pool a further one (sqlx pings a connection when it comes
//! back). Measured under load, the writer connection was busy a quarter of the time and held the
//! rest waiting on those hand-offs, so refreshes queued behind it. Here one task takes the writer
//! once for everything that queued up meanwhile, runs it in one `BEGIN IMMEDIATE` transaction
//! (one commit), and answers each caller after the commit. A job alone runs as it would have
//! without the batcher (autocommit).
//!
//! Any failed statement or commit fails every job of its batch and rolls the batch back: a
//! caller is only told "done" for what was committed.

use std::sync::{Mutex, PoisonError};

use authkit_core::domain::AuditEvent;
use authkit_core::ports::{StoreError, StoreResult};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::BEGIN_IMMEDIATE;
use super::audit::{EVENTS_PER_INSERT, insert_events};
use super::sessions::ROTATE;
use crate::error::map;

/// Jobs waiting for the writer task before callers wait to queue.
const QUEUE: usize = 1024;
/// The most jobs written in one transaction.
const BATCH: usize = 128;

/// One write handed to the writer task, and where its result goes.
pub(super) struct Job {
    pub(super) write: Write,
    pub(super) answer: oneshot::Sender<StoreResult<Done>>,
}

/// The statements of a job.
pub(super) enum Write {
    /// The rotation's conditional `UPDATE … RETURNING` ([`ROTATE`]).
    Rotate {
        presented: [u8; 32],
        next: [u8; 32],
        now: i64,
        idle_expires_at: i64,
    },
    /// Audit events, appended in order.
    Audit(Vec<AuditEvent>),
}

/// What a job's statements returned (sent once its batch committed).
pub(super) enum Done {
    /// The rows of [`Write::Rotate`].
    Rotated(Vec<SqliteRow>),
    /// [`Write::Audit`] was written.
    Appended,
}

impl Job {
    /// A job and the receiver of its result.
    pub(super) fn new(write: Write) -> (Self, oneshot::Receiver<StoreResult<Done>>) {
        let (answer, result) = oneshot::channel();
        (Self { write, answer }, result)
    }
}

/// The handle on a store's writer task, started with the first job (in that caller's runtime)
/// and again if that runtime has ended since.
#[derive(Debug, Default)]
pub(super) struct Batcher {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Batcher {
    /// Hands `job` to the writer task (writing through `writer`). The caller then awaits the
    /// answer it put in the job.
    pub(super) async fn submit(&self, writer: &SqlitePool, job: Job) -> StoreResult<()> {
        let mut job = job;
        // Twice at most: a task whose runtime ended is replaced once.
        for _ in 0..2 {
            let queue = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                match &*queue {
                    Some(tx) if !tx.is_closed() => tx.clone(),
                    _ => {
                        let (tx, rx) = mpsc::channel(QUEUE);
                        tokio::spawn(write_batches(writer.clone(), rx));
                        *queue = Some(tx.clone());
                        tx
                    }
                }
            };
            match queue.send(job).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        Err(stopped())
    }
}

/// The error of a job whose writer task stopped before answering.
pub(super) fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer task stopped".into())
}

/// The writer task: everything queued (at most [`BATCH`] jobs) in one transaction, then the
/// answers, and again, until the store is dropped.
async fn write_batches(writer: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let results = write(&writer, &jobs).await;
        answer(jobs.drain(..), results);
    }
}

/// Runs `jobs`: alone in autocommit, several in one transaction. `Ok` holds each job's result.
async fn write(writer: &SqlitePool, jobs: &[Job]) -> StoreResult<Vec<Done>> {
    if let [job] = jobs
        && !matches!(&job.write, Write::Audit(events) if events.len() > EVENTS_PER_INSERT)
    {
        let mut conn = writer.acquire().await.map_err(map)?;
        return Ok(vec![run(&mut conn, &job.write).await?]);
    }
    let mut tx = writer.begin_with(BEGIN_IMMEDIATE).await.map_err(map)?;
    let mut done = Vec::with_capacity(jobs.len());
    for job in jobs {
        // On error the transaction is rolled back when `tx` drops.
        done.push(run(&mut tx, &job.write).await?);
    }
    tx.commit().await.map_err(map)?;
    Ok(done)
}

/// One job's statements on `conn`.
async fn run(conn: &mut SqliteConnection, write: &Write) -> StoreResult<Done> {
    match write {
        Write::Rotate {
            presented,
            next,
            now,
            idle_expires_at,
        } => {
            // `fetch_all`: stepping an autocommit statement to its end reports a failed commit
            // (see `rotate_refresh`).
            let rows = sqlx::query::<Sqlite>(ROTATE)
                .bind(&presented[..])
                .bind(&next[..])
                .bind(*now)
                .bind(*idle_expires_at)
                .fetch_all(&mut *conn)
                .await
                .map_err(map)?;
            Ok(Done::Rotated(rows))
        }
        Write::Audit(events) => {
            for chunk in events.chunks(EVENTS_PER_INSERT) {
                insert_events(chunk)?
                    .build()
                    .persistent(chunk.len() == 1)
                    .execute(&mut *conn)
                    .await
                    .map_err(map)?;
            }
            Ok(Done::Appended)
        }
    }
}

/// Sends each job its result, or the batch's error.
fn answer(jobs: impl Iterator<Item = Job>, results: StoreResult<Vec<Done>>) {
    match results {
        Ok(done) => {
            for (job, done) in jobs.zip(done) {
                let _ = job.answer.send(Ok(done));
            }
        }
        Err(error) => {
            for job in jobs {
                let _ = job.answer.send(Err(same(&error)));
            }
        }
    }
}

/// A copy of a batch's error for each of its jobs (the source as text).
fn same(error: &StoreError) -> StoreError {
    match error {
        StoreError::Conflict(c) => StoreError::Conflict(*c),
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Unavailable(e) => StoreError::Unavailable(e.to_string().into()),
        other => StoreError::Backend(other.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use authkit_core::domain::{
        Email, NewSession, NewUser, PasswordHash, QueuedMail, SessionId, TokenHash, UserId,
    };
    use authkit_core::ports::{AuditStore, SessionStore, UserStore};
    use serde_json::json;
    use time::OffsetDateTime;
    use time::macros::datetime;

    use super::*;
    use crate::SqliteStore;
    use crate::sqlite::micros;

    const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05 UTC);

    /// A migrated store with one session whose refresh hash is `TokenHash::of("first")`.
    async fn store_with_session() -> (SqliteStore, SessionId, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/authkit.db", dir.path().display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let user = store
            .create_user(
                &NewUser {
                    id: UserId::new_v7(T0),
                    email: Email::parse("ada@example.com").unwrap(),
                    display_name: None,
                    locale: None,
                    password_hash: PasswordHash::new("$argon2id$test"),
                    roles: vec!["user".to_owned()],
                    now: T0,
                },
                &QueuedMail::none(),
            )
            .await
            .unwrap();
        let session = store
            .create_session(&NewSession {
                id: SessionId::new_v7(T0),
                user_id: user.id,
                refresh_hash: TokenHash::of("first"),
                now: T0,
                expires_at: T0 + time::Duration::days(1),
                idle_expires_at: T0 + time::Duration::days(1),
                remember_me: false,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap();
        (store, session.id, dir)
    }

    fn rotate(presented: &str, next: &str) -> Write {
        Write::Rotate {
            presented: *TokenHash::of(presented).as_bytes(),
            next: *TokenHash::of(next).as_bytes(),
            now: micros(T0).unwrap(),
            idle_expires_at: micros(T0 + time::Duration::days(1)).unwrap(),
        }
    }

    fn audit(id: uuid::Uuid) -> Write {
        Write::Audit(vec![AuditEvent {
            id,
            at: T0,
            event: "refresh".to_owned(),
            user_id: None,
            actor_id: None,
            ip: None,
            user_agent: None,
            detail: json!({}),
        }])
    }

    fn rows(done: &Done) -> usize {
        match done {
            Done::Rotated(rows) => rows.len(),
            Done::Appended => usize::MAX,
        }
    }

    /// Several jobs in one transaction: a rotation, the same token again (no row: the first
    /// moved the hash), the new token, and an event; every result is that of running them in
    /// order.
    #[tokio::test]
    async fn a_batch_runs_its_jobs_in_order_in_one_transaction() {
        let (store, _, _dir) = store_with_session().await;
        let writes = [
            rotate("first", "second"),
            rotate("first", "other"),
            rotate("second", "third"),
            audit(uuid::Uuid::now_v7()),
        ];
        let (jobs, results): (Vec<_>, Vec<_>) = writes.into_iter().map(Job::new).unzip();
        let done = write(store.writer(), &jobs).await.unwrap();
        assert_eq!(
            done.iter().map(rows).collect::<Vec<_>>(),
            [1, 0, 1, usize::MAX]
        );
        answer(jobs.into_iter(), Ok(done));
        for result in results {
            result.await.unwrap().unwrap();
        }
        let spent: i64 = sqlx::query_scalar("SELECT count(*) FROM authkit_spent_refresh_tokens")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(spent, 2);
    }

    /// A failing statement fails every job of its batch, and nothing of the batch is committed.
    #[tokio::test]
    async fn a_failed_job_fails_its_whole_batch_and_nothing_is_written() {
        let (store, session, _dir) = store_with_session().await;
        let taken = uuid::Uuid::now_v7();
        let Write::Audit(events) = audit(taken) else {
            unreachable!()
        };
        store.append_audits(&events).await.unwrap();
        let writes = [rotate("first", "second"), audit(taken)];
        let (jobs, results): (Vec<_>, Vec<_>) = writes.into_iter().map(Job::new).unzip();
        let outcome = write(store.writer(), &jobs).await;
        assert!(outcome.is_err());
        answer(jobs.into_iter(), outcome);
        for result in results {
            assert!(result.await.unwrap().is_err());
        }
        // The rotation was rolled back: "first" is still the session's token.
        let hash: Vec<u8> =
            sqlx::query_scalar("SELECT refresh_hash FROM authkit_sessions WHERE id = ?1")
                .bind(crate::sqlite::uuid_text(session.as_uuid()))
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(hash, TokenHash::of("first").as_bytes());
    }

    /// Through the store: concurrent rotations of one token, queued together, rotate it once;
    /// the others see it spent.
    #[tokio::test]
    async fn concurrent_rotations_through_the_batcher_rotate_once() {
        let (store, _, _dir) = store_with_session().await;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .rotate_refresh(&authkit_core::domain::RefreshRotation {
                            presented: TokenHash::of("first"),
                            next: TokenHash::of(&format!("next-{i}")),
                            now: T0,
                            idle_expires_at: T0 + time::Duration::days(1),
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut rotated = 0;
        for task in tasks {
            if matches!(
                task.await.unwrap(),
                authkit_core::domain::RotateOutcome::Rotated(_)
            ) {
                rotated += 1;
            }
        }
        assert_eq!(rotated, 1);
    }
}
