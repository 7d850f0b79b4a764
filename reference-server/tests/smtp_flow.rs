//! The self-service email flows against the server binary with a real SMTP server configured
//! (`AUTHKIT_SMTP_URL`): register → verification email → verify; forgot → reset email →
//! reset → "password changed" notice; change of email → verification at the new address and a
//! notice at the old one → verify the new address. And with the SMTP server down, the API
//! answers exactly as when it is up.
//!
//! The SMTP server is `authkit_testkit::smtp::SmtpReceiver`, listening on 127.0.0.1 inside the
//! test. The binary is the one Cargo built, or `AUTHKIT_SERVER_BIN` (`scripts/test` re-runs this
//! file against `target/release/authkit-server`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use common::process::{Server, server_bin};
use common::smtp::{Received, SmtpReceiver, poll_until};
use common::{PASSWORD, client, unique_email};

/// A public URL with a path, so that the test sees links are built from it (not from Host).
const PUBLIC_URL: &str = "https://accounts.example.test/auth";
const MAIL_FROM_ADDRESS: &str = "no-reply@example.test";
const MAIL_FROM: &str = "Authkit Tests <no-reply@example.test>";
/// How long an email may take to arrive (they are sent after the response).
const MAIL_WAIT: Duration = Duration::from_secs(30);

const SUBJECT_VERIFY: &str = "Verify your email for authkit";
const SUBJECT_RESET: &str = "Reset your authkit password";
const SUBJECT_PASSWORD_CHANGED: &str = "Your authkit password was changed";
const SUBJECT_EMAIL_CHANGED: &str = "Your authkit email address was changed";

const PASSWORD_2: &str = "tangerine submarine velvet orchestra";
const PASSWORD_3: &str = "granite lantern quietly harvesting";

/// A status, the Content-Type, and the body as JSON (`Null` when empty).
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Value,
}

impl Answer {
    fn expect(self, status: StatusCode, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: {}", self.body);
        self.body
    }

    fn expect_problem(self, status: StatusCode, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.body);
        assert_eq!(self.body["code"], code, "{what}: {}", self.body);
    }
}

struct Api {
    client: Client,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self {
            client: client(),
            base: format!("{}/api/v1", server.base),
        }
    }

    async fn call(&self, method: Method, path: &str, bearer: Option<&str>, body: Value) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, None, body).await
    }

    /// Logs in and returns the access token.
    async fn login(&self, email: &str, password: &str) -> String {
        let pair = self
            .post("/login", json!({"email": email, "password": password}))
            .await
            .expect(StatusCode::OK, &format!("POST /login as {email}"));
        pair["access_token"].as_str().unwrap().to_owned()
    }

    async fn me(&self, access: &str) -> Answer {
        self.call(Method::GET, "/users/me", Some(access), Value::Null)
            .await
    }
}

/// Starts the binary in `dir` with SMTP at `smtp_url`, the test's public URL and sender.
fn start_server(dir: &std::path::Path, smtp_url: &str, require_verified: bool) -> Server {
    let server = Server::start_with(
        dir,
        &[
            ("AUTHKIT_SMTP_URL", smtp_url),
            ("AUTHKIT_PUBLIC_URL", PUBLIC_URL),
            ("AUTHKIT_MAIL_FROM", MAIL_FROM),
            (
                "AUTHKIT_REQUIRE_VERIFIED_EMAIL",
                if require_verified { "true" } else { "false" },
            ),
            // The flow makes more than 5 credential requests a minute from one address.
            ("AUTHKIT_RATE_LIMIT_AUTH_PER_MINUTE", "0"),
        ],
        1,
    );
    assert!(
        server.stdout[0].starts_with("authkit-server listening on http://127.0.0.1:"),
        "{:?}",
        server.stdout
    );
    server
}

/// Checks what every email must be: envelope and headers addressed to `to` from the configured
/// sender, the expected subject, multipart/alternative with a text/plain and a text/html part.
/// Returns (text, html).
fn check_email(mail: &Received, to: &str, subject: &str) -> (String, String) {
    assert_eq!(mail.mail_from, MAIL_FROM_ADDRESS, "envelope sender");
    assert_eq!(mail.rcpt_to, [to], "envelope recipients");
    let message = mail.message();
    assert_eq!(message.header("Subject"), Some(subject), "{}", mail.data);
    let to_header = message.header("To").unwrap_or_default();
    assert!(
        to_header == to || to_header.ends_with(&format!("<{to}>")),
        "To: {to_header}, expected {to}"
    );
    let from_header = message.header("From").unwrap_or_default();
    assert!(
        from_header.contains(MAIL_FROM_ADDRESS),
        "From: {from_header}"
    );
    assert!(
        message.header("Date").is_some(),
        "no Date header:\n{}",
        mail.data
    );
    assert!(
        message.header("Message-ID").is_some(),
        "no Message-ID header:\n{}",
        mail.data
    );
    assert_eq!(
        message.mime_type(),
        "multipart/alternative",
        "{}",
        mail.data
    );
    assert_eq!(
        mail.leaf_types(),
        ["text/plain", "text/html"],
        "{}",
        mail.data
    );
    let text = mail.body_of("text/plain").unwrap();
    let html = mail.body_of("text/html").unwrap();
    assert!(
        html.contains("<html") && html.contains("</html>"),
        "HTML part: {html}"
    );
    (text, html)
}

/// The link to `<PUBLIC_URL>/<page>?token=` in the text part (also present in the HTML part),
/// and its token.
fn link_and_token(text: &str, html: &str, page: &str) -> (String, String) {
    let prefix = format!("{PUBLIC_URL}/{page}?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link starting with {prefix} in the text part:\n{text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let token = link[prefix.len()..].to_owned();
    assert!(
        token.len() >= 22,
        "a token of at least 128 bits, got {token:?}"
    );
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')),
        "the token needs no URL escaping: {token:?}"
    );
    assert!(
        html.contains(&format!("href=\"{link}\"")),
        "the HTML part links to {link}:\n{html}"
    );
    (link, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn register_verify_reset_and_change_email_over_smtp() {
    eprintln!("binary under test: {}", server_bin().display());
    let smtp = SmtpReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &smtp.url(), true);
    assert!(
        dir.path().join("authkit.db").exists(),
        "SQLite in the working dir"
    );
    let api = Api::new(&server);
    let old_email = unique_email();
    let new_email = unique_email();
    let mut tokens = Vec::new();

    // Register: 201 {"user"}, unverified; login refused until the address is verified.
    let registered = api
        .post(
            "/register",
            json!({"email": old_email, "password": PASSWORD}),
        )
        .await
        .expect(StatusCode::CREATED, "POST /register");
    assert_eq!(registered["user"]["email"], old_email.as_str());
    assert_eq!(registered["user"]["email_verified"], false);
    let user_id = registered["user"]["id"].clone();
    api.post("/login", json!({"email": old_email, "password": PASSWORD}))
        .await
        .expect_problem(
            StatusCode::FORBIDDEN,
            "email_not_verified",
            "login before verification",
        );

    // The verification email, and its link.
    let mail = smtp
        .wait_for_message(&old_email, SUBJECT_VERIFY, MAIL_WAIT)
        .await;
    let (text, html) = check_email(&mail, &old_email, SUBJECT_VERIFY);
    let (link, token) = link_and_token(&text, &html, "verify-email");
    assert!(link.starts_with(PUBLIC_URL));
    tokens.push(token.clone());

    let verified = api
        .post("/verify-email", json!({"token": token}))
        .await
        .expect(StatusCode::OK, "POST /verify-email");
    assert_eq!(verified["user"]["id"], user_id);
    assert_eq!(verified["user"]["email_verified"], true);
    api.post("/verify-email", json!({"token": token}))
        .await
        .expect_problem(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "the verification token is single use",
        );

    let access = api.login(&old_email, PASSWORD).await;
    let me = api
        .me(&access)
        .await
        .expect(StatusCode::OK, "GET /users/me");
    assert_eq!(me["email"], old_email.as_str());
    assert_eq!(me["email_verified"], true);

    // Forgotten password: 202, then a reset email.
    api.post("/password/forgot", json!({"email": old_email}))
        .await
        .expect(StatusCode::ACCEPTED, "POST /password/forgot");
    let mail = smtp
        .wait_for_message(&old_email, SUBJECT_RESET, MAIL_WAIT)
        .await;
    let (text, html) = check_email(&mail, &old_email, SUBJECT_RESET);
    let (_, reset_token) = link_and_token(&text, &html, "reset-password");
    assert!(text.contains("30 minutes"), "{text}");
    tokens.push(reset_token.clone());

    api.post(
        "/password/reset",
        json!({"token": reset_token, "new_password": PASSWORD_2}),
    )
    .await
    .expect(StatusCode::NO_CONTENT, "POST /password/reset");
    api.post(
        "/password/reset",
        json!({"token": reset_token, "new_password": PASSWORD_3}),
    )
    .await
    .expect_problem(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        "the reset token is single use",
    );
    api.me(&access).await.expect_problem(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a session from before the reset",
    );
    api.post("/login", json!({"email": old_email, "password": PASSWORD}))
        .await
        .expect_problem(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "login with the old password",
        );
    let access = api.login(&old_email, PASSWORD_2).await;

    // The "password changed" notice.
    let mail = smtp
        .wait_for_message(&old_email, SUBJECT_PASSWORD_CHANGED, MAIL_WAIT)
        .await;
    let (text, _) = check_email(&mail, &old_email, SUBJECT_PASSWORD_CHANGED);
    assert!(text.contains("password"), "{text}");
    assert!(!text.contains("token="), "a notice carries no link: {text}");

    // Change of email: 200 with the new address unverified.
    let changed = api
        .call(
            Method::PATCH,
            "/users/me",
            Some(&access),
            json!({"email": new_email, "current_password": PASSWORD_2}),
        )
        .await
        .expect(StatusCode::OK, "PATCH /users/me (email)");
    assert_eq!(changed["id"], user_id);
    assert_eq!(changed["email"], new_email.as_str());
    assert_eq!(changed["email_verified"], false);

    // A verification email to the new address, a notice to the old one.
    let mail = smtp
        .wait_for_message(&new_email, SUBJECT_VERIFY, MAIL_WAIT)
        .await;
    let (text, html) = check_email(&mail, &new_email, SUBJECT_VERIFY);
    let (_, new_token) = link_and_token(&text, &html, "verify-email");
    tokens.push(new_token.clone());
    let mail = smtp
        .wait_for_message(&old_email, SUBJECT_EMAIL_CHANGED, MAIL_WAIT)
        .await;
    let (text, _) = check_email(&mail, &old_email, SUBJECT_EMAIL_CHANGED);
    assert!(
        text.contains(&old_email) && text.contains(&new_email),
        "the notice names both addresses: {text}"
    );
    assert!(!text.contains("token="), "a notice carries no link: {text}");
    let to_old: Vec<_> = smtp
        .messages_to(&old_email)
        .iter()
        .filter_map(Received::subject)
        .collect();
    assert_eq!(
        to_old,
        [
            SUBJECT_VERIFY,
            SUBJECT_RESET,
            SUBJECT_PASSWORD_CHANGED,
            SUBJECT_EMAIL_CHANGED
        ],
        "the new address's verification link never goes to the old address"
    );

    // The new address must be verified before login (AUTHKIT_REQUIRE_VERIFIED_EMAIL=true); the
    // old address no longer logs in.
    api.post(
        "/login",
        json!({"email": new_email, "password": PASSWORD_2}),
    )
    .await
    .expect_problem(
        StatusCode::FORBIDDEN,
        "email_not_verified",
        "login at the new, unverified address",
    );
    api.post(
        "/login",
        json!({"email": old_email, "password": PASSWORD_2}),
    )
    .await
    .expect_problem(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "login at the old address",
    );

    let verified = api
        .post("/verify-email", json!({"token": new_token}))
        .await
        .expect(StatusCode::OK, "POST /verify-email (new address)");
    assert_eq!(verified["user"]["id"], user_id);
    assert_eq!(verified["user"]["email"], new_email.as_str());
    assert_eq!(verified["user"]["email_verified"], true);
    let access = api.login(&new_email, PASSWORD_2).await;
    let me = api
        .me(&access)
        .await
        .expect(StatusCode::OK, "GET /users/me (new address)");
    assert_eq!(me["email"], new_email.as_str());
    assert_eq!(me["email_verified"], true);

    // Password change while logged in: 204, then the notice to the (new) address.
    api.call(
        Method::POST,
        "/password/change",
        Some(&access),
        json!({"current_password": PASSWORD_2, "new_password": PASSWORD_3}),
    )
    .await
    .expect(StatusCode::NO_CONTENT, "POST /password/change");
    api.login(&new_email, PASSWORD_3).await;
    let mail = smtp
        .wait_for_message(&new_email, SUBJECT_PASSWORD_CHANGED, MAIL_WAIT)
        .await;
    check_email(&mail, &new_email, SUBJECT_PASSWORD_CHANGED);

    // Every delivery succeeded, and no secret reached the log.
    let log = server.log_text();
    assert!(
        !log.contains("sending an email failed"),
        "a delivery failed:\n{log}"
    );
    assert!(
        !log.contains("emails are written to the log"),
        "SMTP is configured:\n{log}"
    );
    for secret in [PASSWORD, PASSWORD_2, PASSWORD_3]
        .into_iter()
        .chain(tokens.iter().map(String::as_str))
    {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
    assert_eq!(smtp.messages().len(), 6, "exactly six emails");
}

/// The structure of a JSON value: objects keep their keys, every leaf becomes its type.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

/// What a client sees of register / forgot (known and unknown address) / resend on `server`:
/// (what, status, content type, body shape, body). Register uses `email`.
async fn self_service_answers(
    server: &Server,
    email: &str,
) -> Vec<(&'static str, StatusCode, Option<String>, Value, Value)> {
    let api = Api::new(server);
    let unknown = unique_email();
    let mut answers = Vec::new();
    for (what, path, body) in [
        (
            "register",
            "/register",
            json!({"email": email, "password": PASSWORD}),
        ),
        ("forgot", "/password/forgot", json!({"email": email})),
        (
            "forgot (unknown address)",
            "/password/forgot",
            json!({"email": unknown}),
        ),
        ("resend", "/verify-email/resend", json!({"email": email})),
    ] {
        let answer = api.post(path, body).await;
        answers.push((
            what,
            answer.status,
            answer.content_type,
            shape(&answer.body),
            answer.body,
        ));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smtp_down_changes_no_response() {
    eprintln!("binary under test: {}", server_bin().display());
    // SMTP up: the reference answers.
    let smtp = SmtpReceiver::start().await;
    let up_dir = tempfile::tempdir().unwrap();
    let up = start_server(up_dir.path(), &smtp.url(), false);
    // SMTP down: a port that was free a moment ago, now closed (connection refused).
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down_dir = tempfile::tempdir().unwrap();
    let down = start_server(
        down_dir.path(),
        &format!("smtp://127.0.0.1:{closed_port}"),
        false,
    );

    let up_email = unique_email();
    let down_email = unique_email();
    let with_smtp = self_service_answers(&up, &up_email).await;
    let without_smtp = self_service_answers(&down, &down_email).await;

    // The same statuses, content types and body shapes; the same bodies except for the user's
    // own fields (id, email, timestamps) in register's answer.
    let expected = [
        StatusCode::CREATED,
        StatusCode::ACCEPTED,
        StatusCode::ACCEPTED,
        StatusCode::ACCEPTED,
    ];
    for ((a, b), status) in with_smtp.iter().zip(&without_smtp).zip(expected) {
        let what = a.0;
        assert_eq!(a.1, status, "{what} with SMTP up: {}", a.4);
        assert_eq!(b.1, status, "{what} with SMTP down: {}", b.4);
        assert_eq!(a.2, b.2, "{what}: content type");
        assert_eq!(a.3, b.3, "{what}: body shape");
        if what == "register" {
            for field in ["email_verified", "status", "roles", "display_name"] {
                assert_eq!(a.4["user"][field], b.4["user"][field], "register: {field}");
            }
        } else {
            assert_eq!(a.4, b.4, "{what}: body");
        }
    }

    // With SMTP up, the verification, reset and resent verification emails arrived.
    smtp.wait_for_message(&up_email, SUBJECT_RESET, MAIL_WAIT)
        .await;
    let two_verifications = poll_until(MAIL_WAIT, || {
        smtp.messages_to(&up_email)
            .iter()
            .filter(|m| m.subject().as_deref() == Some(SUBJECT_VERIFY))
            .count()
            == 2
    })
    .await;
    assert!(two_verifications, "{:?}", smtp.messages_to(&up_email));

    // With SMTP down, the three failures (verification at registration, reset, verification
    // again on resend) reach only the log, and the account works.
    let failures_logged = poll_until(MAIL_WAIT, || {
        down.log_text().matches("sending an email failed").count() >= 3
    })
    .await;
    let log = down.log_text();
    assert!(failures_logged, "the mail failures are logged:\n{log}");
    for kind in ["verify_email", "password_reset"] {
        assert!(log.contains(kind), "the {kind} failure is logged:\n{log}");
    }
    assert!(
        !log.contains("token="),
        "a failed email's link reached the log:\n{log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "a password reached the log:\n{log}"
    );
    let api = Api::new(&down);
    let access = api.login(&down_email, PASSWORD).await;
    let me = api
        .me(&access)
        .await
        .expect(StatusCode::OK, "GET /users/me (SMTP down)");
    assert_eq!(me["email"], down_email.as_str());
    assert_eq!(me["email_verified"], false);
    assert!(
        smtp.messages_to(&down_email).is_empty(),
        "the down server has its own (dead) SMTP"
    );
}
