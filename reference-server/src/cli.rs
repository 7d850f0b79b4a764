//! The command line: `serve` (the default), `migrate`, `create-admin`, `check-config`,
//! `outbox list|retry`.

use std::io::Write;
use std::sync::LazyLock;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::admin::{PasswordSource, create_admin};
use crate::app::{build_app, migrate, serve, shutdown_signal};
use crate::config::{ServerConfig, vars};
use crate::error::ServerError;
use crate::outbox::OutboxCommand;

static ENV_HELP: LazyLock<String> = LazyLock::new(|| {
    let mut help = String::from(
        "Configuration comes from the environment (an empty value counts as unset):\n",
    );
    for (name, default, meaning) in vars::ALL {
        help.push_str(&format!(
            "  {name}\n      {meaning}\n      default: {default}\n"
        ));
    }
    help.push_str(
        "\ncreate-admin reads the new administrator's password from AUTHKIT_ADMIN_PASSWORD, or \
         when unset from standard input (see `authkit-server create-admin --help`).\
         \nRUST_LOG filters the logs (default info); logs go to standard error, the startup \
         line to standard output.\nBad values stop the server with a message naming the \
         variable and the fix.",
    );
    help
});

/// The authkit reference server: the authkit HTTP API under /api/v1, plus /health, /ready and
/// /.well-known/jwks.json, on SQLite (zero configuration) or PostgreSQL.
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
      echo); read only when the account does not exist yet

Examples:
  AUTHKIT_ADMIN_PASSWORD=\"$(cat /run/secrets/admin-password)\" authkit-server create-admin --email admin@example.com
  printf '%s\\n' \"$PASSWORD\" | authkit-server create-admin --email admin@example.com
  authkit-server create-admin --email ada@example.com     # promotes an existing account

The database and the other settings come from the same AUTHKIT_* variables as `serve`.
Exit status: 0 when created or promoted, 2 when the email or password is refused (nothing is
created), 1 when the database fails.";

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
    /// existing one gets the `admin` role and keeps its password (none is read then). Prints one
    /// line with the user id, never the password.
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
        assert!(Cli::try_parse_from(["authkit-server", "rotate-keys"]).is_err());
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
            "AUTHKIT_ADMIN_PASSWORD",
        ] {
            assert!(help.contains(word), "{word} missing from --help");
        }
        for (name, _, _) in vars::ALL {
            assert!(help.contains(name), "{name} missing from --help");
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
