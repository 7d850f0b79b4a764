//! Request bodies: content type (415), size (413), JSON syntax and types (400).

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Whether the request declares a JSON body (`application/json` or `application/*+json`,
/// parameters such as `charset` allowed).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body into `T`. The error detail names the position, never the value (which
/// may be a password).
pub fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8], limit: usize) -> Result<T> {
    if body.len() > limit {
        return Err(Error::PayloadTooLarge);
    }
    if !is_json(headers) {
        return Err(Error::UnsupportedMediaType);
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "a field has the wrong type",
            serde_json::error::Category::Eof => "the JSON body is incomplete",
            _ => "the body is not valid JSON",
        };
        Error::MalformedRequest(format!("{what} (line {}, column {})", e.line(), e.column()))
    })
}

/// Like [`parse`], but an empty body gives `T::default()` whatever the content type (for
/// routes whose body is optional).
pub fn parse_optional<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(headers, body, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn json_headers(ct: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        h
    }

    #[derive(serde::Deserialize, Default, Debug)]
    struct Body {
        #[allow(dead_code)]
        a: Option<String>,
    }

    #[test]
    fn content_types() {
        assert!(is_json(&json_headers("application/json; charset=utf-8")));
        assert!(is_json(&json_headers("application/merge-patch+json")));
        assert!(!is_json(&json_headers("text/plain")));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn errors_never_echo_values() {
        let h = json_headers("application/json");
        let Err(Error::MalformedRequest(d)) = parse::<Body>(&h, br#"{"a": 12345678}"#, 1024) else {
            panic!("expected malformed");
        };
        assert!(!d.contains("12345678"));
        assert!(matches!(
            parse::<Body>(&h, b"{", 1024),
            Err(Error::MalformedRequest(_))
        ));
        assert!(matches!(
            parse::<Body>(&h, &[b' '; 2048], 1024),
            Err(Error::PayloadTooLarge)
        ));
        assert!(parse_optional::<Body>(&HeaderMap::new(), b"", 1024).is_ok());
    }
}
