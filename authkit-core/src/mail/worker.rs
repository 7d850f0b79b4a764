//! The delivery worker: claims due outbox messages, renders and sends them, retries failures
//! with exponential backoff, abandons what keeps failing.

use std::collections::BTreeMap;
use std::future::Future;

use serde_json::json;
use time::Duration;

use crate::AuthKit;
use crate::domain::{AuditKind, EmailId};
use crate::domain::{
    ClaimedEmail, EmailKind, EmailPayload, Locale, OutboxCounts, OutboxEntry, OutboxStatus,
};
use crate::error::Result;
use crate::mail::{Content, RenderContext};
use crate::ports::OutgoingEmail;
use crate::service::RequestContext;

/// Longest `last_error` stored.
const MAX_ERROR_LEN: usize = 500;

/// What one [`AuthKit::deliver_emails`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages handed to the mailer.
    pub sent: u32,
    /// Messages with nobody to send to (unknown address, already verified).
    pub dropped: u32,
    /// Failed attempts that will be retried.
    pub retried: u32,
    /// Messages that failed for the last time.
    pub abandoned: u32,
}

impl DeliveryReport {
    /// Messages this run claimed.
    pub fn claimed(&self) -> u32 {
        self.sent + self.dropped + self.retried + self.abandoned
    }

    fn add(&mut self, other: DeliveryReport) {
        self.sent += other.sent;
        self.dropped += other.dropped;
        self.retried += other.retried;
        self.abandoned += other.abandoned;
    }
}

/// How one attempt ended.
enum Attempt {
    Sent,
    Dropped,
    Failed { transient: bool, error: String },
}

impl AuthKit {
    /// Delivers every message that is due now, batch after batch, and returns what it did.
    /// Hosts normally run [`AuthKit::run_email_worker`] instead; this is for tests and for
    /// hosts that schedule delivery themselves.
    pub async fn deliver_emails(&self) -> Result<DeliveryReport> {
        let mut total = DeliveryReport::default();
        loop {
            let batch = self.deliver_batch().await?;
            total.add(batch);
            if batch.claimed() < self.inner.config.outbox.batch_size {
                return Ok(total);
            }
        }
    }

    /// Runs the delivery worker until `shutdown` completes: delivers what is due, then waits
    /// for new mail from this instance or for the poll interval (messages queued by other
    /// instances, retries coming due). Woken by new mail, it lingers
    /// ([`crate::config::OutboxConfig::linger`]) so that mail queued meanwhile is claimed with
    /// it. Store errors are logged and retried at the next poll.
    /// A message being sent when `shutdown` completes is finished first. Once an hour (and at
    /// start) it also purges what is kept for a while only: delivered messages past the
    /// outbox retention, full rate-limit buckets and old failed-password counts
    /// ([`AuthKit::purge_limits`]), sessions ended for longer than
    /// [`crate::AuthConfig::session_retention`] ([`AuthKit::purge_sessions`]), expired
    /// verification and reset tokens ([`AuthKit::purge_tokens`]), and audit events older than
    /// [`crate::AuthConfig::audit_retention`] when it is set ([`AuthKit::purge_audit`]).
    ///
    /// Run exactly this in the background of every instance that should send email; several
    /// instances on one database share the work without sending a message twice.
    ///
    /// ```no_run
    /// # async fn run(kit: authkit_core::AuthKit) {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let worker = tokio::spawn(kit.clone().run_email_worker(async move {
    ///     let _ = stopped.await;
    /// }));
    /// // ... serve HTTP until shutdown, then:
    /// let _ = stop.send(());
    /// let _ = worker.await;
    /// # }
    /// ```
    pub async fn run_email_worker<F>(self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        let mut shutdown = std::pin::pin!(shutdown);
        let config = &self.inner.config.outbox;
        let poll = config.poll_interval.unsigned_abs();
        let linger = config.linger.min(config.poll_interval).unsigned_abs();
        let mut next_purge = self.inner.clock.now();
        loop {
            let mut more = false;
            match self.deliver_batch().await {
                Ok(report) => more = report.claimed() >= config.batch_size,
                Err(e) => {
                    tracing::warn!(target: "authkit::mail", error = %e, "email delivery failed")
                }
            }
            let now = self.inner.clock.now();
            if now >= next_purge {
                next_purge = now + Duration::hours(1);
                self.purge_kept_data(now).await;
            }
            let wakeup = self.inner.outbox_wakeup.notified();
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = std::future::ready(()), if more => {}
                () = wakeup => {
                    if !linger.is_zero() {
                        tokio::select! {
                            biased;
                            () = &mut shutdown => return,
                            () = tokio::time::sleep(linger) => {}
                        }
                    }
                }
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// The worker's hourly pass: each purge of what is kept for a while only, each failure
    /// logged and left to the next pass.
    async fn purge_kept_data(&self, now: time::OffsetDateTime) {
        let retention = self.inner.config.outbox.retention;
        if let Err(e) = self.inner.store.purge_outbox(now - retention).await {
            tracing::warn!(target: "authkit::mail", error = %e, "purging the outbox failed");
        }
        self.purge_limits(now).await;
        if let Err(e) = self.purge_sessions(now).await {
            tracing::warn!(target: "authkit::sessions", error = %e, "purging ended sessions failed");
        }
        if let Err(e) = self.purge_tokens(now).await {
            tracing::warn!(target: "authkit::tokens", error = %e, "purging expired one-time tokens failed");
        }
        if let Err(e) = self.purge_audit(now).await {
            tracing::warn!(target: "authkit::audit", error = %e, "purging old audit events failed");
        }
    }

    /// Forgets rate-limit buckets that are full again and failed-password counts idle for
    /// [`crate::limits::FORGET_FAILURES_AFTER`] (the email worker does this hourly).
    pub async fn purge_limits(&self, now: time::OffsetDateTime) {
        if let Err(e) = self.inner.rate_limits.purge_rate_limits(now).await {
            tracing::warn!(target: "authkit::limits", error = %e, "purging rate limits failed");
        }
        let before = now - crate::limits::FORGET_FAILURES_AFTER;
        if let Err(e) = self.inner.store.purge_password_failures(before).await {
            tracing::warn!(target: "authkit::limits", error = %e, "purging failed logins failed");
        }
    }

    /// Counts of outbox messages by status (for readiness details and metrics).
    pub async fn outbox_counts(&self) -> Result<OutboxCounts> {
        Ok(self.inner.store.outbox_counts().await?)
    }

    /// Outbox messages with `status` (all when `None`), oldest first, at most `limit`.
    pub async fn outbox_messages(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>> {
        Ok(self.inner.store.list_outbox(status, limit).await?)
    }

    /// Queues abandoned messages again (those in `ids`, or all when empty); returns how many.
    pub async fn retry_abandoned_emails(&self, ids: &[EmailId]) -> Result<u64> {
        let n = self
            .inner
            .store
            .requeue_emails(ids, self.inner.clock.now())
            .await?;
        self.wake_email_worker();
        Ok(n)
    }

    /// Claims one batch and attempts each message.
    async fn deliver_batch(&self) -> Result<DeliveryReport> {
        let config = &self.inner.config.outbox;
        let now = self.inner.clock.now();
        let claimed = self
            .inner
            .store
            .claim_emails(now, now + config.lease, config.batch_size)
            .await?;
        let mut report = DeliveryReport::default();
        for message in claimed {
            let (id, attempts, kind) = (message.id, message.attempts, message.kind);
            let outcome = self.attempt(message).await;
            let now = self.inner.clock.now();
            let store = &self.inner.store;
            match outcome {
                Ok(Attempt::Sent) => {
                    store.mark_email_sent(id, now).await?;
                    report.sent += 1;
                }
                Ok(Attempt::Dropped) => {
                    store.mark_email_dropped(id, now).await?;
                    report.dropped += 1;
                }
                Ok(Attempt::Failed { transient, error }) => {
                    let retry_at = (transient && attempts < config.max_attempts)
                        .then(|| now + self.backoff(attempts));
                    if retry_at.is_some() {
                        report.retried += 1;
                    } else {
                        report.abandoned += 1;
                    }
                    tracing::warn!(
                        target: "authkit::mail",
                        email_id = %id,
                        kind = %kind,
                        attempts,
                        abandoned = retry_at.is_none(),
                        error = %error,
                        "sending an email failed"
                    );
                    store.mark_email_failed(id, &error, retry_at, now).await?;
                }
                // The store failed mid-attempt: the lease ends and the message is claimed again.
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// The wait after the `attempts`-th failure: `retry_initial * 2^(attempts-1)`, at most
    /// `retry_max`.
    fn backoff(&self, attempts: u32) -> Duration {
        let config = &self.inner.config.outbox;
        let factor = 2i32.saturating_pow(attempts.saturating_sub(1).min(30));
        config
            .retry_initial
            .checked_mul(factor)
            .unwrap_or(config.retry_max)
            .min(config.retry_max)
    }

    /// Prepares (looking the account up when needed), renders and sends one message.
    async fn attempt(&self, message: ClaimedEmail) -> Result<Attempt> {
        let Some(content) = Content::from_payload(&message.payload) else {
            return Ok(Attempt::Failed {
                transient: false,
                error: "the stored payload is unreadable".to_owned(),
            });
        };
        let (vars, locale) = match content {
            Content::Ready { vars } => (vars, message.locale.clone()),
            Content::Lookup { ip, user_agent } => {
                let ctx = RequestContext { ip, user_agent };
                match self.resolve_lookup(&message, &ctx).await? {
                    Some(ready) => ready,
                    None => return Ok(Attempt::Dropped),
                }
            }
        };
        let config = &self.inner.config;
        let preferred: Vec<_> = locale.iter().chain([&config.default_locale]).collect();
        let rendered = match self.inner.templates.render(
            message.kind,
            &preferred,
            &RenderContext {
                service: &config.service_name,
                public_url: &config.public_url,
                to: message.to.as_str(),
                vars: &vars,
            },
        ) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Failed {
                    transient: true,
                    error: truncate(e.to_string()),
                });
            }
        };
        let email = OutgoingEmail {
            to: message.to.clone(),
            kind: message.kind,
            locale: rendered.locale,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            link: vars.get("link").cloned(),
        };
        let timeout = config.outbox.send_timeout.unsigned_abs();
        match tokio::time::timeout(timeout, self.inner.mailer.send(&email)).await {
            Ok(Ok(())) => Ok(Attempt::Sent),
            Ok(Err(e)) => Ok(Attempt::Failed {
                transient: e.transient,
                error: truncate(format!(
                    "{}: {}",
                    if e.transient {
                        "transient"
                    } else {
                        "permanent"
                    },
                    e.source
                )),
            }),
            Err(_) => Ok(Attempt::Failed {
                transient: true,
                error: format!("transient: no answer within {} s", timeout.as_secs()),
            }),
        }
    }

    /// Looks up the account a reset or verification was requested for. When it qualifies,
    /// stores the token and the ready payload (one transaction) and returns the variables;
    /// `None` when there is nobody to send to.
    async fn resolve_lookup(
        &self,
        message: &ClaimedEmail,
        ctx: &RequestContext,
    ) -> Result<Option<(BTreeMap<String, String>, Option<Locale>)>> {
        let store = &self.inner.store;
        let Some(creds) = store.credentials_by_email(&message.to).await? else {
            return Ok(None);
        };
        let user = creds.user;
        let qualifies = match message.kind {
            // A disabled account may reset its password too (login still refuses it).
            EmailKind::PasswordReset => true,
            EmailKind::VerifyEmail => !user.email_verified,
            _ => false,
        };
        if !qualifies {
            return Ok(None);
        }
        let now = self.inner.clock.now();
        let (token, vars) = self.one_time_link(message.kind, user.id, &user.email, now)?;
        let payload: EmailPayload = Content::Ready { vars: vars.clone() }.to_payload()?;
        store
            .prepare_email(message.id, &token, &payload, user.locale.as_ref(), now)
            .await?;
        if message.kind == EmailKind::PasswordReset {
            self.audit(
                ctx,
                AuditKind::PasswordResetRequested,
                Some(user.id),
                json!({}),
            )
            .await;
        }
        Ok(Some((vars, user.locale)))
    }
}

fn truncate(s: String) -> String {
    crate::service::cut_at_boundary(&s, MAX_ERROR_LEN).to_owned()
}
