//! A small but real SMTP server for tests, on 127.0.0.1 over TCP.
//!
//! [`SmtpReceiver`] speaks the part of RFC 5321 that a client sending mail needs (greeting,
//! EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT, and `503` for
//! commands out of sequence), accepts any number of connections and messages, and keeps each
//! message's envelope and content. On request it also does:
//!
//! - TLS: STARTTLS (RFC 3207; then MAIL is refused before the upgrade) or implicit TLS, with a
//!   certificate for `localhost` and `127.0.0.1` generated at start, whose PEM
//!   ([`SmtpReceiver::certificate_pem`]) the client must trust;
//! - AUTH PLAIN and LOGIN (RFC 4954) with required credentials: `535` for wrong ones, `530` for
//!   MAIL before AUTH, AUTH not offered before STARTTLS;
//! - faults: [`SmtpReceiver::fail_next`] answers the end of DATA (or RCPT TO, with
//!   [`SmtpReceiver::fail_next_rcpt`]) with a chosen code, e.g. `451` or `550`; a
//!   [silent](SmtpReceiverBuilder::silent) server accepts connections and never greets.
//!
//! [`Received`] parses a message as MIME (headers, multipart, quoted-printable, base64,
//! RFC 2047 encoded words).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//!
//! use authkit_testkit::smtp::SmtpReceiver;
//!
//! let smtp = SmtpReceiver::builder()
//!     .starttls()
//!     .require_auth("mailer", "s3cret")
//!     .start()
//!     .await;
//! assert!(smtp.url().ends_with("?tls=required")); // smtp://127.0.0.1:PORT?tls=required
//! let root = smtp.certificate_pem().unwrap(); // for the client to trust
//! assert!(root.starts_with("-----BEGIN CERTIFICATE-----"));
//!
//! // ... the code under test sends to smtp://mailer:s3cret@127.0.0.1:PORT?tls=required ...
//! # if false {
//! let mail = &smtp.wait_for(1, Duration::from_secs(10)).await[0];
//! assert!(mail.tls);
//! assert_eq!(mail.auth_user.as_deref(), Some("mailer"));
//! assert!(mail.text().unwrap().contains("https://"));
//! # }
//! # }
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test server: failures should be loud"
)]

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the receiver protects connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    None,
    StartTls,
    Implicit,
}

/// An AUTH mechanism the receiver can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `AUTH PLAIN` (RFC 4616): one base64 message `authzid NUL user NUL password`.
    Plain,
    /// `AUTH LOGIN`: user name and password in answer to two `334` prompts.
    Login,
}

impl AuthMechanism {
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
        }
    }
}

/// Settings of an [`SmtpReceiver`], from [`SmtpReceiver::builder`].
#[derive(Debug, Clone)]
#[must_use = "call .start().await"]
pub struct SmtpReceiverBuilder {
    tls: TlsMode,
    auth: Option<(String, String)>,
    mechanisms: Vec<AuthMechanism>,
    silent: bool,
    port: u16,
}

impl SmtpReceiverBuilder {
    /// Offers STARTTLS and refuses MAIL until the client has upgraded.
    pub fn starttls(mut self) -> Self {
        self.tls = TlsMode::StartTls;
        self
    }

    /// Speaks TLS from the first byte (`smtps://`).
    pub fn implicit_tls(mut self) -> Self {
        self.tls = TlsMode::Implicit;
        self
    }

    /// Requires AUTH with these credentials before MAIL (offering PLAIN and LOGIN, unless
    /// [`auth_mechanisms`](Self::auth_mechanisms) says otherwise).
    pub fn require_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// The AUTH mechanisms offered, in order (default PLAIN, LOGIN).
    pub fn auth_mechanisms(mut self, mechanisms: &[AuthMechanism]) -> Self {
        self.mechanisms = mechanisms.to_vec();
        self
    }

    /// Accepts connections and never sends the greeting (nor anything else): for timeouts.
    pub fn silent(mut self) -> Self {
        self.silent = true;
        self
    }

    /// Listens on this port of 127.0.0.1 (default 0: one the system picks). Binding is
    /// retried for up to 5 seconds while the port is still in use, e.g. by a receiver just
    /// dropped.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds and starts accepting connections.
    pub async fn start(self) -> SmtpReceiver {
        let listener = bind(self.port).await;
        let port = listener.local_addr().unwrap().port();
        let certificate = (self.tls != TlsMode::None).then(Certificate::generate);
        let (messages, watcher) = watch::channel(Vec::new());
        let shared = Arc::new(Shared {
            tls: self.tls,
            acceptor: certificate.as_ref().map(|c| c.acceptor.clone()),
            auth: self.auth,
            mechanisms: self.mechanisms,
            silent: self.silent,
            messages,
            faults: Mutex::new(Faults::default()),
            refused: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpReceiver {
            port,
            tls: self.tls,
            certificate_pem: certificate.map(|c| c.pem),
            shared,
            watcher,
            accept,
        }
    }
}

async fn bind(port: u16) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => return listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && port != 0 => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "SMTP receiver: port {port} still in use after 5 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("SMTP receiver: cannot listen on 127.0.0.1:{port}: {e}"),
        }
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, and a TLS acceptor using it.
struct Certificate {
    pem: String,
    acceptor: TlsAcceptor,
}

impl Certificate {
    fn generate() -> Self {
        let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("generate a certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("a TLS server configuration");
        Self {
            pem: cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}

/// What the accept loop and the sessions share with the [`SmtpReceiver`] handle.
struct Shared {
    tls: TlsMode,
    acceptor: Option<TlsAcceptor>,
    auth: Option<(String, String)>,
    mechanisms: Vec<AuthMechanism>,
    silent: bool,
    messages: watch::Sender<Vec<Received>>,
    faults: Mutex<Faults>,
    refused: AtomicUsize,
    connections: AtomicUsize,
}

/// Injected failures still to give: `(count, code)`.
#[derive(Default)]
struct Faults {
    data: Option<(usize, u16)>,
    rcpt: Option<(usize, u16)>,
}

impl Faults {
    /// Takes one failure from `slot`, when any is left.
    fn take(slot: &mut Option<(usize, u16)>) -> Option<u16> {
        let (left, code) = slot.as_mut()?;
        let code = *code;
        *left -= 1;
        if *left == 0 {
            *slot = None;
        }
        Some(code)
    }
}

/// A running receiver; dropping it stops accepting and closes every open session.
pub struct SmtpReceiver {
    port: u16,
    tls: TlsMode,
    certificate_pem: Option<String>,
    shared: Arc<Shared>,
    watcher: watch::Receiver<Vec<Received>>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for SmtpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpReceiver")
            .field("url", &self.url())
            .field("auth", &self.shared.auth.as_ref().map(|(user, _)| user))
            .field("silent", &self.shared.silent)
            .field("messages", &self.watcher.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl SmtpReceiver {
    /// Plain SMTP, no AUTH, on a port the system picks.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// Plain SMTP, no AUTH, on `port` (e.g. the port of a receiver stopped earlier, to bring
    /// SMTP back where a server under test expects it).
    pub async fn start_on(port: u16) -> Self {
        Self::builder().port(port).start().await
    }

    /// Settings for a receiver with TLS, AUTH, a fixed port or silence.
    pub fn builder() -> SmtpReceiverBuilder {
        SmtpReceiverBuilder {
            tls: TlsMode::None,
            auth: None,
            mechanisms: vec![AuthMechanism::Plain, AuthMechanism::Login],
            silent: false,
            port: 0,
        }
    }

    /// Stops accepting, closes every session and waits until the port is free.
    pub async fn stop(mut self) {
        self.accept.abort();
        let _ = (&mut self.accept).await;
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the mode it runs in, without credentials: `smtp://127.0.0.1:PORT`,
    /// `smtp://127.0.0.1:PORT?tls=required` (STARTTLS) or `smtps://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let port = self.port;
        match self.tls {
            TlsMode::None => format!("smtp://127.0.0.1:{port}"),
            TlsMode::StartTls => format!("smtp://127.0.0.1:{port}?tls=required"),
            TlsMode::Implicit => format!("smtps://127.0.0.1:{port}"),
        }
    }

    /// The self-signed certificate (PEM) presented in TLS modes, for the client to trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Answers the end of DATA of the next `count` messages with `code` (e.g. 451, transient,
    /// or 550, permanent) instead of accepting them.
    pub fn fail_next(&self, count: usize, code: u16) {
        self.shared.faults.lock().unwrap().data = (count > 0).then_some((count, code));
    }

    /// Answers the next `count` RCPT TO commands with `code` instead of accepting them.
    pub fn fail_next_rcpt(&self, count: usize, code: u16) {
        self.shared.faults.lock().unwrap().rcpt = (count > 0).then_some((count, code));
    }

    /// How many commands were answered with an injected failure so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.watcher.borrow().clone()
    }

    /// Every message accepted so far whose envelope recipients include `to`.
    pub fn messages_to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits until at least `count` messages have been accepted and returns them all; panics
    /// after `limit`, listing what did arrive. Wakes on each message (no polling).
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let mut rx = self.watcher.clone();
        let waited = tokio::time::timeout(limit, rx.wait_for(|all| all.len() >= count)).await;
        match waited {
            Ok(Ok(all)) => all.clone(),
            _ => panic!(
                "{count} email(s) expected within {limit:?}, got {}: {}",
                self.watcher.borrow().len(),
                self.summary()
            ),
        }
    }

    /// Waits until a message to `to` whose Subject contains `subject` has arrived and returns
    /// the oldest such message; panics after `limit`, listing what did arrive.
    pub async fn wait_for_message(&self, to: &str, subject: &str, limit: Duration) -> Received {
        let matches = |m: &Received| {
            m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to))
                && m.subject().is_some_and(|s| s.contains(subject))
        };
        let mut rx = self.watcher.clone();
        let waited = tokio::time::timeout(limit, rx.wait_for(|all| all.iter().any(matches))).await;
        match waited {
            Ok(Ok(all)) => all.iter().find(|m| matches(m)).cloned().unwrap(),
            _ => panic!(
                "no email to {to} with subject {subject:?} within {limit:?}; got {}",
                self.summary()
            ),
        }
    }

    fn summary(&self) -> String {
        let seen: Vec<_> = self
            .messages()
            .iter()
            .map(|m| format!("to {:?}: {:?}", m.rcpt_to, m.subject()))
            .collect();
        format!("{seen:?}")
    }
}

/// For callers that wait on something other than messages: `true` once `check` holds, `false`
/// when `limit` passed first. Checks every 25 ms.
pub async fn poll_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here, so that aborting this task (drop, stop) also ends every session.
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Replies are small writes answered at once: without this, Nagle's algorithm
                // and delayed ACKs stall every exchange by tens of milliseconds.
                let _ = stream.set_nodelay(true);
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&shared);
                // A client that hangs up or fails the handshake only loses its own session.
                sessions.spawn(async move {
                    let _ = session(stream, &shared).await;
                });
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

/// A byte stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Stream = BufReader<Box<dyn Io>>;

/// The state of one SMTP session.
#[derive(Default)]
struct State {
    tls: bool,
    greeted: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl State {
    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

/// What the session loop does after a command.
enum Next {
    Continue,
    StartTls,
    Quit,
}

/// One SMTP session.
async fn session(mut tcp: TcpStream, shared: &Shared) -> io::Result<()> {
    if shared.silent {
        // Hold the connection open, say nothing, read until the client gives up.
        let mut sink = Vec::new();
        tcp.read_to_end(&mut sink).await?;
        return Ok(());
    }
    let mut state = State::default();
    let io: Box<dyn Io> = match (&shared.acceptor, shared.tls) {
        (Some(acceptor), TlsMode::Implicit) => {
            state.tls = true;
            Box::new(acceptor.accept(tcp).await?)
        }
        _ => Box::new(tcp),
    };
    let mut stream: Stream = BufReader::new(io);
    reply(&mut stream, "220 authkit-test ESMTP ready").await?;
    while let Some(line) = read_line(&mut stream).await? {
        match command(&mut stream, &mut state, shared, &line).await? {
            Next::Continue => {}
            Next::Quit => return Ok(()),
            Next::StartTls => {
                let acceptor = shared
                    .acceptor
                    .as_ref()
                    .expect("STARTTLS offered with a certificate");
                // Whatever the client sent after STARTTLS in clear text is dropped with the
                // buffer (RFC 3207 section 4.2: no pipelining across the upgrade).
                let plain = stream.into_inner();
                stream = BufReader::new(Box::new(acceptor.accept(plain).await?));
                // RFC 3207 section 4.2: forget everything learnt before the upgrade.
                state = State {
                    tls: true,
                    ..State::default()
                };
            }
        }
    }
    Ok(())
}

/// Handles one command line.
async fn command(
    stream: &mut Stream,
    state: &mut State,
    shared: &Shared,
    line: &str,
) -> io::Result<Next> {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    let arg = arg.trim();
    let auth_offered = shared.auth.is_some() && (state.tls || shared.tls != TlsMode::StartTls);
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" if !arg.is_empty() => {
            state.greeted = true;
            state.reset_transaction();
            let mut lines = vec![
                format!("250-authkit-test greets {arg}"),
                "250-8BITMIME".to_owned(),
                "250-SMTPUTF8".to_owned(),
            ];
            if shared.tls == TlsMode::StartTls && !state.tls {
                lines.push("250-STARTTLS".to_owned());
            }
            if auth_offered {
                let names: Vec<_> = shared.mechanisms.iter().map(|m| m.name()).collect();
                lines.push(format!("250-AUTH {}", names.join(" ")));
            }
            lines.push("250 HELP".to_owned());
            reply(stream, &lines.join("\r\n")).await?;
        }
        "HELO" if !arg.is_empty() => {
            state.greeted = true;
            state.reset_transaction();
            reply(stream, "250 authkit-test").await?;
        }
        "EHLO" | "HELO" => reply(stream, "501 5.5.4 a domain is required").await?,
        "STARTTLS" if shared.tls != TlsMode::StartTls => {
            reply(stream, "502 5.5.1 STARTTLS not offered").await?;
        }
        "STARTTLS" if state.tls => reply(stream, "503 5.5.1 TLS already active").await?,
        "STARTTLS" => {
            reply(stream, "220 2.0.0 ready to start TLS").await?;
            return Ok(Next::StartTls);
        }
        "AUTH" if shared.auth.is_none() => reply(stream, "502 5.5.1 AUTH not offered").await?,
        "AUTH" if !auth_offered => {
            reply(stream, "538 5.7.11 encryption required (STARTTLS first)").await?;
        }
        "AUTH" if !state.greeted => reply(stream, "503 5.5.1 EHLO first").await?,
        "AUTH" if state.auth_user.is_some() => {
            reply(stream, "503 5.5.1 already authenticated").await?;
        }
        "AUTH" if state.mail_from.is_some() => {
            reply(
                stream,
                "503 5.5.1 AUTH not allowed during a mail transaction",
            )
            .await?;
        }
        "AUTH" => auth(stream, state, shared, arg).await?,
        "MAIL" if !state.greeted => reply(stream, "503 5.5.1 EHLO/HELO first").await?,
        "MAIL" if shared.tls == TlsMode::StartTls && !state.tls => {
            reply(stream, "530 5.7.0 must issue a STARTTLS command first").await?;
        }
        "MAIL" if shared.auth.is_some() && state.auth_user.is_none() => {
            reply(stream, "530 5.7.0 authentication required").await?;
        }
        "MAIL" if state.mail_from.is_some() => {
            reply(stream, "503 5.5.1 nested MAIL command").await?;
        }
        "MAIL" => match path_arg(arg, "FROM:") {
            Some(path) => {
                state.mail_from = Some(path);
                state.rcpt_to.clear();
                reply(stream, "250 2.1.0 sender ok").await?;
            }
            None => reply(stream, "501 5.5.4 syntax: MAIL FROM:<address>").await?,
        },
        "RCPT" if state.mail_from.is_none() => reply(stream, "503 5.5.1 MAIL first").await?,
        "RCPT" => match path_arg(arg, "TO:") {
            Some(path) if !path.is_empty() => {
                let fault = Faults::take(&mut shared.faults.lock().unwrap().rcpt);
                if let Some(code) = fault {
                    shared.refused.fetch_add(1, Ordering::SeqCst);
                    reply(stream, &injected(code)).await?;
                } else {
                    state.rcpt_to.push(path);
                    reply(stream, "250 2.1.5 recipient ok").await?;
                }
            }
            _ => reply(stream, "501 5.5.4 syntax: RCPT TO:<address>").await?,
        },
        "DATA" if state.rcpt_to.is_empty() => reply(stream, "503 5.5.1 RCPT first").await?,
        "DATA" => {
            reply(stream, "354 end data with <CR><LF>.<CR><LF>").await?;
            let mut data = String::new();
            loop {
                let Some(line) = read_line(stream).await? else {
                    return Ok(Next::Quit); // hung up inside DATA: nothing is delivered
                };
                if line == "." {
                    break;
                }
                // Dot-unstuffing (RFC 5321 section 4.5.2).
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
            }
            let message = Received {
                mail_from: state.mail_from.take().unwrap_or_default(),
                rcpt_to: std::mem::take(&mut state.rcpt_to),
                data,
                tls: state.tls,
                auth_user: state.auth_user.clone(),
            };
            let fault = Faults::take(&mut shared.faults.lock().unwrap().data);
            if let Some(code) = fault {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                reply(stream, &injected(code)).await?;
            } else {
                // Stored before the 250, so a client that got its 250 finds the message here.
                let mut id = 0;
                shared.messages.send_modify(|all| {
                    all.push(message);
                    id = all.len();
                });
                reply(stream, &format!("250 2.0.0 queued as {id}")).await?;
            }
        }
        "RSET" => {
            state.reset_transaction();
            reply(stream, "250 2.0.0 ok").await?;
        }
        "NOOP" => reply(stream, "250 2.0.0 ok").await?,
        "QUIT" => {
            reply(stream, "221 2.0.0 bye").await?;
            return Ok(Next::Quit);
        }
        _ => reply(stream, "502 5.5.2 command not recognized").await?,
    }
    Ok(Next::Continue)
}

/// The reply of an injected failure.
fn injected(code: u16) -> String {
    match code / 100 {
        4 => format!("{code} 4.3.0 try again later (failure injected by the test)"),
        _ => format!("{code} 5.7.1 refused (failure injected by the test)"),
    }
}

/// `AUTH <mechanism> [initial-response]`, with its challenges.
async fn auth(
    stream: &mut Stream,
    state: &mut State,
    shared: &Shared,
    arg: &str,
) -> io::Result<()> {
    let Some((user, password)) = &shared.auth else {
        return reply(stream, "502 5.5.1 AUTH not offered").await;
    };
    let (name, initial) = arg.split_once(' ').unwrap_or((arg, ""));
    let mechanism = shared
        .mechanisms
        .iter()
        .copied()
        .find(|m| m.name().eq_ignore_ascii_case(name));
    let given = match mechanism {
        None => return reply(stream, "504 5.5.4 unrecognized authentication type").await,
        Some(AuthMechanism::Plain) => {
            let Some(response) = challenge(stream, initial, "334 ").await? else {
                return reply(stream, "501 5.7.0 authentication cancelled").await;
            };
            // authzid NUL authcid NUL passwd
            let mut fields = response.split('\0').skip(1);
            match (fields.next(), fields.next(), fields.next()) {
                (Some(u), Some(p), None) => Some((u.to_owned(), p.to_owned())),
                _ => None,
            }
        }
        Some(AuthMechanism::Login) => {
            // "Username:" and "Password:", base64.
            let Some(u) = challenge(stream, initial, "334 VXNlcm5hbWU6").await? else {
                return reply(stream, "501 5.7.0 authentication cancelled").await;
            };
            let Some(p) = challenge(stream, "", "334 UGFzc3dvcmQ6").await? else {
                return reply(stream, "501 5.7.0 authentication cancelled").await;
            };
            Some((u, p))
        }
    };
    match given {
        Some((u, p)) if u == *user && p == *password => {
            state.auth_user = Some(u);
            reply(stream, "235 2.7.0 authentication succeeded").await
        }
        _ => reply(stream, "535 5.7.8 authentication credentials invalid").await,
    }
}

/// The client's base64 answer, decoded: `initial` when the client sent it with the command,
/// else the next line after the `prompt`. `None` when the client cancels (`*`) or sends
/// something that is not base64 text.
async fn challenge(stream: &mut Stream, initial: &str, prompt: &str) -> io::Result<Option<String>> {
    let answer = if initial.is_empty() {
        reply(stream, prompt).await?;
        read_line(stream).await?.unwrap_or_default()
    } else {
        initial.to_owned()
    };
    if answer.trim() == "*" {
        return Ok(None);
    }
    Ok(base64::engine::general_purpose::STANDARD
        .decode(answer.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// A reply line (or lines) with CRLF.
async fn reply(stream: &mut Stream, text: &str) -> io::Result<()> {
    // One write per reply (see `set_nodelay` in the accept loop).
    let io = stream.get_mut();
    io.write_all(format!("{text}\r\n").as_bytes()).await?;
    io.flush().await
}

/// Reads one line, without its CRLF (or LF); `None` at the end of the stream.
async fn read_line(stream: &mut Stream) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    if stream.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The address inside `<...>` after `FROM:` / `TO:` (`prefix`, case-insensitive), without any
/// ESMTP parameters; `None` when the argument is malformed.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let inner = arg[prefix.len()..].trim_start().strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// One accepted message: the SMTP envelope, the DATA (dot-unstuffed, CRLF line ends) and how
/// the session that carried it was protected.
#[derive(Debug, Clone)]
pub struct Received {
    /// The reverse-path of `MAIL FROM:<...>`.
    pub mail_from: String,
    /// The forward-paths of every accepted `RCPT TO:<...>`.
    pub rcpt_to: Vec<String>,
    /// The message content as received after DATA.
    pub data: String,
    /// Whether the session was encrypted (implicit TLS or after STARTTLS).
    pub tls: bool,
    /// The user the session authenticated as, if it did.
    pub auth_user: Option<String>,
}

impl Received {
    /// A message with this content and an empty envelope, for testing the MIME helpers.
    pub fn from_data(data: impl Into<String>) -> Self {
        Self {
            mail_from: String::new(),
            rcpt_to: Vec::new(),
            data: data.into(),
            tls: false,
            auth_user: None,
        }
    }

    /// The whole message as a MIME entity.
    pub fn message(&self) -> Entity {
        Entity::parse(&self.data)
    }

    /// The first top-level header called `name` (case-insensitive), RFC 2047 encoded words
    /// decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.message().header(name).map(decode_encoded_words)
    }

    /// The Subject, decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The decoded text of the first `text/plain` part.
    pub fn text(&self) -> Option<String> {
        self.body_of("text/plain")
    }

    /// The decoded text of the first `text/html` part.
    pub fn html(&self) -> Option<String> {
        self.body_of("text/html")
    }

    /// The decoded body of the first leaf of media type `mime_type` (e.g. `text/plain`).
    pub fn body_of(&self, mime_type: &str) -> Option<String> {
        self.message()
            .leaves()
            .into_iter()
            .find(|e| e.mime_type() == mime_type)
            .map(|e| e.decoded_body())
    }

    /// The media types of the leaves, in order (`["text/plain", "text/html"]` for
    /// `multipart/alternative` with both).
    pub fn leaf_types(&self) -> Vec<String> {
        self.message()
            .leaves()
            .iter()
            .map(Entity::mime_type)
            .collect()
    }
}

/// A MIME entity (a whole message or one part): its unfolded headers and its raw body.
#[derive(Debug, Clone)]
pub struct Entity {
    /// `(name, value)` in order, continuation lines unfolded, values not decoded.
    pub headers: Vec<(String, String)>,
    /// The body, still transfer-encoded, CRLF line ends.
    pub body: String,
}

impl Entity {
    /// Splits headers from body at the first empty line.
    pub fn parse(raw: &str) -> Self {
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut lines = raw.split("\r\n");
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let body = lines.collect::<Vec<_>>().join("\r\n");
        Self { headers, body }
    }

    /// The first header called `name` (case-insensitive), as sent (not decoded).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type, lower case, without parameters (`text/plain` when absent).
    pub fn mime_type(&self) -> String {
        self.header("Content-Type")
            .and_then(|v| v.split(';').next())
            .map_or_else(
                || "text/plain".to_owned(),
                |t| t.trim().to_ascii_lowercase(),
            )
    }

    /// A parameter of the Content-Type header, unquoted.
    pub fn content_type_param(&self, name: &str) -> Option<String> {
        self.header("Content-Type")?
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
    }

    /// The direct parts of a multipart entity (empty for any other).
    pub fn parts(&self) -> Vec<Entity> {
        if !self.mime_type().starts_with("multipart/") {
            return Vec::new();
        }
        let Some(boundary) = self.content_type_param("boundary") else {
            return Vec::new();
        };
        let delimiter = format!("--{boundary}");
        let closing = format!("--{boundary}--");
        let mut parts = Vec::new();
        let mut current: Option<Vec<&str>> = None;
        for line in self.body.split("\r\n") {
            let trimmed = line.trim_end();
            if trimmed == delimiter || trimmed == closing {
                if let Some(lines) = current.take() {
                    parts.push(Entity::parse(&lines.join("\r\n")));
                }
                if trimmed == closing {
                    break;
                }
                current = Some(Vec::new());
            } else if let Some(lines) = current.as_mut() {
                lines.push(line);
            }
        }
        parts
    }

    /// Every non-multipart entity inside this one, depth first (itself when it is not
    /// multipart).
    pub fn leaves(&self) -> Vec<Entity> {
        if self.mime_type().starts_with("multipart/") {
            self.parts().iter().flat_map(Entity::leaves).collect()
        } else {
            vec![self.clone()]
        }
    }

    /// The body with its Content-Transfer-Encoding undone (7bit, 8bit, binary,
    /// quoted-printable with soft line breaks, base64), as UTF-8 text.
    pub fn decoded_body(&self) -> String {
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "quoted-printable" => {
                String::from_utf8(decode_quoted_printable(&self.body)).expect("UTF-8 text")
            }
            "base64" => {
                let compact: String = self
                    .body
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("valid base64");
                String::from_utf8(bytes).expect("UTF-8 text")
            }
            "7bit" | "8bit" | "binary" => self.body.clone(),
            other => panic!("unexpected Content-Transfer-Encoding {other}"),
        }
    }
}

/// Quoted-printable (RFC 2045 section 6.7): `=XX` is a byte, `=` at a line end is a soft line
/// break (removed with the line end), trailing whitespace on a line is not part of the text.
pub fn decode_quoted_printable(input: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let lines: Vec<&str> = input.split("\r\n").collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches([' ', '\t']);
        let bytes = line.as_bytes();
        let mut soft_break = false;
        let mut j = 0;
        while j < bytes.len() {
            if bytes[j] == b'=' {
                if j + 1 == bytes.len() {
                    soft_break = true;
                    break;
                }
                let hex = line
                    .get(j + 1..j + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    j += 3;
                    continue;
                }
            }
            out.push(bytes[j]);
            j += 1;
        }
        if !soft_break && i + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// A header value with its RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`)
/// decoded; whitespace between two adjacent encoded words is dropped, as the RFC says. Words in
/// charsets other than UTF-8 and US-ASCII are left as they are.
pub fn decode_encoded_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match encoded_word(candidate) {
            Some((decoded, len)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&decoded);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Decodes the encoded word at the start of `s` (`=?charset?encoding?text?=`): the text and
/// the length of the word.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(char::is_whitespace)
        || !matches!(charset.to_ascii_lowercase().as_str(), "utf-8" | "us-ascii")
    {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "Q" | "q" => decode_quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((String::from_utf8(bytes).ok()?, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_escapes() {
        let qp = "a=3Db and a very long li=\r\nne=20\r\nnext";
        assert_eq!(
            String::from_utf8(decode_quoted_printable(qp)).unwrap(),
            "a=b and a very long line \r\nnext"
        );
    }

    #[test]
    fn multipart_parsing_with_a_folded_header() {
        let raw = "Subject: hi\r\nContent-Type: multipart/alternative;\r\n boundary=\"XYZ\"\r\n\r\n\
                   --XYZ\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   aGVsbG8=\r\n--XYZ\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--XYZ--\r\n";
        let m = Received::from_data(raw);
        assert_eq!(m.subject().as_deref(), Some("hi"));
        assert_eq!(m.leaf_types(), ["text/plain", "text/html"]);
        assert_eq!(m.text().unwrap(), "hello");
        assert_eq!(m.html().unwrap(), "<p>x</p>");
    }

    #[test]
    fn encoded_words_are_decoded_and_joined() {
        assert_eq!(
            decode_encoded_words("=?utf-8?b?VsOpcmlmaWV6?= =?utf-8?q?_votre_e-mail?="),
            "Vérifiez votre e-mail"
        );
        assert_eq!(decode_encoded_words("plain =?x?y text"), "plain =?x?y text");
        assert_eq!(
            decode_encoded_words("a =?ISO-8859-1?Q?caf=E9?= b"),
            "a =?ISO-8859-1?Q?caf=E9?= b"
        );
    }

    #[test]
    fn path_arguments() {
        assert_eq!(
            path_arg("FROM:<a@b> SMTPUTF8", "FROM:").as_deref(),
            Some("a@b")
        );
        assert_eq!(path_arg("from: <a@b>", "FROM:").as_deref(), Some("a@b"));
        assert_eq!(path_arg("TO:a@b", "TO:"), None);
        assert_eq!(path_arg("T", "TO:"), None);
    }

    /// A raw SMTP client: sends a line, returns the reply's last line.
    struct Client {
        stream: BufReader<TcpStream>,
    }

    impl Client {
        async fn connect(receiver: &SmtpReceiver) -> (Self, String) {
            let tcp = TcpStream::connect(("127.0.0.1", receiver.port()))
                .await
                .unwrap();
            let mut client = Self {
                stream: BufReader::new(tcp),
            };
            let greeting = client.read_reply().await;
            (client, greeting)
        }

        async fn read_reply(&mut self) -> String {
            loop {
                let mut line = String::new();
                assert!(
                    self.stream.read_line(&mut line).await.unwrap() > 0,
                    "closed"
                );
                // "250-..." continues, "250 ..." ends a reply.
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_owned();
                }
            }
        }

        async fn send(&mut self, line: &str) -> String {
            let tcp = self.stream.get_mut();
            tcp.write_all(format!("{line}\r\n").as_bytes())
                .await
                .unwrap();
            self.read_reply().await
        }

        async fn code(&mut self, line: &str) -> u16 {
            self.send(line).await[..3].parse().unwrap()
        }
    }

    #[tokio::test]
    async fn speaks_smtp_in_sequence_and_unstuffs_dots() {
        let smtp = SmtpReceiver::start().await;
        let (mut c, greeting) = Client::connect(&smtp).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert_eq!(c.code("MAIL FROM:<a@x>").await, 503, "MAIL before EHLO");
        assert_eq!(c.code("EHLO").await, 501);
        assert_eq!(c.code("EHLO client.test").await, 250);
        assert_eq!(c.code("RCPT TO:<b@y>").await, 503, "RCPT before MAIL");
        assert_eq!(c.code("MAIL FROM:<a@x> BODY=8BITMIME").await, 250);
        assert_eq!(c.code("MAIL FROM:<a@x>").await, 503, "nested MAIL");
        assert_eq!(c.code("DATA").await, 503, "DATA before RCPT");
        assert_eq!(c.code("RCPT TO:<b@y>").await, 250);
        assert_eq!(c.code("DATA").await, 354);
        assert_eq!(c.code("Subject: s\r\n\r\n..dot\r\nline\r\n.").await, 250);
        assert_eq!(c.code("STARTTLS").await, 502, "not offered");
        assert_eq!(c.code("AUTH PLAIN").await, 502, "not offered");
        assert_eq!(c.code("VRFY b").await, 502);
        assert_eq!(c.code("QUIT").await, 221);
        let m = &smtp.wait_for(1, Duration::from_secs(5)).await[0];
        assert_eq!(
            (m.mail_from.as_str(), m.rcpt_to.as_slice()),
            ("a@x", &["b@y".to_owned()][..])
        );
        assert_eq!(m.data, "Subject: s\r\n\r\n.dot\r\nline\r\n");
        assert_eq!(m.text().unwrap(), ".dot\r\nline\r\n");
    }

    #[tokio::test]
    async fn requires_auth_and_checks_credentials() {
        let smtp = SmtpReceiver::builder().require_auth("u", "p").start().await;
        let (mut c, _) = Client::connect(&smtp).await;
        assert_eq!(c.code("EHLO client.test").await, 250);
        assert_eq!(c.code("MAIL FROM:<a@x>").await, 530, "MAIL before AUTH");
        assert_eq!(c.code("AUTH CRAM-MD5").await, 504);
        // PLAIN with an initial response: "\0u\0wrong", then "\0u\0p".
        assert_eq!(c.code("AUTH PLAIN AHUAd3Jvbmc=").await, 535);
        // LOGIN: "u" then "wrong", then the right pair.
        assert_eq!(c.code("AUTH LOGIN").await, 334);
        assert_eq!(c.code("dQ==").await, 334);
        assert_eq!(c.code("d3Jvbmc=").await, 535);
        assert_eq!(c.code("AUTH LOGIN").await, 334);
        assert_eq!(c.code("*").await, 501, "cancelled");
        assert_eq!(c.code("AUTH PLAIN").await, 334);
        assert_eq!(c.code("AHUAcA==").await, 235);
        assert_eq!(
            c.code("AUTH PLAIN AHUAcA==").await,
            503,
            "already authenticated"
        );
        assert_eq!(c.code("MAIL FROM:<a@x>").await, 250);
        assert_eq!(c.code("RSET").await, 250);
    }

    #[tokio::test]
    async fn starttls_mode_refuses_auth_and_mail_in_clear_text() {
        let smtp = SmtpReceiver::builder()
            .starttls()
            .require_auth("u", "p")
            .start()
            .await;
        let (mut c, _) = Client::connect(&smtp).await;
        c.stream
            .get_mut()
            .write_all(b"EHLO client.test\r\n")
            .await
            .unwrap();
        let mut ehlo = String::new();
        loop {
            let mut line = String::new();
            c.stream.read_line(&mut line).await.unwrap();
            ehlo.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
        assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
        assert_eq!(c.code("AUTH PLAIN AHUAcA==").await, 538);
        assert_eq!(c.code("MAIL FROM:<a@x>").await, 530);
        assert_eq!(c.code("STARTTLS").await, 220);
    }

    #[tokio::test]
    async fn a_silent_receiver_accepts_and_never_greets() {
        let smtp = SmtpReceiver::builder().silent().start().await;
        let mut tcp = TcpStream::connect(("127.0.0.1", smtp.port()))
            .await
            .unwrap();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut byte)).await;
        assert!(read.is_err(), "no greeting: {read:?}");
        assert_eq!(smtp.connections(), 1);
    }

    #[test]
    fn faults_count_down() {
        let mut slot = Some((2, 451));
        assert_eq!(Faults::take(&mut slot), Some(451));
        assert_eq!(Faults::take(&mut slot), Some(451));
        assert_eq!(Faults::take(&mut slot), None);
    }
}
