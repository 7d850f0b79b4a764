//! The Ed25519 signing keys kept in the database: created on the very first start, rotated by
//! `authkit-server rotate-keys` ([`rotate_keys`]), and reloaded by every running instance
//! (the reloader [`crate::serve`] runs) so that rotation needs no restart.
//!
//! Rotation, as [`authkit_core::jwt::key_schedule`] decides it from the stored keys and the
//! time: `rotate-keys` stores a new key; each instance loads it within
//! [`ServerConfig::key_reload_interval`] and publishes it in the JWKS at once; it signs once it
//! is [`ServerConfig::key_activation_delay`] old (so verifiers caching the JWKS for 5 minutes,
//! and instances that have not reloaded yet, know it before any token carries it); the previous
//! key keeps verifying, and stays in the JWKS, until its last tokens have expired (access-token
//! lifetime plus leeway after the switch), then it is dropped. Every instance on one database
//! computes the same schedule from the same keys, so they converge without talking to each
//! other.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use authkit_core::AuthKit;
use authkit_core::domain::StoredSigningKey;
use authkit_core::jwt::{JwtKeys, KeyState, RotationPolicy, ScheduledKey, key_schedule};
use authkit_core::ports::{Clock, KeyStore, StoreError, SystemClock};
use authkit_core::time::OffsetDateTime;
use authkit_core::time::format_description::well_known::Rfc3339;

use crate::app::open_store;
use crate::config::ServerConfig;
use crate::error::ServerError;

/// The Ed25519 signing keys kept in the database, newest first; on the very first start
/// generates one.
///
/// Safe when several instances start together on an empty database: the first key's `kid` is
/// derived from the issuer ([`first_key_kid`]), so every instance of one deployment tries to
/// insert the same `kid`, the database's uniqueness rule lets exactly one win, the others get a
/// `Conflict` (ignored) and all re-read and sign with the winner's key.
pub async fn load_or_create_stored_keys(
    store: &dyn KeyStore,
    issuer: &str,
    now: OffsetDateTime,
) -> Result<Vec<StoredSigningKey>, ServerError> {
    let mut keys = store.signing_keys().await.map_err(ServerError::KeyStore)?;
    if keys.is_empty() {
        let mut key = JwtKeys::generate_ed25519(now)?;
        key.kid = first_key_kid(issuer);
        match store.insert_signing_key(&key).await {
            Ok(()) => tracing::info!(kid = %key.kid, "generated the first Ed25519 signing key"),
            Err(StoreError::Conflict(_)) => {
                tracing::info!("another instance stored the first signing key; using it");
            }
            Err(e) => return Err(ServerError::KeyStore(e)),
        }
        keys = store.signing_keys().await.map_err(ServerError::KeyStore)?;
    }
    Ok(keys)
}

/// [`load_or_create_stored_keys`], as the key set in force at `now` under `policy`.
pub async fn load_or_create_signing_keys(
    store: &dyn KeyStore,
    issuer: &str,
    now: OffsetDateTime,
    policy: &RotationPolicy,
) -> Result<JwtKeys, ServerError> {
    let keys = load_or_create_stored_keys(store, issuer, now).await?;
    Ok(JwtKeys::ed25519_at(&keys, now, policy)?)
}

/// The `kid` of a deployment's first signing key: `first-` and 64 bits of SHA-256 of the
/// issuer. Deterministic so that instances starting together collide on it (see
/// [`load_or_create_stored_keys`]); distinct across deployments with distinct issuers, so
/// that a verifier trusting several deployments does not mix their keys up. Later keys
/// (rotation) carry `kid`s derived from their public keys.
pub fn first_key_kid(issuer: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("authkit first signing key\n{issuer}"));
    format!(
        "first-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..8])
    )
}

/// `authkit-server rotate-keys`: migrates the database if needed, stores a new Ed25519 key
/// and returns the lines to print: what was added, then one line per stored key with its
/// state (never a secret). Running instances load the key within their reload interval; it
/// signs once it is [`ServerConfig::key_activation_delay`] old.
///
/// Two runs at once store two distinct keys (`kid`s derived from random keys). With
/// `AUTHKIT_JWT_SECRET` (HS256) there is no key in the database to rotate: refused with
/// [`ServerError::RotateHs256`].
pub async fn rotate_keys(config: &ServerConfig) -> Result<Vec<String>, ServerError> {
    if config.jwt_secret.is_some() {
        return Err(ServerError::RotateHs256);
    }
    let store = open_store(&config.database_url, config.startup_timeout).await?;
    let now = SystemClock.now();
    let key = JwtKeys::generate_ed25519(now)?;
    store
        .insert_signing_key(&key)
        .await
        .map_err(ServerError::KeyStore)?;
    tracing::info!(kid = %key.kid, "stored a new Ed25519 signing key");
    let keys = store.signing_keys().await.map_err(ServerError::KeyStore)?;
    let schedule = key_schedule(&keys, now, &config.rotation_policy());
    let reload = duration_text(config.key_reload_interval);
    let when = match schedule.iter().find(|k| k.kid == key.kid).map(|k| k.state) {
        Some(KeyState::Published { signs_from }) => format!(
            "running instances publish it within {reload} and sign with it from {}",
            time_text(signs_from)
        ),
        _ => format!("running instances sign with it within {reload}"),
    };
    let mut lines = vec![format!("added signing key {}; {when}", key.kid)];
    lines.extend(schedule.iter().map(key_line));
    Ok(lines)
}

/// `  KID: STATE`, e.g. `  first-abc: verifying until 2026-01-01T00:20:30Z`.
pub fn key_line(key: &ScheduledKey) -> String {
    let state = match key.state {
        KeyState::Published { signs_from } => {
            format!("published, signs from {}", time_text(signs_from))
        }
        KeyState::Signing => "signing".to_owned(),
        KeyState::Verifying { until } => format!("verifying until {}", time_text(until)),
        KeyState::Retired { since } => format!("retired since {}", time_text(since)),
    };
    format!("  {}: {state}", key.kid)
}

/// `60 s`, or `100 ms` below a second.
fn duration_text(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

/// RFC 3339 to the second, in UTC.
fn time_text(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(authkit_core::time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Keeps a kit's signing keys current while it runs: every `interval`, and at the moment a
/// key is due to start signing or to be retired, reads the keys from the database and hands
/// the set in force to the kit ([`AuthKit::replace_keys`]). When the database does not answer,
/// the keys read last are evaluated again, so that a switch or a retirement still happens on
/// time.
#[derive(Clone)]
pub(crate) struct KeyReloader {
    store: Arc<dyn KeyStore>,
    kit: AuthKit,
    policy: RotationPolicy,
    interval: Duration,
    stored: Vec<StoredSigningKey>,
}

impl fmt::Debug for KeyReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyReloader")
            .field("policy", &self.policy)
            .field("interval", &self.interval)
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

impl KeyReloader {
    /// Reloads `kit`'s keys from `store`, starting from the `stored` keys it was built with.
    pub(crate) fn new(
        store: Arc<dyn KeyStore>,
        kit: AuthKit,
        policy: RotationPolicy,
        interval: Duration,
        stored: Vec<StoredSigningKey>,
    ) -> Self {
        Self {
            store,
            kit,
            policy,
            interval,
            stored,
        }
    }

    /// Runs until the task is dropped or aborted.
    pub(crate) async fn run(mut self) {
        loop {
            tokio::time::sleep(self.wait()).await;
            self.reload().await;
        }
    }

    /// The reload interval, or less when a key is due to start signing or to be retired
    /// sooner (plus a few milliseconds, so the clock has passed that time on waking).
    fn wait(&self) -> Duration {
        let now = self.kit.clock().now();
        match self.kit.signing_keys().next_change() {
            Some(at) => Duration::try_from(at - now)
                .unwrap_or(Duration::ZERO)
                .saturating_add(Duration::from_millis(10))
                .min(self.interval),
            None => self.interval,
        }
    }

    /// Reads the keys (or keeps the last ones read when the database fails) and gives the
    /// kit the set in force now.
    pub(crate) async fn reload(&mut self) {
        match self.store.signing_keys().await {
            Ok(keys) if !keys.is_empty() => self.stored = keys,
            Ok(_) => tracing::warn!("no signing key in the database; keeping the loaded ones"),
            Err(error) => tracing::warn!(
                error = %crate::error::chain(&error),
                "cannot reload the signing keys; evaluating the loaded ones again"
            ),
        }
        if self.stored.is_empty() {
            return;
        }
        let now = self.kit.clock().now();
        let keys = match JwtKeys::ed25519_at(&self.stored, now, &self.policy) {
            Ok(keys) => keys,
            Err(error) => {
                tracing::error!(error = %error, "cannot build the signing keys; keeping the current ones");
                return;
            }
        };
        let before = self.kit.signing_keys();
        let kids = |k: &JwtKeys| {
            let mut kids: Vec<String> = k.kids().map(str::to_owned).collect();
            kids.sort();
            kids
        };
        if before.active_kid() != keys.active_kid() {
            tracing::info!(
                kid = keys.active_kid(),
                previous = before.active_kid(),
                "access tokens are now signed with another key"
            );
        }
        if kids(&before) != kids(&keys) {
            tracing::info!(kids = ?kids(&keys), "the published signing keys changed");
        }
        if let Err(error) = self.kit.replace_keys(keys) {
            tracing::error!(error = %error, "cannot replace the signing keys");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authkit_core::async_trait;
    use authkit_core::ports::{Conflict, StoreResult};
    use authkit_core::testing::MemoryStore;
    use std::sync::Mutex;
    use tokio::sync::Barrier;

    const ISSUER: &str = "https://auth.example.com";

    fn test_now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()
    }

    #[tokio::test]
    async fn first_start_creates_a_key_and_later_starts_reuse_it() {
        let store = MemoryStore::new();
        let now = test_now();
        let policy = RotationPolicy::default();
        let first = load_or_create_signing_keys(&store, ISSUER, now, &policy)
            .await
            .unwrap();
        let second = load_or_create_signing_keys(&store, ISSUER, now, &policy)
            .await
            .unwrap();
        assert_eq!(first.active_kid(), second.active_kid());
        assert_eq!(store.signing_keys().await.unwrap().len(), 1);
        assert_eq!(first.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    /// Both callers read an empty key table before either inserts.
    #[derive(Debug)]
    struct RacingStore {
        keys: Mutex<Vec<StoredSigningKey>>,
        first_reads: Barrier,
        reads: Mutex<u32>,
    }

    #[async_trait]
    impl KeyStore for RacingStore {
        async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
            let mut keys = self.keys.lock().unwrap().clone();
            let first = {
                let mut reads = self.reads.lock().unwrap();
                *reads += 1;
                *reads <= 2
            };
            if first {
                self.first_reads.wait().await;
            }
            keys.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
            Ok(keys)
        }

        async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
            let mut keys = self.keys.lock().unwrap();
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(StoreError::Conflict(Conflict::Other));
            }
            keys.push(key.clone());
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_starting_together_sign_with_the_same_key() {
        let store = Arc::new(RacingStore {
            keys: Mutex::new(Vec::new()),
            first_reads: Barrier::new(2),
            reads: Mutex::new(0),
        });
        let now = test_now();
        let policy = RotationPolicy::default();
        let (a, b) = tokio::join!(
            load_or_create_signing_keys(&*store, ISSUER, now, &policy),
            load_or_create_signing_keys(&*store, ISSUER, now, &policy)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.active_kid(), b.active_kid());
        assert_eq!(a.active_kid(), first_key_kid(ISSUER));
        assert_eq!(a.jwks(), b.jwks());
        assert_eq!(a.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    /// Reports a conflict on insert after another instance stored its key.
    #[derive(Debug)]
    struct LosingStore(Mutex<Vec<StoredSigningKey>>, StoredSigningKey);

    #[async_trait]
    impl KeyStore for LosingStore {
        async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
            Ok(self.0.lock().unwrap().clone())
        }

        async fn insert_signing_key(&self, _key: &StoredSigningKey) -> StoreResult<()> {
            self.0.lock().unwrap().push(self.1.clone());
            Err(StoreError::Conflict(Conflict::Other))
        }
    }

    #[tokio::test]
    async fn a_conflict_on_insert_uses_the_stored_key() {
        let now = test_now();
        let theirs = JwtKeys::generate_ed25519(now).unwrap();
        let store = LosingStore(Mutex::new(Vec::new()), theirs.clone());
        let keys = load_or_create_signing_keys(&store, ISSUER, now, &RotationPolicy::default())
            .await
            .unwrap();
        assert_eq!(keys.active_kid(), theirs.kid);
    }

    /// Keys from a shared list, or unavailable while `down` is set.
    #[derive(Debug, Default)]
    struct SwitchableStore {
        keys: Mutex<Vec<StoredSigningKey>>,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl KeyStore for SwitchableStore {
        async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Unavailable("down".into()));
            }
            let mut keys = self.keys.lock().unwrap().clone();
            keys.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
            Ok(keys)
        }

        async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
            self.keys.lock().unwrap().push(key.clone());
            Ok(())
        }
    }

    fn kit_at(clock: Arc<authkit_core::testing::ManualClock>, keys: JwtKeys) -> AuthKit {
        let hasher = authkit_core::hashing::Argon2Hasher::new(
            &authkit_core::hashing::Argon2Config::insecure_fast(),
        )
        .unwrap();
        AuthKit::builder(authkit_core::AuthConfig::default())
            .store(MemoryStore::new())
            .mailer(authkit_core::testing::MemoryMailer::new())
            .clock_arc(clock)
            .hasher(hasher)
            .keys(keys)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn the_reloader_picks_up_new_keys_and_switches_on_time_even_when_the_database_fails() {
        use authkit_core::time::Duration as Span;
        let t0 = test_now();
        let policy = RotationPolicy::default();
        let clock = Arc::new(authkit_core::testing::ManualClock::new(t0));
        let store = Arc::new(SwitchableStore::default());
        let a = JwtKeys::generate_ed25519(t0).unwrap();
        store.insert_signing_key(&a).await.unwrap();
        let stored = store.signing_keys().await.unwrap();
        let kit = kit_at(
            clock.clone(),
            JwtKeys::ed25519_at(&stored, t0, &policy).unwrap(),
        );
        let interval = Duration::from_secs(3600);
        let mut reloader = KeyReloader::new(store.clone(), kit.clone(), policy, interval, stored);
        assert_eq!(reloader.wait(), interval, "nothing is due");

        // A rotation elsewhere: published at the next reload, not signing yet.
        clock.advance(Span::days(1));
        let b = JwtKeys::generate_ed25519(clock.now()).unwrap();
        store.insert_signing_key(&b).await.unwrap();
        reloader.reload().await;
        assert_eq!(kit.signing_keys().active_kid(), a.kid);
        assert_eq!(kit.jwks()["keys"].as_array().unwrap().len(), 2);
        // The reloader wakes when `b` is due, not after the whole interval.
        assert_eq!(
            reloader.wait(),
            Duration::try_from(policy.activation_delay).unwrap() + Duration::from_millis(10)
        );

        // The database fails; the switch still happens on time.
        store.down.store(true, std::sync::atomic::Ordering::SeqCst);
        clock.advance(policy.activation_delay);
        reloader.reload().await;
        assert_eq!(kit.signing_keys().active_kid(), b.kid);
        assert_eq!(
            kit.jwks()["keys"].as_array().unwrap().len(),
            2,
            "`a` verifies"
        );
        clock.advance(policy.verify_after_signing);
        reloader.reload().await;
        assert_eq!(kit.signing_keys().active_kid(), b.kid);
        let kids: Vec<String> = kit.signing_keys().kids().map(str::to_owned).collect();
        assert_eq!(kids, std::slice::from_ref(&b.kid), "`a` retired");
        assert_eq!(reloader.wait(), interval);
    }

    #[test]
    fn key_lines_show_kids_states_and_times_never_seeds() {
        let at = test_now();
        let line = |state| {
            key_line(&ScheduledKey {
                kid: "k1".to_owned(),
                created_at: at,
                state,
            })
        };
        let later = at + authkit_core::time::Duration::milliseconds(300_250);
        assert_eq!(
            line(KeyState::Published { signs_from: later }),
            "  k1: published, signs from 2026-01-01T00:05:00Z"
        );
        assert_eq!(line(KeyState::Signing), "  k1: signing");
        assert_eq!(
            line(KeyState::Verifying { until: at }),
            "  k1: verifying until 2026-01-01T00:00:00Z"
        );
        assert_eq!(
            line(KeyState::Retired { since: at }),
            "  k1: retired since 2026-01-01T00:00:00Z"
        );
    }
}
