//! Configuration from the environment: defaults, every variable, and errors that name the
//! variable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

use std::net::SocketAddr;
use std::time::Duration;

use authkit_core::ports::{LoginThrottle, RateLimit};
use authkit_server::config::{DatabaseBackend, RateLimitBackend, SAMPLE_JWT_SECRETS, vars};
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

// ---------------------------------------------------------------------------------------------
// Abuse limits, CORS, timeouts and password hashing

/// 32 random-looking bytes, base64 (standard) and base64url without padding.
const PEPPER_STD: &str = "q+8/eXh5enp6e3t7fHx8fX19fn5+f39/gICAgYGBgoI=";
const PEPPER_URL: &str = "q-8_eXh5enp6e3t7fHx8fX19fn5-f39_gICAgYGBgoI";
/// Another 32-byte key.
const PEPPER_OLD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

#[test]
fn limits_and_hashing_defaults() {
    let config = parse(&[]).unwrap();
    assert_eq!(config.rate_limit_store, None);
    assert_eq!(config.rate_limit_backend(), RateLimitBackend::Memory);
    assert!(config.trusted_proxies.is_empty());
    assert!(config.cors_origins.is_empty());
    assert_eq!(config.login_throttle_failures, 10);
    assert_eq!(config.forgot_per_address_per_hour, 5);
    assert_eq!(config.request_timeout, Duration::from_secs(15));
    assert_eq!(config.argon2.m_cost, 19_456);
    assert_eq!(config.argon2.t_cost, 2);
    assert!(config.argon2.pepper.is_none());
    assert!(config.argon2.retired_peppers.is_empty());

    let auth = config.auth_config();
    assert_eq!(auth.limits.per_ip, RateLimit::per_minute(100));
    assert_eq!(auth.limits.per_ip_credentials, RateLimit::per_minute(5));
    assert_eq!(
        auth.limits.emails_per_address_hourly,
        RateLimit::per_hour(5)
    );
    assert_eq!(auth.limits.login_throttle, LoginThrottle::default());
    assert!(auth.limits.trusted_proxies.is_empty());
    assert_eq!(auth.request_timeout, Duration::from_secs(15));

    // PostgreSQL shares the counters by default; SQLite keeps them in memory.
    let pg = parse(&[(vars::DATABASE_URL, "postgres://u:p@db/auth")]).unwrap();
    assert_eq!(pg.rate_limit_backend(), RateLimitBackend::Database);
}

#[test]
fn limits_variables_are_read_and_reach_core() {
    let config = parse(&[
        (vars::RATE_LIMIT_PER_MINUTE, "300"),
        (vars::RATE_LIMIT_AUTH_PER_MINUTE, "0"),
        (vars::RATE_LIMIT_STORE, "Database"),
        (
            vars::TRUSTED_PROXIES,
            " 10.0.0.0/8, 127.0.0.1 ,::1, fd00::/8,10.1.2.3/8",
        ),
        (
            vars::CORS_ORIGINS,
            "https://app.example.com, http://localhost:3000",
        ),
        (vars::LOGIN_THROTTLE_FAILURES, "0"),
        (vars::FORGOT_PER_ADDRESS_PER_HOUR, "20"),
        (vars::REQUEST_TIMEOUT_SECONDS, "30"),
    ])
    .unwrap();
    assert_eq!(config.rate_limit_backend(), RateLimitBackend::Database);
    let proxies: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        proxies,
        ["10.0.0.0/8", "127.0.0.1/32", "::1/128", "fd00::/8"],
        "bare IPs are single addresses; host bits dropped; duplicates once"
    );
    assert_eq!(
        config.cors_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    let auth = config.auth_config();
    assert_eq!(auth.limits.per_ip, RateLimit::per_minute(300));
    assert!(auth.limits.per_ip_credentials.is_off());
    assert!(auth.limits.login_throttle.is_off());
    assert_eq!(
        auth.limits.emails_per_address_hourly,
        RateLimit::per_hour(20)
    );
    assert_eq!(auth.limits.trusted_proxies, config.trusted_proxies);
    assert_eq!(auth.cors_origins, config.cors_origins);
    assert_eq!(auth.request_timeout, Duration::from_secs(30));
    auth.validate().unwrap();

    let memory = parse(&[
        (vars::DATABASE_URL, "postgres://u:p@db/auth"),
        (vars::RATE_LIMIT_STORE, "memory"),
        (vars::LOGIN_THROTTLE_FAILURES, "99"),
    ])
    .unwrap();
    assert_eq!(memory.rate_limit_backend(), RateLimitBackend::Memory);
    assert_eq!(memory.auth_config().limits.login_throttle.free_failures, 99);

    let summary = format!("{:?}", config.summary());
    for shown in [
        "300/min",
        "the database",
        "10.0.0.0/8",
        "https://app.example.com",
        "30 s",
    ] {
        assert!(summary.contains(shown), "{shown} missing: {summary}");
    }
}

#[test]
fn bad_limits_values_name_the_variable_and_the_fix() {
    let cases = [
        (vars::RATE_LIMIT_STORE, "redis"),
        (vars::RATE_LIMIT_STORE, "db"),
        (vars::TRUSTED_PROXIES, "proxy.internal"),
        (vars::TRUSTED_PROXIES, "10.0.0.0/33"),
        (vars::TRUSTED_PROXIES, "10.0.0.1,10.0.0.300"),
        (vars::CORS_ORIGINS, "*"),
        (vars::CORS_ORIGINS, "https://app.example.com,*"),
        (vars::CORS_ORIGINS, "https://*.example.com"),
        (vars::CORS_ORIGINS, "https://app.example.com/login"),
        (vars::CORS_ORIGINS, "app.example.com"),
        (vars::LOGIN_THROTTLE_FAILURES, "100"),
        (vars::LOGIN_THROTTLE_FAILURES, "-1"),
        (vars::LOGIN_THROTTLE_FAILURES, "ten"),
        (vars::FORGOT_PER_ADDRESS_PER_HOUR, "-1"),
        (vars::FORGOT_PER_ADDRESS_PER_HOUR, "5/h"),
        (vars::REQUEST_TIMEOUT_SECONDS, "0"),
        (vars::REQUEST_TIMEOUT_SECONDS, "601"),
        (vars::REQUEST_TIMEOUT_SECONDS, "1.5"),
        (vars::ARGON2_MEMORY_KIB, "lots"),
        (vars::ARGON2_MEMORY_KIB, "19455"),
        (vars::ARGON2_MEMORY_KIB, "4194305"),
        (vars::ARGON2_ITERATIONS, "0"),
        (vars::ARGON2_ITERATIONS, "101"),
        (vars::ARGON2_ITERATIONS, "1"),
        (vars::PASSWORD_PEPPER_ID, "p1"),
    ];
    for (var, value) in cases {
        let error = error_for(var, value);
        let message = error.to_string();
        assert!(
            message.contains("use ")
                || message.contains("unset")
                || message.contains("set ")
                || message.contains("list ")
                || message.contains("raise "),
            "the message says how to fix it: {message}"
        );
    }
    // `*` gets its own explanation.
    let error = error_for(vars::CORS_ORIGINS, "*");
    assert!(error.to_string().contains("every site"), "{error}");
}

#[test]
fn argon2_parameters_below_owasp_are_refused() {
    let with =
        |m: &str, t: &str| parse(&[(vars::ARGON2_MEMORY_KIB, m), (vars::ARGON2_ITERATIONS, t)]);
    for (t, floor) in [
        (1, 47_104),
        (2, 19_456),
        (3, 12_288),
        (4, 9_216),
        (5, 7_168),
        (8, 7_168),
    ] {
        let config = with(&floor.to_string(), &t.to_string()).unwrap();
        assert_eq!((config.argon2.m_cost, config.argon2.t_cost), (floor, t));
        let error = with(&(floor - 1).to_string(), &t.to_string()).unwrap_err();
        assert_eq!(error.var(), vars::ARGON2_MEMORY_KIB, "{error}");
        assert!(error.to_string().contains("OWASP"), "{error}");
    }
    // Stronger than the default is fine.
    let strong = with("65536", "3").unwrap();
    assert_eq!((strong.argon2.m_cost, strong.argon2.t_cost), (65_536, 3));
    // Lowering only the iterations below the default memory's floor blames the iterations.
    let error = parse(&[(vars::ARGON2_ITERATIONS, "1")]).unwrap_err();
    assert_eq!(error.var(), vars::ARGON2_ITERATIONS, "{error}");
    // Raising the memory alone allows one iteration.
    assert!(with("47104", "1").is_ok());
    assert!(
        parse(&[
            (vars::ARGON2_MEMORY_KIB, "47104"),
            (vars::ARGON2_ITERATIONS, "1")
        ])
        .is_ok()
    );
}

#[test]
fn peppers_are_read_in_both_base64_alphabets() {
    for key in [PEPPER_STD, PEPPER_URL, &format!("{PEPPER_URL}\n")] {
        let config = parse(&[(vars::PASSWORD_PEPPER, key)]).unwrap();
        assert_eq!(config.argon2.pepper.as_ref().unwrap().id(), "p1", "{key}");
    }
    let config = parse(&[
        (vars::PASSWORD_PEPPER, PEPPER_STD),
        (vars::PASSWORD_PEPPER_ID, "2025-b"),
        (
            vars::RETIRED_PEPPERS,
            &format!("p1:{PEPPER_OLD}, old_0:{PEPPER_URL}"),
        ),
    ])
    .unwrap();
    assert_eq!(config.argon2.pepper.as_ref().unwrap().id(), "2025-b");
    let retired: Vec<&str> = config
        .argon2
        .retired_peppers
        .iter()
        .map(|p| p.id())
        .collect();
    assert_eq!(retired, ["p1", "old_0"]);
    // Retired peppers without a current one: new hashes are unpeppered, old ones verify.
    let config = parse(&[(vars::RETIRED_PEPPERS, &format!("p1:{PEPPER_OLD}"))]).unwrap();
    assert!(config.argon2.pepper.is_none());
    assert_eq!(config.argon2.retired_peppers.len(), 1);
    assert!(
        config
            .hashing_description()
            .contains("retired peppers `p1`"),
        "{}",
        config.hashing_description()
    );
}

#[test]
fn bad_peppers_are_refused_without_showing_the_key() {
    // 31 bytes.
    let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg";
    let cases: Vec<(&str, String)> = vec![
        (vars::PASSWORD_PEPPER, short.to_owned()),
        (vars::PASSWORD_PEPPER, "hunter22 is no base64!!".to_owned()),
        (vars::RETIRED_PEPPERS, PEPPER_OLD.to_owned()),
        (vars::RETIRED_PEPPERS, format!("p0:{short}")),
        (vars::RETIRED_PEPPERS, format!("{PEPPER_OLD}:p0")),
        (vars::RETIRED_PEPPERS, format!("toolongid:{PEPPER_OLD}")),
        (
            vars::RETIRED_PEPPERS,
            format!("p0:{PEPPER_OLD},p0:{PEPPER_URL}"),
        ),
    ];
    for (var, value) in &cases {
        let error = error_for(var, value);
        assert!(
            matches!(error, ConfigError::InvalidSecret { .. }),
            "{error:?}"
        );
        let shown = format!("{error} {error:?}");
        for key in [short, PEPPER_OLD, PEPPER_URL, "hunter22"] {
            assert!(!shown.contains(key), "{var}: the key is shown: {shown}");
        }
    }
    // A retired pepper named like the current one.
    let error = parse(&[
        (vars::PASSWORD_PEPPER, PEPPER_STD),
        (vars::RETIRED_PEPPERS, &format!("p1:{PEPPER_OLD}")),
    ])
    .unwrap_err();
    assert_eq!(error.var(), vars::RETIRED_PEPPERS);
    assert!(error.to_string().contains("`p1`"), "{error}");
    // A bad id is the id variable's fault, and shown (ids are not secret).
    let error = parse(&[
        (vars::PASSWORD_PEPPER, PEPPER_STD),
        (vars::PASSWORD_PEPPER_ID, "far-too-long"),
    ])
    .unwrap_err();
    assert_eq!(error.var(), vars::PASSWORD_PEPPER_ID, "{error}");
    assert!(!error.to_string().contains(PEPPER_STD));
}

#[test]
fn peppers_stay_out_of_debug_and_summary() {
    let config = parse(&[
        (vars::PASSWORD_PEPPER, PEPPER_STD),
        (vars::RETIRED_PEPPERS, &format!("p0:{PEPPER_OLD}")),
    ])
    .unwrap();
    let shown = format!(
        "{config:?}\n{:?}\n{:?}\n{:?}",
        config.summary(),
        config.argon2,
        config.auth_config()
    );
    for key in [PEPPER_STD, PEPPER_OLD, "q+8/", "AAECAwQF"] {
        assert!(!shown.contains(key), "{key} shown:\n{shown}");
    }
    assert!(
        shown.contains("p1") && shown.contains("p0"),
        "ids are shown: {shown}"
    );
}
