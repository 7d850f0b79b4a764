//! [`TestApp`]: an authkit app served on `127.0.0.1:0` by a real adapter over a fresh database,
//! with a capture mailer, a manual clock and the fast hasher; [`Reply`] and assertions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use authkit_core::config::{LimitsConfig, OutboxConfig};
use authkit_core::domain::{UserId, UserStatus};
use authkit_core::jwt::JwtKeys;
use authkit_core::limits::MemoryRateLimits;
use authkit_core::ports::{EmailKind, OutgoingEmail};
use authkit_core::ports::{LoginThrottle, RateLimitStore};
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
/// The public URL of test apps (`AuthConfig::public_url`'s default): the base of email links.
pub const PUBLIC_URL: &str = "http://localhost:8080";
/// How long [`TestApp::wait_for_emails`] waits for a background email before failing.
pub const EMAIL_DEADLINE: StdDuration = StdDuration::from_secs(5);
/// How often the mailer is polled.
const EMAIL_POLL: StdDuration = StdDuration::from_millis(10);
/// How long [`TestApp::assert_no_email`] watches for an email that must not come.
pub const NO_EMAIL_WINDOW: StdDuration = StdDuration::from_millis(300);

/// Which adapter serves the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// authkit-axum.
    Axum,
    /// authkit-actix.
    Actix,
}

/// A host route of every test app (outside the contract, at the root): the caller's user id
/// through the adapter's `CurrentUser`.
pub const HOST_WHOAMI: &str = "/host/whoami";
/// A host route of every test app behind the adapter's `require_permission(`[`HOST_PERMISSION`]`)`,
/// answering the caller's user id through `CurrentUser`.
pub const HOST_ADMIN: &str = "/host/admin";
/// A host route of every test app open to anonymous callers, through the adapter's
/// `MaybeUser`: the caller's user id, or `anonymous`.
pub const HOST_MAYBE: &str = "/host/maybe";
/// What [`HOST_MAYBE`] answers without credentials.
pub const ANONYMOUS: &str = "anonymous";
/// The permission [`HOST_ADMIN`] requires.
pub const HOST_PERMISSION: &str = "users:read";

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
    /// Changes to the test configuration, applied last. The defaults of test apps: per-IP and
    /// per-address rate limits off (every test comes from 127.0.0.1), the failed-password
    /// throttle on with its defaults.
    pub configure: Option<fn(&mut AuthConfig)>,
    /// Rate-limit counters in the test database (the store's `RateLimitStore`) instead of
    /// memory.
    pub rate_limits_in_database: bool,
    /// Makes the password hasher (default: [`fast_hasher`]), e.g. real argon2 parameters on a
    /// tiny pool to drive it into overload.
    pub hasher: Option<fn() -> authkit_core::hashing::Argon2Hasher>,
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
    server: Option<Server>,
    worker: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

/// How to stop the server of a [`TestApp`].
enum Server {
    Axum {
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    },
    Actix {
        handle: actix_web::dev::ServerHandle,
        task: tokio::task::JoinHandle<()>,
    },
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
        let mut config = AuthConfig {
            issuer: TEST_ISSUER.to_owned(),
            audience: TEST_AUDIENCE.to_owned(),
            require_verified_email: options.require_verified_email,
            outbox: OutboxConfig {
                // Mail queued by the app wakes the worker at once; the poll only matters for
                // retries, which tests reach by advancing the manual clock.
                poll_interval: authkit_core::time::Duration::milliseconds(20),
                ..OutboxConfig::default()
            },
            limits: LimitsConfig {
                login_throttle: LoginThrottle::default(),
                ..LimitsConfig::off()
            },
            ..AuthConfig::default()
        };
        if let Some(configure) = options.configure {
            configure(&mut config);
        }
        let rate_limits: Arc<dyn RateLimitStore> = if options.rate_limits_in_database {
            db.rate_limits()
        } else {
            Arc::new(MemoryRateLimits::new())
        };
        let kit = AuthKit::builder(config)
            .store_arc(db.store())
            .rate_limits_arc(rate_limits)
            .mailer_arc(mailer.clone())
            .clock_arc(clock.clone())
            .hasher(options.hasher.map_or_else(fast_hasher, |make| make()))
            .keys(keys)
            .build()
            .unwrap();
        let (addr, server) = match framework {
            Framework::Axum => serve_axum(kit.clone()).await,
            Framework::Actix => serve_actix(kit.clone()),
        };
        let (stop_worker, stopped) = oneshot::channel::<()>();
        let worker = tokio::spawn(kit.clone().run_email_worker(async move {
            let _ = stopped.await;
        }));
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
            server: Some(server),
            worker: Some((stop_worker, worker)),
        }
    }

    /// Every row of every table of the app's database, as text ([`crate::db::TestDb::dump`]).
    pub async fn dump_database(&self) -> String {
        self.db
            .as_ref()
            .expect("the database lives until shutdown")
            .dump()
            .await
    }

    /// Closes the database's connection pool: every later store call fails as in an outage
    /// (`StoreError::Unavailable`, a 503). [`TestApp::shutdown`] still cleans up.
    pub async fn close_database(&self) {
        self.db
            .as_ref()
            .expect("the database lives until shutdown")
            .close_pool()
            .await;
    }

    /// Stops the server and drops the test database (kept when a test panics before this).
    pub async fn shutdown(mut self) {
        match self.server.take() {
            Some(Server::Axum { stop, task }) => {
                let _ = stop.send(());
                let _ = task.await;
            }
            Some(Server::Actix { handle, task }) => {
                // Not graceful: every request of the test has been answered, and the client's
                // idle keep-alive connections would hold a graceful stop for its whole timeout.
                handle.stop(false).await;
                let _ = task.await;
            }
            None => {}
        }
        if let Some((stop, task)) = self.worker.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }

    /// The URL of a contract path (`/login`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The URL of a host route at the root, outside the contract ([`HOST_WHOAMI`]).
    pub fn host_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches("/api/v1"))
    }

    /// Creates `email` with [`PASSWORD`] and the `admin` role through the store (the contract
    /// has no route granting roles), logs in over HTTP and returns the token pair.
    pub async fn signed_in_admin(&self, email: &str) -> Value {
        use authkit_core::domain::{ADMIN_ROLE, Email, NewUser, Password, USER_ROLE};
        use authkit_core::ports::PasswordHasher;
        let now = self.now();
        let new = NewUser {
            id: UserId::new_v7(now),
            email: Email::parse(email).unwrap(),
            display_name: None,
            locale: None,
            password_hash: fast_hasher().hash(&Password::new(PASSWORD)).await.unwrap(),
            roles: vec![ADMIN_ROLE.to_owned(), USER_ROLE.to_owned()],
            now,
        };
        self.kit
            .store()
            .create_user(&new, &authkit_core::domain::QueuedMail::none())
            .await
            .unwrap();
        self.login(email).await
    }

    /// Registers `email` with [`PASSWORD`] over HTTP, grants it the `user` and `admin` roles
    /// through the store (`UserStore::admin_update_user`: no route, no audit event), logs in
    /// and returns the token pair (whose access token carries every admin permission).
    pub async fn admin(&self, email: &str) -> Value {
        let user = self.register(email).await;
        self.set_roles(user["id"].as_str().unwrap(), &["user", "admin"])
            .await;
        self.login(email).await
    }

    /// Replaces the roles of `user_id` through the store, bypassing the admin API.
    pub async fn set_roles(&self, user_id: &str, roles: &[&str]) {
        use authkit_core::domain::AdminPatch;
        let id = UserId(uuid::Uuid::parse_str(user_id).unwrap());
        let patch = AdminPatch {
            roles: Some(roles.iter().map(|r| (*r).to_owned()).collect()),
            ..AdminPatch::default()
        };
        self.kit
            .store()
            .admin_update_user(id, &patch, self.now())
            .await
            .unwrap();
    }

    /// Registers every address of `emails` with [`PASSWORD`] in-process (`AuthKit::register`,
    /// the fast hasher), `batch` at a time concurrently; returns the user ids in `emails` order.
    pub async fn register_many(&self, emails: &[String], batch: usize) -> Vec<String> {
        use authkit_core::domain::{Email, Password};
        use authkit_core::service::{RegisterInput, RequestContext};
        let ctx = RequestContext::default();
        let mut ids = Vec::with_capacity(emails.len());
        for chunk in emails.chunks(batch.max(1)) {
            let users = futures::future::join_all(chunk.iter().map(|email| {
                self.kit.register(
                    &ctx,
                    RegisterInput {
                        email: Email::parse(email).unwrap(),
                        password: Password::new(PASSWORD),
                        display_name: None,
                        locale: None,
                    },
                )
            }))
            .await;
            for (email, user) in chunk.iter().zip(users) {
                let user = user.unwrap_or_else(|e| panic!("register {email}: {e:?}"));
                ids.push(user.id.to_string());
            }
        }
        ids
    }

    /// Sends a request and reads the whole reply.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        fetch(request).await
    }

    /// Sends a request whose body is over the limit and reads the reply. The server may answer
    /// 413 and close the connection before the client has written the whole body, which the
    /// client then reports as a broken pipe or a reset; such a transport error is retried (a
    /// few times) rather than taken for the server's answer. `Connection: close` keeps that
    /// half-closed connection out of the client's pool, so the next request gets a fresh one.
    pub async fn send_oversized(&self, make: impl Fn() -> reqwest::RequestBuilder) -> Reply {
        let mut last = None;
        for _ in 0..5 {
            match make().header("connection", "close").send().await {
                Ok(response) => return Reply::read(response).await,
                Err(e) if e.is_request() || e.is_body() => last = Some(e),
                Err(e) => panic!("{e:?}"),
            }
        }
        panic!("no reply to an oversized request: {last:?}")
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

    /// `PATCH path` with a JSON body and a bearer token.
    pub fn patch_auth(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> impl Future<Output = Reply> + use<> {
        fetch(
            self.client
                .patch(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
    }

    /// `PUT path` with a JSON body and a bearer token.
    pub fn put_auth(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> impl Future<Output = Reply> + use<> {
        fetch(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
    }

    /// `GET path` with a bearer token and `query` (values percent-encoded by the client).
    pub fn get_query(
        &self,
        path: &str,
        token: &str,
        query: &[(&str, &str)],
    ) -> impl Future<Output = Reply> + use<> {
        let url = reqwest::Url::parse_with_params(&self.url(path), query).unwrap();
        fetch(self.client.get(url).bearer_auth(token))
    }

    /// `DELETE path` with a bearer token and no body.
    pub fn delete_auth(&self, path: &str, token: &str) -> impl Future<Output = Reply> + use<> {
        fetch(self.client.delete(self.url(path)).bearer_auth(token))
    }

    /// `DELETE path` with a JSON body and a bearer token.
    pub fn delete_auth_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> impl Future<Output = Reply> + use<> {
        fetch(
            self.client
                .delete(self.url(path))
                .bearer_auth(token)
                .json(body),
        )
    }

    /// `POST /login` with `email` and `password`, whatever the outcome.
    pub fn try_login(&self, email: &str, password: &str) -> impl Future<Output = Reply> + use<> {
        self.post("/login", &json!({ "email": email, "password": password }))
    }

    /// `POST /refresh` with `refresh_token` in the body, whatever the outcome.
    pub fn try_refresh(&self, refresh_token: &str) -> impl Future<Output = Reply> + use<> {
        self.post("/refresh", &json!({ "refresh_token": refresh_token }))
    }

    /// The current time of the app's clock.
    pub fn now(&self) -> time::OffsetDateTime {
        clock_now(&self.clock)
    }

    /// Disables the account through the store, as an administrator would.
    pub async fn disable(&self, user_id: &str) {
        let id = UserId(uuid::Uuid::parse_str(user_id).unwrap());
        self.kit
            .store()
            .set_status(id, UserStatus::Disabled, self.now())
            .await
            .unwrap();
    }

    /// The emails of `kind` sent to `to` so far, oldest first (no waiting).
    pub fn emails(&self, to: &str, kind: EmailKind) -> Vec<OutgoingEmail> {
        let to = to.trim().to_lowercase();
        self.mailer
            .messages()
            .into_iter()
            .filter(|m| m.to.as_str() == to && m.kind == kind)
            .collect()
    }

    /// Waits until at least `count` emails of `kind` were sent to `to` (emails go out in the
    /// background after the response) and returns them all, oldest first. Panics after
    /// [`EMAIL_DEADLINE`].
    pub async fn wait_for_emails(
        &self,
        to: &str,
        kind: EmailKind,
        count: usize,
    ) -> Vec<OutgoingEmail> {
        let deadline = Instant::now() + EMAIL_DEADLINE;
        loop {
            let found = self.emails(to, kind);
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} {kind:?} email(s) to {to} within {EMAIL_DEADLINE:?}, got {}",
                found.len()
            );
            tokio::time::sleep(EMAIL_POLL).await;
        }
    }

    /// Waits until the outbox holds nothing queued or being sent: every email queued so far has
    /// reached the mailer (or was dropped), so [`TestApp::emails`] is complete. Panics after
    /// [`EMAIL_DEADLINE`].
    pub async fn wait_for_outbox_idle(&self) {
        let deadline = Instant::now() + EMAIL_DEADLINE;
        loop {
            let counts = self.kit.store().outbox_counts().await.unwrap();
            if counts.queued == 0 && counts.processing == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the outbox still held {counts:?} after {EMAIL_DEADLINE:?}"
            );
            tokio::time::sleep(EMAIL_POLL).await;
        }
    }

    /// The newest email of `kind` to `to`, waiting for the first one.
    pub async fn email_to(&self, to: &str, kind: EmailKind) -> OutgoingEmail {
        let mut all = self.wait_for_emails(to, kind, 1).await;
        all.pop().unwrap()
    }

    /// The token of the newest email of `kind` to `to`, waiting for the first one.
    pub async fn token_in(&self, to: &str, kind: EmailKind) -> String {
        token_of(&self.email_to(to, kind).await)
    }

    /// The token of the `n`-th (1-based) email of `kind` to `to`, waiting for it.
    pub async fn nth_token_in(&self, to: &str, kind: EmailKind, n: usize) -> String {
        token_of(&self.wait_for_emails(to, kind, n).await[n - 1])
    }

    /// Asserts that no more than `count` emails of `kind` were sent to `to`, watching the
    /// mailer for [`NO_EMAIL_WINDOW`]. Absence cannot be awaited, so callers first wait for an
    /// email triggered by a later request (the background sender has caught up to it) and this
    /// short watch catches a straggler; it never delays a passing test by more than the window.
    pub async fn assert_no_email(&self, to: &str, kind: EmailKind, count: usize) {
        let until = Instant::now() + NO_EMAIL_WINDOW;
        loop {
            let found = self.emails(to, kind).len();
            assert!(
                found <= count,
                "expected at most {count} {kind:?} email(s) to {to}, got {found}"
            );
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep(EMAIL_POLL).await;
        }
    }
}

/// authkit-axum on `127.0.0.1:0`: the contract under `/api/v1` and the host routes.
async fn serve_axum(kit: AuthKit) -> (SocketAddr, Server) {
    use axum::routing::get;
    async fn whoami(authkit_axum::CurrentUser(me): authkit_axum::CurrentUser) -> String {
        me.user_id.to_string()
    }
    async fn maybe(authkit_axum::MaybeUser(me): authkit_axum::MaybeUser) -> String {
        me.map_or_else(|| ANONYMOUS.to_owned(), |me| me.0.user_id.to_string())
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let admin = axum::Router::new()
        .route(HOST_ADMIN, get(whoami))
        .route_layer(authkit_axum::require_permission(
            kit.clone(),
            HOST_PERMISSION,
        ));
    let app = axum::Router::new()
        .nest("/api/v1", authkit_axum::router(kit.clone()))
        .route(HOST_WHOAMI, get(whoami))
        .route(HOST_MAYBE, get(maybe))
        .merge(admin)
        .with_state(kit);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, Server::Axum { stop, task })
}

/// authkit-actix on `127.0.0.1:0` (one worker, no signal handling): the contract under
/// `/api/v1` and the host routes.
fn serve_actix(kit: AuthKit) -> (SocketAddr, Server) {
    use actix_web::{App, HttpServer, web};
    async fn whoami(me: authkit_actix::CurrentUser) -> String {
        me.0.user_id.to_string()
    }
    async fn maybe(authkit_actix::MaybeUser(me): authkit_actix::MaybeUser) -> String {
        me.map_or_else(|| ANONYMOUS.to_owned(), |me| me.0.user_id.to_string())
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(kit.clone()))
            .service(web::scope("/api/v1").configure(authkit_actix::configure(kit.clone())))
            .route(HOST_WHOAMI, web::get().to(whoami))
            .route(HOST_MAYBE, web::get().to(maybe))
            .service(
                web::resource(HOST_ADMIN)
                    .wrap(authkit_actix::require_permission(HOST_PERMISSION))
                    .route(web::get().to(whoami)),
            )
    })
    .listen(listener)
    .unwrap()
    .workers(1)
    .disable_signals()
    .run();
    let handle = server.handle();
    let task = tokio::spawn(async move {
        server.await.unwrap();
    });
    (addr, Server::Actix { handle, task })
}

/// The `token` query parameter of an email's link (which must be present).
pub fn token_of(email: &OutgoingEmail) -> String {
    let link = email.link.as_deref().expect("the email carries a link");
    let url = reqwest::Url::parse(link).expect("the link is a URL");
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("the link has a token")
}

/// The user id of a token pair.
pub fn user_id_of(pair: &Value) -> String {
    pair["user"]["id"].as_str().unwrap().to_owned()
}

/// The access token of a token pair.
pub fn access_of(pair: &Value) -> String {
    pair["access_token"].as_str().unwrap().to_owned()
}

/// The refresh token of a token pair.
pub fn refresh_of(pair: &Value) -> String {
    pair["refresh_token"].as_str().unwrap().to_owned()
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

    /// The header names, sorted, without `date` (which varies by the second).
    pub fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .headers
            .keys()
            .map(|k| k.to_string())
            .filter(|k| k != "date")
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The names of the cookies set.
    pub fn cookie_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .set_cookies()
            .iter()
            .map(|c| c.split('=').next().unwrap_or("").to_owned())
            .collect();
        names.sort();
        names
    }

    /// Asserts SECURITY.md's "identical": same status, byte-identical body, same header names
    /// and same `Set-Cookie` names.
    #[track_caller]
    pub fn assert_identical(&self, other: &Reply, what: &str) {
        assert_eq!(self.status, other.status, "{what}: status");
        assert_eq!(self.text, other.text, "{what}: byte-identical bodies");
        assert_eq!(self.header_names(), other.header_names(), "{what}: headers");
        assert_eq!(self.cookie_names(), other.cookie_names(), "{what}: cookies");
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
