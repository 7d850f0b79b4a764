//! The routes: one handler for every entry of `authkit_core::http::ROUTES`, translating
//! actix's request into an `ApiRequest` and the `ApiResponse` back.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use authkit_core::AuthKit;
use authkit_core::http::{self, ApiRequest, ApiResponse, PreflightRequest, ROUTES, RouteSpec};

/// Registers the contract's routes; mount them with
/// `web::scope("/api/v1").configure(configure(kit.clone()))`. actix builds the app once per
/// worker, so the returned closure is `Clone` and clones the kit into each.
///
/// Routes sharing a path (`GET`, `PATCH` and `DELETE /users/me`) share one `web::resource`,
/// whose default service answers another method with core's 405 `method_not_allowed` problem
/// and `Allow`. Each path also answers CORS preflights (`OPTIONS`). An unknown path under the
/// mount point is core's 404 `not_found` problem: the configuration sets the scope's default
/// service (a `default_service` the host sets on the scope after `configure` replaces it).
/// Mount it on a scope, as above: `App::configure` would make it the whole app's default.
pub fn configure(kit: AuthKit) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        {
            let kit = kit.clone();
            cfg.default_service(web::to(move |req: HttpRequest| not_found(kit.clone(), req)));
        }
        let mut paths: Vec<&'static str> = Vec::new();
        for spec in ROUTES {
            if !paths.contains(&spec.path) {
                paths.push(spec.path);
            }
        }
        for path in paths {
            let mut resource = web::resource(path);
            for spec in ROUTES.iter().filter(|s| s.path == path) {
                // Like axum, answer HEAD wherever GET is served (actix sends no body for HEAD).
                let head = (spec.method == ::http::Method::GET).then_some("HEAD");
                for method in std::iter::once(spec.method.as_str()).chain(head) {
                    let Ok(method) = method.parse() else {
                        continue;
                    };
                    let kit = kit.clone();
                    resource = resource.route(web::method(method).to(
                        move |req: HttpRequest, body: web::Payload| {
                            serve(kit.clone(), spec, req, body)
                        },
                    ));
                }
            }
            let preflight_kit = kit.clone();
            resource = resource.route(
                web::method(actix_web::http::Method::OPTIONS)
                    .to(move |req: HttpRequest| preflight(preflight_kit.clone(), path, req)),
            );
            let kit = kit.clone();
            resource = resource.default_service(web::to(move |req: HttpRequest| {
                method_not_allowed(kit.clone(), path, req)
            }));
            cfg.service(resource);
        }
    }
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of [`configure`]'s routes
/// ([`authkit_core::http::openapi`]) mounted at `base_path` (the scope's path), e.g.
/// `App::new().service(web::scope("/api/v1").configure(configure(kit)))` and
/// `.service(openapi_service("/api/v1"))`.
#[cfg(feature = "openapi")]
pub fn openapi_service(base_path: &str) -> actix_web::Resource {
    let json = http::openapi::openapi_json(base_path);
    web::resource("/openapi.json").route(web::get().to(move || {
        let json = json.clone();
        async move {
            HttpResponse::Ok()
                .content_type("application/json")
                .body(json)
        }
    }))
}

async fn not_found(kit: AuthKit, req: HttpRequest) -> HttpResponse {
    into_response(http::not_found(&kit, &headers_of(&req)))
}

async fn method_not_allowed(
    kit: AuthKit,
    route_path: &'static str,
    req: HttpRequest,
) -> HttpResponse {
    into_response(http::method_not_allowed(
        &kit,
        route_path,
        &headers_of(&req),
    ))
}

async fn preflight(kit: AuthKit, route_path: &'static str, req: HttpRequest) -> HttpResponse {
    let headers = headers_of(&req);
    let response = http::preflight(
        &kit,
        PreflightRequest {
            route_path,
            headers: &headers,
            peer_ip: req.peer_addr().map(|a| a.ip()),
        },
    )
    .await;
    into_response(response)
}

async fn serve(
    kit: AuthKit,
    spec: &'static RouteSpec,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    // As in authkit-axum: a body over the limit (or one that cannot be read) is `None`, which
    // core answers 413.
    let body = match payload.to_bytes_limited(kit.config().body_limit).await {
        Ok(Ok(body)) => Some(body),
        _ => None,
    };
    let headers = headers_of(&req);
    let path_params = req
        .match_info()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let response = http::handle(
        &kit,
        ApiRequest {
            route: spec.id,
            path: req.path(),
            path_params,
            query: req.uri().query(),
            headers: &headers,
            peer_ip: req.peer_addr().map(|a| a.ip()),
            body,
        },
    )
    .await;
    into_response(response)
}

/// The request's headers as core's (http 1) header map, copied by name and value bytes.
pub(crate) fn headers_of(req: &HttpRequest) -> ::http::HeaderMap {
    let mut headers = ::http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        let name = ::http::HeaderName::from_bytes(name.as_str().as_bytes());
        let value = ::http::HeaderValue::from_bytes(value.as_bytes());
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    headers
}

fn status_of(status: ::http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn into_response(r: ApiResponse) -> HttpResponse {
    let mut response = HttpResponse::with_body(status_of(r.status), r.body).map_into_boxed_body();
    for (name, value) in &r.headers {
        let name = HeaderName::from_bytes(name.as_str().as_bytes());
        let value = HeaderValue::from_bytes(value.as_bytes());
        if let (Ok(name), Ok(value)) = (name, value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// An authkit error as an actix response: the problem document core produces.
#[derive(Debug)]
pub struct ApiError(pub authkit_core::Error);

impl From<authkit_core::Error> for ApiError {
    fn from(e: authkit_core::Error) -> Self {
        Self(e)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.status())
    }

    fn error_response(&self) -> HttpResponse {
        into_response(http::error_response(&self.0))
    }
}
