//! Password checks under the per-account throttle ([`crate::ports::LoginThrottle`]), and the
//! per-address limit on forgot/resend emails.

use crate::AuthKit;
use crate::domain::{Email, Password, PasswordHash, UserId};
use crate::error::{Error, Result};
use crate::limits::account_key;
use crate::metrics::{self, RateLimitScope};
use crate::ports::{AttemptDecision, RateDecision};

impl AuthKit {
    /// Checks `password` against `hash` — or, for an unknown account (`None`), against a dummy
    /// hash of the same cost — under `email`'s throttle: the attempt is counted as a failure
    /// before the check and the count cleared when the password is right, so concurrent guesses
    /// can never exceed the limit. A throttled attempt is `RateLimited` without any check, for
    /// known and unknown addresses alike. A password over the policy's maximum is a failure
    /// without hashing.
    pub(crate) async fn check_password(
        &self,
        email: &Email,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool> {
        let rule = &self.inner.config.limits.login_throttle;
        let store = &self.inner.store;
        let key = (!rule.is_off()).then(|| account_key("login", email));
        if let Some(key) = &key {
            let now = self.inner.clock.now();
            if let AttemptDecision::Throttled { retry_after } =
                store.begin_password_attempt(key, rule, now).await?
            {
                metrics::rate_limited(RateLimitScope::Account);
                return Err(Error::RateLimited {
                    retry_after: retry_after.unsigned_abs(),
                });
            }
        }
        if self.inner.config.password_policy.is_over_max_len(password) {
            return Ok(false);
        }
        let ok = match hash {
            Some(hash) => self.inner.hasher.verify(password, hash).await?,
            None => {
                self.dummy_verify(password).await?;
                false
            }
        };
        if ok && let Some(key) = &key {
            store.clear_password_failures(key).await?;
        }
        Ok(ok)
    }

    /// The consecutive failed password checks counted on `email` (whether or not an account
    /// has it): what the throttle decides on. For operators and tests.
    pub async fn failed_password_checks(&self, email: &Email) -> Result<u32> {
        let key = account_key("login", email);
        Ok(self.inner.store.password_failures(&key).await?)
    }

    /// Clears `email`'s failed password checks (after a password reset).
    pub(crate) async fn clear_password_failures(&self, email: &Email) {
        if self.inner.config.limits.login_throttle.is_off() {
            return;
        }
        let key = account_key("login", email);
        if let Err(e) = self.inner.store.clear_password_failures(&key).await {
            tracing::warn!(target: "authkit::limits", error = %e, "clearing failed logins failed");
        }
    }

    /// After a successful check: stores a new hash of `password` when `hash` was made with
    /// other parameters, another pepper or bcrypt. Best effort: a failure is logged and the
    /// old hash keeps working; a password changed meanwhile is never overwritten.
    pub(crate) async fn rehash_if_needed(
        &self,
        id: UserId,
        password: &Password,
        hash: &PasswordHash,
    ) {
        let hasher = &self.inner.hasher;
        if !hasher.needs_rehash(hash) {
            return;
        }
        let result = match hasher.hash(password).await {
            Ok(new) => self
                .inner
                .store
                .replace_password_hash(id, hash, &new)
                .await
                .map_err(Error::from),
            Err(e) => Err(Error::from(e)),
        };
        match result {
            Ok(true) => {
                tracing::info!(target: "authkit::hashing", user_id = %id, "password rehashed")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(target: "authkit::hashing", user_id = %id, error = %e, "password rehash failed")
            }
        }
    }

    /// Whether another `scope` email (forgot, resend) may be queued for `email` now: at most
    /// one a minute and five an hour by default. Refusals are silent (the caller still
    /// answers 202) so they say nothing about the account.
    pub(crate) async fn email_allowed(&self, scope: &str, email: &Email) -> Result<bool> {
        let limits = &self.inner.config.limits;
        let now = self.inner.clock.now();
        for (window, rule) in [
            ("m", limits.emails_per_address),
            ("h", limits.emails_per_address_hourly),
        ] {
            if rule.is_off() {
                continue;
            }
            let key = account_key(&format!("{scope}-{window}"), email);
            if let RateDecision::Limited { .. } =
                self.inner.rate_limits.hit(&key, rule, now).await?
            {
                metrics::rate_limited(RateLimitScope::Address);
                return Ok(false);
            }
        }
        Ok(true)
    }
}
