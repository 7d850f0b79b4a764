//! Group commit of the two writes every busy server makes most: refresh-token rotations and
//! audit events.
//!
//! SQLite has one writer, and through sqlx each statement is a round trip to the connection's
//! thread, and each loan of the writer pool a further one (sqlx pings a connection when it comes
//! back). Measured under load, the writer connection was busy a quarter of the time and held the
//! rest waiting on those hand-offs, so refreshes queued behind it. Here one task takes the writer
//! for everything that queued up meanwhile and writes it in few statements: every rotation in
//! one `UPDATE` (and one read of the owners the rotations ask for), then every event in one
//! `INSERT`, the audit events of the refreshes that rotated included
//! (`rotate_refresh_audited`), so that a refresh waits for the writer once; each statement is
//! atomic on its own (autocommit). A failed statement fails the jobs it carried, and only them.

use authkit_core::domain::{AuditEvent, RefreshAudit, SessionId, SessionOwner, UserId};
use authkit_core::job_queue::JobQueue;
use authkit_core::ports::{StoreError, StoreResult};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::audit::{APPEND, events_json};
use super::sessions::{OWNERS, ROTATE_FROM, ROTATE_WITH, owner_from_row};
use super::{get, uuid_at};
use crate::error::map;

/// Jobs waiting for the writer task before callers wait to queue.
const QUEUE: usize = 1024;
/// The most jobs written in one transaction.
const BATCH: usize = 128;
/// The most batches written on one loan of the writer.
const BATCHES_PER_LOAN: usize = 8;

/// One write handed to the writer task, and where its result goes.
pub(super) struct Job {
    pub(super) write: Write,
    pub(super) answer: oneshot::Sender<StoreResult<Done>>,
}

/// The statements of a job.
pub(super) enum Write {
    /// A rotation's conditional `UPDATE … RETURNING` ([`ROTATE_FROM`]).
    Rotate(Rotation),
    /// Audit events, appended in order.
    Audit(Vec<AuditEvent>),
}

/// The values of one rotation (`rotate_refresh`): hashes as bytes, times in microseconds,
/// whether the caller wants the session's owner too (`rotate_refresh_with_owner`), and the audit
/// event to append when it rotates (`rotate_refresh_audited`).
pub(super) struct Rotation {
    pub(super) selector: [u8; 16],
    pub(super) presented: [u8; 32],
    pub(super) next: [u8; 32],
    pub(super) now: i64,
    pub(super) idle_expires_at: i64,
    pub(super) with_owner: bool,
    pub(super) audit: Option<RefreshAudit>,
}

/// What a job's statements returned (sent once its batch committed).
pub(super) enum Done {
    /// What [`Write::Rotate`] returned.
    Rotated {
        /// The updated session's row, if one matched.
        rows: Vec<SqliteRow>,
        /// Its owner, when asked for and read ([`read_owners`]); `None` when the owner read
        /// failed or found nothing, and the caller reads it again. (Boxed: a user is large.)
        owner: Option<Box<SessionOwner>>,
        /// Whether the rotation's audit event was appended (with the batch's events); when not,
        /// the caller appends it.
        audited: bool,
    },
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

/// A store's writer: a queue in front of one task ([`JobQueue`]).
#[derive(Debug)]
pub(super) struct Batcher {
    queue: JobQueue<Job>,
}

impl Default for Batcher {
    fn default() -> Self {
        Self {
            queue: JobQueue::new(QUEUE),
        }
    }
}

impl Batcher {
    /// Hands `job` to the writer task (writing through `writer`). The caller then awaits the
    /// answer it put in the job.
    pub(super) async fn submit(&self, writer: &SqlitePool, job: Job) -> StoreResult<()> {
        let start = |rx| write_batches(writer.clone(), rx);
        self.queue.send(job, start).await.map_err(|_| stopped())
    }
}

/// The error of a job whose writer task stopped before answering.
pub(super) fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer task stopped".into())
}

/// The writer task: everything queued (at most [`BATCH`] jobs) as one batch, then the answers,
/// and again, until the store is dropped. The writer is kept for the next batch when one is
/// already waiting, up to [`BATCHES_PER_LOAN`] batches, so that other writers get their turn.
async fn write_batches(writer: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(BATCH);
    loop {
        // Jobs taken at the end of the last loan are written first.
        if jobs.is_empty() && rx.recv_many(&mut jobs, BATCH).await == 0 {
            return;
        }
        let mut conn = match writer.acquire().await.map_err(map) {
            Ok(conn) => conn,
            Err(error) => {
                for job in jobs.drain(..) {
                    let _ = job.answer.send(Err(same(&error)));
                }
                continue;
            }
        };
        for loan in 1..=BATCHES_PER_LOAN {
            write(&mut conn, std::mem::take(&mut jobs)).await;
            if loan == BATCHES_PER_LOAN || rx.is_empty() {
                break;
            }
            rx.recv_many(&mut jobs, BATCH).await;
        }
    }
}

/// Runs a batch on the writer: every rotation in one `UPDATE` (and the owners the rotations
/// ask for in one read), then every audit event in one `INSERT`, the events of the rotations
/// that carry one included, each statement atomic on its own (autocommit). Answers each job as
/// soon as its statements are done (a rotation without an event before the events are written);
/// a failed statement fails the jobs it carried (a rotation whose event was not written is
/// answered as rotated but not audited).
async fn write(conn: &mut SqliteConnection, jobs: Vec<Job>) {
    let (rotations, appends): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|job| matches!(job.write, Write::Rotate(_)));
    let audited = if rotations.is_empty() {
        Vec::new()
    } else {
        rotate_jobs(conn, rotations).await
    };
    if !appends.is_empty() || !audited.is_empty() {
        append_jobs(conn, appends, audited).await;
    }
}

/// A rotation that happened and carries an audit event: answered once the event is written
/// ([`append_jobs`]).
struct AuditedRotation {
    answer: oneshot::Sender<StoreResult<Done>>,
    row: SqliteRow,
    owner: Option<Box<SessionOwner>>,
    event: AuditEvent,
}

/// The rotations of a batch: one `UPDATE` ([`rotate_all`]), the owners asked for
/// ([`read_owners`]), then each job's answer, but for the rotations whose audit event is still
/// to be written: those are returned, with their events.
async fn rotate_jobs(conn: &mut SqliteConnection, jobs: Vec<Job>) -> Vec<AuditedRotation> {
    let rotations: Vec<&Rotation> = jobs
        .iter()
        .filter_map(|job| match &job.write {
            Write::Rotate(rotation) => Some(rotation),
            Write::Audit(_) => None,
        })
        .collect();
    let mut rotated = rotate_all(conn, &rotations).await;
    let owners = match &rotated {
        Ok(rows) if rotations.iter().any(|r| r.with_owner) && !rows.is_empty() => {
            read_owners(conn, rows).await
        }
        _ => Vec::new(),
    };
    let mut audited = Vec::new();
    for job in jobs {
        let result = match (&job.write, &mut rotated) {
            (
                Write::Rotate(Rotation {
                    next,
                    with_owner,
                    audit,
                    ..
                }),
                Ok(rows),
            ) => {
                // A job's row is the one that now holds its `next` hash (random, unique).
                let mine = rows
                    .iter()
                    .position(|(hash, _)| hash.as_slice() == next.as_slice());
                let row = mine.map(|i| rows.swap_remove(i).1);
                let owner = match &row {
                    Some(row) if *with_owner => owner_of(row, &owners).map(Box::new),
                    _ => None,
                };
                match (row, audit) {
                    (Some(row), Some(audit)) => match refresh_event(audit, &row) {
                        Some(event) => {
                            audited.push(AuditedRotation {
                                answer: job.answer,
                                row,
                                owner,
                                event,
                            });
                            continue;
                        }
                        None => Ok(Done::Rotated {
                            rows: vec![row],
                            owner,
                            audited: false,
                        }),
                    },
                    (row, _) => Ok(Done::Rotated {
                        rows: row.into_iter().collect(),
                        owner,
                        audited: false,
                    }),
                }
            }
            (_, Err(error)) => Err(same(error)),
            (Write::Audit(_), Ok(_)) => Err(stopped()),
        };
        let _ = job.answer.send(result);
    }
    audited
}

/// The audit event of the refresh that rotated the session of `row`; `None` when the row's
/// ids do not read (the caller then fails on them too).
fn refresh_event(audit: &RefreshAudit, row: &SqliteRow) -> Option<AuditEvent> {
    let session = SessionId(uuid_at(row, "id").ok()?);
    let user = UserId(uuid_at(row, "user_id").ok()?);
    Some(audit.event(session, user))
}

/// The audit events of a batch in one `INSERT` ([`append_all`]): the events of the `jobs`, in
/// order, then those of the `rotations` that carry one; then each one's answer.
async fn append_jobs(conn: &mut SqliteConnection, jobs: Vec<Job>, rotations: Vec<AuditedRotation>) {
    let events: Vec<&AuditEvent> = jobs
        .iter()
        .filter_map(|job| match &job.write {
            Write::Audit(events) => Some(events.iter()),
            Write::Rotate(_) => None,
        })
        .flatten()
        .chain(rotations.iter().map(|rotation| &rotation.event))
        .collect();
    let appended = if events.is_empty() {
        Ok(())
    } else {
        append_all(conn, &events).await
    };
    for job in jobs {
        let result = match &appended {
            Ok(()) => Ok(Done::Appended),
            Err(error) => Err(same(error)),
        };
        let _ = job.answer.send(result);
    }
    for rotation in rotations {
        let _ = rotation.answer.send(Ok(Done::Rotated {
            rows: vec![rotation.row],
            owner: rotation.owner,
            audited: appended.is_ok(),
        }));
    }
}

/// Every rotation of a batch in one conditional `UPDATE … FROM (VALUES …) … RETURNING`
/// ([`ROTATE_FROM`]): a session matches when its current hash is a presented one and
/// it is live at that rotation's `now`; it takes that rotation's `next` hash (and nothing else
/// is written: migration 9). One statement, so atomic. When one token is presented twice in a
/// batch, one of the two rotations takes the row (SQLite uses one joined row per updated row)
/// and the other matches nothing, as if it had come second; it then finds another hash current
/// and revokes the session (`rotate_refresh`'s slow path). Returns each updated row with its
/// new hash.
async fn rotate_all(
    conn: &mut SqliteConnection,
    rotations: &[&Rotation],
) -> StoreResult<Vec<(Vec<u8>, SqliteRow)>> {
    // The `VALUES` rows, padded to a power of two with rows that match no session (an empty
    // selector and hash; stored ones have 16 and 32 bytes), so that a few statement texts serve
    // every batch size and stay prepared on the writer (preparing the `UPDATE` with its trigger
    // costs about as much as running it).
    let padded = rotations.len().next_power_of_two();
    let values = rotations
        .iter()
        .map(|r| {
            (
                &r.selector[..],
                &r.presented[..],
                &r.next[..],
                r.now,
                r.idle_expires_at,
            )
        })
        .chain(std::iter::repeat((&[][..], &[][..], &[][..], 0, 0)))
        .take(padded);
    let mut sql = QueryBuilder::<Sqlite>::new(ROTATE_WITH);
    sql.push_values(values, |mut row, (selector, presented, next, now, idle)| {
        row.push_bind(selector.to_vec())
            .push_bind(presented.to_vec())
            .push_bind(next.to_vec())
            .push_bind(now)
            .push_bind(idle);
    });
    sql.push(ROTATE_FROM);
    // `fetch_all`: stepping an autocommit statement to its end reports a failed commit (see
    // `rotate_refresh`).
    let rows = sql.build().fetch_all(&mut *conn).await.map_err(map)?;
    rows.into_iter()
        .map(|row| Ok((get::<Vec<u8>>(&row, "refresh_hash")?, row)))
        .collect()
}

/// The owners of the sessions of `rotated` rows, in one statement ([`OWNERS`]): each user with
/// its permissions, by user id. Empty when the read fails: the callers then read their owner
/// themselves (`rotate_refresh_with_owner`), and a lasting failure is reported there.
async fn read_owners(
    conn: &mut SqliteConnection,
    rotated: &[(Vec<u8>, SqliteRow)],
) -> Vec<(String, SessionOwner)> {
    let mut ids: Vec<String> = rotated
        .iter()
        .filter_map(|(_, row)| get::<String>(row, "user_id").ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let Ok(ids) = serde_json::to_string(&ids) else {
        return Vec::new();
    };
    let Ok(rows) = sqlx::query(OWNERS.as_str())
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
    else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|row| Some((get::<String>(row, "id").ok()?, owner_from_row(row).ok()?)))
        .collect()
}

/// The owner of the session in `row`, among `owners`.
fn owner_of(row: &SqliteRow, owners: &[(String, SessionOwner)]) -> Option<SessionOwner> {
    let user_id = get::<String>(row, "user_id").ok()?;
    owners
        .iter()
        .find(|(id, _)| *id == user_id)
        .map(|(_, owner)| owner.clone())
}

/// Every event of a batch, in order, in one `INSERT` ([`APPEND`], autocommit).
async fn append_all(conn: &mut SqliteConnection, events: &[&AuditEvent]) -> StoreResult<()> {
    sqlx::query(APPEND)
        .bind(events_json(events)?)
        .execute(&mut *conn)
        .await
        .map_err(map)?;
    Ok(())
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
        Email, NewSession, NewUser, PasswordHash, QueuedMail, RefreshAudit, RefreshSelector,
        Session, SessionId, TokenHash, UserId,
    };
    use authkit_core::ports::{AuditStore, RoleStore, SessionStore, UserStore};
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
        let session = add_session(&store, user.id, "first").await;
        (store, session.id, dir)
    }

    /// A session of `user` for a day from `T0`, whose refresh hash is `TokenHash::of(token)`.
    async fn add_session(store: &SqliteStore, user: UserId, token: &str) -> Session {
        store
            .create_session(&NewSession {
                id: SessionId::new_v7(T0),
                user_id: user,
                refresh_hash: TokenHash::of(token),
                refresh_selector: Some(selector(token)),
                now: T0,
                expires_at: T0 + time::Duration::days(1),
                idle_expires_at: T0 + time::Duration::days(1),
                remember_me: false,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap()
    }

    /// The selector of the session [`add_session`] opens with `token`, which every rotation of
    /// that token presents (the tests rotate first tokens only).
    fn selector(token: &str) -> RefreshSelector {
        RefreshSelector::from_slice(&TokenHash::of(&format!("selector {token}")).as_bytes()[..16])
            .unwrap()
    }

    fn rotate(presented: &str, next: &str) -> Write {
        Write::Rotate(Rotation {
            selector: *selector(presented).as_bytes(),
            presented: *TokenHash::of(presented).as_bytes(),
            next: *TokenHash::of(next).as_bytes(),
            now: micros(T0).unwrap(),
            idle_expires_at: micros(T0 + time::Duration::days(1)).unwrap(),
            with_owner: false,
            audit: None,
        })
    }

    /// [`rotate`] with the refresh audit event `id`.
    fn rotate_audited(presented: &str, next: &str, id: uuid::Uuid) -> Write {
        match rotate(presented, next) {
            Write::Rotate(r) => Write::Rotate(Rotation {
                audit: Some(RefreshAudit {
                    id,
                    at: T0,
                    ip: Some("192.0.2.7".parse().unwrap()),
                    user_agent: Some("batch-test".to_owned()),
                }),
                ..r
            }),
            Write::Audit(_) => unreachable!(),
        }
    }

    /// [`store_with_session`] with one audit event already appended; a batch that appends an
    /// event with the same id (the one returned) then fails its `INSERT`.
    async fn store_with_event_written() -> (SqliteStore, SessionId, uuid::Uuid, tempfile::TempDir) {
        let (store, session, dir) = store_with_session().await;
        let taken = uuid::Uuid::now_v7();
        let Write::Audit(events) = audit(taken) else {
            unreachable!()
        };
        store.append_audits(&events).await.unwrap();
        (store, session, taken, dir)
    }

    /// Whether a rotation's answer says its audit event was written.
    fn audited(done: &Done) -> bool {
        matches!(done, Done::Rotated { audited: true, .. })
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

    /// The current refresh hash of the session `id`.
    async fn current_hash(store: &SqliteStore, id: SessionId) -> Vec<u8> {
        sqlx::query_scalar("SELECT refresh_hash FROM authkit_sessions WHERE id = ?1")
            .bind(crate::sqlite::uuid_text(id.as_uuid()))
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// The number of rows of `table` (a name written in the test).
    async fn rows_in(store: &SqliteStore, table: &'static str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    /// Writes `writes` as one batch on the store's writer; each job's answer, in order.
    async fn run(
        store: &SqliteStore,
        writes: impl IntoIterator<Item = Write>,
    ) -> Vec<StoreResult<Done>> {
        let (jobs, answers): (Vec<Job>, Vec<_>) = writes.into_iter().map(Job::new).unzip();
        write(&mut store.writer().acquire().await.unwrap(), jobs).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        results
    }

    fn rows(done: &Done) -> usize {
        match done {
            Done::Rotated { rows, .. } => rows.len(),
            Done::Appended => usize::MAX,
        }
    }

    /// One batch: the same token presented twice (one of the two takes
    /// the row, the other matches nothing), an unknown token, and events, each job answered with
    /// its own result.
    #[tokio::test]
    async fn a_batch_answers_each_job_with_its_own_rows() {
        let (store, first, _dir) = store_with_session().await;
        let writes = [
            rotate("first", "second"),
            rotate("first", "other"),
            rotate("unknown", "never"),
            audit(uuid::Uuid::now_v7()),
            audit(uuid::Uuid::now_v7()),
        ];
        let done: Vec<usize> = run(&store, writes)
            .await
            .into_iter()
            .map(|r| rows(&r.unwrap()))
            .collect();
        assert_eq!(
            done[0] + done[1],
            1,
            "one of the two rotations of one token wins"
        );
        assert_eq!(done[2..], [0, usize::MAX, usize::MAX]);
        let hash = current_hash(&store, first).await;
        let winner = if done[0] == 1 { "second" } else { "other" };
        assert_eq!(hash, TokenHash::of(winner).as_bytes());
        let spent = rows_in(&store, "authkit_spent_refresh_tokens").await;
        assert_eq!(spent, 0, "a session with a selector records no spent hash");
        let events = rows_in(&store, "authkit_audit_events").await;
        assert_eq!(events, 2);
    }

    /// A rotation that asks for its owner gets it from the batch itself (one `OWNERS` read),
    /// as `user_by_id` and `permissions_of` read it; one that does not ask gets none.
    #[tokio::test]
    async fn a_batch_reads_the_owners_of_rotations_that_ask() {
        let (store, session, _dir) = store_with_session().await;
        let user = store.session(session).await.unwrap().unwrap().user_id;
        let second = add_session(&store, user, "another").await;
        let admin = authkit_core::domain::AdminPatch {
            roles: Some(vec!["admin".to_owned()]),
            ..Default::default()
        };
        store
            .admin_update_user(second.user_id, &admin, T0)
            .await
            .unwrap();
        let with_owner = match rotate("first", "second") {
            Write::Rotate(r) => Write::Rotate(Rotation {
                with_owner: true,
                ..r
            }),
            Write::Audit(_) => unreachable!(),
        };
        let results = run(&store, vec![with_owner, rotate("another", "next")]).await;
        let mut results = results.into_iter().map(Result::unwrap);
        let user_id = second.user_id;
        let expected = SessionOwner {
            user: store.user_by_id(user_id).await.unwrap().unwrap(),
            permissions: store.permissions_of(&["admin".to_owned()]).await.unwrap(),
        };
        assert!(!expected.permissions.is_empty());
        match results.next().unwrap() {
            Done::Rotated { rows, owner, .. } => {
                assert_eq!(rows.len(), 1);
                assert_eq!(owner.map(|o| *o), Some(expected));
            }
            Done::Appended => panic!("a rotation"),
        }
        match results.next().unwrap() {
            Done::Rotated { rows, owner, .. } => {
                assert_eq!(rows.len(), 1);
                assert_eq!(owner, None, "not asked for");
            }
            Done::Appended => panic!("a rotation"),
        }
    }

    /// A rotation that carries its refresh's audit event is answered once that event is written,
    /// in the batch's `INSERT` with the other events: the event of the session it rotated, by and
    /// about its owner. A rotation that matched nothing writes no event.
    #[tokio::test]
    async fn a_rotation_carrying_its_event_is_answered_with_it_written() {
        let (store, session, _dir) = store_with_session().await;
        let user = store.session(session).await.unwrap().unwrap().user_id;
        let refresh = uuid::Uuid::now_v7();
        let other = uuid::Uuid::now_v7();
        let results = run(
            &store,
            [
                rotate_audited("first", "second", refresh),
                audit(other),
                rotate_audited("unknown", "never", uuid::Uuid::now_v7()),
            ],
        )
        .await;
        let results: Vec<Done> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(rows(&results[0]), 1);
        assert!(audited(&results[0]));
        assert_eq!((rows(&results[2]), audited(&results[2])), (0, false));
        let events = store.audit_of_user(user, 10).await.unwrap();
        assert_eq!(events.len(), 1, "one event of the user: the refresh");
        let expected = RefreshAudit {
            id: refresh,
            at: T0,
            ip: Some("192.0.2.7".parse().unwrap()),
            user_agent: Some("batch-test".to_owned()),
        }
        .event(session, user);
        assert_eq!(events[0], expected);
        let count = rows_in(&store, "authkit_audit_events").await;
        assert_eq!(
            count, 2,
            "the refresh and the other event, nothing for the unknown token"
        );
    }

    /// Through the store, `rotate_refresh_audited` writes the event with the rotation (the
    /// default would leave it to the caller).
    #[tokio::test]
    async fn the_store_appends_a_refresh_event_with_its_rotation() {
        let (store, session, _dir) = store_with_session().await;
        let user = store.session(session).await.unwrap().unwrap().user_id;
        let audit = RefreshAudit {
            id: uuid::Uuid::now_v7(),
            at: T0,
            ip: None,
            user_agent: None,
        };
        let refreshed = store
            .rotate_refresh_audited(
                &authkit_core::domain::RefreshRotation {
                    selector: Some(selector("first")),
                    presented: TokenHash::of("first"),
                    next: TokenHash::of("second"),
                    now: T0,
                    idle_expires_at: T0 + time::Duration::days(1),
                },
                &audit,
            )
            .await
            .unwrap();
        assert!(refreshed.audited);
        assert_eq!(refreshed.owner.map(|o| o.user.id), Some(user));
        assert_eq!(
            store.audit_of_user(user, 10).await.unwrap(),
            [audit.event(session, user)]
        );
    }

    /// When the batch's `INSERT` fails, a rotation that carried its event has still rotated: it
    /// is answered as rotated and not audited (its caller appends the event), and the events'
    /// own jobs fail.
    #[tokio::test]
    async fn a_failed_insert_leaves_the_rotation_done_but_not_audited() {
        let (store, session, taken, _dir) = store_with_event_written().await;
        let results = run(
            &store,
            [
                rotate_audited("first", "second", uuid::Uuid::now_v7()),
                audit(taken),
            ],
        )
        .await;
        let rotated = results[0].as_ref().unwrap();
        assert_eq!((rows(rotated), audited(rotated)), (1, false));
        assert!(results[1].is_err());
        let hash = current_hash(&store, session).await;
        assert_eq!(hash, TokenHash::of("second").as_bytes());
        let count = rows_in(&store, "authkit_audit_events").await;
        assert_eq!(count, 1, "only the event written before the batch");
    }

    /// A failed statement fails the jobs it carried and writes nothing of them; the other
    /// statement of the batch is not affected.
    #[tokio::test]
    async fn a_failed_statement_fails_its_jobs_only() {
        let (store, session, taken, _dir) = store_with_event_written().await;
        let writes = [
            audit(uuid::Uuid::now_v7()),
            rotate("first", "second"),
            audit(taken),
        ];
        let results = run(&store, writes).await;
        assert!(results[0].is_err() && results[2].is_err());
        assert_eq!(rows(results[1].as_ref().unwrap()), 1);
        let count = rows_in(&store, "authkit_audit_events").await;
        assert_eq!(count, 1, "the failed INSERT wrote none of its events");
        let hash = current_hash(&store, session).await;
        assert_eq!(hash, TokenHash::of("second").as_bytes());
    }

    /// Through the store: concurrent rotations of one token, queued together, rotate it once;
    /// the others find another hash current: reuse.
    #[tokio::test]
    async fn concurrent_rotations_through_the_batcher_rotate_once() {
        let (store, _, _dir) = store_with_session().await;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .rotate_refresh(&authkit_core::domain::RefreshRotation {
                            selector: Some(selector("first")),
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
        let (mut rotated, mut reused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                authkit_core::domain::RotateOutcome::Rotated(_) => rotated += 1,
                authkit_core::domain::RotateOutcome::Reused { .. } => reused += 1,
                authkit_core::domain::RotateOutcome::Invalid => {}
            }
        }
        assert_eq!((rotated, reused), (1, 15));
    }

    /// More jobs waiting than one loan of the writer takes ([`BATCH`] × [`BATCHES_PER_LOAN`]),
    /// and no job after them: every one is written and answered, the one left over at the end of
    /// the loan included (while the queue stays open).
    #[tokio::test]
    async fn jobs_left_at_the_end_of_a_loan_are_written() {
        let (store, _, _dir) = store_with_session().await;
        let n = BATCH * BATCHES_PER_LOAN + 1;
        let (tx, rx) = mpsc::channel(n);
        let mut answers = Vec::with_capacity(n);
        for _ in 0..n {
            let (job, answer) = Job::new(audit(uuid::Uuid::now_v7()));
            tx.send(job).await.unwrap();
            answers.push(answer);
        }
        let writer = tokio::spawn(write_batches(store.writer().clone(), rx));
        for answer in answers {
            answer.await.unwrap().unwrap();
        }
        drop(tx);
        writer.await.unwrap();
        let count = rows_in(&store, "authkit_audit_events").await;
        assert_eq!(count, i64::try_from(n).unwrap());
    }
}
