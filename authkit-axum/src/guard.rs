//! [`require_permission`]: a route layer refusing callers without a permission.

use std::pin::Pin;

use authkit_core::AuthKit;
use axum::extract::Request;
use axum::middleware::{FromFnLayer, Next, from_fn_with_state};
use axum::response::Response;

use crate::{ApiError, CurrentUser};

/// A layer for `Router::route_layer` that lets through only callers holding `permission`:
/// no or a bad token is the contract's 401, a missing permission its 403 `forbidden`
/// ([`authkit_core::Principal::require`]). The caller's [`Principal`](authkit_core::Principal)
/// goes into the request's extensions, where [`CurrentUser`] finds it again.
///
/// ```
/// # fn host(kit: authkit_core::AuthKit) {
/// use authkit_axum::{CurrentUser, require_permission};
/// use axum::{Router, routing::get};
///
/// async fn list_users(CurrentUser(admin): CurrentUser) -> String {
///     admin.user_id.to_string()
/// }
///
/// let admin: Router = Router::new()
///     .route("/admin/users", get(list_users))
///     .route_layer(require_permission(kit.clone(), "users:read"))
///     .with_state(kit);
/// # }
/// ```
pub fn require_permission(
    kit: AuthKit,
    permission: &'static str,
) -> FromFnLayer<
    impl Fn(CurrentUser, Request, Next) -> Guarded + Clone + Send + Sync + 'static,
    AuthKit,
    (CurrentUser, Request),
> {
    from_fn_with_state(
        kit,
        move |user: CurrentUser, mut req: Request, next: Next| {
            Box::pin(async move {
                user.require(permission)?;
                req.extensions_mut().insert(user.0);
                Ok(next.run(req).await)
            }) as Guarded
        },
    )
}

/// The future of the guard (named so the layer's type can be written down).
type Guarded = Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>;
