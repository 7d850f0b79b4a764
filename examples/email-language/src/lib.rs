//! Adding a language to authkit's emails.
//!
//! authkit ships English templates. Another language is a folder of files named
//! `<locale>/<kind>.<part>` — here `templates/fr/verify_email.subject`, `.txt` and `.html`, and
//! the same for `password_reset`, `password_changed` and `email_changed` — loaded with
//! [`EmailTemplates::load_dir`] and given to the builder. A user's `locale` (set at registration
//! or with `PATCH /users/me`) picks the language: `fr-CA` uses `fr`, a language without
//! templates falls back to the service's default locale, then to English. The HTML templates
//! extend the built-in `layout.html` and include `button.html`, so they keep authkit's look;
//! override those two files (top level of the folder) to change it for every language.
//!
//! Every template is rendered once with sample values when the kit is built, so a typo in a
//! variable name (`{{ lnik }}`) stops the start instead of breaking an email later.
//!
//! Run: `cargo run -p example-email-language` registers a French-speaking user in process and
//! prints the verification email it gets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use authkit_core::jwt::JwtKeys;
use authkit_core::mail::{EmailTemplates, TemplateError};
use authkit_core::testing::{MemoryMailer, MemoryStore, fast_hasher};
use authkit_core::{AuthConfig, AuthKit, BuildError};
use secrecy::SecretBox;

/// The folder of this example's French templates.
pub fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// authkit's built-in templates plus every file of `dir`.
pub fn templates(dir: &Path) -> Result<EmailTemplates, TemplateError> {
    EmailTemplates::new().load_dir(dir)
}

/// A kit on the in-memory store whose emails are captured by `mailer`, with the templates of
/// [`templates_dir`].
pub fn kit(mailer: Arc<MemoryMailer>) -> Result<AuthKit, Box<dyn std::error::Error>> {
    let secret = SecretBox::new(Box::from(&b"example-email-language secret, 32+ bytes"[..]));
    let kit = AuthKit::builder(AuthConfig {
        service_name: "Exemple".to_owned(),
        ..AuthConfig::default()
    })
    .store(MemoryStore::new())
    .mailer_arc(mailer)
    .hasher(fast_hasher())
    .templates(templates(&templates_dir())?)
    .keys(JwtKeys::hs256(&secret)?)
    .build()
    .map_err(|e: BuildError| Box::new(e) as Box<dyn std::error::Error>)?;
    Ok(kit)
}
