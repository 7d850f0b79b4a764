//! Test harness shared by the cross-crate suites: databases ([`db`]), apps served by a real
//! adapter ([`app`]), log capture ([`logs`]) and the HTTP contract suite ([`suites`]), stamped
//! per adapter and database by [`contract_suite!`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

pub mod app;
pub mod db;
pub mod logs;
pub mod suites;

pub use app::{AppOptions, Framework, Harness, Keys, PASSWORD, Reply, TestApp};
pub use db::Backend;

/// Whether `backend` can be used here (PostgreSQL needs `AUTHKIT_TEST_POSTGRES_URL`; when it is
/// missing, tests are skipped with a notice unless `AUTHKIT_TEST_REQUIRE_POSTGRES=1`).
pub fn backend_available(backend: Backend) -> bool {
    match backend {
        Backend::Sqlite => true,
        Backend::Postgres => {
            if std::env::var_os("AUTHKIT_TEST_POSTGRES_URL").is_some() {
                true
            } else if std::env::var("AUTHKIT_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("AUTHKIT_TEST_REQUIRE_POSTGRES=1 but AUTHKIT_TEST_POSTGRES_URL is unset");
            } else {
                eprintln!("skipped: AUTHKIT_TEST_POSTGRES_URL is unset");
                false
            }
        }
    }
}
