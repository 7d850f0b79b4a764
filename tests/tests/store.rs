//! The store conformance suite (`authkit-testkit`) against every store authkit ships, plus the
//! SQL stores' own guarantees: migrations, representation, error mapping.
//!
//! Module names are nextest filters: `cargo nextest run -E 'test(/^postgres::/)'`.

use std::sync::Arc;

use authkit_core::ports::RateLimitStore;
use authkit_tests::db::TestDb;

mod memory {
    authkit_testkit::store_suite!(async { authkit_core::testing::MemoryStore::new() });

    authkit_testkit::rate_limit_suite!(async { authkit_core::limits::MemoryRateLimits::new() });
}

/// A scratch database whose SQL store is the rate-limit store under test (rate limits are not
/// part of `Store`, so `TestDb`'s own fixture does not serve them).
struct RateLimitDb(TestDb);

impl RateLimitDb {
    /// A fresh, migrated database of `backend`; `None` when PostgreSQL is not configured.
    async fn new(backend: authkit_tests::db::Backend) -> Option<Self> {
        TestDb::new(backend).await.map(Self)
    }
}

impl authkit_testkit::RateLimitFixture for RateLimitDb {
    fn rate_limits(&self) -> Arc<dyn RateLimitStore> {
        self.0.rate_limits()
    }

    async fn teardown(self) {
        self.0.cleanup().await;
    }
}

/// `pool_stats` follows the pool: a connection held shows as in use, and returns to idle.
/// `other_max`: connections of the store's other pools (SQLite's writer).
#[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
async fn check_pool_stats<DB: authkit_sqlx::sqlx::Database>(
    pool: &authkit_sqlx::sqlx::Pool<DB>,
    other_max: u32,
    health: &dyn authkit_core::ports::StoreHealth,
) {
    let max = pool.options().get_max_connections() + other_max;
    let held = pool.acquire().await.unwrap();
    let stats = health.pool_stats().unwrap();
    assert_eq!(stats.max, max);
    assert!(stats.in_use >= 1, "{stats:?}");
    assert!(stats.in_use + stats.idle <= max, "{stats:?}");
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = health.pool_stats().unwrap();
        if stats.in_use == 0 && stats.idle >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stats:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The SQL stores append the creation's event inside the user's transaction, and a login's inside
/// the session's: `audited`, the event stored once, and when the event cannot be stored (its id
/// taken) no user, or no session, either.
#[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
async fn create_user_audited_is_one_transaction(store: Arc<dyn authkit_core::ports::Store>) {
    use authkit_core::domain::{AuditEvent, Email, NewUser, PasswordHash, QueuedMail, UserId};

    let at = time::macros::datetime!(2030-01-02 03:04:05 UTC);
    let new = |email: &str| NewUser {
        id: UserId::new_v7(at),
        email: Email::parse(email).unwrap(),
        display_name: None,
        locale: None,
        password_hash: PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        roles: vec!["user".to_owned()],
        now: at,
    };
    let event = |user: UserId| AuditEvent {
        id: uuid::Uuid::from_u128(0x018c_0000_0000_7000_8000_0000_0003_0001),
        at,
        event: "register".to_owned(),
        user_id: Some(user),
        actor_id: Some(user),
        ip: None,
        user_agent: None,
        detail: serde_json::json!({}),
    };
    let ada = new("ada@example.com");
    let created = store
        .create_user_audited(&ada, &QueuedMail::none(), &event(ada.id))
        .await
        .unwrap();
    assert!(created.audited, "written with the user");
    assert_eq!(
        store.audit_of_user(ada.id, 10).await.unwrap(),
        [event(ada.id)]
    );

    let bob = new("bob@example.com");
    let refused = store
        .create_user_audited(&bob, &QueuedMail::none(), &event(bob.id))
        .await;
    assert!(refused.is_err(), "the event's id is taken: {refused:?}");
    assert_eq!(
        store.user_by_id(bob.id).await.unwrap(),
        None,
        "no user without its event"
    );
    assert_eq!(store.audit_of_user(bob.id, 10).await.unwrap(), []);

    // A login's session and its event alike.
    let session = |id: u128| authkit_core::domain::NewSession {
        id: authkit_core::domain::SessionId(uuid::Uuid::from_u128(id)),
        user_id: ada.id,
        refresh_hash: authkit_core::domain::TokenHash::of(&id.to_string()),
        refresh_selector: None,
        now: at,
        expires_at: at + time::Duration::days(1),
        idle_expires_at: at + time::Duration::days(1),
        remember_me: false,
        ip: None,
        user_agent: None,
    };
    let login = AuditEvent {
        id: uuid::Uuid::from_u128(0x018c_0000_0000_7000_8000_0000_0003_0002),
        ..event(ada.id)
    };
    let first = session(0x018c_0000_0000_7000_8000_0000_0004_0001);
    let opened = store.create_session_audited(&first, &login).await.unwrap();
    assert!(opened.audited, "written with the session");
    assert_eq!(store.audit_of_user(ada.id, 10).await.unwrap().len(), 2);
    let second = session(0x018c_0000_0000_7000_8000_0000_0004_0002);
    let refused = store.create_session_audited(&second, &login).await;
    assert!(refused.is_err(), "the event's id is taken: {refused:?}");
    assert_eq!(
        store.session(second.id).await.unwrap(),
        None,
        "no session without its event"
    );
}

mod sqlite {
    use authkit_core::domain::{Email, NewUser, PasswordHash, QueuedMail, UserId};
    use authkit_core::ports::{StoreHealth, UserStore};
    use authkit_sqlx::SqliteStore;
    use authkit_sqlx::sqlx::Row;
    use authkit_tests::db::{Backend, TestDb};
    use time::macros::datetime;

    /// The time the purge tests purge at: long after every row they make as ended.
    const PURGE_AT: time::OffsetDateTime = datetime!(2030-01-02 03:04:05 UTC);

    /// A fresh SQLite database with one user (`purge@example.com`), after running each of
    /// `sqls` on it with that user's id bound as `?1`.
    #[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
    async fn seeded(sqls: &[&'static str]) -> (TestDb, SqliteStore) {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let store = db.sqlite().unwrap().clone();
        let user = UserId::new_v7(PURGE_AT).to_string();
        let insert_user = "INSERT INTO authkit_users \
                           (id, email, password_hash, created_at, updated_at) \
                           VALUES (?1, 'purge@example.com', 'h', 0, 0)";
        for &sql in std::iter::once(&insert_user).chain(sqls) {
            authkit_sqlx::sqlx::query(sql)
                .bind(&user)
                .execute(store.pool())
                .await
                .unwrap();
        }
        (db, store)
    }

    /// SQLite's migrations as `migrate()` applies them: version, description, SQL.
    const MIGRATIONS: [(i64, &str, &str); 8] = [
        (
            1,
            "init",
            include_str!("../../authkit-sqlx/migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "rbac",
            include_str!("../../authkit-sqlx/migrations/sqlite/0002_rbac.sql"),
        ),
        (
            3,
            "outbox",
            include_str!("../../authkit-sqlx/migrations/sqlite/0003_outbox.sql"),
        ),
        (
            4,
            "limits",
            include_str!("../../authkit-sqlx/migrations/sqlite/0004_limits.sql"),
        ),
        (
            5,
            "refresh_spent_trigger",
            include_str!("../../authkit-sqlx/migrations/sqlite/0005_refresh_spent_trigger.sql"),
        ),
        (
            6,
            "spent_tokens_without_session_index",
            include_str!(
                "../../authkit-sqlx/migrations/sqlite/0006_spent_tokens_without_session_index.sql"
            ),
        ),
        (
            7,
            "spent_tokens_without_session_key",
            include_str!(
                "../../authkit-sqlx/migrations/sqlite/0007_spent_tokens_without_session_key.sql"
            ),
        ),
        (
            8,
            "refresh_selector",
            include_str!("../../authkit-sqlx/migrations/sqlite/0008_refresh_selector.sql"),
        ),
    ];

    /// An empty SQLite database at `version`, as `migrate()` left it then: the migrations up to
    /// it run and recorded in the ledger.
    #[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
    async fn at_version(version: i64) -> (TestDb, SqliteStore) {
        let db = TestDb::empty(Backend::Sqlite).await.unwrap();
        let store = db.sqlite().unwrap().clone();
        authkit_sqlx::sqlx::raw_sql(
            "CREATE TABLE authkit_schema_migrations (version INTEGER NOT NULL, \
             description TEXT NOT NULL, applied_at INTEGER NOT NULL, \
             CONSTRAINT authkit_schema_migrations_pkey PRIMARY KEY (version)) STRICT",
        )
        .execute(store.pool())
        .await
        .unwrap();
        for (v, description, sql) in MIGRATIONS.into_iter().filter(|(v, ..)| *v <= version) {
            authkit_sqlx::sqlx::raw_sql(sql)
                .execute(store.pool())
                .await
                .unwrap();
            authkit_sqlx::sqlx::query("INSERT INTO authkit_schema_migrations VALUES (?1, ?2, 0)")
                .bind(v)
                .bind(description)
                .execute(store.pool())
                .await
                .unwrap();
        }
        (db, store)
    }

    /// Inserts the user `id` with the address `email`, as a test of an old schema needs one.
    #[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
    async fn insert_user(store: &SqliteStore, id: UserId, email: &str) {
        authkit_sqlx::sqlx::query(
            "INSERT INTO authkit_users (id, email, password_hash, created_at, updated_at) \
             VALUES (?1, ?2, 'h', 0, 0)",
        )
        .bind(id.to_string())
        .bind(email)
        .execute(store.pool())
        .await
        .unwrap();
    }

    authkit_testkit::store_suite!(async { TestDb::new(Backend::Sqlite).await });

    authkit_testkit::rate_limit_suite!(async { super::RateLimitDb::new(Backend::Sqlite).await });

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_user_audited_is_one_transaction() {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        super::create_user_audited_is_one_transaction(db.store()).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_stats_follow_the_pool() {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let store = db.sqlite().unwrap().clone();
        // A store from `connect` writes through a one-connection pool of its own.
        super::check_pool_stats(store.pool(), 1, &store).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn migrations_are_idempotent_and_concurrent_safe() {
        let db = TestDb::empty(Backend::Sqlite).await.unwrap();
        let store = db.sqlite().unwrap().clone();
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.migrate().await })
            })
            .collect();
        for run in runs {
            run.await.unwrap().expect("concurrent migrate");
        }
        store.migrate().await.expect("migrate again");
        let rows = authkit_sqlx::sqlx::query(
            "SELECT version, description FROM authkit_schema_migrations ORDER BY version",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let ledger: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(
            ledger,
            [
                (1, "init".to_owned()),
                (2, "rbac".to_owned()),
                (3, "outbox".to_owned()),
                (4, "limits".to_owned()),
                (5, "refresh_spent_trigger".to_owned()),
                (6, "spent_tokens_without_session_index".to_owned()),
                (7, "spent_tokens_without_session_key".to_owned()),
                (8, "refresh_selector".to_owned()),
                (9, "spent_hashes_without_selector".to_owned())
            ]
        );
        let sqlx_table: Option<String> = authkit_sqlx::sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE name = '_sqlx_migrations'",
        )
        .fetch_optional(store.pool())
        .await
        .unwrap();
        assert_eq!(sqlx_table, None, "sqlx's own ledger is never used");
        db.cleanup().await;
    }

    /// A database at version 1 with data upgrades to version 2: existing sessions get
    /// `authz_version` 0 and keep working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn upgrade_from_version_1_keeps_sessions() {
        use authkit_core::domain::{NewSession, SessionId, TokenHash};
        use authkit_core::ports::SessionStore;

        let (db, store) = at_version(1).await;
        let now = datetime!(2030-01-02 03:04:05 UTC);
        let id = UserId::new_v7(now);
        let sid = SessionId::new_v7(now);
        insert_user(&store, id, "old@example.com").await;
        authkit_sqlx::sqlx::query(
            "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) VALUES (?1, ?2, x'00', 0, 0, 1, 1)",
        )
        .bind(sid.to_string())
        .bind(id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
        store.migrate().await.expect("upgrade to version 2");
        let old = store.session(sid).await.unwrap().expect("kept");
        assert_eq!(old.authz_version, 0);
        let new = store
            .create_session(&NewSession {
                id: SessionId::new_v7(now),
                user_id: id,
                refresh_hash: TokenHash::of("new"),
                refresh_selector: None,
                now,
                expires_at: now + time::Duration::days(1),
                idle_expires_at: now + time::Duration::days(1),
                remember_me: false,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap();
        assert_eq!(new.authz_version, 0);
        db.cleanup().await;
    }

    /// A database at version 4 holding a session and a spent hash upgrades to version 9 (5: the
    /// trigger that records a replaced refresh hash as spent; 6: no index of spent hashes by
    /// session; 7: no foreign key from them to their session; 8: sessions found by the
    /// selector of their tokens; 9: spent hashes recorded for sessions without one only): the
    /// spent hash is kept, the session, which has no selector, rotates by hash (and not with a
    /// selector), and the hash it rotated away is then spent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn upgrade_from_version_4_rotates_sessions() {
        use authkit_core::domain::{
            RefreshRotation, RefreshSelector, RotateOutcome, SessionId, TokenHash,
        };
        use authkit_core::ports::SessionStore;

        let (db, store) = at_version(4).await;
        let now = datetime!(2030-01-02 03:04:05 UTC);
        let micros = |t: time::OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000);
        let id = UserId::new_v7(now);
        let sid = SessionId::new_v7(now);
        let old = TokenHash::of("old");
        insert_user(&store, id, "v4@example.com").await;
        authkit_sqlx::sqlx::query(
            "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?5)",
        )
        .bind(sid.to_string())
        .bind(id.to_string())
        .bind(&old.as_bytes()[..])
        .bind(micros(now).unwrap())
        .bind(micros(now + time::Duration::days(1)).unwrap())
        .execute(store.pool())
        .await
        .unwrap();
        let older = TokenHash::of("older");
        authkit_sqlx::sqlx::query(
            "INSERT INTO authkit_spent_refresh_tokens (hash, session_id) VALUES (?1, ?2)",
        )
        .bind(&older.as_bytes()[..])
        .bind(sid.to_string())
        .execute(store.pool())
        .await
        .unwrap();
        store.migrate().await.expect("upgrade to version 9");
        let foreign_keys: i64 = authkit_sqlx::sqlx::query_scalar(
            "SELECT count(*) FROM pragma_foreign_key_list('authkit_spent_refresh_tokens')",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(foreign_keys, 0, "version 7 drops the foreign key");
        let indexes: Vec<String> = authkit_sqlx::sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' \
             AND tbl_name = 'authkit_spent_refresh_tokens' ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            indexes,
            ["sqlite_autoindex_authkit_spent_refresh_tokens_1"],
            "version 6 leaves spent hashes with their primary key only"
        );
        let indexes: Vec<(String, i64)> = authkit_sqlx::sqlx::query_as(
            "SELECT name, partial FROM pragma_index_list('authkit_sessions') ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            indexes,
            [
                ("authkit_sessions_refresh_hash_key".to_owned(), 1),
                ("authkit_sessions_user_idx".to_owned(), 0),
                ("sqlite_autoindex_authkit_sessions_1".to_owned(), 0),
                ("sqlite_autoindex_authkit_sessions_2".to_owned(), 0),
            ],
            "version 8: the hash is indexed for sessions without selector only"
        );
        let rotation = |presented: TokenHash, next: &str| RefreshRotation {
            selector: None,
            presented,
            next: TokenHash::of(next),
            now: now + time::Duration::hours(1),
            idle_expires_at: now + time::Duration::hours(2),
        };
        let with_selector = RefreshRotation {
            selector: Some(RefreshSelector([7; 16])),
            ..rotation(old, "stray")
        };
        assert_eq!(
            store.rotate_refresh(&with_selector).await.unwrap(),
            RotateOutcome::Invalid,
            "a session without selector is not found with one"
        );
        match store.rotate_refresh(&rotation(old, "new")).await.unwrap() {
            RotateOutcome::Rotated(s) => assert_eq!(s.id, sid),
            other => panic!("expected Rotated, got {other:?}"),
        }
        assert_eq!(
            store.rotate_refresh(&rotation(old, "again")).await.unwrap(),
            RotateOutcome::Reused {
                session_id: sid,
                user_id: id
            },
            "the rotated-away hash is spent"
        );
        assert_eq!(
            store
                .rotate_refresh(&rotation(older, "unused"))
                .await
                .unwrap(),
            RotateOutcome::Reused {
                session_id: sid,
                user_id: id
            },
            "a hash spent before the upgrade is still spent"
        );
        db.cleanup().await;
    }

    /// A database at version 8, where a session with a selector and one without have each
    /// rotated once (so each has a spent hash), upgrades to version 9: from then on only the
    /// session without a selector records the hashes it rotates away, and every earlier token of
    /// the session with a selector is reuse all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn upgrade_from_version_8_records_spent_hashes_without_selector_only() {
        use authkit_core::domain::{
            RefreshRotation, RefreshSelector, RotateOutcome, SessionId, TokenHash,
        };
        use authkit_core::ports::SessionStore;

        let (db, store) = at_version(8).await;
        let now = datetime!(2030-01-02 03:04:05 UTC);
        let micros = |t: time::OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000);
        let id = UserId::new_v7(now);
        let (with, without) = (SessionId::new_v7(now), SessionId::new_v7(now));
        let selector = RefreshSelector([5; 16]);
        insert_user(&store, id, "v8@example.com").await;
        for (session, hash, selector) in [(with, "s0", Some(selector)), (without, "l0", None)] {
            authkit_sqlx::sqlx::query(
                "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, \
                 last_used_at, expires_at, idle_expires_at, refresh_selector) \
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?5, ?6)",
            )
            .bind(session.to_string())
            .bind(id.to_string())
            .bind(&TokenHash::of(hash).as_bytes()[..])
            .bind(micros(now).unwrap())
            .bind(micros(now + time::Duration::days(1)).unwrap())
            .bind(selector.as_ref().map(|s| &s.as_bytes()[..]))
            .execute(store.pool())
            .await
            .unwrap();
        }
        let rotation = |selector, presented: &str, next: &str| RefreshRotation {
            selector,
            presented: TokenHash::of(presented),
            next: TokenHash::of(next),
            now: now + time::Duration::hours(1),
            idle_expires_at: now + time::Duration::hours(2),
        };
        let spent = async || {
            let mut rows: Vec<(String, i64)> = authkit_sqlx::sqlx::query_as(
                "SELECT session_id, count(*) FROM authkit_spent_refresh_tokens \
                 GROUP BY session_id",
            )
            .fetch_all(store.pool())
            .await
            .unwrap();
            rows.sort();
            rows
        };
        let mut one_each = vec![(with.to_string(), 1), (without.to_string(), 1)];
        one_each.sort();
        for r in [
            rotation(Some(selector), "s0", "s1"),
            rotation(None, "l0", "l1"),
        ] {
            let outcome = store.rotate_refresh(&r).await.unwrap();
            assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
        }
        assert_eq!(spent().await, one_each, "version 8 records both");
        store.migrate().await.expect("upgrade to version 9");
        for r in [
            rotation(Some(selector), "s1", "s2"),
            rotation(None, "l1", "l2"),
        ] {
            let outcome = store.rotate_refresh(&r).await.unwrap();
            assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
        }
        let mut after = vec![(with.to_string(), 1), (without.to_string(), 2)];
        after.sort();
        assert_eq!(
            spent().await,
            after,
            "version 9: only the session without selector records its rotated-away hash"
        );
        for (presented, what) in [
            ("s1", "rotated away after the upgrade"),
            ("s0", "before it"),
        ] {
            assert_eq!(
                store
                    .rotate_refresh(&rotation(Some(selector), presented, "x"))
                    .await
                    .unwrap(),
                RotateOutcome::Reused {
                    session_id: with,
                    user_id: id
                },
                "a hash {what}"
            );
        }
        assert_eq!(
            store
                .rotate_refresh(&rotation(None, "l1", "x"))
                .await
                .unwrap(),
            RotateOutcome::Reused {
                session_id: without,
                user_id: id
            },
            "the hash the session without selector rotated away"
        );
        db.cleanup().await;
    }

    /// A purge deletes ended sessions and their spent hashes, more of each than one statement
    /// of it takes (500 sessions, 1 000 spent hashes), sweeps a spent hash whose session was
    /// deleted by hand, and keeps a live session with its spent hashes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn purge_sessions_deletes_spent_hashes_in_slices() {
        use authkit_core::ports::SessionStore;

        let (db, store) = seeded(&[
            // 1 200 sessions that expired long ago, 6 000 spent hashes of theirs.
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) \
             INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) \
             SELECT printf('ended-%d', i), ?1, randomblob(32), 0, 0, 1, 1 FROM n",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) \
             INSERT INTO authkit_spent_refresh_tokens (hash, session_id) \
             SELECT randomblob(32), printf('ended-%d', 1 + i % 1200) FROM n",
            // A live session (until 2100) with 3 spent hashes, and a hash of no session.
            "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) \
             VALUES ('live', ?1, randomblob(32), 0, 0, 4102444800000000, 4102444800000000)",
            "INSERT INTO authkit_spent_refresh_tokens (hash, session_id) VALUES \
             (randomblob(32), 'live'), (randomblob(32), 'live'), (randomblob(32), 'live'), \
             (randomblob(32), 'gone')",
        ])
        .await;
        assert_eq!(store.purge_sessions(PURGE_AT).await.unwrap(), 1200);
        let spent: Vec<(String, i64)> = authkit_sqlx::sqlx::query_as(
            "SELECT session_id, count(*) FROM authkit_spent_refresh_tokens GROUP BY session_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(spent, [("live".to_owned(), 3)]);
        let sessions: Vec<String> =
            authkit_sqlx::sqlx::query_scalar("SELECT id FROM authkit_sessions")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(sessions, ["live"]);
        db.cleanup().await;
    }

    /// A purge of one-time tokens deletes more expired ones than one statement of it takes
    /// (1 200, used or not, against 500), and keeps one that has not expired.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn purge_tokens_deletes_in_slices() {
        use authkit_core::ports::OneTimeTokenStore;

        let (db, store) = seeded(&[
            // 1 200 tokens that expired long ago, every other one used.
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) \
             INSERT INTO authkit_one_time_tokens (hash, purpose, user_id, email, created_at, \
             expires_at, used_at) \
             SELECT randomblob(32), 'password_reset', ?1, 'purge@example.com', 0, 2, \
             CASE WHEN i % 2 = 0 THEN 1 END FROM n",
            // One that expires in 2100.
            "INSERT INTO authkit_one_time_tokens (hash, purpose, user_id, email, created_at, \
             expires_at) VALUES (X'01', 'verify_email', ?1, 'purge@example.com', 0, \
             4102444800000000)",
        ])
        .await;
        assert_eq!(store.purge_tokens(PURGE_AT).await.unwrap(), 1200);
        let left: Vec<Vec<u8>> =
            authkit_sqlx::sqlx::query_scalar("SELECT hash FROM authkit_one_time_tokens")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(left, [vec![1_u8]]);
        db.cleanup().await;
    }

    /// A purge of the audit log deletes more old events than one statement of it takes (1 200
    /// against 500), found on their UUIDv7 ids, and keeps one of 2100.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn purge_audit_deletes_in_slices() {
        use authkit_core::ports::AuditStore;

        let (db, store) = seeded(&[
            // 1 200 events in 1970, at i ms, with the UUIDv7 id of that millisecond.
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) \
             INSERT INTO authkit_audit_events (id, at, event, user_id) \
             SELECT printf('%08x-%04x-7000-8000-%012x', i >> 16, i & 65535, i), i * 1000, \
             'login_ok', ?1 FROM n",
            // One on 2100-01-01 (4 102 444 800 000 ms).
            "INSERT INTO authkit_audit_events (id, at, event, user_id) VALUES \
             (printf('%08x-%04x-7000-8000-000000000001', 4102444800000 >> 16, \
             4102444800000 & 65535), 4102444800000000, 'logout', ?1)",
        ])
        .await;
        assert_eq!(store.purge_audit(PURGE_AT).await.unwrap(), 1200);
        let left: Vec<String> =
            authkit_sqlx::sqlx::query_scalar("SELECT event FROM authkit_audit_events")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(left, ["logout"]);
        db.cleanup().await;
    }

    /// UUIDs as text, timestamps as integer microseconds, pragmas as documented.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn representation_and_pragmas() {
        let db = TestDb::new(Backend::Sqlite).await.unwrap();
        let store = db.sqlite().unwrap().clone();
        let now = datetime!(2030-01-02 03:04:05.123456 UTC);
        let id = UserId::new_v7(now);
        store
            .create_user(
                &NewUser {
                    id,
                    email: Email::parse("repr@example.com").unwrap(),
                    display_name: None,
                    locale: None,
                    password_hash: PasswordHash::new("$argon2id$x"),
                    roles: vec!["user".to_owned()],
                    now,
                },
                &QueuedMail::none(),
            )
            .await
            .unwrap();
        let row = authkit_sqlx::sqlx::query(
            "SELECT typeof(id), id, typeof(created_at), created_at FROM authkit_users",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>(0), "text");
        assert_eq!(row.get::<String, _>(1), id.to_string());
        assert_eq!(row.get::<String, _>(2), "integer");
        assert_eq!(
            i128::from(row.get::<i64, _>(3)),
            now.unix_timestamp_nanos() / 1_000
        );
        let mut conn = store.pool().acquire().await.unwrap();
        let journal: String = authkit_sqlx::sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let fks: i64 = authkit_sqlx::sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(fks, 1);
        let sync: i64 = authkit_sqlx::sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(sync, 1, "synchronous = NORMAL");
        let cache: i64 = authkit_sqlx::sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(cache, -8192, "reading connections cache 8 MiB of pages");
        drop(conn);
        db.cleanup().await;
    }

    /// `sqlite::memory:` gets one connection (several would each see their own database).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn in_memory_url_uses_one_connection() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        assert_eq!(store.pool().options().get_max_connections(), 1);
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        let now = datetime!(2030-01-02 03:04:05 UTC);
        let email = Email::parse("mem@example.com").unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let new = NewUser {
                    id: UserId::new_v7(now),
                    email: email.clone(),
                    display_name: None,
                    locale: None,
                    password_hash: PasswordHash::new("$argon2id$x"),
                    roles: vec!["user".to_owned()],
                    now,
                };
                tokio::spawn(
                    async move { store.create_user(&new, &QueuedMail::none()).await.is_ok() },
                )
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 1, "one database behind every call");
    }
}

mod postgres {
    use std::time::{Duration, Instant};

    use authkit_core::ports::{StoreError, StoreHealth};
    use authkit_sqlx::PostgresStore;
    use authkit_sqlx::sqlx::Row;
    use authkit_sqlx::sqlx::postgres::PgPoolOptions;
    use authkit_tests::db::{Backend, TestDb};

    /// The time the purge tests purge at: long after every row they make as ended.
    const PURGE_AT: time::OffsetDateTime = time::macros::datetime!(2030-01-02 03:04:05 UTC);

    /// A fresh PostgreSQL database (`None` when none is configured) with one user
    /// (`purge@example.com`), after running each of `sqls` on it with that user's id bound as
    /// `$1`.
    #[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
    async fn seeded(sqls: &[&'static str]) -> Option<(TestDb, PostgresStore)> {
        let db = TestDb::new(Backend::Postgres).await?;
        let store = db.postgres().unwrap().clone();
        let user = uuid::Uuid::now_v7();
        let insert_user = "INSERT INTO authkit_users \
                           (id, email, password_hash, created_at, updated_at) \
                           VALUES ($1, 'purge@example.com', 'h', now(), now())";
        for &sql in std::iter::once(&insert_user).chain(sqls) {
            authkit_sqlx::sqlx::query(sql)
                .bind(user)
                .execute(store.pool())
                .await
                .unwrap();
        }
        Some((db, store))
    }

    authkit_testkit::store_suite!(async { TestDb::new(Backend::Postgres).await });

    authkit_testkit::rate_limit_suite!(async { super::RateLimitDb::new(Backend::Postgres).await });

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_user_audited_is_one_transaction() {
        let Some(db) = TestDb::new(Backend::Postgres).await else {
            return;
        };
        super::create_user_audited_is_one_transaction(db.store()).await;
        db.cleanup().await;
    }

    /// A purge deletes ended sessions, more than one statement of it takes (1 200), and their
    /// spent hashes with them (`ON DELETE CASCADE`), and keeps a live session with its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_sessions_deletes_spent_hashes() {
        use authkit_core::ports::SessionStore;

        let Some((db, store)) = seeded(&[
            "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) \
             SELECT md5('ended' || i)::uuid, $1, sha256(('r' || i)::bytea), \
             'epoch', 'epoch', 'epoch', 'epoch' FROM generate_series(1, 1200) i",
            "INSERT INTO authkit_spent_refresh_tokens (hash, session_id) \
             SELECT sha256(('s' || i)::bytea), md5('ended' || (1 + i % 1200))::uuid \
             FROM generate_series(1, 6000) i",
            "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) \
             VALUES (md5('live')::uuid, $1, sha256('live'::bytea), now(), now(), \
             '2100-01-01', '2100-01-01')",
            "INSERT INTO authkit_spent_refresh_tokens (hash, session_id) \
             SELECT sha256(('live' || i)::bytea), md5('live')::uuid FROM generate_series(1, 3) i",
        ])
        .await
        else {
            return;
        };
        assert_eq!(store.purge_sessions(PURGE_AT).await.unwrap(), 1200);
        let spent: Vec<(uuid::Uuid, i64)> = authkit_sqlx::sqlx::query_as(
            "SELECT session_id, count(*) FROM authkit_spent_refresh_tokens GROUP BY session_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let live: uuid::Uuid = authkit_sqlx::sqlx::query_scalar("SELECT md5('live')::uuid")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(spent, [(live, 3)]);
        let sessions: i64 =
            authkit_sqlx::sqlx::query_scalar("SELECT count(*) FROM authkit_sessions")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(sessions, 1);
        db.cleanup().await;
    }

    /// A refresh whose rotation waits behind a role change (which raises the session's
    /// authorization version, holding its row lock, before it commits) returns the owner's
    /// permissions after that change, never the new version with the old permissions: a token
    /// minted from such a pair would keep a revoked permission until it expires.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotation_behind_a_role_change_returns_the_new_permissions() {
        use authkit_core::domain::{
            Email, NewSession, NewUser, PasswordHash, QueuedMail, RefreshRotation, RefreshSelector,
            RotateOutcome, SessionId, TokenHash, UserId,
        };
        use authkit_core::ports::{SessionStore, UserStore};

        let Some(db) = TestDb::new(Backend::Postgres).await else {
            return;
        };
        let store = db.postgres().unwrap().clone();
        let user = store
            .create_user(
                &NewUser {
                    id: UserId::new_v7(PURGE_AT),
                    email: Email::parse("demoted@example.com").unwrap(),
                    display_name: None,
                    locale: None,
                    password_hash: PasswordHash::new("h".to_owned()),
                    roles: vec!["user".to_owned(), "admin".to_owned()],
                    now: PURGE_AT,
                },
                &QueuedMail::none(),
            )
            .await
            .unwrap();
        let selector = RefreshSelector([9; 16]);
        let first = TokenHash::of("first");
        store
            .create_session(&NewSession {
                id: SessionId::new_v7(PURGE_AT),
                user_id: user.id,
                refresh_hash: first,
                refresh_selector: Some(selector),
                now: PURGE_AT,
                expires_at: PURGE_AT + time::Duration::days(30),
                idle_expires_at: PURGE_AT + time::Duration::days(14),
                remember_me: false,
                ip: None,
                user_agent: None,
            })
            .await
            .unwrap();

        // The role change, left open: the grant gone and the session's version raised.
        let mut change = store.pool().begin().await.unwrap();
        authkit_sqlx::sqlx::query(
            "DELETE FROM authkit_user_roles WHERE user_id = $1 AND role_name = 'admin'",
        )
        .bind(user.id.as_uuid())
        .execute(&mut *change)
        .await
        .unwrap();
        authkit_sqlx::sqlx::query(
            "UPDATE authkit_sessions SET authz_version = authz_version + 1 WHERE user_id = $1",
        )
        .bind(user.id.as_uuid())
        .execute(&mut *change)
        .await
        .unwrap();

        let rotating = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .rotate_refresh_with_owner(&RefreshRotation {
                        selector: Some(selector),
                        presented: first,
                        next: TokenHash::of("next"),
                        now: PURGE_AT,
                        idle_expires_at: PURGE_AT + time::Duration::days(14),
                    })
                    .await
            }
        });
        // Until the rotation waits for the session's row lock.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = authkit_sqlx::sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(
                !rotating.is_finished(),
                "the rotation did not wait for the lock"
            );
            assert!(Instant::now() < deadline, "no rotation waits for the lock");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        change.commit().await.unwrap();

        let (outcome, owner) = rotating.await.unwrap().unwrap();
        let RotateOutcome::Rotated(session) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(session.authz_version, 1, "the rotation saw the change");
        let owner = owner.unwrap();
        assert_eq!(owner.user.roles, ["user"]);
        assert!(
            !owner.permissions.iter().any(|p| p == "users:write"),
            "{:?}",
            owner.permissions
        );
        db.cleanup().await;
    }

    /// A purge of one-time tokens deletes more expired ones than one statement of it takes
    /// (1 200, used or not, against 1 000), and keeps one that has not expired.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_tokens_deletes_in_slices() {
        use authkit_core::ports::OneTimeTokenStore;

        let Some((db, store)) = seeded(&[
            "INSERT INTO authkit_one_time_tokens (hash, purpose, user_id, email, created_at, \
             expires_at, used_at) \
             SELECT sha256(('t' || i)::bytea), 'password_reset', $1, 'purge@example.com', \
             'epoch', 'epoch', CASE WHEN i % 2 = 0 THEN 'epoch'::timestamptz END \
             FROM generate_series(1, 1200) i",
            "INSERT INTO authkit_one_time_tokens (hash, purpose, user_id, email, created_at, \
             expires_at) VALUES ('\\x01', 'verify_email', $1, 'purge@example.com', now(), \
             '2100-01-01')",
        ])
        .await
        else {
            return;
        };
        assert_eq!(store.purge_tokens(PURGE_AT).await.unwrap(), 1200);
        let left: Vec<Vec<u8>> =
            authkit_sqlx::sqlx::query_scalar("SELECT hash FROM authkit_one_time_tokens")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(left, [vec![1_u8]]);
        db.cleanup().await;
    }

    /// A purge of the audit log deletes more old events than one statement of it takes (1 200
    /// against 1 000), found on their UUIDv7 ids, and keeps one of 2100.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_audit_deletes_in_slices() {
        use authkit_core::ports::AuditStore;

        let Some((db, store)) = seeded(&[
            // 1 200 events in 1970, at i ms, with the UUIDv7 id of that millisecond.
            "INSERT INTO authkit_audit_events (id, at, event, user_id) \
             SELECT (lpad(to_hex(i), 12, '0') || '70008000' || lpad(to_hex(i), 12, '0'))::uuid, \
             timestamptz 'epoch' + i * interval '1 millisecond', 'login_ok', $1 \
             FROM generate_series(1, 1200) i",
            // One on 2100-01-01 (4 102 444 800 000 ms).
            "INSERT INTO authkit_audit_events (id, at, event, user_id) VALUES \
             ((lpad(to_hex(4102444800000), 12, '0') || '70008000000000000001')::uuid, \
             '2100-01-01T00:00:00Z', 'logout', $1)",
        ])
        .await
        else {
            return;
        };
        assert_eq!(store.purge_audit(PURGE_AT).await.unwrap(), 1200);
        let left: Vec<String> =
            authkit_sqlx::sqlx::query_scalar("SELECT event FROM authkit_audit_events")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(left, ["logout"]);
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_stats_follow_the_pool() {
        let Some(db) = TestDb::new(Backend::Postgres).await else {
            return;
        };
        let store = db.postgres().unwrap().clone();
        super::check_pool_stats(store.pool(), 0, &store).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn migrations_are_idempotent_and_concurrent_safe() {
        let Some(db) = TestDb::empty(Backend::Postgres).await else {
            return;
        };
        let store = db.postgres().unwrap().clone();
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.migrate().await })
            })
            .collect();
        for run in runs {
            run.await.unwrap().expect("concurrent migrate");
        }
        store.migrate().await.expect("migrate again");
        let rows = authkit_sqlx::sqlx::query(
            "SELECT version, description FROM authkit_schema_migrations ORDER BY version",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let ledger: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(
            ledger,
            [
                (1, "init".to_owned()),
                (2, "rbac".to_owned()),
                (3, "outbox".to_owned()),
                (4, "limits".to_owned()),
                (5, "refresh_selector".to_owned()),
                (6, "refresh_heap_only".to_owned())
            ]
        );
        let sqlx_table: Option<String> =
            authkit_sqlx::sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(sqlx_table, None, "sqlx's own ledger is never used");
        db.cleanup().await;
    }

    /// A rotation (new hash, times), with the selector `selector`.
    fn rotation(
        selector: Option<authkit_core::domain::RefreshSelector>,
        presented: &str,
        next: &str,
        now: time::OffsetDateTime,
    ) -> authkit_core::domain::RefreshRotation {
        authkit_core::domain::RefreshRotation {
            selector,
            presented: authkit_core::domain::TokenHash::of(presented),
            next: authkit_core::domain::TokenHash::of(next),
            now,
            idle_expires_at: now + time::Duration::hours(2),
        }
    }

    /// The updates and the heap-only updates of `authkit_sessions` in the statistics, once
    /// they count `want` updates (or after 10 s): the pool's one connection flushes its counts
    /// when it goes idle after `pg_stat_force_next_flush()`.
    #[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
    async fn updates_of_sessions(pool: &authkit_sqlx::sqlx::PgPool, want: i64) -> (i64, i64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            authkit_sqlx::sqlx::query("SELECT pg_stat_force_next_flush()")
                .execute(pool)
                .await
                .unwrap();
            let counts: (i64, i64) = authkit_sqlx::sqlx::query_as(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables \
                 WHERE relname = 'authkit_sessions'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if counts.0 >= want || Instant::now() > deadline {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Migration 6: the rotation of a session with a selector changes no indexed column, so
    /// PostgreSQL writes every one of them as a heap-only tuple (no new index entry), while
    /// that of a session without selector, whose indexed `legacy_hash` changes, is not. Read
    /// from the table's statistics, on a pool of one connection so that the backend that
    /// rotated is the one asked to flush its counts. Nor does the rotation of a session with a
    /// selector record the hash it replaced; that of the session without one does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotation_with_selector_is_heap_only() {
        use authkit_core::domain::{
            NewSession, RefreshSelector, RotateOutcome, SessionId, TokenHash,
        };
        use authkit_core::ports::SessionStore;

        let Some((db, _)) = seeded(&[]).await else {
            return;
        };
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(db.postgres_options().unwrap())
            .await
            .unwrap();
        let store = PostgresStore::from_pool(pool.clone());
        let user: uuid::Uuid = authkit_sqlx::sqlx::query_scalar("SELECT id FROM authkit_users")
            .fetch_one(&pool)
            .await
            .unwrap();
        let now = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let session = |token: &str, selector: Option<RefreshSelector>| NewSession {
            id: SessionId::new_v7(now),
            user_id: authkit_core::domain::UserId(user),
            refresh_hash: TokenHash::of(token),
            refresh_selector: selector,
            now,
            expires_at: now + time::Duration::days(1),
            idle_expires_at: now + time::Duration::days(1),
            remember_me: false,
            ip: None,
            user_agent: None,
        };
        let selector = RefreshSelector([9; 16]);
        store
            .create_session(&session("s0", Some(selector)))
            .await
            .unwrap();
        store.create_session(&session("l0", None)).await.unwrap();
        for i in 0..10 {
            let (presented, next) = (format!("s{i}"), format!("s{}", i + 1));
            let outcome = store
                .rotate_refresh(&rotation(Some(selector), &presented, &next, now))
                .await
                .unwrap();
            assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
        }
        assert_eq!(
            updates_of_sessions(&pool, 10).await,
            (10, 10),
            "(updates, heap-only updates) of the sessions"
        );
        let outcome = store
            .rotate_refresh(&rotation(None, "l0", "l1", now))
            .await
            .unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
        assert_eq!(
            updates_of_sessions(&pool, 11).await,
            (11, 10),
            "the rotation without selector is not heap-only"
        );
        let spent: Vec<Vec<u8>> =
            authkit_sqlx::sqlx::query_scalar("SELECT hash FROM authkit_spent_refresh_tokens")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            spent,
            [TokenHash::of("l0").as_bytes().to_vec()],
            "only the session without selector records a spent hash"
        );
        pool.close().await;
        db.cleanup().await;
    }

    /// A database at version 5 holding a session without selector upgrades to version 6
    /// (`legacy_hash`, computed): the session rotates by hash, its new hash is found the same
    /// way, and the hash it rotated away first is spent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgrade_from_version_5_rotates_sessions_without_selector() {
        use authkit_core::domain::RotateOutcome;
        use authkit_core::ports::SessionStore;

        let Some(db) = TestDb::empty(Backend::Postgres).await else {
            return;
        };
        let store = db.postgres().unwrap().clone();
        for sql in [
            include_str!("../../authkit-sqlx/migrations/postgres/0001_init.sql"),
            include_str!("../../authkit-sqlx/migrations/postgres/0002_rbac.sql"),
            include_str!("../../authkit-sqlx/migrations/postgres/0003_outbox.sql"),
            include_str!("../../authkit-sqlx/migrations/postgres/0004_limits.sql"),
            include_str!("../../authkit-sqlx/migrations/postgres/0005_refresh_selector.sql"),
            "CREATE TABLE authkit_schema_migrations (version bigint NOT NULL, \
             description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), \
             CONSTRAINT authkit_schema_migrations_pkey PRIMARY KEY (version)); \
             INSERT INTO authkit_schema_migrations (version, description) VALUES \
             (1, 'init'), (2, 'rbac'), (3, 'outbox'), (4, 'limits'), (5, 'refresh_selector');",
        ] {
            authkit_sqlx::sqlx::raw_sql(sql)
                .execute(store.pool())
                .await
                .unwrap();
        }
        let now = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let user = uuid::Uuid::now_v7();
        let session = uuid::Uuid::now_v7();
        authkit_sqlx::sqlx::query(
            "INSERT INTO authkit_users (id, email, password_hash, created_at, updated_at) \
             VALUES ($1, 'v5@example.com', 'h', now(), now())",
        )
        .bind(user)
        .execute(store.pool())
        .await
        .unwrap();
        authkit_sqlx::sqlx::query(
            "INSERT INTO authkit_sessions (id, user_id, refresh_hash, created_at, last_used_at, \
             expires_at, idle_expires_at) VALUES ($1, $2, $3, $4, $4, $5, $5)",
        )
        .bind(session)
        .bind(user)
        .bind(&authkit_core::domain::TokenHash::of("old").as_bytes()[..])
        .bind(now)
        .bind(now + time::Duration::days(1))
        .execute(store.pool())
        .await
        .unwrap();
        store.migrate().await.expect("upgrade to version 6");
        let indexes: Vec<String> = authkit_sqlx::sqlx::query_scalar(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'authkit_sessions' \
             AND indexdef LIKE '%refresh_hash%'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(indexes, Vec::<String>::new(), "no index names refresh_hash");
        match store
            .rotate_refresh(&rotation(None, "old", "new", now))
            .await
            .unwrap()
        {
            RotateOutcome::Rotated(s) => assert_eq!(s.id.as_uuid(), session),
            other => panic!("expected Rotated, got {other:?}"),
        }
        assert!(
            matches!(
                store
                    .rotate_refresh(&rotation(None, "new", "newer", now))
                    .await
                    .unwrap(),
                RotateOutcome::Rotated(_)
            ),
            "the new hash is found by its legacy_hash"
        );
        assert!(
            matches!(
                store
                    .rotate_refresh(&rotation(None, "old", "again", now))
                    .await
                    .unwrap(),
                RotateOutcome::Reused { .. }
            ),
            "the rotated-away hash is spent"
        );
        db.cleanup().await;
    }

    /// A server that does not answer is `Unavailable` within the acquire timeout, not a hang
    /// or a 500. (Needs no running server.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn unreachable_server_is_unavailable() {
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy("postgres://authkit:authkit@127.0.0.1:9/authkit")
            .unwrap();
        let store = PostgresStore::from_pool(pool);
        let started = Instant::now();
        let result = store.ping().await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "got {result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
