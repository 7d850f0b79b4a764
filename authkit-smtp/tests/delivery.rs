//! `SmtpMailer` against a real SMTP server on 127.0.0.1 (`authkit_testkit::smtp`): plain,
//! STARTTLS, implicit TLS, AUTH, injected 4xx/5xx replies, a silent server, a closed port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

use std::future::Future;
use std::time::Duration;

use authkit_core::domain::{Email, Locale};
use authkit_core::ports::{EmailKind, Mailer, MailerError, OutgoingEmail};
use authkit_smtp::{SendError, SmtpConfigError, SmtpMailer, Stage};
use authkit_testkit::smtp::{AuthMechanism, Received, SmtpReceiver};

const FROM: &str = "authkit <no-reply@example.test>";
const LINK: &str = "https://accounts.example.test/verify-email?token=Tok3n-abcdefghijklmnop";
const TEXT_MARKER: &str = "text-body-marker-7c1f";
const HTML_MARKER: &str = "html-body-marker-9e2a";
const PASSWORD: &str = "pa:ss@word/hunter22";
/// PASSWORD percent-encoded for the URL's userinfo.
const PASSWORD_IN_URL: &str = "pa%3Ass%40word%2Fhunter22";
const WAIT: Duration = Duration::from_secs(10);

fn email(html: bool) -> OutgoingEmail {
    OutgoingEmail {
        to: Email::parse("ada@example.com").unwrap(),
        kind: EmailKind::VerifyEmail,
        locale: Locale::parse("pt-BR").unwrap(),
        subject: "Verifique o seu e-mail — authkit".to_owned(),
        text: format!("Olá! Abra {LINK}\r\n{TEXT_MARKER}\r\n.a line starting with a dot\r\n"),
        html: html.then(|| {
            format!("<html><body><p>Olá! <a href=\"{LINK}\">Verificar</a></p><p>{HTML_MARKER}</p></body></html>")
        }),
        link: Some(LINK.to_owned()),
    }
}

fn mailer(url: &str) -> SmtpMailer {
    SmtpMailer::builder(url).from(FROM).build().unwrap()
}

/// A mailer that trusts `receiver`'s certificate.
fn tls_mailer(url: &str, receiver: &SmtpReceiver) -> SmtpMailer {
    SmtpMailer::builder(url)
        .from(FROM)
        .root_certificate_pem(receiver.certificate_pem().unwrap())
        .build()
        .unwrap()
}

/// `url` with `user:PASSWORD@` inserted after the scheme.
fn with_credentials(url: &str, user: &str, password_in_url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{user}:{password_in_url}@{rest}")
}

/// Fails a test that hangs instead of letting it run forever.
async fn guarded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after 60 s"))
}

fn send_error(e: &MailerError) -> &SendError {
    e.source.downcast_ref::<SendError>().unwrap()
}

/// What every message must be: envelope and headers, both parts with their text and link.
fn check_delivered(m: &Received) {
    assert_eq!(m.mail_from, "no-reply@example.test");
    assert_eq!(m.rcpt_to, ["ada@example.com"]);
    assert_eq!(m.header("From").as_deref(), Some(FROM));
    assert_eq!(m.header("To").as_deref(), Some("ada@example.com"));
    assert_eq!(
        m.subject().as_deref(),
        Some("Verifique o seu e-mail — authkit")
    );
    assert_eq!(m.header("Content-Language").as_deref(), Some("pt-BR"));
    assert!(m.header("Date").is_some(), "{}", m.data);
    let id = m.header("Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with("@example.test>") && id.len() > 30,
        "Message-ID: {id}"
    );
    assert_eq!(m.message().mime_type(), "multipart/alternative");
    assert_eq!(m.leaf_types(), ["text/plain", "text/html"]);
    let text = m.text().unwrap();
    assert!(text.starts_with("Olá! Abra "), "{text}");
    assert!(text.contains(LINK) && text.contains(TEXT_MARKER), "{text}");
    assert!(text.contains("\r\n.a line starting with a dot"), "{text}");
    let html = m.html().unwrap();
    assert!(html.contains(&format!("href=\"{LINK}\"")), "{html}");
    assert!(html.contains(HTML_MARKER), "{html}");
}

#[tokio::test]
async fn delivers_over_plain_smtp() {
    let smtp = SmtpReceiver::start().await;
    guarded("send", mailer(&smtp.url()).send(&email(true)))
        .await
        .unwrap();
    // The receiver stores a message before its 250, so it is there once send returns.
    let sent = smtp.messages();
    assert_eq!(sent.len(), 1);
    check_delivered(&sent[0]);
    assert!(!sent[0].tls);
    assert_eq!(sent[0].auth_user, None);
}

#[tokio::test]
async fn sends_text_only_messages_as_text_plain() {
    let smtp = SmtpReceiver::start().await;
    guarded("send", mailer(&smtp.url()).send(&email(false)))
        .await
        .unwrap();
    let m = &smtp.wait_for(1, WAIT).await[0];
    assert_eq!(m.leaf_types(), ["text/plain"]);
    assert!(m.text().unwrap().contains(LINK));
    assert_eq!(m.html(), None);
    assert_eq!(m.header("Content-Language").as_deref(), Some("pt-BR"));
}

#[tokio::test]
async fn delivers_over_starttls() {
    let smtp = SmtpReceiver::builder().starttls().start().await;
    assert!(smtp.url().ends_with("?tls=required"));
    guarded("send", tls_mailer(&smtp.url(), &smtp).send(&email(true)))
        .await
        .unwrap();
    let m = &smtp.wait_for(1, WAIT).await[0];
    check_delivered(m);
    assert!(m.tls, "the message travelled after STARTTLS");
}

#[tokio::test]
async fn opportunistic_starttls_upgrades_when_offered_and_goes_plain_otherwise() {
    let tls = SmtpReceiver::builder().starttls().start().await;
    let url = format!("smtp://127.0.0.1:{}?tls=opportunistic", tls.port());
    guarded("send", tls_mailer(&url, &tls).send(&email(true)))
        .await
        .unwrap();
    assert!(tls.wait_for(1, WAIT).await[0].tls);

    let plain = SmtpReceiver::start().await;
    let url = format!("smtp://127.0.0.1:{}?tls=opportunistic", plain.port());
    guarded("send", mailer(&url).send(&email(true)))
        .await
        .unwrap();
    assert!(!plain.wait_for(1, WAIT).await[0].tls);
}

#[tokio::test]
async fn delivers_over_implicit_tls() {
    let smtp = SmtpReceiver::builder().implicit_tls().start().await;
    assert!(smtp.url().starts_with("smtps://"));
    guarded("send", tls_mailer(&smtp.url(), &smtp).send(&email(true)))
        .await
        .unwrap();
    let m = &smtp.wait_for(1, WAIT).await[0];
    check_delivered(m);
    assert!(m.tls);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_transient_error_and_nothing_is_sent() {
    for smtp in [
        SmtpReceiver::builder().starttls().start().await,
        SmtpReceiver::builder().implicit_tls().start().await,
    ] {
        // The webpki roots only: the receiver's self-signed certificate is not among them.
        let err = guarded("send", mailer(&smtp.url()).send(&email(true)))
            .await
            .unwrap_err();
        assert!(err.transient, "{}", send_error(&err));
        assert!(smtp.messages().is_empty());
    }
}

#[tokio::test]
async fn tls_required_fails_when_the_server_offers_no_starttls() {
    let smtp = SmtpReceiver::start().await;
    let url = format!("smtp://127.0.0.1:{}?tls=required", smtp.port());
    let err = guarded("send", mailer(&url).send(&email(true)))
        .await
        .unwrap_err();
    assert_eq!(
        send_error(&err).stage(),
        Stage::StartTls,
        "{}",
        send_error(&err)
    );
    assert!(smtp.messages().is_empty(), "nothing goes out in clear text");
}

#[tokio::test]
async fn authenticates_with_plain_and_with_login() {
    for mechanism in [AuthMechanism::Plain, AuthMechanism::Login] {
        let smtp = SmtpReceiver::builder()
            .starttls()
            .require_auth("mailer@example.test", PASSWORD)
            .auth_mechanisms(&[mechanism])
            .start()
            .await;
        let url = with_credentials(&smtp.url(), "mailer%40example.test", PASSWORD_IN_URL);
        let mailer = tls_mailer(&url, &smtp);
        assert!(!mailer.sends_credentials_in_clear());
        guarded("send", mailer.send(&email(true))).await.unwrap();
        let m = &smtp.wait_for(1, WAIT).await[0];
        check_delivered(m);
        assert_eq!(
            m.auth_user.as_deref(),
            Some("mailer@example.test"),
            "{mechanism:?}"
        );
        assert!(m.tls);
    }
}

#[tokio::test]
async fn authenticates_over_implicit_tls_and_over_plain_smtp() {
    let smtp = SmtpReceiver::builder()
        .implicit_tls()
        .require_auth("mailer", PASSWORD)
        .start()
        .await;
    let url = with_credentials(&smtp.url(), "mailer", PASSWORD_IN_URL);
    guarded("send", tls_mailer(&url, &smtp).send(&email(true)))
        .await
        .unwrap();
    assert_eq!(
        smtp.wait_for(1, WAIT).await[0].auth_user.as_deref(),
        Some("mailer")
    );

    let smtp = SmtpReceiver::builder()
        .require_auth("mailer", PASSWORD)
        .start()
        .await;
    let mailer = mailer(&with_credentials(&smtp.url(), "mailer", PASSWORD_IN_URL));
    assert!(mailer.sends_credentials_in_clear());
    guarded("send", mailer.send(&email(true))).await.unwrap();
    assert_eq!(
        smtp.wait_for(1, WAIT).await[0].auth_user.as_deref(),
        Some("mailer")
    );
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_error_that_hides_the_password() {
    let smtp = SmtpReceiver::builder()
        .starttls()
        .require_auth("mailer", "the-right-one")
        .start()
        .await;
    let url = with_credentials(&smtp.url(), "mailer", PASSWORD_IN_URL);
    let err = guarded("send", tls_mailer(&url, &smtp).send(&email(true)))
        .await
        .unwrap_err();
    let e = send_error(&err);
    assert!(!err.transient, "{e}");
    assert_eq!((e.stage(), e.code()), (Stage::Auth, Some(535)), "{e}");
    assert!(!e.to_string().contains("hunter22"), "{e}");
    assert!(!format!("{err:?}").contains("hunter22"), "{err:?}");
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn without_credentials_a_server_requiring_auth_refuses_mail_for_good() {
    let smtp = SmtpReceiver::builder()
        .require_auth("mailer", PASSWORD)
        .start()
        .await;
    let err = guarded("send", mailer(&smtp.url()).send(&email(true)))
        .await
        .unwrap_err();
    let e = send_error(&err);
    assert!(!err.transient);
    assert_eq!((e.stage(), e.code()), (Stage::MailFrom, Some(530)), "{e}");
}

#[tokio::test]
async fn a_4xx_at_the_end_of_data_is_transient_and_the_next_attempt_passes() {
    let smtp = SmtpReceiver::start().await;
    smtp.fail_next(1, 451);
    let mailer = mailer(&smtp.url());
    let err = guarded("send", mailer.send(&email(true)))
        .await
        .unwrap_err();
    let e = send_error(&err);
    assert!(err.transient, "{e}");
    assert!(e.is_transient());
    assert_eq!((e.stage(), e.code()), (Stage::Content, Some(451)), "{e}");
    assert!(smtp.messages().is_empty());
    assert_eq!(smtp.refused(), 1);

    guarded("retry", mailer.send(&email(true))).await.unwrap();
    check_delivered(&smtp.wait_for(1, WAIT).await[0]);
}

#[tokio::test]
async fn a_5xx_at_the_end_of_data_or_at_rcpt_is_permanent() {
    let smtp = SmtpReceiver::start().await;
    let mailer = mailer(&smtp.url());
    smtp.fail_next(2, 550);
    for _ in 0..2 {
        let err = guarded("send", mailer.send(&email(true)))
            .await
            .unwrap_err();
        let e = send_error(&err);
        assert!(!err.transient, "{e}");
        assert_eq!((e.stage(), e.code()), (Stage::Content, Some(550)), "{e}");
    }
    smtp.fail_next_rcpt(1, 550);
    let err = guarded("send", mailer.send(&email(true)))
        .await
        .unwrap_err();
    assert!(!err.transient);
    assert_eq!(send_error(&err).stage(), Stage::RcptTo);
    smtp.fail_next_rcpt(1, 450);
    let err = guarded("send", mailer.send(&email(true)))
        .await
        .unwrap_err();
    assert!(err.transient);
    assert_eq!(send_error(&err).code(), Some(450));
    assert_eq!(smtp.refused(), 4);
    assert!(smtp.messages().is_empty());
    guarded("send", mailer.send(&email(true))).await.unwrap();
    assert_eq!(smtp.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_silent_server_is_a_transient_timeout() {
    let smtp = SmtpReceiver::builder().silent().start().await;
    let mailer = SmtpMailer::builder(&smtp.url())
        .from(FROM)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let err = guarded("send", mailer.send(&email(true)))
        .await
        .unwrap_err();
    let e = send_error(&err);
    assert!(err.transient, "{e}");
    assert!(e.is_timeout(), "{e}");
    assert_eq!(e.stage(), Stage::Connect, "{e}");
    assert_eq!(smtp.connections(), 1);
}

#[tokio::test]
async fn a_closed_port_is_transient_and_smtp_can_come_back_on_it() {
    let smtp = SmtpReceiver::start().await;
    let port = smtp.port();
    smtp.stop().await;
    let mailer = mailer(&format!("smtp://127.0.0.1:{port}"));
    let err = guarded("send", mailer.send(&email(true)))
        .await
        .unwrap_err();
    assert!(err.transient, "{}", send_error(&err));
    assert_eq!(send_error(&err).stage(), Stage::Connect);

    let smtp = SmtpReceiver::start_on(port).await;
    guarded("send", mailer.send(&email(true))).await.unwrap();
    check_delivered(&smtp.wait_for(1, WAIT).await[0]);
}

#[tokio::test]
async fn errors_never_show_the_body_the_link_or_the_password() {
    let smtp = SmtpReceiver::builder()
        .require_auth("mailer", PASSWORD)
        .start()
        .await;
    let mailer = mailer(&with_credentials(&smtp.url(), "mailer", PASSWORD_IN_URL));
    for code in [451, 554] {
        smtp.fail_next(1, code);
        let err = guarded("send", mailer.send(&email(true)))
            .await
            .unwrap_err();
        // What the outbox stores (the source's Display), the whole chain and Debug.
        let mut texts = vec![err.to_string(), err.source.to_string(), format!("{err:?}")];
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            texts.push(s.to_string());
            source = s.source();
        }
        for text in texts {
            for secret in [TEXT_MARKER, HTML_MARKER, "Tok3n", "hunter22", "Olá"] {
                assert!(!text.contains(secret), "{secret:?} in {text:?}");
            }
        }
        assert!(
            err.source.to_string().contains(&code.to_string()),
            "the code is kept: {}",
            err.source
        );
    }
}

#[test]
fn debug_never_shows_the_password() {
    let url = format!("smtps://mailer:{PASSWORD_IN_URL}@mail.example.com");
    let builder = SmtpMailer::builder(&url).from(FROM);
    let debug = format!("{builder:?}");
    assert!(!debug.contains("hunter22"), "{debug}");
    let mailer = builder.build().unwrap();
    let debug = format!("{mailer:?}");
    assert!(!debug.contains("hunter22"), "{debug}");
    assert!(
        debug.contains("mail.example.com") && debug.contains("mailer"),
        "{debug}"
    );
    assert!(!mailer.sends_credentials_in_clear());
    assert_eq!(mailer.from_mailbox(), FROM);
    assert_eq!(mailer.timeout(), authkit_smtp::DEFAULT_TIMEOUT);
}

#[test]
fn bad_settings_are_refused_when_building() {
    let url = "smtp://127.0.0.1:2525";
    let err = SmtpMailer::builder(url)
        .from("not a mailbox")
        .build()
        .unwrap_err();
    assert!(matches!(err, SmtpConfigError::From { .. }), "{err}");
    let err = SmtpMailer::builder(url)
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, SmtpConfigError::ZeroTimeout);
    let err = SmtpMailer::builder("smtps://127.0.0.1")
        .root_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert_eq!(err, SmtpConfigError::RootCertificate);
    let err = SmtpMailer::builder(url)
        .hello_name("two words")
        .build()
        .unwrap_err();
    assert!(matches!(err, SmtpConfigError::HelloName(_)), "{err}");
    let err = SmtpMailer::from_url("smtp://u:hunter22@h?tls=always").unwrap_err();
    assert!(!err.to_string().contains("hunter22"), "{err}");
    let default = SmtpMailer::from_url(url).unwrap();
    assert_eq!(default.from_mailbox(), authkit_smtp::DEFAULT_FROM);
}
