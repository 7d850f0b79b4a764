//! The HTTP layer shared by every adapter: one entry point, [`handle`], that takes a
//! framework-free [`ApiRequest`] and always returns an [`ApiResponse`] (errors become problem
//! documents). Adapters only translate their request and response types and register
//! [`ROUTES`].

pub mod admin;
pub mod cookies;
pub mod cors;
pub mod dto;
pub mod json;
#[cfg(feature = "openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
pub mod openapi;
mod problem;
mod routes;

pub use problem::{PROBLEM_JSON, Problem, error_response};
pub use routes::{AuthNeed, ROUTES, RouteId, RouteSpec};

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use crate::domain::{Email, Locale, Password, SessionId};
use crate::error::{Error, FieldError, Result};
use crate::metrics::RateLimitScope;
use crate::service::{LoginInput, ProfileUpdate, RegisterInput, RequestContext};
use crate::{AuthKit, Principal};
use dto::{
    Accepted, AuditEventDto, ChangePasswordRequest, EmailRequest, ExportDto, ExportSessionDto,
    LoginRequest, PasswordRequest, RefreshRequest, RegisterRequest, ResetPasswordRequest,
    SessionDto, SessionsEnvelope, TokenPairDto, TokenRequest, UpdateMeRequest, UserDto,
    UserEnvelope,
};

/// A request as an adapter hands it to [`handle`].
#[derive(Debug)]
pub struct ApiRequest<'a> {
    /// Which route matched.
    pub route: RouteId,
    /// The full request path as received (used to scope the refresh cookie to the mount point).
    pub path: &'a str,
    /// Path parameters by name (`id` for `/users/me/sessions/{id}`).
    pub path_params: Vec<(String, String)>,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The socket peer's address (the client, or a proxy: see
    /// [`crate::limits::client_ip`]).
    ///
    /// `None` (axum served without `into_make_service_with_connect_info::<SocketAddr>()`, where
    /// axum has no peer address) turns the per-IP rate limits ([`crate::config::LimitsConfig`]'s
    /// `per_ip` and `per_ip_credentials`) **off** for the request: they are skipped, not counted
    /// in one bucket shared by every addressless request, which would let one client lock
    /// everyone out. The first such request of the process logs a `WARN` on target
    /// `authkit::limits` naming the fix (serve with connect info, or put the app behind a
    /// proxy listed in `trusted_proxies`). Sessions and audit events then have no address
    /// either.
    pub peer_ip: Option<IpAddr>,
    /// The body, read up to [`crate::AuthConfig::body_limit`] bytes; `None` when it was longer
    /// (or could not be read): [`handle`] answers 413 `payload_too_large`.
    pub body: Option<Bytes>,
}

/// A CORS preflight (`OPTIONS`) as an adapter hands it to [`preflight`].
#[derive(Debug)]
pub struct PreflightRequest<'a> {
    /// The route path it was sent to, as in [`ROUTES`] (`/users/me`).
    pub route_path: &'static str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The socket peer's address; `None` skips the per-IP limit (see [`ApiRequest::peer_ip`]).
    pub peer_ip: Option<IpAddr>,
}

/// What [`handle`] answers; adapters copy it verbatim.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers (content type, cookies, security headers...).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl ApiResponse {
    /// A response with the security headers every authkit response carries.
    pub fn new(status: StatusCode, body: Bytes) -> Self {
        let mut headers = HeaderMap::new();
        security_headers(&mut headers);
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Self> {
        let body = serde_json::to_vec(value).map_err(Error::internal)?;
        let mut response = Self::new(status, Bytes::from(body));
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Self::new(status, Bytes::new())
    }

    fn set_cookie(&mut self, value: &str) -> Result<()> {
        let v = HeaderValue::from_str(value).map_err(Error::internal)?;
        self.headers.append(SET_COOKIE, v);
        Ok(())
    }
}

/// Adds the headers every auth response carries: no caching, no sniffing, no framing,
/// no referrer.
pub fn security_headers(headers: &mut HeaderMap) {
    const HEADERS: [(&str, &str); 5] = [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "frame-ancestors 'none'"),
    ];
    for (name, value) in HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// Serves one request of the contract. Never fails: errors become problem documents.
///
/// Before the route runs: per-IP rate limits, the header-size and body-size limits and, on
/// routes that change state, the cross-site check ([`cors`]). The route then has
/// [`crate::AuthConfig::request_timeout`] to answer (503 `unavailable` after it). Every answer
/// carries the security headers, HSTS when the public URL is `https`, and the CORS headers for
/// an allowed origin.
pub async fn handle(kit: &AuthKit, req: ApiRequest<'_>) -> ApiResponse {
    let config = kit.config();
    let client = crate::limits::client_ip(req.peer_ip, req.headers, &config.limits.trusted_proxies);
    let spec = req.route.spec();
    let admitted = async {
        admit(kit, client, req.route.is_credential()).await?;
        if header_bytes(req.headers) > config.max_header_bytes {
            return Err(Error::HeadersTooLarge);
        }
        let body = req.body.as_ref().ok_or(Error::PayloadTooLarge)?;
        if spec.method != http::Method::GET && spec.method != http::Method::HEAD {
            cors::check_origin(config, req.headers)?;
        }
        Ok(body)
    };
    let mut response = match admitted.await {
        Err(error) => error_response(&error),
        Ok(body) => {
            let work = dispatch(kit, &req, client, body);
            match tokio::time::timeout(config.request_timeout, work).await {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => error_response(&error),
                Err(_) => error_response(&Error::Unavailable {
                    retry_after: Some(std::time::Duration::from_secs(1)),
                    source: Some("the request timed out".into()),
                }),
            }
        }
    };
    finish(config, &mut response);
    cors::add_cors_headers(config, req.headers, &mut response);
    response
}

/// Answers a CORS preflight (`OPTIONS`) on one of the contract's paths (see [`cors`]). Counted
/// by the per-IP limit of every route.
pub async fn preflight(kit: &AuthKit, req: PreflightRequest<'_>) -> ApiResponse {
    let config = kit.config();
    let client = crate::limits::client_ip(req.peer_ip, req.headers, &config.limits.trusted_proxies);
    let mut response = match admit(kit, client, false).await {
        Ok(()) => cors::preflight(config, req.route_path, req.headers),
        Err(error) => error_response(&error),
    };
    finish(config, &mut response);
    response
}

/// The answer to a request under the mount point whose path is none of [`ROUTES`]: the
/// contract's 404 `not_found` problem document, with the headers every authkit answer carries
/// (the security headers with `Cache-Control: no-store`, HSTS for an `https` public URL, and
/// the CORS headers for an allowed origin). Adapters serve it as the fallback of the routes they
/// mount, so that an unknown path answers like every other failure.
pub fn not_found(kit: &AuthKit, headers: &HeaderMap) -> ApiResponse {
    refused(kit, headers, &Error::NotFound)
}

/// The answer to a request whose path is `route_path` (a path of [`ROUTES`], as written there:
/// `/users/me/sessions/{id}`) but whose method that path does not serve: a 405
/// `method_not_allowed` problem document whose `Allow` lists the methods it does serve (in
/// [`ROUTES`] order, `HEAD` after `GET`, and `OPTIONS`, as each path answers CORS preflights),
/// with the headers of [`not_found`].
pub fn method_not_allowed(kit: &AuthKit, route_path: &str, headers: &HeaderMap) -> ApiResponse {
    let mut response = refused(kit, headers, &Error::MethodNotAllowed);
    let mut allow: Vec<&str> = Vec::new();
    for spec in ROUTES.iter().filter(|spec| spec.path == route_path) {
        allow.push(spec.method.as_str());
        if spec.method == http::Method::GET {
            allow.push(http::Method::HEAD.as_str());
        }
    }
    allow.push(http::Method::OPTIONS.as_str());
    if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
        response.headers.insert(http::header::ALLOW, value);
    }
    response
}

/// `error`'s problem document with the headers of every answer.
fn refused(kit: &AuthKit, headers: &HeaderMap, error: &Error) -> ApiResponse {
    let config = kit.config();
    let mut response = error_response(error);
    finish(config, &mut response);
    cors::add_cors_headers(config, headers, &mut response);
    response
}

/// The per-IP rate limits: every route, and the credential routes in addition. A store that
/// fails closes the door (503), as for any request that needs the database. A request without
/// a client address skips them (see [`ApiRequest::peer_ip`]), with a warning once per process.
async fn admit(kit: &AuthKit, client: Option<IpAddr>, credential: bool) -> Result<()> {
    let limits = &kit.config().limits;
    let Some(ip) = client else {
        if !limits.per_ip.is_off() || !limits.per_ip_credentials.is_off() {
            warn_no_client_ip(&NO_CLIENT_IP_WARNED);
        }
        return Ok(());
    };
    let now = kit.inner.clock.now();
    let ip = crate::limits::rate_key_of(ip);
    let rules = [
        ("ip", RateLimitScope::Ip, limits.per_ip, true),
        (
            "cred",
            RateLimitScope::Credentials,
            limits.per_ip_credentials,
            credential,
        ),
    ];
    for (scope, metric, rule, applies) in rules {
        if !applies || rule.is_off() {
            continue;
        }
        let key = format!("{scope}:{ip}");
        if let crate::ports::RateDecision::Limited { retry_after } =
            kit.inner.rate_limits.hit(&key, rule, now).await?
        {
            tracing::info!(target: "authkit::limits", scope, client = %ip, "rate limited");
            crate::metrics::rate_limited(metric);
            return Err(Error::RateLimited {
                retry_after: retry_after.unsigned_abs(),
            });
        }
    }
    Ok(())
}

/// Whether [`warn_no_client_ip`] has warned in this process.
static NO_CLIENT_IP_WARNED: AtomicBool = AtomicBool::new(false);

/// Logs, the first time `warned` is clear, that per-IP rate limits are configured but skipped
/// for want of a client address, and how to fix it. Returns whether it logged.
fn warn_no_client_ip(warned: &AtomicBool) -> bool {
    if warned.swap(true, Ordering::Relaxed) {
        return false;
    }
    tracing::warn!(
        target: "authkit::limits",
        "per-IP rate limits are configured but a request has no client address, so they are \
         skipped (logged once per process): with authkit-axum, serve the app with \
         `app.into_make_service_with_connect_info::<std::net::SocketAddr>()`; behind a \
         reverse proxy, also list it in `LimitsConfig::trusted_proxies`"
    );
    true
}

/// The size of the headers as sent: each `name: value` line with its CRLF.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// HSTS for an `https` public URL, on every answer.
fn finish(config: &crate::AuthConfig, response: &mut ApiResponse) {
    if config.public_url.starts_with("https://") {
        response.headers.insert(
            http::header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

async fn dispatch(
    kit: &AuthKit,
    req: &ApiRequest<'_>,
    client: Option<IpAddr>,
    body: &Bytes,
) -> Result<ApiResponse> {
    let ctx = RequestContext {
        ip: client,
        user_agent: req
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let limit = kit.config().body_limit;
    match req.route {
        RouteId::Register => {
            let body: RegisterRequest = json::parse(req.headers, body, limit)?;
            let mut errors = Vec::new();
            let email = required_email(body.email.as_deref(), &mut errors);
            let password = required(body.password, "password", &mut errors);
            let locale = body
                .locale
                .as_deref()
                .and_then(|raw| parse_locale(raw, &mut errors));
            let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
                return Err(Error::Validation(errors));
            };
            let user = kit
                .register(
                    &ctx,
                    RegisterInput {
                        email,
                        password: Password::new(password),
                        display_name: body.display_name,
                        locale,
                    },
                )
                .await?;
            ApiResponse::json(
                StatusCode::CREATED,
                &UserEnvelope {
                    user: UserDto::from(&user),
                },
            )
        }
        RouteId::Login => {
            let body: LoginRequest = json::parse(req.headers, body, limit)?;
            let mut errors = Vec::new();
            let email = required_email(body.email.as_deref(), &mut errors);
            let password = required(body.password, "password", &mut errors);
            let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
                return Err(Error::Validation(errors));
            };
            let pair = kit
                .login(
                    &ctx,
                    LoginInput {
                        email,
                        password: Password::new(password),
                        remember_me: body.remember_me.unwrap_or(false),
                    },
                )
                .await?;
            token_pair_response(kit, req, &pair)
        }
        RouteId::Refresh => {
            let body: RefreshRequest = json::parse_optional(req.headers, body, limit)?;
            let token = match body.refresh_token {
                Some(token) => token,
                None => {
                    // The cookie is the one ambient credential: a form post (what an old
                    // browser sends cross-site without `Origin`) may not spend it.
                    cors::check_cookie_content_type(req.headers)?;
                    cookies::refresh_cookie(req.headers).ok_or(Error::InvalidToken)?
                }
            };
            let pair = kit.refresh(&ctx, &token).await?;
            token_pair_response(kit, req, &pair)
        }
        RouteId::Logout => {
            let principal = authenticate(kit, req).await?;
            let _: RefreshRequest = json::parse_optional(req.headers, body, limit)?;
            kit.logout(&ctx, &principal).await?;
            let mut response = ApiResponse::empty(StatusCode::NO_CONTENT);
            response.set_cookie(&cookies::clear_refresh_cookie(&cookie_path(kit, req)))?;
            Ok(response)
        }
        RouteId::Me => {
            let (_, user) = kit
                .authenticate_bearer_user(authorization_header(req.headers)?)
                .await?;
            ApiResponse::json(StatusCode::OK, &UserDto::from(&user))
        }
        RouteId::VerifyEmail => {
            let body: TokenRequest = json::parse(req.headers, body, limit)?;
            let token = body.token.ok_or(Error::InvalidToken)?;
            let user = kit.verify_email(&ctx, &token).await?;
            ApiResponse::json(
                StatusCode::OK,
                &UserEnvelope {
                    user: UserDto::from(&user),
                },
            )
        }
        RouteId::ResendVerification | RouteId::ForgotPassword => {
            let body: EmailRequest = json::parse(req.headers, body, limit)?;
            let mut errors = Vec::new();
            let email = required_email(body.email.as_deref(), &mut errors)
                .ok_or(Error::Validation(errors))?;
            if req.route == RouteId::ForgotPassword {
                kit.forgot_password(&ctx, email).await?;
            } else {
                kit.resend_verification(&ctx, email).await?;
            }
            ApiResponse::json(
                StatusCode::ACCEPTED,
                &Accepted {
                    status: "accepted",
                    detail: "if the address belongs to an account, an email is on its way",
                },
            )
        }
        RouteId::ResetPassword => {
            let body: ResetPasswordRequest = json::parse(req.headers, body, limit)?;
            let token = body.token.ok_or(Error::InvalidToken)?;
            let mut errors = Vec::new();
            let password = required(body.new_password, "new_password", &mut errors)
                .ok_or(Error::Validation(errors))?;
            kit.reset_password(&ctx, &token, &Password::new(password))
                .await?;
            Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
        }
        RouteId::ChangePassword => {
            let principal = authenticate(kit, req).await?;
            let body: ChangePasswordRequest = json::parse(req.headers, body, limit)?;
            let mut errors = Vec::new();
            let current = required(body.current_password, "current_password", &mut errors);
            let new = required(body.new_password, "new_password", &mut errors);
            let (Some(current), Some(new)) = (current, new) else {
                return Err(Error::Validation(errors));
            };
            kit.change_password(
                &ctx,
                &principal,
                &Password::new(current),
                &Password::new(new),
            )
            .await?;
            Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
        }
        RouteId::UpdateMe => {
            let principal = authenticate(kit, req).await?;
            let body: UpdateMeRequest = json::parse(req.headers, body, limit)?;
            let mut errors = Vec::new();
            let email = match body.email.as_deref() {
                Some(raw) => required_email(Some(raw), &mut errors),
                None => None,
            };
            let locale = body
                .locale
                .map(|l| l.as_deref().and_then(|raw| parse_locale(raw, &mut errors)));
            if !errors.is_empty() {
                return Err(Error::Validation(errors));
            }
            let user = kit
                .update_profile(
                    &ctx,
                    &principal,
                    ProfileUpdate {
                        display_name: body.display_name,
                        email,
                        locale,
                        current_password: body
                            .current_password
                            .filter(|p| !p.is_empty())
                            .map(Password::new),
                    },
                )
                .await?;
            ApiResponse::json(StatusCode::OK, &UserDto::from(&user))
        }
        RouteId::DeleteMe => {
            let principal = authenticate(kit, req).await?;
            let body: PasswordRequest = json::parse(req.headers, body, limit)?;
            let mut errors = Vec::new();
            let password = required(body.password, "password", &mut errors)
                .ok_or(Error::Validation(errors))?;
            kit.delete_account(&ctx, &principal, &Password::new(password))
                .await?;
            let mut response = ApiResponse::empty(StatusCode::NO_CONTENT);
            response.set_cookie(&cookies::clear_refresh_cookie(&cookie_path(kit, req)))?;
            Ok(response)
        }
        RouteId::ExportMe => {
            let principal = authenticate(kit, req).await?;
            let export = kit.export(&principal).await?;
            ApiResponse::json(
                StatusCode::OK,
                &ExportDto {
                    roles: export.user.roles.clone(),
                    user: UserDto::from(&export.user),
                    sessions: export
                        .sessions
                        .iter()
                        .map(|s| ExportSessionDto {
                            session: SessionDto::new(s, principal.session_id),
                            absolute_expires_at: s.expires_at,
                            revoked_at: s.revoked_at,
                        })
                        .collect(),
                    audit_events: export
                        .audit_events
                        .iter()
                        .map(AuditEventDto::from)
                        .collect(),
                },
            )
        }
        RouteId::ListSessions => {
            let principal = authenticate(kit, req).await?;
            let sessions = kit.list_sessions(&principal).await?;
            ApiResponse::json(
                StatusCode::OK,
                &SessionsEnvelope {
                    sessions: sessions
                        .iter()
                        .map(|s| SessionDto::new(s, principal.session_id))
                        .collect(),
                },
            )
        }
        RouteId::RevokeSession => {
            let principal = authenticate(kit, req).await?;
            let id: SessionId = path_param(req, "id")
                .and_then(|v| v.parse().ok())
                .ok_or(Error::NotFound)?;
            kit.revoke_own_session(&ctx, &principal, id).await?;
            Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
        }
        RouteId::AdminListUsers
        | RouteId::AdminListDeletedUsers
        | RouteId::AdminGetUser
        | RouteId::AdminUpdateUser
        | RouteId::AdminDeleteUser
        | RouteId::AdminRestoreUser
        | RouteId::AdminListRoles
        | RouteId::AdminCreateRole
        | RouteId::AdminUpdateRole
        | RouteId::AdminDeleteRole
        | RouteId::AdminAudit => admin::dispatch(kit, req, &ctx, body).await,
        RouteId::RevokeAllSessions => {
            let principal = authenticate(kit, req).await?;
            kit.revoke_all_own_sessions(&ctx, &principal).await?;
            let mut response = ApiResponse::empty(StatusCode::NO_CONTENT);
            response.set_cookie(&cookies::clear_refresh_cookie(&cookie_path(kit, req)))?;
            Ok(response)
        }
    }
}

pub(crate) fn path_param<'r>(req: &'r ApiRequest<'_>, name: &str) -> Option<&'r str> {
    req.path_params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) async fn authenticate(kit: &AuthKit, req: &ApiRequest<'_>) -> Result<Principal> {
    authenticate_headers(kit, req.headers).await
}

/// Authenticates the caller of a request by its `Authorization: Bearer <access token>` header
/// ([`AuthKit::authenticate_bearer`]): what the contract's own routes and every adapter's
/// `CurrentUser` extractor and permission guard do. A missing, non-UTF-8, malformed, invalid,
/// expired or revoked token is [`Error::Unauthorized`] (401 with `WWW-Authenticate: Bearer`).
pub async fn authenticate_headers(kit: &AuthKit, headers: &HeaderMap) -> Result<Principal> {
    kit.authenticate_bearer(authorization_header(headers)?)
        .await
}

/// Optional authentication, the one rule every adapter's optional extractor follows
/// (`MaybeUser`, and axum's `Option<CurrentUser>`): `Ok(None)` only when the request presents
/// no credentials (no `Authorization` header at all). Credentials that are presented are
/// checked exactly as by [`authenticate_headers`]: a malformed, invalid, expired or revoked
/// token is [`Error::Unauthorized`] (401 with `WWW-Authenticate: Bearer`), a store that fails
/// is [`Error::Unavailable`] (503). Never turn those errors into "anonymous": a caller whose
/// token was just revoked, or any caller during a database outage, would silently lose its
/// identity instead of being refused.
pub async fn authenticate_optional(
    kit: &AuthKit,
    headers: &HeaderMap,
) -> Result<Option<Principal>> {
    if !headers.contains_key(AUTHORIZATION) {
        return Ok(None);
    }
    authenticate_headers(kit, headers).await.map(Some)
}

/// The `Authorization` header's value; one that is not visible ASCII is `Unauthorized`.
fn authorization_header(headers: &HeaderMap) -> Result<Option<&str>> {
    headers
        .get(AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| Error::Unauthorized))
        .transpose()
}

fn token_pair_response(
    kit: &AuthKit,
    req: &ApiRequest<'_>,
    pair: &crate::service::TokenPair,
) -> Result<ApiResponse> {
    let mut response = ApiResponse::json(StatusCode::OK, &TokenPairDto::from(pair))?;
    response.set_cookie(&cookies::set_refresh_cookie(
        pair.refresh_token.expose(),
        &cookie_path(kit, req),
        pair.refresh_expires_in,
    ))?;
    Ok(response)
}

fn cookie_path(kit: &AuthKit, req: &ApiRequest<'_>) -> String {
    kit.config()
        .cookie_path
        .clone()
        .unwrap_or_else(|| cookies::mount_path(req.path, req.route.spec().path))
}

fn required(value: Option<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match value {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            errors.push(FieldError::new(field, "required", "is required"));
            None
        }
    }
}

/// A language tag for `locale`, or a field error.
fn parse_locale(raw: &str, errors: &mut Vec<FieldError>) -> Option<Locale> {
    let locale = Locale::parse(raw);
    if locale.is_none() {
        errors.push(FieldError::new(
            "locale",
            "invalid",
            "must be a language tag like `en` or `pt-BR`",
        ));
    }
    locale
}

pub(crate) fn required_email(value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Email> {
    match Email::parse(value.unwrap_or("")) {
        Ok(email) => Some(email),
        Err(e) => {
            errors.push(FieldError::new("email", e.code(), e.to_string()));
            None
        }
    }
}
