//! Raw throughput of the argon2id hash pool: `authkit-bench hash-throughput`.
//!
//! The pool is the server's ([`Argon2Hasher`] with [`Argon2Config::default`] parameters, one
//! worker per core unless told otherwise). `4 × workers` tasks keep its queue full for the given
//! time, first with `verify` jobs (what a login costs), then with `hash` jobs (what a
//! registration costs), or with one of the two ([`Ops`]); only jobs completed before the
//! deadline count. DESIGN.md's login and register targets are fractions of these figures
//! measured in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authkit_core::domain::{Password, PasswordHash};
use authkit_core::hashing::{Argon2Config, Argon2ConfigError, Argon2Hasher};
use authkit_core::ports::{HashError, PasswordHasher};
use tokio::task::JoinSet;

/// The password hashed and verified.
pub const PASSWORD: &str = "correct horse battery staple";
/// Concurrent tasks per worker: enough to keep the queue non-empty.
pub const TASKS_PER_WORKER: usize = 4;

/// What the measurement found.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputReport {
    /// Hash workers.
    pub workers: usize,
    /// argon2 memory cost (KiB).
    pub m_cost: u32,
    /// argon2 iterations.
    pub t_cost: u32,
    /// argon2 parallelism.
    pub p_cost: u32,
    /// `verify` jobs completed per second (`None`: not measured).
    pub verify_per_sec: Option<f64>,
    /// `hash` jobs completed per second (`None`: not measured).
    pub hash_per_sec: Option<f64>,
    /// The length of each run, in seconds.
    pub seconds: u64,
}

/// Which of the two jobs a measurement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Ops {
    /// `verify`, then `hash`.
    #[default]
    Both,
    /// `verify` only (the ceiling of login).
    Verify,
    /// `hash` only (the ceiling of register).
    Hash,
}

impl ThroughputReport {
    /// The one line of JSON the binary prints, keys in this order: `workers`, `m_cost`,
    /// `t_cost`, `p_cost`, `verify_per_sec`, `hash_per_sec` (`null` when not measured),
    /// `seconds`.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line {
            workers: usize,
            m_cost: u32,
            t_cost: u32,
            p_cost: u32,
            verify_per_sec: Option<f64>,
            hash_per_sec: Option<f64>,
            seconds: u64,
        }
        crate::json_line(&Line {
            workers: self.workers,
            m_cost: self.m_cost,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
            verify_per_sec: self.verify_per_sec.map(crate::round3),
            hash_per_sec: self.hash_per_sec.map(crate::round3),
            seconds: self.seconds,
        })
    }
}

/// Why the measurement failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThroughputError {
    /// The hasher could not start.
    #[error("argon2 hasher: {0}")]
    Hasher(#[from] Argon2ConfigError),
    /// A job failed (other than the queue being full, which is retried).
    #[error("hash job: {0}")]
    Hash(#[from] HashError),
    /// The password did not verify against its own hash.
    #[error("the password did not verify against its own hash")]
    Mismatch,
    /// A task panicked.
    #[error("a task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

#[derive(Clone, Copy)]
enum Op {
    Verify,
    Hash,
}

/// Measures `verify` then `hash` throughput (or the one `ops` names) for `seconds` each, with
/// `workers` hash workers (`None`: one per core). Runs on the caller's tokio runtime.
pub async fn hash_throughput(
    seconds: u64,
    workers: Option<usize>,
    ops: Ops,
) -> Result<ThroughputReport, ThroughputError> {
    let duration = Duration::from_secs(seconds.max(1));
    let defaults = Argon2Config::default();
    let workers = workers.unwrap_or(defaults.workers).max(1);
    let config = Argon2Config {
        workers,
        queue: workers * 32,
        ..defaults
    };
    let hasher = Arc::new(Argon2Hasher::new(&config)?);
    let password = Password::new(PASSWORD);
    let hash = hasher.hash(&password).await?;
    if !hasher.verify(&password, &hash).await? {
        return Err(ThroughputError::Mismatch);
    }
    let secs = duration.as_secs_f64();
    let verify_per_sec = if ops == Ops::Hash {
        None
    } else {
        Some(run(&hasher, &hash, Op::Verify, duration, workers).await? as f64 / secs)
    };
    let hash_per_sec = if ops == Ops::Verify {
        None
    } else {
        Some(run(&hasher, &hash, Op::Hash, duration, workers).await? as f64 / secs)
    };
    Ok(ThroughputReport {
        workers,
        m_cost: config.m_cost,
        t_cost: config.t_cost,
        p_cost: config.p_cost,
        verify_per_sec,
        hash_per_sec,
        seconds: duration.as_secs(),
    })
}

/// Keeps `TASKS_PER_WORKER × workers` jobs of `op` in flight until `duration` has passed;
/// returns the jobs completed before the deadline.
async fn run(
    hasher: &Arc<Argon2Hasher>,
    hash: &PasswordHash,
    op: Op,
    duration: Duration,
    workers: usize,
) -> Result<u64, ThroughputError> {
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..TASKS_PER_WORKER * workers {
        let hasher = Arc::clone(hasher);
        let hash = hash.clone();
        tasks.spawn(async move {
            let password = Password::new(PASSWORD);
            let mut done = 0u64;
            while Instant::now() < deadline {
                let result = match op {
                    Op::Verify => hasher.verify(&password, &hash).await,
                    Op::Hash => hasher.hash(&password).await.map(|_| true),
                };
                match result {
                    Ok(true) if Instant::now() <= deadline => done += 1,
                    Ok(true) => {}
                    Ok(false) => return Err(ThroughputError::Mismatch),
                    Err(HashError::Overloaded { .. }) => {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(done)
        });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        total += joined??;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (The rates themselves are not checked: a debug build on a loaded machine may finish no
    /// job within the second.)
    #[tokio::test]
    async fn one_op_measures_only_that_op_and_prints_null_for_the_other() {
        let report = hash_throughput(1, Some(1), Ops::Hash).await.unwrap();
        assert_eq!(report.verify_per_sec, None);
        assert!(report.hash_per_sec.is_some());
        let line = report.to_json();
        assert!(line.contains(r#""verify_per_sec":null"#), "{line}");

        let report = hash_throughput(1, Some(1), Ops::Verify).await.unwrap();
        assert!(report.verify_per_sec.is_some());
        assert_eq!(report.hash_per_sec, None);
    }
}
