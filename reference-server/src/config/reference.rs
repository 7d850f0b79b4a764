//! The configuration reference, made from [`vars::ALL`] so that it cannot drift from the code:
//! `docs/configuration.md` ([`markdown`]) and `reference-server/config.example.toml`
//! ([`example_toml`]). Tests compare both files with what these functions return; regenerate
//! them with `authkit-server config-reference` and `authkit-server config-reference --toml`.

use std::fmt::Write as _;

use super::vars::{self, Kind, Setting};

/// How to regenerate `docs/configuration.md` (from the workspace root).
pub const REGENERATE_MARKDOWN: &str =
    "cargo run -p authkit-server -- config-reference > docs/configuration.md";

/// How to regenerate `reference-server/config.example.toml` (from the workspace root).
pub const REGENERATE_TOML: &str =
    "cargo run -p authkit-server -- config-reference --toml > reference-server/config.example.toml";

/// `docs/configuration.md`: how settings are read (precedence, the file, secrets), then every
/// setting with its variable, file key, meaning, values and default.
pub fn markdown() -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "\
# Configuration reference

<!-- Generated from reference-server/src/config.rs (vars::ALL); a test fails when this file
     differs. Regenerate it with: {REGENERATE_MARKDOWN} -->

`authkit-server` reads its settings from `AUTHKIT_*` environment variables and, when
`AUTHKIT_CONFIG` names one, from a TOML file. Every setting is optional: with none, the server
starts on a SQLite file in the working directory. Settings are checked at start; a value that
cannot be used stops the server (exit status 2) with a message that names the setting and the
fix. `authkit-server check-config` checks them, prints them without secrets and names the file
read; `authkit-server --help` lists them too.

## Precedence

For each setting, the first of these that is present wins:

1. the environment variable, when set and not empty (an empty variable, such as
   `AUTHKIT_SMTP_URL=` in a compose file, counts as unset);
2. the key in the configuration file named by `AUTHKIT_CONFIG`;
3. the default.

So the environment overrides the file setting by setting: a file can hold the shared settings
and the environment of each instance what differs, or the secrets.

## The configuration file

`AUTHKIT_CONFIG=/etc/authkit/authkit.toml authkit-server` reads a TOML file whose keys are the
variable names without `AUTHKIT_`, lowercased. Settings that take a comma-separated list take
an array of strings; numbers and booleans may be written as TOML integers and booleans (or as
strings, like the variables):

```toml
database_url = \"postgres://authkit:PASSWORD@db:5432/authkit\"
public_url = \"https://auth.example.com\"
rate_limit_per_minute = 100
trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]
require_verified_email = true
```

`reference-server/config.example.toml` lists every key, commented out, with its default. The
file is read once, at start. A key that is no setting is refused, with the closest valid key
suggested; so is a value of the wrong type. An error about a value from the file names the key,
the file and the variable, e.g. `rate_limit_per_minute in /etc/authkit/authkit.toml
(AUTHKIT_RATE_LIMIT_PER_MINUTE) = \"lots\" is invalid: ...`. A file that is not valid TOML is
refused with the line and column of the error. `AUTHKIT_CONFIG` itself is read from the
environment only.

## Secrets

"
    );
    let secrets: Vec<String> = vars::ALL
        .iter()
        .filter(|s| s.secret)
        .map(|s| format!("`{}`", s.name))
        .collect();
    let secret_text = format!(
        "{}, and the passwords in `{}` and `{}`, are never printed: not by `check-config`, not \
         in error messages (they name the setting and what is wrong, never the value), not in \
         logs. They are as secret in the configuration file as in the environment: a file that \
         holds one must be readable by the server's user only (`chmod 600`), or better, keep \
         the secrets in the environment (from a secret store) and the rest in the file.",
        join_and(&secrets),
        vars::DATABASE_URL,
        vars::SMTP_URL,
    );
    out.push_str(&wrap(&secret_text, ""));
    out.push_str("\n## Settings\n\n| Variable | File key | Default |\n|---|---|---|\n");
    for setting in vars::ALL {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} |",
            setting.name,
            setting.name.to_ascii_lowercase(),
            setting
                .key()
                .map_or_else(|| "(environment only)".to_owned(), |k| format!("`{k}`")),
            default_text(setting),
        );
    }
    for setting in vars::ALL {
        let _ = write!(out, "\n### {}\n\n", setting.name);
        out.push_str(&wrap(
            &format!("{}.", capitalized(&escape(setting.meaning))),
            "",
        ));
        out.push('\n');
        let key = match setting.key() {
            Some(key) => format!("`{key}` ({})", kind_text(setting.kind)),
            None => "none: read from the environment only".to_owned(),
        };
        for item in [
            format!("- Values: {}.", escape(setting.values)),
            format!("- Default: {}.", default_text(setting)),
            format!("- File key: {key}."),
        ] {
            out.push_str(&wrap(&item, "  "));
        }
        if setting.secret {
            out.push_str("- Secret: never printed.\n");
        }
    }
    let defaults = super::ServerConfig::default();
    let policy = defaults.rotation_policy();
    let _ = write!(
        out,
        "
## Not settings of `serve`

- `RUST_LOG` filters the logs (default `info`, e.g. `info,authkit_server=debug`).
- `AUTHKIT_ADMIN_PASSWORD` is read by `create-admin` only: the password of a new administrator
  (unset: one line of standard input). See `authkit-server create-admin --help`.
- Signing keys (without `AUTHKIT_JWT_SECRET`): a running server reloads them from the database
  every {} s, so a key added by `authkit-server rotate-keys` is published without a restart; it
  signs {} s after it was added (the {} s verifiers may cache the JWKS, plus a reload interval),
  and the previous key keeps verifying until its last tokens have expired ({} s: the access
  token lifetime plus the leeway). Programs embedding the server set these through
  `ServerConfig::key_reload_interval` and `ServerConfig::key_activation_delay`.
",
        defaults.key_reload_interval.as_secs(),
        policy.activation_delay.whole_seconds(),
        authkit_core::jwt::DEFAULT_ACTIVATION_DELAY.whole_seconds(),
        policy.verify_after_signing.whole_seconds(),
    );
    out
}

/// `reference-server/config.example.toml`: every key, commented out, with the value that means
/// the default.
pub fn example_toml() -> String {
    let mut out = String::new();
    for line in [
        "authkit-server configuration file: AUTHKIT_CONFIG=/etc/authkit/authkit.toml authkit-server",
        "",
        "Every key is optional. Each is shown commented out with the value that means the default \
         (\"\" or [] where the default is computed or unset): uncomment and change what you need. \
         Each AUTHKIT_* variable set (and not empty) in the environment overrides its key here. \
         Keys are the variable names without AUTHKIT_, lowercased; unknown keys are refused.",
        "",
        "Secrets (jwt_secret, password_pepper, retired_peppers, passwords in database_url and \
         smtp_url) are never printed; if this file holds one, make it readable by the server's \
         user only, or keep the secrets in the environment.",
        "",
        "docs/configuration.md describes every setting. Generated by `authkit-server \
         config-reference --toml`.",
    ] {
        comment(&mut out, line);
    }
    for setting in vars::ALL {
        let Some(key) = setting.key() else { continue };
        out.push('\n');
        comment(&mut out, &format!("{}.", capitalized(setting.meaning)));
        comment(&mut out, &format!("Values: {}.", setting.values));
        comment(
            &mut out,
            &format!("Default: {}. Variable: {}.", setting.default, setting.name),
        );
        let _ = writeln!(out, "# {key} = {}", setting.toml_default);
    }
    out
}

/// `text` in lines of at most 96 columns (longer words stay whole), continued with `indent`.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.trim().is_empty() && line.chars().count() + 1 + word.chars().count() > 96 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_owned();
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// Appends `text` as `# ` comment lines of at most 100 columns (an empty text: a lone `#`).
fn comment(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push_str("#\n");
        return;
    }
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > 100 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// The default, as code when it is a value (`100`, `sqlite://authkit.db`), as text when it
/// describes what happens (`unset: ...`).
fn default_text(setting: &Setting) -> String {
    let literal = !matches!(setting.toml_default, "" | "\"\"" | "[]");
    if literal {
        format!("`{}`", setting.default)
    } else {
        escape(setting.default)
    }
}

fn kind_text(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a string",
        Kind::Integer => "an integer",
        Kind::Bool => "a boolean",
        Kind::List => "an array of strings",
    }
}

/// Escapes what Markdown would take for markup (`<`, `>`, `|`, `*`), outside code spans.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && matches!(c, '<' | '>' | '|' | '*') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_outside_code() {
        assert_eq!(escape("a <b> `c|d` e*f"), "a \\<b\\> `c|d` e\\*f");
        assert_eq!(capitalized("`iss` of"), "`iss` of");
        assert_eq!(capitalized("the db"), "The db");
        assert_eq!(
            join_and(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }

    #[test]
    fn comments_wrap_at_100_columns() {
        let mut out = String::new();
        comment(&mut out, &"word ".repeat(60));
        assert!(
            out.lines().all(|l| l.len() <= 100 && l.starts_with("# ")),
            "{out}"
        );
        assert_eq!(out.split_whitespace().filter(|w| *w == "word").count(), 60);
        let text = wrap(&format!("- {}", "word ".repeat(60)), "  ");
        assert!(text.lines().all(|l| l.chars().count() <= 96), "{text}");
        assert!(
            text.lines().skip(1).all(|l| l.starts_with("  word")),
            "{text}"
        );
    }
}
