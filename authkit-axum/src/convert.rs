//! The router: one handler for every route of `authkit_core::http::ROUTES`, translating
//! axum's request into an `ApiRequest` and the `ApiResponse` back.

use std::net::SocketAddr;

use authkit_core::AuthKit;
use authkit_core::http::{self, ApiRequest, ApiResponse, PreflightRequest, ROUTES, RouteSpec};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

/// The contract's routes, to mount with `Router::nest("/api/v1", router(kit))`.
///
/// The client address comes from `ConnectInfo<SocketAddr>`: serve the app with
/// `into_make_service_with_connect_info::<SocketAddr>()`, or the per-IP rate limits are
/// skipped, with a warning once per process (see the [crate docs](crate)).
/// Each path also answers CORS preflights (`OPTIONS`). Another method on a known path is
/// core's 405 `method_not_allowed` problem with `Allow`, and an unknown path under the mount
/// its 404 `not_found` problem (the router's fallback, which `nest` keeps to its prefix).
pub fn router<S>(kit: AuthKit) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut paths: Vec<&'static str> = Vec::new();
    for spec in ROUTES {
        if !paths.contains(&spec.path) {
            paths.push(spec.path);
        }
    }
    let router = paths.into_iter().fold(Router::new(), |router, path| {
        let methods = ROUTES.iter().filter(|spec| spec.path == path).fold(
            {
                let kit = kit.clone();
                on(MethodFilter::OPTIONS, move |req: Request| {
                    preflight(kit.clone(), path, req)
                })
            },
            |methods: MethodRouter<S>, spec| {
                let kit = kit.clone();
                let filter =
                    MethodFilter::try_from(spec.method.clone()).unwrap_or(MethodFilter::GET);
                methods.on(filter, move |req: Request| serve(kit.clone(), spec, req))
            },
        );
        let kit = kit.clone();
        router.route(
            path,
            methods.fallback(move |req: Request| method_not_allowed(kit.clone(), path, req)),
        )
    });
    router.fallback(move |req: Request| not_found(kit.clone(), req))
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of [`router`]'s routes
/// ([`authkit_core::http::openapi`]) mounted at `base_path` (the prefix given to `nest`), e.g.
/// `Router::new().nest("/api/v1", router(kit)).merge(openapi_router("/api/v1"))`.
#[cfg(feature = "openapi")]
pub fn openapi_router<S>(base_path: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let json = bytes::Bytes::from(http::openapi::openapi_json(base_path));
    Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let json = json.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        axum::http::HeaderValue::from_static("application/json"),
                    )],
                    json,
                )
            }
        }),
    )
}

fn peer_ip(parts: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

async fn not_found(kit: AuthKit, req: Request) -> Response {
    into_response(http::not_found(&kit, req.headers()))
}

async fn method_not_allowed(kit: AuthKit, route_path: &'static str, req: Request) -> Response {
    into_response(http::method_not_allowed(&kit, route_path, req.headers()))
}

async fn preflight(kit: AuthKit, route_path: &'static str, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let response = http::preflight(
        &kit,
        PreflightRequest {
            route_path,
            headers: &parts.headers,
            peer_ip: peer_ip(&parts),
        },
    )
    .await;
    into_response(response)
}

async fn serve(kit: AuthKit, spec: &'static RouteSpec, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let limit = kit.config().body_limit;
    let body = axum::body::to_bytes(body, limit).await.ok();
    let path_params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |o| o.0.path())
        .to_owned();
    let peer_ip = peer_ip(&parts);
    let response = http::handle(
        &kit,
        ApiRequest {
            route: spec.id,
            path: &path,
            path_params,
            query: parts.uri.query(),
            headers: &parts.headers,
            peer_ip,
            body,
        },
    )
    .await;
    into_response(response)
}

fn into_response(r: ApiResponse) -> Response {
    let mut response = Response::new(Body::from(r.body));
    *response.status_mut() = r.status;
    *response.headers_mut() = r.headers;
    response
}

/// An authkit error as an axum response: the problem document core produces.
#[derive(Debug)]
pub struct ApiError(pub authkit_core::Error);

impl From<authkit_core::Error> for ApiError {
    fn from(e: authkit_core::Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        into_response(http::error_response(&self.0))
    }
}
