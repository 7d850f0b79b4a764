//! [`AuthKit`], the facade every adapter and host talks to, and its builder.

use std::sync::Arc;

use tokio::sync::{Notify, OnceCell};

use crate::config::{AuthConfig, ConfigError};
use crate::domain::PasswordHash;
use crate::jwt::{JwtKeys, KeyError, TokenCodec};
use crate::limits::MemoryRateLimits;
use crate::mail::{EmailTemplates, TemplateError};
use crate::ports::{Clock, Mailer, PasswordHasher, RateLimitStore, Store, SystemClock};
use crate::service::AuditWriter;
use crate::session_cache::SessionCache;

/// The authkit handle: cheap to clone (one `Arc`), not generic, so that extractors in every
/// framework name one concrete type. Build it with [`AuthKit::builder`].
#[derive(Clone, Debug)]
pub struct AuthKit {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: AuthConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: Arc<dyn PasswordHasher>,
    pub(crate) rate_limits: Arc<dyn RateLimitStore>,
    pub(crate) tokens: TokenCodec,
    pub(crate) dummy_hash: OnceCell<PasswordHash>,
    pub(crate) templates: EmailTemplates,
    pub(crate) outbox_wakeup: Notify,
    pub(crate) audit_writer: AuditWriter,
}

/// Why [`AuthKitBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required part was not given.
    #[error("AuthKit needs a {0}")]
    Missing(&'static str),
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The default hasher could not start.
    #[error("password hasher: {0}")]
    Hasher(String),
    /// An email template was refused.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Builds an [`AuthKit`] from a config, a store, a mailer and signing keys; the clock defaults
/// to [`SystemClock`] and the hasher to argon2id with the default parameters.
#[must_use]
#[derive(Debug)]
pub struct AuthKitBuilder {
    config: AuthConfig,
    store: Option<Arc<dyn Store>>,
    mailer: Option<Arc<dyn Mailer>>,
    clock: Option<Arc<dyn Clock>>,
    hasher: Option<Arc<dyn PasswordHasher>>,
    rate_limits: Option<Arc<dyn RateLimitStore>>,
    keys: Option<JwtKeys>,
    templates: Option<EmailTemplates>,
}

impl AuthKit {
    /// Starts a builder.
    pub fn builder(config: AuthConfig) -> AuthKitBuilder {
        AuthKitBuilder {
            config,
            store: None,
            mailer: None,
            clock: None,
            hasher: None,
            rate_limits: None,
            keys: None,
            templates: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The store. Unless [`AuthConfig::session_cache_ttl`] is zero, it is the given store
    /// behind this kit's session cache: write through this handle (not through another clone
    /// of the store you gave) so that the cache forgets what a change makes stale.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The mailer.
    pub fn mailer(&self) -> &Arc<dyn Mailer> {
        &self.inner.mailer
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Where rate-limit counters live.
    pub fn rate_limits(&self) -> &Arc<dyn RateLimitStore> {
        &self.inner.rate_limits
    }

    /// The JSON Web Key Set of the current verification keys (empty for HS256).
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.tokens.keys().jwks().clone()
    }

    /// The current signing and verification keys.
    pub fn signing_keys(&self) -> Arc<JwtKeys> {
        self.inner.tokens.keys()
    }

    /// Signs and verifies access tokens with `keys` from now on (key rotation while running;
    /// every clone of this kit sees them). Requests in flight finish with the keys they
    /// started with. Keys of another algorithm than the running ones are refused.
    pub fn replace_keys(&self, keys: JwtKeys) -> Result<(), KeyError> {
        self.inner.tokens.replace_keys(keys)
    }
}

impl AuthKitBuilder {
    /// The storage backend (`authkit_sqlx::SqliteStore`, `PostgresStore`, or your own).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The storage backend, already shared.
    pub fn store_arc(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where emails go.
    pub fn mailer(mut self, mailer: impl Mailer) -> Self {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// Where emails go, already shared.
    pub fn mailer_arc(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The clock, already shared (tests keep a handle to advance it).
    pub fn clock_arc(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The password hasher (default: argon2id, m=19456, t=2, p=1, one worker per core).
    pub fn hasher(mut self, hasher: impl PasswordHasher) -> Self {
        self.hasher = Some(Arc::new(hasher));
        self
    }

    /// Where rate-limit counters live (default [`MemoryRateLimits`]: this process only). Give
    /// the database store (`authkit_sqlx`) when several instances must share the limits.
    pub fn rate_limits(mut self, store: impl RateLimitStore) -> Self {
        self.rate_limits = Some(Arc::new(store));
        self
    }

    /// Where rate-limit counters live, already shared.
    pub fn rate_limits_arc(mut self, store: Arc<dyn RateLimitStore>) -> Self {
        self.rate_limits = Some(store);
        self
    }

    /// The email templates (default: the built-in English ones). Every template is rendered
    /// once with sample values by [`AuthKitBuilder::build`], so a broken one fails at start.
    pub fn templates(mut self, templates: EmailTemplates) -> Self {
        self.templates = Some(templates);
        self
    }

    /// The access-token signing keys.
    pub fn keys(mut self, keys: JwtKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Checks the configuration and builds the kit.
    pub fn build(self) -> Result<AuthKit, BuildError> {
        self.config.validate()?;
        let mut store = self.store.ok_or(BuildError::Missing("store"))?;
        if !self.config.session_cache_ttl.is_zero() {
            store = Arc::new(SessionCache::new(store, self.config.session_cache_ttl));
        }
        let mailer = self.mailer.ok_or(BuildError::Missing("mailer"))?;
        let keys = self.keys.ok_or(BuildError::Missing("signing keys"))?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let hasher = match self.hasher {
            Some(h) => h,
            None => default_hasher()?,
        };
        let templates = self.templates.unwrap_or_default();
        templates.check(&self.config.service_name, &self.config.public_url)?;
        let tokens = TokenCodec::new(
            keys,
            &self.config.issuer,
            &self.config.audience,
            self.config.leeway_secs,
        );
        Ok(AuthKit {
            inner: Arc::new(Inner {
                config: self.config,
                store,
                mailer,
                clock,
                hasher,
                rate_limits: self
                    .rate_limits
                    .unwrap_or_else(|| Arc::new(MemoryRateLimits::new())),
                tokens,
                dummy_hash: OnceCell::new(),
                templates,
                outbox_wakeup: Notify::new(),
                audit_writer: AuditWriter::default(),
            }),
        })
    }
}

#[cfg(feature = "argon2")]
fn default_hasher() -> Result<Arc<dyn PasswordHasher>, BuildError> {
    let hasher = crate::hashing::Argon2Hasher::new(&crate::hashing::Argon2Config::default())
        .map_err(|e| BuildError::Hasher(e.to_string()))?;
    Ok(Arc::new(hasher))
}

#[cfg(not(feature = "argon2"))]
fn default_hasher() -> Result<Arc<dyn PasswordHasher>, BuildError> {
    Err(BuildError::Missing("password hasher"))
}
