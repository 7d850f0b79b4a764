//! A notes API on axum and SQLite, protected by authkit: each user sees only their own notes,
//! and `GET /admin/notes` needs the `users:read` permission.
//!
//! Run: `cargo run -p example-axum-notes` (listens on 127.0.0.1:3000, stores everything in
//! `notes.db` in the current directory). Set `AUTHKIT_JWT_SECRET` (e.g. `openssl rand -hex 32`)
//! to keep tokens valid across restarts; without it a random secret is generated. The curl
//! lines in `examples/README.md` register, log in and write notes.
use std::net::SocketAddr;

use authkit_core::jwt::JwtKeys;
use authkit_core::ports::LogMailer;
use authkit_core::{AuthConfig, AuthKit};
use authkit_sqlx::SqliteStore;
use example_axum_notes::{NotesDb, app};
use secrecy::SecretBox;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // LogMailer writes verification emails to the log instead of sending them.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let store = SqliteStore::connect("sqlite://notes.db").await?;
    store.migrate().await?;
    let notes = NotesDb::open(store.pool().clone()).await?;
    let kit = AuthKit::builder(AuthConfig::default())
        .store(store)
        .mailer(LogMailer)
        .keys(JwtKeys::hs256(&jwt_secret()?)?)
        .build()?;
    // Delivers the emails authkit queues (verification, reset...) for as long as the app runs.
    tokio::spawn(kit.clone().run_email_worker(std::future::pending()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("notes API on http://127.0.0.1:3000 (authkit under /api/v1)");
    let app = app(kit, notes).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}

/// `AUTHKIT_JWT_SECRET`, or a random secret that dies with the process.
fn jwt_secret() -> Result<SecretBox<[u8]>, getrandom::Error> {
    if let Ok(secret) = std::env::var("AUTHKIT_JWT_SECRET") {
        return Ok(SecretBox::new(secret.into_bytes().into()));
    }
    eprintln!(
        "warning: AUTHKIT_JWT_SECRET is not set; using a random secret, \
         so every token dies when this process stops"
    );
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret)?;
    Ok(SecretBox::new(secret.into()))
}
