//! [`Locale`]: the language a user's emails are written in.

use std::fmt;

/// Longest tag accepted (BCP 47 allows longer ones; no email template set needs them).
pub const MAX_LOCALE_LEN: usize = 35;

/// A language tag in the shape of BCP 47 (`en`, `pt-BR`, `zh-Hant-TW`): a 2–3 letter language,
/// then subtags of 1–8 letters or digits. Parsing normalizes the case: language lower case,
/// a 4-letter script title case, a 2-letter region upper case, others lower case.
///
/// ```
/// # use authkit_core::domain::Locale;
/// assert_eq!(Locale::parse("PT-br").unwrap().as_str(), "pt-BR");
/// assert_eq!(Locale::parse("zh-hant-tw").unwrap().as_str(), "zh-Hant-TW");
/// assert!(Locale::parse("english please").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locale(String);

impl Locale {
    /// English, the fallback of every template lookup.
    pub fn english() -> Self {
        Self("en".to_owned())
    }

    /// Parses and normalizes a tag, or `None` when it is not shaped like one.
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.trim();
        if tag.is_empty() || tag.len() > MAX_LOCALE_LEN {
            return None;
        }
        let mut out = String::with_capacity(tag.len());
        for (i, part) in tag.split(['-', '_']).enumerate() {
            let ok = if i == 0 {
                (2..=3).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphabetic())
            } else {
                (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
            };
            if !ok {
                return None;
            }
            if i > 0 {
                out.push('-');
            }
            if i > 0 && part.len() == 4 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
                let (first, rest) = part.split_at(1);
                out.push_str(&first.to_ascii_uppercase());
                out.push_str(&rest.to_ascii_lowercase());
            } else if i > 0 && part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
                out.push_str(&part.to_ascii_uppercase());
            } else {
                out.push_str(&part.to_ascii_lowercase());
            }
        }
        Some(Self(out))
    }

    /// The normalized tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language subtag alone (`pt` for `pt-BR`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locale({})", self.0)
    }
}

impl serde::Serialize for Locale {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Locale;

    #[test]
    fn normalizes_case_and_separators() {
        for (input, want) in [
            ("en", "en"),
            ("EN", "en"),
            ("pt_br", "pt-BR"),
            ("sr-latn-rs", "sr-Latn-RS"),
            ("es-419", "es-419"),
            (" de-CH ", "de-CH"),
        ] {
            assert_eq!(
                Locale::parse(input).map(|l| l.0),
                Some(want.to_owned()),
                "{input}"
            );
        }
        assert_eq!(Locale::parse("pt-BR").unwrap().language(), "pt");
    }

    #[test]
    fn refuses_what_is_not_a_tag() {
        for bad in [
            "",
            "e",
            "engl",
            "en-",
            "en--US",
            "en-toolongsubtag",
            "en US",
            "../etc",
            "en/x",
            "fr-<b>",
        ] {
            assert!(Locale::parse(bad).is_none(), "{bad:?} accepted");
        }
        assert!(Locale::parse(&format!("en-{}", "a-".repeat(20))).is_none());
    }
}
