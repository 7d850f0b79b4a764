//! The store conformance suite: the MUST-rules of [`authkit_core::ports`] as executable checks,
//! for any implementation of [`Store`] (authkit's memory, SQLite and PostgreSQL stores, or yours).
//!
//! Stamp the suite into a test file with [`store_suite!`], giving it an `async` block that builds
//! a fresh, migrated store:
//!
//! ```
//! mod memory {
//!     authkit_testkit::store_suite!(async { authkit_core::testing::MemoryStore::new() });
//! }
//! # fn main() {}
//! ```
//!
//! Each check becomes its own `#[test]` (named after the function in [`suite`], inside your
//! module, so `cargo nextest run -E 'test(/^memory::/)'` selects one store) running on a
//! multi-thread tokio runtime with 4 workers, so that the concurrency checks really race.
//!
//! The block may produce:
//! - any value implementing [`Store`] (it is put behind an `Arc`),
//! - an `Arc<dyn Store>` or an `Arc<S>`,
//! - any [`StoreFixture`]: a store plus what must outlive it (a temporary directory, a scratch
//!   database) and a teardown that runs only when the check passed,
//! - an `Option` of a fixture, where `None` skips the check (e.g. no database server configured).
//!
//! Request rate limits are not part of [`Store`] (they may live elsewhere, e.g. in memory):
//! [`rate_limit_suite!`] stamps their checks for any
//! [`RateLimitStore`] the same way.
//!
//! Every check gets a fresh store from the block. The checks use fixed, microsecond-precise
//! times (never the system clock), so a store must round-trip [`time::OffsetDateTime`] to the
//! microsecond.
//!
//! Also here for mailer tests: [`smtp::SmtpReceiver`], a real SMTP server on 127.0.0.1 (plain,
//! STARTTLS, implicit TLS, AUTH, injected failures, silence).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // an assertion library

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use authkit_core::ports::{RateLimitStore, Store};

pub mod smtp;
pub mod suite;

/// A store under test together with whatever it needs to stay alive, and its cleanup.
///
/// Implement it for a harness type that owns, say, a temporary directory or a scratch database:
///
/// ```
/// use std::sync::Arc;
///
/// use authkit_core::ports::Store;
/// use authkit_core::testing::MemoryStore;
/// use authkit_testkit::StoreFixture;
///
/// struct ScratchDb {
///     store: Arc<MemoryStore>,
/// }
///
/// impl StoreFixture for ScratchDb {
///     fn store(&self) -> Arc<dyn Store> {
///         self.store.clone()
///     }
///
///     async fn teardown(self) {
///         // Drop the scratch database here; only reached when the check passed.
///     }
/// }
///
/// mod scratch {
///     authkit_testkit::store_suite!(async {
///         super::ScratchDb { store: std::sync::Arc::new(authkit_core::testing::MemoryStore::new()) }
///     });
/// }
/// # fn main() {}
/// ```
pub trait StoreFixture: Send + Sized + 'static {
    /// The store the checks run against.
    fn store(&self) -> Arc<dyn Store>;

    /// Runs after a check passed (not after a failure, so that the data stays inspectable).
    /// The default does nothing.
    fn teardown(self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

impl StoreFixture for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self)
    }
}

impl<S: Store> StoreFixture for Arc<S> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self) as Arc<dyn Store>
    }
}

/// A rate-limit store under test together with whatever it needs to stay alive, and its
/// cleanup: what [`StoreFixture`] is to [`rate_limit_suite!`].
///
/// ```
/// use std::sync::Arc;
///
/// use authkit_core::limits::MemoryRateLimits;
/// use authkit_core::ports::RateLimitStore;
/// use authkit_testkit::RateLimitFixture;
///
/// struct Buckets(Arc<MemoryRateLimits>);
///
/// impl RateLimitFixture for Buckets {
///     fn rate_limits(&self) -> Arc<dyn RateLimitStore> {
///         self.0.clone()
///     }
/// }
///
/// mod buckets {
///     authkit_testkit::rate_limit_suite!(async {
///         super::Buckets(std::sync::Arc::new(authkit_core::limits::MemoryRateLimits::new()))
///     });
/// }
/// # fn main() {}
/// ```
pub trait RateLimitFixture: Send + Sized + 'static {
    /// The store the checks run against.
    fn rate_limits(&self) -> Arc<dyn RateLimitStore>;

    /// Runs after a check passed (not after a failure, so that the data stays inspectable).
    /// The default does nothing.
    fn teardown(self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

impl RateLimitFixture for Arc<dyn RateLimitStore> {
    fn rate_limits(&self) -> Arc<dyn RateLimitStore> {
        Arc::clone(self)
    }
}

impl<S: RateLimitStore> RateLimitFixture for Arc<S> {
    fn rate_limits(&self) -> Arc<dyn RateLimitStore> {
        Arc::clone(self) as Arc<dyn RateLimitStore>
    }
}

/// Stamps one test per conformance check of [`suite`] into the current module.
///
/// `store_suite!(async { ... })`: the block is evaluated once per check and must produce a
/// [`Store`], an `Arc<dyn Store>`, a [`StoreFixture`] or an `Option` of a fixture (`None`
/// skips). Each generated test is equivalent to
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]` (the runtime is built by this
/// crate, so the calling crate needs no tokio features), calls the check of the same name in
/// [`suite`] with the store, then runs the fixture's teardown if the check passed.
///
/// ```
/// use std::sync::Arc;
///
/// use authkit_core::ports::Store;
/// use authkit_core::testing::MemoryStore;
///
/// mod plain {
///     authkit_testkit::store_suite!(async { authkit_core::testing::MemoryStore::new() });
/// }
///
/// mod as_dyn {
///     use super::*;
///     authkit_testkit::store_suite!(async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_suite {
    ($factory:expr $(,)?) => {
        $crate::__store_suite_checks! {
            ($factory)
            create_user_and_get_it,
            email_conflict_is_case_insensitive,
            duplicate_user_id_conflicts,
            concurrent_create_user_one_email_succeeds_once,
            roles_are_granted_sorted_and_deduplicated,
            unknown_roles_are_ignored,
            credentials_by_email_returns_the_hash,
            credentials_by_id_excludes_deleted_users,
            update_profile_sets_and_clears_display_name,
            update_profile_new_email_is_unverified,
            update_profile_same_email_keeps_verification,
            update_profile_email_conflicts,
            concurrent_email_changes_to_one_address_succeed_once,
            update_profile_not_found_for_unknown_or_deleted,
            set_password_revokes_sessions_and_spends_resets,
            set_password_not_found_for_unknown_or_deleted,
            set_status_disabled_revokes_sessions,
            set_status_not_found_for_unknown_or_deleted,
            soft_delete_user_hides_the_user_and_revokes_sessions,
            create_session_sets_last_login_at,
            create_session_for_unknown_user_is_not_found,
            session_round_trips,
            create_session_audited_appends_the_event_once,
            create_session_with_owner_reads_the_owner_as_the_login_left_it,
            session_and_user_reads_both,
            duplicate_session_id_conflicts,
            revoke_session_only_revokes_own_live_sessions,
            revoke_all_sessions_counts,
            sessions_of_lists_all_newest_first,
            rotate_refresh_moves_the_hash,
            rotate_refresh_reuse_revokes_the_session,
            rotate_refresh_invalid_for_unknown_hash,
            rotate_refresh_finds_the_session_by_its_selector,
            rotate_refresh_of_another_hash_with_a_selector_is_reuse,
            rotate_refresh_without_selector_finds_the_session_by_hash,
            rotate_refresh_invalid_for_revoked_session,
            rotate_refresh_invalid_after_absolute_expiry,
            rotate_refresh_invalid_after_idle_expiry,
            rotate_refresh_caps_idle_at_absolute_expiry,
            rotate_refresh_spent_hashes_stay_with_their_session,
            purge_sessions_deletes_ended_sessions_only,
            concurrent_rotations_rotate_exactly_once,
            concurrent_rotations_without_selector_rotate_exactly_once,
            rotate_refresh_with_owner_reads_the_owner,
            concurrent_rotations_with_owner_return_each_owner,
            rotate_refresh_audited_appends_the_event_once,
            consume_token_is_single_use,
            consume_token_checks_purpose,
            consume_token_refuses_expired,
            concurrent_consumes_succeed_once,
            duplicate_token_hash_conflicts,
            purge_tokens_deletes_expired_tokens_only,
            peek_token_does_not_consume,
            verify_email_with_token_verifies_once,
            verify_email_with_token_checks_purpose_and_expiry,
            verify_email_with_token_refuses_a_changed_email,
            concurrent_verifications_succeed_once,
            reset_password_with_token_resets,
            reset_password_with_token_refuses_a_changed_email,
            an_email_change_spends_the_reset_tokens_of_the_old_email,
            reset_password_with_token_refuses_bad_tokens_and_deleted_users,
            concurrent_resets_succeed_once,
            concurrent_resets_of_one_user_succeed_once,
            concurrent_password_changes_and_resets_do_not_fail,
            builtin_role_permissions,
            authz_version_starts_at_zero_and_survives_rotation,
            restore_user_undeletes,
            admin_update_user_applies_each_field,
            admin_update_user_disabling_revokes_sessions,
            admin_update_user_conflict_and_not_found,
            admin_update_user_role_change_raises_authz_version,
            list_users_paginates_every_user_once,
            list_users_filters_alone_and_combined,
            list_users_email_contains_is_literal,
            roles_crud,
            role_changes_raise_authz_version_of_holders_only,
            list_audit_orders_filters_and_pages,
            audit_events_round_trip_newest_first,
            purge_audit_deletes_events_before_the_cutoff,
            append_audits_keeps_order_and_fields,
            append_audits_writes_a_large_batch_whole,
            signing_keys_round_trip_newest_first,
            ping_succeeds,
            outbox_enqueue_then_claim_returns_the_message,
            outbox_claim_skips_messages_not_due,
            outbox_claim_respects_the_limit,
            outbox_claim_takes_the_oldest_due_first,
            outbox_claimed_message_is_leased,
            outbox_mark_email_sent_finishes_the_message,
            outbox_mark_email_dropped_finishes_the_message,
            outbox_mark_email_failed_retries_or_abandons,
            outbox_marks_need_a_processing_message,
            outbox_prepare_email_stores_the_token_and_payload,
            outbox_counts_count_each_status,
            outbox_list_filters_orders_and_limits,
            outbox_requeue_emails_requeues_abandoned_only,
            outbox_purge_deletes_old_delivered_messages,
            outbox_enqueue_mail_is_atomic,
            create_user_writes_its_mail_atomically,
            create_user_audited_appends_the_event_once,
            update_profile_writes_its_mail_only_when_it_applies,
            set_password_writes_its_mail_only_when_it_applies,
            reset_password_with_token_writes_its_mail_only_when_it_resets,
            user_locale_round_trips,
            concurrent_claims_take_each_message_once,
            throttle_allows_free_failures_then_doubles_the_delay,
            throttle_delay_follows_the_rule_to_its_caps,
            throttle_clear_resets_the_count,
            throttle_ceiling_is_never_passed,
            throttle_keys_are_independent,
            throttle_allows_attempts_that_arrive_out_of_order,
            throttle_purge_forgets_old_counts,
            concurrent_password_attempts_stop_at_the_free_failures,
            concurrent_password_attempts_lose_no_failure,
            replace_password_hash_replaces_only_the_expected_hash,
        }
    };
}

/// Stamps one test per rate-limit check of [`suite`] (those taking a
/// [`RateLimitStore`]) into the current module, as
/// [`store_suite!`] does for the store checks.
///
/// `rate_limit_suite!(async { ... })`: the block is evaluated once per check and must produce a
/// [`RateLimitStore`], an `Arc<dyn RateLimitStore>` or an
/// `Arc<S>`, a [`RateLimitFixture`] or an `Option` of one (`None` skips). Each test runs on a
/// multi-thread runtime with 4 workers.
///
/// ```
/// mod memory {
///     authkit_testkit::rate_limit_suite!(async { authkit_core::limits::MemoryRateLimits::new() });
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! rate_limit_suite {
    ($factory:expr $(,)?) => {
        $crate::__rate_limit_suite_checks! {
            ($factory)
            rate_limit_allows_a_burst_then_limits,
            rate_limit_refills_after_waiting,
            rate_limit_keys_are_independent,
            rate_limit_purge_removes_only_full_buckets,
            concurrent_rate_limit_hits_allow_exactly_the_burst,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rate_limit_suite_checks {
    (($factory:expr) $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::__private::run(async {
                    #[allow(unused_imports)]
                    use $crate::__private::{ViaRateFixture as _, ViaRateStore as _};
                    let prepared =
                        (&$crate::__private::Probe::new($factory.await)).__prepare_rate();
                    if let Some(store) = prepared.store() {
                        $crate::suite::$check(store).await;
                        prepared.finish().await;
                    }
                });
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_suite_checks {
    (($factory:expr) $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::__private::run(async {
                    #[allow(unused_imports)]
                    use $crate::__private::{ViaFixture as _, ViaStore as _};
                    let prepared = (&$crate::__private::Probe::new($factory.await)).__prepare();
                    if let Some(store) = prepared.store() {
                        $crate::suite::$check(store).await;
                        prepared.finish().await;
                    }
                });
            }
        )*
    };
}

/// Macro support; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::cell::Cell;

    use super::{Arc, Future, Pin, RateLimitFixture, RateLimitStore, Store, StoreFixture};

    /// Runs a check on a multi-thread runtime with 4 workers.
    pub fn run(check: impl Future<Output = ()>) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("cannot build the tokio runtime")
            .block_on(check);
    }

    trait Erased: Send {
        fn store(&self) -> Arc<dyn Store>;
        fn teardown(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    }

    impl<F: StoreFixture> Erased for F {
        fn store(&self) -> Arc<dyn Store> {
            StoreFixture::store(self)
        }

        fn teardown(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(StoreFixture::teardown(*self))
        }
    }

    /// A fixture (or nothing, when skipped) with its type erased.
    pub struct Prepared(Option<Box<dyn Erased>>);

    impl Prepared {
        /// The store, or `None` when the check is skipped.
        pub fn store(&self) -> Option<Arc<dyn Store>> {
            self.0.as_ref().map(|f| f.store())
        }

        /// Runs the teardown.
        pub async fn finish(self) {
            if let Some(f) = self.0 {
                f.teardown().await;
            }
        }
    }

    /// Holds the factory's value for the method-resolution dispatch below (fixtures first,
    /// then `Option`s of fixtures, then plain stores).
    pub struct Probe<T>(Cell<Option<T>>);

    impl<T> Probe<T> {
        /// Wraps the factory's value.
        pub fn new(value: T) -> Self {
            Self(Cell::new(Some(value)))
        }

        fn take(&self) -> T {
            self.0.take().expect("a probe is prepared once")
        }
    }

    /// Chosen for fixtures and `Option`s of fixtures.
    pub trait ViaFixture {
        /// Erases the fixture.
        fn __prepare(&self) -> Prepared;
    }

    impl<F: StoreFixture> ViaFixture for Probe<F> {
        fn __prepare(&self) -> Prepared {
            Prepared(Some(Box::new(self.take())))
        }
    }

    impl<F: StoreFixture> ViaFixture for Probe<Option<F>> {
        fn __prepare(&self) -> Prepared {
            Prepared(self.take().map(|f| Box::new(f) as Box<dyn Erased>))
        }
    }

    /// Chosen (one auto-reference later) for any other [`Store`].
    pub trait ViaStore {
        /// Puts the store behind an `Arc`.
        fn __prepare(&self) -> Prepared;
    }

    impl<S: Store> ViaStore for &Probe<S> {
        fn __prepare(&self) -> Prepared {
            Prepared(Some(Box::new(Arc::new(self.take()))))
        }
    }

    trait ErasedRate: Send {
        fn store(&self) -> Arc<dyn RateLimitStore>;
        fn teardown(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    }

    impl<F: RateLimitFixture> ErasedRate for F {
        fn store(&self) -> Arc<dyn RateLimitStore> {
            RateLimitFixture::rate_limits(self)
        }

        fn teardown(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(RateLimitFixture::teardown(*self))
        }
    }

    /// A rate-limit fixture (or nothing, when skipped) with its type erased.
    pub struct PreparedRate(Option<Box<dyn ErasedRate>>);

    impl PreparedRate {
        /// The store, or `None` when the check is skipped.
        pub fn store(&self) -> Option<Arc<dyn RateLimitStore>> {
            self.0.as_ref().map(|f| f.store())
        }

        /// Runs the teardown.
        pub async fn finish(self) {
            if let Some(f) = self.0 {
                f.teardown().await;
            }
        }
    }

    /// Chosen for rate-limit fixtures and `Option`s of them.
    pub trait ViaRateFixture {
        /// Erases the fixture.
        fn __prepare_rate(&self) -> PreparedRate;
    }

    impl<F: RateLimitFixture> ViaRateFixture for Probe<F> {
        fn __prepare_rate(&self) -> PreparedRate {
            PreparedRate(Some(Box::new(self.take())))
        }
    }

    impl<F: RateLimitFixture> ViaRateFixture for Probe<Option<F>> {
        fn __prepare_rate(&self) -> PreparedRate {
            PreparedRate(self.take().map(|f| Box::new(f) as Box<dyn ErasedRate>))
        }
    }

    /// Chosen (one auto-reference later) for any other [`RateLimitStore`].
    pub trait ViaRateStore {
        /// Puts the store behind an `Arc`.
        fn __prepare_rate(&self) -> PreparedRate;
    }

    impl<S: RateLimitStore> ViaRateStore for &Probe<S> {
        fn __prepare_rate(&self) -> PreparedRate {
            PreparedRate(Some(Box::new(Arc::new(self.take()))))
        }
    }
}
