//! [`CurrentUser`] and [`MaybeUser`]: the (possibly anonymous) caller of a host's own route.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use authkit_core::http::{authenticate_headers, authenticate_optional};
use authkit_core::{AuthKit, Principal};

use crate::ApiError;
use crate::convert::headers_of;

/// Extracts the caller authenticated by `Authorization: Bearer <access token>`: signature,
/// claims, and a live session (a logged-out token is refused at once). Rejects with the
/// contract's 401 problem (`unauthorized`, `WWW-Authenticate: Bearer`).
///
/// # Optional authentication: use [`MaybeUser`], never `Option<CurrentUser>`
///
/// **actix-web's `Option<CurrentUser>` is fail-open.** actix implements `FromRequest` for
/// every `Option<T>` by turning *any* error of `T` into `None`, so with `Option<CurrentUser>`
/// a revoked, expired or forged token — and every request during a database outage — reaches
/// your handler as an anonymous caller instead of being refused with 401 (or 503). authkit
/// cannot change that impl. Use [`MaybeUser`]: `None` only when the request has no
/// `Authorization` header, the contract's 401/503 problem otherwise (the rule of
/// [`authkit_core::http::authenticate_optional`], as in `authkit-axum`).
///
/// The kit comes from app data: `App::new().app_data(web::Data::new(kit.clone()))`. Without
/// it the extractor answers 500 and logs why. Behind
/// [`require_permission`](crate::require_permission) the caller it authenticated is reused.
///
/// ```
/// use authkit_actix::{ApiError, CurrentUser};
///
/// async fn my_route(me: CurrentUser) -> Result<String, ApiError> {
///     me.require("users:read")?;
///     Ok(me.0.user_id.to_string())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

impl CurrentUser {
    /// Succeeds when the caller holds `permission`; otherwise a 403 `forbidden` rejection.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        self.0.require(permission).map_err(ApiError)
    }
}

/// Optional authentication: the caller, or `None` when the request presents no credentials
/// (no `Authorization` header). Credentials that are presented must be valid: a malformed,
/// invalid, expired or revoked token is the same 401 problem as for [`CurrentUser`], and a
/// database outage the 503 `unavailable` — never an anonymous caller
/// ([`authkit_core::http::authenticate_optional`]). Use it instead of `Option<CurrentUser>`,
/// which actix makes `None` on any error (see [`CurrentUser`]). The same extractor, with the
/// same rule, exists in `authkit-axum`.
///
/// ```
/// use authkit_actix::MaybeUser;
///
/// async fn greeting(MaybeUser(me): MaybeUser) -> String {
///     match me {
///         Some(me) => format!("hello, user {}", me.0.user_id),
///         None => "hello, stranger".into(),
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

/// How an extractor authenticates: [`authenticate_headers`] for [`CurrentUser`],
/// [`authenticate_optional`] for [`MaybeUser`].
type Authenticate<T> = fn(AuthKit, http::HeaderMap) -> Boxed<authkit_core::Result<T>>;
/// A boxed future (actix's extractors are not `Send`).
type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

/// The caller authenticated earlier by [`require_permission`](crate::require_permission) (the
/// guard leaves its [`Principal`] in the request's extensions), or `authenticate` with the
/// kit of the app data and the request's headers.
fn extract<T: From<Principal> + 'static>(
    req: &HttpRequest,
    authenticate: Authenticate<T>,
) -> Boxed<Result<T, ApiError>> {
    if let Some(principal) = req.extensions().get::<Principal>().cloned() {
        return Box::pin(async move { Ok(T::from(principal)) });
    }
    let kit = req
        .app_data::<web::Data<AuthKit>>()
        .map(|d| d.get_ref().clone());
    let headers = headers_of(req);
    Box::pin(async move {
        let kit = kit.ok_or_else(|| {
            ApiError(authkit_core::Error::internal(
                "authkit_actix::CurrentUser (or MaybeUser) found no AuthKit in the app data: register it \
                 with App::new().app_data(web::Data::new(kit.clone()))",
            ))
        })?;
        authenticate(kit, headers).await.map_err(ApiError)
    })
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Boxed<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = extract(req, |kit, headers| {
            Box::pin(async move { authenticate_headers(&kit, &headers).await })
        });
        Box::pin(async move { principal.await.map(Self) })
    }
}

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = Boxed<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = extract(req, |kit, headers| {
            Box::pin(async move { authenticate_optional(&kit, &headers).await })
        });
        Box::pin(async move { principal.await.map(|p| Self(p.map(CurrentUser))) })
    }
}
