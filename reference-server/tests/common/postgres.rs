//! PostgreSQL for the in-process tests: `AUTHKIT_TEST_POSTGRES_URL` names a server where each
//! test creates a fresh database ([`TestDb`]).

use authkit_sqlx::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The admin URL, or `None` (with a notice) when PostgreSQL tests are not configured.
pub(crate) fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("AUTHKIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("AUTHKIT_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "AUTHKIT_TEST_REQUIRE_POSTGRES=1 but AUTHKIT_TEST_POSTGRES_URL is unset"
            );
            eprintln!("skipping {test}: set AUTHKIT_TEST_POSTGRES_URL to run it on PostgreSQL");
            None
        }
    }
}

const DB_PREFIX: &str = "authkit_srv_";

/// A fresh database on the server of `admin_url`; dropped by [`TestDb::drop_db`] at the end of
/// a passing test (kept when the test fails, for inspection; swept after an hour).
pub(crate) struct TestDb {
    admin_url: String,
    name: String,
    /// The database's URL.
    pub(crate) url: String,
}

impl TestDb {
    /// Creates the database (sweeping leftovers older than an hour).
    pub(crate) async fn create(admin_url: &str) -> Self {
        let mut admin = PgConnection::connect(admin_url).await.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Sweep leftovers of failed runs older than an hour.
        let old: Vec<(String,)> = authkit_sqlx::sqlx::query_as(
            "SELECT datname FROM pg_database WHERE datname LIKE 'authkit\\_srv\\_%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        for (name,) in old {
            let created = name
                .strip_prefix(DB_PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|t| t.parse::<u64>().ok());
            if created.is_some_and(|t| t + 3600 < now) {
                let _ = admin
                    .execute(AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .await;
            }
        }
        let name = format!("{DB_PREFIX}{now}_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&name);
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// Drops the database.
    pub(crate) async fn drop_db(self) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        admin
            .execute(AssertSqlSafe(format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                self.name
            )))
            .await
            .unwrap();
        admin.close().await.unwrap();
    }
}
