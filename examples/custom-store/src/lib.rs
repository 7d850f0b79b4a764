//! A store of your own: [`LoggingStore`] implements every storage port of authkit by delegating
//! to another store (here the in-memory one) and logging each call with `tracing`: the method,
//! the ids it is about, its outcome and how long it took. Never a secret: no password hash,
//! token hash, refresh token or signing key is logged, nor email addresses (personal data).
//!
//! Run: `cargo run -p example-custom-store` (register and log in over this store, in process,
//! with its log on stderr); `cargo test -p example-custom-store` runs the store conformance
//! suite against it.
//!
//! # Implementing the ports
//!
//! A store is one `impl` per trait of `authkit_core::ports` ([`UserStore`], [`SessionStore`],
//! [`OneTimeTokenStore`], [`RoleStore`], [`AuditStore`], [`KeyStore`], [`OutboxStore`],
//! [`LoginThrottleStore`], [`StoreHealth`]) plus
//! `Debug`; the blanket `impl Store for T` then makes it a `Store`, which
//! `AuthKit::builder(..).store(..)` takes. The traits are `#[async_trait]`
//! (`authkit_core::async_trait` names the version core uses).
//!
//! What each method MUST do is written on the trait method, not here: which calls are atomic
//! (and what "atomic" means when callers race), which error each failure is
//! (`StoreError::Conflict(Conflict::Email)`, `NotFound`, `Unavailable` for a lost connection),
//! how soft-deleted users are treated, and that a store never reads the clock (`now` is always
//! a parameter). A wrapper like this one inherits all of that from the store it wraps; a store
//! over your own database has to provide it. Either way, run `authkit_testkit::store_suite!`
//! against it (see `tests/conformance.rs`): it turns those MUST rules into tests, the same
//! ones authkit's memory, SQLite and PostgreSQL stores pass.

use std::future::Future;
use std::time::Instant;

use authkit_core::async_trait;
use authkit_core::domain::{
    AdminPatch, AuditEvent, AuditQuery, ClaimedEmail, Email, EmailId, EmailPayload, Locale,
    NewOneTimeToken, NewSession, NewUser, OneTimeToken, OutboxCounts, OutboxEntry, OutboxStatus,
    Page, PasswordHash, ProfilePatch, QueuedMail, RefreshRotation, Role, RotateOutcome, Session,
    SessionId, StoredSigningKey, TokenHash, TokenPurpose, User, UserCredentials, UserId, UserQuery,
    UserStatus,
};
use authkit_core::ports::{
    AttemptDecision, AuditStore, KeyStore, LoginThrottle, LoginThrottleStore, OneTimeTokenStore,
    OutboxStore, RoleStore, SessionStore, StoreHealth, StoreResult, UserStore,
};
use authkit_core::time::OffsetDateTime;

/// Every storage port, delegated to `S` and logged (target `custom_store`, level `debug` for
/// successes and `warn` for errors).
#[derive(Debug, Clone, Default)]
pub struct LoggingStore<S> {
    inner: S,
}

impl<S> LoggingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

/// Runs one store call and logs it. `about` names what the call concerns (ids, never secrets).
async fn logged<T: Summary>(
    method: &'static str,
    about: impl std::fmt::Display,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    let micros = started.elapsed().as_micros();
    match &result {
        Ok(value) => tracing::debug!(
            target: "custom_store",
            method,
            %about,
            outcome = %value.summary(),
            micros,
            "store call"
        ),
        // `StoreError`'s message is semantic ("conflict: email taken", "not found"); its
        // source (a driver error) is left out of the log line here.
        Err(error) => tracing::warn!(
            target: "custom_store",
            method,
            %about,
            %error,
            micros,
            "store call failed"
        ),
    }
    result
}

/// What a call returned, in a few words and without secrets.
trait Summary {
    fn summary(&self) -> String;
}

impl Summary for () {
    fn summary(&self) -> String {
        "ok".to_owned()
    }
}

impl Summary for bool {
    fn summary(&self) -> String {
        self.to_string()
    }
}

impl Summary for u64 {
    fn summary(&self) -> String {
        self.to_string()
    }
}

impl Summary for u32 {
    fn summary(&self) -> String {
        self.to_string()
    }
}

impl Summary for AttemptDecision {
    fn summary(&self) -> String {
        match self {
            Self::Allowed => "allowed".to_owned(),
            Self::Throttled { retry_after } => format!("throttled for {retry_after}"),
        }
    }
}

impl Summary for OutboxCounts {
    fn summary(&self) -> String {
        format!(
            "queued {} processing {} sent {} dropped {} abandoned {}",
            self.queued, self.processing, self.sent, self.dropped, self.abandoned
        )
    }
}

impl Summary for User {
    fn summary(&self) -> String {
        format!("user {}", self.id)
    }
}

impl Summary for UserCredentials {
    fn summary(&self) -> String {
        // The password hash stays out of the log.
        format!("credentials of user {}", self.user.id)
    }
}

impl Summary for Session {
    fn summary(&self) -> String {
        format!("session {}", self.id)
    }
}

impl Summary for OneTimeToken {
    fn summary(&self) -> String {
        format!("{} token of user {}", self.purpose.as_str(), self.user_id)
    }
}

impl Summary for RotateOutcome {
    fn summary(&self) -> String {
        match self {
            Self::Rotated(session) => format!("rotated session {}", session.id),
            Self::Reused { session_id, .. } => format!("reuse: revoked session {session_id}"),
            Self::Invalid => "invalid".to_owned(),
        }
    }
}

impl<T: Summary> Summary for Option<T> {
    fn summary(&self) -> String {
        self.as_ref().map_or_else(|| "none".to_owned(), T::summary)
    }
}

impl Summary for Role {
    fn summary(&self) -> String {
        format!(
            "role {} ({} permissions)",
            self.name,
            self.permissions.len()
        )
    }
}

impl<T> Summary for Page<T> {
    fn summary(&self) -> String {
        format!("{} items, more: {}", self.items.len(), self.has_more)
    }
}

impl<T> Summary for Vec<T> {
    fn summary(&self) -> String {
        format!("{} items", self.len())
    }
}

/// For calls about nothing in particular.
const NOTHING: &str = "-";

/// What a throttle key is about, for the log: its scope (`login:…` → `login`). The rest is a
/// hash of an email address, which stays out of the log like the address itself.
fn scope_of(key: &str) -> &str {
    key.split_once(':').map_or("-", |(scope, _)| scope)
}

#[async_trait]
impl<S: UserStore> UserStore for LoggingStore<S> {
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
        let about = format!("user {} roles {:?}", new.id, new.roles);
        logged("create_user", about, self.inner.create_user(new, mail)).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        logged("user_by_id", id, self.inner.user_by_id(id)).await
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<UserCredentials>> {
        let call = self.inner.credentials_by_email(email);
        logged("credentials_by_email", NOTHING, call).await
    }

    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        logged("credentials_by_id", id, self.inner.credentials_by_id(id)).await
    }

    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<User> {
        let call = self.inner.update_profile(id, patch, now, mail);
        logged("update_profile", id, call).await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool> {
        let call = self.inner.replace_password_hash(id, old, new);
        logged("replace_password_hash", id, call).await
    }

    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<()> {
        let call = self.inner.set_password(id, hash, keep, now, mail);
        logged("set_password", id, call).await
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let about = format!("{id} {status:?}");
        logged("set_status", about, self.inner.set_status(id, status, now)).await
    }

    async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()> {
        logged("soft_delete_user", id, self.inner.soft_delete_user(id, now)).await
    }

    async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User> {
        logged("restore_user", id, self.inner.restore_user(id, now)).await
    }

    async fn admin_update_user(
        &self,
        id: UserId,
        patch: &AdminPatch,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        let call = self.inner.admin_update_user(id, patch, now);
        logged("admin_update_user", id, call).await
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        let about = format!("limit {}", query.limit);
        logged("list_users", about, self.inner.list_users(query)).await
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for LoggingStore<S> {
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
        let about = format!("session {} of user {}", new.id, new.user_id);
        logged("create_session", about, self.inner.create_session(new)).await
    }

    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        logged("session", id, self.inner.session(id)).await
    }

    async fn rotate_refresh(&self, rotation: &RefreshRotation) -> StoreResult<RotateOutcome> {
        logged(
            "rotate_refresh",
            NOTHING,
            self.inner.rotate_refresh(rotation),
        )
        .await
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let about = format!("session {id} of user {user}");
        logged(
            "revoke_session",
            about,
            self.inner.revoke_session(user, id, now),
        )
        .await
    }

    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        let call = self.inner.revoke_all_sessions(user, now);
        logged("revoke_all_sessions", user, call).await
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>> {
        logged("sessions_of", user, self.inner.sessions_of(user)).await
    }

    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
        logged(
            "purge_sessions",
            ended_before,
            self.inner.purge_sessions(ended_before),
        )
        .await
    }
}

#[async_trait]
impl<S: OneTimeTokenStore> OneTimeTokenStore for LoggingStore<S> {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        let about = format!("{} token of user {}", token.purpose.as_str(), token.user_id);
        logged("insert_token", about, self.inner.insert_token(token)).await
    }

    async fn consume_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        let call = self.inner.consume_token(hash, purpose, now);
        logged("consume_token", purpose.as_str(), call).await
    }

    async fn peek_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        let call = self.inner.peek_token(hash, purpose, now);
        logged("peek_token", purpose.as_str(), call).await
    }

    async fn verify_email_with_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let call = self.inner.verify_email_with_token(hash, now);
        logged("verify_email_with_token", NOTHING, call).await
    }

    async fn reset_password_with_token(
        &self,
        hash: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<Option<User>> {
        let call = self
            .inner
            .reset_password_with_token(hash, new_hash, now, mail);
        logged("reset_password_with_token", NOTHING, call).await
    }

    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        let call = self.inner.purge_tokens(expired_before);
        logged("purge_tokens", expired_before, call).await
    }
}

#[async_trait]
impl<S: RoleStore> RoleStore for LoggingStore<S> {
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
        let about = format!("{roles:?}");
        logged("permissions_of", about, self.inner.permissions_of(roles)).await
    }

    async fn roles(&self) -> StoreResult<Vec<Role>> {
        logged("roles", NOTHING, self.inner.roles()).await
    }

    async fn create_role(&self, role: &Role) -> StoreResult<Role> {
        logged("create_role", &role.name, self.inner.create_role(role)).await
    }

    async fn update_role(&self, role: &Role) -> StoreResult<Role> {
        logged("update_role", &role.name, self.inner.update_role(role)).await
    }

    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        logged("delete_role", name, self.inner.delete_role(name)).await
    }
}

#[async_trait]
impl<S: AuditStore> AuditStore for LoggingStore<S> {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        logged("append_audit", &event.event, self.inner.append_audit(event)).await
    }

    async fn append_audits(&self, events: &[AuditEvent]) -> StoreResult<()> {
        logged(
            "append_audits",
            events.len(),
            self.inner.append_audits(events),
        )
        .await
    }

    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        logged("audit_of_user", user, self.inner.audit_of_user(user, limit)).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
        let about = format!("limit {}", query.limit);
        logged("list_audit", about, self.inner.list_audit(query)).await
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
        logged("purge_audit", before, self.inner.purge_audit(before)).await
    }
}

#[async_trait]
impl<S: KeyStore> KeyStore for LoggingStore<S> {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        logged("signing_keys", NOTHING, self.inner.signing_keys()).await
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        // The kid identifies the key; the seed is the secret.
        let call = self.inner.insert_signing_key(key);
        logged("insert_signing_key", &key.kid, call).await
    }
}

// Outbox payloads may carry one-time links: only ids, kinds and counts are logged.
#[async_trait]
impl<S: OutboxStore> OutboxStore for LoggingStore<S> {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        let about = format!("{} emails", mail.emails.len());
        logged("enqueue_mail", about, self.inner.enqueue_mail(mail)).await
    }

    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        let call = self.inner.claim_emails(now, lease_until, limit);
        logged("claim_emails", format!("limit {limit}"), call).await
    }

    async fn prepare_email(
        &self,
        id: EmailId,
        token: &NewOneTimeToken,
        payload: &EmailPayload,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let call = self.inner.prepare_email(id, token, payload, locale, now);
        logged("prepare_email", id, call).await
    }

    async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        logged("mark_email_sent", id, self.inner.mark_email_sent(id, now)).await
    }

    async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        logged(
            "mark_email_dropped",
            id,
            self.inner.mark_email_dropped(id, now),
        )
        .await
    }

    async fn mark_email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let call = self.inner.mark_email_failed(id, error, retry_at, now);
        logged("mark_email_failed", id, call).await
    }

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        logged("outbox_counts", NOTHING, self.inner.outbox_counts()).await
    }

    async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        let about = format!("{status:?} limit {limit}");
        logged("list_outbox", about, self.inner.list_outbox(status, limit)).await
    }

    async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64> {
        let about = format!("{} ids", ids.len());
        logged("requeue_emails", about, self.inner.requeue_emails(ids, now)).await
    }

    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
        logged("purge_outbox", before, self.inner.purge_outbox(before)).await
    }
}

#[async_trait]
impl<S: LoginThrottleStore> LoginThrottleStore for LoggingStore<S> {
    async fn begin_password_attempt(
        &self,
        key: &str,
        rule: &LoginThrottle,
        now: OffsetDateTime,
    ) -> StoreResult<AttemptDecision> {
        let call = self.inner.begin_password_attempt(key, rule, now);
        logged("begin_password_attempt", scope_of(key), call).await
    }

    async fn clear_password_failures(&self, key: &str) -> StoreResult<()> {
        let call = self.inner.clear_password_failures(key);
        logged("clear_password_failures", scope_of(key), call).await
    }

    async fn password_failures(&self, key: &str) -> StoreResult<u32> {
        let call = self.inner.password_failures(key);
        logged("password_failures", scope_of(key), call).await
    }

    async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let call = self.inner.purge_password_failures(before);
        logged("purge_password_failures", before, call).await
    }
}

#[async_trait]
impl<S: StoreHealth> StoreHealth for LoggingStore<S> {
    async fn ping(&self) -> StoreResult<()> {
        logged("ping", NOTHING, self.inner.ping()).await
    }

    fn pool_stats(&self) -> Option<authkit_core::ports::PoolStats> {
        self.inner.pool_stats()
    }
}
