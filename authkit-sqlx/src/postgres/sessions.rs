//! [`SessionStore`] on PostgreSQL.

use std::sync::LazyLock;

use async_trait::async_trait;
use authkit_core::domain::{
    AuditEvent, Audited, NewSession, RefreshRotation, RotateOutcome, Session, SessionId,
    SessionOwner, User, UserId,
};
use authkit_core::ports::{SessionStore, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::append_in;
use super::users::{USER_SELECT_COLUMNS, user_from_row};
use super::{PostgresStore, get};
use crate::error::map;
use crate::rows::{ip, sorted};

macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, idle_expires_at, revoked_at, \
         remember_me, host(ip) AS ip, user_agent, authz_version"
    };
}

const TOUCH_LOGIN: &str = "UPDATE authkit_users SET last_login_at = $2 WHERE id = $1";
const INSERT_SESSION: &str = concat!(
    "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
     expires_at, idle_expires_at, revoked_at, remember_me, ip, user_agent, refresh_selector) \
     VALUES ($1, $2, $3, $4, $4, $5, $6, NULL, $7, $8::inet, $9, $10) RETURNING ",
    session_columns!()
);
/// [`INSERT_SESSION`] returning the session joined to its user and the user's permissions,
/// as [`with_owner`] returns them (`create_session_with_owner`). It follows the owner's
/// `last_login_at` in the same transaction, so the join reads the user as that left it.
static INSERT_SESSION_WITH_OWNER: LazyLock<String> =
    LazyLock::new(|| with_owner(&format!("WITH r AS ({INSERT_SESSION})")));
const SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM authkit_sessions WHERE id = $1"
);
/// A session and its user in one read (`session_and_user`): the session's `id` and
/// `created_at` are renamed, the user's columns keep their names.
const SESSION_AND_USER_SESSION_COLUMNS: &str = "s.id AS session_id, s.user_id AS user_id, \
     s.created_at AS session_created_at, s.last_used_at AS last_used_at, \
     s.expires_at AS expires_at, s.idle_expires_at AS idle_expires_at, \
     s.revoked_at AS revoked_at, s.remember_me AS remember_me, host(s.ip) AS ip, \
     s.user_agent AS user_agent, s.authz_version AS authz_version";

/// `SELECT` the session and its user `FROM` the session joined to its user, by session id.
static SESSION_AND_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {SESSION_AND_USER_SESSION_COLUMNS}, {USER_SELECT_COLUMNS} \
         FROM authkit_sessions s JOIN authkit_users u ON u.id = s.user_id WHERE s.id = $1"
    )
});
/// The compare-and-swap of a rotation, as a `WITH` named `r`: the session is found as `$found`
/// says (by the selector `$5`, or for a token without selector by its hash among the sessions
/// without one, `legacy_hash`: migration 6), and only the current hash of a live session
/// matches. A concurrent caller with the same hash waits for the row lock, then re-checks the
/// condition and matches nothing.
///
/// With `spent` (the sessions without a selector), the presented hash of the matched session
/// is also recorded as spent (`s`), in the same statement: every part of a `WITH` runs in one
/// statement (one snapshot, one implicit transaction), and a data-modifying part runs to
/// completion even though the outer `SELECT` does not read it. A session with a selector
/// records nothing: any other hash presented with its selector is reuse (`rotate_slow_path`).
macro_rules! rotate_with {
    (@r $found:literal) => {
        concat!(
            "WITH r AS (UPDATE authkit_sessions \
             SET refresh_hash = $2, last_used_at = $3, idle_expires_at = LEAST($4, expires_at) \
             WHERE ",
            $found,
            " AND refresh_hash = $1 AND revoked_at IS NULL AND expires_at > $3 \
             AND idle_expires_at > $3 RETURNING ",
            session_columns!(),
            ")"
        )
    };
    ($found:literal) => {
        concat!(rotate_with!(@r $found), " ")
    };
    ($found:literal, spent) => {
        concat!(
            rotate_with!(@r $found),
            ", s AS (INSERT INTO authkit_spent_refresh_tokens (hash, session_id) \
             SELECT $1, id FROM r ON CONFLICT (hash) DO NOTHING) "
        )
    };
}
/// A rotation (`rotate_with!`'s arguments) returning the session.
macro_rules! rotate {
    ($($with:tt)*) => {
        concat!(
            rotate_with!($($with)*),
            "SELECT id, user_id, created_at, last_used_at, expires_at, idle_expires_at, \
             revoked_at, remember_me, ip, user_agent, authz_version FROM r"
        )
    };
}
/// The rotation of a token with a selector (`$5`).
const ROTATE: &str = rotate!("refresh_selector = $5");
/// The rotation of a token without selector: `legacy_hash` is the hash of a session without
/// selector (NULL for the others), computed by PostgreSQL and indexed (migration 6), so that
/// no index names `refresh_hash` and the rotation of a session with a selector is heap-only.
const ROTATE_WITHOUT_SELECTOR: &str = rotate!("legacy_hash = $1", spent);
/// [`ROTATE`], returning the session joined to its user (columns as in [`SESSION_AND_USER`]),
/// the permissions of the user's roles (`permissions`) and the session's `authz_version` as the
/// statement's snapshot has it (`authz_version_before`), for `rotate_refresh_with_owner`.
static ROTATE_WITH_OWNER: LazyLock<String> =
    LazyLock::new(|| rotate_with_owner(rotate_with!("refresh_selector = $5")));
/// [`ROTATE_WITH_OWNER`] for a token without selector.
static ROTATE_WITH_OWNER_WITHOUT_SELECTOR: LazyLock<String> =
    LazyLock::new(|| rotate_with_owner(rotate_with!("legacy_hash = $1", spent)));
/// A user (columns as in [`SESSION_AND_USER`]) and the permissions of its roles
/// (`permissions`), by id (`session_owner`).
static OWNER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USER_SELECT_COLUMNS}, {PERMISSIONS_OF_U} AS permissions \
         FROM authkit_users u WHERE u.id = $1"
    )
});
/// The permissions of the roles of the user `u`, as an array.
const PERMISSIONS_OF_U: &str = "ARRAY(SELECT DISTINCT p.permission FROM authkit_role_permissions p \
     WHERE p.role_name IN (SELECT ur.role_name FROM authkit_user_roles ur \
     WHERE ur.user_id = u.id))";

/// A session-writing `WITH` named `r` (`create_session_with_owner`'s insert), returning the
/// session joined to its user (columns as in [`SESSION_AND_USER`]) and the permissions of the
/// user's roles (`permissions`). The join reads the users as they were when the statement
/// began (its snapshot): right only when nothing the statement waits for can change them.
fn with_owner(rotate_with: &str) -> String {
    owner_select(rotate_with, "")
}

/// [`with_owner`] for a rotation, with `authz_version_before`: the session's version read from
/// the statement's snapshot. The rotation never changes the version, so the two differ only
/// when the `UPDATE` waited for the session's row lock behind a change that raised it (a role
/// change) and re-read the row after it committed; the user's roles and permissions, read from
/// the snapshot, are then older than the version beside them.
fn rotate_with_owner(rotate_with: &str) -> String {
    owner_select(
        rotate_with,
        ", (SELECT b.authz_version FROM authkit_sessions b WHERE b.id = r.id) \
         AS authz_version_before",
    )
}

/// The `SELECT` of [`with_owner`], with `extra` columns after its own.
fn owner_select(rotate_with: &str, extra: &str) -> String {
    format!(
        "{rotate_with} SELECT r.id AS session_id, r.user_id AS user_id, \
         r.created_at AS session_created_at, r.last_used_at AS last_used_at, \
         r.expires_at AS expires_at, r.idle_expires_at AS idle_expires_at, \
         r.revoked_at AS revoked_at, r.remember_me AS remember_me, r.ip AS ip, \
         r.user_agent AS user_agent, r.authz_version AS authz_version, {USER_SELECT_COLUMNS}, \
         {PERMISSIONS_OF_U} AS permissions{extra} \
         FROM r JOIN authkit_users u ON u.id = r.user_id"
    )
}
const SPENT_SESSION: &str = "SELECT session_id FROM authkit_spent_refresh_tokens WHERE hash = $1";
const REVOKE_REUSED: &str = "UPDATE authkit_sessions SET revoked_at = COALESCE(revoked_at, $2) \
                             WHERE id = $1 RETURNING user_id";
/// Reuse of a token with a selector: the session with the selector `$1` whose current hash is
/// not `$2` is revoked (at `$3`, unless it already was). Returns its id and owner.
const REVOKE_REUSED_BY_SELECTOR: &str = "UPDATE authkit_sessions \
     SET revoked_at = COALESCE(revoked_at, $3) \
     WHERE refresh_selector = $1 AND refresh_hash <> $2 RETURNING id, user_id";
const REVOKE: &str = "UPDATE authkit_sessions SET revoked_at = $3 \
                      WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL";
const REVOKE_ALL: &str =
    "UPDATE authkit_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
/// Sessions (at most `$2`) that ended before `$1` (`purge_sessions`); their spent hashes go
/// with them (`ON DELETE CASCADE`, by the index of spent hashes by session).
const PURGE_SESSIONS: &str = "DELETE FROM authkit_sessions WHERE id IN (SELECT id \
     FROM authkit_sessions WHERE revoked_at < $1 OR expires_at < $1 OR idle_expires_at < $1 \
     LIMIT $2)";
/// Sessions deleted per statement of a purge: each statement is short, not the whole purge.
const PURGE_SLICE: i64 = 1_000;
const SESSIONS_OF: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM authkit_sessions WHERE user_id = $1 ORDER BY id DESC"
);

impl PostgresStore {
    /// `create_session`, and `events` appended in the same transaction when given. With
    /// `with_owner`, the session's owner is read in the same statement as the session's insert
    /// ([`INSERT_SESSION_WITH_OWNER`]).
    async fn insert_session(
        &self,
        new: &NewSession,
        events: Option<&[AuditEvent]>,
        with_owner: bool,
    ) -> StoreResult<(Session, Option<SessionOwner>)> {
        let mut tx = self.begin().await?;
        let touched = sqlx::query(TOUCH_LOGIN)
            .bind(new.user_id.as_uuid())
            .bind(new.now)
            .execute(&mut *tx)
            .await
            .map_err(map)?
            .rows_affected();
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        let insert = if with_owner {
            INSERT_SESSION_WITH_OWNER.as_str()
        } else {
            INSERT_SESSION
        };
        let row = sqlx::query(insert)
            .bind(new.id.as_uuid())
            .bind(new.user_id.as_uuid())
            .bind(&new.refresh_hash.as_bytes()[..])
            .bind(new.now)
            .bind(new.expires_at)
            .bind(new.idle_expires_at.min(new.expires_at))
            .bind(new.remember_me)
            .bind(new.ip.map(|a| a.to_string()))
            .bind(new.user_agent.as_deref())
            .bind(new.refresh_selector.as_ref().map(|s| &s.as_bytes()[..]))
            .fetch_one(&mut *tx)
            .await
            .map_err(map)?;
        let (session, owner) = if with_owner {
            let session = session_from_columns(&row, "session_id", "session_created_at")?;
            (session, Some(owner_from_row(&row)?))
        } else {
            (session_from_row(&row)?, None)
        };
        append_in(&mut tx, events).await?;
        tx.commit().await.map_err(map)?;
        Ok((session, owner))
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
        Ok(self.insert_session(new, None, false).await?.0)
    }

    /// The event is one more `INSERT` of the session's transaction.
    async fn create_session_audited(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<Session>> {
        let (session, _) = self
            .insert_session(new, Some(std::slice::from_ref(event)), false)
            .await?;
        Ok(Audited {
            value: session,
            audited: true,
        })
    }

    /// The session's transaction of [`Self::create_session_audited`], its insert reading the
    /// owner too (`INSERT_SESSION_WITH_OWNER`).
    async fn create_session_with_owner(
        &self,
        new: &NewSession,
        event: &AuditEvent,
    ) -> StoreResult<Audited<(Session, SessionOwner)>> {
        let (session, owner) = self
            .insert_session(new, Some(std::slice::from_ref(event)), true)
            .await?;
        let owner = owner.ok_or(StoreError::NotFound)?;
        Ok(Audited {
            value: (session, owner),
            audited: true,
        })
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        sqlx::query(SESSION)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
            .map(|r| session_from_row(&r))
            .transpose()
    }

    /// One query: the session joined to its user.
    async fn session_and_user(&self, id: SessionId) -> StoreResult<Option<(Session, User)>> {
        let Some(row) = sqlx::query(SESSION_AND_USER.as_str())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
        else {
            return Ok(None);
        };
        let session = session_from_columns(&row, "session_id", "session_created_at")?;
        let user = user_from_row(&row, get(&row, "roles")?)?;
        Ok(Some((session, user)))
    }

    /// The happy path is one autocommit statement (`ROTATE`); only when it matched nothing
    /// does the slow path run (`rotate_slow_path`).
    async fn rotate_refresh(&self, r: &RefreshRotation) -> StoreResult<RotateOutcome> {
        let sql = match r.selector {
            Some(_) => ROTATE,
            None => ROTATE_WITHOUT_SELECTOR,
        };
        if let Some(row) = self.rotate_statement(sql, r).await? {
            return Ok(RotateOutcome::Rotated(session_from_row(&row)?));
        }
        self.rotate_slow_path(r).await
    }

    /// The user and its permissions in one statement (`OWNER`).
    async fn session_owner(&self, user: UserId) -> StoreResult<Option<SessionOwner>> {
        sqlx::query(OWNER.as_str())
            .bind(user.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?
            .map(|row| owner_from_row(&row))
            .transpose()
    }

    /// One statement (`ROTATE_WITH_OWNER`): the rotation, its session's user and that user's
    /// permissions. Under READ COMMITTED, a rotation that waited for the session's row lock
    /// behind a role change (which raises the session's `authz_version` before it commits)
    /// re-reads the session after the wait but reads the user's roles from the snapshot taken
    /// before it: the new version with the old permissions. The statement also returns the
    /// version of its snapshot; when the two differ, the owner is read again by a statement of
    /// its own (`session_owner`), which starts after the change committed. (Were the user
    /// missing, the join would return nothing although the rotation committed; the slow path
    /// would then find another hash current and revoke the session. A user is only ever
    /// soft-deleted, and a hard delete takes its sessions along.)
    async fn rotate_refresh_with_owner(
        &self,
        r: &RefreshRotation,
    ) -> StoreResult<(RotateOutcome, Option<SessionOwner>)> {
        let sql = match r.selector {
            Some(_) => ROTATE_WITH_OWNER.as_str(),
            None => ROTATE_WITH_OWNER_WITHOUT_SELECTOR.as_str(),
        };
        let Some(row) = self.rotate_statement(sql, r).await? else {
            return Ok((self.rotate_slow_path(r).await?, None));
        };
        let session = session_from_columns(&row, "session_id", "session_created_at")?;
        let before: Option<i64> = get(&row, "authz_version_before")?;
        let owner = if before == Some(session.authz_version) {
            Some(owner_from_row(&row)?)
        } else {
            self.session_owner(session.user_id).await?
        };
        Ok((RotateOutcome::Rotated(session), owner))
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let revoked = sqlx::query(REVOKE)
            .bind(user.as_uuid())
            .bind(id.as_uuid())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected();
        Ok(revoked == 1)
    }

    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        Ok(sqlx::query(REVOKE_ALL)
            .bind(user.as_uuid())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map)?
            .rows_affected())
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>> {
        sqlx::query(SESSIONS_OF)
            .bind(user.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(map)?
            .iter()
            .map(session_from_row)
            .collect()
    }

    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
        self.delete_in_slices(PURGE_SESSIONS, ended_before, PURGE_SLICE)
            .await
    }
}

impl PostgresStore {
    /// Runs a rotation statement (`sql`: [`ROTATE`] or [`ROTATE_WITH_OWNER`], or their forms
    /// without selector when `r` has none); its row when the presented hash was current.
    async fn rotate_statement(
        &self,
        sql: &'static str,
        r: &RefreshRotation,
    ) -> StoreResult<Option<PgRow>> {
        let query = sqlx::query(sql)
            .bind(&r.presented.as_bytes()[..])
            .bind(&r.next.as_bytes()[..])
            .bind(r.now)
            .bind(r.idle_expires_at);
        let query = match &r.selector {
            Some(selector) => query.bind(&selector.as_bytes()[..]),
            None => query,
        };
        query.fetch_optional(&self.pool).await.map_err(map)
    }

    /// A rotation that matched nothing. With a selector: one conditional `UPDATE` that revokes
    /// the session with that selector when its current hash is another (`Reused`). Without:
    /// one transaction that looks the hash up among the spent ones and revokes its session
    /// (`Reused`). Otherwise `Invalid`.
    async fn rotate_slow_path(&self, r: &RefreshRotation) -> StoreResult<RotateOutcome> {
        let presented = &r.presented.as_bytes()[..];
        if let Some(selector) = r.selector {
            let reused: Option<(Uuid, Uuid)> = sqlx::query_as(REVOKE_REUSED_BY_SELECTOR)
                .bind(&selector.as_bytes()[..])
                .bind(presented)
                .bind(r.now)
                .fetch_optional(&self.pool)
                .await
                .map_err(map)?;
            return Ok(match reused {
                Some((session_id, user_id)) => RotateOutcome::Reused {
                    session_id: SessionId(session_id),
                    user_id: UserId(user_id),
                },
                None => RotateOutcome::Invalid,
            });
        }
        let mut tx = self.begin().await?;
        let spent: Option<Uuid> = sqlx::query_scalar(SPENT_SESSION)
            .bind(presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let Some(session_id) = spent else {
            return Ok(RotateOutcome::Invalid);
        };
        let owner: Option<Uuid> = sqlx::query_scalar(REVOKE_REUSED)
            .bind(session_id)
            .bind(r.now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        let Some(owner) = owner else {
            return Ok(RotateOutcome::Invalid);
        };
        // Committed even though the caller answers with an error: reuse ends the session.
        tx.commit().await.map_err(map)?;
        Ok(RotateOutcome::Reused {
            session_id: SessionId(session_id),
            user_id: UserId(owner),
        })
    }
}

fn session_from_row(row: &PgRow) -> StoreResult<Session> {
    session_from_columns(row, "id", "created_at")
}

/// A session from a row whose `id` and `created_at` columns have these names.
fn session_from_columns(
    row: &PgRow,
    id: &'static str,
    created_at: &'static str,
) -> StoreResult<Session> {
    Ok(Session {
        id: SessionId(get(row, id)?),
        user_id: UserId(get(row, "user_id")?),
        created_at: get(row, created_at)?,
        last_used_at: get(row, "last_used_at")?,
        expires_at: get(row, "expires_at")?,
        idle_expires_at: get(row, "idle_expires_at")?,
        revoked_at: get(row, "revoked_at")?,
        remember_me: get(row, "remember_me")?,
        ip: ip("ip", get(row, "ip")?)?,
        user_agent: get(row, "user_agent")?,
        authz_version: get(row, "authz_version")?,
    })
}

/// A session's owner from a row of [`with_owner`]'s columns.
fn owner_from_row(row: &PgRow) -> StoreResult<SessionOwner> {
    Ok(SessionOwner {
        user: user_from_row(row, get(row, "roles")?)?,
        permissions: sorted(get(row, "permissions")?),
    })
}
