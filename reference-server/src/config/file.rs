//! The TOML configuration file named by `AUTHKIT_CONFIG`.
//!
//! Its keys are the variable names without `AUTHKIT_`, lowercased (`database_url = "..."`);
//! settings that take a comma-separated list take a TOML array of strings, numbers and
//! booleans may be TOML integers and booleans (or strings). Each value is turned back into
//! the text the variable would hold and parsed by the same code as the environment
//! (`ServerConfig::parse`), so that every check and message lives in one place; an
//! error about a value from the file then names the key, the file and the variable
//! ([`ConfigError::InFile`]).
//!
//! Not figment: it deserializes into a struct with serde, which would either duplicate the
//! per-variable parsing or bypass its messages, and could not name the variable behind a key.
//! Reading the file into a table and answering the same getter as the environment keeps one
//! parser per setting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::vars::{self, Kind, Setting};

/// A configuration file, read and checked: every key known, every value of a usable type.
#[derive(Clone)]
pub(crate) struct ConfigFile {
    path: PathBuf,
    /// By variable name: the value as the variable would hold it.
    values: HashMap<&'static str, String>,
}

impl ConfigFile {
    /// Reads and checks the file at `path`. Never shows a value in an error: values may be
    /// secrets.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::FileUnreadable {
            path: path.to_owned(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            // The error's own `Display` quotes the offending line, which may hold a secret:
            // only its message and position are shown.
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_and_column(&text, span.start));
            ConfigError::FileSyntax {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        let mut values = HashMap::new();
        for (key, value) in table {
            let setting = setting_for_key(&key).ok_or_else(|| {
                if key == file_key(vars::CONFIG) {
                    ConfigError::FileNamesConfig {
                        path: path.to_owned(),
                    }
                } else {
                    ConfigError::FileUnknownKey {
                        path: path.to_owned(),
                        suggestion: closest_key(&key),
                        key: key.clone(),
                    }
                }
            })?;
            let text = value_text(setting.kind, value).ok_or_else(|| ConfigError::FileType {
                path: path.to_owned(),
                key: key.clone(),
                var: setting.name,
                expected: expected(setting.kind),
            })?;
            values.insert(setting.name, text);
        }
        Ok(Self {
            path: path.to_owned(),
            values,
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The value the file gives `var`, as the variable would hold it.
    pub(crate) fn get(&self, var: &str) -> Option<&str> {
        self.values.get(var).map(String::as_str)
    }

    /// `error`, about a value this file gave, with the key and the file named.
    pub(crate) fn blame(&self, error: ConfigError) -> ConfigError {
        ConfigError::InFile {
            key: file_key(error.var()),
            path: self.path.clone(),
            error: Box::new(error),
        }
    }
}

/// The key of variable `var` in the file: without `AUTHKIT_`, lowercased.
pub(crate) fn file_key(var: &str) -> String {
    var.strip_prefix("AUTHKIT_")
        .unwrap_or(var)
        .to_ascii_lowercase()
}

/// The setting a file key names (never `AUTHKIT_CONFIG`).
fn setting_for_key(key: &str) -> Option<&'static Setting> {
    vars::ALL
        .iter()
        .find(|s| s.name != vars::CONFIG && file_key(s.name) == key)
}

/// The valid key closest to `key` (edit distance, after dropping an `authkit_` prefix and
/// lowercasing, so that `AUTHKIT_BIND` suggests `bind`).
fn closest_key(key: &str) -> String {
    let wanted = key.to_ascii_lowercase().replace('-', "_");
    let wanted = wanted.strip_prefix("authkit_").unwrap_or(&wanted);
    vars::ALL
        .iter()
        .filter(|s| s.name != vars::CONFIG)
        .map(|s| file_key(s.name))
        .min_by_key(|candidate| edit_distance(wanted, candidate))
        .unwrap_or_default()
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The text a variable of `kind` would hold for `value`; `None` for a type it does not take.
fn value_text(kind: Kind, value: toml::Value) -> Option<String> {
    match (kind, value) {
        (_, toml::Value::String(s)) => Some(s),
        (Kind::Integer, toml::Value::Integer(n)) => Some(n.to_string()),
        (Kind::Bool, toml::Value::Boolean(b)) => Some(b.to_string()),
        (Kind::List, toml::Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(|items| items.join(",")),
        _ => None,
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a string",
        Kind::Integer => "an integer (or a string)",
        Kind::Bool => "true or false (or a string)",
        Kind::List => "an array of strings (or one comma-separated string)",
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_suggestions() {
        assert_eq!(
            file_key(vars::RATE_LIMIT_PER_MINUTE),
            "rate_limit_per_minute"
        );
        assert_eq!(closest_key("rate_limit_per_minut"), "rate_limit_per_minute");
        assert_eq!(closest_key("AUTHKIT_BIND"), "bind");
        assert_eq!(closest_key("database-url"), "database_url");
        assert_eq!(closest_key("databse_url"), "database_url");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(setting_for_key("config").is_none());
    }

    #[test]
    fn values_become_variable_text() {
        let int = toml::Value::Integer(100);
        assert_eq!(
            value_text(Kind::Integer, int.clone()).as_deref(),
            Some("100")
        );
        assert_eq!(value_text(Kind::Text, int), None);
        let list = toml::Value::Array(vec!["10.0.0.0/8".into(), "::1".into()]);
        assert_eq!(
            value_text(Kind::List, list.clone()).as_deref(),
            Some("10.0.0.0/8,::1")
        );
        assert_eq!(value_text(Kind::Text, list), None);
        let mixed = toml::Value::Array(vec!["a".into(), toml::Value::Integer(1)]);
        assert_eq!(value_text(Kind::List, mixed), None);
        assert_eq!(
            value_text(Kind::Bool, toml::Value::Boolean(true)).as_deref(),
            Some("true")
        );
        assert_eq!(value_text(Kind::Bool, toml::Value::Float(1.0)), None);
    }

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_and_column("a = 1\nbé = \"x", 10), (2, 4));
        assert_eq!(line_and_column("x", 0), (1, 1));
    }
}
