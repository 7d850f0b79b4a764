//! `GET /openapi.json`, the OpenAPI 3.1 document of every route the server serves, and
//! `GET /docs`, an interactive page for it (Swagger UI).
//!
//! The document is core's ([`authkit_core::http::openapi::openapi`]) mounted at [`API_BASE`],
//! plus the operational routes at the root ([`OPS_ROUTES`]), with `AUTHKIT_PUBLIC_URL` as its
//! server. It is built once, when the routes are.
//!
//! `/docs` loads Swagger UI from jsDelivr, pinned to one version with subresource integrity,
//! as FastAPI's `/docs` does; that page alone gets a Content-Security-Policy allowing exactly
//! those files (every other response keeps the strict `default-src`-less policy of
//! [`authkit_core::http::security_headers`]). The browser needs to reach jsDelivr; the server
//! never does.

use std::sync::Arc;

use authkit_core::http::PROBLEM_JSON;
use authkit_core::http::openapi::openapi;
use axum::Router;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, ResponsesBuilder};

use crate::config::ServerConfig;

/// Where the reference server mounts the contract (`/api/v1/login`...).
pub const API_BASE: &str = "/api/v1";

/// The pinned Swagger UI (`swagger-ui-dist` on npm, served by jsDelivr).
const SWAGGER_UI: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/";
/// Subresource integrity of `swagger-ui-bundle.js` of that version.
const SWAGGER_UI_JS_SRI: &str =
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9";
/// Subresource integrity of `swagger-ui.css` of that version.
const SWAGGER_UI_CSS_SRI: &str =
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I";

/// The page's one inline script. `openapi.json` is relative to `/docs`, so that the page also
/// works behind a proxy that adds a path prefix.
const INIT_SCRIPT: &str = r##"window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });"##;

/// What the document says about an operational route.
#[derive(Debug, Clone)]
pub struct OpsRoute {
    /// `GET` for all of them.
    pub method: Method,
    /// The path at the root.
    pub path: &'static str,
    /// One line.
    pub summary: &'static str,
    /// The media type of the 200 answer.
    pub media_type: &'static str,
}

/// The operational routes at the root, as documented. `/metrics` is there only when it is
/// served on the main listener (no `AUTHKIT_METRICS_BIND`).
pub const OPS_ROUTES: &[OpsRoute] = &[
    OpsRoute {
        method: Method::GET,
        path: "/health",
        summary: "Liveness: 200 while the process runs",
        media_type: "application/json",
    },
    OpsRoute {
        method: Method::GET,
        path: "/ready",
        summary: "Readiness: 200 when the database answers, else 503; the email outbox by status",
        media_type: "application/json",
    },
    OpsRoute {
        method: Method::GET,
        path: "/metrics",
        summary: "Prometheus metrics (text exposition format)",
        media_type: "text/plain",
    },
    OpsRoute {
        method: Method::GET,
        path: "/.well-known/jwks.json",
        summary: "The public keys that verify access tokens (JWKS; empty with HS256)",
        media_type: "application/json",
    },
    OpsRoute {
        method: Method::GET,
        path: "/openapi.json",
        summary: "This document",
        media_type: "application/json",
    },
    OpsRoute {
        method: Method::GET,
        path: "/docs",
        summary: "An interactive page for this document (Swagger UI)",
        media_type: "text/html",
    },
];

/// The operational routes `config` serves on the main listener.
pub fn ops_routes(config: &ServerConfig) -> impl Iterator<Item = &'static OpsRoute> {
    let metrics_here = config.metrics_bind.is_none();
    OPS_ROUTES
        .iter()
        .filter(move |r| r.path != "/metrics" || metrics_here)
}

/// `GET /openapi.json` and `GET /docs`.
pub(crate) fn router(config: &ServerConfig) -> Router {
    let json = document(config)
        .to_json()
        .unwrap_or_else(|_| "{}".to_owned());
    let json = axum::body::Bytes::from(json);
    let page = Arc::new(docs_page(&config.public_url));
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                        json,
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/docs",
            get(move || {
                let page = Arc::clone(&page);
                async move { page.response() }
            }),
        )
}

/// The whole document: the contract under [`API_BASE`], the operational routes and the
/// server's public URL.
pub fn document(config: &ServerConfig) -> OpenApi {
    let mut doc = openapi(API_BASE);
    doc.servers = Some(vec![
        ServerBuilder::new()
            .url(config.public_url.clone())
            .description(Some("AUTHKIT_PUBLIC_URL"))
            .build(),
    ]);
    for route in ops_routes(config) {
        let mut ok = ResponseBuilder::new().description(route.summary);
        ok = ok.content(
            route.media_type,
            ContentBuilder::new().schema(ops_schema(route.path)).build(),
        );
        let mut responses = ResponsesBuilder::new().response("200", ok.build());
        if route.path == "/ready" {
            responses = responses.response(
                "503",
                ResponseBuilder::new()
                    .description("The database does not answer")
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(ready_schema())).build(),
                    )
                    .build(),
            );
        }
        responses = responses.response(
            "default",
            ResponseBuilder::new()
                .description("A failure, as a problem document")
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                        .build(),
                )
                .build(),
        );
        let operation = OperationBuilder::new()
            .operation_id(Some(operation_id(route.path)))
            .tag("operations")
            .summary(Some(route.summary))
            .responses(responses.build())
            .build();
        doc.paths
            .add_path_operation(route.path, vec![http_method(&route.method)], operation);
    }
    let tag = TagBuilder::new()
        .name("operations")
        .description(Some(
            "Probes, metrics, keys and this documentation, at the root",
        ))
        .build();
    doc.tags.get_or_insert_with(Vec::new).push(tag);
    doc
}

fn http_method(method: &Method) -> HttpMethod {
    if *method == Method::HEAD {
        HttpMethod::Head
    } else {
        HttpMethod::Get
    }
}

/// `/.well-known/jwks.json` → `well_known_jwks_json`.
fn operation_id(path: &str) -> String {
    path.trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .trim_start_matches('_')
        .to_owned()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn object() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object)
}

/// `{"status": ..., "checks": {"database": ...}, "outbox": ...}`.
fn ready_schema() -> Schema {
    let outbox = ObjectBuilder::new()
        .description(Some(
            "Emails by status (`queued`, `processing`, `sent`, `dropped`, `abandoned`), or \
             `\"unknown\"` when they could not be counted",
        ))
        .build();
    object()
        .property("status", string().enum_values(Some(["ok", "unavailable"])))
        .required("status")
        .property(
            "checks",
            object()
                .property(
                    "database",
                    string().enum_values(Some(["ok", "unavailable"])),
                )
                .required("database"),
        )
        .required("checks")
        .property("outbox", outbox)
        .build()
        .into()
}

fn ops_schema(path: &str) -> Option<Schema> {
    Some(match path {
        "/health" => object()
            .property("status", string().enum_values(Some(["ok"])))
            .required("status")
            .build()
            .into(),
        "/ready" => ready_schema(),
        "/.well-known/jwks.json" => {
            let key = object()
                .property("kty", string())
                .required("kty")
                .property("kid", string())
                .required("kid")
                .property("crv", string())
                .property("x", string())
                .property("alg", string())
                .property("use", string());
            object()
                .property(
                    "keys",
                    utoipa::openapi::schema::ArrayBuilder::new().items(key),
                )
                .required("keys")
                .build()
                .into()
        }
        "/openapi.json" => object()
            .description(Some("An OpenAPI 3.1 document"))
            .build()
            .into(),
        _ => string().build().into(),
    })
}

/// The `/docs` page and its Content-Security-Policy.
struct DocsPage {
    html: String,
    policy: HeaderValue,
}

impl DocsPage {
    fn response(&self) -> Response {
        let mut response = (
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            self.html.clone(),
        )
            .into_response();
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, self.policy.clone());
        response
    }
}

fn docs_page(public_url: &str) -> DocsPage {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>authkit API</title>
<link rel="stylesheet" href="{SWAGGER_UI}swagger-ui.css" integrity="{SWAGGER_UI_CSS_SRI}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<noscript>This page needs JavaScript; the document itself is at <a href="openapi.json">openapi.json</a>.</noscript>
<script src="{SWAGGER_UI}swagger-ui-bundle.js" integrity="{SWAGGER_UI_JS_SRI}" crossorigin="anonymous"></script>
<script>{INIT_SCRIPT}</script>
</body>
</html>
"#
    );
    let script_hash = STANDARD.encode(Sha256::digest(INIT_SCRIPT.as_bytes()));
    // Requests made with "Try it out" go to the document's server, the public URL.
    let connect = match url::Url::parse(public_url) {
        Ok(url) => format!("'self' {}", url.origin().ascii_serialization()),
        Err(_) => "'self'".to_owned(),
    };
    // Swagger UI sets inline styles, hence 'unsafe-inline' for styles (not scripts); its
    // icons are data: URIs.
    let policy = format!(
        "default-src 'none'; script-src {SWAGGER_UI} 'sha256-{script_hash}'; \
         style-src {SWAGGER_UI} 'unsafe-inline'; img-src 'self' data:; connect-src {connect}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    );
    DocsPage {
        html,
        policy: HeaderValue::from_str(&policy)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn doc(metrics_bind: Option<SocketAddr>) -> serde_json::Value {
        let config = ServerConfig {
            metrics_bind,
            public_url: "https://auth.example.com".to_owned(),
            ..ServerConfig::default()
        };
        serde_json::to_value(document(&config)).unwrap()
    }

    #[test]
    fn the_document_has_the_api_the_ops_routes_and_the_public_url() {
        let json = doc(None);
        assert_eq!(json["openapi"], "3.1.0");
        assert_eq!(json["servers"][0]["url"], "https://auth.example.com");
        for route in authkit_core::http::ROUTES {
            let path = format!("{API_BASE}{}", route.path);
            let method = route.method.as_str().to_ascii_lowercase();
            assert!(json["paths"][&path][&method].is_object(), "{method} {path}");
        }
        for route in OPS_ROUTES {
            assert!(
                json["paths"][route.path]["get"].is_object(),
                "{}",
                route.path
            );
        }
        assert!(
            json["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"]
                .is_object()
        );
        assert_eq!(
            json["paths"]["/.well-known/jwks.json"]["get"]["operationId"],
            "well_known_jwks_json"
        );
    }

    #[test]
    fn metrics_on_another_listener_are_not_documented_here() {
        let json = doc(Some("127.0.0.1:9090".parse().unwrap()));
        assert!(json["paths"]["/metrics"].is_null());
        assert!(json["paths"]["/health"]["get"].is_object());
    }

    #[test]
    fn the_docs_policy_allows_the_pinned_swagger_ui_and_the_init_script_only() {
        let page = docs_page("https://auth.example.com");
        let policy = page.policy.to_str().unwrap();
        assert!(
            page.html
                .contains(&format!("{SWAGGER_UI}swagger-ui-bundle.js"))
        );
        assert!(page.html.contains(SWAGGER_UI_JS_SRI));
        assert!(page.html.contains(INIT_SCRIPT));
        let hash = STANDARD.encode(Sha256::digest(INIT_SCRIPT.as_bytes()));
        let script_src = policy
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .unwrap();
        assert_eq!(
            script_src,
            format!("script-src {SWAGGER_UI} 'sha256-{hash}'")
        );
        assert!(!script_src.contains("unsafe"));
        assert!(policy.contains("connect-src 'self' https://auth.example.com"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
