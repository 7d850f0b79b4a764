//! `authkit-bench`: measurement tools for authkit (see bench/README.md).
//!
//! - `authkit-bench hash-throughput [--seconds 10] [--workers N] [--op both|verify|hash]`
//! - `authkit-bench seed --database-url URL --users N --password PW [--admin-every K]
//!   [--sessions [--spent-per-session S]]`
//! - `authkit-bench session-tokens --from A --to B --count K`
//! - `authkit-bench hash-server --password PW [--bind ADDR]`
//! - `authkit-bench purge --database-url sqlite://FILE [--sessions N] [--spent M]`
//!
//! Each prints one line of JSON on standard output (hash-server: the address it listens on);
//! progress and errors go to standard error.

use std::io::Write as _;
use std::process::ExitCode;

use authkit_bench::hash_server;
use authkit_bench::purge::{PurgeOptions, purge};
use authkit_bench::seed::{SeedOptions, seed, session_token, spread};
use authkit_bench::throughput::{Ops, hash_throughput};
use clap::{Parser, Subcommand};

/// Measurement tools for authkit. Each subcommand prints one line of JSON on stdout.
#[derive(Debug, Parser)]
#[command(name = "authkit-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Raw throughput of the argon2id hash pool (default parameters): `verify` jobs (a
    /// login's cost), then `hash` jobs (a registration's), or one of the two (`--op`), with the
    /// queue kept full.
    /// Prints {"workers","m_cost","t_cost","p_cost","verify_per_sec","hash_per_sec","seconds"}.
    HashThroughput {
        /// Length of each run (verify, hash), in seconds.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        seconds: u64,
        /// Hash workers (default: one per core, like the server).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        workers: Option<u64>,
        /// Which jobs: `both` (verify, then hash), `verify` or `hash`; the other's figure is
        /// printed as null.
        #[arg(long, value_enum, default_value_t = Ops::Both)]
        op: Ops,
    },
    /// Bulk-inserts users user{i}@bench.test (i = 1..=N) into a fresh authkit database,
    /// migrating it first: active, verified, role `user` (and `admin` for every K-th), all with
    /// one argon2id hash of PW. Refuses a database that already holds @bench.test users.
    /// Prints {"users","seconds"}.
    Seed {
        /// sqlite://FILE (created when missing) or postgres://USER:PASSWORD@HOST:PORT/DB.
        #[arg(long)]
        database_url: String,
        /// How many users.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        users: u64,
        /// The password of every user.
        #[arg(long)]
        password: String,
        /// Every K-th user (i % K == 0) also holds `admin`.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        admin_every: Option<u64>,
        /// Every user also holds one live session, whose refresh token `session-tokens`
        /// prints (anyone can compute it: benchmark databases only).
        #[arg(long)]
        sessions: bool,
        /// Random spent refresh hashes per session (with --sessions).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        spent_per_session: u32,
    },
    /// The refresh tokens of the sessions `seed --sessions` made, one per line: K users evenly
    /// spread over A..=B (all of them when K is larger than the range). Prints no JSON.
    SessionTokens {
        /// The first user.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        from: u64,
        /// The last user.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        to: u64,
        /// How many tokens.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        count: u64,
    },
    /// Serves `POST /api/v1/login` (verify the password against a hash of PW) and
    /// `POST /api/v1/register` (hash it), and nothing else, on the server's hash pool and a
    /// multi-threaded runtime: the floor under authkit-server's login and register. Prints
    /// `authkit-bench hash-server listening on http://ADDR`, then serves until stopped.
    HashServer {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: String,
        /// The password that login accepts.
        #[arg(long)]
        password: String,
    },
    /// Fills a new SQLite file with N sessions (every other one ended long ago) and M spent
    /// refresh hashes spread over them, then purges the ended ones while a probe writes
    /// through the store's writer. Prints {"deleted","spent_before","spent_after","seconds",
    /// "writes","write_p50_ms","write_p99_ms","write_max_ms"}.
    Purge {
        /// sqlite://FILE (created when missing; must hold no sessions).
        #[arg(long)]
        database_url: String,
        /// How many sessions.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        sessions: u64,
        /// How many spent refresh hashes.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
        spent: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = match cli.command {
        // authkit-server's runtime: one worker per core.
        Command::HashServer { .. } => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let line = match cli.command {
        Command::HashThroughput {
            seconds,
            workers,
            op,
        } => {
            let workers = workers.map(|w| usize::try_from(w).unwrap_or(usize::MAX));
            match runtime.block_on(hash_throughput(seconds, workers, op)) {
                Ok(report) => report.to_json(),
                Err(e) => return fail(&e.to_string()),
            }
        }
        Command::Seed {
            database_url,
            users,
            password,
            admin_every,
            sessions,
            spent_per_session,
        } => {
            let options = SeedOptions {
                database_url,
                users,
                password,
                admin_every,
                sessions,
                spent_per_session,
            };
            match runtime.block_on(seed(&options)) {
                Ok(report) => {
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "seed: inserts took {:.3} s of {:.3} s",
                        report.insert_seconds,
                        report.seconds
                    );
                    report.to_json()
                }
                Err(e) => return fail(&e.to_string()),
            }
        }
        Command::SessionTokens { from, to, count } => {
            if from > to {
                return fail("--from must not be after --to");
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for i in spread(from, to, count) {
                if writeln!(out, "{}", session_token(i)).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            return match out.flush() {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Command::HashServer { bind, password } => {
            return match runtime.block_on(hash_server::serve(&bind, &password)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            };
        }
        Command::Purge {
            database_url,
            sessions,
            spent,
        } => {
            let options = PurgeOptions {
                database_url,
                sessions,
                spent,
            };
            match runtime.block_on(purge(&options)) {
                Ok(report) => report.to_json(),
                Err(e) => return fail(&e.to_string()),
            }
        }
    };
    match writeln!(std::io::stdout().lock(), "{line}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "authkit-bench: {message}");
    ExitCode::FAILURE
}
