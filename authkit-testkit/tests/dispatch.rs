//! The forms `store_suite!` and `rate_limit_suite!` accept: a plain store is covered by
//! `tests/tests/store.rs`; here an `Arc<dyn Store>` (`Arc<dyn RateLimitStore>`), a fixture with a
//! teardown, and a skipped (`None`) fixture. And flawed stores, which the suite must fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authkit_core::limits::MemoryRateLimits;
use authkit_core::ports::{RateLimitStore, Store};
use authkit_core::testing::MemoryStore;
use authkit_testkit::{RateLimitFixture, StoreFixture};

static SUITE_TEARDOWNS: AtomicUsize = AtomicUsize::new(0);
static TEARDOWNS: AtomicUsize = AtomicUsize::new(0);
static RATE_SUITE_TEARDOWNS: AtomicUsize = AtomicUsize::new(0);

struct Counted(Arc<MemoryStore>, &'static AtomicUsize);

impl StoreFixture for Counted {
    fn store(&self) -> Arc<dyn Store> {
        self.0.clone()
    }

    async fn teardown(self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

struct CountedRate(Arc<MemoryRateLimits>, &'static AtomicUsize);

impl RateLimitFixture for CountedRate {
    fn rate_limits(&self) -> Arc<dyn RateLimitStore> {
        self.0.clone()
    }

    async fn teardown(self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

mod arc_dyn {
    use super::*;
    authkit_testkit::store_suite!(async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
}

mod fixture {
    use super::*;
    authkit_testkit::store_suite!(async {
        Some(Counted(Arc::new(MemoryStore::new()), &SUITE_TEARDOWNS))
    });
}

mod skipped {
    use super::*;
    authkit_testkit::store_suite!(async { None::<Arc<dyn Store>> });
}

mod rate_arc_dyn {
    use super::*;
    authkit_testkit::rate_limit_suite!(async {
        Arc::new(MemoryRateLimits::new()) as Arc<dyn RateLimitStore>
    });
}

mod rate_arc {
    use super::*;
    authkit_testkit::rate_limit_suite!(async { Arc::new(MemoryRateLimits::new()) });
}

mod rate_fixture {
    use super::*;
    authkit_testkit::rate_limit_suite!(async {
        Some(CountedRate(
            Arc::new(MemoryRateLimits::new()),
            &RATE_SUITE_TEARDOWNS,
        ))
    });
}

mod rate_skipped {
    use super::*;
    authkit_testkit::rate_limit_suite!(async { None::<Arc<dyn RateLimitStore>> });
}

#[test]
fn teardown_runs_after_a_passing_check() {
    authkit_testkit::__private::run(async {
        #[allow(unused_imports)]
        use authkit_testkit::__private::{Probe, ViaFixture as _, ViaStore as _};
        let fixture = Counted(Arc::new(MemoryStore::new()), &TEARDOWNS);
        // The borrow is what `store_suite!` writes: it selects fixtures before plain stores.
        #[allow(clippy::needless_borrow)]
        let prepared = (&Probe::new(fixture)).__prepare();
        authkit_testkit::suite::ping_succeeds(prepared.store().unwrap()).await;
        assert_eq!(
            TEARDOWNS.load(Ordering::SeqCst),
            0,
            "not before the check ends"
        );
        prepared.finish().await;
    });
    assert_eq!(TEARDOWNS.load(Ordering::SeqCst), 1);
}

#[test]
#[should_panic(expected = "exactly one concurrent consume succeeds")]
fn a_wrong_store_fails_the_suite() {
    authkit_testkit::__private::run(authkit_testkit::suite::concurrent_consumes_succeed_once(
        Arc::new(broken::Flawed::new(broken::Flaw::NeverSpends)),
    ));
}

#[test]
#[should_panic(expected = "a soft-deleted user is None")]
fn credentials_of_deleted_users_fail_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::credentials_by_id_excludes_deleted_users(Arc::new(
            broken::Flawed::new(broken::Flaw::ShowsDeleted),
        )),
    );
}

#[test]
#[should_panic(expected = "exactly one concurrent verification succeeds")]
fn a_racy_verification_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::concurrent_verifications_succeed_once(Arc::new(
            broken::Flawed::new(broken::Flaw::RacyVerify),
        )),
    );
}

#[test]
#[should_panic(expected = "the stale token is spent all the same")]
fn a_stale_verification_left_usable_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::verify_email_with_token_refuses_a_changed_email(Arc::new(
            broken::Flawed::new(broken::Flaw::PeeksBeforeVerifying),
        )),
    );
}

#[test]
#[should_panic(expected = "has_more was true but nothing followed")]
fn has_more_on_every_full_page_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::list_users_paginates_every_user_once(Arc::new(
            broken::Flawed::new(broken::Flaw::FullPageHasMore),
        )),
    );
}

#[test]
#[should_panic(expected = "returned a user it does not select")]
fn a_wildcard_email_search_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::list_users_email_contains_is_literal(Arc::new(
            broken::Flawed::new(broken::Flaw::UnderscoreWildcard),
        )),
    );
}

#[test]
#[should_panic(expected = "no token of a refused user")]
fn mail_written_apart_from_the_user_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::create_user_writes_its_mail_atomically(Arc::new(
            broken::Flawed::new(broken::Flaw::MailBeforeChange),
        )),
    );
}

#[test]
#[should_panic(expected = "leased: not claimed again")]
fn a_claim_ignoring_the_lease_fails_the_suite() {
    authkit_testkit::__private::run(authkit_testkit::suite::outbox_claimed_message_is_leased(
        Arc::new(broken::Flawed::new(broken::Flaw::IgnoresLease)),
    ));
}

#[test]
#[should_panic(expected = "(allowed, throttled)")]
fn a_racy_login_throttle_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::concurrent_password_attempts_stop_at_the_free_failures(Arc::new(
            broken::Flawed::new(broken::Flaw::RacyThrottle),
        )),
    );
}

#[test]
#[should_panic(expected = "each attempt counted once")]
fn a_login_throttle_losing_failures_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::concurrent_password_attempts_lose_no_failure(Arc::new(
            broken::Flawed::new(broken::Flaw::RacyThrottle),
        )),
    );
}

#[test]
#[should_panic(expected = "`old` is no longer the hash: refused")]
fn a_rehash_ignoring_the_old_hash_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::replace_password_hash_replaces_only_the_expected_hash(Arc::new(
            broken::Flawed::new(broken::Flaw::BlindRehash),
        )),
    );
}

#[test]
#[should_panic(expected = "(allowed, limited)")]
fn a_racy_rate_limit_fails_the_suite() {
    authkit_testkit::__private::run(
        authkit_testkit::suite::concurrent_rate_limit_hits_allow_exactly_the_burst(Arc::new(
            broken::RacyRateLimits::default(),
        )),
    );
}

#[test]
fn the_memory_store_passes_what_the_flawed_ones_fail() {
    use authkit_testkit::suite;
    authkit_testkit::__private::run(async {
        suite::concurrent_consumes_succeed_once(Arc::new(MemoryStore::new())).await;
        suite::credentials_by_id_excludes_deleted_users(Arc::new(MemoryStore::new())).await;
        suite::concurrent_verifications_succeed_once(Arc::new(MemoryStore::new())).await;
        suite::verify_email_with_token_refuses_a_changed_email(Arc::new(MemoryStore::new())).await;
        suite::list_users_paginates_every_user_once(Arc::new(MemoryStore::new())).await;
        suite::list_users_email_contains_is_literal(Arc::new(MemoryStore::new())).await;
        suite::create_user_writes_its_mail_atomically(Arc::new(MemoryStore::new())).await;
        suite::outbox_claimed_message_is_leased(Arc::new(MemoryStore::new())).await;
        suite::concurrent_password_attempts_stop_at_the_free_failures(Arc::new(MemoryStore::new()))
            .await;
        suite::concurrent_password_attempts_lose_no_failure(Arc::new(MemoryStore::new())).await;
        suite::replace_password_hash_replaces_only_the_expected_hash(Arc::new(MemoryStore::new()))
            .await;
        suite::concurrent_rate_limit_hits_allow_exactly_the_burst(
            Arc::new(MemoryRateLimits::new()),
        )
        .await;
    });
}

/// [`MemoryStore`] with one deliberate flaw: the suite must catch each.
mod broken {
    use async_trait::async_trait;
    use authkit_core::domain::{
        AdminPatch, AuditEvent, AuditQuery, ClaimedEmail, Email, EmailId, EmailPayload, Locale,
        NewOneTimeToken, NewSession, NewUser, OneTimeToken, OutboxCounts, OutboxEntry,
        OutboxStatus, Page, PasswordHash, ProfilePatch, QueuedMail, RefreshRotation, Role,
        RotateOutcome, Session, SessionId, StoredSigningKey, TokenHash, TokenPurpose, User,
        UserCredentials, UserId, UserQuery, UserStatus,
    };
    use authkit_core::ports::*;
    use authkit_core::testing::MemoryStore;
    use time::OffsetDateTime;

    /// What is wrong with a [`Flawed`] store.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Flaw {
        /// Tokens can be consumed again and again.
        NeverSpends,
        /// `credentials_by_id` returns soft-deleted users.
        ShowsDeleted,
        /// `verify_email_with_token` checks, then consumes in a second step (a race window).
        RacyVerify,
        /// `verify_email_with_token` consumes only when the email still matches.
        PeeksBeforeVerifying,
        /// `list_users` says `has_more` whenever a page is full (no limit + 1 fetch).
        FullPageHasMore,
        /// `list_users` lets `_` in `email_contains` match any character (an unescaped LIKE).
        UnderscoreWildcard,
        /// `create_user` writes its mail before (and apart from) the user.
        MailBeforeChange,
        /// `claim_emails` also returns the messages it claimed before, leased or not.
        IgnoresLease,
        /// `begin_password_attempt` reads the count, decides, then writes it (a race window).
        RacyThrottle,
        /// `replace_password_hash` replaces whatever the hash is.
        BlindRehash,
    }

    /// Failure counts with a read-decide-write race: (failures, last attempt in ms).
    type Counts = std::sync::Mutex<std::collections::HashMap<String, (u32, i64)>>;

    /// Rate-limit buckets with a read-decide-write race (GCRA arrival times in ms).
    #[derive(Debug, Default)]
    pub(super) struct RacyRateLimits {
        buckets: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    }

    #[async_trait]
    impl RateLimitStore for RacyRateLimits {
        async fn hit(
            &self,
            key: &str,
            rule: RateLimit,
            now: OffsetDateTime,
        ) -> StoreResult<RateDecision> {
            let now_ms = unix_ms(now);
            let tat = self
                .buckets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(key)
                .copied();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            match rule.decide(tat, now_ms) {
                Ok(next) => {
                    self.buckets
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(key.to_owned(), next);
                    Ok(RateDecision::Allowed)
                }
                Err(retry_after) => Ok(RateDecision::Limited { retry_after }),
            }
        }

        async fn purge_rate_limits(&self, _now: OffsetDateTime) -> StoreResult<u64> {
            Ok(0)
        }
    }

    /// Whether `hay` contains `needle` where `_` matches any one character.
    fn like_contains(hay: &str, needle: &str) -> bool {
        let hay: Vec<char> = hay.chars().collect();
        let needle: Vec<char> = needle.chars().collect();
        needle.is_empty()
            || hay
                .windows(needle.len())
                .any(|w| w.iter().zip(&needle).all(|(h, n)| *n == '_' || h == n))
    }

    #[derive(Debug)]
    pub(super) struct Flawed {
        inner: MemoryStore,
        flaw: Flaw,
        tokens: std::sync::Mutex<Vec<NewOneTimeToken>>,
        claimed: std::sync::Mutex<Vec<ClaimedEmail>>,
        failures: Counts,
    }

    impl Flawed {
        pub(super) fn new(flaw: Flaw) -> Self {
            Self {
                inner: MemoryStore::new(),
                flaw,
                tokens: std::sync::Mutex::default(),
                claimed: std::sync::Mutex::default(),
                failures: Counts::default(),
            }
        }
    }

    #[async_trait]
    impl UserStore for Flawed {
        async fn create_user(&self, new: &NewUser, mail: &QueuedMail) -> StoreResult<User> {
            if self.flaw == Flaw::MailBeforeChange {
                self.inner.enqueue_mail(mail).await?;
                return self.inner.create_user(new, &QueuedMail::none()).await;
            }
            self.inner.create_user(new, mail).await
        }
        async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
            self.inner.user_by_id(id).await
        }
        async fn credentials_by_email(&self, e: &Email) -> StoreResult<Option<UserCredentials>> {
            self.inner.credentials_by_email(e).await
        }
        async fn credentials_by_id(&self, id: UserId) -> StoreResult<Option<UserCredentials>> {
            match self.inner.credentials_by_id(id).await? {
                None if self.flaw == Flaw::ShowsDeleted => Ok(self
                    .inner
                    .user_by_id(id)
                    .await?
                    .map(|user| UserCredentials {
                        user,
                        password_hash: PasswordHash::new("$argon2id$deleted"),
                    })),
                found => Ok(found),
            }
        }
        async fn update_profile(
            &self,
            id: UserId,
            patch: &ProfilePatch,
            now: OffsetDateTime,
            mail: &QueuedMail,
        ) -> StoreResult<User> {
            self.inner.update_profile(id, patch, now, mail).await
        }
        async fn replace_password_hash(
            &self,
            id: UserId,
            old: &PasswordHash,
            new: &PasswordHash,
        ) -> StoreResult<bool> {
            if self.flaw != Flaw::BlindRehash {
                return self.inner.replace_password_hash(id, old, new).await;
            }
            match self.inner.credentials_by_id(id).await? {
                Some(c) => {
                    self.inner
                        .replace_password_hash(id, &c.password_hash, new)
                        .await
                }
                None => Ok(false),
            }
        }
        async fn set_password(
            &self,
            id: UserId,
            hash: &PasswordHash,
            keep: Option<SessionId>,
            now: OffsetDateTime,
            mail: &QueuedMail,
        ) -> StoreResult<()> {
            self.inner.set_password(id, hash, keep, now, mail).await
        }
        async fn set_status(
            &self,
            id: UserId,
            status: UserStatus,
            now: OffsetDateTime,
        ) -> StoreResult<User> {
            self.inner.set_status(id, status, now).await
        }
        async fn soft_delete_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<()> {
            self.inner.soft_delete_user(id, now).await
        }
        async fn restore_user(&self, id: UserId, now: OffsetDateTime) -> StoreResult<User> {
            self.inner.restore_user(id, now).await
        }
        async fn admin_update_user(
            &self,
            id: UserId,
            patch: &AdminPatch,
            now: OffsetDateTime,
        ) -> StoreResult<User> {
            self.inner.admin_update_user(id, patch, now).await
        }
        async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
            match self.flaw {
                Flaw::FullPageHasMore => {
                    let mut page = self.inner.list_users(query).await?;
                    page.has_more = page.items.len() == query.limit as usize;
                    Ok(page)
                }
                Flaw::UnderscoreWildcard if query.email_contains.is_some() => {
                    let needle = query
                        .email_contains
                        .clone()
                        .unwrap_or_default()
                        .to_lowercase();
                    let all = self
                        .inner
                        .list_users(&UserQuery {
                            email_contains: None,
                            limit: u32::MAX - 1,
                            ..query.clone()
                        })
                        .await?;
                    let mut items: Vec<User> = all
                        .items
                        .into_iter()
                        .filter(|u| like_contains(u.email.as_str(), &needle))
                        .collect();
                    let has_more = items.len() > query.limit as usize;
                    items.truncate(query.limit as usize);
                    Ok(Page { items, has_more })
                }
                _ => self.inner.list_users(query).await,
            }
        }
    }

    #[async_trait]
    impl SessionStore for Flawed {
        async fn create_session(&self, new: &NewSession) -> StoreResult<Session> {
            self.inner.create_session(new).await
        }
        async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
            self.inner.session(id).await
        }
        async fn rotate_refresh(&self, r: &RefreshRotation) -> StoreResult<RotateOutcome> {
            self.inner.rotate_refresh(r).await
        }
        async fn revoke_session(
            &self,
            u: UserId,
            id: SessionId,
            now: OffsetDateTime,
        ) -> StoreResult<bool> {
            self.inner.revoke_session(u, id, now).await
        }
        async fn revoke_all_sessions(&self, u: UserId, now: OffsetDateTime) -> StoreResult<u64> {
            self.inner.revoke_all_sessions(u, now).await
        }
        async fn sessions_of(&self, u: UserId) -> StoreResult<Vec<Session>> {
            self.inner.sessions_of(u).await
        }

        async fn purge_sessions(&self, ended_before: OffsetDateTime) -> StoreResult<u64> {
            self.inner.purge_sessions(ended_before).await
        }
    }

    #[async_trait]
    impl OneTimeTokenStore for Flawed {
        async fn insert_token(&self, t: &NewOneTimeToken) -> StoreResult<()> {
            if self.flaw != Flaw::NeverSpends {
                return self.inner.insert_token(t).await;
            }
            self.tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(t.clone());
            Ok(())
        }
        async fn consume_token(
            &self,
            hash: &TokenHash,
            purpose: TokenPurpose,
            now: OffsetDateTime,
        ) -> StoreResult<Option<OneTimeToken>> {
            if self.flaw != Flaw::NeverSpends {
                return self.inner.consume_token(hash, purpose, now).await;
            }
            Ok(self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .find(|t| t.hash == *hash && t.purpose == purpose && now < t.expires_at)
                .map(|t| OneTimeToken {
                    purpose: t.purpose,
                    user_id: t.user_id,
                    email: t.email.clone(),
                    created_at: t.created_at,
                    expires_at: t.expires_at,
                }))
        }
        async fn peek_token(
            &self,
            hash: &TokenHash,
            purpose: TokenPurpose,
            now: OffsetDateTime,
        ) -> StoreResult<Option<OneTimeToken>> {
            self.inner.peek_token(hash, purpose, now).await
        }
        async fn verify_email_with_token(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
        ) -> StoreResult<Option<User>> {
            match self.flaw {
                Flaw::RacyVerify => {
                    let Some(token) = self
                        .inner
                        .peek_token(hash, TokenPurpose::VerifyEmail, now)
                        .await?
                    else {
                        return Ok(None);
                    };
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    let _ = self.inner.verify_email_with_token(hash, now).await?;
                    self.inner.user_by_id(token.user_id).await
                }
                Flaw::PeeksBeforeVerifying => {
                    let Some(token) = self
                        .inner
                        .peek_token(hash, TokenPurpose::VerifyEmail, now)
                        .await?
                    else {
                        return Ok(None);
                    };
                    match self.inner.user_by_id(token.user_id).await? {
                        Some(u) if u.email == token.email && u.deleted_at.is_none() => {
                            self.inner.verify_email_with_token(hash, now).await
                        }
                        _ => Ok(None),
                    }
                }
                _ => self.inner.verify_email_with_token(hash, now).await,
            }
        }
        async fn reset_password_with_token(
            &self,
            hash: &TokenHash,
            new_hash: &PasswordHash,
            now: OffsetDateTime,
            mail: &QueuedMail,
        ) -> StoreResult<Option<User>> {
            self.inner
                .reset_password_with_token(hash, new_hash, now, mail)
                .await
        }
        async fn purge_tokens(&self, expired_before: OffsetDateTime) -> StoreResult<u64> {
            self.inner.purge_tokens(expired_before).await
        }
    }

    #[async_trait]
    impl RoleStore for Flawed {
        async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
            self.inner.permissions_of(roles).await
        }
        async fn roles(&self) -> StoreResult<Vec<Role>> {
            self.inner.roles().await
        }
        async fn create_role(&self, role: &Role) -> StoreResult<Role> {
            self.inner.create_role(role).await
        }
        async fn update_role(&self, role: &Role) -> StoreResult<Role> {
            self.inner.update_role(role).await
        }
        async fn delete_role(&self, name: &str) -> StoreResult<()> {
            self.inner.delete_role(name).await
        }
    }

    #[async_trait]
    impl AuditStore for Flawed {
        async fn append_audit(&self, e: &AuditEvent) -> StoreResult<()> {
            self.inner.append_audit(e).await
        }
        async fn audit_of_user(&self, u: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
            self.inner.audit_of_user(u, limit).await
        }
        async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Page<AuditEvent>> {
            self.inner.list_audit(q).await
        }
        async fn purge_audit(&self, before: OffsetDateTime) -> StoreResult<u64> {
            self.inner.purge_audit(before).await
        }
    }

    #[async_trait]
    impl KeyStore for Flawed {
        async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
            self.inner.signing_keys().await
        }
        async fn insert_signing_key(&self, k: &StoredSigningKey) -> StoreResult<()> {
            self.inner.insert_signing_key(k).await
        }
    }

    #[async_trait]
    impl OutboxStore for Flawed {
        async fn enqueue_mail(&self, mail: &QueuedMail) -> StoreResult<()> {
            self.inner.enqueue_mail(mail).await
        }
        async fn claim_emails(
            &self,
            now: OffsetDateTime,
            lease_until: OffsetDateTime,
            limit: u32,
        ) -> StoreResult<Vec<ClaimedEmail>> {
            let got = self.inner.claim_emails(now, lease_until, limit).await?;
            if self.flaw != Flaw::IgnoresLease {
                return Ok(got);
            }
            let mut claimed = self
                .claimed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut out = claimed.clone();
            out.extend(got.iter().cloned());
            claimed.extend(got);
            Ok(out)
        }
        async fn prepare_email(
            &self,
            id: EmailId,
            token: &NewOneTimeToken,
            payload: &EmailPayload,
            locale: Option<&Locale>,
            now: OffsetDateTime,
        ) -> StoreResult<()> {
            self.inner
                .prepare_email(id, token, payload, locale, now)
                .await
        }
        async fn mark_email_sent(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
            self.inner.mark_email_sent(id, now).await
        }
        async fn mark_email_dropped(&self, id: EmailId, now: OffsetDateTime) -> StoreResult<()> {
            self.inner.mark_email_dropped(id, now).await
        }
        async fn mark_email_failed(
            &self,
            id: EmailId,
            error: &str,
            retry_at: Option<OffsetDateTime>,
            now: OffsetDateTime,
        ) -> StoreResult<()> {
            self.inner.mark_email_failed(id, error, retry_at, now).await
        }
        async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
            self.inner.outbox_counts().await
        }
        async fn list_outbox(
            &self,
            status: Option<OutboxStatus>,
            limit: u32,
        ) -> StoreResult<Vec<OutboxEntry>> {
            self.inner.list_outbox(status, limit).await
        }
        async fn requeue_emails(&self, ids: &[EmailId], now: OffsetDateTime) -> StoreResult<u64> {
            self.inner.requeue_emails(ids, now).await
        }
        async fn purge_outbox(&self, before: OffsetDateTime) -> StoreResult<u64> {
            self.inner.purge_outbox(before).await
        }
    }

    #[async_trait]
    impl LoginThrottleStore for Flawed {
        async fn begin_password_attempt(
            &self,
            key: &str,
            rule: &LoginThrottle,
            now: OffsetDateTime,
        ) -> StoreResult<AttemptDecision> {
            if self.flaw != Flaw::RacyThrottle {
                return self.inner.begin_password_attempt(key, rule, now).await;
            }
            let now_ms = unix_ms(now);
            let (failures, last) = self
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(key)
                .copied()
                .unwrap_or((0, now_ms));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            match rule.check(failures, last, now_ms) {
                Ok(()) => {
                    self.failures
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(key.to_owned(), (failures + 1, now_ms));
                    Ok(AttemptDecision::Allowed)
                }
                Err(retry_after) => Ok(AttemptDecision::Throttled { retry_after }),
            }
        }
        async fn clear_password_failures(&self, key: &str) -> StoreResult<()> {
            self.failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(key);
            self.inner.clear_password_failures(key).await
        }
        async fn password_failures(&self, key: &str) -> StoreResult<u32> {
            if self.flaw != Flaw::RacyThrottle {
                return self.inner.password_failures(key).await;
            }
            Ok(self
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(key)
                .map_or(0, |e| e.0))
        }
        async fn purge_password_failures(&self, before: OffsetDateTime) -> StoreResult<u64> {
            self.inner.purge_password_failures(before).await
        }
    }

    #[async_trait]
    impl StoreHealth for Flawed {
        async fn ping(&self) -> StoreResult<()> {
            Ok(())
        }
    }
}
