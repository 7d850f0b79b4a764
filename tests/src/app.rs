//! [`TestApp`]: an authkit app served on `127.0.0.1:0` by a real adapter over a fresh database,
//! with a capture mailer, a manual clock and the fast hasher; [`Reply`] and assertions.

use std::net::SocketAddr;
use std::sync::Arc;

use authkit_core::jwt::JwtKeys;
use authkit_core::testing::{ManualClock, MemoryMailer, fast_hasher};
use authkit_core::{AuthConfig, AuthKit};
use secrecy::SecretBox;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::db::{Backend, TestDb};

/// The HS256 secret of test apps, so tests can forge tokens with the right key.
pub const TEST_SECRET: &[u8] = b"authkit-test-secret-0123456789abcdef";
/// Issuer of test apps.
pub const TEST_ISSUER: &str = "https://auth.test";
/// Audience of test apps.
pub const TEST_AUDIENCE: &str = "authkit-tests";
/// A password that satisfies the default policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// Which adapter serves the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// authkit-axum.
    Axum,
}

/// Which signing keys the app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keys {
    /// HS256 with [`TEST_SECRET`].
    #[default]
    Hs256,
    /// A fresh Ed25519 key.
    Ed25519,
}

/// How to build a test app.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Signing keys.
    pub keys: Keys,
    /// `AuthConfig::require_verified_email`.
    pub require_verified_email: bool,
}

/// Spawns apps for one (framework, backend) pair; what each contract test receives.
#[derive(Debug, Clone, Copy)]
pub struct Harness {
    /// The adapter.
    pub framework: Framework,
    /// The database.
    pub backend: Backend,
}

impl Harness {
    /// An app with the default options.
    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(AppOptions::default()).await
    }

    /// An app with `options`.
    pub async fn spawn_with(&self, options: AppOptions) -> TestApp {
        TestApp::spawn(self.framework, self.backend, options).await
    }
}

/// A running app.
pub struct TestApp {
    /// The kit behind the server.
    pub kit: AuthKit,
    /// The clock the kit reads.
    pub clock: Arc<ManualClock>,
    /// Every email sent.
    pub mailer: Arc<MemoryMailer>,
    /// `http://127.0.0.1:<port>/api/v1`.
    pub base: String,
    /// A client without cookie store or redirects.
    pub client: reqwest::Client,
    db: Option<TestDb>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Spawns an app; panics when the backend is unavailable (check
    /// [`crate::backend_available`] first).
    pub async fn spawn(framework: Framework, backend: Backend, options: AppOptions) -> Self {
        crate::logs::capture();
        let db = TestDb::new(backend)
            .await
            .unwrap_or_else(|| panic!("{backend:?} is not available"));
        let clock = Arc::new(ManualClock::starting_now());
        let mailer = Arc::new(MemoryMailer::new());
        let keys = match options.keys {
            Keys::Hs256 => JwtKeys::hs256(&SecretBox::new(Box::from(TEST_SECRET))).unwrap(),
            Keys::Ed25519 => {
                JwtKeys::ed25519(&[JwtKeys::generate_ed25519(clock_now(&clock)).unwrap()]).unwrap()
            }
        };
        let config = AuthConfig {
            issuer: TEST_ISSUER.to_owned(),
            audience: TEST_AUDIENCE.to_owned(),
            require_verified_email: options.require_verified_email,
            ..AuthConfig::default()
        };
        let kit = AuthKit::builder(config)
            .store_arc(db.store())
            .mailer_arc(mailer.clone())
            .clock_arc(clock.clone())
            .hasher(fast_hasher())
            .keys(keys)
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = match framework {
            Framework::Axum => {
                let app = axum::Router::new().nest("/api/v1", authkit_axum::router(kit.clone()));
                tokio::spawn(async move {
                    axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
                })
            }
        };
        Self {
            kit,
            clock,
            mailer,
            base: format!("http://{addr}/api/v1"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            db: Some(db),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server and drops the test database (kept when a test panics before this).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }

    /// The URL of a contract path (`/login`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and reads the whole reply.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        fetch(request).await
    }

    /// `POST path` with a JSON body. The future borrows nothing, so many can run at once.
    pub fn post(&self, path: &str, body: &Value) -> impl Future<Output = Reply> + use<> {
        fetch(self.client.post(self.url(path)).json(body))
    }

    /// `POST path` with a JSON body and a bearer token.
    pub fn post_auth(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> impl Future<Output = Reply> + use<> {
        fetch(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
    }

    /// `GET path` with a bearer token.
    pub fn get_auth(&self, path: &str, token: &str) -> impl Future<Output = Reply> + use<> {
        fetch(self.client.get(self.url(path)).bearer_auth(token))
    }

    /// Registers `email` with [`PASSWORD`]; asserts 201.
    pub async fn register(&self, email: &str) -> Value {
        let r = self
            .post(
                "/register",
                &json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 201, "register {email}: {}", r.text);
        r.json["user"].clone()
    }

    /// Logs `email` in with [`PASSWORD`]; asserts 200 and returns the token pair.
    pub async fn login(&self, email: &str) -> Value {
        let r = self
            .post("/login", &json!({ "email": email, "password": PASSWORD }))
            .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        r.json
    }

    /// Registers and logs in; returns the token pair.
    pub async fn signed_in(&self, email: &str) -> Value {
        self.register(email).await;
        self.login(email).await
    }

    /// `GET /users/me` with `token`.
    pub fn me(&self, token: &str) -> impl Future<Output = Reply> + use<> {
        self.get_auth("/users/me", token)
    }
}

async fn fetch(request: reqwest::RequestBuilder) -> Reply {
    Reply::read(request.send().await.unwrap()).await
}

fn clock_now(clock: &ManualClock) -> time::OffsetDateTime {
    use authkit_core::ports::Clock;
    clock.now()
}

/// A reply read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
    /// Body as JSON (`Null` when empty or not JSON).
    pub json: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// Asserts a problem document with this status and code (and `WWW-Authenticate: Bearer` for
    /// `unauthorized`, no internal detail for 5xx).
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type; body: {}",
            self.text
        );
        assert_eq!(self.json["code"], code, "code; body: {}", self.text);
        assert_eq!(self.json["status"], status);
        assert_eq!(self.json["type"], "about:blank");
        assert!(self.json["title"].is_string());
        assert!(self.json["detail"].is_string());
        if code == "unauthorized" {
            assert_eq!(self.header("www-authenticate"), Some("Bearer"));
        }
        if status >= 500 {
            let d = self.json["detail"].as_str().unwrap_or("");
            assert!(!d.contains("sql") && !d.contains(".rs"), "5xx leaks: {d}");
        }
    }
}
