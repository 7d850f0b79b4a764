//! Browsers: CORS for the configured origins ([`crate::AuthConfig::cors_origins`]) and the
//! cross-site request check on every state-changing route.
//!
//! - A request with an `Origin` header (browsers send one on every cross-origin request and
//!   on same-origin POSTs) to a route that changes state is refused with 403 `forbidden`
//!   unless that origin is this one (its host equals the `Host` header), the public URL's, or
//!   an allowed one. `Origin: null` is refused. Without `Origin`, `Sec-Fetch-Site: cross-site`
//!   is refused. Requests from non-browser clients carry neither and pass.
//! - This guards the one ambient credential, the refresh cookie (on top of its
//!   `SameSite=Strict`): a foreign page cannot make the browser refresh or log out. A refresh
//!   by cookie is also refused when it comes as a form (a content type other than JSON), which
//!   old browsers post cross-site without an `Origin`. Every other
//!   route takes its credentials from the `Authorization` header or the body, which a foreign
//!   page cannot set.
//! - CORS: an allowed origin gets `Access-Control-Allow-Origin: <origin>` with
//!   `Access-Control-Allow-Credentials: true` (never `*`), and preflights ([`super::preflight`]) are
//!   answered for the methods of the path with the `Authorization` and `Content-Type` headers.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{ApiResponse, ROUTES};
use crate::AuthConfig;
use crate::error::{Error, Result};

/// `scheme://host[:port]`, lowercased, with the scheme's default port dropped; `None` when `s`
/// is not exactly an http(s) origin (a path, a `*`, user info...).
pub(crate) fn parse_origin(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let (scheme, rest) = s.split_once("://")?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !valid {
        return None;
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    Some(format!("{scheme}://{authority}"))
}

/// The host part of an origin (`app.example.com:8443` of `https://app.example.com:8443`).
fn authority_of(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, a)| a)
}

fn request_origin(headers: &HeaderMap) -> Option<Option<String>> {
    headers
        .get(ORIGIN)
        .map(|v| v.to_str().ok().and_then(parse_origin))
}

/// Whether `origin` (normalized) is one of the configured CORS origins.
fn is_cors_origin(config: &AuthConfig, origin: &str) -> bool {
    config
        .cors_origins
        .iter()
        .any(|o| parse_origin(o).as_deref() == Some(origin))
}

/// The cross-site check of a state-changing request (see the module docs).
pub(crate) fn check_origin(config: &AuthConfig, headers: &HeaderMap) -> Result<()> {
    match request_origin(headers) {
        None => {
            let cross_site = headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
            if cross_site {
                Err(Error::CrossOrigin)
            } else {
                Ok(())
            }
        }
        Some(None) => Err(Error::CrossOrigin),
        Some(Some(origin)) => {
            let same_host = headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|h| h.eq_ignore_ascii_case(authority_of(&origin)));
            let public = parse_origin(&config.public_url).as_deref() == Some(origin.as_str());
            if same_host || public || is_cors_origin(config, &origin) {
                Ok(())
            } else {
                Err(Error::CrossOrigin)
            }
        }
    }
}

/// A refresh that would spend the cookie must not come as a form (`x-www-form-urlencoded`,
/// `multipart/form-data`, `text/plain`: what a page can post cross-site without a preflight).
/// No content type, or JSON, passes.
pub(crate) fn check_cookie_content_type(headers: &HeaderMap) -> Result<()> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" {
        Ok(())
    } else {
        Err(Error::CrossOrigin)
    }
}

/// Adds the CORS headers of an answer to a request from an allowed origin.
pub(crate) fn add_cors_headers(
    config: &AuthConfig,
    request: &HeaderMap,
    response: &mut ApiResponse,
) {
    if config.cors_origins.is_empty() {
        return;
    }
    let headers = &mut response.headers;
    headers.append(VARY, HeaderValue::from_static("origin"));
    let Some(Some(origin)) = request_origin(request) else {
        return;
    };
    if !is_cors_origin(config, &origin) {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, www-authenticate"),
        );
    }
}

/// The answer to a CORS preflight (`OPTIONS`) on `path`, one of [`ROUTES`]' paths: 204, with
/// the CORS headers when the origin is allowed and asks for a method the path serves; without
/// them otherwise (the browser then refuses the request).
pub(crate) fn preflight(config: &AuthConfig, path: &str, request: &HeaderMap) -> ApiResponse {
    let mut response = ApiResponse::empty(StatusCode::NO_CONTENT);
    let methods: Vec<&Method> = ROUTES
        .iter()
        .filter(|r| r.path == path)
        .map(|r| &r.method)
        .collect();
    let asked = request
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .and_then(|m| m.parse::<Method>().ok());
    let allowed = asked.is_some_and(|m| methods.contains(&&m));
    add_cors_headers(config, request, &mut response);
    if !allowed || !response.headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ACCESS_CONTROL_EXPOSE_HEADERS,
        ] {
            response.headers.remove(name);
        }
        return response;
    }
    let list = methods
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&list) {
        response.headers.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    response.headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    response
        .headers
        .insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact() {
        assert_eq!(
            parse_origin("HTTPS://App.Example.com:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            parse_origin("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        for bad in [
            "*",
            "null",
            "https://a.com/path",
            "https://user@a.com",
            "ftp://a.com",
            "https://",
            "a.com",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn state_changes_from_foreign_origins_are_refused() {
        let config = AuthConfig {
            public_url: "https://auth.example.com".to_owned(),
            cors_origins: vec!["https://app.example.com".to_owned()],
            ..AuthConfig::default()
        };
        let ok = |h: &[(&'static str, &'static str)]| check_origin(&config, &headers(h)).is_ok();
        assert!(ok(&[]), "no Origin: not a browser");
        assert!(ok(&[("origin", "https://app.example.com")]));
        assert!(ok(&[("origin", "https://auth.example.com")]));
        assert!(ok(&[
            ("origin", "http://10.0.0.5:8080"),
            ("host", "10.0.0.5:8080")
        ]));
        assert!(!ok(&[("origin", "https://evil.example")]));
        assert!(!ok(&[("origin", "https://app.example.com.evil.example")]));
        assert!(!ok(&[("origin", "null")]));
        assert!(!ok(&[("sec-fetch-site", "cross-site")]));
        assert!(ok(&[("sec-fetch-site", "same-origin")]));
    }
}
