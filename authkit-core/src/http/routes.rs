//! The route table both adapters register: one entry per route of the contract.

use http::Method;

use crate::service::admin;

/// Every route authkit serves, relative to its mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteId {
    /// `POST /register`
    Register,
    /// `POST /login`
    Login,
    /// `POST /refresh`
    Refresh,
    /// `POST /logout`
    Logout,
    /// `GET /users/me`
    Me,
    /// `POST /verify-email`
    VerifyEmail,
    /// `POST /verify-email/resend`
    ResendVerification,
    /// `POST /password/forgot`
    ForgotPassword,
    /// `POST /password/reset`
    ResetPassword,
    /// `POST /password/change`
    ChangePassword,
    /// `PATCH /users/me`
    UpdateMe,
    /// `DELETE /users/me`
    DeleteMe,
    /// `GET /users/me/export`
    ExportMe,
    /// `GET /users/me/sessions`
    ListSessions,
    /// `DELETE /users/me/sessions/{id}`
    RevokeSession,
    /// `DELETE /users/me/sessions`
    RevokeAllSessions,
    /// `GET /admin/users`
    AdminListUsers,
    /// `GET /admin/users/deleted`
    AdminListDeletedUsers,
    /// `GET /admin/users/{id}`
    AdminGetUser,
    /// `PATCH /admin/users/{id}`
    AdminUpdateUser,
    /// `DELETE /admin/users/{id}`
    AdminDeleteUser,
    /// `POST /admin/users/{id}/restore`
    AdminRestoreUser,
    /// `GET /admin/roles`
    AdminListRoles,
    /// `POST /admin/roles`
    AdminCreateRole,
    /// `PUT /admin/roles/{name}`
    AdminUpdateRole,
    /// `DELETE /admin/roles/{name}`
    AdminDeleteRole,
    /// `GET /admin/audit`
    AdminAudit,
}

/// Whether a route needs a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthNeed {
    /// Anyone may call it.
    Public,
    /// A valid access token (`Authorization: Bearer`) whose session is live.
    Bearer,
}

/// One route: what an adapter needs to register it.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// Which route.
    pub id: RouteId,
    /// HTTP method.
    pub method: Method,
    /// Path relative to the mount point, with `{param}` placeholders (axum 0.8 and actix syntax).
    pub path: &'static str,
    /// Authentication needed.
    pub auth: AuthNeed,
    /// The permission the caller must hold (admin routes), checked after authentication.
    pub permission: Option<&'static str>,
}

/// The route table. Static paths come before parameterized ones that could match them
/// (`/admin/users/deleted` before `/admin/users/{id}`): routers that try routes in order
/// register them in this order.
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        id: RouteId::Register,
        method: Method::POST,
        path: "/register",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::Login,
        method: Method::POST,
        path: "/login",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::Refresh,
        method: Method::POST,
        path: "/refresh",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::Logout,
        method: Method::POST,
        path: "/logout",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::Me,
        method: Method::GET,
        path: "/users/me",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::VerifyEmail,
        method: Method::POST,
        path: "/verify-email",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::ResendVerification,
        method: Method::POST,
        path: "/verify-email/resend",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::ForgotPassword,
        method: Method::POST,
        path: "/password/forgot",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::ResetPassword,
        method: Method::POST,
        path: "/password/reset",
        auth: AuthNeed::Public,
        permission: None,
    },
    RouteSpec {
        id: RouteId::ChangePassword,
        method: Method::POST,
        path: "/password/change",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::UpdateMe,
        method: Method::PATCH,
        path: "/users/me",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::DeleteMe,
        method: Method::DELETE,
        path: "/users/me",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::ExportMe,
        method: Method::GET,
        path: "/users/me/export",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::ListSessions,
        method: Method::GET,
        path: "/users/me/sessions",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::RevokeSession,
        method: Method::DELETE,
        path: "/users/me/sessions/{id}",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::RevokeAllSessions,
        method: Method::DELETE,
        path: "/users/me/sessions",
        auth: AuthNeed::Bearer,
        permission: None,
    },
    RouteSpec {
        id: RouteId::AdminListUsers,
        method: Method::GET,
        path: "/admin/users",
        auth: AuthNeed::Bearer,
        permission: Some(admin::USERS_READ),
    },
    RouteSpec {
        id: RouteId::AdminListDeletedUsers,
        method: Method::GET,
        path: "/admin/users/deleted",
        auth: AuthNeed::Bearer,
        permission: Some(admin::USERS_READ),
    },
    RouteSpec {
        id: RouteId::AdminGetUser,
        method: Method::GET,
        path: "/admin/users/{id}",
        auth: AuthNeed::Bearer,
        permission: Some(admin::USERS_READ),
    },
    RouteSpec {
        id: RouteId::AdminUpdateUser,
        method: Method::PATCH,
        path: "/admin/users/{id}",
        auth: AuthNeed::Bearer,
        permission: Some(admin::USERS_WRITE),
    },
    RouteSpec {
        id: RouteId::AdminDeleteUser,
        method: Method::DELETE,
        path: "/admin/users/{id}",
        auth: AuthNeed::Bearer,
        permission: Some(admin::USERS_DELETE),
    },
    RouteSpec {
        id: RouteId::AdminRestoreUser,
        method: Method::POST,
        path: "/admin/users/{id}/restore",
        auth: AuthNeed::Bearer,
        permission: Some(admin::USERS_DELETE),
    },
    RouteSpec {
        id: RouteId::AdminListRoles,
        method: Method::GET,
        path: "/admin/roles",
        auth: AuthNeed::Bearer,
        permission: Some(admin::ROLES_READ),
    },
    RouteSpec {
        id: RouteId::AdminCreateRole,
        method: Method::POST,
        path: "/admin/roles",
        auth: AuthNeed::Bearer,
        permission: Some(admin::ROLES_WRITE),
    },
    RouteSpec {
        id: RouteId::AdminUpdateRole,
        method: Method::PUT,
        path: "/admin/roles/{name}",
        auth: AuthNeed::Bearer,
        permission: Some(admin::ROLES_WRITE),
    },
    RouteSpec {
        id: RouteId::AdminDeleteRole,
        method: Method::DELETE,
        path: "/admin/roles/{name}",
        auth: AuthNeed::Bearer,
        permission: Some(admin::ROLES_WRITE),
    },
    RouteSpec {
        id: RouteId::AdminAudit,
        method: Method::GET,
        path: "/admin/audit",
        auth: AuthNeed::Bearer,
        permission: Some(admin::AUDIT_READ),
    },
];

impl RouteId {
    /// The route's entry in [`ROUTES`].
    pub fn spec(self) -> &'static RouteSpec {
        // Every RouteId has exactly one entry; the test below keeps it so.
        ROUTES.iter().find(|r| r.id == self).unwrap_or(&ROUTES[0])
    }

    /// Whether the route takes a credential a client could guess (password, email, one-time
    /// token): these have their own, tighter per-IP limit
    /// ([`crate::config::LimitsConfig::per_ip_credentials`]).
    pub fn is_credential(self) -> bool {
        matches!(
            self,
            Self::Register
                | Self::Login
                | Self::ForgotPassword
                | Self::ResetPassword
                | Self::ResendVerification
                | Self::VerifyEmail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_id_has_one_entry() {
        for r in ROUTES {
            assert_eq!(ROUTES.iter().filter(|o| o.id == r.id).count(), 1);
            assert_eq!(r.id.spec().path, r.path);
        }
    }
}
