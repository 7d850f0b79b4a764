//! A small but real SMTP receiver for tests, on 127.0.0.1 over TCP: it speaks the protocol of
//! RFC 5321 that a client sending mail needs (greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT, and 503 for commands out of sequence), accepts any number
//! of connections and messages, and keeps each message's envelope and content. [`Received`]
//! then parses the content as MIME (headers, multipart, quoted-printable and base64).
//!
//! Used by the mailer's unit tests (`src/mail.rs` includes this file) and by the end-to-end
//! flow against the server binary (`tests/smtp_flow.rs`).
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test helper: failures should be loud"
)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One accepted message: the SMTP envelope and the DATA (dot-unstuffed, CRLF line ends).
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The reverse-path of `MAIL FROM:<...>`.
    pub(crate) mail_from: String,
    /// The forward-paths of every accepted `RCPT TO:<...>`.
    pub(crate) rcpt_to: Vec<String>,
    /// The message content as received after DATA.
    pub(crate) data: String,
}

/// A running receiver; dropping it stops accepting connections.
#[derive(Debug)]
pub(crate) struct SmtpReceiver {
    port: u16,
    messages: watch::Receiver<Vec<Received>>,
    accept: JoinHandle<()>,
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl SmtpReceiver {
    /// Listens on 127.0.0.1 on a port the system picks.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, messages) = watch::channel(Vec::new());
        let tx = Arc::new(tx);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = Arc::clone(&tx);
                tokio::spawn(async move {
                    // A client that hangs up mid-session only loses its own transaction.
                    let _ = session(stream, &tx).await;
                });
            }
        });
        Self {
            port,
            messages,
            accept,
        }
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP).
    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far, in order.
    pub(crate) fn messages(&self) -> Vec<Received> {
        self.messages.borrow().clone()
    }

    /// Every message accepted so far whose envelope recipients include `to`.
    pub(crate) fn messages_to(&self, to: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits until a message to `to` whose Subject contains `subject` has arrived (the oldest
    /// such message is returned); fails after `limit`, listing what did arrive.
    pub(crate) async fn wait_for(&self, to: &str, subject: &str, limit: Duration) -> Received {
        let matches = |m: &Received| {
            m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(to))
                && m.subject().is_some_and(|s| s.contains(subject))
        };
        let mut rx = self.messages.clone();
        let waited = tokio::time::timeout(limit, rx.wait_for(|all| all.iter().any(matches))).await;
        match waited {
            Ok(Ok(all)) => all.iter().find(|m| matches(m)).cloned().unwrap(),
            _ => {
                let seen: Vec<_> = self
                    .messages()
                    .iter()
                    .map(|m| format!("to {:?}: {:?}", m.rcpt_to, m.subject()))
                    .collect();
                panic!("no email to {to} with subject {subject:?} within {limit:?}; got {seen:?}")
            }
        }
    }
}

/// A reply line (or lines) with CRLF.
async fn reply(stream: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    stream.write_all(text.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

/// The address inside `<...>` after `FROM:` / `TO:` (`prefix`, case-insensitive), without any
/// ESMTP parameters; `None` when the argument is malformed.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let arg = arg.trim_start();
    if arg.len() < prefix.len() || !arg[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// Reads one line, without its CRLF (or LF); `None` at the end of the stream.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if reader.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// One SMTP session.
async fn session(stream: TcpStream, tx: &watch::Sender<Vec<Received>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    reply(&mut write, "220 authkit-test ESMTP ready").await?;
    let mut greeted = false;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut reader).await? {
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" if !arg.trim().is_empty() => {
                greeted = true;
                mail_from = None;
                rcpt_to.clear();
                reply(&mut write, "250-authkit-test greets you\r\n250 HELP").await?;
            }
            "HELO" if !arg.trim().is_empty() => {
                greeted = true;
                mail_from = None;
                rcpt_to.clear();
                reply(&mut write, "250 authkit-test").await?;
            }
            "EHLO" | "HELO" => reply(&mut write, "501 5.5.4 a domain is required").await?,
            "MAIL" if !greeted => reply(&mut write, "503 5.5.1 EHLO/HELO first").await?,
            "MAIL" if mail_from.is_some() => {
                reply(&mut write, "503 5.5.1 nested MAIL command").await?;
            }
            "MAIL" => match path_arg(arg, "FROM:") {
                Some(path) => {
                    mail_from = Some(path);
                    rcpt_to.clear();
                    reply(&mut write, "250 2.1.0 sender ok").await?;
                }
                None => reply(&mut write, "501 5.5.4 syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" if mail_from.is_none() => {
                reply(&mut write, "503 5.5.1 MAIL first").await?;
            }
            "RCPT" => match path_arg(arg, "TO:") {
                Some(path) if !path.is_empty() => {
                    rcpt_to.push(path);
                    reply(&mut write, "250 2.1.5 recipient ok").await?;
                }
                _ => reply(&mut write, "501 5.5.4 syntax: RCPT TO:<address>").await?,
            },
            "DATA" if rcpt_to.is_empty() => {
                reply(&mut write, "503 5.5.1 RCPT first").await?;
            }
            "DATA" => {
                reply(&mut write, "354 end data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(&mut reader).await? else {
                        return Ok(()); // hung up inside DATA: nothing is delivered
                    };
                    if line == "." {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 section 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                let message = Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                // Stored before the 250, so a client that got its 250 finds the message here.
                let mut id = 0;
                tx.send_modify(|all| {
                    all.push(message);
                    id = all.len();
                });
                reply(&mut write, &format!("250 2.0.0 queued as {id}")).await?;
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                reply(&mut write, "250 2.0.0 ok").await?;
            }
            "NOOP" => reply(&mut write, "250 2.0.0 ok").await?,
            "QUIT" => {
                reply(&mut write, "221 2.0.0 bye").await?;
                return Ok(());
            }
            _ => reply(&mut write, "502 5.5.2 command not recognized").await?,
        }
    }
    Ok(())
}

/// A MIME entity (a whole message or one part): its unfolded headers and its raw body.
#[derive(Debug, Clone)]
pub(crate) struct Entity {
    /// `(name, value)` in order, continuation lines unfolded.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, still transfer-encoded, CRLF line ends.
    pub(crate) body: String,
}

impl Entity {
    /// Splits headers from body at the first empty line.
    pub(crate) fn parse(raw: &str) -> Self {
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

    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type, lower case, without parameters (`text/plain` when absent).
    pub(crate) fn mime_type(&self) -> String {
        self.header("Content-Type")
            .and_then(|v| v.split(';').next())
            .map_or_else(
                || "text/plain".to_owned(),
                |t| t.trim().to_ascii_lowercase(),
            )
    }

    /// A parameter of the Content-Type header, unquoted.
    pub(crate) fn content_type_param(&self, name: &str) -> Option<String> {
        self.header("Content-Type")?
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
    }

    /// The direct parts of a multipart entity (empty for any other).
    pub(crate) fn parts(&self) -> Vec<Entity> {
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
            let line_trimmed = line.trim_end();
            if line_trimmed == delimiter || line_trimmed == closing {
                if let Some(lines) = current.take() {
                    parts.push(Entity::parse(&lines.join("\r\n")));
                }
                if line_trimmed == closing {
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
    pub(crate) fn leaves(&self) -> Vec<Entity> {
        if self.mime_type().starts_with("multipart/") {
            self.parts().iter().flat_map(Entity::leaves).collect()
        } else {
            vec![self.clone()]
        }
    }

    /// The body with its Content-Transfer-Encoding undone (7bit, 8bit, binary,
    /// quoted-printable with soft line breaks, base64), as UTF-8 text.
    pub(crate) fn decoded_body(&self) -> String {
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
pub(crate) fn decode_quoted_printable(input: &str) -> Vec<u8> {
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

impl Received {
    /// The whole message as a MIME entity.
    pub(crate) fn message(&self) -> Entity {
        Entity::parse(&self.data)
    }

    /// The Subject header.
    pub(crate) fn subject(&self) -> Option<String> {
        self.message().header("Subject").map(str::to_owned)
    }

    /// The decoded body of the first leaf of media type `mime_type` (e.g. `text/plain`).
    pub(crate) fn body_of(&self, mime_type: &str) -> Option<String> {
        self.message()
            .leaves()
            .into_iter()
            .find(|e| e.mime_type() == mime_type)
            .map(|e| e.decoded_body())
    }

    /// The media types of the leaves, in order.
    pub(crate) fn leaf_types(&self) -> Vec<String> {
        self.message()
            .leaves()
            .iter()
            .map(Entity::mime_type)
            .collect()
    }
}

/// Wait helper for callers that poll something else: `true` once `check` holds, `false`
/// when `limit` passed first.
pub(crate) async fn poll_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
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
