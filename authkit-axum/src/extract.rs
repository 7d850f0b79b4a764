//! [`CurrentUser`]: the authenticated caller of a host's own route.

use authkit_core::http::authenticate_headers;
use authkit_core::{AuthKit, Principal};
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::ApiError;

/// Extracts the caller authenticated by `Authorization: Bearer <access token>`: signature,
/// claims, and a live session (a logged-out token is refused at once). Rejects with the
/// contract's 401 problem (`unauthorized`, `WWW-Authenticate: Bearer`).
///
/// The state must give an [`AuthKit`] (`AuthKit: FromRef<S>`; the kit itself as state works).
/// `Option<CurrentUser>` is `None` without an `Authorization` header and a 401 with a bad one.
/// Behind [`require_permission`](crate::require_permission) the caller it authenticated is
/// reused.
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

impl<S> FromRequestParts<S> for CurrentUser
where
    AuthKit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Self(principal.clone()));
        }
        let kit = AuthKit::from_ref(state);
        Ok(Self(authenticate_headers(&kit, &parts.headers).await?))
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
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}
