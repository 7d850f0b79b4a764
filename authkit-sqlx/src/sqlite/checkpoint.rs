//! Checkpoints off the writer.
//!
//! In WAL mode SQLite copies the log back into the database file (a checkpoint) in the commit
//! that takes the log past `wal_autocheckpoint` pages (1 000 by default): on the one writing
//! connection, while every other write waits for it. Under a steady stream of refreshes that
//! copying took about a third of the writer's time, and pages written again and again (a
//! session's row, the tail of the audit log) were copied once per thousand pages.
//!
//! A store built by `SqliteStore::connect` therefore raises the writer's threshold to
//! [`WRITER_AUTOCHECKPOINT`] pages and checkpoints from a reader connection in the background
//! (`PRAGMA wal_checkpoint(PASSIVE)`, which blocks neither the writer nor the readers), at
//! most once per [`INTERVAL`] while writes happen and not at all while none do. The writer's
//! own checkpoint then finds little left to copy, and restarts the log, which so stays under
//! the threshold (16 MB). Measured on `bench/run`'s refresh load (2 cores): about 9 500 → 10 700
//! requests/s, p99 latency 11 → 14 ms.

use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The writer's `wal_autocheckpoint`, in pages of 4 KiB.
pub(super) const WRITER_AUTOCHECKPOINT: u32 = 4000;

/// The least time between two background checkpoints.
const INTERVAL: Duration = Duration::from_millis(50);

/// The background checkpoint task of a store; it stops when this is dropped (with the last
/// clone of the store).
#[derive(Debug)]
pub(super) struct Checkpointer {
    wrote: Arc<Notify>,
    task: AbortHandle,
}

impl Checkpointer {
    /// Starts the task, which checkpoints through `readers` (in the current tokio runtime).
    pub(super) fn start(readers: SqlitePool) -> Self {
        let wrote = Arc::new(Notify::new());
        let task = tokio::spawn(run(readers, Arc::clone(&wrote))).abort_handle();
        Self { wrote, task }
    }

    /// Tells the task that the database is being written to: it checkpoints [`INTERVAL`]
    /// later (once for every write that came meanwhile).
    pub(super) fn wrote(&self) {
        self.wrote.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits for a write, lets [`INTERVAL`] pass, checkpoints what the readers allow, and again.
async fn run(readers: SqlitePool, wrote: Arc<Notify>) {
    loop {
        wrote.notified().await;
        tokio::time::sleep(INTERVAL).await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&readers)
            .await
        {
            // The writer's own checkpoint still bounds the log; a database that is gone
            // fails every other call as well.
            tracing::debug!(target: "authkit::sqlite", %error, "background checkpoint failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::time::Instant;

    use authkit_core::domain::AuditEvent;
    use authkit_core::ports::AuditStore;
    use time::macros::datetime;

    use super::*;
    use crate::SqliteStore;

    /// Writes far below the writer's threshold reach the database file anyway: the background
    /// task copied them (without it they would wait in the log until it holds 4 000 pages).
    /// The writer's connection has the raised threshold.
    #[tokio::test]
    async fn writes_are_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("authkit.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let threshold: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(store.writer())
            .await
            .unwrap();
        assert_eq!(threshold, i64::from(WRITER_AUTOCHECKPOINT));
        // Everything so far in the file, the log emptied (retried while the background task
        // holds the checkpoint lock).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (busy,): (i64,) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(store.writer())
                .await
                .unwrap();
            if busy == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the log never emptied");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = std::fs::metadata(&file).unwrap().len();

        let at = datetime!(2030-01-02 03:04:05 UTC);
        let events: Vec<AuditEvent> = (0..500)
            .map(|i| AuditEvent {
                id: authkit_core::domain::new_v7(at + time::Duration::milliseconds(i)),
                at,
                event: "background".to_owned(),
                user_id: None,
                actor_id: None,
                ip: None,
                user_agent: Some(format!("agent {i} {}", "x".repeat(200))),
                detail: serde_json::json!({}),
            })
            .collect();
        store.append_audits(&events).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&file).unwrap().len() == before {
            assert!(
                Instant::now() < deadline,
                "the events never reached the database file ({before} bytes)"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
