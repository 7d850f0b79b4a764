//! [`ServerError`]: why the server could not start or stopped.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use authkit_core::domain::EmailError;
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
    /// `rotate-keys` with `AUTHKIT_JWT_SECRET` set: there is no key in the database to rotate.
    #[error(
        "rotate-keys rotates the Ed25519 keys kept in the database, but AUTHKIT_JWT_SECRET is \
         set, so tokens are signed with that HS256 secret. To replace the secret, set a new \
         AUTHKIT_JWT_SECRET (`openssl rand -base64 48`) on every instance and restart them \
         together: access tokens signed with the old secret are refused from then on and \
         clients get new ones with their refresh tokens (several HS256 secrets at once are not \
         supported). To rotate without refusing any token, unset AUTHKIT_JWT_SECRET: the server \
         then signs with Ed25519 keys kept in the database, which rotate-keys rotates"
    )]
    RotateHs256,
    /// Building the signing keys failed.
    #[error("cannot build the token signing keys")]
    Keys(#[from] authkit_core::jwt::KeyError),
    /// The password hasher could not start.
    #[error("cannot start the password hasher")]
    Hasher(#[from] authkit_core::hashing::Argon2ConfigError),
    /// The kit refused its parts.
    #[error("cannot build authkit")]
    Build(#[from] authkit_core::BuildError),
    /// The email templates of `AUTHKIT_EMAIL_TEMPLATES` were refused.
    #[error("AUTHKIT_EMAIL_TEMPLATES: {0}; fix the template or unset AUTHKIT_EMAIL_TEMPLATES")]
    Templates(#[from] authkit_core::mail::TemplateError),
    /// Reading or changing the email outbox failed.
    #[error("cannot read or change the email outbox in the database")]
    Outbox(#[source] authkit_core::ports::StoreError),
    /// `outbox retry` was given something that is not a message id.
    #[error("outbox retry: `{id}` is not a message id; copy ids from `authkit-server outbox list`")]
    OutboxId {
        /// What was given.
        id: String,
    },
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
    /// The metrics listen address could not be bound.
    #[error(
        "AUTHKIT_METRICS_BIND: cannot listen on {addr}: {source}; choose a free port or another \
         address, or unset it to serve /metrics on AUTHKIT_BIND"
    )]
    MetricsBind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    /// `create-admin --email` is not an address.
    #[error(
        "create-admin --email: {reason}; give the administrator's address, e.g. \
         --email admin@example.com"
    )]
    AdminEmail {
        /// Why the address was refused.
        reason: EmailError,
    },
    /// `create-admin`: the password of the new account was refused by the password policy.
    /// `reasons` lists the policy's codes and messages, never the password.
    #[error(
        "create-admin: the password was refused ({reasons}); nothing was created: choose \
         another and run create-admin again"
    )]
    AdminPassword {
        /// `code: message` for each reason, joined with `; `.
        reasons: String,
    },
    /// `create-admin`: the address has no account, or one whose email is not verified, and no
    /// password was given.
    #[error(
        "create-admin: {email} has no account yet, or its account's email is not verified (so \
         its password is not trusted): a password is needed: set AUTHKIT_ADMIN_PASSWORD or \
         write the password as one line on standard input"
    )]
    AdminNoPassword {
        /// The address.
        email: String,
    },
    /// `create-admin`: the password could not be read from standard input.
    #[error("create-admin: cannot read the password from standard input")]
    AdminStdin(#[source] std::io::Error),
    /// `create-admin`: another refusal (the message says what to do).
    #[error("create-admin: {0}")]
    AdminRefused(String),
    /// `create-admin`: authkit failed (database...).
    #[error("create-admin failed")]
    Admin(#[source] authkit_core::Error),
}

impl ServerError {
    /// The exit status of the binary for this error: 2 when the configuration or the input of
    /// a command (`create-admin`'s email or password) is refused, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_)
            | Self::AdminEmail { .. }
            | Self::AdminPassword { .. }
            | Self::AdminNoPassword { .. }
            | Self::AdminRefused(_)
            | Self::RotateHs256 => 2,
            _ => 1,
        }
    }
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
