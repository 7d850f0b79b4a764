//! Builds an `AuthKit` over a store of your own ([`LoggingStore`] around the in-memory store)
//! and runs register → login → authenticate → refresh → logout in process, printing each step;
//! the store's log (every port call, its outcome and duration, no secrets) goes to stderr.
//!
//! Run: `cargo run -p example-custom-store` (`RUST_LOG=custom_store=off` hides the store log).
use authkit_core::domain::{Email, Password};
use authkit_core::jwt::JwtKeys;
use authkit_core::service::{LoginInput, RegisterInput, RequestContext};
use authkit_core::testing::{MemoryMailer, MemoryStore};
use authkit_core::{AuthConfig, AuthKit};
use example_custom_store::LoggingStore;
use secrecy::SecretBox;

#[tokio::main]
#[expect(clippy::print_stdout, reason = "an example narrating what it does")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,custom_store=debug".into()),
        )
        .init();

    let secret = SecretBox::new(Box::from(&b"an example secret of at least 32 bytes"[..]));
    let kit = AuthKit::builder(AuthConfig::default())
        .store(LoggingStore::new(MemoryStore::new()))
        .mailer(MemoryMailer::new())
        .keys(JwtKeys::hs256(&secret)?)
        .build()?;
    let ctx = RequestContext::default();
    let email = Email::parse("ada@example.com")?;
    let password = Password::new("correct horse battery staple");

    println!("== register {email}");
    let user = kit
        .register(
            &ctx,
            RegisterInput {
                email: email.clone(),
                password: password.clone(),
                display_name: Some("Ada".into()),
                locale: None,
            },
        )
        .await?;
    println!("   user {} with roles {:?}", user.id, user.roles);

    println!("== log in with a wrong password");
    let wrong = LoginInput {
        email: email.clone(),
        password: Password::new("not the password"),
        remember_me: false,
    };
    match kit.login(&ctx, wrong).await {
        Ok(_) => println!("   logged in?!"),
        Err(e) => println!("   refused: {} ({})", e.code().as_str(), e.status()),
    }

    println!("== log in");
    let login = LoginInput {
        email,
        password,
        remember_me: false,
    };
    let pair = kit.login(&ctx, login).await?;
    println!(
        "   session {}, access token valid {} s",
        pair.session_id, pair.expires_in
    );

    println!("== authenticate the access token");
    let me = kit.authenticate_token(&pair.access_token).await?;
    println!(
        "   user {} roles {:?} perms {:?}",
        me.user_id, me.roles, me.perms
    );

    println!("== refresh (the refresh token rotates)");
    let pair = kit.refresh(&ctx, pair.refresh_token.expose()).await?;
    println!("   session {} still, new token pair", pair.session_id);

    println!("== log out");
    let me = kit.authenticate_token(&pair.access_token).await?;
    kit.logout(&ctx, &me).await?;
    match kit.authenticate_token(&pair.access_token).await {
        Ok(_) => println!("   the access token still works?!"),
        Err(e) => println!("   the access token is refused now: {}", e.code().as_str()),
    }
    Ok(())
}
