//! A throwaway PostgreSQL cluster that a test can stop and start again ([`PgCluster`]): its
//! own data directory and port, run with the server binaries of the Debian packages
//! (`/usr/lib/postgresql/*/bin`), as the `postgres` user when the test runs as root (the
//! commands of `scripts/pg`). For tests of what happens while the database is down.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The server binaries, or `None` (with a notice) when PostgreSQL is not installed; fails when
/// `AUTHKIT_TEST_REQUIRE_POSTGRES=1` (CI, where `scripts/test` installs it).
pub(crate) fn pg_bin_or_skip(test: &str) -> Option<PathBuf> {
    let bin = pg_bin();
    if bin.is_none() {
        assert!(
            std::env::var("AUTHKIT_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "AUTHKIT_TEST_REQUIRE_POSTGRES=1 but PostgreSQL's server binaries \
             (/usr/lib/postgresql/*/bin/initdb) are not installed (scripts/pg start installs them)"
        );
        eprintln!("skipping {test}: PostgreSQL's server binaries are not installed");
    }
    bin
}

/// A cluster in a temporary directory on `127.0.0.1:<port>`, user `authkit` without password
/// (trust, loopback only). Stopped and removed when dropped.
pub(crate) struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    /// The port it listens on (kept across [`PgCluster::stop`] and [`PgCluster::start`]).
    pub(crate) port: u16,
}

impl PgCluster {
    /// Creates the cluster (initdb) on a free port and starts it.
    pub(crate) fn create(bin: PathBuf) -> Self {
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("authkit-pgc-")
            .tempdir()
            .unwrap();
        if as_postgres {
            run(Command::new("chown").args(["postgres:postgres", path_str(dir.path())]));
        }
        let port = port_outside_the_ephemeral_range();
        let cluster = Self {
            bin,
            dir,
            as_postgres,
            port,
        };
        let data = cluster.data_dir();
        run(cluster.pg_command("initdb").args([
            "-D",
            path_str(&data),
            "-U",
            "authkit",
            "-A",
            "trust",
            "--no-sync",
        ]));
        let settings = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            path_str(&data)
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap();
        cluster.start();
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command running `bin/<program>`, as `postgres` when the test runs as root.
    fn pg_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The URL of the `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgres://authkit@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the cluster (same data directory and port) and waits until it accepts
    /// connections (`pg_ctl -w`).
    pub(crate) fn start(&self) {
        let data = self.data_dir();
        let log = self.dir.path().join("data").join("server.log");
        run(self.pg_command("pg_ctl").args([
            "-D",
            path_str(&data),
            "-l",
            path_str(&log),
            "-w",
            "-t",
            "60",
            "start",
        ]));
    }

    /// Stops the cluster (fast: open connections are closed) and waits until it is down.
    pub(crate) fn stop(&self) {
        run(self.pg_command("pg_ctl").args([
            "-D",
            path_str(&self.data_dir()),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "stop",
        ]));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.data_dir().join("postmaster.pid").exists() {
            let _ = self
                .pg_command("pg_ctl")
                .args(["-D", path_str(&self.data_dir()), "-m", "immediate", "stop"])
                .output();
        }
    }
}

/// A free port below the kernel's ephemeral range. The cluster keeps its port across
/// [`PgCluster::stop`] and [`PgCluster::start`]; a port from the ephemeral range (`bind(:0)`)
/// can be taken meanwhile by any socket of the machine, another test's server or the local end
/// of an outgoing connection, and the restart then fails (seen once in CI-sized runs).
fn port_outside_the_ephemeral_range() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = 10_000u16;
    assert!(
        ephemeral_low > low + 1_000,
        "ephemeral ports from {ephemeral_low}"
    );
    for _ in 0..200 {
        // The last bytes of a UUIDv7 are random.
        let random = u16::from_le_bytes(uuid::Uuid::now_v7().as_bytes()[14..].try_into().unwrap());
        let port = low + random % (ephemeral_low - low);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {low} and {ephemeral_low}");
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `command`, failing with its output when it does not succeed.
fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
