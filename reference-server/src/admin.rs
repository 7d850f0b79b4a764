//! `authkit-server create-admin --email E`: the explicit bootstrap of an administrator.
//!
//! No account exists by default (SECURITY.md item 8): the first administrator is made here. An
//! existing account whose email is verified is promoted (the `admin` role added, its password
//! left alone); an existing account whose email is not verified (anyone could have registered
//! the address first) is claimed: the given password replaces its own, its sessions are
//! revoked and its email marked verified; otherwise an account is created, verified, with the
//! `user` and `admin` roles. A given password must pass the password policy. It comes from
//! `AUTHKIT_ADMIN_PASSWORD` or, when that is unset, from one line of standard input (read
//! without echo on a terminal, asked twice), and is read only when it is needed. Running the
//! command again is harmless.

use std::io::{BufRead, IsTerminal, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;

use authkit_core::Error as CoreError;
use authkit_core::async_trait;
use authkit_core::domain::{Email, Password, User, UserStatus};
use authkit_core::ports::{Mailer, MailerError, OutgoingEmail};
use authkit_core::secrecy::zeroize::Zeroize;
use authkit_core::service::Bootstrapped as Outcome;

use crate::app::build_kit;
use crate::config::ServerConfig;
use crate::error::ServerError;

/// The variable holding the password of a new administrator.
pub const ADMIN_PASSWORD: &str = "AUTHKIT_ADMIN_PASSWORD";

/// Longest line read from standard input. Longer than any password the policy accepts (at most
/// 128 code points, so at most 512 bytes), so a cut line is always refused, never truncated.
const MAX_LINE: u64 = 64 * 1024;

/// Where the password of a new administrator comes from.
#[derive(Debug, Clone)]
pub enum PasswordSource {
    /// Given (by `AUTHKIT_ADMIN_PASSWORD`).
    Given(Password),
    /// One line of standard input, read only if a new account needs it.
    Stdin,
}

impl PasswordSource {
    /// `AUTHKIT_ADMIN_PASSWORD` when set and not empty, else standard input.
    pub fn from_env() -> Result<Self, ServerError> {
        match std::env::var(ADMIN_PASSWORD) {
            Ok(value) if !value.is_empty() => Ok(Self::Given(Password::new(value))),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Self::Stdin),
            Err(std::env::VarError::NotUnicode(_)) => Err(ServerError::AdminRefused(format!(
                "{ADMIN_PASSWORD} is not valid UTF-8; set it to the password as text"
            ))),
        }
    }
}

/// What [`create_admin`] did.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The administrator.
    pub user: User,
    /// Whether the account was created, promoted or claimed.
    pub outcome: Outcome,
}

impl Bootstrapped {
    /// The line `create-admin` prints: what was done and the user id, never the password.
    pub fn line(&self) -> String {
        let (email, id) = (self.user.email.as_str(), self.user.id);
        match self.outcome {
            Outcome::Created => format!("created administrator {email} (id {id})"),
            Outcome::Promoted => format!(
                "promoted existing account {email} to administrator (id {id}); its password is \
                 unchanged"
            ),
            Outcome::Claimed => format!(
                "made existing account {email} administrator (id {id}); its email was not \
                 verified, so the given password replaced its own and its sessions were revoked"
            ),
        }
    }
}

/// Makes `email` an administrator on the configured database, migrating it first (as `serve`
/// does). The password from `source` is used only for a new account.
pub async fn create_admin(
    config: &ServerConfig,
    email: &str,
    source: PasswordSource,
) -> Result<Bootstrapped, ServerError> {
    let email = Email::parse(email).map_err(|reason| ServerError::AdminEmail { reason })?;
    // The account is created verified: the verification email `register` sends would be
    // pointless, and could not be delivered from a process that exits at once.
    let kit = build_kit(config, Some(Arc::new(NoEmails))).await?.kit;
    let given = match &source {
        PasswordSource::Given(password) => Some(password),
        PasswordSource::Stdin => None,
    };
    let result = match kit.bootstrap_admin(email.clone(), given).await {
        Err(CoreError::Validation(errors))
            if given.is_none()
                && errors
                    .iter()
                    .any(|e| e.field == "password" && e.code == "required") =>
        {
            // A new account, or one to claim: only now is a password needed.
            let Some(password) = read_password(&email).await? else {
                return Err(ServerError::AdminNoPassword {
                    email: email.as_str().to_owned(),
                });
            };
            kit.bootstrap_admin(email.clone(), Some(&password)).await
        }
        other => other,
    };
    let (user, outcome) = result.map_err(|e| refusal(e, &email))?;
    if user.status == UserStatus::Disabled {
        tracing::warn!(
            user_id = %user.id,
            "the administrator's account is disabled and cannot log in until an administrator \
             sets its status to active"
        );
    }
    tracing::info!(user_id = %user.id, ?outcome, "administrator bootstrapped");
    Ok(Bootstrapped { user, outcome })
}

/// The server error for a failed bootstrap: the policy's reasons for a weak password, a clear
/// message for an address held by a deleted account.
fn refusal(error: CoreError, email: &Email) -> ServerError {
    match error {
        CoreError::Validation(errors) => ServerError::AdminPassword {
            reasons: errors
                .iter()
                .map(|e| {
                    if e.field == "password" {
                        format!("{}: {}", e.code, e.message)
                    } else {
                        format!("{} {}: {}", e.field, e.code, e.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
        },
        CoreError::EmailTaken => ServerError::AdminRefused(format!(
            "{} belongs to a deleted account: restore it (POST /api/v1/admin/users/{{id}}/restore) \
             and run create-admin again, or choose another address",
            email.as_str()
        )),
        other => ServerError::Admin(other),
    }
}

/// Reads the password of a new account from standard input, off the async runtime. On a
/// terminal, echo is turned off, the password asked twice, and Ctrl-C restores echo before the
/// command stops. `None` when standard input is empty or closed.
async fn read_password(email: &Email) -> Result<Option<Password>, ServerError> {
    let terminal = std::io::stdin().is_terminal();
    let prompt = email.as_str().to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A plain thread, not `spawn_blocking`: a read blocked on the terminal must not keep the
    // runtime from shutting down after Ctrl-C.
    std::thread::spawn(move || {
        let result = if terminal {
            read_from_terminal(&prompt)
        } else {
            read_line(&mut std::io::stdin().lock())
        };
        let _ = tx.send(result);
    });
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = rx => result.map_err(|_| {
            ServerError::AdminRefused("reading the password failed; nothing was created".to_owned())
        })?,
        () = interrupted => {
            if terminal {
                set_echo(true);
                eprintln!();
            }
            Err(ServerError::AdminRefused("interrupted; nothing was created".to_owned()))
        }
    }
}

/// Asks twice with echo off.
fn read_from_terminal(email: &str) -> Result<Option<Password>, ServerError> {
    if !set_echo(false) {
        return Err(ServerError::AdminRefused(format!(
            "cannot turn off echo on this terminal (`stty -echo` failed), so the password is not \
             read from it: set {ADMIN_PASSWORD} or pipe the password on standard input"
        )));
    }
    let _restore = EchoOn;
    let mut stdin = std::io::stdin().lock();
    eprint!("Password for the new administrator {email}: ");
    let first = read_line(&mut stdin);
    eprintln!();
    let Some(first) = first? else {
        return Ok(None);
    };
    eprint!("Repeat the password: ");
    let second = read_line(&mut stdin);
    eprintln!();
    if second?.is_none_or(|second| second.expose() != first.expose()) {
        return Err(ServerError::AdminRefused(
            "the two passwords differ; nothing was created".to_owned(),
        ));
    }
    Ok(Some(first))
}

/// One line without its line ending (`\n` or `\r\n`); nothing else is trimmed. `None` at the
/// end of input or for an empty line.
fn read_line(input: &mut impl BufRead) -> Result<Option<Password>, ServerError> {
    let mut buf = Vec::new();
    input
        .take(MAX_LINE)
        .read_until(b'\n', &mut buf)
        .map_err(ServerError::AdminStdin)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.is_empty() {
        return Ok(None);
    }
    match String::from_utf8(buf) {
        Ok(line) => Ok(Some(Password::new(line))),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(ServerError::AdminRefused(
                "the password on standard input is not valid UTF-8".to_owned(),
            ))
        }
    }
}

/// Turns the terminal's echo on or off with stty(1); whether it worked.
fn set_echo(on: bool) -> bool {
    Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Turns echo back on when dropped.
struct EchoOn;

impl Drop for EchoOn {
    fn drop(&mut self) {
        set_echo(true);
    }
}

/// Drops emails: `create-admin` sends none that matter (see [`create_admin`]).
#[derive(Debug)]
struct NoEmails;

#[async_trait]
impl Mailer for NoEmails {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError> {
        tracing::debug!(kind = ?email.kind, "create-admin sends no email");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(input: &[u8]) -> Option<String> {
        read_line(&mut &input[..])
            .unwrap()
            .map(|p| p.expose().to_owned())
    }

    #[test]
    fn reads_one_line_without_its_ending_and_nothing_else_trimmed() {
        assert_eq!(
            line(b"  pass word  \nsecond\n").as_deref(),
            Some("  pass word  ")
        );
        assert_eq!(line(b"windows\r\n").as_deref(), Some("windows"));
        assert_eq!(line(b"no newline").as_deref(), Some("no newline"));
        assert_eq!(line(b""), None);
        assert_eq!(line(b"\n"), None);
        assert!(read_line(&mut &b"\xff\xfe\n"[..]).is_err());
    }

    #[test]
    fn a_long_line_is_cut_beyond_any_acceptable_password() {
        let long = vec![b'a'; 100_000];
        let read = line(&long).unwrap();
        assert_eq!(read.len() as u64, MAX_LINE);
        assert!(read.chars().count() > 128);
    }
}
