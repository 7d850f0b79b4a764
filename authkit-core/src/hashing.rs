//! The argon2id [`PasswordHasher`]: a fixed pool of worker threads, each reusing its argon2
//! memory, fed by a bounded queue. Hashing never runs on the async runtime; when the queue is
//! full the caller gets [`HashError::Overloaded`] (503 with `Retry-After`) instead of growing
//! memory without bound.
//!
//! - **Rehash**: [`PasswordHasher::needs_rehash`] is true for a hash made with other parameters,
//!   another pepper, or bcrypt; login then stores a new argon2id hash of the password it just
//!   verified.
//! - **bcrypt import**: `$2a$`, `$2b$` and `$2y$` hashes from another system verify (never
//!   made here). Like Go's bcrypt (and so Kratos), a password longer than bcrypt's 72-byte input
//!   never matches, instead of matching on its first 72 bytes. Both the NFKC form and the form
//!   as typed are tried, as the old system may not have normalized.
//! - **Pepper** ([`Pepper`]): an optional secret key, kept outside the database, given to
//!   argon2 as its secret input; the hash names the pepper by its id (`keyid=` in the PHC
//!   string), so retired peppers keep verifying until their users log in again. A hash made
//!   with a pepper the server does not have never verifies.
//! - **Metrics** ([`crate::metrics`]): each worker records the time a job waited in the queue
//!   and the time it spent on it (`op` = `hash` or `verify`); a job refused because the queue
//!   is full is counted, and so is a job skipped because its caller had gone.
//! - **Cancelled requests**: a job whose caller's future was dropped while it waited (the
//!   client disconnected or timed out) is skipped, not hashed: no one would read the result,
//!   and under overload the workers go to the callers still waiting. hyper, and so
//!   authkit-axum, drops a request's future when its client disconnects; actix-web, per its
//!   open issue 3462, does not, so behind authkit-actix such a job would still run.

use std::str::FromStr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use flume::{Receiver, RecvTimeoutError, Sender, TrySendError};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::domain::{Password, PasswordHash, random_bytes};
use crate::metrics::{self, HashOp};
use crate::ports::{HashError, PasswordHasher};

/// Settings of the argon2id hasher.
#[derive(Debug, Clone)]
pub struct Argon2Config {
    /// Memory cost in KiB (default 19456 = 19 MiB).
    pub m_cost: u32,
    /// Iterations (default 2).
    pub t_cost: u32,
    /// Parallelism (default 1).
    pub p_cost: u32,
    /// Worker threads (default: one per core).
    pub workers: usize,
    /// Jobs that may wait for a worker before callers get `Overloaded` (default 32 per worker).
    pub queue: usize,
    /// `Retry-After` suggested when overloaded (default 1 s).
    pub retry_after: Duration,
    /// The pepper of new hashes (default none).
    pub pepper: Option<Pepper>,
    /// Older peppers, still accepted for verification until their users log in again.
    pub retired_peppers: Vec<Pepper>,
}

/// A secret key mixed into every hash (argon2's secret input), stored outside the database:
/// a stolen database alone cannot be attacked offline. Identified in each hash by `id`.
#[derive(Clone)]
pub struct Pepper {
    id: String,
    key: Arc<SecretSlice<u8>>,
}

impl Pepper {
    /// A pepper named `id` (1–8 characters of `A-Za-z0-9_-`) with a key of at least 32 bytes.
    pub fn new(id: &str, key: SecretSlice<u8>) -> Result<Self, Argon2ConfigError> {
        let id_ok = (1..=8).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(Argon2ConfigError(
                "a pepper id is 1 to 8 characters of A-Z, a-z, 0-9, _ or -".to_owned(),
            ));
        }
        if key.expose_secret().len() < 32 {
            return Err(Argon2ConfigError(
                "a pepper key must be at least 32 bytes".to_owned(),
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            key: Arc::new(key),
        })
    }

    /// The id written into hashes (`keyid=`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pepper")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        let workers = thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            m_cost: Params::DEFAULT_M_COST,
            t_cost: Params::DEFAULT_T_COST,
            p_cost: Params::DEFAULT_P_COST,
            workers,
            queue: workers * 32,
            retry_after: Duration::from_secs(1),
            pepper: None,
            retired_peppers: Vec::new(),
        }
    }
}

impl Argon2Config {
    /// Tiny parameters for tests: the same code path, a fraction of a millisecond per hash.
    /// Never use in production.
    pub fn insecure_fast() -> Self {
        Self {
            m_cost: 8,
            t_cost: 1,
            p_cost: 1,
            workers: 2,
            queue: 1024,
            retry_after: Duration::from_secs(1),
            pepper: None,
            retired_peppers: Vec::new(),
        }
    }
}

/// A job and when it was queued.
struct Queued {
    at: Instant,
    job: Job,
}

enum Job {
    Hash {
        password: SecretString,
        reply: oneshot::Sender<Result<PasswordHash, HashError>>,
    },
    Verify {
        password: Password,
        hash: PasswordHash,
        reply: oneshot::Sender<Result<bool, HashError>>,
    },
}

impl Job {
    fn op(&self) -> HashOp {
        match self {
            Self::Hash { .. } => HashOp::Hash,
            Self::Verify { .. } => HashOp::Verify,
        }
    }

    /// Whether the caller has gone (its future was dropped: the client disconnected or timed
    /// out while the job waited), so that no one would read the result. A worker skips such a
    /// job rather than spend a hash on it, which under overload leaves the workers to the
    /// callers still waiting.
    fn abandoned(&self) -> bool {
        match self {
            Self::Hash { reply, .. } => reply.is_closed(),
            Self::Verify { reply, .. } => reply.is_closed(),
        }
    }
}

/// argon2id on a bounded pool of hash workers. Cheap to clone; the workers stop when the last
/// clone is dropped.
#[derive(Clone)]
pub struct Argon2Hasher {
    tx: Sender<Queued>,
    params: Params,
    pepper_id: Option<String>,
    retry_after: Duration,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("pepper", &self.pepper_id)
            .finish_non_exhaustive()
    }
}

/// The configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 configuration: {0}")]
pub struct Argon2ConfigError(String);

/// What every worker shares: the parameters of new hashes and the peppers by id.
struct Keys {
    params: Params,
    current: Option<Pepper>,
    peppers: Vec<Pepper>,
}

impl Keys {
    fn pepper(&self, id: &[u8]) -> Option<&Pepper> {
        self.peppers.iter().find(|p| p.id.as_bytes() == id)
    }
}

impl Argon2Hasher {
    /// Starts the worker threads.
    pub fn new(config: &Argon2Config) -> Result<Self, Argon2ConfigError> {
        let (hasher, rx, keys) = Self::unstarted(config)?;
        for i in 0..config.workers.max(1) {
            let rx = rx.clone();
            let keys = Arc::clone(&keys);
            thread::Builder::new()
                .name(format!("authkit-hash-{i}"))
                .spawn(move || worker(&rx, &keys))
                .map_err(|e| Argon2ConfigError(e.to_string()))?;
        }
        Ok(hasher)
    }

    /// The hasher, the queue its workers take jobs from and what they share, no worker
    /// started yet.
    fn unstarted(
        config: &Argon2Config,
    ) -> Result<(Self, Receiver<Queued>, Arc<Keys>), Argon2ConfigError> {
        let invalid = |e: argon2::Error| Argon2ConfigError(e.to_string());
        let mut builder = argon2::ParamsBuilder::new();
        builder
            .m_cost(config.m_cost)
            .t_cost(config.t_cost)
            .p_cost(config.p_cost)
            .output_len(32);
        if let Some(pepper) = &config.pepper {
            builder.keyid(argon2::KeyId::new(pepper.id.as_bytes()).map_err(invalid)?);
        }
        let params = builder.build().map_err(invalid)?;
        let mut peppers: Vec<Pepper> = config.pepper.iter().cloned().collect();
        for retired in &config.retired_peppers {
            if peppers.iter().any(|p| p.id == retired.id) {
                return Err(Argon2ConfigError(format!(
                    "two peppers are named `{}`",
                    retired.id
                )));
            }
            peppers.push(retired.clone());
        }
        let keys = Arc::new(Keys {
            params: params.clone(),
            current: config.pepper.clone(),
            peppers,
        });
        let (tx, rx) = flume::bounded(config.queue.max(1));
        let hasher = Self {
            tx,
            params,
            pepper_id: config.pepper.as_ref().map(|p| p.id.clone()),
            retry_after: config.retry_after,
        };
        Ok((hasher, rx, keys))
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        let queued = Queued {
            at: Instant::now(),
            job,
        };
        self.tx.try_send(queued).map_err(|e| match e {
            TrySendError::Full(_) => {
                metrics::hash_rejected();
                HashError::Overloaded {
                    retry_after: self.retry_after,
                }
            }
            TrySendError::Disconnected(_) => HashError::Internal("hash workers stopped"),
        })
    }
}

/// How long a worker waits without a job before it frees its hash memory (19 MiB with the
/// default parameters): under load the memory is reused job after job, and an idle server
/// gives it back (DESIGN.md: idle RSS under 30 MB).
const IDLE_RELEASE: Duration = Duration::from_secs(1);

fn worker(rx: &Receiver<Queued>, keys: &Keys) {
    // Allocated on the first job and reused from then on, until the worker is idle.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let Queued { at, job } = match wait(rx, IDLE_RELEASE) {
            Wait::Job(queued) => queued,
            Wait::Idle => {
                memory = Vec::new();
                continue;
            }
            Wait::Closed => return,
        };
        let started = Instant::now();
        metrics::hash_queue_wait(started.duration_since(at));
        if job.abandoned() {
            metrics::hash_abandoned(job.op());
            continue;
        }
        // Recorded before the reply, so a caller that got its answer sees the job counted.
        match job {
            Job::Hash { password, reply } => {
                let result = hash_with(keys, &password, &mut memory);
                metrics::hash_job(HashOp::Hash, started.elapsed());
                let _ = reply.send(result);
            }
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                let result = if is_bcrypt(hash.expose()) {
                    verify_bcrypt(&password, &hash)
                } else {
                    verify_with(keys, &password.normalized(), &hash, &mut memory)
                };
                metrics::hash_job(HashOp::Verify, started.elapsed());
                let _ = reply.send(result);
            }
        }
    }
}

/// The capacity, in 1 KiB blocks, below which a worker's memory is never allocated: just over
/// 32 MiB, glibc's largest mmap threshold. Larger allocations are always a mapping of their own
/// that `free` unmaps, so an idle worker's memory really goes back to the system; a smaller one
/// (19 MiB with the default parameters) would come from the heap once glibc had raised its
/// threshold, and the process would keep it. Only the blocks argon2 uses are ever touched, so
/// the rest costs address space, not memory.
const MIN_CAPACITY_BLOCKS: usize = 32 * 1024 + 1;

/// Sizes `memory` to `blocks` blocks, allocating (see [`MIN_CAPACITY_BLOCKS`]) when it has none.
fn size_memory(memory: &mut Vec<Block>, blocks: usize) {
    if memory.capacity() < blocks {
        *memory = Vec::with_capacity(blocks.max(MIN_CAPACITY_BLOCKS));
    }
    memory.resize(blocks, Block::new());
}

/// What a worker's wait for the next job ended with.
enum Wait {
    Job(Queued),
    /// No job came for the idle time.
    Idle,
    /// The hasher was dropped.
    Closed,
}

/// Waits up to `idle` for the next job (every worker waits on the queue at once).
fn wait(rx: &Receiver<Queued>, idle: Duration) -> Wait {
    match rx.recv_timeout(idle) {
        Ok(queued) => Wait::Job(queued),
        Err(RecvTimeoutError::Timeout) => Wait::Idle,
        Err(RecvTimeoutError::Disconnected) => Wait::Closed,
    }
}

/// An argon2 context with `pepper`'s key as the secret input, or none.
fn argon2_with<'k>(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    pepper: Option<&'k Pepper>,
) -> Result<Argon2<'k>, HashError> {
    match pepper {
        Some(p) => Argon2::new_with_secret(p.key.expose_secret(), algorithm, version, params)
            .map_err(|_| HashError::Internal("pepper")),
        None => Ok(Argon2::new(algorithm, version, params)),
    }
}

fn hash_with(
    keys: &Keys,
    password: &SecretString,
    memory: &mut Vec<Block>,
) -> Result<PasswordHash, HashError> {
    let params = &keys.params;
    let mut salt = [0u8; 16];
    random_bytes(&mut salt).map_err(|_| HashError::Internal("random source failed"))?;
    let argon = argon2_with(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        keys.current.as_ref(),
    )?;
    let mut out = [0u8; 32];
    size_memory(memory, params.block_count());
    argon
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            &salt,
            &mut out,
            &mut memory[..],
        )
        .map_err(|_| HashError::Internal("argon2 failed"))?;
    let phc = Phc {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|_| HashError::Internal("params"))?,
        salt: Some(Salt::new(&salt).map_err(|_| HashError::Internal("salt"))?),
        hash: Some(Output::new(&out).map_err(|_| HashError::Internal("output"))?),
    };
    Ok(PasswordHash::new(phc.to_string()))
}

fn verify_with(
    keys: &Keys,
    password: &SecretString,
    hash: &PasswordHash,
    memory: &mut Vec<Block>,
) -> Result<bool, HashError> {
    let phc = Phc::new(hash.expose()).map_err(|_| HashError::Malformed)?;
    let algorithm =
        Algorithm::try_from(phc.algorithm.as_str()).map_err(|_| HashError::Malformed)?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).map_err(|_| HashError::Malformed)?,
        None => Version::V0x10,
    };
    let params = Params::try_from(&phc).map_err(|_| HashError::Malformed)?;
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(HashError::Malformed);
    };
    let pepper = match params.keyid() {
        [] => None,
        id => match keys.pepper(id) {
            Some(p) => Some(p),
            None => {
                tracing::warn!(
                    target: "authkit::hashing",
                    "a password hash names a pepper this server does not have; it cannot verify"
                );
                return Ok(false);
            }
        },
    };
    let mut out = vec![0u8; expected.len()];
    size_memory(memory, params.block_count());
    argon2_with(algorithm, version, params.clone(), pepper)?
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..],
        )
        .map_err(|_| HashError::Malformed)?;
    Ok(out.ct_eq(expected.as_bytes()).into())
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// An imported bcrypt hash: the NFKC form, then the form as typed when it differs. A password
/// over bcrypt's 72-byte input never matches (no silent truncation).
fn verify_bcrypt(password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
    let check = |candidate: &str| match bcrypt::non_truncating_verify(candidate, hash.expose()) {
        Ok(ok) => Ok(ok),
        Err(bcrypt::BcryptError::Truncation(_)) => Ok(false),
        Err(_) => Err(HashError::Malformed),
    };
    let normalized = password.normalized();
    if check(normalized.expose_secret())? {
        return Ok(true);
    }
    if normalized.expose_secret() != password.expose() {
        return check(password.expose());
    }
    Ok(false)
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Hash {
            password: password.normalized(),
            reply,
        })?;
        rx.await
            .map_err(|_| HashError::Internal("hash worker dropped the job"))?
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Verify {
            password: password.clone(),
            hash: hash.clone(),
            reply,
        })?;
        rx.await
            .map_err(|_| HashError::Internal("hash worker dropped the job"))?
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(phc) = Phc::new(hash.expose()) else {
            return true;
        };
        let Ok(params) = Params::try_from(&phc) else {
            return true;
        };
        phc.algorithm != Algorithm::Argon2id.ident()
            || phc.version != Some(Version::V0x13.into())
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || params.keyid() != self.params.keyid()
    }

    fn recognizes(&self, hash: &PasswordHash) -> bool {
        let hash = hash.expose();
        if is_bcrypt(hash) {
            return bcrypt::HashParts::from_str(hash).is_ok();
        }
        Phc::new(hash).is_ok_and(|phc| {
            Algorithm::try_from(phc.algorithm.as_str()).is_ok()
                && Params::try_from(&phc).is_ok()
                && phc.salt.is_some()
                && phc.hash.is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_waits_for_a_job_then_reports_idle_then_closed() {
        let (tx, rx) = flume::bounded(1);
        let (reply, _answer) = oneshot::channel();
        let job = Job::Hash {
            password: SecretString::from("x"),
            reply,
        };
        tx.send(Queued {
            at: Instant::now(),
            job,
        })
        .unwrap();
        assert!(matches!(wait(&rx, Duration::from_millis(1)), Wait::Job(_)));
        // Nothing queued for the idle time: the worker frees its memory and waits again.
        assert!(matches!(wait(&rx, Duration::from_millis(1)), Wait::Idle));
        drop(tx);
        assert!(matches!(wait(&rx, Duration::from_secs(60)), Wait::Closed));
    }

    #[test]
    fn a_worker_skips_the_jobs_whose_callers_have_gone() {
        use crate::metrics::{PASSWORD_HASH_ABANDONED, PASSWORD_HASH_DURATION, testing};

        let (hasher, rx, keys) = Argon2Hasher::unstarted(&Argon2Config::insecure_fast()).unwrap();
        let password = Password::new("correct horse battery staple");
        let hash = hash_with(&keys, &password.normalized(), &mut Vec::new()).unwrap();
        let verify = |reply| Job::Verify {
            password: password.clone(),
            hash: hash.clone(),
            reply,
        };
        // Queued, then given up by their callers (futures dropped) before a worker takes them.
        let (reply, gone) = oneshot::channel();
        hasher.submit(verify(reply)).unwrap();
        drop(gone);
        let (reply, gone) = oneshot::channel();
        hasher
            .submit(Job::Hash {
                password: password.normalized(),
                reply,
            })
            .unwrap();
        drop(gone);
        // Still awaited.
        let (reply, answer) = oneshot::channel();
        hasher.submit(verify(reply)).unwrap();
        // The worker returns once the queue is empty and the hasher gone.
        drop(hasher);

        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || worker(&rx, &keys));

        assert!(
            answer.blocking_recv().unwrap().unwrap(),
            "the awaited job ran"
        );
        let s = testing::snapshot(&snapshotter);
        for op in ["verify", "hash"] {
            assert_eq!(
                testing::counter(&s, PASSWORD_HASH_ABANDONED, &[("op", op)]),
                1,
                "{op}"
            );
        }
        // Only the awaited job was hashed.
        assert_eq!(
            testing::samples(&s, PASSWORD_HASH_DURATION, &[("op", "verify")]),
            1
        );
        assert_eq!(
            testing::samples(&s, PASSWORD_HASH_DURATION, &[("op", "hash")]),
            0
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_salts_differ() {
        let h = Argon2Hasher::new(&Argon2Config::insecure_fast()).unwrap();
        let pw = Password::new("correct horse battery staple");
        let a = h.hash(&pw).await.unwrap();
        let b = h.hash(&pw).await.unwrap();
        assert!(a.expose().starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert_ne!(a.expose(), b.expose());
        assert!(h.verify(&pw, &a).await.unwrap());
        assert!(!h.verify(&Password::new("wrong"), &a).await.unwrap());
        assert!(!h.needs_rehash(&a));
        let stronger = Argon2Hasher::new(&Argon2Config {
            m_cost: 16,
            ..Argon2Config::insecure_fast()
        })
        .unwrap();
        assert!(stronger.needs_rehash(&a));
        assert!(
            stronger.verify(&pw, &a).await.unwrap(),
            "old parameters still verify"
        );
    }

    #[tokio::test]
    async fn default_parameters_are_owasp() {
        let h = Argon2Hasher::new(&Argon2Config {
            workers: 1,
            ..Argon2Config::default()
        })
        .unwrap();
        let hash = h
            .hash(&Password::new("a long enough passphrase"))
            .await
            .unwrap();
        assert!(hash.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test]
    async fn no_truncation_and_nfkc() {
        let h = Argon2Hasher::new(&Argon2Config::insecure_fast()).unwrap();
        let long = "x".repeat(100);
        let hash = h.hash(&Password::new(long.clone())).await.unwrap();
        assert!(!h.verify(&Password::new(&long[..72]), &hash).await.unwrap());
        let nfc = h
            .hash(&Password::new("caf\u{e9} caf\u{e9} caf\u{e9}"))
            .await
            .unwrap();
        assert!(
            h.verify(&Password::new("cafe\u{301} cafe\u{301} cafe\u{301}"), &nfc)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn imported_bcrypt_hashes_verify_without_truncation_and_need_a_rehash() {
        let h = Argon2Hasher::new(&Argon2Config::insecure_fast()).unwrap();
        let short = PasswordHash::new(bcrypt::hash("legacy password here", 4).unwrap());
        assert!(h.recognizes(&short));
        assert!(h.needs_rehash(&short));
        assert!(
            h.verify(&Password::new("legacy password here"), &short)
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&Password::new("legacy password her"), &short)
                .await
                .unwrap()
        );
        // The old system hashed the password as typed (NFD here); NFKC would not match.
        let nfd =
            PasswordHash::new(bcrypt::hash("cafe\u{301} cafe\u{301} cafe\u{301}", 4).unwrap());
        assert!(
            h.verify(&Password::new("cafe\u{301} cafe\u{301} cafe\u{301}"), &nfd)
                .await
                .unwrap()
        );
        // A 100-byte password never matches a bcrypt hash, not even on its first 72 bytes.
        let long = "y".repeat(100);
        let truncated = PasswordHash::new(bcrypt::hash(&long[..72], 4).unwrap());
        assert!(
            !h.verify(&Password::new(long.clone()), &truncated)
                .await
                .unwrap()
        );
        assert!(!h.recognizes(&PasswordHash::new("$2b$04$short")));
        assert!(!h.recognizes(&PasswordHash::new("plain text")));
        assert!(h.recognizes(&h.hash(&Password::new(long)).await.unwrap()));
    }

    #[tokio::test]
    async fn a_pepper_is_named_in_the_hash_and_required_to_verify() {
        let key = |b: u8| SecretSlice::from(vec![b; 32]);
        let peppered = Argon2Hasher::new(&Argon2Config {
            pepper: Some(Pepper::new("k1", key(1)).unwrap()),
            ..Argon2Config::insecure_fast()
        })
        .unwrap();
        let plain = Argon2Hasher::new(&Argon2Config::insecure_fast()).unwrap();
        let pw = Password::new("correct horse battery staple");
        let hash = peppered.hash(&pw).await.unwrap();
        assert!(hash.expose().contains(",keyid="), "{hash:?}");
        assert!(
            !hash.expose().contains("AQEBAQEB"),
            "the key is not in the hash"
        );
        assert!(peppered.verify(&pw, &hash).await.unwrap());
        assert!(
            !plain.verify(&pw, &hash).await.unwrap(),
            "no pepper: no match"
        );
        let other = Argon2Hasher::new(&Argon2Config {
            pepper: Some(Pepper::new("k1", key(2)).unwrap()),
            ..Argon2Config::insecure_fast()
        })
        .unwrap();
        assert!(
            !other.verify(&pw, &hash).await.unwrap(),
            "another key: no match"
        );
        // Rotation: k2 is current, k1 retired: old hashes verify and are due for a rehash.
        let rotated = Argon2Hasher::new(&Argon2Config {
            pepper: Some(Pepper::new("k2", key(3)).unwrap()),
            retired_peppers: vec![Pepper::new("k1", key(1)).unwrap()],
            ..Argon2Config::insecure_fast()
        })
        .unwrap();
        assert!(rotated.verify(&pw, &hash).await.unwrap());
        assert!(rotated.needs_rehash(&hash));
        assert!(!rotated.needs_rehash(&rotated.hash(&pw).await.unwrap()));
        assert!(
            plain.needs_rehash(&hash),
            "dropping the pepper rehashes too"
        );
        assert!(Pepper::new("k1", SecretSlice::from(vec![0u8; 31])).is_err());
        assert!(Pepper::new("too-long-id", key(1)).is_err());
        assert!(format!("{:?}", Pepper::new("k1", key(7)).unwrap()).contains("redacted"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_queue_is_overloaded_not_unbounded() {
        let h = Argon2Hasher::new(&Argon2Config {
            m_cost: 19456,
            t_cost: 2,
            workers: 1,
            queue: 1,
            ..Argon2Config::insecure_fast()
        })
        .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let h = h.clone();
            tasks.spawn(async move { h.hash(&Password::new("some password here")).await });
        }
        let results = tasks.join_all().await;
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(HashError::Overloaded { .. })))
        );
        assert!(results.iter().any(Result::is_ok));
    }
}
