//! Logging: `tracing` events to standard error, filtered by `RUST_LOG` (default `info`),
//! human-readable or JSON ([`LogFormat`]).

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `None` picks [`LogFormat::detect`]. Returns `false` when a
/// subscriber was already installed (tests install their own), which is not an error.
pub fn init(format: Option<LogFormat>) -> bool {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or_else(LogFormat::detect) {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
            .is_ok(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
            .is_ok(),
    }
}
