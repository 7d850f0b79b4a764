//! [`CurrentUser`] and [`MaybeUser`]: the (possibly anonymous) caller of a host's own route.

use authkit_core::http::{authenticate_headers, authenticate_optional};
use authkit_core::{AuthKit, Principal};
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::ApiError;

/// Extracts the caller authenticated by `Authorization: Bearer <access token>`: signature,
/// claims, and a live session (a logged-out token is refused at once). Rejects with the
/// contract's 401 problem (`unauthorized`, `WWW-Authenticate: Bearer`).
///
/// The state must give an [`AuthKit`] (`AuthKit: FromRef<S>`; the kit itself as state works).
/// For routes open to anonymous callers use [`MaybeUser`] (or `Option<CurrentUser>`, which
/// follows the same rule): `None` without an `Authorization` header, and a 401 (or 503) with
/// a bad one. Behind [`require_permission`](crate::require_permission) the caller it
/// authenticated is reused.
///
/// ```
/// use authkit_axum::CurrentUser;
///
/// async fn my_route(CurrentUser(me): CurrentUser) -> String {
///     if me.has("users:read") { "admin".into() } else { me.user_id.to_string() }
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
/// ([`authkit_core::http::authenticate_optional`]). The same extractor, with the same rule,
/// exists in `authkit-actix`. `Option<CurrentUser>` behaves identically in axum.
///
/// ```
/// use authkit_axum::MaybeUser;
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

/// The caller authenticated earlier by [`require_permission`](crate::require_permission), if
/// any (the guard leaves its [`Principal`] in the request's extensions).
fn authenticated_earlier(parts: &Parts) -> Option<CurrentUser> {
    parts
        .extensions
        .get::<Principal>()
        .cloned()
        .map(CurrentUser)
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AuthKit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = authenticated_earlier(parts) {
            return Ok(user);
        }
        let kit = AuthKit::from_ref(state);
        Ok(Self(authenticate_headers(&kit, &parts.headers).await?))
    }
}

impl<S> FromRequestParts<S> for MaybeUser
where
    AuthKit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = authenticated_earlier(parts) {
            return Ok(Self(Some(user)));
        }
        let kit = AuthKit::from_ref(state);
        let principal = authenticate_optional(&kit, &parts.headers).await?;
        Ok(Self(principal.map(CurrentUser)))
    }
}

impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    AuthKit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let MaybeUser(user) =
            <MaybeUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        Ok(user)
    }
}
