//! authkit-bench: tools that measure authkit on this machine.
//!
//! - [`throughput`]: how many argon2id `verify` (a login) and `hash` (a registration) jobs the
//!   hash worker pool completes per second with its queue kept full
//!   (`authkit-bench hash-throughput`).
//! - [`seed`]: bulk-inserts users into an authkit database (SQLite or PostgreSQL) with plain SQL,
//!   all with one real argon2id hash of one password (`authkit-bench seed`), so that load tests
//!   can log any of them in.
//! - [`hash_server`]: an HTTP server whose login and register only verify or hash
//!   (`authkit-bench hash-server`): the floor under authkit's own cost of those requests.
//! - [`purge`]: what purging ended sessions costs on a large SQLite file, and how long other
//!   writes wait meanwhile (`authkit-bench purge`).
//!
//! The criterion benchmarks of the in-process hot path (token verification, session check,
//! permission check) are in `benches/hot_path.rs`; see `bench/README.md`.

pub mod hash_server;
pub mod purge;
pub mod seed;
pub mod throughput;

/// `value` as one line of JSON (keys in field order).
fn json_line(value: &impl serde::Serialize) -> String {
    // Plain structs of numbers: serializing them cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// `x` rounded to three decimals (for the JSON lines).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
