//! Conversions shared by both backends from stored values to domain values. A value that cannot
//! be converted (a row edited by hand, a foreign schema) is a [`StoreError::Backend`], never a
//! panic.

use std::net::IpAddr;

use authkit_core::domain::{Email, EmailKind, Locale, OutboxStatus, TokenPurpose, UserStatus};
use authkit_core::ports::{BoxError, StoreError, StoreResult};
use secrecy::SecretBox;

/// A stored value that does not convert to its domain type.
#[derive(Debug, thiserror::Error)]
#[error("unexpected value in column `{column}`")]
pub(crate) struct CorruptRow {
    column: &'static str,
    #[source]
    source: Option<BoxError>,
}

/// A `Backend` error for a bad value in `column`.
pub(crate) fn corrupt(column: &'static str, source: Option<BoxError>) -> StoreError {
    StoreError::Backend(Box::new(CorruptRow { column, source }))
}

pub(crate) fn status(s: &str) -> StoreResult<UserStatus> {
    UserStatus::parse(s).ok_or_else(|| corrupt("status", None))
}

pub(crate) fn purpose(s: &str) -> StoreResult<TokenPurpose> {
    TokenPurpose::parse(s).ok_or_else(|| corrupt("purpose", None))
}

pub(crate) fn email_kind(s: &str) -> StoreResult<EmailKind> {
    EmailKind::parse(s).ok_or_else(|| corrupt("kind", None))
}

pub(crate) fn outbox_status(s: &str) -> StoreResult<OutboxStatus> {
    OutboxStatus::parse(s).ok_or_else(|| corrupt("status", None))
}

/// A stored locale tag, which must already be normalized.
pub(crate) fn locale(text: Option<String>) -> StoreResult<Option<Locale>> {
    text.map(|t| match Locale::parse(&t) {
        Some(l) if l.as_str() == t => Ok(l),
        _ => Err(corrupt("locale", None)),
    })
    .transpose()
}

/// A stored outbox recipient: a message is only ever sent to a valid, normalized address.
pub(crate) fn recipient(text: &str) -> StoreResult<Email> {
    match Email::parse(text) {
        Ok(e) if e.as_str() == text => Ok(e),
        Ok(_) => Err(corrupt("recipient", None)),
        Err(e) => Err(corrupt("recipient", Some(Box::new(e)))),
    }
}

/// A stored attempt counter.
pub(crate) fn attempts(n: i64) -> StoreResult<u32> {
    u32::try_from(n).map_err(|e| corrupt("attempts", Some(Box::new(e))))
}

/// A row count.
pub(crate) fn count(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|e| corrupt("count", Some(Box::new(e))))
}

pub(crate) fn seed(bytes: &[u8]) -> StoreResult<SecretBox<[u8; 32]>> {
    let seed = <[u8; 32]>::try_from(bytes).map_err(|e| corrupt("seed", Some(Box::new(e))))?;
    Ok(SecretBox::new(Box::new(seed)))
}

pub(crate) fn ip(column: &'static str, text: Option<String>) -> StoreResult<Option<IpAddr>> {
    text.map(|t| t.parse().map_err(|e| corrupt(column, Some(Box::new(e)))))
        .transpose()
}

pub(crate) fn json(column: &'static str, text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| corrupt(column, Some(Box::new(e))))
}

/// Serializes an audit detail for storage.
pub(crate) fn json_text(value: &serde_json::Value) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Role names as the domain shows them: sorted (byte order) and without duplicates.
pub(crate) fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// The distinct values of `names`, sorted, for inserting grants once each.
pub(crate) fn distinct(names: &[String]) -> Vec<String> {
    sorted(names.to_vec())
}

/// The `LIKE` pattern matching `needle` literally as a substring, with `\` as the escape
/// character (the query says `ESCAPE '\'`): `%`, `_` and `\` in the needle lose their meaning.
/// The needle is lowercased as [`authkit_core::domain::Email`] normalizes addresses, so that a
/// case-sensitive match against the stored (normalized) emails is case-insensitive.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn contains_pattern_escapes_wildcards() {
        assert_eq!(contains_pattern("A_b"), "%a\\_b%");
        assert_eq!(contains_pattern("%"), "%\\%%");
        assert_eq!(contains_pattern("a\\b"), "%a\\\\b%");
        assert_eq!(contains_pattern("o'neil"), "%o'neil%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
