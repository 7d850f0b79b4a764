//! Recording audit events: appended to the store and emitted as `tracing` events.
//!
//! Appends go through one writer task per kit ([`AuditWriter`]): a request hands its event over
//! and waits until the batch holding it is written, so an operation still returns after its
//! event is stored, but events that queue up while a batch is written share the next write
//! (one `INSERT` of many rows: [`crate::ports::AuditStore::append_audits`]). Under load, the
//! audit log then costs one database write per batch instead of one per request (a group
//! commit), which matters most on SQLite, where every write waits for the single writer.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::AuthKit;
use crate::domain::{AuditEvent, AuditKind, UserId, new_v7};
use crate::error::Result;
use crate::job_queue::JobQueue;
use crate::ports::{AuditStore, Store};
use crate::service::RequestContext;
use serde_json::Value;
use time::OffsetDateTime;

/// An event on its way to the writer, and who waits for it to be written.
type Queued = (AuditEvent, oneshot::Sender<()>);

/// A kit's audit writer: a queue in front of one task ([`JobQueue`]).
#[derive(Debug)]
pub(crate) struct AuditWriter {
    queue: JobQueue<Queued>,
}

impl Default for AuditWriter {
    fn default() -> Self {
        Self {
            queue: JobQueue::new(Self::QUEUE),
        }
    }
}

impl AuditWriter {
    /// Events waiting for the writer before senders wait too.
    const QUEUE: usize = 1024;
    /// The most events written in one call.
    const BATCH: usize = 256;

    /// Appends `event` through the writer and waits until its batch was written (or failed:
    /// a failure is logged and does not fail the operation the event describes).
    async fn append(&self, store: &Arc<dyn Store>, event: AuditEvent) {
        let (written, wait) = oneshot::channel();
        let start = |rx| write_batches(Arc::clone(store) as Arc<dyn AuditStore>, rx);
        match self.queue.send((event, written), start).await {
            // The writer answers once the batch is written; a dropped answer means it stopped
            // (its runtime ended) with the event in hand.
            Ok(()) => {
                let _ = wait.await;
            }
            // No writer could take the event: write it here.
            Err((event, _)) => append_one(store, &event).await,
        }
    }
}

/// The writer task: takes what is queued (at most [`AuditWriter::BATCH`]), writes it in one
/// call, tells the waiting requests, and again, until every sender is gone.
async fn write_batches(store: Arc<dyn AuditStore>, mut rx: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(AuditWriter::BATCH);
    while rx.recv_many(&mut batch, AuditWriter::BATCH).await > 0 {
        let (events, waiting): (Vec<AuditEvent>, Vec<oneshot::Sender<()>>) =
            batch.drain(..).unzip();
        if let Err(e) = store.append_audits(&events).await {
            tracing::warn!(
                target: "authkit::audit",
                error = %e,
                events = events.len(),
                "could not append audit events"
            );
        }
        for written in waiting {
            let _ = written.send(());
        }
    }
}

async fn append_one(store: &Arc<dyn Store>, event: &AuditEvent) {
    if let Err(e) = store.append_audit(event).await {
        tracing::warn!(target: "authkit::audit", error = %e, "could not append audit event");
    }
}

impl AuthKit {
    /// Appends an audit event, emits it as a `tracing` event (target `authkit::audit`) and
    /// counts it ([`crate::metrics::audit_event`]). A failure to append is logged and does not
    /// fail the operation it describes.
    pub(crate) async fn audit(
        &self,
        ctx: &RequestContext,
        kind: AuditKind,
        user_id: Option<UserId>,
        detail: Value,
    ) {
        self.audit_by(ctx, kind, user_id, user_id, detail).await;
    }

    /// Deletes the audit events older than [`crate::AuthConfig::audit_retention`] before `now`
    /// ([`crate::ports::AuditStore::purge_audit`]); returns how many. With no retention set
    /// (the default) it keeps every event and returns 0 without asking the store. The email
    /// worker ([`AuthKit::run_email_worker`]) runs it every hour; a host that runs no worker
    /// can call it on its own schedule.
    pub async fn purge_audit(&self, now: OffsetDateTime) -> Result<u64> {
        match self.inner.config.audit_retention {
            Some(retention) => Ok(self.inner.store.purge_audit(now - retention).await?),
            None => Ok(0),
        }
    }

    /// Like [`AuthKit::audit`], with an actor other than the subject (an administrator).
    pub(crate) async fn audit_by(
        &self,
        ctx: &RequestContext,
        kind: AuditKind,
        user_id: Option<UserId>,
        actor_id: Option<UserId>,
        detail: Value,
    ) {
        let event = self.audit_event(ctx, kind, user_id, actor_id, detail);
        self.record(kind, event).await;
    }

    /// The event of `kind` happening now, in the request `ctx`, for a store to append with the
    /// change it records (e.g. [`crate::ports::UserStore::create_user_audited`]).
    pub(crate) fn audit_event(
        &self,
        ctx: &RequestContext,
        kind: AuditKind,
        user_id: Option<UserId>,
        actor_id: Option<UserId>,
        detail: Value,
    ) -> AuditEvent {
        let now = self.inner.clock.now();
        AuditEvent {
            id: new_v7(now),
            at: now,
            event: kind.as_str().to_owned(),
            user_id,
            actor_id,
            ip: ctx.ip,
            user_agent: ctx.user_agent_truncated(),
            detail,
        }
    }

    /// Emits `event` (of `kind`) and appends it through the kit's audit writer.
    pub(crate) async fn record(&self, kind: AuditKind, event: AuditEvent) {
        self.announce(kind, &event);
        self.inner
            .audit_writer
            .append(&self.inner.store, event)
            .await;
    }

    /// Emits `event` (of `kind`), and appends it unless the store already appended it with the
    /// change it records (`audited`).
    pub(crate) async fn record_unless_audited(
        &self,
        kind: AuditKind,
        event: AuditEvent,
        audited: bool,
    ) {
        if audited {
            self.announce(kind, &event);
        } else {
            self.record(kind, event).await;
        }
    }

    /// Emits `event` (of `kind`) as a `tracing` event (target `authkit::audit`) and counts it,
    /// without appending it: for an event a store appended with the change it records
    /// ([`crate::ports::SessionStore::rotate_refresh_audited`]).
    pub(crate) fn announce(&self, kind: AuditKind, event: &AuditEvent) {
        crate::metrics::audit_event(kind);
        tracing::info!(
            target: "authkit::audit",
            event = event.event,
            user_id = event.user_id.map(|u| u.to_string()),
            actor_id = event.actor_id.map(|u| u.to_string()),
            ip = event.ip.map(|ip| ip.to_string()),
            detail = %event.detail,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::sync::Mutex;

    use async_trait::async_trait;
    use time::OffsetDateTime;
    use tokio::sync::{Notify, Semaphore};

    use super::*;
    use crate::domain::{AuditQuery, Page};
    use crate::ports::StoreResult;

    /// An audit store that records the size of each batch and holds its first write until the
    /// test opens the gate.
    struct GatedAudit {
        batches: Mutex<Vec<Vec<String>>>,
        first_started: Notify,
        gate: Semaphore,
    }

    #[async_trait]
    impl AuditStore for GatedAudit {
        async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
            self.append_audits(std::slice::from_ref(event)).await
        }
        async fn append_audits(&self, events: &[AuditEvent]) -> StoreResult<()> {
            let first = self.batches.lock().unwrap().is_empty();
            if first {
                self.first_started.notify_one();
                self.gate.acquire().await.unwrap().forget();
            }
            let names = events.iter().map(|e| e.event.clone()).collect();
            self.batches.lock().unwrap().push(names);
            Ok(())
        }
        async fn audit_of_user(&self, _: UserId, _: u32) -> StoreResult<Vec<AuditEvent>> {
            Ok(Vec::new())
        }
        async fn list_audit(&self, _: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
            Ok(Page {
                items: Vec::new(),
                has_more: false,
            })
        }
        async fn purge_audit(&self, _: OffsetDateTime) -> StoreResult<u64> {
            Ok(0)
        }
    }

    fn event(n: usize) -> AuditEvent {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        AuditEvent {
            id: new_v7(at),
            at,
            event: format!("e{n}"),
            user_id: None,
            actor_id: None,
            ip: None,
            user_agent: None,
            detail: Value::Null,
        }
    }

    #[tokio::test]
    async fn events_queued_during_a_write_share_the_next_one_in_order() {
        let store = Arc::new(GatedAudit {
            batches: Mutex::default(),
            first_started: Notify::new(),
            gate: Semaphore::new(0),
        });
        let (tx, rx) = mpsc::channel(AuditWriter::QUEUE);
        let writer = tokio::spawn(write_batches(store.clone() as Arc<dyn AuditStore>, rx));
        let mut answers = Vec::new();
        let (written, answer) = oneshot::channel();
        tx.send((event(0), written)).await.unwrap();
        answers.push(answer);
        store.first_started.notified().await;
        for n in 1..=10 {
            let (written, answer) = oneshot::channel();
            tx.send((event(n), written)).await.unwrap();
            answers.push(answer);
        }
        store.gate.add_permits(1);
        for answer in answers {
            answer.await.unwrap();
        }
        let expected: Vec<String> = (1..=10).map(|n| format!("e{n}")).collect();
        assert_eq!(
            *store.batches.lock().unwrap(),
            vec![vec!["e0".to_owned()], expected]
        );
        drop(tx);
        writer.await.unwrap();
    }
}
