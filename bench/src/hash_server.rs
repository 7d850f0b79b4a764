//! An HTTP server that only hashes: `authkit-bench hash-server`, the floor under login's and
//! register's cost.
//!
//! It answers `POST /api/v1/login` (`{"email", "password"}`) by verifying the password against
//! one hash made at start, and `POST /api/v1/register` by hashing it, on the server's hash
//! pool ([`Argon2Hasher`] with [`Argon2Config::default`]) and a multi-threaded runtime like
//! `authkit-server`'s: HTTP, JSON and the hash, and no database, session, token or audit
//! event. Under the same load as bench/run's login and register phases (wrk with login.lua or
//! register.lua), its requests/s ÷ `hash-throughput` is what an authkit login or registration
//! could reach at best on this machine; the gap between that and authkit-server's ratio is
//! authkit's own work (`bench/hash-ab BIN hash-only`, bench/README.md). A measurement tool,
//! not a server to deploy: it answers anyone with the one password.

use std::io::Write as _;
use std::sync::Arc;

use authkit_core::domain::{Password, PasswordHash};
use authkit_core::hashing::{Argon2Config, Argon2ConfigError, Argon2Hasher};
use authkit_core::ports::{HashError, PasswordHasher};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use tokio::net::TcpListener;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashServerError {
    /// The hasher could not start.
    #[error("argon2 hasher: {0}")]
    Hasher(#[from] Argon2ConfigError),
    /// The password could not be hashed at start.
    #[error("hash job: {0}")]
    Hash(#[from] HashError),
    /// Binding or serving failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// A request body of both routes (the email and any other field are ignored).
#[derive(serde::Deserialize)]
struct Body {
    password: String,
}

struct Shared {
    hasher: Argon2Hasher,
    hash: PasswordHash,
}

/// Binds `bind`, prints `authkit-bench hash-server listening on http://ADDR` on standard
/// output, then serves until the process is stopped. Verifications compare against a hash of
/// `password`.
pub async fn serve(bind: &str, password: &str) -> Result<(), HashServerError> {
    let hasher = Argon2Hasher::new(&Argon2Config::default())?;
    let hash = hasher.hash(&Password::new(password)).await?;
    let shared = Arc::new(Shared { hasher, hash });
    let app = Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/register", post(register))
        .with_state(shared);
    let listener = TcpListener::bind(bind).await?;
    writeln!(
        std::io::stdout().lock(),
        "authkit-bench hash-server listening on http://{}",
        listener.local_addr()?
    )?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn login(State(shared): State<Arc<Shared>>, Json(body): Json<Body>) -> StatusCode {
    let password = Password::new(body.password);
    match shared.hasher.verify(&password, &shared.hash).await {
        Ok(true) => StatusCode::OK,
        Ok(false) => StatusCode::UNAUTHORIZED,
        Err(e) => refused(&e),
    }
}

async fn register(State(shared): State<Arc<Shared>>, Json(body): Json<Body>) -> StatusCode {
    match shared.hasher.hash(&Password::new(body.password)).await {
        Ok(_) => StatusCode::CREATED,
        Err(e) => refused(&e),
    }
}

fn refused(e: &HashError) -> StatusCode {
    match e {
        HashError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    /// The two routes answer as the load scripts expect, on the hasher of the given password.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_verifies_and_register_hashes() {
        let config = Argon2Config::insecure_fast();
        let hasher = Argon2Hasher::new(&config).unwrap();
        let hash = hasher.hash(&Password::new("right")).await.unwrap();
        let shared = Arc::new(Shared { hasher, hash });
        let body = |password: &str| {
            Json(Body {
                password: password.to_owned(),
            })
        };
        assert_eq!(
            login(State(shared.clone()), body("right")).await,
            StatusCode::OK
        );
        assert_eq!(
            login(State(shared.clone()), body("wrong")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            register(State(shared), body("any")).await,
            StatusCode::CREATED
        );
    }
}
