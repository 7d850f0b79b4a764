//! The HTTP contract suite: plain `pub async fn name(h: Harness)` functions that only talk HTTP
//! (and read the capture mailer / move the manual clock). [`crate::contract_suite!`] stamps
//! them for one (framework, backend) pair.

pub mod account_sessions;
pub mod admin_audit;
pub mod admin_roles;
pub mod admin_users;
pub mod emails;
pub mod errors;
pub mod host;
pub mod limits;
pub mod login;
pub mod passwords;
pub mod profile;
pub mod refresh;
pub mod register;
pub mod security;
pub mod self_service;
pub mod session;
pub mod tokens;
pub mod verification;

/// Generates one `#[tokio::test]` per suite function for `$framework` × `$backend`. Function
/// names are unique across suites so that a test's name is its filter.
#[macro_export]
macro_rules! contract_suite {
    ($framework:expr, $backend:expr) => {
        $crate::contract_tests! { $framework, $backend;
            register::creates_user_with_user_role,
            register::duplicate_email_is_409_case_insensitively,
            register::invalid_fields_are_422_with_reasons,
            register::concurrent_registrations_create_one_account,
            register::client_cannot_assign_roles_or_verification,
            login::returns_token_pair_and_cookie,
            login::wrong_password_and_unknown_email_are_identical_401,
            login::password_is_not_truncated_or_transformed,
            login::missing_fields_are_422,
            login::unverified_email_is_403_only_after_correct_password,
            refresh::rotates_and_spends_the_old_token,
            refresh::reuse_revokes_the_whole_session,
            refresh::a_made_up_secret_with_a_sessions_selector_revokes_it,
            refresh::concurrent_refreshes_give_exactly_one_success,
            refresh::cookie_refresh_works,
            refresh::bad_refresh_tokens_are_400,
            refresh::sessions_expire_idle_and_absolute,
            session::me_returns_the_user,
            session::me_without_valid_token_is_401,
            session::logout_revokes_session_and_tokens,
            session::logout_without_token_is_401,
            session::logout_and_refresh_race_leaves_no_usable_token,
            tokens::forged_and_malformed_tokens_are_401,
            tokens::expired_access_token_is_401_after_the_leeway,
            tokens::eddsa_tokens_and_key_confusion,
            emails::a_mailer_outage_changes_no_answer_and_loses_no_email,
            emails::a_message_that_keeps_failing_is_abandoned,
            emails::locale_is_chosen_at_registration_and_changed_by_patch_me,
            errors::bad_bodies_are_4xx_problems,
            errors::unknown_routes_and_methods_are_not_served,
            security::no_secret_is_ever_logged,
            security::no_raw_token_in_a_database_dump,
            verification::register_sends_a_verification_link,
            verification::verify_email_marks_the_user_verified,
            verification::bad_verification_tokens_are_400,
            verification::verification_unlocks_login_when_required,
            verification::verification_tokens_expire_after_24_hours,
            verification::concurrent_verifications_give_exactly_one_success,
            verification::verification_token_of_an_old_address_is_refused,
            verification::resend_is_identical_for_every_address,
            verification::resend_rejects_an_invalid_email,
            verification::email_links_ignore_the_host_header,
            passwords::forgot_is_identical_for_known_and_unknown,
            passwords::forgot_rejects_an_invalid_email,
            passwords::reset_password_revokes_every_session,
            passwords::reset_tokens_are_single_use_and_expire,
            passwords::an_email_change_ends_the_reset_links_sent_to_the_old_address,
            passwords::reset_enforces_the_policy_without_spending_the_token,
            passwords::bad_reset_tokens_are_400,
            passwords::concurrent_resets_give_exactly_one_success,
            passwords::password_change_revokes_other_sessions,
            passwords::password_change_checks_the_current_password_and_policy,
            passwords::pre_account_hijacking_is_blocked,
            profile::patch_me_updates_the_display_name,
            profile::patch_me_ignores_unknown_fields,
            profile::email_change_requires_the_current_password,
            profile::email_change_reverifies_and_notifies_the_old_address,
            profile::email_change_race_never_verifies_the_victim_address,
            profile::delete_me_soft_deletes_the_account,
            profile::export_contains_the_users_data_and_no_secret,
            profile::export_includes_revoked_sessions,
            profile::disabled_account_login_is_403_only_after_correct_password,
            account_sessions::sessions_lists_live_sessions_newest_first,
            account_sessions::session_last_used_moves_on_refresh_and_expired_sessions_vanish,
            account_sessions::revoking_a_session_kills_its_tokens,
            account_sessions::another_users_session_cannot_be_revoked,
            account_sessions::revoke_all_sessions_logs_out_everywhere,
            self_service::self_service_routes_require_a_bearer_token,
            self_service::self_service_bodies_are_4xx_problems,
            self_service::self_service_secrets_are_never_logged,
            host::current_user_authenticates_host_routes,
            host::permission_guard_is_401_then_403_then_through,
            host::maybe_user_is_anonymous_only_without_credentials,
            admin_users::admin_routes_require_a_token_then_a_permission,
            admin_users::admin_list_users_shape_default_page_and_limits,
            admin_users::admin_list_users_paginates_every_user_exactly_once,
            admin_users::admin_list_users_email_filter_is_literal,
            admin_users::admin_list_users_filters_by_status_role_and_verified,
            admin_users::admin_deleted_users_are_listed_apart,
            admin_users::admin_get_user_by_id,
            admin_users::admin_patch_updates_a_user,
            admin_users::admin_email_change_needs_the_target_s_permissions,
            admin_users::admin_text_with_control_characters_is_a_4xx,
            admin_users::admin_disabling_a_user_revokes_sessions,
            admin_users::admin_role_change_reaches_issued_tokens,
            admin_users::admin_delete_and_restore_a_user,
            admin_roles::admin_access_token_carries_every_permission,
            admin_roles::admin_roles_lists_the_builtin_roles,
            admin_roles::admin_roles_create_update_delete,
            admin_roles::admin_role_permission_change_refuses_holders_tokens,
            admin_roles::admin_deleting_a_role_strips_it_from_holders,
            admin_roles::admin_read_only_role_holder_can_only_read_users,
            admin_roles::admin_users_write_cannot_grant_roles,
            admin_audit::admin_audit_records_admin_actions,
            admin_audit::admin_audit_filters_and_paginates,
            admin_audit::admin_audit_never_holds_secrets,
            limits::per_ip_limit_covers_every_route,
            limits::per_ip_limit_counts_in_the_database,
            limits::credential_routes_share_a_tighter_per_ip_limit,
            limits::forwarded_for_is_ignored_without_a_trusted_proxy,
            limits::forwarded_for_from_a_trusted_proxy_keys_the_real_client,
            limits::failed_logins_are_throttled_per_account_identically,
            limits::password_reset_unlocks_a_throttled_account,
            limits::wrong_current_password_counts_on_the_account,
            limits::throttle_ceiling_holds_until_a_reset,
            limits::concurrent_wrong_passwords_are_each_counted_once,
            limits::forgot_and_resend_emails_are_limited_per_address,
            limits::security_headers_on_every_kind_of_answer,
            limits::cors_answers_only_allowed_origins,
            limits::cross_site_state_changes_are_forbidden,
            limits::cookie_refresh_refuses_form_content_types,
            limits::oversized_headers_are_431,
            limits::hash_pool_overload_is_503_not_500,
            limits::imported_hashes_are_upgraded_on_login,
        }
    };
}

/// Implementation detail of [`contract_suite!`].
#[macro_export]
#[doc(hidden)]
macro_rules! contract_tests {
    ($framework:expr, $backend:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if !$crate::backend_available($backend) {
                    return;
                }
                let harness = $crate::Harness { framework: $framework, backend: $backend };
                $crate::suites::$module::$name(harness).await;
            }
        )*
    };
}
