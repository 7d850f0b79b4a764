//! Crash safety of the email outbox, with the server binary and a real SMTP server
//! (`authkit_testkit::smtp::SmtpReceiver`):
//!
//! - a server killed with SIGKILL after answering register and forgot-password, while SMTP is
//!   down, loses no email: `authkit-server outbox list` shows them pending, and once SMTP is
//!   back the restarted server delivers each exactly once, with working links;
//! - emails abandoned while SMTP was down (`AUTHKIT_OUTBOX_MAX_ATTEMPTS=1`) are queued again by
//!   `authkit-server outbox retry` (by id and `--all`) and delivered once by the next server.
//!
//! The binary is the one Cargo built, or `AUTHKIT_SERVER_BIN` (`scripts/test` re-runs this file
//! against `target/release/authkit-server`). Waits poll with deadlines.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use authkit_core::ports::{Clock, SystemClock};
use authkit_core::time::OffsetDateTime;
use authkit_core::time::format_description::well_known::Rfc3339;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::process::{Server, command, server_bin};
use common::smtp::{Received, SmtpReceiver};
use common::{PASSWORD, client, unique_email};

const PUBLIC_URL: &str = "https://accounts.example.test/auth";
const SUBJECT_VERIFY: &str = "Verify your email for authkit";
const SUBJECT_RESET: &str = "Reset your authkit password";
const SUBJECT_CHANGED: &str = "Your authkit password was changed";
const NEW_PASSWORD: &str = "tangerine submarine velvet orchestra";
/// Generous: these normally take a few seconds.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// A port where nothing listens (bound for a moment by the system, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts the binary in `dir` (SQLite `authkit.db` there) with SMTP on `port` of 127.0.0.1,
/// the first retry after 1 s, no rate limits, and `extra`.
fn start(dir: &Path, port: u16, extra: &[(&str, &str)]) -> Server {
    let url = format!("smtp://127.0.0.1:{port}");
    let mut vars = vec![
        ("AUTHKIT_SMTP_URL", url.as_str()),
        ("AUTHKIT_PUBLIC_URL", PUBLIC_URL),
        ("AUTHKIT_OUTBOX_RETRY_SECONDS", "1"),
        ("AUTHKIT_RATE_LIMIT_PER_MINUTE", "0"),
        ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
    ];
    vars.extend_from_slice(extra);
    Server::start_with(dir, &vars, 1)
}

/// `authkit-server outbox <args>` on the database in `dir`; asserts success and returns the
/// lines printed.
fn outbox(dir: &Path, args: &[&str]) -> Vec<String> {
    let output = command(dir)
        .arg("outbox")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "outbox {args:?}: {:?}\nstdout: {out}\nstderr: {err}",
        output.status
    );
    out.lines().map(str::to_owned).collect()
}

/// One message of `outbox list`.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    status: String,
    kind: String,
    to: String,
    attempts: u32,
    next_attempt: Option<OffsetDateTime>,
    last_error: String,
}

/// `outbox list <args>`: the counts line and the messages.
fn list(dir: &Path, args: &[&str]) -> (String, Vec<Row>) {
    let mut list_args = vec!["list"];
    list_args.extend_from_slice(args);
    let lines = outbox(dir, &list_args);
    let counts = lines[0].clone();
    assert!(counts.starts_with("outbox: "), "{lines:#?}");
    if lines[1] == "no messages" {
        assert_eq!(lines.len(), 2, "{lines:#?}");
        return (counts, Vec::new());
    }
    assert_eq!(
        lines[1],
        "id\tstatus\tkind\tto\tattempts\tnext attempt\tcreated\tlast error"
    );
    let rows = lines[2..]
        .iter()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 8, "{line}");
            Row {
                id: f[0].to_owned(),
                status: f[1].to_owned(),
                kind: f[2].to_owned(),
                to: f[3].to_owned(),
                attempts: f[4].parse().unwrap(),
                next_attempt: (f[5] != "-").then(|| OffsetDateTime::parse(f[5], &Rfc3339).unwrap()),
                last_error: f[7].to_owned(),
            }
        })
        .collect();
    (counts, rows)
}

/// The `outbox` counts of `/ready`.
async fn ready_outbox(server: &Server) -> Value {
    let ready: Value = client()
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["outbox"].clone()
}

/// Polls `/ready` until its outbox counts are `expected`.
async fn wait_for_ready_outbox(server: &Server, expected: Value, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = ready_outbox(server).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {WAIT:?}: /ready shows {now}; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(POLL).await;
    }
}

fn outbox_counts(queued: u64, abandoned: u64, sent: u64) -> Value {
    json!({"queued": queued, "processing": 0, "sent": sent, "dropped": 0, "abandoned": abandoned})
}

async fn post(server: &Server, path: &str, body: Value) -> (StatusCode, String) {
    let response = client()
        .post(format!("{}/api/v1{path}", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// How many messages to `to` have `subject`.
fn count(smtp: &SmtpReceiver, to: &str, subject: &str) -> usize {
    smtp.messages_to(to)
        .iter()
        .filter(|m| m.subject().as_deref() == Some(subject))
        .count()
}

/// The token of the link to `<PUBLIC_URL>/<page>?token=` in the text part, which the HTML part
/// links to as well.
fn token_in(mail: &Received, page: &str) -> String {
    let text = mail.text().expect("a text part");
    let html = mail.html().expect("an HTML part");
    let prefix = format!("{PUBLIC_URL}/{page}?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link starting with {prefix} in the text part:\n{text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        html.contains(&format!("href=\"{link}\"")),
        "the HTML part links to {link}:\n{html}"
    );
    link[prefix.len()..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_after_answering_loses_no_email() {
    eprintln!("binary under test: {}", server_bin().display());
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let email = unique_email();

    // SMTP down: the server answers as usual.
    let mut server = start(dir.path(), port, &[]);
    let (status, body) = post(
        &server,
        "/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "register: {body}");
    let (status, body) = post(&server, "/password/forgot", json!({"email": email})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "forgot: {body}");

    // SIGKILL between two delivery attempts. (Killed in the middle of one, a message would stay
    // claimed by the dead worker until its lease ends, minutes later: a delay, not a loss; the
    // in-process tests cover it.) The first retry comes 1 s after the first failure, the next
    // 2 s after the second: kill once both messages wait for a retry at least 1 s away.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, rows) = list(dir.path(), &["--status", "unsent"]);
        let now = SystemClock.now();
        let safe = rows.len() == 2
            && rows.iter().all(|r| {
                r.status == "queued"
                    && r.attempts >= 1
                    && r.next_attempt
                        .is_some_and(|next| next - now >= authkit_core::time::Duration::SECOND)
            });
        if safe {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both messages waiting for a retry within {WAIT:?}: {rows:#?}"
        );
        tokio::time::sleep(POLL).await;
    }
    server.signal("KILL");
    let status = server.wait_exit(WAIT);
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    let log = server.log_text();
    assert!(
        log.contains("sending an email failed"),
        "the failures are logged:\n{log}"
    );
    assert!(!log.contains("token="), "a link reached the log:\n{log}");

    // `outbox list` on the dead server's database: both messages pending, failed, no secret.
    let (counts, rows) = list(dir.path(), &[]);
    assert_eq!(
        counts,
        "outbox: 2 queued, 0 processing, 0 abandoned, 0 sent, 0 dropped"
    );
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["password_reset", "verify_email"], "{rows:#?}");
    for row in &rows {
        assert_eq!(row.to, email);
        assert_eq!(row.status, "queued");
        assert!(row.attempts >= 1, "{row:#?}");
        assert!(
            row.last_error.starts_with("transient") && row.last_error.contains("connect"),
            "{row:#?}"
        );
        assert!(!row.last_error.contains("token="), "{row:#?}");
    }
    let (_, pending) = list(dir.path(), &["--status", "pending"]);
    assert_eq!(pending.len(), 2, "{pending:#?}");

    // SMTP comes back on that port; the server starts again on the same database.
    let smtp = SmtpReceiver::start_on(port).await;
    let server = start(dir.path(), port, &[]);
    let verify = smtp.wait_for_message(&email, SUBJECT_VERIFY, WAIT).await;
    let reset = smtp.wait_for_message(&email, SUBJECT_RESET, WAIT).await;

    // The links work: both tokens were committed before the crash.
    let token = token_in(&verify, "verify-email");
    let (status, body) = post(&server, "/verify-email", json!({"token": token})).await;
    assert_eq!(status, StatusCode::OK, "verify: {body}");
    let token = token_in(&reset, "reset-password");
    let (status, body) = post(
        &server,
        "/password/reset",
        json!({"token": token, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "reset: {body}");
    smtp.wait_for_message(&email, SUBJECT_CHANGED, WAIT).await;

    // Every message is marked sent (nothing left to send again), and each arrived once.
    wait_for_ready_outbox(&server, outbox_counts(0, 0, 3), "three messages sent").await;
    for subject in [SUBJECT_VERIFY, SUBJECT_RESET, SUBJECT_CHANGED] {
        assert_eq!(count(&smtp, &email, subject), 1, "{subject}");
    }
    assert_eq!(smtp.messages().len(), 3);
    let (_, sent) = list(dir.path(), &["--status", "sent"]);
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let log = server.log_text();
    assert!(
        !log.contains("sending an email failed"),
        "the restarted server failed a delivery:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_retry_queues_abandoned_emails_again() {
    eprintln!("binary under test: {}", server_bin().display());
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let emails = [unique_email(), unique_email()];

    // SMTP down and one attempt per message: both verifications are abandoned.
    let mut server = start(dir.path(), port, &[("AUTHKIT_OUTBOX_MAX_ATTEMPTS", "1")]);
    for email in &emails {
        let (status, body) = post(
            &server,
            "/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "register: {body}");
    }
    wait_for_ready_outbox(&server, outbox_counts(0, 2, 0), "both messages abandoned").await;
    server.signal("TERM");
    assert!(server.wait_exit(WAIT).success(), "{}", server.log_text());

    let (counts, rows) = list(dir.path(), &[]);
    assert_eq!(
        counts,
        "outbox: 0 queued, 0 processing, 2 abandoned, 0 sent, 0 dropped"
    );
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for row in &rows {
        assert_eq!(
            (row.status.as_str(), row.kind.as_str(), row.attempts),
            ("abandoned", "verify_email", 1),
            "{row:#?}"
        );
        assert_eq!(row.next_attempt, None, "only queued messages show one");
        assert!(row.last_error.starts_with("transient"), "{row:#?}");
    }
    let (_, pending) = list(dir.path(), &["--status", "pending"]);
    assert!(pending.is_empty(), "{pending:#?}");

    // Queued again: one by id, then the rest with --all; nothing is left to queue.
    assert_eq!(
        outbox(dir.path(), &["retry", &rows[0].id]),
        ["1 abandoned email(s) queued again"]
    );
    assert_eq!(
        outbox(dir.path(), &["retry", "--all"]),
        ["1 abandoned email(s) queued again"]
    );
    assert_eq!(
        outbox(dir.path(), &["retry", "--all"]),
        ["0 abandoned email(s) queued again"]
    );
    let (counts, queued) = list(dir.path(), &["--status", "queued"]);
    assert_eq!(
        counts,
        "outbox: 2 queued, 0 processing, 0 abandoned, 0 sent, 0 dropped"
    );
    assert!(queued.iter().all(|r| r.attempts == 0), "{queued:#?}");

    // SMTP up: the next server delivers each once, at its first attempt.
    let smtp = SmtpReceiver::start_on(port).await;
    let server = start(dir.path(), port, &[("AUTHKIT_OUTBOX_MAX_ATTEMPTS", "1")]);
    smtp.wait_for(2, WAIT).await;
    wait_for_ready_outbox(&server, outbox_counts(0, 0, 2), "both messages sent").await;
    for email in &emails {
        assert_eq!(count(&smtp, email, SUBJECT_VERIFY), 1, "{email}");
    }
    assert_eq!(smtp.messages().len(), 2);
}
