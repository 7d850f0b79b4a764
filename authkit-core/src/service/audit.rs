//! Recording audit events: appended to the store and emitted as `tracing` events.

use crate::AuthKit;
use crate::domain::{AuditEvent, AuditKind, UserId, new_v7};
use crate::service::RequestContext;
use serde_json::Value;

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

    /// Like [`AuthKit::audit`], with an actor other than the subject (an administrator).
    pub(crate) async fn audit_by(
        &self,
        ctx: &RequestContext,
        kind: AuditKind,
        user_id: Option<UserId>,
        actor_id: Option<UserId>,
        detail: Value,
    ) {
        crate::metrics::audit_event(kind);
        let now = self.inner.clock.now();
        let event = AuditEvent {
            id: new_v7(now),
            at: now,
            event: kind.as_str().to_owned(),
            user_id,
            actor_id,
            ip: ctx.ip,
            user_agent: ctx.user_agent_truncated(),
            detail,
        };
        tracing::info!(
            target: "authkit::audit",
            event = event.event,
            user_id = user_id.map(|u| u.to_string()),
            actor_id = actor_id.map(|u| u.to_string()),
            ip = ctx.ip.map(|ip| ip.to_string()),
            detail = %event.detail,
        );
        if let Err(e) = self.inner.store.append_audit(&event).await {
            tracing::warn!(target: "authkit::audit", error = %e, "could not append audit event");
        }
    }
}
