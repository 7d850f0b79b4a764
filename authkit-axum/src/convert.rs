//! The router: one handler for every route of `authkit_core::http::ROUTES`, translating
//! axum's request into an `ApiRequest` and the `ApiResponse` back.

use std::net::SocketAddr;

use authkit_core::AuthKit;
use authkit_core::http::{self, ApiRequest, ApiResponse, ROUTES, RouteSpec};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};

/// The contract's routes, to mount with `Router::nest("/api/v1", router(kit))`.
///
/// The client address comes from `ConnectInfo<SocketAddr>` when the app is served with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router<S>(kit: AuthKit) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    ROUTES.iter().fold(Router::new(), |router, spec| {
        let kit = kit.clone();
        let filter = MethodFilter::try_from(spec.method.clone()).unwrap_or(MethodFilter::GET);
        router.route(
            spec.path,
            on(filter, move |req: Request| serve(kit.clone(), spec, req)),
        )
    })
}

async fn serve(kit: AuthKit, spec: &'static RouteSpec, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let limit = kit.config().body_limit;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return into_response(http::error_response(&authkit_core::Error::PayloadTooLarge));
    };
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
    let peer_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
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
