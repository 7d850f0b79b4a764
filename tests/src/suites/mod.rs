//! The HTTP contract suite: plain `pub async fn name(h: Harness)` functions that only talk HTTP
//! (and read the capture mailer / move the manual clock). [`crate::contract_suite!`] stamps
//! them for one (framework, backend) pair.

pub mod errors;
pub mod login;
pub mod refresh;
pub mod register;
pub mod security;
pub mod session;
pub mod tokens;

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
            errors::bad_bodies_are_4xx_problems,
            errors::unknown_routes_and_methods_are_not_served,
            security::no_secret_is_ever_logged,
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
