//! sqlx errors to [`StoreError`]: conflicts by constraint name, unreachable databases as
//! `Unavailable`, everything else as `Backend` with the sqlx error kept as the source.

use authkit_core::ports::{Conflict, StoreError};
use sqlx::error::{DatabaseError, ErrorKind};

/// The unique constraint on a user's email (PostgreSQL constraint name).
const EMAIL_CONSTRAINT: &str = "authkit_users_email_key";
/// Primary keys whose violation means "this id was reused" (PostgreSQL constraint names).
const ID_CONSTRAINTS: &[&str] = &[
    "authkit_users_pkey",
    "authkit_sessions_pkey",
    "authkit_outbox_pkey",
];
/// SQLite reports the columns instead of the constraint name.
const EMAIL_COLUMNS: &str = "authkit_users.email";
const ID_COLUMNS: &[&str] = &[
    "authkit_users.id",
    "authkit_sessions.id",
    "authkit_outbox.id",
];

/// Maps a sqlx error to the port's error.
pub(crate) fn map(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            StoreError::Conflict(conflict_of(db.as_ref()))
        }
        sqlx::Error::Database(db) if is_unavailable(db.as_ref()) => {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// Which uniqueness rule a unique violation broke.
fn conflict_of(db: &dyn DatabaseError) -> Conflict {
    if let Some(name) = db.constraint() {
        return if name == EMAIL_CONSTRAINT {
            Conflict::Email
        } else if ID_CONSTRAINTS.contains(&name) {
            Conflict::Id
        } else {
            Conflict::Other
        };
    }
    // SQLite: "UNIQUE constraint failed: authkit_users.email" (columns, comma-separated).
    let columns = db
        .message()
        .rsplit_once("constraint failed: ")
        .map_or("", |(_, c)| c.trim());
    if columns == EMAIL_COLUMNS {
        Conflict::Email
    } else if ID_COLUMNS.contains(&columns) {
        Conflict::Id
    } else {
        Conflict::Other
    }
}

/// Database errors that mean "cannot be reached / not accepting work right now".
fn is_unavailable(db: &dyn DatabaseError) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return postgres_code_is_unavailable(pg.code());
    }
    #[cfg(feature = "sqlite")]
    if let Some(lite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        let primary = lite
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map_or(0, |c| c & 0xff);
        // SQLITE_BUSY (still locked after busy_timeout), SQLITE_LOCKED, SQLITE_IOERR,
        // SQLITE_CANTOPEN.
        return matches!(primary, 5 | 6 | 10 | 14);
    }
    let _ = db;
    false
}

/// PostgreSQL SQLSTATEs that mean "the server cannot do this work right now", not "this
/// request is wrong": class 08 (connection exception), 57P01-05 (shutting down, terminated by
/// an administrator, cannot connect now, idle session timeout), class 53 (insufficient
/// resources: too many connections, out of memory, disk full) and 25006 (a write on a
/// read-only server: a standby, or a primary during a failover).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn postgres_code_is_unavailable(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") || code == "25006"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_unavailable() {
        assert!(matches!(
            map(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map(sqlx::Error::Io(std::io::Error::other("refused"))),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            map(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }

    /// What the pool and a connection report while PostgreSQL is stopped or stopping (seen in
    /// reference-server/tests/db_outage.rs): refused connections (retried by the pool until
    /// its acquire timeout), a connection closed under a query.
    #[test]
    fn a_stopped_database_is_unavailable() {
        use std::io::{Error as IoError, ErrorKind};
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::UnexpectedEof,
            ErrorKind::BrokenPipe,
            ErrorKind::TimedOut,
        ] {
            assert!(
                matches!(
                    map(sqlx::Error::Io(IoError::new(kind, "gone"))),
                    StoreError::Unavailable(_)
                ),
                "{kind:?}"
            );
        }
        assert!(matches!(
            map(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn postgres_codes_of_an_unavailable_server() {
        for code in [
            "08000", // connection exception
            "08006", // connection failure
            "57P01", // admin shutdown: terminating connection due to administrator command
            "57P02", // crash shutdown
            "57P03", // cannot connect now: the database system is starting up / shutting down
            "53300", // too many connections
            "53100", // disk full
            "53200", // out of memory
            "25006", // read-only transaction: a standby, or a failover in progress
        ] {
            assert!(postgres_code_is_unavailable(code), "{code}");
        }
        for code in [
            "23505", // unique violation
            "42P01", // undefined table
            "22P02", // invalid text representation
            "40001", // serialization failure
            "25P02", // in failed transaction
        ] {
            assert!(!postgres_code_is_unavailable(code), "{code}");
        }
    }
}
