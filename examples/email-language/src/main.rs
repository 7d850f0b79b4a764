//! Registers a French-speaking user and prints the verification email authkit sends them.
#![allow(clippy::print_stdout, reason = "an example printing its result")]

use std::sync::Arc;

use authkit_core::domain::{Email, Locale, Password};
use authkit_core::service::{RegisterInput, RequestContext};
use authkit_core::testing::MemoryMailer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mailer = Arc::new(MemoryMailer::new());
    let kit = example_email_language::kit(mailer.clone())?;
    kit.register(
        &RequestContext::default(),
        RegisterInput {
            email: Email::parse("camille@example.fr")?,
            password: Password::new("une phrase de passe assez longue"),
            display_name: None,
            locale: Locale::parse("fr-FR"),
        },
    )
    .await?;
    // A server runs `kit.run_email_worker(..)` in the background; one pass is enough here.
    kit.deliver_emails().await?;
    for email in mailer.messages() {
        println!(
            "To: {}\nSubject: {}\nContent-Language: {}\n\n{}",
            email.to, email.subject, email.locale, email.text
        );
    }
    Ok(())
}
