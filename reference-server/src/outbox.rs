//! `authkit-server outbox`: what the email outbox holds, and queuing abandoned emails again.

use std::str::FromStr;

use authkit_core::domain::{EmailId, OutboxEntry, OutboxStatus};
use authkit_core::ports::{Clock, SystemClock};
use authkit_core::time::format_description::well_known::Rfc3339;
use clap::{Args, Subcommand, ValueEnum};

use crate::app::open_store;
use crate::config::ServerConfig;
use crate::error::ServerError;

/// What `outbox` does.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum OutboxCommand {
    /// Print the counts by status and the messages (oldest first) with their attempts and last
    /// error; never their content, which may hold a one-time link.
    List(ListArgs),
    /// Queue abandoned emails again (attempts start over), e.g. once SMTP is fixed. Running
    /// server instances pick them up within their poll interval.
    Retry(RetryArgs),
}

/// `outbox list` options.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ListArgs {
    /// Which messages.
    #[arg(long, value_enum, default_value_t = Which::Unsent)]
    pub status: Which,
    /// At most this many messages per status.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
}

/// `outbox retry` options.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[group(required = true, multiple = false)]
pub struct RetryArgs {
    /// Every abandoned email.
    #[arg(long)]
    pub all: bool,
    /// The ids of abandoned emails (from `outbox list`).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
}

/// A status filter of `outbox list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Not sent yet: queued, processing and abandoned (the default).
    Unsent,
    /// Waiting to be sent: queued and processing.
    Pending,
    /// Waiting for their next attempt.
    Queued,
    /// Being sent by a worker.
    Processing,
    /// Failed on every attempt.
    Abandoned,
    /// Sent (kept for 7 days).
    Sent,
    /// Nobody to send to (kept for 7 days).
    Dropped,
}

impl Which {
    fn statuses(self) -> &'static [OutboxStatus] {
        use OutboxStatus::*;
        match self {
            Self::Unsent => &[Queued, Processing, Abandoned],
            Self::Pending => &[Queued, Processing],
            Self::Queued => &[Queued],
            Self::Processing => &[Processing],
            Self::Abandoned => &[Abandoned],
            Self::Sent => &[Sent],
            Self::Dropped => &[Dropped],
        }
    }
}

/// Runs an `outbox` command and returns the lines to print.
pub async fn run(
    command: OutboxCommand,
    config: &ServerConfig,
) -> Result<Vec<String>, ServerError> {
    match command {
        OutboxCommand::List(args) => {
            let store = open_store(&config.database_url, config.startup_timeout).await?;
            let counts = store.outbox_counts().await.map_err(ServerError::Outbox)?;
            let mut lines = vec![format!(
                "outbox: {} queued, {} processing, {} abandoned, {} sent, {} dropped",
                counts.queued, counts.processing, counts.abandoned, counts.sent, counts.dropped
            )];
            let mut entries = Vec::new();
            for status in args.status.statuses() {
                entries.extend(
                    store
                        .list_outbox(Some(*status), args.limit)
                        .await
                        .map_err(ServerError::Outbox)?,
                );
            }
            entries.sort_by_key(|e| e.id);
            if entries.is_empty() {
                lines.push("no messages".to_owned());
            } else {
                lines.push(
                    "id\tstatus\tkind\tto\tattempts\tnext attempt\tcreated\tlast error".to_owned(),
                );
                lines.extend(entries.iter().map(line));
            }
            Ok(lines)
        }
        OutboxCommand::Retry(args) => {
            let ids = args
                .ids
                .iter()
                .map(|raw| {
                    EmailId::from_str(raw.trim())
                        .map_err(|_| ServerError::OutboxId { id: raw.clone() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let store = open_store(&config.database_url, config.startup_timeout).await?;
            let n = store
                .requeue_emails(&ids, SystemClock.now())
                .await
                .map_err(ServerError::Outbox)?;
            let mut lines = vec![format!("{n} abandoned email(s) queued again")];
            if !ids.is_empty() && n < ids.len() as u64 {
                lines.push(format!(
                    "{} of the given ids are not abandoned emails (unknown, or not abandoned)",
                    ids.len() as u64 - n
                ));
            }
            Ok(lines)
        }
    }
}

fn line(e: &OutboxEntry) -> String {
    let time = |t: authkit_core::time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let next = if e.status == OutboxStatus::Queued {
        time(e.next_attempt_at)
    } else {
        "-".to_owned()
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        e.id,
        e.status,
        e.kind,
        e.to,
        e.attempts,
        next,
        time(e.created_at),
        e.last_error
            .as_deref()
            .unwrap_or("-")
            .replace(['\t', '\n', '\r'], " ")
    )
}
