//! Configuration from the environment and the TOML file of AUTHKIT_CONFIG: defaults, every
//! variable, errors that name the variable (and the key and the file), and the reference
//! (docs/configuration.md, config.example.toml) made from the list of settings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use authkit_core::ports::{LoginThrottle, RateLimit};
use authkit_server::config::{
    DatabaseBackend, RateLimitBackend, SAMPLE_JWT_SECRETS, reference, vars,
};
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

/// A URL with credentials where none are allowed is refused without echoing the password,
/// from the environment and from the file, and the message still names the variable.
#[test]
fn refused_urls_with_credentials_never_show_the_password() {
    for (var, value) in [
        (vars::PUBLIC_URL, "https://u:hunter22@auth.example.com"),
        (vars::PUBLIC_URL, "https://u:hunter22@auth.example.com/?x=1"),
        (vars::PUBLIC_URL, "u:hunter22@auth.example.com"),
        (vars::CORS_ORIGINS, "https://u:hunter22@app.example.com"),
    ] {
        let error = error_for(var, value);
        let shown = format!("{error}");
        assert!(!shown.contains("hunter22"), "{var}={value}: {shown}");

        let key = var.trim_start_matches("AUTHKIT_").to_ascii_lowercase();
        let file = TomlFile::new(&format!("{key} = \"{value}\"\n"));
        let error = file.parse(&[]).unwrap_err();
        assert_eq!(error.var(), var, "{key}: {error}");
        let shown = error.to_string();
        assert!(shown.contains(var), "{key}: {shown}");
        assert!(!shown.contains("hunter22"), "{key} = {value}: {shown}");
    }
}

/// SMTP URLs the mailer would refuse when `serve` builds it (after migrating, exit 1, a
/// restart loop under systemd) are refused by the configuration (exit 2 from `check-config`
/// and `serve` alike), naming AUTHKIT_SMTP_URL and the fix, from the environment and the file.
#[test]
fn smtp_urls_the_mailer_refuses_are_refused_by_the_configuration() {
    for value in [
        // A misspelt parameter must not quietly send in clear text.
        "smtp://mail.example.com:587?tsl=required",
        "smtp://mail.example.com?tls=required&x=1",
        // smtps is TLS from the first byte: opportunistic makes no sense.
        "smtps://mail.example.com?tls=opportunistic",
        // A user name without a password.
        "smtp://mailer@mail.example.com:587?tls=required",
        // tls= twice is ambiguous: the clear-text warning and the mailer could read different
        // values.
        "smtp://u:hunter22@mail.example.com?tls=required&tls=opportunistic",
        "smtp://u:hunter22@mail.example.com?tls=opportunistic&tls=required",
        "smtp://mail.example.com?tls=required&tls=required",
    ] {
        let error = error_for(vars::SMTP_URL, value);
        assert!(
            matches!(error, ConfigError::Invalid { .. }),
            "{value}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("use smtp://"), "{value}: {message}");
        assert!(!message.contains("hunter22"), "{value}: {message}");

        let file = TomlFile::new(&format!("smtp_url = \"{value}\"\n"));
        let error = file.parse(&[]).unwrap_err();
        assert_eq!(error.var(), vars::SMTP_URL, "{value}: {error}");
        let message = error.to_string();
        assert!(message.contains(file.path()), "{value}: {message}");
        assert!(!message.contains("hunter22"), "{value}: {message}");
    }
    let message = error_for(
        vars::SMTP_URL,
        "smtp://mail.example.com?tls=required&tls=opportunistic",
    )
    .to_string();
    assert!(message.contains("more than once"), "{message}");
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
    assert_eq!(config.session_cache_ttl, Duration::from_millis(1000));
    assert_eq!(config.audit_retention_days, None);
    assert_eq!(config.session_retention_days, 7);
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
    assert_eq!(auth.session_cache_ttl, Duration::from_millis(1000));
    assert_eq!(auth.audit_retention, None, "every audit event is kept");
    assert_eq!(
        auth.session_retention,
        authkit_core::service::SESSION_RETENTION,
        "the server's default is core's"
    );

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
        (vars::SESSION_CACHE_TTL_MS, "250"),
        (vars::AUDIT_RETENTION_DAYS, " 90 "),
        (vars::SESSION_RETENTION_DAYS, "30"),
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
    assert_eq!(auth.session_cache_ttl, Duration::from_millis(250));
    assert_eq!(
        auth.audit_retention,
        Some(authkit_core::time::Duration::days(90))
    );
    assert_eq!(
        auth.session_retention,
        authkit_core::time::Duration::days(30)
    );
    let at_once = parse(&[(vars::SESSION_RETENTION_DAYS, "0")]).unwrap();
    assert_eq!(
        at_once.auth_config().session_retention,
        authkit_core::time::Duration::ZERO,
        "zero: an ended session goes at the next hourly pass"
    );
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
        "250 ms",
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
        (vars::SESSION_CACHE_TTL_MS, "-1"),
        (vars::SESSION_CACHE_TTL_MS, "0.5"),
        (vars::SESSION_CACHE_TTL_MS, "1s"),
        (vars::SESSION_CACHE_TTL_MS, "900001"),
        (vars::AUDIT_RETENTION_DAYS, "0"),
        (vars::AUDIT_RETENTION_DAYS, "36501"),
        (vars::AUDIT_RETENTION_DAYS, "-1"),
        (vars::AUDIT_RETENTION_DAYS, "30d"),
        (vars::SESSION_RETENTION_DAYS, "36501"),
        (vars::SESSION_RETENTION_DAYS, "-7"),
        (vars::SESSION_RETENTION_DAYS, "1w"),
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
fn the_session_cache_ttl_is_read_in_milliseconds_up_to_the_access_token_lifetime() {
    // Default: 1000 ms, as core's.
    let config = parse(&[]).unwrap();
    assert_eq!(config.session_cache_ttl, Duration::from_millis(1000));
    assert_eq!(
        config.auth_config().session_cache_ttl,
        authkit_core::AuthConfig::default().session_cache_ttl
    );
    assert!(format!("{config:?}").contains("session_cache_ttl: 1s"));
    assert!(format!("{:?}", config.summary()).contains("1000 ms"));

    // A set value, spaces around it ignored.
    let config = parse(&[(vars::SESSION_CACHE_TTL_MS, " 250 ")]).unwrap();
    assert_eq!(config.session_cache_ttl, Duration::from_millis(250));
    assert_eq!(
        config.auth_config().session_cache_ttl,
        Duration::from_millis(250)
    );

    // 0 turns the cache off.
    let off = parse(&[(vars::SESSION_CACHE_TTL_MS, "0")]).unwrap();
    assert_eq!(off.session_cache_ttl, Duration::ZERO);
    assert_eq!(off.auth_config().session_cache_ttl, Duration::ZERO);
    assert!(format!("{:?}", off.summary()).contains("off"));

    // Up to the access-token lifetime, not beyond.
    let ttl = authkit_core::AuthConfig::default()
        .access_token_ttl
        .unsigned_abs();
    let max = ttl.as_millis().to_string();
    let config = parse(&[(vars::SESSION_CACHE_TTL_MS, &max)]).unwrap();
    assert_eq!(config.session_cache_ttl, ttl);
    let above = (ttl.as_millis() + 1).to_string();
    let error = error_for(vars::SESSION_CACHE_TTL_MS, &above);
    let message = error.to_string();
    assert!(
        message.contains(&max) && message.contains("access-token lifetime"),
        "{message}"
    );

    // Not a number: refused, naming the variable.
    for bad in ["lots", "1s", "1.5", "-1", "1e3"] {
        let error = error_for(vars::SESSION_CACHE_TTL_MS, bad);
        assert!(error.to_string().contains("milliseconds"), "{error}");
    }

    // The file key, as an integer or a string; the environment overrides it.
    let file = TomlFile::new("session_cache_ttl_ms = 0\n");
    assert_eq!(file.parse(&[]).unwrap().session_cache_ttl, Duration::ZERO);
    assert_eq!(
        file.parse(&[(vars::SESSION_CACHE_TTL_MS, "500")])
            .unwrap()
            .session_cache_ttl,
        Duration::from_millis(500)
    );
    let file = TomlFile::new("session_cache_ttl_ms = \"750\"\n");
    assert_eq!(
        file.parse(&[]).unwrap().session_cache_ttl,
        Duration::from_millis(750)
    );
    let file = TomlFile::new(&format!("session_cache_ttl_ms = {above}\n"));
    let error = file.parse(&[]).unwrap_err();
    assert_eq!(error.var(), vars::SESSION_CACHE_TTL_MS, "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "session_cache_ttl_ms in {} ({})",
            file.path(),
            vars::SESSION_CACHE_TTL_MS
        )),
        "{error}"
    );
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

// ---------------------------------------------------------------------------------------------
// The configuration file (AUTHKIT_CONFIG) and the reference made from vars::ALL

/// A TOML file in a temporary folder (kept alive with it).
struct TomlFile {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl TomlFile {
    fn new(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkit.toml");
        std::fs::write(&path, text).unwrap();
        Self { _dir: dir, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// The file with the extra environment `pairs`.
    fn parse(&self, pairs: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let mut all = vec![(vars::CONFIG, self.path())];
        all.extend_from_slice(pairs);
        parse(&all)
    }
}

#[test]
fn a_toml_file_is_read_and_the_environment_overrides_it() {
    let file = TomlFile::new(
        r#"
        # Comments and TOML types.
        database_url = "postgres://authkit:pw@db.internal:5432/auth"
        public_url = "https://auth.example.com"
        rate_limit_per_minute = 300
        rate_limit_auth_per_minute = "20"
        trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
        cors_origins = "https://app.example.com,http://localhost:3000"
        require_verified_email = true
        log_format = "json"
        audience = "from-the-file"
        "#,
    );
    let config = file
        .parse(&[
            (vars::RATE_LIMIT_PER_MINUTE, "50"),
            (vars::AUDIENCE, ""),
            (vars::BIND, "0.0.0.0:9000"),
        ])
        .unwrap();
    assert_eq!(config.config_file.as_deref(), Some(file.path.as_path()));
    assert_eq!(config.database_url.backend(), DatabaseBackend::Postgres);
    assert_eq!(config.public_url, "https://auth.example.com");
    assert_eq!(config.issuer, "https://auth.example.com");
    assert_eq!(config.rate_limit_per_minute, 50, "the environment wins");
    assert_eq!(config.rate_limit_auth_per_minute, 20, "strings work too");
    assert_eq!(config.bind.port(), 9000, "the environment alone");
    let proxies: Vec<String> = config
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(proxies, ["10.0.0.0/8", "127.0.0.1/32"]);
    assert_eq!(
        config.cors_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    assert!(config.require_verified_email);
    assert_eq!(config.log_format, Some(LogFormat::Json));
    assert_eq!(
        config.audience, "from-the-file",
        "an empty variable counts as unset: the file applies"
    );
    let summary = format!("{:?}", config.summary());
    assert!(
        summary.contains(file.path()),
        "the file is shown: {summary}"
    );
    assert!(!summary.contains(":pw@"), "{summary}");

    // Without AUTHKIT_CONFIG, no file.
    assert_eq!(parse(&[]).unwrap().config_file, None);
    // An empty file is the defaults.
    let empty = TomlFile::new("");
    let mut config = empty.parse(&[]).unwrap();
    config.config_file = None;
    assert_eq!(
        format!("{config:?}"),
        format!("{:?}", ServerConfig::default())
    );
}

#[test]
fn bad_values_in_the_file_name_the_key_the_file_and_the_variable() {
    let file = TomlFile::new("rate_limit_per_minute = \"lots\"\n");
    let error = file.parse(&[]).unwrap_err();
    assert_eq!(error.var(), vars::RATE_LIMIT_PER_MINUTE);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "rate_limit_per_minute in {} (AUTHKIT_RATE_LIMIT_PER_MINUTE) = \"lots\" is invalid",
            file.path()
        )),
        "{message}"
    );
    assert!(message.contains("use a whole number"), "{message}");
    // The same value from the environment, over a good file: the environment's message.
    let good = TomlFile::new("rate_limit_per_minute = 10\n");
    let error = good
        .parse(&[(vars::RATE_LIMIT_PER_MINUTE, "lots")])
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("AUTHKIT_RATE_LIMIT_PER_MINUTE=lots is invalid"),
        "{error}"
    );
    // ... and a bad file value the environment overrides is not used at all.
    assert_eq!(
        file.parse(&[(vars::RATE_LIMIT_PER_MINUTE, "7")])
            .unwrap()
            .rate_limit_per_minute,
        7
    );

    // Values of the wrong TOML type, never shown.
    for (text, key, var) in [
        (
            "rate_limit_per_minute = [1]",
            "rate_limit_per_minute",
            vars::RATE_LIMIT_PER_MINUTE,
        ),
        ("bind = 8080", "bind", vars::BIND),
        (
            "require_verified_email = 1.5",
            "require_verified_email",
            vars::REQUIRE_VERIFIED_EMAIL,
        ),
        (
            "trusted_proxies = [1, 2]",
            "trusted_proxies",
            vars::TRUSTED_PROXIES,
        ),
        ("jwt_secret = 123456789", "jwt_secret", vars::JWT_SECRET),
        ("log_format = { a = 1 }", "log_format", vars::LOG_FORMAT),
    ] {
        let file = TomlFile::new(text);
        let error = file.parse(&[]).unwrap_err();
        assert!(
            matches!(error, ConfigError::FileType { .. }),
            "{text}: {error:?}"
        );
        assert_eq!(error.var(), var);
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{key} in {} ({var}) must be", file.path())),
            "{message}"
        );
        assert!(!message.contains("123456789"), "{message}");
    }
    // A value core refuses (checked after parsing) is blamed on the file too.
    let file = TomlFile::new("cors_origins = [\"https://app.example.com/path\"]");
    let message = file.parse(&[]).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!(
            "cors_origins in {} (AUTHKIT_CORS_ORIGINS)",
            file.path()
        )),
        "{message}"
    );
}

#[test]
fn unknown_keys_are_refused_with_the_closest_valid_key() {
    for (text, key, suggestion) in [
        (
            "rate_limit_per_minut = 1",
            "rate_limit_per_minut",
            "rate_limit_per_minute",
        ),
        ("AUTHKIT_BIND = \"127.0.0.1:1\"", "AUTHKIT_BIND", "bind"),
        ("smtp-url = \"smtp://x\"", "smtp-url", "smtp_url"),
        (
            "[database]\nurl = \"sqlite://a.db\"",
            "database",
            "database_url",
        ),
        // Not a setting of the file (create-admin reads it from the environment).
        ("admin_password = \"hunter22\"", "admin_password", ""),
    ] {
        let file = TomlFile::new(text);
        let error = file.parse(&[]).unwrap_err();
        assert_eq!(error.var(), vars::CONFIG, "{text}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("unknown setting `{key}` in {}", file.path())),
            "{message}"
        );
        assert!(
            message.contains(&format!("did you mean `{suggestion}")),
            "{text}: {message}"
        );
        assert!(!message.contains("hunter22"), "{message}");
    }
    // The file cannot name another file.
    let file = TomlFile::new("config = \"/etc/other.toml\"");
    let error = file.parse(&[]).unwrap_err();
    assert!(
        matches!(error, ConfigError::FileNamesConfig { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(file.path()), "{error}");
}

#[test]
fn an_unreadable_or_invalid_file_names_the_file_and_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let error = parse(&[(vars::CONFIG, missing.to_str().unwrap())]).unwrap_err();
    assert!(
        matches!(error, ConfigError::FileUnreadable { .. }),
        "{error:?}"
    );
    assert_eq!(error.var(), vars::CONFIG);
    let message = error.to_string();
    assert!(message.contains(missing.to_str().unwrap()), "{message}");
    assert!(message.contains("AUTHKIT_CONFIG"), "{message}");
    // A folder is no file either.
    assert!(parse(&[(vars::CONFIG, dir.path().to_str().unwrap())]).is_err());

    // A syntax error on a line holding a secret: the position, never the line.
    let file = TomlFile::new(
        "bind = \"127.0.0.1:8080\"\njwt_secret = \"hunter22-hunter22-hunter22-hunter22\n",
    );
    let error = file.parse(&[]).unwrap_err();
    let ConfigError::FileSyntax { line, column, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*line, 2, "{error}");
    assert!(*column > 1, "{error}");
    let message = error.to_string();
    assert!(message.contains(file.path()), "{message}");
    assert!(message.contains("line 2, column"), "{message}");
    assert!(
        !message.contains("hunter22"),
        "the line is not quoted: {message}"
    );
    // A duplicate key.
    let file = TomlFile::new("bind = \"127.0.0.1:1\"\nbind = \"127.0.0.1:2\"\n");
    let message = file.parse(&[]).unwrap_err().to_string();
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn secrets_in_the_file_stay_secret() {
    let file = TomlFile::new(
        r#"
        jwt_secret = "hunter22-hunter22-hunter22-hunter22-hunter22"
        database_url = "postgres://authkit:hunter22@db/auth"
        smtp_url = "smtps://user:hunter22@mail.example.com"
        password_pepper = "q+8/eXh5enp6e3t7fHx8fX19fn5+f39/gICAgYGBgoI="
        "#,
    );
    let config = file.parse(&[]).unwrap();
    assert!(config.jwt_secret.is_some());
    assert_eq!(config.argon2.pepper.as_ref().unwrap().id(), "p1");
    let shown = format!("{config:?}\n{:?}", config.summary());
    assert!(!shown.contains("hunter22"), "{shown}");
    assert!(!shown.contains("q+8/"), "{shown}");

    for (text, secret) in [
        ("jwt_secret = \"hunter22\"", "hunter22"),
        (
            "password_pepper = \"aHVudGVyMjItc2hvcnQ\"",
            "aHVudGVyMjItc2hvcnQ",
        ),
        (
            "retired_peppers = [\"aHVudGVyMjItc2hvcnQ\"]",
            "aHVudGVyMjItc2hvcnQ",
        ),
        (
            "database_url = \"mysql://root:hunter22@db/auth\"",
            "hunter22",
        ),
        ("smtp_url = \"smtp://u:hunter22@h?tls=no\"", "hunter22"),
    ] {
        let file = TomlFile::new(text);
        let error = file.parse(&[]).unwrap_err();
        let shown = format!("{error}\n{error:?}");
        assert!(!shown.contains(secret), "{text}: {shown}");
        assert!(shown.contains(file.path()), "{text}: {shown}");
    }
}

/// A value each setting refuses (`None`: none exists, e.g. any issuer is fine).
fn bad_value(var: &str) -> Option<&'static str> {
    Some(match var {
        vars::DATABASE_URL => "mysql://localhost/authkit",
        vars::BIND | vars::METRICS_BIND => "localhost:8080",
        vars::PUBLIC_URL => "ftp://example.com",
        vars::SMTP_URL => "http://mail.example.com",
        vars::MAIL_FROM => "no-reply",
        vars::JWT_SECRET => "short",
        vars::RATE_LIMIT_PER_MINUTE
        | vars::RATE_LIMIT_AUTH_PER_MINUTE
        | vars::LOGIN_THROTTLE_FAILURES
        | vars::FORGOT_PER_ADDRESS_PER_HOUR
        | vars::REQUEST_TIMEOUT_SECONDS
        | vars::SESSION_CACHE_TTL_MS
        | vars::AUDIT_RETENTION_DAYS
        | vars::SESSION_RETENTION_DAYS
        | vars::ARGON2_MEMORY_KIB
        | vars::ARGON2_ITERATIONS
        | vars::OUTBOX_MAX_ATTEMPTS
        | vars::OUTBOX_RETRY_SECONDS => "lots",
        vars::RATE_LIMIT_STORE => "redis",
        vars::TRUSTED_PROXIES => "proxy.internal",
        vars::CORS_ORIGINS => "*",
        vars::PASSWORD_PEPPER => "c2hvcnQ=",
        vars::PASSWORD_PEPPER_ID => "far-too-long",
        vars::RETIRED_PEPPERS => "p0",
        vars::REQUIRE_VERIFIED_EMAIL => "maybe",
        vars::LOG_FORMAT => "xml",
        vars::DEFAULT_LOCALE => "not a language!",
        vars::EMAIL_TEMPLATES => "/nonexistent/authkit-templates",
        vars::CONFIG => "/nonexistent/authkit.toml",
        vars::ISSUER | vars::AUDIENCE => return None,
        other => panic!("{other} is a new setting: give it a bad value here (or None)"),
    })
}

#[test]
fn every_setting_refuses_a_bad_value_naming_itself_from_the_environment_and_the_file() {
    for setting in vars::ALL {
        let Some(value) = bad_value(setting.name) else {
            continue;
        };
        let var = setting.name;
        error_for(var, value);
        let Some(key) = setting.key() else { continue };
        let file = TomlFile::new(&format!("{key} = {value:?}\n"));
        let error = file
            .parse(&[])
            .expect_err(&format!("{key} = {value:?} in a file is refused"));
        assert_eq!(error.var(), var, "{key}: {error}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{key} in {} ({var})", file.path())),
            "{key}: {message}"
        );
    }
}

#[test]
fn every_vars_constant_is_in_vars_all() {
    let source = include_str!("../src/config.rs");
    let module = &source[source.find("pub mod vars {").unwrap()..];
    let module = &module[..module.find("\n}\n").unwrap()];
    let constants: Vec<&str> = module
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter(|rest| rest.contains(": &str = \"AUTHKIT_"))
        .map(|rest| rest.split('"').nth(1).unwrap())
        .collect();
    assert!(constants.len() >= 29, "{constants:?}");
    let listed: Vec<&str> = vars::ALL.iter().map(|s| s.name).collect();
    for name in &constants {
        assert!(listed.contains(name), "{name} is not in vars::ALL");
    }
    assert_eq!(constants.len(), listed.len(), "{constants:?} vs {listed:?}");
}

fn regenerate_hint(what: &str, command: &str) -> String {
    format!("{what} is out of date: regenerate it from the workspace root with\n    {command}")
}

#[test]
fn docs_configuration_md_is_generated_from_the_settings() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let generated = reference::markdown();
    assert!(
        on_disk == generated,
        "{}",
        regenerate_hint("docs/configuration.md", reference::REGENERATE_MARKDOWN)
    );
    for setting in vars::ALL {
        assert!(generated.contains(&format!("### {}", setting.name)));
        if let Some(key) = setting.key() {
            assert!(generated.contains(&format!("`{key}`")), "{key}");
        }
    }
    for word in ["Precedence", "Secrets", "AUTHKIT_CONFIG", "rotate-keys"] {
        assert!(generated.contains(word), "{word}");
    }
}

#[test]
fn the_example_file_is_generated_parses_to_the_defaults_and_covers_every_setting() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let example = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        example == reference::example_toml(),
        "{}",
        regenerate_hint(
            "reference-server/config.example.toml",
            reference::REGENERATE_TOML
        )
    );
    // As shipped (everything commented out) and with every key uncommented.
    assert!(TomlFile::new(&example).parse(&[]).is_ok());
    let mut keys = Vec::new();
    let uncommented: String = example
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                }) =>
            {
                keys.push(rest.split(" = ").next().unwrap().to_owned());
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    let expected: Vec<String> = vars::ALL.iter().filter_map(|s| s.key()).collect();
    assert_eq!(keys, expected, "one key per setting, in vars::ALL order");
    let mut config = TomlFile::new(&uncommented)
        .parse(&[])
        .unwrap_or_else(|e| panic!("the uncommented example is refused: {e}"));
    config.config_file = None;
    assert_eq!(
        format!("{config:?}"),
        format!("{:?}", ServerConfig::default()),
        "the example shows the defaults"
    );
}

#[test]
fn check_config_names_the_file_read_and_shows_its_settings_without_secrets() {
    let file = TomlFile::new(
        r#"
        database_url = "postgres://authkit:hunter22@db.invalid/auth"
        public_url = "https://auth.example.com"
        rate_limit_per_minute = 300
        trusted_proxies = ["10.0.0.0/8"]
        jwt_secret = "hunter22-hunter22-hunter22-hunter22-hunter22"
        "#,
    );
    let dir = tempfile::tempdir().unwrap();
    let output = common::process::command(dir.path())
        .arg("check-config")
        .env(vars::CONFIG, file.path())
        .env(vars::RATE_LIMIT_AUTH_PER_MINUTE, "9")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for shown in [
        &format!("configuration file: {}", file.path()),
        "postgres://authkit:***@db.invalid/auth",
        "https://auth.example.com",
        "300/min on all API routes, 9/min on credential routes",
        "10.0.0.0/8",
        "HS256",
    ] {
        assert!(stdout.contains(shown), "{shown} missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("hunter22") && !stderr.contains("hunter22"),
        "{stdout}"
    );

    // A bad value in the file stops the binary naming the key, the file and the variable.
    let bad = TomlFile::new("rate_limit_per_minute = -1\n");
    let output = common::process::command(dir.path())
        .arg("check-config")
        .env(vars::CONFIG, bad.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "rate_limit_per_minute in {} (AUTHKIT_RATE_LIMIT_PER_MINUTE)",
            bad.path()
        )),
        "{stderr}"
    );
}
