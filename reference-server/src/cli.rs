//! The command line: `serve` (the default), `migrate`, `create-admin`, `check-config`,
//! `outbox list|retry`, `rotate-keys` (and the hidden `config-reference`, which prints
//! `docs/configuration.md` or `config.example.toml`).

use std::io::Write;
use std::sync::LazyLock;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::admin::{PasswordSource, create_admin};
use crate::app::{build_app, migrate, serve, shutdown_signal};
use crate::config::{ServerConfig, reference, vars};
use crate::error::ServerError;
use crate::keys::rotate_keys;
use crate::outbox::OutboxCommand;

static ENV_HELP: LazyLock<String> = LazyLock::new(|| {
    let mut help = String::from(
        "Configuration comes from the environment and, when AUTHKIT_CONFIG names one, a TOML \
         file; a variable set in the environment overrides the file's key (an empty value \
         counts as unset). Every setting is optional (`[key]`: its key in the file):\n",
    );
    for setting in vars::ALL {
        let key = setting
            .key()
            .map_or_else(|| "(environment only)".to_owned(), |k| format!("[{k}]"));
        help.push_str(&format!(
            "  {} {key}\n      {}\n      values: {}\n      default: {}\n",
            setting.name, setting.meaning, setting.values, setting.default
        ));
    }
    help.push_str(
        "\nConfiguration file (AUTHKIT_CONFIG=/etc/authkit/authkit.toml): TOML whose keys are the \
         variable names without AUTHKIT_, lowercased; lists as arrays of strings, numbers and \
         booleans as TOML values (or strings):\n\
         \x20   database_url = \"postgres://authkit:PASSWORD@db:5432/authkit\"\n\
         \x20   rate_limit_per_minute = 100\n\
         \x20   trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n\
         \x20   require_verified_email = true\n\
         Unknown keys and values of the wrong type are refused; errors name the key, the file and \
         the variable. config.example.toml lists every key with its default; check-config shows \
         the file read. Secrets in the file are treated as in the environment: never printed.\n\
         \ncreate-admin reads the new administrator's password from AUTHKIT_ADMIN_PASSWORD, or \
         when unset from standard input (see `authkit-server create-admin --help`).\
         \nRUST_LOG filters the logs (default info); logs go to standard error, the startup \
         line to standard output.\nBad values stop the server with a message naming the \
         variable and the fix.",
    );
    help
});

/// The authkit reference server: the authkit HTTP API under /api/v1, plus /health, /ready,
/// /metrics, /.well-known/jwks.json, /openapi.json and /docs, on SQLite (zero configuration) or
/// PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "authkit-server", version, after_help = ENV_HELP.as_str())]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

const CREATE_ADMIN_HELP: &str = "\
The password of a new account:
  AUTHKIT_ADMIN_PASSWORD
      the password (it must pass the password policy: at least 15 characters, not a common
      password, not the email address)
      default: unset: one line of standard input (a pipe, or typed twice on a terminal without
      echo); read only when the account does not exist yet, or exists with an email that is
      not verified

Examples:
  AUTHKIT_ADMIN_PASSWORD=\"$(cat /run/secrets/admin-password)\" authkit-server create-admin --email admin@example.com
  printf '%s\\n' \"$PASSWORD\" | authkit-server create-admin --email admin@example.com
  authkit-server create-admin --email ada@example.com     # promotes an existing, verified account

The database and the other settings come from the same AUTHKIT_* variables as `serve`.
An existing account whose email is not verified may have been registered by anyone: it is
claimed instead, the given password replacing its own, its sessions revoked and its email
marked verified.

Exit status: 0 when created, promoted or claimed, 2 when the email or password is refused or
missing (nothing is changed), 1 when the database fails.";

/// The subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve HTTP until SIGTERM or SIGINT (the default).
    #[default]
    Serve,
    /// Apply authkit's database migrations and exit.
    Migrate,
    /// Make an account an administrator: create it (password from AUTHKIT_ADMIN_PASSWORD or
    /// standard input) or promote it if it exists; migrates first; idempotent.
    ///
    /// No account exists by default: this is how the first administrator is made. A new account
    /// is created with a verified email, the `user` and `admin` roles and the given password; an
    /// existing one with a verified email gets the `admin` role and keeps its password (none is
    /// read then); an existing one whose email is not verified is claimed: the given password
    /// replaces its own and its sessions are revoked. Prints one line with the user id, never
    /// the password.
    #[command(after_long_help = CREATE_ADMIN_HELP)]
    CreateAdmin {
        /// The administrator's email address.
        #[arg(long, value_name = "EMAIL")]
        email: String,
    },
    /// Check the configuration, print it without secrets, and exit.
    CheckConfig,
    /// Inspect the email outbox (`list`) or queue abandoned emails again (`retry`); migrates
    /// first.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Add a new Ed25519 signing key (migrates first) and print every key's state; running
    /// instances pick it up without a restart.
    ///
    /// The new key is published in /.well-known/jwks.json as soon as each instance reloads the
    /// keys (every 60 s), and signs new access tokens once it is 6 minutes old, so that
    /// verifiers caching the JWKS (up to 5 minutes) know it before they see it. The previous key
    /// keeps verifying, and stays in the JWKS, until the tokens it signed have expired (15 min
    /// 30 s after the switch: access-token lifetime plus leeway), then it is dropped. No token
    /// is refused along the way, and every instance on the database follows the same schedule.
    ///
    /// Prints what was added, then one line per key: `signing`, `published, signs from TIME`,
    /// `verifying until TIME` or `retired since TIME` (never a key). Two runs at once add two
    /// distinct keys.
    ///
    /// With AUTHKIT_JWT_SECRET (HS256) there is no key to rotate: it refuses, and says how to
    /// replace the secret.
    RotateKeys,
    /// Print the configuration reference (docs/configuration.md), or with --toml the example
    /// configuration file (config.example.toml), made from the list of settings.
    #[command(hide = true)]
    ConfigReference {
        /// The example configuration file instead of the Markdown reference.
        #[arg(long)]
        toml: bool,
    },
}

/// Runs `command` with `config`. `serve` prints the startup line on standard output once the
/// listener is bound, with the actual address (so `AUTHKIT_BIND=127.0.0.1:0` shows the port).
pub async fn run(command: Command, config: ServerConfig) -> Result<(), ServerError> {
    match command {
        Command::Serve => {
            let bind = config.bind;
            let app = build_app(config).await?;
            let listener = TcpListener::bind(bind)
                .await
                .map_err(|source| ServerError::Bind { addr: bind, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| ServerError::Bind { addr: bind, source })?;
            tracing::info!(address = %addr, database = app.database(), "authkit-server listening");
            let mut lines = vec![format!(
                "authkit-server listening on http://{addr} (database: {})",
                app.database()
            )];
            if app.emails_to_log() {
                lines
                    .push("emails are written to the log until AUTHKIT_SMTP_URL is set".to_owned());
            }
            print_lines(&lines);
            serve(listener, app, shutdown_signal()).await?;
            tracing::info!("authkit-server stopped");
            Ok(())
        }
        Command::Migrate => {
            migrate(&config).await?;
            tracing::info!(database = %config.database_url, "migrations applied");
            print_lines(&[format!("migrations applied to {}", config.database_url)]);
            Ok(())
        }
        Command::CreateAdmin { email } => {
            let source = PasswordSource::from_env()?;
            let done = create_admin(&config, &email, source).await?;
            print_lines(&[done.line()]);
            Ok(())
        }
        Command::Outbox(command) => {
            let lines = crate::outbox::run(command, &config).await?;
            print_lines(&lines);
            Ok(())
        }
        Command::RotateKeys => {
            let lines = rotate_keys(&config).await?;
            print_lines(&lines);
            Ok(())
        }
        Command::ConfigReference { toml } => {
            let text = if toml {
                reference::example_toml()
            } else {
                reference::markdown()
            };
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
        Command::CheckConfig => {
            let mut lines = vec!["configuration OK".to_owned()];
            lines.extend(
                config
                    .summary()
                    .into_iter()
                    .map(|(name, value)| format!("  {name}: {value}")),
            );
            print_lines(&lines);
            Ok(())
        }
    }
}

/// Writes to standard output and flushes, so that a supervisor or test reading a pipe sees the
/// lines at once. A closed standard output is not an error worth stopping for.
fn print_lines(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn serve_is_the_default_and_subcommands_parse() {
        let cli = Cli::try_parse_from(["authkit-server"]).unwrap();
        assert_eq!(cli.command.unwrap_or_default(), Command::Serve);
        for (arg, command) in [
            ("serve", Command::Serve),
            ("migrate", Command::Migrate),
            ("check-config", Command::CheckConfig),
            ("rotate-keys", Command::RotateKeys),
            ("config-reference", Command::ConfigReference { toml: false }),
        ] {
            let cli = Cli::try_parse_from(["authkit-server", arg]).unwrap();
            assert_eq!(cli.command, Some(command));
        }
        let cli =
            Cli::try_parse_from(["authkit-server", "create-admin", "--email", "a@example.com"])
                .unwrap();
        assert_eq!(
            cli.command,
            Some(Command::CreateAdmin {
                email: "a@example.com".to_owned()
            })
        );
        assert!(
            Cli::try_parse_from(["authkit-server", "create-admin"]).is_err(),
            "--email is required"
        );
        let cli =
            Cli::try_parse_from(["authkit-server", "outbox", "list", "--status", "abandoned"])
                .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Outbox(OutboxCommand::List(
                crate::outbox::ListArgs {
                    status: crate::outbox::Which::Abandoned,
                    limit: 50
                }
            )))
        ));
        let cli = Cli::try_parse_from(["authkit-server", "outbox", "retry", "--all"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Outbox(OutboxCommand::Retry(
                crate::outbox::RetryArgs { all: true, .. }
            )))
        ));
        assert!(
            Cli::try_parse_from(["authkit-server", "outbox", "retry"]).is_err(),
            "retry needs --all or ids"
        );
        assert!(
            Cli::try_parse_from(["authkit-server", "outbox", "retry", "--all", "x"]).is_err(),
            "--all and ids exclude each other"
        );
        let cli = Cli::try_parse_from(["authkit-server", "config-reference", "--toml"]).unwrap();
        assert_eq!(cli.command, Some(Command::ConfigReference { toml: true }));
        assert!(Cli::try_parse_from(["authkit-server", "rotate-keys", "--now"]).is_err());
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_commands_and_every_variable() {
        let help = Cli::command().render_long_help().to_string();
        for word in [
            "serve",
            "migrate",
            "create-admin",
            "check-config",
            "outbox",
            "rotate-keys",
            "AUTHKIT_ADMIN_PASSWORD",
            "RUST_LOG",
            // The configuration file and its format.
            "AUTHKIT_CONFIG=",
            "rate_limit_per_minute = 100",
            "trusted_proxies = [",
            "overrides",
        ] {
            assert!(help.contains(word), "{word} missing from --help:\n{help}");
        }
        for setting in vars::ALL {
            assert!(
                help.contains(setting.name),
                "{} missing from --help",
                setting.name
            );
            if let Some(key) = setting.key() {
                assert!(
                    help.contains(&format!("[{key}]")),
                    "{key} missing from --help"
                );
            }
        }
        assert!(
            !help.contains("config-reference"),
            "config-reference is hidden"
        );
    }

    #[test]
    fn every_subcommand_has_help() {
        let mut command = Cli::command();
        for name in [
            "serve",
            "migrate",
            "create-admin",
            "check-config",
            "outbox",
            "rotate-keys",
        ] {
            let sub = command.find_subcommand_mut(name).unwrap();
            let help = sub.render_long_help().to_string();
            assert!(help.len() > 60, "{name} --help is empty: {help}");
        }
        let help = command
            .find_subcommand_mut("rotate-keys")
            .unwrap()
            .render_long_help()
            .to_string();
        let delay = format!(
            "{} minutes",
            crate::config::DEFAULT_KEY_ACTIVATION_DELAY.as_secs() / 60
        );
        let reload = format!(
            "every {} s",
            crate::config::DEFAULT_KEY_RELOAD_INTERVAL.as_secs()
        );
        for word in [
            "jwks.json",
            &delay,
            &reload,
            "verifying until",
            "AUTHKIT_JWT_SECRET",
        ] {
            assert!(
                help.contains(word),
                "{word} missing from rotate-keys --help:\n{help}"
            );
        }
    }

    #[test]
    fn create_admin_help_documents_the_password_variable() {
        let mut command = Cli::command();
        let sub = command.find_subcommand_mut("create-admin").unwrap();
        let help = sub.render_long_help().to_string();
        for word in [
            "--email",
            "AUTHKIT_ADMIN_PASSWORD",
            "standard input",
            "promote",
        ] {
            assert!(
                help.contains(word),
                "{word} missing from create-admin --help:\n{help}"
            );
        }
    }
}
