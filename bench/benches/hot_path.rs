//! The in-process hot path of an authenticated request, for HS256 and EdDSA (DESIGN.md,
//! "Performance targets": token verification + session check + permission check ≤ 10 µs with
//! HS256, ≤ 60 µs with EdDSA).
//!
//! Groups and ids (scripts read `target/criterion/<group>/<id>/new/estimates.json`):
//! - `verify/{hs256,eddsa}`: `TokenCodec::verify` alone, on a real access token.
//! - `authenticate_memory/{hs256,eddsa}`: `AuthKit::authenticate_token` + `Principal::require`
//!   with the in-memory store.
//! - `authenticate_sqlite/{hs256,eddsa}`: the same on a SQLite file (migrated) in a temp dir.
//! - `permission/require`: `Principal::require` alone.
//!
//! Every group reads the session from its store (the kit's session cache is off): the figures
//! are those of a request whose session is not remembered.
//!
//! The user is made with `bootstrap_admin` (roles `user` and `admin`: the plain `user` role
//! holds no permission) and logged in once; the permission checked is `users:read`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark binary: a failed set-up should stop it loudly"
)]

use std::hint::black_box;
use std::time::Duration;

use authkit_core::domain::{Email, Password, StoredSigningKey};
use authkit_core::jwt::{JwtKeys, TokenCodec};
use authkit_core::ports::{Clock, Store, SystemClock};
use authkit_core::service::{LoginInput, RequestContext};
use authkit_core::testing::{MemoryMailer, MemoryStore, fast_hasher};
use authkit_core::{AuthConfig, AuthKit, Principal};
use authkit_sqlx::SqliteStore;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretBox;
use tokio::runtime::Runtime;

/// The permission checked: held by `admin`.
const PERMISSION: &str = "users:read";
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// The two signing algorithms, each able to build its key set again (for the bench's own
/// `TokenCodec`: `JwtKeys` is not `Clone`).
#[derive(Clone)]
enum Alg {
    Hs256,
    EdDsa(StoredSigningKey),
}

impl Alg {
    fn both() -> [(&'static str, Self); 2] {
        let key = JwtKeys::generate_ed25519(SystemClock.now()).unwrap();
        [("hs256", Self::Hs256), ("eddsa", Self::EdDsa(key))]
    }

    fn keys(&self) -> JwtKeys {
        match self {
            Self::Hs256 => JwtKeys::hs256(&SecretBox::new(Box::from(&[42u8; 32][..]))).unwrap(),
            Self::EdDsa(key) => JwtKeys::ed25519(std::slice::from_ref(key)).unwrap(),
        }
    }
}

/// A kit like the crate example's (fast hasher: hashing is not measured), with one logged-in
/// user holding `PERMISSION`, and its access token.
struct Fixture {
    kit: AuthKit,
    token: String,
}

async fn fixture(alg: &Alg, store: impl Store) -> Fixture {
    // The session is read from the store on every iteration: the in-process session cache
    // (`session_cache_ttl`) is off, so that the figures are those of a cache miss.
    let config = AuthConfig {
        session_cache_ttl: Duration::ZERO,
        ..AuthConfig::default()
    };
    let kit = AuthKit::builder(config)
        .store(store)
        .mailer(MemoryMailer::new())
        .hasher(fast_hasher())
        .keys(alg.keys())
        .build()
        .unwrap();
    let email = Email::parse(EMAIL).unwrap();
    let password = Password::new(PASSWORD);
    kit.bootstrap_admin(email.clone(), Some(&password))
        .await
        .unwrap();
    let pair = kit
        .login(
            &RequestContext::default(),
            LoginInput {
                email,
                password,
                remember_me: false,
            },
        )
        .await
        .unwrap();
    let token = pair.access_token;
    let principal = kit.authenticate_token(&token).await.unwrap();
    assert!(principal.has(PERMISSION), "the user holds {PERMISSION}");
    principal.require(PERMISSION).unwrap();
    Fixture { kit, token }
}

/// The measured request: verify the token, check the session, check the permission.
async fn authenticate(kit: &AuthKit, token: &str) -> Principal {
    let principal = kit.authenticate_token(token).await.unwrap();
    principal.require(PERMISSION).unwrap();
    principal
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn verify(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("verify");
    for (id, alg) in Alg::both() {
        let fixture = rt.block_on(fixture(&alg, MemoryStore::new()));
        let config = fixture.kit.config();
        let codec = TokenCodec::new(
            alg.keys(),
            &config.issuer,
            &config.audience,
            config.leeway_secs,
        );
        let clock = fixture.kit.clock();
        let claims = codec.verify(&fixture.token, clock.now()).unwrap();
        assert!(claims.perms.iter().any(|p| p == PERMISSION));
        group.bench_function(id, |b| {
            b.iter(|| {
                codec
                    .verify(black_box(&fixture.token), clock.now())
                    .unwrap()
            });
        });
    }
    group.finish();
}

fn authenticate_memory(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("authenticate_memory");
    for (id, alg) in Alg::both() {
        let fixture = rt.block_on(fixture(&alg, MemoryStore::new()));
        group.bench_function(id, |b| {
            b.to_async(&rt)
                .iter(|| authenticate(&fixture.kit, black_box(&fixture.token)));
        });
    }
    group.finish();
}

fn authenticate_sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("authenticate_sqlite");
    for (id, alg) in Alg::both() {
        let url = format!("sqlite://{}/{id}.db", dir.path().display());
        let store = rt.block_on(async {
            let store = SqliteStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            store
        });
        let fixture = rt.block_on(fixture(&alg, store));
        group.bench_function(id, |b| {
            b.to_async(&rt)
                .iter(|| authenticate(&fixture.kit, black_box(&fixture.token)));
        });
    }
    group.finish();
}

fn permission(c: &mut Criterion) {
    let rt = runtime();
    let fixture = rt.block_on(fixture(&Alg::Hs256, MemoryStore::new()));
    let principal = rt
        .block_on(fixture.kit.authenticate_token(&fixture.token))
        .unwrap();
    let mut group = c.benchmark_group("permission");
    group.bench_function("require", |b| {
        b.iter(|| {
            black_box(&principal)
                .require(black_box(PERMISSION))
                .unwrap()
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
}

criterion_group! {
    name = hot_path;
    config = config();
    targets = verify, authenticate_memory, authenticate_sqlite, permission
}
criterion_main!(hot_path);
