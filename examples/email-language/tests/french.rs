//! The French templates cover every kind, pass authkit's check, and are what a user with a
//! French locale receives for each email; other users keep English.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::Arc;

use authkit_core::domain::{Email, EmailKind, Locale, Password};
use authkit_core::service::{RegisterInput, RequestContext};
use authkit_core::testing::MemoryMailer;

async fn register(kit: &authkit_core::AuthKit, email: &str, locale: Option<&str>) {
    kit.register(
        &RequestContext::default(),
        RegisterInput {
            email: Email::parse(email).unwrap(),
            password: Password::new("une phrase de passe assez longue"),
            display_name: None,
            locale: locale.and_then(Locale::parse),
        },
    )
    .await
    .unwrap();
}

#[test]
fn every_kind_is_translated_with_all_three_parts() {
    let dir = example_email_language::templates_dir().join("fr");
    for kind in EmailKind::ALL {
        for part in ["subject", "txt", "html"] {
            let file = dir.join(format!("{kind}.{part}"));
            assert!(file.is_file(), "{} is missing", file.display());
        }
    }
    let templates =
        example_email_language::templates(&example_email_language::templates_dir()).unwrap();
    templates.check("Exemple", "https://exemple.fr").unwrap();
}

#[tokio::test]
async fn a_french_speaking_user_gets_french_emails_and_others_english() {
    let mailer = Arc::new(MemoryMailer::new());
    let kit = example_email_language::kit(mailer.clone()).unwrap();
    register(&kit, "camille@example.fr", Some("fr-CA")).await;
    register(&kit, "ada@example.com", None).await;
    let ctx = RequestContext::default();
    kit.forgot_password(&ctx, Email::parse("camille@example.fr").unwrap())
        .await
        .unwrap();
    kit.deliver_emails().await.unwrap();

    let messages = mailer.messages();
    let camille: Vec<_> = messages
        .iter()
        .filter(|m| m.to.as_str() == "camille@example.fr")
        .collect();
    assert_eq!(camille.len(), 2);
    for m in &camille {
        assert_eq!(m.locale.as_str(), "fr");
        let html = m.html.as_deref().unwrap();
        assert!(html.contains("<html lang=\"fr\">"));
        assert!(m.text.contains(m.link.as_deref().unwrap()));
    }
    assert_eq!(
        camille[0].subject,
        "Confirmez votre adresse e-mail pour Exemple"
    );
    assert_eq!(
        camille[1].subject,
        "Réinitialisez votre mot de passe Exemple"
    );
    let ada = messages
        .iter()
        .find(|m| m.to.as_str() == "ada@example.com")
        .unwrap();
    assert_eq!(ada.locale.as_str(), "en");
    assert_eq!(ada.subject, "Verify your email for Exemple");
}
