//! [`ServerConfig`]: the server's settings, read from `AUTHKIT_*` environment variables and,
//! when `AUTHKIT_CONFIG` names one, a TOML file; each variable set in the
//! environment overrides its key in the file.
//!
//! Every setting is optional; an empty value counts as unset. A value that cannot be used
//! stops the server with a [`ConfigError`] that names the variable (and the file and key when
//! the value came from the file) and says how to fix it. [`vars::ALL`] lists every setting;
//! `--help`, `docs/configuration.md` and `config.example.toml` are made from it
//! ([`mod@reference`]).

mod file;
pub mod reference;

use std::fmt;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use authkit_core::AuthConfig;
use authkit_core::config::{LimitsConfig, OutboxConfig};
use authkit_core::domain::Locale;
use authkit_core::hashing::{Argon2Config, Pepper};
use authkit_core::jwt::{MIN_HS256_SECRET_BYTES, RotationPolicy};
use authkit_core::ports::{LoginThrottle, RateLimit};
use ipnet::IpNet;
use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use url::Url;

/// The names of the environment variables, and every setting with its meaning, values and
/// default ([`vars::ALL`], used by `--help` and the configuration reference).
pub mod vars {
    /// Database URL: `sqlite://FILE` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub const DATABASE_URL: &str = "AUTHKIT_DATABASE_URL";
    /// Listen address, `IP:PORT`.
    pub const BIND: &str = "AUTHKIT_BIND";
    /// Where `/metrics` is served instead of the main listener.
    pub const METRICS_BIND: &str = "AUTHKIT_METRICS_BIND";
    /// Base of the links in emails.
    pub const PUBLIC_URL: &str = "AUTHKIT_PUBLIC_URL";
    /// SMTP server (`smtp://`, `smtp://...?tls=required`, `smtps://`).
    pub const SMTP_URL: &str = "AUTHKIT_SMTP_URL";
    /// Sender of emails.
    pub const MAIL_FROM: &str = "AUTHKIT_MAIL_FROM";
    /// HS256 secret (at least 32 bytes); unset: an Ed25519 key kept in the database.
    pub const JWT_SECRET: &str = "AUTHKIT_JWT_SECRET";
    /// `iss` of access tokens.
    pub const ISSUER: &str = "AUTHKIT_ISSUER";
    /// `aud` of access tokens.
    pub const AUDIENCE: &str = "AUTHKIT_AUDIENCE";
    /// Per-IP requests per minute on every route (0 = off).
    pub const RATE_LIMIT_PER_MINUTE: &str = "AUTHKIT_RATE_LIMIT_PER_MINUTE";
    /// Per-IP requests per minute, in addition, on register/login/forgot/reset/resend/verify
    /// (0 = off).
    pub const RATE_LIMIT_AUTH_PER_MINUTE: &str = "AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE";
    /// Where rate-limit counters live: `memory` or `database`.
    pub const RATE_LIMIT_STORE: &str = "AUTHKIT_RATE_LIMIT_STORE";
    /// Proxies whose `X-Forwarded-For` is believed: IPs or CIDRs, comma-separated.
    pub const TRUSTED_PROXIES: &str = "AUTHKIT_TRUSTED_PROXIES";
    /// Browser origins allowed to call the API (CORS), comma-separated.
    pub const CORS_ORIGINS: &str = "AUTHKIT_CORS_ORIGINS";
    /// Failed password checks per account before each attempt is delayed (0 = off).
    pub const LOGIN_THROTTLE_FAILURES: &str = "AUTHKIT_LOGIN_THROTTLE_FAILURES";
    /// Forgot-password and resend-verification emails per address per hour (0 = off).
    pub const FORGOT_PER_ADDRESS_PER_HOUR: &str = "AUTHKIT_FORGOT_PER_ADDRESS_PER_HOUR";
    /// Longest time a request may take, in seconds.
    pub const REQUEST_TIMEOUT_SECONDS: &str = "AUTHKIT_REQUEST_TIMEOUT_SECONDS";
    /// How long a session read to authenticate a request is remembered, in milliseconds
    /// (0 = off).
    pub const SESSION_CACHE_TTL_MS: &str = "AUTHKIT_SESSION_CACHE_TTL_MS";
    /// Days an audit event is kept before the hourly purge deletes it (unset: every event).
    pub const AUDIT_RETENTION_DAYS: &str = "AUTHKIT_AUDIT_RETENTION_DAYS";
    /// Days an ended session and its spent refresh hashes are kept before the hourly purge
    /// deletes them.
    pub const SESSION_RETENTION_DAYS: &str = "AUTHKIT_SESSION_RETENTION_DAYS";
    /// The pepper of new password hashes: base64 of at least 32 random bytes (a secret).
    pub const PASSWORD_PEPPER: &str = "AUTHKIT_PASSWORD_PEPPER";
    /// The id of `AUTHKIT_PASSWORD_PEPPER`, written into each hash.
    pub const PASSWORD_PEPPER_ID: &str = "AUTHKIT_PASSWORD_PEPPER_ID";
    /// Older peppers still accepted: `id:base64,id:base64` (secrets).
    pub const RETIRED_PEPPERS: &str = "AUTHKIT_RETIRED_PEPPERS";
    /// argon2id memory cost in KiB.
    pub const ARGON2_MEMORY_KIB: &str = "AUTHKIT_ARGON2_MEMORY_KIB";
    /// argon2id iterations.
    pub const ARGON2_ITERATIONS: &str = "AUTHKIT_ARGON2_ITERATIONS";
    /// Refuse login until the email is verified.
    pub const REQUIRE_VERIFIED_EMAIL: &str = "AUTHKIT_REQUIRE_VERIFIED_EMAIL";
    /// `pretty` or `json`.
    pub const LOG_FORMAT: &str = "AUTHKIT_LOG_FORMAT";
    /// Language of the emails of users who chose none.
    pub const DEFAULT_LOCALE: &str = "AUTHKIT_DEFAULT_LOCALE";
    /// A folder of email templates adding languages or replacing the built-in ones.
    pub const EMAIL_TEMPLATES: &str = "AUTHKIT_EMAIL_TEMPLATES";
    /// Delivery attempts before an email is abandoned.
    pub const OUTBOX_MAX_ATTEMPTS: &str = "AUTHKIT_OUTBOX_MAX_ATTEMPTS";
    /// Wait after the first failed delivery, in seconds (doubled after each further failure).
    pub const OUTBOX_RETRY_SECONDS: &str = "AUTHKIT_OUTBOX_RETRY_SECONDS";
    /// A TOML file of these settings; the environment overrides it, setting by setting.
    pub const CONFIG: &str = "AUTHKIT_CONFIG";

    /// What a setting takes in the configuration file (a string always works too).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// A string.
        Text,
        /// An integer.
        Integer,
        /// `true` or `false`.
        Bool,
        /// An array of strings (the variable: a comma-separated list).
        List,
    }

    /// One setting: its variable, what it means, its default and what it accepts. The
    /// configuration file's key is the name without `AUTHKIT_`, lowercased
    /// ([`Setting::key`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Setting {
        /// The environment variable.
        pub name: &'static str,
        /// What it does.
        pub meaning: &'static str,
        /// What it accepts.
        pub values: &'static str,
        /// What applies when it is unset.
        pub default: &'static str,
        /// What the configuration file takes.
        pub kind: Kind,
        /// Whether the value is a secret (never printed; keep it out of files others read).
        pub secret: bool,
        /// The TOML value that means the same as leaving the key out (`""` for settings
        /// whose default is computed or unset), for `config.example.toml`.
        pub toml_default: &'static str,
    }

    impl Setting {
        /// The key in the configuration file: the name without `AUTHKIT_`, lowercased;
        /// `None` for `AUTHKIT_CONFIG`, which the file cannot set.
        pub fn key(&self) -> Option<String> {
            (self.name != CONFIG).then(|| super::file::file_key(self.name))
        }
    }

    const fn setting(
        name: &'static str,
        kind: Kind,
        meaning: &'static str,
        values: &'static str,
        default: &'static str,
        toml_default: &'static str,
    ) -> Setting {
        Setting {
            name,
            meaning,
            values,
            default,
            kind,
            secret: false,
            toml_default,
        }
    }

    const fn secret(setting: Setting) -> Setting {
        Setting {
            secret: true,
            ..setting
        }
    }

    /// Every setting, in `--help` order.
    pub const ALL: &[Setting] = &[
        setting(
            DATABASE_URL,
            Kind::Text,
            "the database; a SQLite file is created if missing, postgres://... selects \
             PostgreSQL; its password is never printed",
            "sqlite://FILE (sqlite:///var/lib/authkit/authkit.db for an absolute path) or \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            "sqlite://authkit.db",
            "\"sqlite://authkit.db\"",
        ),
        setting(
            BIND,
            Kind::Text,
            "listen address of the API",
            "IP:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080; port 0 picks a free port",
            "127.0.0.1:8080",
            "\"127.0.0.1:8080\"",
        ),
        setting(
            METRICS_BIND,
            Kind::Text,
            "a separate listen address for GET /metrics, which is then not served on \
             AUTHKIT_BIND; keep it off the public network",
            "IP:PORT, e.g. 127.0.0.1:9090",
            "unset: /metrics is served on AUTHKIT_BIND",
            "\"\"",
        ),
        setting(
            PUBLIC_URL,
            Kind::Text,
            "base of the links in emails (the Host header is never used); https:// also turns \
             HSTS on",
            "the http:// or https:// address clients reach the server at, without query, \
             fragment or credentials",
            "http://localhost:8080",
            "\"http://localhost:8080\"",
        ),
        setting(
            SMTP_URL,
            Kind::Text,
            "SMTP server the emails are sent through; its password is never printed",
            "smtp://[USER:PASS@]HOST:PORT (plain), smtp://...?tls=required (STARTTLS), \
             smtp://...?tls=opportunistic, smtps://... (TLS); checked as the mailer reads it: \
             tls= at most once and no other parameter, USER only with :PASS",
            "unset: emails are written to the log",
            "\"\"",
        ),
        setting(
            MAIL_FROM,
            Kind::Text,
            "sender of emails",
            "an address, optionally with a name: Example <no-reply@example.com>",
            "authkit <no-reply@localhost>",
            "\"authkit <no-reply@localhost>\"",
        ),
        secret(setting(
            JWT_SECRET,
            Kind::Text,
            "HS256 secret signing the access tokens instead of Ed25519 keys kept in the \
             database (then nothing is published in the JWKS and rotate-keys does not apply); \
             never printed",
            "at least 32 bytes, e.g. the output of `openssl rand -base64 48`",
            "unset: Ed25519 keys kept in the database",
            "\"\"",
        )),
        setting(
            ISSUER,
            Kind::Text,
            "`iss` of access tokens",
            "any text",
            "the public URL",
            "\"\"",
        ),
        setting(
            AUDIENCE,
            Kind::Text,
            "`aud` of access tokens",
            "any text",
            "authkit",
            "\"authkit\"",
        ),
        setting(
            RATE_LIMIT_PER_MINUTE,
            Kind::Integer,
            "requests per minute per client IP on the /api/v1 routes; over it: 429 with \
             Retry-After",
            "a whole number, 0 = off",
            "100",
            "100",
        ),
        setting(
            RATE_LIMIT_AUTH_PER_MINUTE,
            Kind::Integer,
            "requests per minute per client IP, in addition, on register, login, forgot, \
             reset, resend and verify-email",
            "a whole number, 0 = off",
            "5",
            "5",
        ),
        setting(
            RATE_LIMIT_STORE,
            Kind::Text,
            "where the rate-limit counters live",
            "memory (this process only, no database write per request) or database (shared \
             by every instance on the database)",
            "database on PostgreSQL, memory on SQLite",
            "\"\"",
        ),
        setting(
            TRUSTED_PROXIES,
            Kind::List,
            "reverse proxies whose X-Forwarded-For is believed",
            "IPs or CIDRs, comma-separated (10.0.0.0/8,127.0.0.1; an array in the file); a \
             bare IP means that address only",
            "none: the connection's address is the client",
            "[]",
        ),
        setting(
            CORS_ORIGINS,
            Kind::List,
            "browser origins allowed to call the API with credentials (CORS)",
            "exact origins (scheme, host, optional port), comma-separated \
             (https://app.example.com; an array in the file); * is refused",
            "none: same-origin browsers only",
            "[]",
        ),
        setting(
            LOGIN_THROTTLE_FAILURES,
            Kind::Integer,
            "failed password checks per account before each further attempt waits (1 s, \
             doubling up to 15 min; 100 failures lock until a password reset)",
            "a whole number below 100, 0 = off",
            "10",
            "10",
        ),
        setting(
            FORGOT_PER_ADDRESS_PER_HOUR,
            Kind::Integer,
            "forgot-password and resend-verification emails per address per hour (and at most \
             one a minute); over it the request still answers 202 and sends nothing",
            "a whole number, 0 = off",
            "5",
            "5",
        ),
        setting(
            REQUEST_TIMEOUT_SECONDS,
            Kind::Integer,
            "longest time an API request may take, then 503 unavailable; a body still \
             arriving 5 s later is cut off the same way",
            "seconds, 1..600",
            "15",
            "15",
        ),
        setting(
            SESSION_CACHE_TTL_MS,
            Kind::Integer,
            "how long an instance remembers a session it read to authenticate a request; a \
             logout, revocation, password change, disabling or role change made through this \
             instance applies at once, one made by another instance or an authkit-server \
             command (create-admin) on the same database within this long",
            "milliseconds, 0 (off: every request reads its session) up to the access-token \
             lifetime (900000, 15 min)",
            "1000",
            "1000",
        ),
        setting(
            AUDIT_RETENTION_DAYS,
            Kind::Integer,
            "how long the audit log keeps an event; the email worker deletes older ones every \
             hour. Every login, refresh and logout adds an event, so set it when the log must \
             not grow without end (Keycloak's event expiration)",
            "whole number of days, 1..36500",
            "unset: every event is kept",
            "\"\"",
        ),
        setting(
            SESSION_RETENTION_DAYS,
            Kind::Integer,
            "how long a session that ended (logged out, revoked or expired) is kept with its \
             spent refresh tokens' hashes; the email worker deletes older ones every hour. \
             Until then a replayed refresh token of it is answered refresh_token_already_used \
             and the session shows in the user's data export",
            "whole number of days, 0 (deleted by the next hourly pass) up to 36500",
            "7",
            "7",
        ),
        secret(setting(
            PASSWORD_PEPPER,
            Kind::Text,
            "secret key mixed into new password hashes, kept outside the database; never \
             printed",
            "base64 or base64url of at least 32 bytes (`openssl rand -base64 32`)",
            "unset: no pepper",
            "\"\"",
        )),
        setting(
            PASSWORD_PEPPER_ID,
            Kind::Text,
            "name of AUTHKIT_PASSWORD_PEPPER written into each hash; give a new pepper a new \
             id (only with AUTHKIT_PASSWORD_PEPPER)",
            "1 to 8 of A-Z a-z 0-9 _ -",
            "p1",
            "\"\"",
        ),
        secret(setting(
            RETIRED_PEPPERS,
            Kind::List,
            "older peppers still accepted until their users log in again; never printed",
            "id:base64, comma-separated (an array in the file), ids distinct from each other \
             and from AUTHKIT_PASSWORD_PEPPER_ID",
            "none",
            "[]",
        )),
        setting(
            ARGON2_MEMORY_KIB,
            Kind::Integer,
            "argon2id memory cost; changing it or the iterations rehashes each password at its \
             next login",
            "KiB, up to 4194304 (4 GiB); with AUTHKIT_ARGON2_ITERATIONS at least OWASP's \
             minimum (t=1: 47104, t=2: 19456, t=3: 12288, t=4: 9216, t>=5: 7168)",
            "19456",
            "19456",
        ),
        setting(
            ARGON2_ITERATIONS,
            Kind::Integer,
            "argon2id iterations",
            "1..100, see AUTHKIT_ARGON2_MEMORY_KIB",
            "2",
            "2",
        ),
        setting(
            REQUIRE_VERIFIED_EMAIL,
            Kind::Bool,
            "refuse login (403 email_not_verified) until the email is verified",
            "true, false, 1 or 0 (a boolean in the file)",
            "false",
            "false",
        ),
        setting(
            LOG_FORMAT,
            Kind::Text,
            "format of the log lines on standard error; RUST_LOG filters them (default info)",
            "pretty or json",
            "pretty on a terminal, else json",
            "\"\"",
        ),
        setting(
            DEFAULT_LOCALE,
            Kind::Text,
            "language of the emails of users who set no `locale`; English is the fallback for \
             languages without templates",
            "a language tag such as en, fr or pt-BR",
            "en",
            "\"en\"",
        ),
        setting(
            EMAIL_TEMPLATES,
            Kind::Text,
            "templates added over the built-in ones (other languages, or another look), \
             checked at start",
            "a folder of <locale>/<kind>.<subject|txt|html> files (kinds: verify_email, \
             password_reset, password_changed, email_changed) plus optional \
             layout.html/button.html",
            "unset: the built-in English templates",
            "\"\"",
        ),
        setting(
            OUTBOX_MAX_ATTEMPTS,
            Kind::Integer,
            "delivery attempts of an email before it is abandoned; `authkit-server outbox \
             retry` queues abandoned ones again",
            "1..100",
            "5",
            "5",
        ),
        setting(
            OUTBOX_RETRY_SECONDS,
            Kind::Integer,
            "wait after the first failed delivery, doubled after each further failure, at \
             most 1 h",
            "seconds, 1..3600",
            "30",
            "30",
        ),
        setting(
            CONFIG,
            Kind::Text,
            "a TOML file of these settings; each variable set in the environment overrides its \
             key in the file",
            "the path of a TOML file whose keys are the variable names without AUTHKIT_, \
             lowercased (database_url = \"...\"; lists as arrays, numbers and booleans as TOML \
             values); see config.example.toml",
            "unset: the environment only",
            "",
        ),
    ];
}

/// Default of `AUTHKIT_DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://authkit.db";
/// Default of `AUTHKIT_BIND`.
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
/// Default of `AUTHKIT_PUBLIC_URL`.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
/// Default of `AUTHKIT_MAIL_FROM`.
pub const DEFAULT_MAIL_FROM: &str = "authkit <no-reply@localhost>";
/// Default of `AUTHKIT_AUDIENCE`.
pub const DEFAULT_AUDIENCE: &str = "authkit";
/// Default of `AUTHKIT_RATE_LIMIT_PER_MINUTE`.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;
/// Default of `AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE`.
pub const DEFAULT_RATE_LIMIT_AUTH_PER_MINUTE: u32 = 5;
/// Default of `AUTHKIT_LOGIN_THROTTLE_FAILURES`.
pub const DEFAULT_LOGIN_THROTTLE_FAILURES: u32 = 10;
/// Default of `AUTHKIT_FORGOT_PER_ADDRESS_PER_HOUR`.
pub const DEFAULT_FORGOT_PER_ADDRESS_PER_HOUR: u32 = 5;
/// Default of `AUTHKIT_REQUEST_TIMEOUT_SECONDS`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest `AUTHKIT_AUDIT_RETENTION_DAYS`: a hundred years.
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 36_500;
/// Default of `AUTHKIT_SESSION_RETENTION_DAYS`: core's
/// [`authkit_core::service::SESSION_RETENTION`].
pub const DEFAULT_SESSION_RETENTION_DAYS: u32 = 7;
/// The longest `AUTHKIT_SESSION_RETENTION_DAYS`: a hundred years.
pub const MAX_SESSION_RETENTION_DAYS: u32 = 36_500;

/// Default of `AUTHKIT_SESSION_CACHE_TTL_MS` (core's default).
pub const DEFAULT_SESSION_CACHE_TTL: Duration = Duration::from_millis(1000);
/// Default of `AUTHKIT_PASSWORD_PEPPER_ID`.
pub const DEFAULT_PEPPER_ID: &str = "p1";
/// Default of `AUTHKIT_ARGON2_MEMORY_KIB` (OWASP's 19 MiB).
pub const DEFAULT_ARGON2_MEMORY_KIB: u32 = 19_456;
/// Default of `AUTHKIT_ARGON2_ITERATIONS`.
pub const DEFAULT_ARGON2_ITERATIONS: u32 = 2;
/// Largest `AUTHKIT_ARGON2_MEMORY_KIB` (4 GiB; each hash worker holds this much).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Largest `AUTHKIT_ARGON2_ITERATIONS`.
pub const MAX_ARGON2_ITERATIONS: u32 = 100;

/// The least argon2id memory cost, in KiB, OWASP's password storage cheat sheet allows with
/// `iterations` passes (46 MiB with 1, 19 MiB with 2, 12 MiB with 3, 9 MiB with 4, 7 MiB with 5
/// or more); `None` for 0 iterations.
pub const fn min_argon2_memory_kib(iterations: u32) -> Option<u32> {
    match iterations {
        0 => None,
        1 => Some(47_104),
        2 => Some(19_456),
        3 => Some(12_288),
        4 => Some(9_216),
        _ => Some(7_168),
    }
}

/// Secrets printed in documentation (this crate's README and authkit-core's examples).
/// Anyone can read them, so `AUTHKIT_JWT_SECRET` refuses them.
pub const SAMPLE_JWT_SECRETS: &[&str] = &[
    "replace-me-with-the-output-of-openssl-rand-base64-48",
    "an example secret of at least 32 bytes!",
];

/// A configuration value the server cannot use. The message names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The variable holds bytes that are not UTF-8.
    #[error("{var} is not valid UTF-8; set it to a UTF-8 value or unset it")]
    NotUnicode {
        /// The variable.
        var: &'static str,
    },
    /// The value cannot be parsed or is out of range.
    #[error("{var}={value} is invalid: {problem}; {fix}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// The value as given (passwords in URLs replaced by `***`).
        value: String,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// A secret (`AUTHKIT_PASSWORD_PEPPER`, `AUTHKIT_RETIRED_PEPPERS`) cannot be used. Unlike
    /// [`ConfigError::Invalid`], the message never shows the value.
    #[error("{var} is invalid: {problem}; {fix}")]
    InvalidSecret {
        /// The variable.
        var: &'static str,
        /// What is wrong with it (never the value).
        problem: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// `AUTHKIT_JWT_SECRET` is shorter than 32 bytes.
    #[error(
        "AUTHKIT_JWT_SECRET is {len} bytes long but HS256 needs at least {MIN_HS256_SECRET_BYTES}; \
         generate one with `openssl rand -base64 48`, or unset AUTHKIT_JWT_SECRET to sign with an \
         Ed25519 key kept in the database"
    )]
    JwtSecretTooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// `AUTHKIT_JWT_SECRET` is a value printed in the documentation.
    #[error(
        "AUTHKIT_JWT_SECRET is the sample value from the documentation, which anyone can read; \
         generate your own with `openssl rand -base64 48`, or unset AUTHKIT_JWT_SECRET to sign \
         with an Ed25519 key kept in the database"
    )]
    JwtSecretIsSample,
    /// The configuration file cannot be read.
    #[error(
        "AUTHKIT_CONFIG={}: cannot read the configuration file ({source}); point \
         AUTHKIT_CONFIG at a readable TOML file, or unset it",
        path.display()
    )]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML. The message never quotes the file (a line may
    /// hold a secret), only the position.
    #[error(
        "AUTHKIT_CONFIG={}: invalid TOML at line {line}, column {column}: {message}; fix the \
         file (config.example.toml shows every key)",
        path.display()
    )]
    FileSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What the TOML parser expected.
        message: String,
    },
    /// The configuration file has a key that is no setting.
    #[error(
        "unknown setting `{key}` in {} (AUTHKIT_CONFIG); did you mean `{suggestion}`? Keys are \
         the AUTHKIT_* variable names without AUTHKIT_, lowercased (`authkit-server --help` \
         lists them)",
        path.display()
    )]
    FileUnknownKey {
        /// The file.
        path: PathBuf,
        /// The unknown key.
        key: String,
        /// The closest valid key.
        suggestion: String,
    },
    /// The configuration file sets `config`.
    #[error(
        "config in {}: a configuration file cannot name another one; remove the key \
         (AUTHKIT_CONFIG is read from the environment only)",
        path.display()
    )]
    FileNamesConfig {
        /// The file.
        path: PathBuf,
    },
    /// A key of the configuration file has a value of the wrong type (never shown).
    #[error("{key} in {} ({var}) must be {expected}; fix the file", path.display())]
    FileType {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Its variable.
        var: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// `error` is about a value the configuration file gave (not the environment).
    #[error("{}", in_file(key, path, error))]
    InFile {
        /// The key.
        key: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with the value (its message names the variable).
        error: Box<ConfigError>,
    },
}

/// `error` about key `key` of file `path`: `KEY in FILE (VAR)` where the environment's message
/// says `VAR=value`.
fn in_file(key: &str, path: &std::path::Path, error: &ConfigError) -> String {
    let place = format!("{key} in {} ({})", path.display(), error.var());
    match error {
        ConfigError::Invalid {
            value,
            problem,
            fix,
            ..
        } => format!("{place} = {value:?} is invalid: {problem}; {fix}"),
        ConfigError::InvalidSecret { problem, fix, .. } => {
            format!("{place} is invalid: {problem}; {fix}")
        }
        other => format!("{place}: {other}"),
    }
}

impl ConfigError {
    /// The environment variable the error is about (`AUTHKIT_CONFIG` for a file that cannot
    /// be read or has an unknown key).
    pub fn var(&self) -> &'static str {
        match self {
            Self::NotUnicode { var }
            | Self::Invalid { var, .. }
            | Self::InvalidSecret { var, .. } => var,
            Self::JwtSecretTooShort { .. } | Self::JwtSecretIsSample => vars::JWT_SECRET,
            Self::FileUnreadable { .. }
            | Self::FileSyntax { .. }
            | Self::FileUnknownKey { .. }
            | Self::FileNamesConfig { .. } => vars::CONFIG,
            Self::FileType { var, .. } => var,
            Self::InFile { error, .. } => error.var(),
        }
    }
}

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `Pretty` when standard error is a terminal, else `Json` (the default).
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

/// Which database a [`DatabaseUrl`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseBackend {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres://` and `postgresql://` URLs.
    Postgres,
}

/// Where rate-limit counters live (`AUTHKIT_RATE_LIMIT_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitBackend {
    /// In this process (`memory`): no database write per request, but each instance counts
    /// alone, so N instances allow N times the limit.
    Memory,
    /// In the database (`database`): one write per limited request, shared by every instance.
    Database,
}

impl RateLimitBackend {
    /// The value of `AUTHKIT_RATE_LIMIT_STORE` that selects it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Database => "database",
        }
    }
}

/// A database URL. `Display` and `Debug` hide its password; [`DatabaseUrl::expose`] gives
/// the real value to the driver.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: SecretString,
    backend: DatabaseBackend,
}

impl DatabaseUrl {
    /// Checks the scheme: `sqlite:` (e.g. `sqlite://authkit.db`, `sqlite:///var/lib/authkit.db`)
    /// or `postgres://` / `postgresql://`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let invalid = |problem: &str| ConfigError::Invalid {
            var: vars::DATABASE_URL,
            value: redact_url(raw),
            problem: problem.to_owned(),
            fix: "use sqlite://FILE (created if missing) or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
        };
        let backend = if raw.starts_with("sqlite:") {
            DatabaseBackend::Sqlite
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = Url::parse(raw).map_err(|e| invalid(&format!("not a URL ({e})")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid("the URL has no host"));
            }
            DatabaseBackend::Postgres
        } else {
            return Err(invalid(
                "unsupported scheme (only sqlite: and postgres:// are supported)",
            ));
        };
        let url = Self {
            raw: SecretString::from(raw),
            backend,
        };
        if backend == DatabaseBackend::Sqlite && url.sqlite_path().is_none() && !url.is_memory() {
            return Err(invalid("the SQLite URL names no file"));
        }
        Ok(url)
    }

    /// The backend the scheme selects.
    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    /// The URL as given, password included: only for the database driver.
    pub fn expose(&self) -> &str {
        self.raw.expose_secret()
    }

    /// The file of a SQLite URL, `None` for PostgreSQL and in-memory SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        if self.backend != DatabaseBackend::Sqlite || self.is_memory() {
            return None;
        }
        let rest = self.expose().strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        (!path.is_empty()).then(|| PathBuf::from(path))
    }

    fn is_memory(&self) -> bool {
        let raw = self.expose();
        self.backend == DatabaseBackend::Sqlite
            && (raw.contains(":memory:") || raw.contains("mode=memory"))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.expose()))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// An SMTP URL in lettre's form. `Display` and `Debug` hide the password.
#[derive(Clone)]
pub struct SmtpUrl {
    raw: SecretString,
    /// What authkit-smtp's parse of `raw` says: credentials without certain TLS.
    sends_password_in_clear: bool,
}

impl SmtpUrl {
    /// Checks the URL with the parser the mailer uses (authkit-smtp's), so that what is
    /// accepted here is what `serve` can send with: `smtp://HOST[:PORT]` (plain, port 25),
    /// `smtp://...?tls=required` (STARTTLS, port 587), `smtp://...?tls=opportunistic`,
    /// `smtps://...` (implicit TLS, port 465); credentials as `USER:PASSWORD@`
    /// (percent-encoded). Unknown or repeated parameters, `USER@` without a password and
    /// `smtps://...?tls=opportunistic` are refused.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let mailer = authkit_smtp::SmtpMailer::from_url(raw).map_err(|e| ConfigError::Invalid {
            var: vars::SMTP_URL,
            value: redact_url(raw),
            // authkit-smtp's messages never contain the password.
            problem: e.to_string(),
            fix: "use smtp://HOST:PORT, smtp://USER:PASSWORD@HOST:587?tls=required or \
                  smtps://USER:PASSWORD@HOST:465, or unset it to write emails to the log",
        })?;
        Ok(Self {
            raw: SecretString::from(raw),
            sends_password_in_clear: mailer.sends_credentials_in_clear(),
        })
    }

    /// The URL as given, credentials included: only for the SMTP client.
    pub fn expose(&self) -> &str {
        self.raw.expose_secret()
    }

    /// Whether credentials could travel without TLS (`smtp://` with a password, without
    /// `tls=required`), as the mailer reads the URL.
    pub fn sends_password_in_clear(&self) -> bool {
        self.sends_password_in_clear
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.expose()))
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({self})")
    }
}

/// Replaces the password of a URL (userinfo or a `password=` query parameter) with `***`.
/// A value that does not parse as a URL is shown as `[unparsable URL]`, since where its
/// password would be cannot be known.
pub fn redact_url(raw: &str) -> String {
    if raw.starts_with("sqlite:") && !raw.contains('@') && !raw.contains("password") {
        return raw.to_owned();
    }
    let Ok(mut url) = Url::parse(raw) else {
        return "[unparsable URL]".to_owned();
    };
    // `user:password@host` without `//` parses as scheme `user` and an opaque path: whatever
    // follows could be a password.
    if url.cannot_be_a_base() && raw.contains('@') {
        return "[unparsable URL]".to_owned();
    }
    if url.password().is_some() && url.set_password(Some("***")).is_err() {
        return "[unparsable URL]".to_owned();
    }
    let secret_key = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k.contains("secret") || k.contains("token")
    };
    if url.query_pairs().any(|(k, _)| secret_key(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_key(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Everything the server is configured with. Build it with [`ServerConfig::from_env`] (what
/// the binary does), [`ServerConfig::from_vars`], or [`ServerConfig::default`] and change
/// fields (what tests do). `Debug` never shows the JWT secret, the peppers or URL passwords.
#[derive(Clone)]
pub struct ServerConfig {
    /// `AUTHKIT_DATABASE_URL`.
    pub database_url: DatabaseUrl,
    /// `AUTHKIT_BIND`.
    pub bind: SocketAddr,
    /// `AUTHKIT_METRICS_BIND`: `Some` serves `/metrics` there only, `None` on [`Self::bind`].
    pub metrics_bind: Option<SocketAddr>,
    /// `AUTHKIT_PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    /// `AUTHKIT_SMTP_URL`; `None` writes emails to the log.
    pub smtp_url: Option<SmtpUrl>,
    /// `AUTHKIT_MAIL_FROM`.
    pub mail_from: Mailbox,
    /// `AUTHKIT_JWT_SECRET`: `Some` selects HS256, `None` an Ed25519 key kept in the database.
    pub jwt_secret: Option<SecretString>,
    /// `AUTHKIT_ISSUER` (default: the public URL).
    pub issuer: String,
    /// `AUTHKIT_AUDIENCE`.
    pub audience: String,
    /// `AUTHKIT_RATE_LIMIT_PER_MINUTE`: per client IP on every API route (0 = off).
    pub rate_limit_per_minute: u32,
    /// `AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE`: per client IP on the credential routes (0 = off).
    pub rate_limit_auth_per_minute: u32,
    /// `AUTHKIT_RATE_LIMIT_STORE`; `None`: [`RateLimitBackend::Database`] on PostgreSQL,
    /// [`RateLimitBackend::Memory`] on SQLite ([`ServerConfig::rate_limit_backend`]).
    pub rate_limit_store: Option<RateLimitBackend>,
    /// `AUTHKIT_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpNet>,
    /// `AUTHKIT_CORS_ORIGINS`.
    pub cors_origins: Vec<String>,
    /// `AUTHKIT_LOGIN_THROTTLE_FAILURES` (0 = off).
    pub login_throttle_failures: u32,
    /// `AUTHKIT_FORGOT_PER_ADDRESS_PER_HOUR` (0 = off).
    pub forgot_per_address_per_hour: u32,
    /// `AUTHKIT_REQUEST_TIMEOUT_SECONDS`.
    pub request_timeout: Duration,
    /// `AUTHKIT_SESSION_CACHE_TTL_MS` (zero = off): at most the access-token lifetime.
    pub session_cache_ttl: Duration,
    /// `AUTHKIT_AUDIT_RETENTION_DAYS`; `None`: every audit event is kept.
    pub audit_retention_days: Option<u32>,
    /// `AUTHKIT_SESSION_RETENTION_DAYS`: how long ended sessions are kept.
    pub session_retention_days: u32,
    /// `AUTHKIT_REQUIRE_VERIFIED_EMAIL`.
    pub require_verified_email: bool,
    /// `AUTHKIT_LOG_FORMAT`; `None`: [`LogFormat::detect`].
    pub log_format: Option<LogFormat>,
    /// `AUTHKIT_DEFAULT_LOCALE`.
    pub default_locale: Locale,
    /// `AUTHKIT_EMAIL_TEMPLATES`: a folder of templates added to the built-in ones.
    pub email_templates: Option<PathBuf>,
    /// `AUTHKIT_OUTBOX_MAX_ATTEMPTS`.
    pub outbox_max_attempts: u32,
    /// `AUTHKIT_OUTBOX_RETRY_SECONDS`.
    pub outbox_retry: Duration,
    /// Password hashing: `m_cost` from `AUTHKIT_ARGON2_MEMORY_KIB`, `t_cost` from
    /// `AUTHKIT_ARGON2_ITERATIONS`, `pepper` from `AUTHKIT_PASSWORD_PEPPER` (named by
    /// `AUTHKIT_PASSWORD_PEPPER_ID`), `retired_peppers` from `AUTHKIT_RETIRED_PEPPERS`; p=1 and
    /// one worker per core. Tests set [`Argon2Config::insecure_fast`] here directly.
    pub argon2: Argon2Config,
    /// How long `GET /ready` waits for the database (2 s). Not read from the environment.
    pub ready_timeout: Duration,
    /// How long one SMTP delivery may take (30 s). Not read from the environment.
    pub smtp_timeout: Duration,
    /// How long connecting to and migrating the database may take at start (60 s).
    /// Not read from the environment.
    pub startup_timeout: Duration,
    /// How long in-flight requests may finish after SIGTERM/SIGINT (10 s). Not read from the
    /// environment.
    pub shutdown_grace: Duration,
    /// How long a client has to send a request's headers, from the moment the connection is
    /// idle (so it also closes idle keep-alive connections) (10 s), on the main and on the
    /// `/metrics` listener. Not read from the environment.
    pub header_read_timeout: Duration,
    /// How often a running server reads the signing keys from the database, so that a key
    /// added by `rotate-keys` (on any instance) is published without a restart (60 s). Not
    /// read from the environment.
    pub key_reload_interval: Duration,
    /// How long a key added by `rotate-keys` is published before it signs
    /// ([`DEFAULT_KEY_ACTIVATION_DELAY`]: 6 min). Not read from the environment.
    pub key_activation_delay: Duration,
    /// `AUTHKIT_CONFIG`: the configuration file read, if any.
    pub config_file: Option<PathBuf>,
}

/// Default of [`ServerConfig::key_reload_interval`].
pub const DEFAULT_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// Default of [`ServerConfig::key_activation_delay`]: core's
/// [`DEFAULT_ACTIVATION_DELAY`](authkit_core::jwt::DEFAULT_ACTIVATION_DELAY) (5 min, how long
/// verifiers may cache the JWKS) plus [`DEFAULT_KEY_RELOAD_INTERVAL`]: an instance that has not
/// reloaded yet serves the JWKS without the new key for up to a reload interval, and a verifier
/// may cache that copy for 5 more minutes.
pub const DEFAULT_KEY_ACTIVATION_DELAY: Duration = Duration::from_secs(6 * 60);

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("database_url", &self.database_url)
            .field("bind", &self.bind)
            .field("metrics_bind", &self.metrics_bind)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url)
            .field("mail_from", &self.mail_from.to_string())
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field(
                "rate_limit_auth_per_minute",
                &self.rate_limit_auth_per_minute,
            )
            .field("require_verified_email", &self.require_verified_email)
            .field("log_format", &self.log_format)
            .field("default_locale", &self.default_locale)
            .field("email_templates", &self.email_templates)
            .field("rate_limit_store", &self.rate_limit_store)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cors_origins", &self.cors_origins)
            .field("login_throttle_failures", &self.login_throttle_failures)
            .field(
                "forgot_per_address_per_hour",
                &self.forgot_per_address_per_hour,
            )
            .field("request_timeout", &self.request_timeout)
            .field("session_cache_ttl", &self.session_cache_ttl)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("session_retention_days", &self.session_retention_days)
            .field("outbox_max_attempts", &self.outbox_max_attempts)
            .field("outbox_retry", &self.outbox_retry)
            .field("argon2_memory_kib", &self.argon2.m_cost)
            .field("argon2_iterations", &self.argon2.t_cost)
            // Pepper ids only: `Pepper`'s Debug redacts the key, but say so explicitly.
            .field(
                "password_pepper",
                &self.argon2.pepper.as_ref().map(Pepper::id),
            )
            .field(
                "retired_peppers",
                &self
                    .argon2
                    .retired_peppers
                    .iter()
                    .map(Pepper::id)
                    .collect::<Vec<_>>(),
            )
            .field("config_file", &self.config_file)
            .field("key_reload_interval", &self.key_reload_interval)
            .field("key_activation_delay", &self.key_activation_delay)
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    /// The zero-configuration settings (what an empty environment gives).
    fn default() -> Self {
        Self {
            database_url: DatabaseUrl {
                raw: SecretString::from(DEFAULT_DATABASE_URL),
                backend: DatabaseBackend::Sqlite,
            },
            bind: DEFAULT_BIND,
            metrics_bind: None,
            public_url: DEFAULT_PUBLIC_URL.to_owned(),
            smtp_url: None,
            mail_from: default_mail_from(),
            jwt_secret: None,
            issuer: DEFAULT_PUBLIC_URL.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            rate_limit_auth_per_minute: DEFAULT_RATE_LIMIT_AUTH_PER_MINUTE,
            rate_limit_store: None,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            login_throttle_failures: DEFAULT_LOGIN_THROTTLE_FAILURES,
            forgot_per_address_per_hour: DEFAULT_FORGOT_PER_ADDRESS_PER_HOUR,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            session_cache_ttl: DEFAULT_SESSION_CACHE_TTL,
            audit_retention_days: None,
            session_retention_days: DEFAULT_SESSION_RETENTION_DAYS,
            require_verified_email: false,
            log_format: None,
            default_locale: Locale::english(),
            email_templates: None,
            outbox_max_attempts: OutboxConfig::default().max_attempts,
            outbox_retry: OutboxConfig::default().retry_initial.unsigned_abs(),
            argon2: Argon2Config {
                m_cost: DEFAULT_ARGON2_MEMORY_KIB,
                t_cost: DEFAULT_ARGON2_ITERATIONS,
                ..Argon2Config::default()
            },
            ready_timeout: Duration::from_secs(2),
            smtp_timeout: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            key_reload_interval: DEFAULT_KEY_RELOAD_INTERVAL,
            key_activation_delay: DEFAULT_KEY_ACTIVATION_DELAY,
            config_file: None,
        }
    }
}

fn default_mail_from() -> Mailbox {
    // A constant that parses; the fallback is never taken.
    Mailbox::from_str(DEFAULT_MAIL_FROM).unwrap_or_else(|_| {
        Mailbox::new(
            None,
            lettre::Address::new_dangerous("no-reply", "localhost"),
        )
    })
}

impl ServerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(|var| match std::env::var(var) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::NotUnicode { var }),
        })
    }

    /// Reads the given `(name, value)` pairs as if they were the environment.
    ///
    /// ```
    /// let config = authkit_server::ServerConfig::from_vars([("AUTHKIT_BIND", "127.0.0.1:0")])?;
    /// assert_eq!(config.bind.port(), 0);
    /// # Ok::<(), authkit_server::ConfigError>(())
    /// ```
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .collect();
        Self::parse(|var| Ok(map.get(var).cloned()))
    }

    /// Reads the settings `get` gives (the environment's values), over those of the file
    /// `AUTHKIT_CONFIG` names, if any.
    fn parse(
        get: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        // Empty values count as unset (`AUTHKIT_SMTP_URL=` in a compose file means "none").
        let env = |var| get(var).map(|v| v.filter(|v| !v.trim().is_empty()));
        let file = match env(vars::CONFIG)? {
            Some(path) => Some(file::ConfigFile::load(std::path::Path::new(path.trim()))?),
            None => None,
        };
        let Some(file) = file else {
            return Self::parse_settings(env);
        };
        let from_file = |var: &'static str| -> bool {
            matches!(env(var), Ok(None)) && file.get(var).is_some_and(|v| !v.trim().is_empty())
        };
        let layered = |var: &'static str| match env(var)? {
            Some(value) => Ok(Some(value)),
            None => Ok(file
                .get(var)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)),
        };
        let mut config = Self::parse_settings(layered).map_err(|error| {
            if from_file(error.var()) {
                file.blame(error)
            } else {
                error
            }
        })?;
        config.config_file = Some(file.path().to_owned());
        Ok(config)
    }

    /// Reads every setting from `get` (values already filtered: `None` when unset or empty).
    fn parse_settings(
        get: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let database_url = match get(vars::DATABASE_URL)? {
            Some(v) => DatabaseUrl::parse(v.trim())?,
            None => defaults.database_url,
        };
        let bind = match get(vars::BIND)? {
            Some(v) => v.trim().parse().map_err(|e| ConfigError::Invalid {
                var: vars::BIND,
                value: v.clone(),
                problem: format!("not a socket address ({e})"),
                fix: "use IP:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::]:8080",
            })?,
            None => defaults.bind,
        };
        let metrics_bind = match get(vars::METRICS_BIND)? {
            Some(v) => Some(v.trim().parse().map_err(|e| ConfigError::Invalid {
                var: vars::METRICS_BIND,
                value: v.clone(),
                problem: format!("not a socket address ({e})"),
                fix: "use IP:PORT, e.g. 127.0.0.1:9090, or unset it to serve /metrics on \
                      AUTHKIT_BIND",
            })?),
            None => None,
        };
        let public_url = match get(vars::PUBLIC_URL)? {
            Some(v) => parse_public_url(v.trim())?,
            None => defaults.public_url,
        };
        let smtp_url = get(vars::SMTP_URL)?
            .map(|v| SmtpUrl::parse(v.trim()))
            .transpose()?;
        let mail_from = match get(vars::MAIL_FROM)? {
            Some(v) => Mailbox::from_str(v.trim()).map_err(|e| ConfigError::Invalid {
                var: vars::MAIL_FROM,
                value: v.clone(),
                problem: format!("not an email address ({e})"),
                fix: "use an address such as `Example <no-reply@example.com>` or `no-reply@example.com`",
            })?,
            None => defaults.mail_from,
        };
        // The secret is taken byte for byte: no trimming, whitespace included.
        let jwt_secret = get(vars::JWT_SECRET)?;
        if let Some(secret) = &jwt_secret {
            if SAMPLE_JWT_SECRETS.contains(&secret.as_str()) {
                return Err(ConfigError::JwtSecretIsSample);
            }
            if secret.len() < MIN_HS256_SECRET_BYTES {
                return Err(ConfigError::JwtSecretTooShort { len: secret.len() });
            }
        }
        let jwt_secret = jwt_secret.map(SecretString::from);
        let issuer = get(vars::ISSUER)?
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| public_url.clone());
        let audience = get(vars::AUDIENCE)?
            .map(|v| v.trim().to_owned())
            .unwrap_or(defaults.audience);
        let rate_limit_per_minute = match get(vars::RATE_LIMIT_PER_MINUTE)? {
            Some(v) => parse_per_minute(vars::RATE_LIMIT_PER_MINUTE, &v)?,
            None => defaults.rate_limit_per_minute,
        };
        let rate_limit_auth_per_minute = match get(vars::RATE_LIMIT_AUTH_PER_MINUTE)? {
            Some(v) => parse_per_minute(vars::RATE_LIMIT_AUTH_PER_MINUTE, &v)?,
            None => defaults.rate_limit_auth_per_minute,
        };
        let rate_limit_store = match get(vars::RATE_LIMIT_STORE)? {
            Some(v) => Some(match v.trim().to_ascii_lowercase().as_str() {
                "memory" => RateLimitBackend::Memory,
                "database" => RateLimitBackend::Database,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: vars::RATE_LIMIT_STORE,
                        value: v.clone(),
                        problem: "unknown rate-limit store".to_owned(),
                        fix: "use memory (one instance) or database (several instances share \
                              the counters), or unset it for the default",
                    });
                }
            }),
            None => None,
        };
        let trusted_proxies = match get(vars::TRUSTED_PROXIES)? {
            Some(v) => parse_trusted_proxies(&v)?,
            None => defaults.trusted_proxies,
        };
        let cors_origins = match get(vars::CORS_ORIGINS)? {
            Some(v) => parse_cors_origins(&v)?,
            None => defaults.cors_origins,
        };
        let login_throttle_failures = match get(vars::LOGIN_THROTTLE_FAILURES)? {
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n < LoginThrottle::default().max_failures => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: vars::LOGIN_THROTTLE_FAILURES,
                        value: v.clone(),
                        problem: "not a whole number below 100".to_owned(),
                        fix: "use a number of failures such as 10, or 0 to turn the throttle off",
                    });
                }
            },
            None => defaults.login_throttle_failures,
        };
        let forgot_per_address_per_hour = match get(vars::FORGOT_PER_ADDRESS_PER_HOUR)? {
            Some(v) => v.trim().parse::<u32>().map_err(|e| ConfigError::Invalid {
                var: vars::FORGOT_PER_ADDRESS_PER_HOUR,
                value: v.clone(),
                problem: format!("not a whole number of emails per hour ({e})"),
                fix: "use a whole number such as 5, or 0 to turn the limit off",
            })?,
            None => defaults.forgot_per_address_per_hour,
        };
        let request_timeout = match get(vars::REQUEST_TIMEOUT_SECONDS)? {
            Some(v) => Duration::from_secs(whole_number(
                vars::REQUEST_TIMEOUT_SECONDS,
                &v,
                1..=600,
                " of seconds",
                "use a number of seconds such as 15",
            )?),
            None => defaults.request_timeout,
        };
        let max_session_cache_ttl = AuthConfig::default().access_token_ttl.unsigned_abs();
        let session_cache_ttl = match get(vars::SESSION_CACHE_TTL_MS)? {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if Duration::from_millis(n) <= max_session_cache_ttl => {
                    Duration::from_millis(n)
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        var: vars::SESSION_CACHE_TTL_MS,
                        value: v.clone(),
                        problem: format!(
                            "not a whole number of milliseconds between 0 and {} (the \
                             access-token lifetime)",
                            max_session_cache_ttl.as_millis()
                        ),
                        fix: "use a number of milliseconds such as 1000, or 0 to turn the \
                              session cache off",
                    });
                }
            },
            None => defaults.session_cache_ttl,
        };
        let audit_retention_days = match get(vars::AUDIT_RETENTION_DAYS)? {
            Some(v) => Some(whole_number(
                vars::AUDIT_RETENTION_DAYS,
                &v,
                1..=MAX_AUDIT_RETENTION_DAYS,
                " of days",
                "use a number of days such as 365, or unset it to keep every event",
            )?),
            None => defaults.audit_retention_days,
        };
        let session_retention_days = match get(vars::SESSION_RETENTION_DAYS)? {
            Some(v) => whole_number(
                vars::SESSION_RETENTION_DAYS,
                &v,
                0..=MAX_SESSION_RETENTION_DAYS,
                " of days",
                "use a number of days such as 30, or unset it for 7",
            )?,
            None => defaults.session_retention_days,
        };
        let argon2 = parse_argon2(&get, defaults.argon2)?;
        let require_verified_email = match get(vars::REQUIRE_VERIFIED_EMAIL)? {
            Some(v) => parse_bool(vars::REQUIRE_VERIFIED_EMAIL, &v)?,
            None => defaults.require_verified_email,
        };
        let log_format = match get(vars::LOG_FORMAT)? {
            Some(v) => Some(match v.trim().to_ascii_lowercase().as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: vars::LOG_FORMAT,
                        value: v.clone(),
                        problem: "unknown log format".to_owned(),
                        fix: "use pretty or json, or unset it (pretty on a terminal, else json)",
                    });
                }
            }),
            None => None,
        };
        let default_locale = match get(vars::DEFAULT_LOCALE)? {
            Some(v) => Locale::parse(&v).ok_or_else(|| ConfigError::Invalid {
                var: vars::DEFAULT_LOCALE,
                value: v.clone(),
                problem: "not a language tag".to_owned(),
                fix: "use a tag such as en, fr or pt-BR",
            })?,
            None => defaults.default_locale,
        };
        let email_templates = match get(vars::EMAIL_TEMPLATES)? {
            Some(v) => {
                let dir = PathBuf::from(v.trim());
                if !dir.is_dir() {
                    return Err(ConfigError::Invalid {
                        var: vars::EMAIL_TEMPLATES,
                        value: v.clone(),
                        problem: "not a folder".to_owned(),
                        fix: "point it at a folder holding <locale>/<kind>.<subject|txt|html> \
                              files, or unset it for the built-in English templates",
                    });
                }
                Some(dir)
            }
            None => None,
        };
        let outbox_max_attempts = match get(vars::OUTBOX_MAX_ATTEMPTS)? {
            Some(v) => whole_number(
                vars::OUTBOX_MAX_ATTEMPTS,
                &v,
                1..=100,
                "",
                "use a number of attempts such as 5",
            )?,
            None => defaults.outbox_max_attempts,
        };
        let outbox_retry = match get(vars::OUTBOX_RETRY_SECONDS)? {
            Some(v) => Duration::from_secs(whole_number(
                vars::OUTBOX_RETRY_SECONDS,
                &v,
                1..=3600,
                " of seconds",
                "use a number of seconds such as 30",
            )?),
            None => defaults.outbox_retry,
        };
        let config = Self {
            database_url,
            bind,
            metrics_bind,
            public_url,
            smtp_url,
            mail_from,
            jwt_secret,
            issuer,
            audience,
            rate_limit_per_minute,
            rate_limit_auth_per_minute,
            rate_limit_store,
            trusted_proxies,
            cors_origins,
            login_throttle_failures,
            forgot_per_address_per_hour,
            request_timeout,
            session_cache_ttl,
            audit_retention_days,
            session_retention_days,
            require_verified_email,
            log_format,
            default_locale,
            email_templates,
            outbox_max_attempts,
            outbox_retry,
            argon2,
            ..defaults
        };
        config.check()?;
        Ok(config)
    }

    /// Checks what core checks too (issuer, audience, public URL, CORS origins, request
    /// timeout, session cache, login throttle), naming the variable.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.auth_config().validate().map_err(|e| {
            let (var, value, fix) = match e.field {
                "issuer" => (
                    vars::ISSUER,
                    self.issuer.clone(),
                    "set a non-empty issuer or unset it",
                ),
                "audience" => (
                    vars::AUDIENCE,
                    self.audience.clone(),
                    "set a non-empty audience or unset it",
                ),
                "cors_origins" => (
                    vars::CORS_ORIGINS,
                    // An entry with `user:password@` is refused: never echo the password.
                    self.cors_origins
                        .iter()
                        .map(|o| {
                            if o.contains('@') {
                                redact_url(o)
                            } else {
                                o.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    "list exact origins such as https://app.example.com,http://localhost:3000 \
                     (scheme, host, optional port; no path, no *), or unset it",
                ),
                "request_timeout" => (
                    vars::REQUEST_TIMEOUT_SECONDS,
                    self.request_timeout.as_secs().to_string(),
                    "use a number of seconds such as 15",
                ),
                "session_cache_ttl" => (
                    vars::SESSION_CACHE_TTL_MS,
                    self.session_cache_ttl.as_millis().to_string(),
                    "use a number of milliseconds such as 1000, or 0 to turn the session cache \
                     off",
                ),
                "limits.login_throttle" => (
                    vars::LOGIN_THROTTLE_FAILURES,
                    self.login_throttle_failures.to_string(),
                    "use a number of failures below 100 such as 10, or 0 to turn it off",
                ),
                "public_url" => (
                    vars::PUBLIC_URL,
                    self.public_url.clone(),
                    "use the http:// or https:// address clients reach the server at",
                ),
                _ => (
                    vars::PUBLIC_URL,
                    self.public_url.clone(),
                    "check the configuration",
                ),
            };
            ConfigError::Invalid {
                var,
                value,
                problem: e.reason,
                fix,
            }
        })
    }

    /// Where rate-limit counters live: `AUTHKIT_RATE_LIMIT_STORE`, else the database on
    /// PostgreSQL (instances share it) and memory on SQLite (one instance).
    pub fn rate_limit_backend(&self) -> RateLimitBackend {
        self.rate_limit_store
            .unwrap_or(match self.database_url.backend() {
                DatabaseBackend::Postgres => RateLimitBackend::Database,
                DatabaseBackend::Sqlite => RateLimitBackend::Memory,
            })
    }

    /// The core settings these values select.
    pub fn auth_config(&self) -> AuthConfig {
        let retry = authkit_core::time::Duration::try_from(self.outbox_retry)
            .unwrap_or(authkit_core::time::Duration::seconds(30));
        // One SMTP delivery makes several exchanges, each bounded by the SMTP timeout; the
        // whole attempt gets five of them, and the claim outlives it by a minute.
        let send_timeout = authkit_core::time::Duration::try_from(self.smtp_timeout * 5)
            .unwrap_or(authkit_core::time::Duration::minutes(2));
        AuthConfig {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            public_url: self.public_url.clone(),
            require_verified_email: self.require_verified_email,
            default_locale: self.default_locale.clone(),
            limits: LimitsConfig {
                per_ip: RateLimit::per_minute(self.rate_limit_per_minute),
                per_ip_credentials: RateLimit::per_minute(self.rate_limit_auth_per_minute),
                emails_per_address_hourly: RateLimit::per_hour(self.forgot_per_address_per_hour),
                login_throttle: LoginThrottle {
                    free_failures: self.login_throttle_failures,
                    ..LoginThrottle::default()
                },
                trusted_proxies: self.trusted_proxies.clone(),
                ..LimitsConfig::default()
            },
            cors_origins: self.cors_origins.clone(),
            request_timeout: self.request_timeout,
            session_cache_ttl: self.session_cache_ttl,
            audit_retention: self
                .audit_retention_days
                .map(|days| authkit_core::time::Duration::days(i64::from(days))),
            session_retention: authkit_core::time::Duration::days(i64::from(
                self.session_retention_days,
            )),
            outbox: OutboxConfig {
                max_attempts: self.outbox_max_attempts,
                retry_initial: retry,
                retry_max: retry.max(authkit_core::time::Duration::hours(1)),
                send_timeout,
                lease: send_timeout + authkit_core::time::Duration::minutes(1),
                ..OutboxConfig::default()
            },
            ..AuthConfig::default()
        }
    }

    /// The rate limits and where they are counted, for logs and `check-config`.
    pub fn rate_limit_description(&self) -> String {
        let rate = |n: u32| match n {
            0 => "off".to_owned(),
            n => format!("{n}/min"),
        };
        format!(
            "per IP {} on all API routes, {} on credential routes; counters in {}",
            rate(self.rate_limit_per_minute),
            rate(self.rate_limit_auth_per_minute),
            match self.rate_limit_backend() {
                RateLimitBackend::Memory => "memory (this instance only)",
                RateLimitBackend::Database => "the database (shared by instances)",
            }
        )
    }

    /// The hashing parameters and pepper ids (never the keys), for `check-config`.
    pub fn hashing_description(&self) -> String {
        let a = &self.argon2;
        let mut text = format!(
            "argon2id m={} KiB, t={}, p={}",
            a.m_cost, a.t_cost, a.p_cost
        );
        match &a.pepper {
            Some(p) => text.push_str(&format!(", pepper `{}`", p.id())),
            None => text.push_str(", no pepper"),
        }
        if !a.retired_peppers.is_empty() {
            let ids: Vec<String> = a
                .retired_peppers
                .iter()
                .map(|p| format!("`{}`", p.id()))
                .collect();
            text.push_str(&format!(", retired peppers {}", ids.join(", ")));
        }
        text
    }

    /// How access tokens are signed, for logs and `check-config`.
    pub fn signing_description(&self) -> &'static str {
        if self.jwt_secret.is_some() {
            "HS256 with AUTHKIT_JWT_SECRET"
        } else {
            "EdDSA (Ed25519 key kept in the database, published at /.well-known/jwks.json)"
        }
    }

    /// When stored keys start signing and stop verifying: after
    /// [`ServerConfig::key_activation_delay`], and the access-token lifetime plus the leeway
    /// after their successor started.
    pub fn rotation_policy(&self) -> RotationPolicy {
        let auth = self.auth_config();
        RotationPolicy::new(
            authkit_core::time::Duration::try_from(self.key_activation_delay)
                .unwrap_or(authkit_core::jwt::DEFAULT_ACTIVATION_DELAY),
            auth.access_token_ttl,
            auth.leeway_secs,
        )
    }

    /// Where emails go, for logs and `check-config` (passwords hidden).
    pub fn mail_description(&self) -> String {
        match &self.smtp_url {
            Some(url) => format!("SMTP {url}, from {}", self.mail_from),
            None => "written to the log (AUTHKIT_SMTP_URL is unset)".to_owned(),
        }
    }

    /// One `(name, value)` line per setting, without secrets (for `check-config`).
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let policy = self.rotation_policy();
        vec![
            (
                "configuration file",
                match &self.config_file {
                    Some(path) => format!(
                        "{} (the environment overrides it, setting by setting)",
                        path.display()
                    ),
                    None => "none (the environment only; AUTHKIT_CONFIG is unset)".to_owned(),
                },
            ),
            ("database", self.database_url.to_string()),
            ("bind", self.bind.to_string()),
            (
                "metrics",
                match self.metrics_bind {
                    Some(addr) => format!("/metrics on {addr} only"),
                    None => "/metrics on the main listener".to_owned(),
                },
            ),
            ("public URL", self.public_url.clone()),
            ("email", self.mail_description()),
            ("signing", self.signing_description().to_owned()),
            (
                "key rotation",
                if self.jwt_secret.is_some() {
                    "not with HS256 (rotate-keys refuses; see its --help)".to_owned()
                } else {
                    format!(
                        "`rotate-keys` adds a key: instances load it within {} s, sign with it \
                         {} s after it was added, and keep the previous one {} s more",
                        self.key_reload_interval.as_secs(),
                        policy.activation_delay.whole_seconds(),
                        policy.verify_after_signing.whole_seconds()
                    )
                },
            ),
            ("issuer", self.issuer.clone()),
            ("audience", self.audience.clone()),
            ("rate limits", self.rate_limit_description()),
            (
                "trusted proxies",
                if self.trusted_proxies.is_empty() {
                    "none (the connection's address is the client)".to_owned()
                } else {
                    self.trusted_proxies
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            (
                "CORS origins",
                if self.cors_origins.is_empty() {
                    "none (same-origin only)".to_owned()
                } else {
                    self.cors_origins.join(", ")
                },
            ),
            (
                "login throttle",
                match self.login_throttle_failures {
                    0 => "off".to_owned(),
                    n => format!(
                        "after {n} failed passwords per account, 1 s doubling up to 15 min \
                         between attempts"
                    ),
                },
            ),
            (
                "reset/verification emails",
                match self.forgot_per_address_per_hour {
                    0 => "no limit per address".to_owned(),
                    n => format!("at most 1/min and {n}/hour per address"),
                },
            ),
            (
                "request timeout",
                format!("{} s", self.request_timeout.as_secs()),
            ),
            (
                "session cache",
                if self.session_cache_ttl.is_zero() {
                    "off (every request reads its session)".to_owned()
                } else {
                    format!(
                        "{} ms (changes made by other instances or commands apply within it)",
                        self.session_cache_ttl.as_millis()
                    )
                },
            ),
            ("password hashing", self.hashing_description()),
            (
                "require verified email",
                self.require_verified_email.to_string(),
            ),
            (
                "email languages",
                match &self.email_templates {
                    Some(dir) => format!(
                        "default {}, templates from {} over the built-in English",
                        self.default_locale,
                        dir.display()
                    ),
                    None => format!(
                        "default {}, built-in English templates",
                        self.default_locale
                    ),
                },
            ),
            (
                "email delivery",
                format!(
                    "outbox, {} attempts, first retry after {} s (doubling, at most 1 h)",
                    self.outbox_max_attempts,
                    self.outbox_retry.as_secs()
                ),
            ),
            (
                "log format",
                match self.log_format {
                    Some(LogFormat::Pretty) => "pretty".to_owned(),
                    Some(LogFormat::Json) => "json".to_owned(),
                    None => "automatic (pretty on a terminal, else json)".to_owned(),
                },
            ),
        ]
    }
}

fn parse_public_url(raw: &str) -> Result<String, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        var: vars::PUBLIC_URL,
        // `https://user:password@host` is refused below: never echo the password.
        value: redact_url(raw),
        problem,
        fix: "use the http:// or https:// address clients reach the server at, e.g. https://auth.example.com",
    };
    let url = Url::parse(raw).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme must be http or https, not `{}`",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment is not allowed".to_owned()));
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(invalid("credentials are not allowed".to_owned()));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// A whole number in `range` (surrounding spaces allowed), or the error "not a whole
/// number{unit} between {start} and {end}" with `fix`.
fn whole_number<T>(
    var: &'static str,
    raw: &str,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
    fix: &'static str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
{
    match raw.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw.to_owned(),
            problem: format!(
                "not a whole number{unit} between {} and {}",
                range.start(),
                range.end()
            ),
            fix,
        }),
    }
}

fn parse_per_minute(var: &'static str, raw: &str) -> Result<u32, ConfigError> {
    raw.trim().parse::<u32>().map_err(|e| ConfigError::Invalid {
        var,
        value: raw.to_owned(),
        problem: format!("not a whole number of requests per minute ({e})"),
        fix: "use a whole number such as 100, or 0 to turn the limit off",
    })
}

/// `10.0.0.0/8, 127.0.0.1, ::1`: CIDRs, or bare addresses meaning that address alone.
fn parse_trusted_proxies(raw: &str) -> Result<Vec<IpNet>, ConfigError> {
    let mut proxies = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let net = entry
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| ConfigError::Invalid {
                var: vars::TRUSTED_PROXIES,
                value: raw.to_owned(),
                problem: format!("`{entry}` is neither an IP address nor a CIDR"),
                fix: "list your reverse proxies' addresses or networks, comma-separated, e.g. \
                      10.0.0.0/8,127.0.0.1 (never a network that clients can send from)",
            })?;
        if !proxies.contains(&net) {
            proxies.push(net);
        }
    }
    Ok(proxies)
}

/// `https://app.example.com, http://localhost:3000`: exact origins; `*` is refused here, other
/// shapes by core's check ([`ServerConfig::check`]).
fn parse_cors_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if origins.iter().any(|o| o.contains('*')) {
        return Err(ConfigError::Invalid {
            var: vars::CORS_ORIGINS,
            value: raw.to_owned(),
            problem: "`*` would let every site call the API with its users' cookies".to_owned(),
            fix: "list the exact origins of your front ends, e.g. https://app.example.com, or \
                  unset it for same-origin only",
        });
    }
    Ok(origins)
}

/// Decodes base64 (standard or URL-safe alphabet, padded or not). Whitespace around the value
/// (a trailing newline from a secret file) is ignored.
fn decode_key(raw: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let raw = raw.trim();
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(raw)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(raw))
        .ok()
}

const PEPPER_FIX: &str = "generate one with `openssl rand -base64 32` and keep it in a secret \
                          store; never reuse the JWT secret";

/// A pepper from `key` (base64) named `id`; errors name `var` and never show the key.
fn parse_pepper(var: &'static str, id: &str, key: &str) -> Result<Pepper, ConfigError> {
    let secret =
        |problem: String, fix: &'static str| ConfigError::InvalidSecret { var, problem, fix };
    let bytes = decode_key(key).ok_or_else(|| {
        secret(
            format!("the key of pepper `{id}` is not base64"),
            PEPPER_FIX,
        )
    })?;
    if bytes.len() < 32 {
        return Err(secret(
            format!(
                "the key of pepper `{id}` is {} bytes long but must be at least 32",
                bytes.len()
            ),
            PEPPER_FIX,
        ));
    }
    Pepper::new(id, SecretSlice::from(bytes))
        .map_err(|e| secret(format!("pepper `{id}`: {e}"), PEPPER_FIX))
}

/// What [`Pepper::new`] accepts as an id: 1 to 8 characters of `A-Za-z0-9_-`.
fn is_pepper_id(id: &str) -> bool {
    (1..=8).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `AUTHKIT_ARGON2_*`, `AUTHKIT_PASSWORD_PEPPER(_ID)` and `AUTHKIT_RETIRED_PEPPERS` over
/// `config`.
fn parse_argon2(
    get: &impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    mut config: Argon2Config,
) -> Result<Argon2Config, ConfigError> {
    let memory = get(vars::ARGON2_MEMORY_KIB)?;
    let iterations = get(vars::ARGON2_ITERATIONS)?;
    if let Some(v) = &iterations {
        config.t_cost = whole_number(
            vars::ARGON2_ITERATIONS,
            v,
            1..=MAX_ARGON2_ITERATIONS,
            "",
            "use 2 (with 19456 KiB), or unset it",
        )?;
    }
    if let Some(v) = &memory {
        config.m_cost = match v.trim().parse::<u32>() {
            Ok(n) if n <= MAX_ARGON2_MEMORY_KIB => n,
            _ => {
                return Err(ConfigError::Invalid {
                    var: vars::ARGON2_MEMORY_KIB,
                    value: v.clone(),
                    problem: "not a whole number of KiB up to 4194304 (4 GiB)".to_owned(),
                    fix: "use 19456 (19 MiB, with 2 iterations), or unset it",
                });
            }
        };
    }
    let floor = min_argon2_memory_kib(config.t_cost).unwrap_or(u32::MAX);
    if config.m_cost < floor {
        // Name the variable that was set (the memory one when both, or neither, were).
        let (var, value) = match (&memory, &iterations) {
            (None, Some(t)) => (vars::ARGON2_ITERATIONS, t.clone()),
            _ => (vars::ARGON2_MEMORY_KIB, config.m_cost.to_string()),
        };
        return Err(ConfigError::Invalid {
            var,
            value,
            problem: format!(
                "m={} KiB with t={} is weaker than OWASP's minimum ({floor} KiB with {} \
                 iterations)",
                config.m_cost, config.t_cost, config.t_cost
            ),
            fix: "raise AUTHKIT_ARGON2_MEMORY_KIB or AUTHKIT_ARGON2_ITERATIONS to a pair at \
                  least as strong as t=1: 47104, t=2: 19456, t=3: 12288, t=4: 9216, t>=5: 7168 \
                  KiB",
        });
    }

    let pepper_id = get(vars::PASSWORD_PEPPER_ID)?.map(|v| v.trim().to_owned());
    if let Some(id) = &pepper_id
        && !is_pepper_id(id)
    {
        return Err(ConfigError::Invalid {
            var: vars::PASSWORD_PEPPER_ID,
            value: id.clone(),
            problem: "not 1 to 8 characters of A-Z, a-z, 0-9, _ or -".to_owned(),
            fix: "use a short name such as p1, and a new one (p2) for each new pepper",
        });
    }
    // The key is a secret: never shown.
    match get(vars::PASSWORD_PEPPER)? {
        Some(key) => {
            let id = pepper_id.as_deref().unwrap_or(DEFAULT_PEPPER_ID);
            config.pepper = Some(parse_pepper(vars::PASSWORD_PEPPER, id, &key)?);
        }
        None => {
            if let Some(id) = pepper_id {
                return Err(ConfigError::Invalid {
                    var: vars::PASSWORD_PEPPER_ID,
                    value: id,
                    problem: "set without AUTHKIT_PASSWORD_PEPPER".to_owned(),
                    fix: "set AUTHKIT_PASSWORD_PEPPER too, or unset AUTHKIT_PASSWORD_PEPPER_ID",
                });
            }
        }
    }
    if let Some(raw) = get(vars::RETIRED_PEPPERS)? {
        let fix = "list older peppers as id:base64,id:base64 (ids of 1 to 8 characters of \
                   A-Z, a-z, 0-9, _ or -, each different from the others and from \
                   AUTHKIT_PASSWORD_PEPPER_ID)";
        for (n, entry) in raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let Some((id, key)) = entry.split_once(':') else {
                return Err(ConfigError::InvalidSecret {
                    var: vars::RETIRED_PEPPERS,
                    problem: format!("entry {} is not id:base64", n + 1),
                    fix,
                });
            };
            let id = id.trim();
            if !is_pepper_id(id) {
                // Not shown: a reversed `key:id` would print the key.
                return Err(ConfigError::InvalidSecret {
                    var: vars::RETIRED_PEPPERS,
                    problem: format!("entry {} has an invalid id", n + 1),
                    fix,
                });
            }
            let taken = config.pepper.iter().chain(&config.retired_peppers);
            if taken.map(Pepper::id).any(|t| t == id) {
                return Err(ConfigError::InvalidSecret {
                    var: vars::RETIRED_PEPPERS,
                    problem: format!("two peppers are named `{id}`"),
                    fix,
                });
            }
            config
                .retired_peppers
                .push(parse_pepper(vars::RETIRED_PEPPERS, id, key)?);
        }
    }
    Ok(config)
}

fn parse_bool(var: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw.to_owned(),
            problem: "not a boolean".to_owned(),
            fix: "use true, false, 1 or 0",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_vars(pairs.iter().copied())
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("postgres://authkit:s3cret@db:5432/authkit"),
            "postgres://authkit:***@db:5432/authkit"
        );
        assert_eq!(
            redact_url("postgres://db/authkit?user=a&password=s3cret"),
            "postgres://db/authkit?user=a&password=***"
        );
        assert_eq!(
            redact_url("smtps://me%40x.org:p%40ss@mail.x.org:465"),
            "smtps://me%40x.org:***@mail.x.org:465"
        );
        assert_eq!(redact_url("sqlite://authkit.db"), "sqlite://authkit.db");
        assert_eq!(redact_url("not a url:s3cret@"), "[unparsable URL]");
        assert_eq!(redact_url("user:s3cret@host"), "[unparsable URL]");
    }

    #[test]
    fn sqlite_paths() {
        let path = |raw: &str| DatabaseUrl::parse(raw).unwrap().sqlite_path();
        assert_eq!(path("sqlite://authkit.db"), Some("authkit.db".into()));
        assert_eq!(
            path("sqlite:authkit.db?mode=rwc"),
            Some("authkit.db".into())
        );
        assert_eq!(path("sqlite:///var/lib/a.db"), Some("/var/lib/a.db".into()));
        assert_eq!(path("sqlite::memory:"), None);
        assert_eq!(path("postgres://u:p@h/db"), None);
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn smtp_urls() {
        for ok in [
            "smtp://localhost:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:pass@mail.example.com",
        ] {
            assert!(SmtpUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://mail.example.com",
            "smtp://mail.example.com?tls=yes",
            "smtp://",
            "mail.example.com:25",
        ] {
            let err = SmtpUrl::parse(bad).unwrap_err();
            assert_eq!(err.var(), vars::SMTP_URL, "{bad}");
        }
        let url = SmtpUrl::parse("smtp://u:hunter22@h:25").unwrap();
        assert!(url.sends_password_in_clear());
        assert!(!format!("{url} {url:?}").contains("hunter22"));
        assert!(
            !SmtpUrl::parse("smtp://u:p@h:587?tls=required")
                .unwrap()
                .sends_password_in_clear()
        );
        assert!(
            SmtpUrl::parse("smtp://u:p@h:587?tls=opportunistic")
                .unwrap()
                .sends_password_in_clear()
        );
    }

    /// Whatever `check-config` accepts, the mailer of `serve` accepts too: both read the URL
    /// with authkit-smtp's parser.
    #[test]
    fn smtp_urls_accepted_here_build_a_mailer() {
        for ok in [
            "smtp://localhost:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:pass@mail.example.com",
            "smtps://mail.example.com?tls=required",
            "smtp://[::1]:2525/client.example.com",
        ] {
            let url = SmtpUrl::parse(ok).unwrap();
            crate::mail::smtp_mailer(&url, DEFAULT_MAIL_FROM, Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            (vars::DATABASE_URL, "mysql://localhost/authkit"),
            (vars::BIND, "localhost:8080"),
            (vars::PUBLIC_URL, "ftp://example.com"),
            (vars::PUBLIC_URL, "example.com"),
            (vars::SMTP_URL, "smtp://"),
            (vars::MAIL_FROM, "not an address"),
            (vars::JWT_SECRET, "short"),
            (vars::JWT_SECRET, SAMPLE_JWT_SECRETS[0]),
            (vars::RATE_LIMIT_PER_MINUTE, "lots"),
            (vars::RATE_LIMIT_AUTH_PER_MINUTE, "-1"),
            (vars::RATE_LIMIT_STORE, "redis"),
            (vars::TRUSTED_PROXIES, "10.0.0.0/33"),
            (vars::CORS_ORIGINS, "*"),
            (vars::CORS_ORIGINS, "https://app.example.com/path"),
            (vars::LOGIN_THROTTLE_FAILURES, "100"),
            (vars::FORGOT_PER_ADDRESS_PER_HOUR, "five"),
            (vars::REQUEST_TIMEOUT_SECONDS, "0"),
            (vars::SESSION_CACHE_TTL_MS, "1s"),
            (vars::SESSION_CACHE_TTL_MS, "900001"),
            (vars::PASSWORD_PEPPER, "c2hvcnQ="),
            (vars::PASSWORD_PEPPER_ID, "p1"),
            (vars::RETIRED_PEPPERS, "p0"),
            (vars::ARGON2_MEMORY_KIB, "1024"),
            (vars::ARGON2_ITERATIONS, "1"),
            (vars::REQUIRE_VERIFIED_EMAIL, "yes please"),
            (vars::LOG_FORMAT, "xml"),
            (vars::CONFIG, "/etc/authkit.toml"),
        ];
        for (var, value) in cases {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var(), *var, "{var}={value}: {err}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn every_setting_read_is_listed_and_every_listed_one_is_read() {
        let read = std::sync::Mutex::new(Vec::new());
        ServerConfig::parse(|var| {
            read.lock().unwrap().push(var);
            Ok(None)
        })
        .unwrap();
        let mut read = read.into_inner().unwrap();
        read.sort_unstable();
        read.dedup();
        let mut listed: Vec<&str> = vars::ALL.iter().map(|s| s.name).collect();
        listed.sort_unstable();
        assert_eq!(read, listed, "vars::ALL and what ServerConfig::parse reads");
        let mut unique = listed.clone();
        unique.dedup();
        assert_eq!(unique, listed, "a setting is listed twice");
    }

    #[test]
    fn secrets_never_reach_messages_or_debug() {
        let err = parse(&[(vars::DATABASE_URL, "mysql://u:hunter22@h/db")]).unwrap_err();
        assert!(!err.to_string().contains("hunter22"), "{err}");
        let err = parse(&[(vars::SMTP_URL, "smtp://u:hunter22@h?tls=nope")]).unwrap_err();
        assert!(!err.to_string().contains("hunter22"), "{err}");
        let config = parse(&[
            (
                vars::JWT_SECRET,
                "a-very-long-secret-value-hunter22-xxxxxxxxxx",
            ),
            (vars::DATABASE_URL, "postgres://u:hunter22@h/db"),
            (vars::SMTP_URL, "smtps://u:hunter22@h"),
        ])
        .unwrap();
        let shown = format!("{config:?} {:?}", config.summary());
        assert!(!shown.contains("hunter22"), "{shown}");
    }

    #[test]
    fn argon2_floor_follows_owasp() {
        let ok = |m: &str, t: &str| {
            parse(&[(vars::ARGON2_MEMORY_KIB, m), (vars::ARGON2_ITERATIONS, t)]).is_ok()
        };
        for (t, floor) in [
            (1, 47_104),
            (2, 19_456),
            (3, 12_288),
            (4, 9_216),
            (5, 7_168),
        ] {
            assert!(ok(&floor.to_string(), &t.to_string()), "t={t} m={floor}");
            assert!(
                !ok(&(floor - 1).to_string(), &t.to_string()),
                "t={t} m<{floor}"
            );
        }
        assert!(ok("7168", "9"));
        assert!(!ok("7167", "9"));
        assert!(!ok("65536", "0"));
    }
}
