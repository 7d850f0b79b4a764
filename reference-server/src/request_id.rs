//! Request ids: every request gets one, taken from its `x-request-id` header when that is a sane
//! value ([`is_acceptable`]: 1 to 128 visible ASCII characters, no spaces) and otherwise a new
//! UUIDv7. The id goes back on the response's `x-request-id` (every response: errors, 404, 405,
//! 413, 429 and 503 included) and the rest of the request runs inside a `request` span carrying
//! it as `request_id`, so every log line of the request shows it ([`crate::telemetry`]).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header read from requests and set on responses.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a request.
pub const MAX_LEN: usize = 128;

/// Whether a client's `x-request-id` is kept: 1 to [`MAX_LEN`] bytes of visible ASCII (`!` to
/// `~`), so it is safe in a log line and a header. Anything else is replaced.
pub fn is_acceptable(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len()) && value.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// A new id: a UUIDv7 (time-ordered), hyphenated.
pub fn generate() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The request's id: its own when acceptable, else a new one.
pub fn of(request: &Request) -> HeaderValue {
    request
        .headers()
        .get(&HEADER)
        .filter(|v| is_acceptable(v.as_bytes()))
        .cloned()
        .unwrap_or_else(generate)
}

/// The middleware: picks the id, runs the request in a span carrying it, and sets it on the
/// response. The span is at `ERROR` level under the target `authkit::request`, so that any
/// `RUST_LOG` that shows a line of the request keeps its id.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let id = of(&request);
    // Handlers below see the id that the response and the logs carry.
    request.headers_mut().insert(HEADER, id.clone());
    let span = tracing::error_span!(
        target: "authkit::request",
        "request",
        request_id = %id.to_str().unwrap_or("unknown")
    );
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(HEADER, id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_refused() {
        for kept in [
            "test-123",
            "a",
            "0190d2c4-7a1b-7c3d-8e4f-123456789abc",
            "trace=abc;span/1:2",
            &"x".repeat(128),
        ] {
            assert!(is_acceptable(kept.as_bytes()), "{kept}");
        }
        for refused in [
            "",
            "has space",
            "tab\there",
            "new\nline",
            "caf\u{e9}",
            "\u{7f}",
            &"x".repeat(129),
            &"y".repeat(300),
        ] {
            assert!(!is_acceptable(refused.as_bytes()), "{refused:?}");
        }
    }

    #[test]
    fn generated_ids_are_acceptable_uuids_and_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(is_acceptable(id.as_bytes()));
            let uuid = uuid::Uuid::parse_str(id.to_str().unwrap()).unwrap();
            assert_eq!(uuid.get_version_num(), 7);
        }
    }
}
