//! [`CurrentUser`]: the authenticated caller of a host's own route.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use authkit_core::http::authenticate_headers;
use authkit_core::{AuthKit, Principal};

use crate::ApiError;
use crate::convert::headers_of;

/// Extracts the caller authenticated by `Authorization: Bearer <access token>`: signature,
/// claims, and a live session (a logged-out token is refused at once). Rejects with the
/// contract's 401 problem (`unauthorized`, `WWW-Authenticate: Bearer`).
///
/// The kit comes from app data: `App::new().app_data(web::Data::new(kit.clone()))`. Without
/// it the extractor answers 500 and logs why. Behind
/// [`require_permission`](crate::require_permission) the caller it authenticated is reused.
/// actix's `Option<CurrentUser>` is `None` whenever authentication fails.
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

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(principal) = req.extensions().get::<Principal>().cloned() {
            return Box::pin(async move { Ok(Self(principal)) });
        }
        let kit = req
            .app_data::<web::Data<AuthKit>>()
            .map(|d| d.get_ref().clone());
        let headers = headers_of(req);
        Box::pin(async move {
            let kit = kit.ok_or_else(|| {
                ApiError(authkit_core::Error::internal(
                    "authkit_actix::CurrentUser found no AuthKit in the app data: register it \
                     with App::new().app_data(web::Data::new(kit.clone()))",
                ))
            })?;
            Ok(Self(authenticate_headers(&kit, &headers).await?))
        })
    }
}
