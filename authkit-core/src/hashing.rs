//! The argon2id [`PasswordHasher`]: a fixed pool of worker threads, each reusing its argon2
//! memory, fed by a bounded queue. Hashing never runs on the async runtime; when the queue is
//! full the caller gets [`HashError::Overloaded`] (503 with `Retry-After`) instead of growing
//! memory without bound.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash as Phc, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{Password, PasswordHash, random_bytes};
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
        }
    }
}

enum Job {
    Hash {
        password: SecretString,
        reply: oneshot::Sender<Result<PasswordHash, HashError>>,
    },
    Verify {
        password: SecretString,
        hash: PasswordHash,
        reply: oneshot::Sender<Result<bool, HashError>>,
    },
}

/// argon2id on a bounded pool of hash workers. Cheap to clone; the workers stop when the last
/// clone is dropped.
#[derive(Clone)]
pub struct Argon2Hasher {
    tx: mpsc::Sender<Job>,
    params: Params,
    retry_after: Duration,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

/// The configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 configuration: {0}")]
pub struct Argon2ConfigError(String);

impl Argon2Hasher {
    /// Starts the worker threads.
    pub fn new(config: &Argon2Config) -> Result<Self, Argon2ConfigError> {
        let params = Params::new(config.m_cost, config.t_cost, config.p_cost, Some(32))
            .map_err(|e| Argon2ConfigError(e.to_string()))?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..config.workers.max(1) {
            let rx = Arc::clone(&rx);
            let params = params.clone();
            thread::Builder::new()
                .name(format!("authkit-hash-{i}"))
                .spawn(move || worker(&rx, &params))
                .map_err(|e| Argon2ConfigError(e.to_string()))?;
        }
        Ok(Self {
            tx,
            params,
            retry_after: config.retry_after,
        })
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => HashError::Overloaded {
                retry_after: self.retry_after,
            },
            mpsc::error::TrySendError::Closed(_) => HashError::Internal("hash workers stopped"),
        })
    }
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>, params: &Params) {
    // Allocated on the first job and reused from then on: an idle server holds no hash memory.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match rx.lock() {
            Ok(mut guard) => guard.blocking_recv(),
            Err(_) => return,
        };
        let Some(job) = job else { return };
        match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(hash_with(params, &password, &mut memory));
            }
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                let _ = reply.send(verify_with(&password, &hash, &mut memory));
            }
        }
    }
}

fn hash_with(
    params: &Params,
    password: &SecretString,
    memory: &mut Vec<Block>,
) -> Result<PasswordHash, HashError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt).map_err(|_| HashError::Internal("random source failed"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; 32];
    memory.resize(params.block_count(), Block::new());
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
    let mut out = vec![0u8; expected.len()];
    memory.resize(params.block_count(), Block::new());
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..],
        )
        .map_err(|_| HashError::Malformed)?;
    Ok(out.ct_eq(expected.as_bytes()).into())
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
            password: password.normalized(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
