//! [`SmtpMailer`] and its builder.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authkit_core::async_trait;
use authkit_core::ports::{Mailer, MailerError, OutgoingEmail};
use lettre::address::Envelope;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{Address, Message};

use crate::endpoint::{self, Endpoint, Security};
use crate::error::{SendError, SmtpConfigError, Stage};

/// The sender when [`SmtpMailerBuilder::from`] is not called.
pub const DEFAULT_FROM: &str = "authkit <no-reply@localhost>";

/// How long connecting and each SMTP command may take when [`SmtpMailerBuilder::timeout`] is
/// not called.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The AUTH mechanisms offered, in order of preference (both need TLS to be safe).
const MECHANISMS: &[Mechanism] = &[Mechanism::Plain, Mechanism::Login];

/// A [`Mailer`] that delivers over SMTP with lettre: one connection per message (the outbox
/// worker sends one message at a time), TLS by rustls (webpki roots plus any
/// [extra root](SmtpMailerBuilder::root_certificate_pem)), AUTH PLAIN or LOGIN when the URL has
/// credentials. Connecting (TCP, TLS, greeting, EHLO) and then each command (STARTTLS, AUTH,
/// MAIL FROM, each RCPT TO, DATA, the content) must each finish within the timeout.
///
/// Errors are [`MailerError`]s whose source is a [`SendError`]: permanent for an SMTP 5xx
/// reply (and a message that cannot be built), transient for everything else (4xx replies,
/// timeouts, refused connections, TLS failures).
///
/// Cheap to clone. `Debug` shows the server, security, user name, sender and timeout, never the
/// password.
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    security: Security,
    /// For STARTTLS or implicit TLS; `None` with [`Security::Plain`].
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    user: Option<String>,
    /// Strings masked in every error: the password and the AUTH exchanges that carry it.
    secrets: Vec<String>,
    hello: ClientId,
    from: Mailbox,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("SmtpMailer")
            .field("host", &i.host)
            .field("port", &i.port)
            .field("security", &i.security)
            .field("user", &i.user)
            .field("password", &i.credentials.as_ref().map(|_| "***"))
            .field("from", &i.from.to_string())
            .field("hello_name", &i.hello.to_string())
            .field("timeout", &i.timeout)
            .finish()
    }
}

impl SmtpMailer {
    /// Starts configuring a mailer for `url`:
    ///
    /// | URL | connection |
    /// |---|---|
    /// | `smtp://HOST[:PORT]` | plain (port 25) |
    /// | `smtp://HOST[:PORT]?tls=required` | STARTTLS, refused if not offered (port 587) |
    /// | `smtp://HOST[:PORT]?tls=opportunistic` | STARTTLS if offered (port 587) |
    /// | `smtps://HOST[:PORT]` | implicit TLS (port 465) |
    ///
    /// `USER:PASSWORD@` before the host (percent-encoded) enables AUTH; a path
    /// (`smtp://HOST/client.example.com`) sets the EHLO name. Nothing is checked or
    /// connected until [`SmtpMailerBuilder::build`].
    pub fn builder(url: &str) -> SmtpMailerBuilder {
        SmtpMailerBuilder {
            url: url.to_owned(),
            from: DEFAULT_FROM.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            root_pems: Vec::new(),
            hello_name: None,
        }
    }

    /// A mailer for `url` with every default: sender [`DEFAULT_FROM`], timeout
    /// [`DEFAULT_TIMEOUT`].
    pub fn from_url(url: &str) -> Result<Self, SmtpConfigError> {
        Self::builder(url).build()
    }

    /// How the connection is protected.
    pub fn security(&self) -> Security {
        self.inner.security
    }

    /// Whether the URL has credentials that could travel without TLS (plain or opportunistic
    /// STARTTLS): worth a warning at start-up.
    pub fn sends_credentials_in_clear(&self) -> bool {
        self.inner.credentials.is_some() && !self.inner.security.is_encrypted()
    }

    /// The sender of every message (`From` and the envelope's `MAIL FROM`).
    pub fn from_mailbox(&self) -> String {
        self.inner.from.to_string()
    }

    /// The limit on connecting and on each command.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The MIME message for `email`: `From`, `To`, `Subject`, `Date`, a `Message-ID` in the
    /// sender's domain, `Content-Language`, and either `multipart/alternative` (text, then
    /// HTML) or `text/plain` alone.
    fn message(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let to: Address = email.to.as_str().parse().map_err(|e| {
            SendError::local(
                Stage::Build,
                false,
                format!("the recipient is not an SMTP address ({e})"),
            )
        })?;
        // lettre adds Date but not Message-ID, which RFC 5322 asks for and large providers
        // require: a unique id in the sender's domain.
        let message_id = format!(
            "<{}@{}>",
            authkit_core::uuid::Uuid::now_v7().simple(),
            self.inner.from.email.domain()
        );
        let builder = Message::builder()
            .from(self.inner.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.subject.clone())
            .message_id(Some(message_id))
            // A language tag is letters, digits and hyphens: a valid header value as it is.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Content-Language"),
                email.locale.as_str().to_owned(),
            ));
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        };
        message.map_err(|e| {
            SendError::local(
                Stage::Build,
                false,
                format!("the message cannot be built ({e})"),
            )
        })
    }

    /// Runs `step` within the timeout, naming `stage` in its error.
    async fn step<T>(
        &self,
        stage: Stage,
        step: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, SendError> {
        match tokio::time::timeout(self.inner.timeout, step).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(SendError::from_lettre(stage, &e)),
            Err(_elapsed) => Err(SendError::timed_out(stage, self.inner.timeout)),
        }
    }

    /// One SMTP session delivering `content`. lettre's transport bounds only the TCP connect
    /// by its timeout, so the session is driven here, step by step, each under the timeout.
    async fn deliver(&self, envelope: &Envelope, content: &[u8]) -> Result<(), SendError> {
        let i = &self.inner;
        let implicit_tls = match i.security {
            Security::ImplicitTls => i.tls.clone(),
            _ => None,
        };
        let mut conn = self
            .step(
                Stage::Connect,
                AsyncSmtpConnection::connect_tokio1(
                    (i.host.as_str(), i.port),
                    Some(i.timeout),
                    &i.hello,
                    implicit_tls,
                    None,
                ),
            )
            .await?;
        let result = self.transaction(&mut conn, envelope, content).await;
        match &result {
            // The message is accepted: a QUIT that fails changes nothing (and must not cause
            // a second delivery).
            Ok(()) => {
                let _ = tokio::time::timeout(i.timeout, conn.quit()).await;
            }
            // A server that stopped answering would only make QUIT wait too; after a failed
            // STARTTLS lettre has no stream left to write QUIT on (and asserts so in debug).
            Err(e) if e.is_timeout() || e.stage() == Stage::StartTls => {}
            Err(_) => {
                let _ = tokio::time::timeout(i.timeout, conn.abort()).await;
            }
        }
        result
    }

    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        content: &[u8],
    ) -> Result<(), SendError> {
        let i = &self.inner;
        if let Some(tls) = &i.tls {
            let upgrade = match i.security {
                Security::StartTls => true,
                Security::OpportunisticStartTls => conn.can_starttls(),
                Security::Plain | Security::ImplicitTls => false,
            };
            if upgrade {
                // Fails when the server does not offer STARTTLS: `tls=required` means it.
                self.step(Stage::StartTls, conn.starttls(tls.clone(), &i.hello))
                    .await?;
            }
        }
        if let Some(credentials) = &i.credentials {
            self.step(Stage::Auth, conn.auth(MECHANISMS, credentials))
                .await?;
        }
        let mut parameters = Vec::new();
        let non_ascii_address = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a: &Address| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii_address {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(SendError::local(
                    Stage::MailFrom,
                    false,
                    "an address is not ASCII and the server does not offer SMTPUTF8".to_owned(),
                ));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        // lettre encodes bodies and headers to ASCII; kept for completeness.
        if !content.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(SendError::local(
                    Stage::MailFrom,
                    false,
                    "the message is not ASCII and the server does not offer 8BITMIME".to_owned(),
                ));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.step(
            Stage::MailFrom,
            conn.command(Mail::new(envelope.from().cloned(), parameters)),
        )
        .await?;
        for to in envelope.to() {
            self.step(
                Stage::RcptTo,
                conn.command(Rcpt::new(to.clone(), Vec::new())),
            )
            .await?;
        }
        self.step(Stage::Data, conn.command(Data)).await?;
        // Dot-stuffs, sends the final `.` and reads the server's verdict.
        self.step(Stage::Content, conn.message(content)).await?;
        Ok(())
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailerError> {
        let result = match self.message(email) {
            Ok(message) => self.deliver(message.envelope(), &message.formatted()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::debug!(
                    target: "authkit_smtp",
                    to = %email.to,
                    kind = ?email.kind,
                    "email delivered"
                );
                Ok(())
            }
            Err(e) => {
                let secrets = self
                    .inner
                    .secrets
                    .iter()
                    .map(String::as_str)
                    .chain(email.link.as_deref());
                let e = e.scrubbed(secrets);
                Err(if e.is_transient() {
                    MailerError::transient(e)
                } else {
                    MailerError::permanent(e)
                })
            }
        }
    }
}

/// Settings of an [`SmtpMailer`], from [`SmtpMailer::builder`]. `Debug` hides the password.
#[derive(Clone)]
#[must_use = "call .build() to get the mailer"]
pub struct SmtpMailerBuilder {
    url: String,
    from: String,
    timeout: Duration,
    root_pems: Vec<Vec<u8>>,
    hello_name: Option<String>,
}

impl fmt::Debug for SmtpMailerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailerBuilder")
            .field("url", &endpoint::redact(&self.url))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("extra_root_certificates", &self.root_pems.len())
            .field("hello_name", &self.hello_name)
            .finish()
    }
}

impl SmtpMailerBuilder {
    /// The sender, as a mailbox: `Name <address>` or a bare address (default
    /// [`DEFAULT_FROM`]). Its domain also names the `Message-ID`s.
    pub fn from(mut self, mailbox: impl Into<String>) -> Self {
        self.from = mailbox.into();
        self
    }

    /// How long connecting (TCP, TLS handshake, greeting, EHLO) and then each command may take
    /// (default [`DEFAULT_TIMEOUT`], 10 s). A whole delivery can thus take a few times longer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Also trusts the root certificate(s) in `pem`, besides the webpki roots: for a server
    /// whose certificate comes from a private CA. May be called more than once.
    pub fn root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_pems.push(pem.as_ref().to_vec());
        self
    }

    /// The name sent in EHLO (default: the URL's path if it has one, else `[127.0.0.1]`).
    /// Some servers want the sending host's public name.
    pub fn hello_name(mut self, name: impl Into<String>) -> Self {
        self.hello_name = Some(name.into());
        self
    }

    /// Checks the settings and builds the mailer. Makes no connection.
    pub fn build(self) -> Result<SmtpMailer, SmtpConfigError> {
        let Endpoint {
            host,
            port,
            security,
            credentials,
            hello_name,
        } = Endpoint::parse(&self.url)?;
        if self.timeout.is_zero() {
            return Err(SmtpConfigError::ZeroTimeout);
        }
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpConfigError::From {
                value: self.from.clone(),
                reason: e.to_string(),
            })?;
        let hello = match self.hello_name.or(hello_name) {
            Some(name) => {
                if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(SmtpConfigError::HelloName(name));
                }
                ClientId::Domain(name)
            }
            None => ClientId::default(),
        };
        let tls = match security {
            Security::Plain => None,
            Security::StartTls | Security::OpportunisticStartTls | Security::ImplicitTls => {
                let mut tls = TlsParameters::builder(host.clone());
                for pem in &self.root_pems {
                    if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
                        return Err(SmtpConfigError::RootCertificate);
                    }
                    let certificate =
                        Certificate::from_pem(pem).map_err(|_| SmtpConfigError::RootCertificate)?;
                    tls = tls.add_root_certificate(certificate);
                }
                Some(
                    tls.build_rustls()
                        .map_err(|e| SmtpConfigError::Tls(e.to_string()))?,
                )
            }
        };
        let (user, secrets) = match &credentials {
            Some((user, password)) => (Some(user.clone()), secrets_of(user, password)),
            None => (None, Vec::new()),
        };
        Ok(SmtpMailer {
            inner: Arc::new(Inner {
                host,
                port,
                security,
                tls,
                credentials: credentials.map(|(user, password)| Credentials::new(user, password)),
                user,
                secrets,
                hello,
                from,
                timeout: self.timeout,
            }),
        })
    }
}

/// What an error must never show: the password, and the base64 forms in which AUTH PLAIN and
/// AUTH LOGIN send it (a server might echo what it received).
fn secrets_of(user: &str, password: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    vec![
        password.to_owned(),
        b64(format!("\0{user}\0{password}").as_bytes()),
        b64(password.as_bytes()),
    ]
}
