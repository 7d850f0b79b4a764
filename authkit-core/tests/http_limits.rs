//! Limits that the HTTP contract suite cannot reach through a real adapter: the request
//! timeout (a store that never answers), peppered hashes, and configuration refusals.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

mod common;

use std::future::pending;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use authkit_core::domain::{
    AdminPatch, AuditEvent, AuditQuery, ClaimedEmail, Email, EmailId, EmailPayload, Locale,
    NewOneTimeToken, NewSession, NewUser, OneTimeToken, OutboxCounts, OutboxEntry, OutboxStatus,
    Page, Password, PasswordHash, ProfilePatch, QueuedMail, RefreshRotation, Role, RotateOutcome,
    Session, SessionId, StoredSigningKey, TokenHash, TokenPurpose, User, UserCredentials, UserId,
    UserQuery, UserStatus,
};
use authkit_core::hashing::{Argon2Config, Argon2Hasher, Pepper};
use authkit_core::http::{self, ApiRequest, RouteId};
use authkit_core::ports::{
    AttemptDecision, AuditStore, KeyStore, LoginThrottle, LoginThrottleStore, OneTimeTokenStore,
    OutboxStore, PasswordHasher, RoleStore, SessionStore, StoreHealth, StoreResult, UserStore,
};
use authkit_core::testing::{ManualClock, MemoryMailer, MemoryStore, fast_hasher};
use authkit_core::{AuthConfig, AuthKit, async_trait};
use secrecy::SecretSlice;
use time::OffsetDateTime;

/// A [`MemoryStore`] whose `credentials_by_email` never answers (a database that hangs);
/// everything else is delegated.
#[derive(Debug, Default)]
struct HangingStore(MemoryStore);

#[async_trait]
impl UserStore for HangingStore {
    async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
        self.0.create_user(new, mail).await
    }
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        self.0.user_by_id(id).await
    }
    async fn credentials_by_email(&self, _: &Email) -> StoreResult<Option<UserCredentials>> {
        pending().await
    }
    async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
        self.0.credentials_by_id(id).await
    }
    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<User> {
        self.0.update_profile(id, patch, now, mail).await
    }
    async fn replace_password_hash(
        &self,
        id: UserId,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> StoreResult<bool> {
        self.0.replace_password_hash(id, old, new).await
    }
    async fn set_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<SessionId>,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<()> {
        self.0.set_password(id, hash, keep, now, mail).await
    }
    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        self.0.set_status(id, status, now).await
    }
    async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()> {
        self.0.soft_delete_user(id, now).await
    }
    async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User> {
        self.0.restore_user(id, now).await
    }
    async fn admin_update_user(
        &self,
        id: UserId,
        patch: &AdminPatch,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        self.0.admin_update_user(id, patch, now).await
    }
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        self.0.list_users(query).await
    }
}

#[async_trait]
impl SessionStore for HangingStore {
    async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
        self.0.create_session(new).await
    }
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.0.session(id).await
    }
    async fn rotate_refresh(&self, rotation: &RefreshRotation) -> StoreResult<RotateOutcome> {
        self.0.rotate_refresh(rotation).await
    }
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.0.revoke_session(user, id, now).await
    }
    async fn revoke_all_sessions(&self, user: UserId, now: OffsetDateTime) -> StoreResult<u64> {
        self.0.revoke_all_sessions(user, now).await
    }
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<Session>> {
        self.0.sessions_of(user).await
    }

    async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
        self.0.purge_sessions(ended_before).await
    }
}

#[async_trait]
impl OneTimeTokenStore for HangingStore {
    async fn insert_token(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        self.0.insert_token(token).await
    }
    async fn consume_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        self.0.consume_token(hash, purpose, now).await
    }
    async fn peek_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OneTimeToken>> {
        self.0.peek_token(hash, purpose, now).await
    }
    async fn verify_email_with_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.0.verify_email_with_token(hash, now).await
    }
    async fn reset_password_with_token(
        &self,
        hash: &TokenHash,
        new_hash: &PasswordHash,
        now: OffsetDateTime,
        mail: &QueuedMail,
    ) -> StoreResult<Option<User>> {
        self.0
            .reset_password_with_token(hash, new_hash, now, mail)
            .await
    }
    async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
        self.0.purge_tokens(expired_before).await
    }
}

#[async_trait]
impl RoleStore for HangingStore {
    async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
        self.0.permissions_of(roles).await
    }
    async fn roles(&self) -> StoreResult<Vec<Role>> {
        self.0.roles().await
    }
    async fn create_role(&self, role: &Role) -> StoreResult<Role> {
        self.0.create_role(role).await
    }
    async fn update_role(&self, role: &Role) -> StoreResult<Role> {
        self.0.update_role(role).await
    }
    async fn delete_role(&self, name: &str) -> StoreResult<()> {
        self.0.delete_role(name).await
    }
}

#[async_trait]
impl AuditStore for HangingStore {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.0.append_audit(event).await
    }
    async fn audit_of_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        self.0.audit_of_user(user, limit).await
    }
    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
        self.0.list_audit(query).await
    }
    async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.0.purge_audit(before).await
    }
}

#[async_trait]
impl KeyStore for HangingStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.0.signing_keys().await
    }
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        self.0.insert_signing_key(key).await
    }
}

#[async_trait]
impl OutboxStore for HangingStore {
    async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
        self.0.enqueue_mail(mail).await
    }
    async fn claim_emails(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        self.0.claim_emails(now, lease_until, limit).await
    }
    async fn prepare_email(
        &self,
        id: EmailId,
        token: &NewOneTimeToken,
        payload: &EmailPayload,
        locale: Option<&Locale>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.0.prepare_email(id, token, payload, locale, now).await
    }
    async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        self.0.mark_email_sent(id, now).await
    }
    async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
        self.0.mark_email_dropped(id, now).await
    }
    async fn mark_email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.0.mark_email_failed(id, error, retry_at, now).await
    }
    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        self.0.outbox_counts().await
    }
    async fn list_outbox(
        &self,
        status: Option<OutboxStatus>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEntry>> {
        self.0.list_outbox(status, limit).await
    }
    async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64> {
        self.0.requeue_emails(ids, now).await
    }
    async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.0.purge_outbox(before).await
    }
}

#[async_trait]
impl LoginThrottleStore for HangingStore {
    async fn begin_password_attempt(
        &self,
        key: &str,
        rule: &LoginThrottle,
        now: OffsetDateTime,
    ) -> StoreResult<AttemptDecision> {
        self.0.begin_password_attempt(key, rule, now).await
    }
    async fn clear_password_failures(&self, key: &str) -> StoreResult<()> {
        self.0.clear_password_failures(key).await
    }
    async fn password_failures(&self, key: &str) -> StoreResult<u32> {
        self.0.password_failures(key).await
    }
    async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.0.purge_password_failures(before).await
    }
}

#[async_trait]
impl StoreHealth for HangingStore {
    async fn ping(&self) -> StoreResult<()> {
        self.0.ping().await
    }
}

const REQUEST_TIMEOUT: StdDuration = StdDuration::from_millis(200);

fn hanging_kit() -> AuthKit {
    let config = AuthConfig {
        request_timeout: REQUEST_TIMEOUT,
        ..AuthConfig::default()
    };
    AuthKit::builder(config)
        .store(HangingStore::default())
        .mailer_arc(Arc::new(MemoryMailer::new()))
        .clock_arc(Arc::new(ManualClock::starting_now()))
        .hasher(fast_hasher())
        .keys(common::test_keys())
        .build()
        .unwrap()
}

async fn call(kit: &AuthKit, route: RouteId, path: &str, body: &str) -> http::ApiResponse {
    let mut headers = ::http::HeaderMap::new();
    headers.insert(
        ::http::header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("application/json"),
    );
    http::handle(
        kit,
        ApiRequest {
            route,
            path,
            path_params: Vec::new(),
            query: None,
            headers: &headers,
            peer_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            body: Some(bytes_of(body)),
        },
    )
    .await
}

fn bytes_of(body: &str) -> ::bytes::Bytes {
    ::bytes::Bytes::copy_from_slice(body.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlives_the_timeout_is_503() {
    let kit = hanging_kit();
    let started = Instant::now();
    let r = call(
        &kit,
        RouteId::Login,
        "/api/v1/login",
        r#"{"email": "ada@example.com", "password": "correct horse battery staple"}"#,
    )
    .await;
    assert!(started.elapsed() >= REQUEST_TIMEOUT);
    assert_eq!(r.status, 503);
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/problem+json"
    );
    let problem: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(problem["code"], "unavailable", "{problem}");
    assert_eq!(problem["status"], 503);
    assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
    assert_eq!(r.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(r.headers.get("x-content-type-options").unwrap(), "nosniff");
    // Only the stuck call times out: a route that does not reach it answers as usual.
    let r = call(
        &kit,
        RouteId::Refresh,
        "/api/v1/refresh",
        r#"{"refresh_token": "not-a-token"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
}

fn key(byte: u8) -> SecretSlice<u8> {
    SecretSlice::from(vec![byte; 32])
}

fn peppered(current: Option<Pepper>, retired: Vec<Pepper>) -> Argon2Hasher {
    Argon2Hasher::new(&Argon2Config {
        pepper: current,
        retired_peppers: retired,
        ..Argon2Config::insecure_fast()
    })
    .unwrap()
}

#[tokio::test]
async fn a_peppered_hash_verifies_only_with_its_pepper() {
    let password = Password::new("correct horse battery staple");
    let p1 = Pepper::new("p1", key(1)).unwrap();
    let with_p1 = peppered(Some(p1.clone()), Vec::new());
    let hash = with_p1.hash(&password).await.unwrap();
    assert!(hash.expose().starts_with("$argon2id$"));
    assert!(hash.expose().contains("keyid="), "{}", hash.expose());
    assert!(with_p1.verify(&password, &hash).await.unwrap());
    assert!(
        !with_p1
            .verify(&Password::new("a wrong password here"), &hash)
            .await
            .unwrap()
    );
    assert!(!with_p1.needs_rehash(&hash));

    // A server without the pepper (a stolen database), or with another key under the same id.
    let without = peppered(None, Vec::new());
    assert!(!without.verify(&password, &hash).await.unwrap());
    let impostor = peppered(Some(Pepper::new("p1", key(2)).unwrap()), Vec::new());
    assert!(!impostor.verify(&password, &hash).await.unwrap());
    let other_id = peppered(Some(Pepper::new("p2", key(1)).unwrap()), Vec::new());
    assert!(!other_id.verify(&password, &hash).await.unwrap());

    // Rotation: p1 retired, p2 current. Old hashes still verify and ask for a rehash.
    let rotated = peppered(Some(Pepper::new("p2", key(3)).unwrap()), vec![p1]);
    assert!(rotated.verify(&password, &hash).await.unwrap());
    assert!(rotated.needs_rehash(&hash));
    let fresh = rotated.hash(&password).await.unwrap();
    assert!(!rotated.needs_rehash(&fresh));
    assert!(rotated.verify(&password, &fresh).await.unwrap());
    assert!(!with_p1.verify(&password, &fresh).await.unwrap());

    // An unpeppered hash still verifies once a pepper is configured, and is upgraded.
    let plain = without.hash(&password).await.unwrap();
    assert!(with_p1.verify(&password, &plain).await.unwrap());
    assert!(with_p1.needs_rehash(&plain));
}

#[test]
fn pepper_keys_and_ids_are_checked() {
    assert!(Pepper::new("p1", SecretSlice::from(vec![7u8; 31])).is_err());
    assert!(Pepper::new("", key(1)).is_err());
    assert!(Pepper::new("far-too-long", key(1)).is_err());
    assert!(Pepper::new("a$b", key(1)).is_err());
    let p = Pepper::new("k_1", key(1)).unwrap();
    assert!(
        !format!("{p:?}").contains("[1, 1"),
        "the key is never printed"
    );
    // Two peppers with one id are refused.
    assert!(
        Argon2Hasher::new(&Argon2Config {
            pepper: Some(p.clone()),
            retired_peppers: vec![p],
            ..Argon2Config::insecure_fast()
        })
        .is_err()
    );
}

#[test]
fn cors_origins_must_be_exact() {
    let with = |origins: &[&str]| AuthConfig {
        cors_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        ..AuthConfig::default()
    };
    assert!(with(&["https://app.example.com"]).validate().is_ok());
    assert!(
        with(&["https://app.example.com", "http://localhost:3000"])
            .validate()
            .is_ok()
    );
    for bad in [
        "*",
        "https://*.example.com",
        "https://app.example.com/path",
        "app.example.com",
        "null",
        "",
    ] {
        let err = with(&[bad]).validate().unwrap_err();
        assert_eq!(err.field, "cors_origins", "{bad}");
    }
}

#[test]
fn limit_settings_are_checked() {
    let config = AuthConfig {
        max_header_bytes: 100,
        ..AuthConfig::default()
    };
    assert_eq!(config.validate().unwrap_err().field, "max_header_bytes");
    let config = AuthConfig {
        request_timeout: StdDuration::from_millis(10),
        ..AuthConfig::default()
    };
    assert_eq!(config.validate().unwrap_err().field, "request_timeout");
    let mut config = AuthConfig::default();
    config.limits.login_throttle.max_failures = 101;
    assert_eq!(
        config.validate().unwrap_err().field,
        "limits.login_throttle"
    );
    let mut config = AuthConfig::default();
    config.limits.login_throttle.max_failures = config.limits.login_throttle.free_failures;
    assert_eq!(
        config.validate().unwrap_err().field,
        "limits.login_throttle"
    );
}
