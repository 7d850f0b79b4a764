//! The forms `store_suite!` accepts: a plain store is covered by `tests/tests/store.rs`; here an
//! `Arc<dyn Store>`, a fixture with a teardown, and a skipped (`None`) fixture.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authkit_core::ports::Store;
use authkit_core::testing::MemoryStore;
use authkit_testkit::StoreFixture;

static SUITE_TEARDOWNS: AtomicUsize = AtomicUsize::new(0);
static TEARDOWNS: AtomicUsize = AtomicUsize::new(0);

struct Counted(Arc<MemoryStore>, &'static AtomicUsize);

impl StoreFixture for Counted {
    fn store(&self) -> Arc<dyn Store> {
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
        Arc::new(broken::NeverSpends::default()),
    ));
}

/// A store whose tokens can be consumed again and again: the suite must catch it.
mod broken {
    use async_trait::async_trait;
    use authkit_core::domain::{
        AuditEvent, Email, NewOneTimeToken, NewSession, NewUser, OneTimeToken, RefreshRotation,
        RotateOutcome, Session, SessionId, StoredSigningKey, TokenHash, TokenPurpose, User,
        UserCredentials, UserId,
    };
    use authkit_core::ports::*;
    use authkit_core::testing::MemoryStore;
    use time::OffsetDateTime;

    #[derive(Debug, Default)]
    pub(super) struct NeverSpends {
        inner: MemoryStore,
        tokens: std::sync::Mutex<Vec<NewOneTimeToken>>,
    }

    #[async_trait]
    impl UserStore for NeverSpends {
        async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
            self.inner.create_user(new).await
        }
        async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
            self.inner.user_by_id(id).await
        }
        async fn credentials_by_email(&self, e: &Email) -> StoreResult<Option<UserCredentials>> {
            self.inner.credentials_by_email(e).await
        }
    }

    #[async_trait]
    impl SessionStore for NeverSpends {
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
    }

    #[async_trait]
    impl OneTimeTokenStore for NeverSpends {
        async fn insert_token(&self, t: &NewOneTimeToken) -> StoreResult<()> {
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
    }

    #[async_trait]
    impl RoleStore for NeverSpends {
        async fn permissions_of(&self, roles: &[String]) -> StoreResult<Vec<String>> {
            self.inner.permissions_of(roles).await
        }
    }

    #[async_trait]
    impl AuditStore for NeverSpends {
        async fn append_audit(&self, e: &AuditEvent) -> StoreResult<()> {
            self.inner.append_audit(e).await
        }
        async fn audit_of_user(&self, u: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
            self.inner.audit_of_user(u, limit).await
        }
    }

    #[async_trait]
    impl KeyStore for NeverSpends {
        async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
            self.inner.signing_keys().await
        }
        async fn insert_signing_key(&self, k: &StoredSigningKey) -> StoreResult<()> {
            self.inner.insert_signing_key(k).await
        }
    }

    #[async_trait]
    impl StoreHealth for NeverSpends {
        async fn ping(&self) -> StoreResult<()> {
            Ok(())
        }
    }
}
