//! The refresh-token cookie (`authkit_refresh`: HttpOnly, Secure, SameSite=Strict, path-scoped).

use http::HeaderMap;
use http::header::COOKIE;

/// Name of the refresh-token cookie.
pub const REFRESH_COOKIE: &str = "authkit_refresh";

/// `Set-Cookie` value carrying a refresh token for `max_age` seconds.
pub fn set_refresh_cookie(token: &str, path: &str, max_age: i64) -> String {
    format!(
        "{REFRESH_COOKIE}={token}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// `Set-Cookie` value that deletes the refresh cookie.
pub fn clear_refresh_cookie(path: &str) -> String {
    format!("{REFRESH_COOKIE}=; Path={path}; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The refresh token from the request's `Cookie` headers, if any.
pub fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The mount point of the routes: the request path minus the route's own path
/// (`/api/v1/login` for `/login` gives `/api/v1`), or `/`.
pub fn mount_path(request_path: &str, route_path: &str) -> String {
    match request_path.strip_suffix(route_path) {
        Some(prefix) if !prefix.is_empty() => prefix.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; authkit_refresh=tok; b=2"),
        );
        assert_eq!(refresh_cookie(&h).as_deref(), Some("tok"));
        assert_eq!(refresh_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn mount_paths() {
        assert_eq!(mount_path("/api/v1/login", "/login"), "/api/v1");
        assert_eq!(mount_path("/login", "/login"), "/");
        let c = set_refresh_cookie("t", "/api/v1", 60);
        for attr in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/v1",
            "Max-Age=60",
        ] {
            assert!(c.contains(attr));
        }
    }
}
