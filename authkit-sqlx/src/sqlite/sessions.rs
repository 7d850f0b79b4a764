//! [`SessionStore`] on SQLite.

use std::sync::LazyLock;

use async_trait::async_trait;
use authkit_core::domain::{
    AuditEvent, Audited, NewSession, RefreshAudit, RefreshRotation, RefreshedSession,
    RotateOutcome, Session, SessionId, SessionOwner, User, UserId,
};
use authkit_core::ports::{SessionStore, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use super::audit::{APPEND, events_json};
use super::batch::{Done, Rotation, Write};
use super::users::{USER_SELECT_COLUMNS, roles_of, user_from_row};
use super::{
    SqlQuery, SqliteStore, get, micros, opt_time_at, parse_uuid, time_at, uuid_at, uuid_text,
};
use crate::error::map;
use crate::rows::{corrupt, ip, sorted};

macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, idle_expires_at, revoked_at, \
         remember_me, ip, user_agent, authz_version"
    };
}

/// The start of a session's `INSERT`: its columns, in the order [`bind_session`] binds them
/// (`revoked_at` is `NULL`).
macro_rules! insert_session_into {
    () => {
        "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
         expires_at, idle_expires_at, revoked_at, remember_me, ip, user_agent, refresh_selector)"
    };
}

const TOUCH_LOGIN: &str = "UPDATE authkit_users SET last_login_at = ?2 WHERE id = ?1";
/// The session of `create_session`. Its parameters are anonymous (`?`, bound in order) so that
/// it can follow the login's audit event ([`APPEND`]) in one command (`create_session_audited`).
const INSERT_SESSION: &str = concat!(
    insert_session_into!(),
    " VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?) RETURNING ",
    session_columns!()
);
/// The login's audit event ([`APPEND`]) then [`INSERT_SESSION`], as one command
/// (`create_session_audited`); built once.
static INSERT_SESSION_AUDITED: LazyLock<String> =
    LazyLock::new(|| format!("{APPEND}; {INSERT_SESSION}"));
/// `create_session_with_owner`, one command inside `BEGIN IMMEDIATE … COMMIT`: the owner's
/// `last_login_at`, the login's audit event ([`APPEND`]), the session (inserted only when its
/// user exists, so that an unknown user leaves the last statement without a row: `NotFound`,
/// and the transaction is rolled back), then the session joined to its user with the
/// permissions of the user's roles, as this transaction leaves them. Parameters anonymous, as
/// in [`INSERT_SESSION`].
static LOGIN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE authkit_users SET last_login_at = ? WHERE id = ?; {APPEND}; \
         {} SELECT ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ? \
         WHERE EXISTS (SELECT 1 FROM authkit_users WHERE id = ?); \
         SELECT {SESSION_AND_USER_SESSION_COLUMNS}, {USER_SELECT_COLUMNS}, {PERMISSIONS_COLUMN} \
         FROM authkit_sessions s JOIN authkit_users u ON u.id = s.user_id WHERE s.id = ?",
        insert_session_into!()
    )
});
const SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM authkit_sessions WHERE id = ?1"
);
/// A session and its user in one read (`session_and_user`): the session's `id` and
/// `created_at` are renamed, the user's columns keep their names.
const SESSION_AND_USER_SESSION_COLUMNS: &str = "s.id AS session_id, s.user_id AS user_id, \
     s.created_at AS session_created_at, s.last_used_at AS last_used_at, \
     s.expires_at AS expires_at, s.idle_expires_at AS idle_expires_at, \
     s.revoked_at AS revoked_at, s.remember_me AS remember_me, s.ip AS ip, \
     s.user_agent AS user_agent, s.authz_version AS authz_version";

/// `SELECT` the session and its user `FROM` the session joined to its user, by session id.
static SESSION_AND_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SESSION_AND_USER_SESSION_COLUMNS}, {USER_SELECT_COLUMNS} \
         FROM authkit_sessions s JOIN authkit_users u ON u.id = s.user_id WHERE s.id = ?1"
    )
});
/// The start of [`ROTATE_FROM`]: the rotations as a table `r`, whose `VALUES` follow.
pub(super) const ROTATE_WITH: &str = "WITH r (r_selector, r_presented, r_next, r_now, r_idle) AS (";
/// The compare-and-swap of rotations, after [`ROTATE_WITH`] and `VALUES …` (one row per
/// rotation: `batch::rotate_all`): the session is found by its selector (migration 8; no index
/// of the table changes), and only its current hash, of a session live at that `now`, matches.
/// Nothing else is written: the trigger that records a replaced hash as spent only fires for
/// sessions without a selector (migration 9). Also returns the new hash, to tell the rows apart.
pub(super) const ROTATE_FROM: &str = concat!(
    ") UPDATE authkit_sessions \
     SET refresh_hash = r.r_next, last_used_at = r.r_now, \
     idle_expires_at = min(r.r_idle, expires_at) \
     FROM r \
     WHERE refresh_selector = r.r_selector AND refresh_hash = r.r_presented \
     AND revoked_at IS NULL \
     AND expires_at > r.r_now AND idle_expires_at > r.r_now \
     RETURNING refresh_hash, ",
    session_columns!()
);
/// The owners of rotated sessions (`batch::read_owners`): each user whose id is in the JSON array
/// `?1`, with the permissions of its roles as a JSON array (`permissions`), as `user_by_id` and
/// `permissions_of` read them.
pub(super) static OWNERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_SELECT_COLUMNS}, {PERMISSIONS_COLUMN} \
         FROM authkit_users u WHERE u.id IN (SELECT value FROM json_each(?1))"
    )
});
/// The permissions of the roles of the user `u`, as a JSON array named `permissions`.
const PERMISSIONS_COLUMN: &str = "(SELECT json_group_array(DISTINCT p.permission) \
     FROM authkit_role_permissions p WHERE p.role_name IN (SELECT r.role_name \
     FROM authkit_user_roles r WHERE r.user_id = u.id)) AS permissions";
/// The compare-and-swap of a token without selector (`rotate_refresh`): the session is found by
/// its current hash among the sessions without selector (the partial index of migration 8),
/// and keeps that form; the trigger of migration 5 (`authkit_sessions_refresh_spent_trg`,
/// remade by migration 9 for these sessions only) records the replaced hash as spent, in this
/// statement. Returns what [`ROTATE_FROM`] returns.
const ROTATE_WITHOUT_SELECTOR: &str = concat!(
    "UPDATE authkit_sessions \
     SET refresh_hash = ?2, last_used_at = ?3, idle_expires_at = min(?4, expires_at) \
     WHERE refresh_selector IS NULL AND refresh_hash = ?1 AND revoked_at IS NULL \
     AND expires_at > ?3 AND idle_expires_at > ?3 \
     RETURNING refresh_hash, ",
    session_columns!()
);
const SPENT_SESSION: &str = "SELECT session_id FROM authkit_spent_refresh_tokens WHERE hash = ?1";
const REVOKE_REUSED: &str = "UPDATE authkit_sessions SET revoked_at = coalesce(revoked_at, ?2) \
                             WHERE id = ?1 RETURNING user_id";
/// Reuse of a token with a selector: the session with the selector `?1` whose current hash is
/// not `?2` is revoked (at `?3`, unless it already was). Returns its id and owner.
const REVOKE_REUSED_BY_SELECTOR: &str = "UPDATE authkit_sessions \
     SET revoked_at = coalesce(revoked_at, ?3) \
     WHERE refresh_selector = ?1 AND refresh_hash IS NOT ?2 RETURNING id, user_id";
const REVOKE: &str = "UPDATE authkit_sessions SET revoked_at = ?3 \
                      WHERE id = ?2 AND user_id = ?1 AND revoked_at IS NULL";
const REVOKE_ALL: &str =
    "UPDATE authkit_sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL";
/// Sessions (at most `?2`) that ended before `?1` (`purge_sessions`). The trigger of version 5
/// fires only on updates, and spent hashes have no foreign key (version 7): the sweep below
/// takes them.
const PURGE_SESSIONS: &str = "DELETE FROM authkit_sessions WHERE id IN (SELECT id \
     FROM authkit_sessions WHERE revoked_at < ?1 OR expires_at < ?1 OR idle_expires_at < ?1 \
     LIMIT ?2)";
/// The last rowid of the next slice of at most `?2` spent hashes after rowid `?1`.
const SPENT_SLICE_END: &str = "SELECT max(rowid) FROM (SELECT rowid FROM \
     authkit_spent_refresh_tokens WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)";
/// The spent hashes of rowids `?1` (excluded) to `?2` whose session is gone.
const SWEEP_SPENT: &str = "DELETE FROM authkit_spent_refresh_tokens \
     WHERE rowid > ?1 AND rowid <= ?2 \
     AND NOT EXISTS (SELECT 1 FROM authkit_sessions s WHERE s.id = session_id)";
/// Sessions deleted per statement of a purge: each statement holds the writer for
/// milliseconds (about 8 ms here), not for the whole purge.
const PURGE_SLICE: i64 = 500;
/// Spent hashes read per statement of a purge's sweep (5.5 ms here when half of them go).
const SWEEP_SLICE: i64 = 1_000;
const SESSIONS_OF: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM authkit_sessions WHERE user_id = ?1 ORDER BY id DESC"
);

impl SqliteStore {
    /// `create_session`, and `event` appended in the same transaction when given: `BEGIN`, the
    /// owner's `last_login_at` (none: `NotFound`), one command of the event's [`APPEND`] and
    /// [`INSERT_SESSION`] (in that order: the command ends at the session's returned row),
    /// `COMMIT`.
    async fn insert_session(
        &self,
        new: &NewSession,
        event: Option<&AuditEvent>,
    ) -> StoreResult<Session> {
        let user_id = uuid_text(new.user_id.as_uuid());
        let now = micros(new.now)?;
        let insert = match event {
            Some(e) => sqlx::query(INSERT_SESSION_AUDITED.as_str()).bind(events_json(&[e])?),
            None => sqlx::query(INSERT_SESSION),
        };
        let insert = bind_session(insert, new)?;
        let mut tx = self.begin().await?;
        let touched = sqlx::query(TOUCH_LOGIN)
            .bind(&user_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        let row = insert.fetch_one(&mut *tx).await.map_err(map)?;
        let session = session_from_row(&row)?;
        tx.commit().await.map_err(map)?;
        Ok(session)
    }

    /// `create_session_with_owner`: `BEGIN`, the [`LOGIN`] command, `COMMIT`: three round
    /// trips to the writer's thread, where `create_session_audited` takes four and a read of
    /// the owner's permissions then one more, to a reader.
    async fn insert_session_with_owner(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<(Session, SessionOwner)> {
        let user_id = uuid_text(new.user_id.as_uuid());
        let id = uuid_text(new.id.as_uuid());
        let now = micros(new.now)?;
        let query = sqlx::query(LOGIN.as_str())
            .bind(now)
            .bind(&user_id)
            .bind(events_json(&[event])?);
        let query = bind_session(query, new)?.bind(&user_id).bind(&id);
        let mut tx = self.begin().await?;
        // No row: the user is unknown; dropping `tx` rolls the event back.
        let row = query
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?
            .ok_or(StoreError::NotFound)?;
        let session = session_from_columns(&row, "session_id", "session_created_at")?;
        let owner = owner_from_row(&row)?;
        tx.commit().await.map_err(map)?;
        Ok((session, owner))
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
        self.insert_session(new, None).await
    }

    /// The event is one more statement of the session's `INSERT` command.
    async fn create_session_audited(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<Session>> {
        let session = self.insert_session(new, Some(event)).await?;
        Ok(Audited {
            value: session,
            audited: true,
        })
    }

    /// One command in one transaction (`LOGIN`); the event is one of its statements.
    async fn create_session_with_owner(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<(Session, SessionOwner)>> {
        Ok(Audited {
            value: self.insert_session_with_owner(new, event).await?,
            audited: true,
        })
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        sqlx::query(SESSION)
            .bind(uuid_text(id.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
            .map(|r| session_from_row(&r))
            .transpose()
    }

    /// One query: the session joined to its user.
    async fn session_and_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        let Some(row) = sqlx::query(SESSION_AND_USER.as_str())
            .bind(uuid_text(id.as_uuid()))
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
        else {
            return Ok(None);
        };
        let session = session_from_columns(&row, "session_id", "session_created_at")?;
        let user = user_from_row(&row, roles_of(&row)?)?;
        Ok(Some((session, user)))
    }

    /// The happy path is one autocommit statement on the writer: the conditional `UPDATE ...
    /// RETURNING` (for a session without a selector, its trigger, migration 5, records the
    /// presented hash as spent; SQLite runs a statement and its triggers as one atomic write).
    /// The writer is one connection and SQLite has one write lock, so of several callers with
    /// one hash exactly one matches, and the others' `UPDATE`s, which run after it, find
    /// another current hash (and, without a selector, the presented one spent).
    ///
    /// Only when no row matched does the slow path run: with a selector, one conditional
    /// `UPDATE` that revokes the session with that selector if its current hash is another;
    /// without, one transaction that looks the hash up among the spent ones and revokes its
    /// session. Between the two, the presented hash cannot become current again (a next hash is
    /// new), and a spent record only goes with its session, so the slow path finds what a
    /// transaction around both would have found.
    async fn rotate_refresh(&self, r: &RefreshRotation) -> StoreResult<RotateOutcome> {
        Ok(self.rotate(r, false, None).await?.outcome)
    }

    /// The rotation's batch also reads the owners of the sessions it rotated, in one statement
    /// (`OWNERS`); when that read failed, the owner is read here as the default does.
    async fn rotate_refresh_with_owner(
        &self,
        r: &RefreshRotation,
    ) -> StoreResult<(RotateOutcome, Option<SessionOwner>)> {
        let refreshed = self.rotate(r, true, None).await?;
        Ok((refreshed.outcome, refreshed.owner))
    }

    /// The rotation, its owner and its audit event in one turn of the writer: the event goes in
    /// the batch's `INSERT`, after the `UPDATE` that rotated (`batch`).
    async fn rotate_refresh_audited(
        &self,
        r: &RefreshRotation,
        audit: &RefreshAudit,
    ) -> StoreResult<RefreshedSession> {
        self.rotate(r, true, Some(audit)).await
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let revoked = sqlx::query(REVOKE)
            .bind(uuid_text(user.as_uuid()))
            .bind(uuid_text(id.as_uuid()))
            .bind(micros(now)?)
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected();
        Ok(revoked == 1)
    }

    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        Ok(sqlx::query(REVOKE_ALL)
            .bind(uuid_text(user.as_uuid()))
            .bind(micros(now)?)
            .execute(self.writer())
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>> {
        sqlx::query(SESSIONS_OF)
            .bind(uuid_text(user.as_uuid()))
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(session_from_row)
            .collect()
    }

    /// Deletes the ended sessions in slices, then, when it deleted any, sweeps the whole table
    /// of spent hashes in slices of rowids for hashes whose session is gone (those of this
    /// purge, and any left by a sweep that failed or by a session deleted by hand). Spent hashes
    /// have no index by session (versions 6 and 7: it would cost every refresh a page), so a
    /// sweep reads the table once, in rowid order.
    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
        let deleted = self
            .delete_in_slices(PURGE_SESSIONS, micros(ended_before)?, PURGE_SLICE)
            .await?;
        if deleted == 0 {
            return Ok(0);
        }
        let mut after = 0_i64;
        loop {
            let end: Option<i64> = sqlx::query_scalar(SPENT_SLICE_END)
                .bind(after)
                .bind(SWEEP_SLICE)
                .fetch_one(&self.pool)
                .await
                .map_err(map)?;
            let Some(end) = end else {
                return Ok(deleted);
            };
            sqlx::query(SWEEP_SPENT)
                .bind(after)
                .bind(end)
                .execute(self.writer())
                .await
                .map_err(map)?;
            after = end;
        }
    }
}

impl SqliteStore {
    /// `rotate_refresh`; with the session's owner when `with_owner` (read by the batch, or
    /// here when that read failed), and its audit event appended by the batch when `audit`.
    async fn rotate(
        &self,
        r: &RefreshRotation,
        with_owner: bool,
        audit: Option<&RefreshAudit>,
    ) -> StoreResult<RefreshedSession> {
        let now = micros(r.now)?;
        let Some(selector) = r.selector else {
            return self.rotate_without_selector(r, with_owner).await;
        };
        // Written with whatever rotations and audit events queued up meanwhile (`batch`).
        let (rotated, owner, audited) = match self
            .batched(Write::Rotate(Rotation {
                selector: *selector.as_bytes(),
                presented: *r.presented.as_bytes(),
                next: *r.next.as_bytes(),
                now,
                idle_expires_at: micros(r.idle_expires_at)?,
                with_owner,
                audit: audit.cloned(),
            }))
            .await?
        {
            Done::Rotated {
                rows,
                owner,
                audited,
            } => (rows, owner.map(|o| *o), audited),
            Done::Appended => return Err(super::batch::stopped()),
        };
        match rotated.first() {
            Some(row) => self.rotated(row, owner, with_owner, audited).await,
            None => self.not_rotated(r).await,
        }
    }

    /// `rotate` of a token without selector (a session opened before migration 8): one
    /// autocommit `UPDATE` on the writer, outside the batches (whose statement finds sessions
    /// by selector), whose trigger records the spent hash as in a batch. Its audit event is
    /// left to the caller.
    async fn rotate_without_selector(
        &self,
        r: &RefreshRotation,
        with_owner: bool,
    ) -> StoreResult<RefreshedSession> {
        // `fetch_all`: an autocommit statement commits when stepped to its end, and only then
        // is a failed commit reported (`fetch_optional` stops at the row). At most one row.
        let row = sqlx::query(ROTATE_WITHOUT_SELECTOR)
            .bind(&r.presented.as_bytes()[..])
            .bind(&r.next.as_bytes()[..])
            .bind(micros(r.now)?)
            .bind(micros(r.idle_expires_at)?)
            .fetch_all(self.writer())
            .await
            .map_err(map)?
            .into_iter()
            .next();
        match row {
            Some(row) => self.rotated(&row, None, with_owner, false).await,
            None => self.not_rotated(r).await,
        }
    }

    /// The outcome of a rotation that updated `row`, with its owner (read here when asked for
    /// and not read with the rotation).
    async fn rotated(
        &self,
        row: &SqliteRow,
        owner: Option<SessionOwner>,
        with_owner: bool,
        audited: bool,
    ) -> StoreResult<RefreshedSession> {
        let session = session_from_row(row)?;
        let owner = match owner {
            None if with_owner => self.session_owner(session.user_id).await?,
            owner => owner,
        };
        Ok(RefreshedSession {
            outcome: RotateOutcome::Rotated(session),
            owner,
            audited,
        })
    }

    /// The slow path of a rotation that matched no session: the session of the selector, when
    /// its current hash is another, or the session of a spent hash without selector, is revoked
    /// (`Reused`); anything else is `Invalid`.
    async fn not_rotated(&self, r: &RefreshRotation) -> StoreResult<RefreshedSession> {
        let presented = &r.presented.as_bytes()[..];
        let now = micros(r.now)?;
        let not_rotated = |outcome| RefreshedSession {
            outcome,
            owner: None,
            audited: false,
        };
        if let Some(selector) = r.selector {
            // `fetch_all`, as in `rotate_without_selector`: the revocation must be committed
            // before `Reused` is reported. At most one row (the selector is unique).
            let reused: Option<(String, String)> = sqlx::query_as(REVOKE_REUSED_BY_SELECTOR)
                .bind(&selector.as_bytes()[..])
                .bind(presented)
                .bind(now)
                .fetch_all(self.writer())
                .await
                .map_err(map)?
                .into_iter()
                .next();
            let outcome = match reused {
                Some((session_id, user_id)) => RotateOutcome::Reused {
                    session_id: SessionId(parse_uuid("id", &session_id)?),
                    user_id: UserId(parse_uuid("user_id", &user_id)?),
                },
                None => RotateOutcome::Invalid,
            };
            return Ok(not_rotated(outcome));
        }
        let mut tx = self.begin().await?;
        let spent: Option<String> = sqlx::query_scalar(SPENT_SESSION)
            .bind(presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let Some(session_id) = spent else {
            return Ok(not_rotated(RotateOutcome::Invalid));
        };
        let owner: Option<String> = sqlx::query_scalar(REVOKE_REUSED)
            .bind(&session_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let Some(owner) = owner else {
            return Ok(not_rotated(RotateOutcome::Invalid));
        };
        // Committed even though the caller answers with an error: reuse ends the session.
        tx.commit().await.map_err(map)?;
        let reused = RotateOutcome::Reused {
            session_id: SessionId(parse_uuid("session_id", &session_id)?),
            user_id: UserId(parse_uuid("user_id", &owner)?),
        };
        Ok(not_rotated(reused))
    }
}

/// Binds the values of [`insert_session_into!`]'s columns, in order.
fn bind_session<'q>(query: SqlQuery<'q>, new: &'q NewSession) -> StoreResult<SqlQuery<'q>> {
    let now = micros(new.now)?;
    Ok(query
        .bind(uuid_text(new.id.as_uuid()))
        .bind(uuid_text(new.user_id.as_uuid()))
        .bind(&new.refresh_hash.as_bytes()[..])
        .bind(now)
        .bind(now)
        .bind(micros(new.expires_at)?)
        .bind(micros(new.idle_expires_at.min(new.expires_at))?)
        .bind(new.remember_me)
        .bind(new.ip.map(|a| a.to_string()))
        .bind(new.user_agent.as_deref())
        .bind(new.refresh_selector.as_ref().map(|s| &s.as_bytes()[..])))
}

/// A session's owner from an [`OWNERS`] row.
pub(super) fn owner_from_row(row: &SqliteRow) -> StoreResult<SessionOwner> {
    let permissions: String = get(row, "permissions")?;
    let permissions: Vec<String> = serde_json::from_str(&permissions)
        .map_err(|e| corrupt("permissions", Some(Box::new(e))))?;
    Ok(SessionOwner {
        user: user_from_row(row, roles_of(row)?)?,
        permissions: sorted(permissions),
    })
}

fn session_from_row(row: &SqliteRow) -> StoreResult<Session> {
    session_from_columns(row, "id", "created_at")
}

/// A session from a row whose `id` and `created_at` columns have these names.
fn session_from_columns(
    row: &SqliteRow,
    id: &'static str,
    created_at: &'static str,
) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId(uuid_at(row, id)?),
        user_id: UserId(uuid_at(row, "user_id")?),
        created_at: time_at(row, created_at)?,
        last_used_at: time_at(row, "last_used_at")?,
        expires_at: time_at(row, "expires_at")?,
        idle_expires_at: time_at(row, "idle_expires_at")?,
        revoked_at: opt_time_at(row, "revoked_at")?,
        remember_me: get(row, "remember_me")?,
        ip: ip("ip", get(row, "ip")?)?,
        user_agent: get(row, "user_agent")?,
        authz_version: get(row, "authz_version")?,
    })
}
