//! `authkit-server`: see `authkit-server --help` and the README.

use std::process::ExitCode;

use authkit_server::cli::Cli;
use authkit_server::{ServerConfig, error, telemetry};
use clap::Parser;

/// Exit status for a refused configuration (as for a bad command line).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ServerConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("authkit-server: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("authkit-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(authkit_server::cli::run(
        cli.command.unwrap_or_default(),
        config,
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = error::chain(&e);
            tracing::error!(error = %message, "authkit-server failed");
            eprintln!("authkit-server: {message}");
            ExitCode::from(e.exit_code())
        }
    }
}
