//! The `authkit-server` binary as a child process: a clean environment, a working directory,
//! the startup lines on stdout, the log (stderr) in a file.
//!
//! The binary is the one Cargo built for these tests, or the one named by `AUTHKIT_SERVER_BIN`
//! (e.g. `target/release/authkit-server`, as `scripts/test` does for the SMTP flow).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary under test: `AUTHKIT_SERVER_BIN` when set (and not empty), otherwise the one
/// Cargo built with these tests.
pub(crate) fn server_bin() -> PathBuf {
    match std::env::var_os("AUTHKIT_SERVER_BIN") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "AUTHKIT_SERVER_BIN={} is not a file",
                path.display()
            );
            path
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_authkit-server")),
    }
}

/// The binary with a clean environment (no AUTHKIT_* or RUST_LOG from the caller) in `dir`.
pub(crate) fn command(dir: &Path) -> Command {
    let mut command = Command::new(server_bin());
    command.current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// A started server: its address, its stdout lines, and its stderr (logs) in a file. Dropping
/// it kills the process if it still runs.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`, from the startup line.
    pub(crate) base: String,
    /// The startup lines read from stdout.
    pub(crate) stdout: Vec<String>,
    log: PathBuf,
}

impl Server {
    /// Starts the binary in `dir` on `127.0.0.1:0` with no other setting and waits for its two
    /// startup lines (the address, and the notice that emails go to the log).
    pub(crate) fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[], 2)
    }

    /// Starts the binary in `dir` on `127.0.0.1:0` with the extra variables `vars`, and waits
    /// (up to 2 minutes) for the "listening on" line and `startup_lines` lines in all.
    pub(crate) fn start_with(dir: &Path, vars: &[(&str, &str)], startup_lines: usize) -> Self {
        let log = dir.join("server.log");
        let mut command = command(dir);
        command.env("AUTHKIT_BIND", "127.0.0.1:0");
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines = Vec::new();
        let mut base = None;
        while base.is_none() || lines.len() < startup_lines {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("authkit-server listening on ") {
                        let url = rest.split_whitespace().next().unwrap().to_owned();
                        base = Some(url);
                    }
                    lines.push(line);
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "no startup line ({e}); stdout so far: {lines:?}; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        Self {
            child,
            base: base.unwrap(),
            stdout: lines,
            log,
        }
    }

    /// Sends the signal `name` (`TERM`, `INT`) with kill(1).
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Polls until the process exits, or kills it and fails after `limit`.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the server did not exit within {limit:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
