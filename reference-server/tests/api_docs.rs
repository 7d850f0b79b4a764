//! `GET /openapi.json` and `GET /docs` on a running server: the document is OpenAPI 3.1, lists
//! exactly the routes the server serves (the contract under /api/v1 and the operational routes),
//! each of which the server answers; `/docs` is a page for it with its own CSP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail loudly"
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use authkit_core::hashing::Argon2Config;
use authkit_server::ServerConfig;
use authkit_server::api_docs::{API_BASE, ops_routes};
use authkit_server::config::DatabaseUrl;
use serde_json::Value;

use common::running::Running;

fn config(dir: &tempfile::TempDir) -> ServerConfig {
    ServerConfig {
        database_url: DatabaseUrl::parse(&format!(
            "sqlite://{}",
            dir.path().join("authkit.db").display()
        ))
        .unwrap(),
        argon2: Argon2Config::insecure_fast(),
        ready_timeout: Duration::from_millis(1500),
        public_url: "https://auth.example.com".to_owned(),
        ..ServerConfig::default()
    }
}

/// `(METHOD, /path)` of every operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            ops.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn openapi_json_documents_every_route_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let server = Running::start(config.clone()).await;
    let client = common::client();

    let response = client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "https://auth.example.com");

    // The server's routes: the route table under /api/v1 and the operational routes.
    let mut served = BTreeSet::new();
    for route in authkit_core::http::ROUTES {
        served.insert((
            route.method.as_str().to_owned(),
            format!("{API_BASE}{}", route.path),
        ));
    }
    for route in ops_routes(&config) {
        served.insert((route.method.as_str().to_owned(), route.path.to_owned()));
    }
    assert_eq!(operations(&doc), served);

    // Every documented operation is routed: none answers the router's 404 or 405 (a protected
    // route without a token answers 401; a public one with an empty body 415).
    for (method, path) in operations(&doc) {
        let url = format!(
            "{}{}",
            server.base,
            path.replace("{id}", "0190a6d4-0000-7000-8000-000000000000")
                .replace("{name}", "no-such-role")
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client.request(method.clone(), &url).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} is documented but answers {status}"
        );
        let documented = &doc["paths"][&path][method.as_str().to_ascii_lowercase()];
        assert!(
            documented["responses"][status.to_string()].is_object()
                || documented["responses"]["default"].is_object(),
            "{method} {path}: {status} is not documented"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn docs_is_a_page_for_the_document_with_its_own_csp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(config(&dir)).await;
    let client = common::client();

    let response = client
        .get(format!("{}/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src https://cdn.jsdelivr.net/npm/swagger-ui-dist@"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The other security headers are still added.
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(html.contains("url: \"openapi.json\""), "{html}");

    // Every other response keeps the strict policy.
    for path in ["/openapi.json", "/health", "/api/v1/users/me"] {
        let response = client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-security-policy"],
            "frame-ancestors 'none'",
            "{path}"
        );
    }
    server.shutdown().await;
}
