//! [`require_permission`]: a middleware refusing callers without a permission.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpMessage};

use crate::CurrentUser;

/// A middleware (for `wrap` on an app, scope or resource) that lets through only callers
/// holding `permission`: no or a bad token is the contract's 401, a missing permission its 403
/// `forbidden` ([`authkit_core::Principal::require`]). The caller's
/// [`Principal`](authkit_core::Principal) goes into the request's extensions, where
/// [`CurrentUser`] finds it again. Like [`CurrentUser`], it reads the kit from
/// `web::Data<AuthKit>`.
///
/// ```
/// use actix_web::{App, web};
/// use authkit_actix::{CurrentUser, require_permission};
///
/// async fn list_users(admin: CurrentUser) -> String {
///     admin.0.user_id.to_string()
/// }
///
/// # fn host(kit: authkit_core::AuthKit) {
/// let app = App::new().app_data(web::Data::new(kit)).service(
///     web::scope("/admin")
///         .wrap(require_permission("users:read"))
///         .route("/users", web::get().to(list_users)),
/// );
/// # let _ = app;
/// # }
/// ```
///
/// Inside a handler, `CurrentUser::require` does the same check.
pub fn require_permission<S, B>(
    permission: &'static str,
) -> impl Transform<S, ServiceRequest, Response = ServiceResponse<B>, Error = Error, InitError = ()>
+ 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    from_fn(move |mut req: ServiceRequest, next: Next<B>| async move {
        let user = req.extract::<CurrentUser>().await?;
        user.require(permission)?;
        req.extensions_mut().insert(user.0);
        next.call(req).await
    })
}
