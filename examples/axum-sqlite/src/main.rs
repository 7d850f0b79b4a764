//! Embeds authkit in an axum app on SQLite: the contract under `/api/v1`, and one route of
//! the app's own protected by `CurrentUser`.
//!
//! Run: `AUTHKIT_JWT_SECRET=$(openssl rand -hex 32) cargo run -p example-axum-sqlite`, then
//! register and log in with the curl lines of the README, and call
//! `curl -H "Authorization: Bearer $TOKEN" localhost:3000/hello`.
use authkit_axum::CurrentUser;
use authkit_core::{AuthConfig, AuthKit, jwt::JwtKeys, ports::LogMailer};
use authkit_sqlx::SqliteStore;
use axum::{Router, routing::get};

async fn hello(CurrentUser(me): CurrentUser) -> String {
    format!("hello, user {}", me.user_id)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = SqliteStore::connect("sqlite://example.db").await?;
    store.migrate().await?;
    let secret = std::env::var("AUTHKIT_JWT_SECRET")?.into_bytes();
    let kit = AuthKit::builder(AuthConfig::default())
        .store(store)
        .mailer(LogMailer)
        .keys(JwtKeys::hs256(&secrecy::SecretBox::new(secret.into()))?)
        .build()?;
    // Delivers the emails authkit queues (verification, reset...) for as long as the app runs.
    tokio::spawn(kit.clone().run_email_worker(std::future::pending()));
    let app = Router::new()
        .nest("/api/v1", authkit_axum::router(kit.clone()))
        .route("/hello", get(hello))
        .with_state(kit);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    // With connect info, authkit sees client addresses: without it the per-IP rate limits
    // are skipped (a warning says so) and sessions and audit events have no address.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
