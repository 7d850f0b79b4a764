//! [`ServerError`]: why the server could not start or stopped.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use authkit_core::ports::BoxError;

use crate::config::ConfigError;
use crate::mail::SmtpSetupError;

/// Why a command failed. Messages say what to check; none carries a password or secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The SQLite file could not be created.
    #[error(
        "AUTHKIT_DATABASE_URL: cannot create the SQLite file {path}: {source}; check that its \
         directory exists and is writable"
    )]
    SqliteFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting to the database failed.
    #[error(
        "cannot connect to the database {database}; check AUTHKIT_DATABASE_URL and that the server is up"
    )]
    Connect {
        /// The URL, password hidden.
        database: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// Applying authkit's migrations failed.
    #[error("cannot migrate the database {database}")]
    Migrate {
        /// The URL, password hidden.
        database: String,
        /// The migrator's error.
        #[source]
        source: BoxError,
    },
    /// Connecting and migrating took longer than allowed.
    #[error(
        "the database {database} did not answer within {after:?}; check AUTHKIT_DATABASE_URL and that the server is up"
    )]
    StartupTimeout {
        /// The URL, password hidden.
        database: String,
        /// The limit.
        after: Duration,
    },
    /// Reading or storing the signing keys failed.
    #[error("cannot load the token signing keys from the database")]
    KeyStore(#[source] authkit_core::ports::StoreError),
    /// Building the signing keys failed.
    #[error("cannot build the token signing keys")]
    Keys(#[from] authkit_core::jwt::KeyError),
    /// The password hasher could not start.
    #[error("cannot start the password hasher")]
    Hasher(#[from] authkit_core::hashing::Argon2ConfigError),
    /// The kit refused its parts.
    #[error("cannot build authkit")]
    Build(#[from] authkit_core::BuildError),
    /// The SMTP client could not be set up.
    #[error(transparent)]
    Smtp(#[from] SmtpSetupError),
    /// The listen address could not be bound.
    #[error(
        "AUTHKIT_BIND: cannot listen on {addr}: {source}; choose a free port or another address"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// An error and its sources, joined with `: ` (for logs and the final message).
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_joins_sources_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = ServerError::SqliteFile {
            path: "/x/a.db".into(),
            source: io,
        };
        let text = chain(&e);
        assert!(
            text.starts_with("AUTHKIT_DATABASE_URL: cannot create"),
            "{text}"
        );
        assert_eq!(text.matches("denied").count(), 1, "{text}");
    }
}
