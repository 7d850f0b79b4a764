//! [`EmailTemplates`]: the subject, plain text and HTML of every email, per language.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::domain::{EmailKind, Locale};

/// The parts of one email kind in one language: `<locale>/<kind>.<part>`.
const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// Built-in templates: a shared HTML layout and button, and every kind in English.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../templates/email/layout.html"),
    ),
    (
        "button.html",
        include_str!("../../templates/email/button.html"),
    ),
    (
        "en/verify_email.subject",
        include_str!("../../templates/email/en/verify_email.subject"),
    ),
    (
        "en/verify_email.txt",
        include_str!("../../templates/email/en/verify_email.txt"),
    ),
    (
        "en/verify_email.html",
        include_str!("../../templates/email/en/verify_email.html"),
    ),
    (
        "en/password_reset.subject",
        include_str!("../../templates/email/en/password_reset.subject"),
    ),
    (
        "en/password_reset.txt",
        include_str!("../../templates/email/en/password_reset.txt"),
    ),
    (
        "en/password_reset.html",
        include_str!("../../templates/email/en/password_reset.html"),
    ),
    (
        "en/password_changed.subject",
        include_str!("../../templates/email/en/password_changed.subject"),
    ),
    (
        "en/password_changed.txt",
        include_str!("../../templates/email/en/password_changed.txt"),
    ),
    (
        "en/password_changed.html",
        include_str!("../../templates/email/en/password_changed.html"),
    ),
    (
        "en/email_changed.subject",
        include_str!("../../templates/email/en/email_changed.subject"),
    ),
    (
        "en/email_changed.txt",
        include_str!("../../templates/email/en/email_changed.txt"),
    ),
    (
        "en/email_changed.html",
        include_str!("../../templates/email/en/email_changed.html"),
    ),
];

/// A template was refused: its name, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("email template `{name}`: {reason}")]
pub struct TemplateError {
    /// The template name (`fr/verify_email.html`) or file.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

impl TemplateError {
    fn new(name: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            name: name.into(),
            reason: reason.to_string(),
        }
    }
}

/// One rendered email.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The language whose templates were used.
    pub locale: Locale,
    /// One line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML, when the language has an HTML template for the kind.
    pub html: Option<String>,
}

impl std::fmt::Debug for RenderedEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bodies may carry a one-time link.
        f.debug_struct("RenderedEmail")
            .field("locale", &self.locale)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The templates of every email, as [MiniJinja](https://docs.rs/minijinja) (Jinja2 syntax)
/// sources named like files:
///
/// - `<locale>/<kind>.subject`, `<locale>/<kind>.txt`, `<locale>/<kind>.html` for each
///   [`EmailKind`] (`verify_email`, `password_reset`, `password_changed`, `email_changed`). A
///   language needs the subject and the text of a kind; without the HTML part its message is
///   plain text only.
/// - anything at the top level (`layout.html`, `button.html`, your own partials) for
///   `{% extends %}` and `{% include %}`.
///
/// `.html` templates escape every value; undefined variables are errors, found when the kit is
/// built (every template is rendered once with sample values). Variables: `service`,
/// `public_url`, `locale`, `email` (the recipient), and per kind `link` + `expires_hours`
/// (verify_email), `link` + `expires_minutes` (password_reset), `old_email` + `new_email`
/// (email_changed).
///
/// A message is written in the first language that has the kind's subject and text among: the
/// user's locale (`pt-BR`), its language (`pt`), the configured default locale, English (built
/// in).
///
/// ```
/// use authkit_core::mail::EmailTemplates;
///
/// let templates = EmailTemplates::new()
///     .with("fr/password_changed.subject", "Votre mot de passe {{ service }} a changé")?
///     .with("fr/password_changed.txt", "Le mot de passe du compte {{ email }} a été changé.")?;
/// assert!(templates.locales().iter().any(|l| l.as_str() == "fr"));
/// # Ok::<(), authkit_core::mail::TemplateError>(())
/// ```
#[derive(Clone)]
pub struct EmailTemplates {
    env: Environment<'static>,
    names: BTreeMap<String, ()>,
}

impl std::fmt::Debug for EmailTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailTemplates")
            .field("templates", &self.names.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for EmailTemplates {
    fn default() -> Self {
        Self::new()
    }
}

impl EmailTemplates {
    /// The built-in templates (English, and the shared layout).
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // MiniJinja's HTML escaping also turns `/` into `&#x2f;`, which makes every link in
        // the HTML source unreadable; the five characters that matter in element content and
        // quoted attributes are enough here (email HTML has no script context).
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
                out.write_str(&html_escape(&value.to_string()))
                    .map_err(|_| {
                        minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed")
                    })
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        let mut templates = Self {
            env,
            names: BTreeMap::new(),
        };
        for (name, source) in BUILT_IN {
            // The built-in sources are checked by this crate's tests.
            let _ = templates.set(name, source);
        }
        templates
    }

    /// Adds or replaces the template `name` (see the type's docs for names).
    pub fn set(&mut self, name: &str, source: &str) -> Result<&mut Self, TemplateError> {
        check_name(name)?;
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| TemplateError::new(name, e))?;
        self.names.insert(name.to_owned(), ());
        Ok(self)
    }

    /// [`EmailTemplates::set`], by value, for chaining.
    pub fn with(mut self, name: &str, source: &str) -> Result<Self, TemplateError> {
        self.set(name, source)?;
        Ok(self)
    }

    /// Adds every file below `dir`, named by its path relative to `dir`
    /// (`dir/fr/verify_email.html` is `fr/verify_email.html`). Files whose names are not
    /// template names are refused, so that a typo is not silently ignored.
    pub fn load_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let dir = dir.as_ref();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(current) = stack.pop() {
            let entries = std::fs::read_dir(&current)
                .map_err(|e| TemplateError::new(current.display().to_string(), e))?;
            for entry in entries {
                let path = entry
                    .map_err(|e| TemplateError::new(current.display().to_string(), e))?
                    .path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path
                    .strip_prefix(dir)
                    .map_err(|e| TemplateError::new(path.display().to_string(), e))?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let source = std::fs::read_to_string(&path)
                    .map_err(|e| TemplateError::new(path.display().to_string(), e))?;
                self.set(&name, &source)?;
            }
        }
        Ok(self)
    }

    /// Every language with at least one template, sorted.
    pub fn locales(&self) -> Vec<Locale> {
        let mut out: Vec<Locale> = self
            .names
            .keys()
            .filter_map(|n| n.split_once('/'))
            .filter_map(|(locale, _)| Locale::parse(locale))
            .collect();
        out.dedup();
        out
    }

    /// Checks that every language has the subject and text of each kind it has any part of,
    /// and that every template renders with sample values.
    pub fn check(&self, service: &str, public_url: &str) -> Result<(), TemplateError> {
        for locale in self.locales() {
            for kind in EmailKind::ALL {
                let present: Vec<&str> = PARTS
                    .into_iter()
                    .filter(|p| self.has(&format!("{locale}/{kind}.{p}")))
                    .collect();
                if present.is_empty() {
                    continue;
                }
                for required in ["subject", "txt"] {
                    if !present.contains(&required) {
                        return Err(TemplateError::new(
                            format!("{locale}/{kind}.{required}"),
                            format!(
                                "is missing: a language needs the subject and the text of \
                                 every kind it translates (`{locale}/{kind}` has {})",
                                present.join(", ")
                            ),
                        ));
                    }
                }
                let sample = sample_vars(kind);
                self.render_in(
                    &locale,
                    kind,
                    service,
                    public_url,
                    "user@example.com",
                    &sample,
                )?;
            }
        }
        Ok(())
    }

    /// Renders `kind` in the first language of `preferred` (then English) that has it.
    pub fn render(
        &self,
        kind: EmailKind,
        preferred: &[&Locale],
        context: &RenderContext<'_>,
    ) -> Result<RenderedEmail, TemplateError> {
        let english = Locale::english();
        let locale = preferred
            .iter()
            .flat_map(|l| [Locale::parse(l.as_str()), Locale::parse(l.language())])
            .flatten()
            .chain(std::iter::once(english))
            .find(|l| {
                self.has(&format!("{l}/{kind}.subject")) && self.has(&format!("{l}/{kind}.txt"))
            })
            .ok_or_else(|| TemplateError::new(format!("en/{kind}.txt"), "is missing"))?;
        self.render_in(
            &locale,
            kind,
            context.service,
            context.public_url,
            context.to,
            context.vars,
        )
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    fn render_in(
        &self,
        locale: &Locale,
        kind: EmailKind,
        service: &str,
        public_url: &str,
        to: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<RenderedEmail, TemplateError> {
        let mut ctx: BTreeMap<&str, Value> = vars
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        ctx.insert("service", Value::from(service));
        ctx.insert("public_url", Value::from(public_url));
        ctx.insert("locale", Value::from(locale.as_str()));
        ctx.insert("email", Value::from(to));
        let ctx = Value::from_serialize(&ctx);
        let render = |part: &str| -> Result<Option<String>, TemplateError> {
            let name = format!("{locale}/{kind}.{part}");
            if !self.has(&name) {
                return Ok(None);
            }
            let template = self
                .env
                .get_template(&name)
                .map_err(|e| TemplateError::new(&name, e))?;
            template
                .render(&ctx)
                .map(Some)
                .map_err(|e| TemplateError::new(&name, e))
        };
        let subject = render("subject")?.unwrap_or_default();
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = render("txt")?.unwrap_or_default();
        let html = render("html")?;
        Ok(RenderedEmail {
            locale: locale.clone(),
            subject,
            text,
            html,
        })
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML element content and quoted attributes.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a message is rendered with besides its own variables.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The service name.
    pub service: &'a str,
    /// The public base URL.
    pub public_url: &'a str,
    /// The recipient.
    pub to: &'a str,
    /// The kind's variables (may hold a one-time link).
    pub vars: &'a BTreeMap<String, String>,
}

/// Template names are `<locale>/<kind>.<part>` or a top-level partial.
fn check_name(name: &str) -> Result<(), TemplateError> {
    let Some((locale, file)) = name.split_once('/') else {
        return if name.is_empty() || name.starts_with('.') {
            Err(TemplateError::new(name, "is not a template name"))
        } else {
            Ok(())
        };
    };
    let valid = Locale::parse(locale).is_some_and(|l| l.as_str() == locale)
        && file
            .split_once('.')
            .is_some_and(|(kind, part)| EmailKind::parse(kind).is_some() && PARTS.contains(&part));
    if valid {
        Ok(())
    } else {
        Err(TemplateError::new(
            name,
            "is not a template name: use `<locale>/<kind>.<subject|txt|html>` with a \
             normalized locale (`pt-BR`) and a kind of verify_email, password_reset, \
             password_changed, email_changed, or a top-level partial like `layout.html`",
        ))
    }
}

/// The variables a kind is rendered with, with sample values (for [`EmailTemplates::check`]).
fn sample_vars(kind: EmailKind) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = match kind {
        EmailKind::VerifyEmail => &[
            ("link", "https://example.com/verify-email?token=sample"),
            ("expires_hours", "24"),
        ],
        EmailKind::PasswordReset => &[
            ("link", "https://example.com/reset-password?token=sample"),
            ("expires_minutes", "30"),
        ],
        EmailKind::PasswordChanged => &[],
        EmailKind::EmailChanged => &[
            ("old_email", "old@example.com"),
            ("new_email", "new@example.com"),
        ],
    };
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(vars: &'a BTreeMap<String, String>) -> RenderContext<'a> {
        RenderContext {
            service: "Acme",
            public_url: "https://acme.test",
            to: "ada@example.com",
            vars,
        }
    }

    #[test]
    fn built_in_templates_render_every_kind() {
        let t = EmailTemplates::new();
        t.check("Acme", "https://acme.test").unwrap();
        for kind in EmailKind::ALL {
            let vars = sample_vars(kind);
            let r = t.render(kind, &[], &ctx(&vars)).unwrap();
            assert_eq!(r.locale.as_str(), "en");
            assert!(r.subject.contains("Acme"), "{kind}: {}", r.subject);
            assert!(!r.subject.contains('\n'));
            let html = r.html.unwrap();
            assert!(html.starts_with("<!doctype html>"), "{kind}");
            assert!(html.contains("<html lang=\"en\">"));
            if let Some(link) = vars.get("link") {
                assert!(r.text.contains(link.as_str()), "{kind} text lacks the link");
                // MiniJinja escapes `/` in HTML (`&#x2f;`), which browsers decode in attributes.
                let decoded = html.replace("&#x2f;", "/").replace("&amp;", "&");
                assert!(
                    decoded.contains(&format!("href=\"{link}\"")),
                    "{kind} html lacks the link"
                );
            }
        }
    }

    #[test]
    fn html_escapes_values_and_text_does_not() {
        let t = EmailTemplates::new();
        let mut vars = sample_vars(EmailKind::EmailChanged);
        vars.insert("new_email".into(), "<b>x</b>@example.com".into());
        let r = t.render(EmailKind::EmailChanged, &[], &ctx(&vars)).unwrap();
        assert!(r.text.contains("<b>x</b>@example.com"));
        let html = r.html.unwrap();
        assert!(
            html.contains("&lt;b&gt;x&lt;&#x2f;b&gt;@example.com")
                || html.contains("&lt;b&gt;x&lt;/b&gt;@example.com"),
            "{html}"
        );
        assert!(!html.contains("<b>x</b>"));
    }

    #[test]
    fn falls_back_from_region_to_language_to_default_to_english() {
        let t = EmailTemplates::new()
            .with(
                "fr/password_changed.subject",
                "Mot de passe changé sur {{ service }}",
            )
            .unwrap()
            .with("fr/password_changed.txt", "Bonjour {{ email }}")
            .unwrap();
        t.check("Acme", "https://acme.test").unwrap();
        let vars = BTreeMap::new();
        let fr_ca = Locale::parse("fr-CA").unwrap();
        let de = Locale::parse("de").unwrap();
        let fr = Locale::parse("fr").unwrap();
        let r = t
            .render(EmailKind::PasswordChanged, &[&fr_ca], &ctx(&vars))
            .unwrap();
        assert_eq!(r.locale.as_str(), "fr");
        assert_eq!(r.subject, "Mot de passe changé sur Acme");
        assert_eq!(
            r.html, None,
            "no French HTML: text only, never mixed languages"
        );
        // The user's language first, then the default.
        let r = t
            .render(EmailKind::PasswordChanged, &[&de, &fr], &ctx(&vars))
            .unwrap();
        assert_eq!(r.locale.as_str(), "fr");
        // A kind French lacks comes in English.
        let vars = sample_vars(EmailKind::VerifyEmail);
        let r = t
            .render(EmailKind::VerifyEmail, &[&fr], &ctx(&vars))
            .unwrap();
        assert_eq!(r.locale.as_str(), "en");
    }

    #[test]
    fn refuses_bad_names_missing_parts_and_undefined_variables() {
        let mut t = EmailTemplates::new();
        for bad in [
            "fr/verify.txt",
            "FR/verify_email.txt",
            "fr/verify_email.text",
            "a/b/c",
            "",
        ] {
            assert!(t.set(bad, "x").is_err(), "{bad:?} accepted");
        }
        assert!(
            t.set("fr/verify_email.txt", "{% if %}").is_err(),
            "syntax error accepted"
        );
        let only_html = EmailTemplates::new()
            .with("fr/verify_email.html", "x")
            .unwrap();
        let err = only_html.check("Acme", "https://acme.test").unwrap_err();
        assert_eq!(err.name, "fr/verify_email.subject");
        let typo = EmailTemplates::new()
            .with("fr/verify_email.subject", "x")
            .unwrap()
            .with("fr/verify_email.txt", "{{ lnik }}")
            .unwrap();
        let err = typo.check("Acme", "https://acme.test").unwrap_err();
        assert_eq!(err.name, "fr/verify_email.txt");
    }

    #[test]
    fn loads_a_directory() {
        let dir = std::env::temp_dir().join(format!("authkit-templates-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("de")).unwrap();
        std::fs::write(dir.join("de/password_changed.subject"), "Passwort geändert").unwrap();
        std::fs::write(dir.join("de/password_changed.txt"), "Hallo {{ email }}").unwrap();
        let t = EmailTemplates::new().load_dir(&dir).unwrap();
        std::fs::write(dir.join("de/typo.txt"), "x").unwrap();
        assert!(EmailTemplates::new().load_dir(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        let de = Locale::parse("de").unwrap();
        let r = t
            .render(EmailKind::PasswordChanged, &[&de], &ctx(&BTreeMap::new()))
            .unwrap();
        assert_eq!(r.text, "Hallo ada@example.com");
    }
}
