//! Configuration from the environment: defaults, every variable, and errors that name the
//! variable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

use std::net::SocketAddr;

use authkit_server::config::{DatabaseBackend, SAMPLE_JWT_SECRETS, vars};
use authkit_server::{ConfigError, LogFormat, ServerConfig};
use secrecy::ExposeSecret;

fn parse(pairs: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
    ServerConfig::from_vars(pairs.iter().copied())
}

fn error_for(var: &str, value: &str) -> ConfigError {
    let error = parse(&[(var, value)]).expect_err(&format!("{var}={value} is refused"));
    assert_eq!(error.var(), var, "{var}={value}: {error}");
    let message = error.to_string();
    assert!(message.contains(var), "the message names {var}: {message}");
    error
}

#[test]
fn an_empty_environment_gives_the_documented_defaults() {
    let config = parse(&[]).unwrap();
    assert_eq!(config.database_url.expose(), "sqlite://authkit.db");
    assert_eq!(config.database_url.backend(), DatabaseBackend::Sqlite);
    assert_eq!(config.bind, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(config.public_url, "http://localhost:8080");
    assert!(config.smtp_url.is_none());
    assert_eq!(config.mail_from.to_string(), "authkit <no-reply@localhost>");
    assert!(config.jwt_secret.is_none());
    assert_eq!(config.issuer, "http://localhost:8080");
    assert_eq!(config.audience, "authkit");
    assert_eq!(config.rate_limit_per_minute, 100);
    assert_eq!(config.rate_limit_auth_per_minute, 5);
    assert!(!config.require_verified_email);
    assert_eq!(config.log_format, None);
    // Default::default() is the same as an empty environment.
    assert_eq!(
        format!("{config:?}"),
        format!("{:?}", ServerConfig::default())
    );
}

#[test]
fn every_variable_is_read() {
    let secret = "k4Q0-a-secret-that-is-long-enough-for-hs256";
    let config = parse(&[
        (
            vars::DATABASE_URL,
            "postgres://authkit:pw@db.internal:5432/auth",
        ),
        (vars::BIND, "0.0.0.0:9000"),
        (vars::PUBLIC_URL, "https://auth.example.com/"),
        (
            vars::SMTP_URL,
            "smtp://mailer:pw@mail.example.com:587?tls=required",
        ),
        (vars::MAIL_FROM, "Example <no-reply@example.com>"),
        (vars::JWT_SECRET, secret),
        (vars::AUDIENCE, "my-api"),
        (vars::RATE_LIMIT_PER_MINUTE, "0"),
        (vars::RATE_LIMIT_AUTH_PER_MINUTE, "20"),
        (vars::REQUIRE_VERIFIED_EMAIL, "TRUE"),
        (vars::LOG_FORMAT, "json"),
    ])
    .unwrap();
    assert_eq!(config.database_url.backend(), DatabaseBackend::Postgres);
    assert_eq!(
        config.database_url.to_string(),
        "postgres://authkit:***@db.internal:5432/auth"
    );
    assert_eq!(config.bind, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
    assert_eq!(
        config.public_url, "https://auth.example.com",
        "trailing slash dropped"
    );
    assert_eq!(
        config.smtp_url.as_ref().unwrap().to_string(),
        "smtp://mailer:***@mail.example.com:587?tls=required"
    );
    assert_eq!(
        config.mail_from.to_string(),
        "Example <no-reply@example.com>"
    );
    assert_eq!(config.jwt_secret.as_ref().unwrap().expose_secret(), secret);
    assert_eq!(
        config.issuer, "https://auth.example.com",
        "issuer defaults to the public URL"
    );
    assert_eq!(config.audience, "my-api");
    assert_eq!(config.rate_limit_per_minute, 0);
    assert_eq!(config.rate_limit_auth_per_minute, 20);
    assert!(config.require_verified_email);
    assert_eq!(config.log_format, Some(LogFormat::Json));

    let auth = config.auth_config();
    assert_eq!(auth.issuer, "https://auth.example.com");
    assert_eq!(auth.audience, "my-api");
    assert_eq!(auth.public_url, "https://auth.example.com");
    assert!(auth.require_verified_email);

    let issuer = parse(&[(vars::ISSUER, "https://issuer.example.com")]).unwrap();
    assert_eq!(issuer.issuer, "https://issuer.example.com");
    assert_eq!(issuer.public_url, "http://localhost:8080");
}

#[test]
fn booleans_and_formats_accept_their_spellings() {
    for (value, expected) in [("true", true), ("1", true), ("false", false), ("0", false)] {
        let config = parse(&[(vars::REQUIRE_VERIFIED_EMAIL, value)]).unwrap();
        assert_eq!(config.require_verified_email, expected, "{value}");
    }
    let pretty = parse(&[(vars::LOG_FORMAT, "pretty")]).unwrap();
    assert_eq!(pretty.log_format, Some(LogFormat::Pretty));
    for url in [
        "sqlite:authkit.db",
        "sqlite:///tmp/a.db",
        "sqlite::memory:",
        "postgresql://h/db",
    ] {
        assert!(parse(&[(vars::DATABASE_URL, url)]).is_ok(), "{url}");
    }
}

#[test]
fn empty_values_count_as_unset() {
    let config = parse(&[
        (vars::SMTP_URL, ""),
        (vars::JWT_SECRET, ""),
        (vars::BIND, " "),
    ])
    .unwrap();
    assert!(config.smtp_url.is_none());
    assert!(config.jwt_secret.is_none());
    assert_eq!(config.bind.port(), 8080);
}

#[test]
fn a_short_jwt_secret_is_refused() {
    let error = error_for(vars::JWT_SECRET, "too-short-secret");
    assert!(matches!(error, ConfigError::JwtSecretTooShort { len: 16 }));
    assert!(error.to_string().contains("32"), "{error}");
    // 31 bytes refused, 32 accepted.
    error_for(vars::JWT_SECRET, &"x".repeat(31));
    assert!(parse(&[(vars::JWT_SECRET, &"x".repeat(32))]).is_ok());
}

#[test]
fn documented_sample_secrets_are_refused() {
    for sample in SAMPLE_JWT_SECRETS {
        let error = error_for(vars::JWT_SECRET, sample);
        assert!(matches!(error, ConfigError::JwtSecretIsSample), "{error}");
    }
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(SAMPLE_JWT_SECRETS[0]),
        "the README shows the refused sample"
    );
}

#[test]
fn bad_values_name_the_variable_and_the_fix() {
    let cases = [
        (vars::DATABASE_URL, "mysql://localhost/authkit"),
        (vars::DATABASE_URL, "authkit.db"),
        (vars::DATABASE_URL, "postgres://"),
        (vars::BIND, "localhost:8080"),
        (vars::BIND, "127.0.0.1"),
        (vars::BIND, "127.0.0.1:99999"),
        (vars::PUBLIC_URL, "localhost:8080"),
        (vars::PUBLIC_URL, "ftp://example.com"),
        (vars::PUBLIC_URL, "https://example.com/?q=1"),
        (vars::SMTP_URL, "mail.example.com:25"),
        (vars::SMTP_URL, "http://mail.example.com"),
        (vars::SMTP_URL, "smtp://mail.example.com?tls=always"),
        (vars::MAIL_FROM, "no-reply"),
        (vars::AUDIENCE, "   "),
        (vars::RATE_LIMIT_PER_MINUTE, "100/min"),
        (vars::RATE_LIMIT_PER_MINUTE, "-5"),
        (vars::RATE_LIMIT_AUTH_PER_MINUTE, "1.5"),
        (vars::REQUIRE_VERIFIED_EMAIL, "yes"),
        (vars::LOG_FORMAT, "text"),
        (vars::CONFIG, "authkit.toml"),
    ];
    for (var, value) in cases {
        if var == vars::AUDIENCE {
            // Blank counts as unset: the default applies.
            assert_eq!(parse(&[(var, value)]).unwrap().audience, "authkit");
            continue;
        }
        let error = error_for(var, value);
        let message = error.to_string();
        assert!(
            message.contains("use ") || message.contains("unset") || message.contains("set "),
            "the message says how to fix it: {message}"
        );
    }
}

#[test]
fn passwords_stay_out_of_errors_and_debug() {
    let error = error_for(
        vars::SMTP_URL,
        "smtp://user:hunter22@mail.example.com?tls=bad",
    );
    assert!(!error.to_string().contains("hunter22"), "{error}");
    let error = error_for(vars::DATABASE_URL, "mysql://root:hunter22@db/auth");
    assert!(!error.to_string().contains("hunter22"), "{error}");

    let config = parse(&[
        (vars::DATABASE_URL, "postgres://authkit:hunter22@db/auth"),
        (vars::SMTP_URL, "smtps://user:hunter22@mail.example.com"),
        (
            vars::JWT_SECRET,
            "hunter22-hunter22-hunter22-hunter22-hunter22",
        ),
    ])
    .unwrap();
    let shown = format!(
        "{config:?}\n{:?}\n{}",
        config.summary(),
        config.mail_description()
    );
    assert!(!shown.contains("hunter22"), "{shown}");
}
