//! Both notes examples over HTTP, one scenario for both: users A and B each see only their own
//! notes, requests without a valid token are 401, the admin route needs `users:read`, bad bodies
//! are problems. [`scenario`] runs against the axum app (`example-axum-notes`) and against the
//! actix app (`example-actix-notes`), each started through its lib's `app` on `127.0.0.1:0` over
//! a temporary SQLite file.
#![allow(clippy::unwrap_used)] // test helpers, outside `#[test]` functions

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};
use authkit_core::domain::{Email, NewUser, Password, QueuedMail, USER_ROLE, UserId};
use authkit_core::jwt::JwtKeys;
use authkit_core::ports::{LogMailer, PasswordHasher};
use authkit_core::testing::fast_hasher;
use authkit_core::{AuthConfig, AuthKit};
use authkit_sqlx::SqliteStore;
use example_notes_db::NotesDb;
use reqwest::{Client, Response, StatusCode};
use secrecy::SecretBox;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn axum_notes() {
    scenario(&Server::axum().await).await;
}

#[tokio::test]
async fn actix_notes() {
    scenario(&Server::actix().await).await;
}

/// Everything both apps must do, each part with users of its own.
async fn scenario(server: &Server) {
    users_only_reach_their_own_notes(server).await;
    notes_need_a_token(server).await;
    the_admin_route_needs_users_read(server).await;
    bad_bodies_are_problems(server).await;
}

/// The kit, the notes table and their temporary SQLite file, as both apps get them.
async fn backend() -> (AuthKit, NotesDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("notes.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let notes = NotesDb::open(store.pool().clone()).await.unwrap();
    let secret = SecretBox::new(Box::from(&b"a test secret of at least 32 bytes!!"[..]));
    // The default per-IP limit (5 credential requests a minute) would stop this test, which
    // signs three users up and in from 127.0.0.1: tests of your app need the same.
    let config = AuthConfig {
        limits: authkit_core::config::LimitsConfig::off(),
        ..AuthConfig::default()
    };
    let kit = AuthKit::builder(config)
        .store(store)
        .mailer(LogMailer)
        .hasher(fast_hasher())
        .keys(JwtKeys::hs256(&secret).unwrap())
        .build()
        .unwrap();
    (kit, notes, dir)
}

/// Stops an actix server when the test is over.
struct StopOnDrop(ServerHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // Sends the stop command at once; the returned future only waits for completion.
        drop(self.0.stop(false));
    }
}

/// A running app and a client for it.
struct Server {
    base: String,
    kit: AuthKit,
    client: Client,
    _stop: Option<StopOnDrop>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `example_axum_notes::app`, served by axum.
    async fn axum() -> Self {
        let (kit, notes, dir) = backend().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = example_axum_notes::app(kit.clone(), notes)
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
        Self::new(addr, kit, None, dir)
    }

    /// `example_actix_notes::app`, served by actix-web.
    async fn actix() -> Self {
        let (kit, notes, dir) = backend().await;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = example_actix_notes::app(kit.clone(), notes);
        let server = HttpServer::new(move || App::new().configure(routes.clone()))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let stop = StopOnDrop(server.handle());
        tokio::spawn(server);
        Self::new(addr, kit, Some(stop), dir)
    }

    fn new(
        addr: SocketAddr,
        kit: AuthKit,
        stop: Option<StopOnDrop>,
        dir: tempfile::TempDir,
    ) -> Self {
        Self {
            base: format!("http://{addr}"),
            kit,
            client: Client::new(),
            _stop: stop,
            _dir: dir,
        }
    }

    /// Registers over HTTP and logs in; the access token.
    async fn user(&self, email: &str) -> String {
        let body = json!({ "email": email, "password": PASSWORD });
        let r = self.post("/api/v1/register", None, &body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "register {email}");
        self.login(email).await
    }

    /// An admin, created through the store (there is no API to grant roles yet), logged in
    /// over HTTP; the access token.
    async fn admin(&self, email: &str) -> String {
        let now = self.kit.clock().now();
        let hash = fast_hasher().hash(&Password::new(PASSWORD)).await.unwrap();
        self.kit
            .store()
            .create_user(
                &NewUser {
                    id: UserId::new_v7(now),
                    email: Email::parse(email).unwrap(),
                    display_name: None,
                    locale: None,
                    password_hash: hash,
                    roles: vec![USER_ROLE.into(), "admin".into()],
                    now,
                },
                &QueuedMail::none(),
            )
            .await
            .unwrap();
        self.login(email).await
    }

    async fn login(&self, email: &str) -> String {
        let body = json!({ "email": email, "password": PASSWORD });
        let r = self.post("/api/v1/login", None, &body).await;
        assert_eq!(r.status(), StatusCode::OK, "login {email}");
        let pair: Value = r.json().await.unwrap();
        pair["access_token"].as_str().unwrap().to_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        let request = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body);
        request.send().await.unwrap()
    }

    async fn delete(&self, path: &str, token: &str) -> Response {
        let request = self.client.delete(self.url(path)).bearer_auth(token);
        request.send().await.unwrap()
    }
}

/// Asserts a problem document with this status and code.
async fn assert_problem(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["status"], status.as_u16());
    problem
}

async fn titles(server: &Server, token: &str) -> Vec<String> {
    let r = server.get("/notes", Some(token)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = r.json().await.unwrap();
    let notes = list["notes"].as_array().unwrap();
    notes
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

/// A's notes are invisible to B: B's GET, PUT and DELETE of A's note are 404 and leave it as is.
async fn users_only_reach_their_own_notes(server: &Server) {
    let a = server.user("a@example.com").await;
    let b = server.user("b@example.com").await;

    let body = json!({ "title": "A's secret", "body": "only for A" });
    let r = server.post("/notes", Some(&a), &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let note: Value = r.json().await.unwrap();
    let path = format!("/notes/{}", note["id"].as_str().unwrap());
    let body = json!({ "title": "B's note" });
    let r = server.post("/notes", Some(&b), &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Each list holds only its owner's notes.
    assert_eq!(titles(server, &a).await, ["A's secret"]);
    assert_eq!(titles(server, &b).await, ["B's note"]);

    // B cannot read, change or delete A's note: 404, as for an id that does not exist.
    assert_problem(
        server.get(&path, Some(&b)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let change = json!({ "title": "pwned", "body": "by B" });
    let r = server.put(&path, &b, &change).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = server.delete(&path, &b).await;
    assert_problem(r, StatusCode::NOT_FOUND, "not_found").await;
    let unknown = format!("/notes/{}", uuid::Uuid::now_v7());
    assert_problem(
        server.get(&unknown, Some(&b)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A's note is unchanged.
    let r = server.get(&path, Some(&a)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after, note);

    // A can change and delete it.
    let r = server
        .put(&path, &a, &json!({ "title": "A's", "body": "edited" }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let edited: Value = r.json().await.unwrap();
    assert_eq!(
        (edited["title"].as_str(), edited["body"].as_str()),
        (Some("A's"), Some("edited"))
    );
    assert_eq!(
        server.delete(&path, &a).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        server.get(&path, Some(&a)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(titles(server, &b).await, ["B's note"]);
}

/// 401 without a token and with a bad one, with `WWW-Authenticate: Bearer`.
async fn notes_need_a_token(server: &Server) {
    let r = server.get("/notes", None).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = server.post("/notes", None, &json!({ "title": "x" })).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = server.get("/notes/whatever", Some("not-a-jwt")).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = server.get("/admin/notes", None).await;
    assert_problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

/// 403 for a plain user on the admin route, 200 for an admin.
async fn the_admin_route_needs_users_read(server: &Server) {
    let a = server.user("c@example.com").await;
    let r = server
        .post("/notes", Some(&a), &json!({ "title": "A's" }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = server.get("/admin/notes", Some(&a)).await;
    let problem = assert_problem(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(problem["detail"], "the permission users:read is required");

    let admin = server.admin("root@example.com").await;
    let r = server.get("/admin/notes", Some(&admin)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = r.json().await.unwrap();
    // Newest first: the note just written, before B's note of the first part.
    assert_eq!(list["notes"][0]["title"], "A's");
    // The admin's own list is still only the admin's.
    assert!(titles(server, &admin).await.is_empty());
}

/// 422, 400 and 415 problems for bodies the notes routes cannot take.
async fn bad_bodies_are_problems(server: &Server) {
    let a = server.user("d@example.com").await;
    let r = server
        .post("/notes", Some(&a), &json!({ "body": "no title" }))
        .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "title");
    let r = server
        .client
        .post(server.url("/notes"))
        .bearer_auth(&a)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST, "malformed_request").await;
    let r = server
        .client
        .post(server.url("/notes"))
        .bearer_auth(&a)
        .body("title=x")
        .send()
        .await
        .unwrap();
    assert_problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}
