//! The admin routes: query strings, bodies and responses around `service::admin`.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::dto::UserDto;
use super::{ApiRequest, ApiResponse, authenticate, json, path_param, required_email};
use crate::AuthKit;
use crate::domain::{
    AdminPatch, AuditEvent, AuditQuery, Page, Role, User, UserId, UserQuery, UserStatus,
};
use crate::error::{Error, FieldError, Result};
use crate::http::RouteId;
use crate::http::dto::AuditEventDto;
use crate::service::RequestContext;
use crate::service::admin::{DEFAULT_PAGE, MAX_PAGE};

/// A user as the admin API shows it: the user object, plus `deleted_at` for deleted users.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AdminUser))]
pub struct AdminUserDto {
    /// The user object.
    #[serde(flatten)]
    pub user: UserDto,
    /// Set for soft-deleted users (absent otherwise).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
}

impl From<&User> for AdminUserDto {
    fn from(u: &User) -> Self {
        Self {
            user: UserDto::from(u),
            deleted_at: u.deleted_at,
        }
    }
}

/// `{"users": [...], "next_cursor": ...}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = UserPage))]
pub struct UserPageDto {
    /// One page.
    pub users: Vec<AdminUserDto>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[cfg_attr(feature = "openapi", schema(required = true, format = "uuid"))]
    pub next_cursor: Option<String>,
}

/// `{"events": [...], "next_cursor": ...}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AuditPage))]
pub struct AuditPageDto {
    /// One page, newest first.
    pub events: Vec<AuditEventDto>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[cfg_attr(feature = "openapi", schema(required = true, format = "uuid"))]
    pub next_cursor: Option<String>,
}

/// A role as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Role))]
pub struct RoleDto {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Permissions granted.
    pub permissions: Vec<String>,
    /// Whether it is built in (cannot be deleted).
    pub builtin: bool,
}

impl From<&Role> for RoleDto {
    fn from(r: &Role) -> Self {
        Self {
            name: r.name.clone(),
            description: r.description.clone(),
            permissions: r.permissions.clone(),
            builtin: r.builtin,
        }
    }
}

/// `{"roles": [...]}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Roles))]
pub struct RolesDto {
    /// Every role.
    pub roles: Vec<RoleDto>,
}

/// `PATCH /admin/users/{id}`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminPatchRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "super::dto::present")]
    #[cfg_attr(feature = "openapi", schema(examples("Ada Lovelace")))]
    pub display_name: Option<Option<String>>,
    /// New email.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    pub email: Option<String>,
    /// Verification.
    pub email_verified: Option<bool>,
    /// `active` or `disabled`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::user_status_patch))]
    pub status: Option<String>,
    /// Replacement roles.
    pub roles: Option<Vec<String>>,
}

/// `POST /admin/roles` and `PUT /admin/roles/{name}`.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleRequest {
    /// Name (create only: 1 to 64 of `a-z 0-9 _ : . -`; the path names the role on update).
    #[cfg_attr(feature = "openapi", schema(examples("editor")))]
    pub name: Option<String>,
    /// Description (at most 500 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 500, examples("Edits notes")))]
    pub description: Option<String>,
    /// Permissions (at most 100 names of 1 to 64 of `a-z 0-9 _ : . -`).
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::permissions))]
    pub permissions: Option<Vec<String>>,
}

/// Serves the admin routes (`req.route` is one of them).
pub(super) async fn dispatch(
    kit: &AuthKit,
    req: &ApiRequest<'_>,
    ctx: &RequestContext,
    body: &bytes::Bytes,
) -> Result<ApiResponse> {
    let principal = authenticate(kit, req).await?;
    // The route's permission is checked before the query or body is read, so that a caller
    // without it learns nothing (403 before any 404/422). The service methods check it again
    // for hosts that call them directly.
    if let Some(permission) = req.route.spec().permission {
        principal.require(permission)?;
    }
    let limit = kit.config().body_limit;
    match req.route {
        RouteId::AdminListUsers | RouteId::AdminListDeletedUsers => {
            let query = user_query(req.query, req.route == RouteId::AdminListDeletedUsers)?;
            let page = kit.admin_list_users(&principal, &query).await?;
            ApiResponse::json(StatusCode::OK, &user_page(&page))
        }
        RouteId::AdminGetUser => {
            let user = kit.admin_user(&principal, user_id(req)?).await?;
            ApiResponse::json(StatusCode::OK, &AdminUserDto::from(&user))
        }
        RouteId::AdminUpdateUser => {
            let id = user_id(req)?;
            let body: AdminPatchRequest = json::parse(req.headers, body, limit)?;
            let patch = admin_patch(body)?;
            let user = kit.admin_update_user(ctx, &principal, id, patch).await?;
            ApiResponse::json(StatusCode::OK, &AdminUserDto::from(&user))
        }
        RouteId::AdminDeleteUser => {
            kit.admin_delete_user(ctx, &principal, user_id(req)?)
                .await?;
            Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
        }
        RouteId::AdminRestoreUser => {
            let user = kit
                .admin_restore_user(ctx, &principal, user_id(req)?)
                .await?;
            ApiResponse::json(StatusCode::OK, &AdminUserDto::from(&user))
        }
        RouteId::AdminListRoles => {
            let roles = kit.admin_roles(&principal).await?;
            ApiResponse::json(
                StatusCode::OK,
                &RolesDto {
                    roles: roles.iter().map(RoleDto::from).collect(),
                },
            )
        }
        RouteId::AdminCreateRole => {
            let body: RoleRequest = json::parse(req.headers, body, limit)?;
            let Some(name) = body.name.filter(|n| !n.is_empty()) else {
                return Err(Error::invalid_field("name", "required", "is required"));
            };
            let role = kit
                .admin_create_role(
                    ctx,
                    &principal,
                    role(name, body.description, body.permissions),
                )
                .await?;
            ApiResponse::json(StatusCode::CREATED, &RoleDto::from(&role))
        }
        RouteId::AdminUpdateRole => {
            let name = path_param(req, "name").unwrap_or_default().to_owned();
            let body: RoleRequest = json::parse(req.headers, body, limit)?;
            let role = kit
                .admin_update_role(
                    ctx,
                    &principal,
                    role(name, body.description, body.permissions),
                )
                .await?;
            ApiResponse::json(StatusCode::OK, &RoleDto::from(&role))
        }
        RouteId::AdminDeleteRole => {
            let name = path_param(req, "name").unwrap_or_default();
            kit.admin_delete_role(ctx, &principal, name).await?;
            Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
        }
        RouteId::AdminAudit => {
            let query = audit_query(req.query)?;
            let page = kit.admin_audit(&principal, &query).await?;
            ApiResponse::json(StatusCode::OK, &audit_page(&page))
        }
        _ => Err(Error::NotFound),
    }
}

fn role(name: String, description: Option<String>, permissions: Option<Vec<String>>) -> Role {
    Role {
        name,
        description: description.unwrap_or_default(),
        permissions: permissions.unwrap_or_default(),
        builtin: false,
    }
}

/// The `{id}` of the path; a malformed id is 404 like an unknown one.
fn user_id(req: &ApiRequest<'_>) -> Result<UserId> {
    path_param(req, "id")
        .and_then(|v| v.parse().ok())
        .ok_or(Error::NotFound)
}

fn admin_patch(body: AdminPatchRequest) -> Result<AdminPatch> {
    let mut errors = Vec::new();
    let email = body
        .email
        .as_deref()
        .and_then(|e| required_email(Some(e), &mut errors));
    let status = match body.status.as_deref() {
        None => None,
        Some(s) => match UserStatus::parse(s) {
            Some(st) => Some(st),
            None => {
                errors.push(FieldError::new(
                    "status",
                    "invalid",
                    "must be active or disabled",
                ));
                None
            }
        },
    };
    let display_name = body
        .display_name
        .map(|n| crate::service::profile_display_name(n, &mut errors));
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(AdminPatch {
        display_name,
        email,
        email_verified: body.email_verified,
        status,
        roles: body.roles,
    })
}

/// The query's pairs, percent-decoded.
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn page_limit(value: Option<&str>, errors: &mut Vec<FieldError>) -> u32 {
    match value {
        None => DEFAULT_PAGE,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    "out_of_range",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                ));
                DEFAULT_PAGE
            }
        },
    }
}

fn parse_bool(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errors.push(FieldError::new(field, "invalid", "must be true or false"));
            None
        }
    }
}

fn bad_cursor(errors: &mut Vec<FieldError>) {
    errors.push(FieldError::new(
        "cursor",
        "invalid",
        "is not a cursor from a previous page",
    ));
}

fn user_query(query: Option<&str>, deleted: bool) -> Result<UserQuery> {
    let mut errors = Vec::new();
    let mut q = UserQuery {
        deleted,
        limit: DEFAULT_PAGE,
        ..UserQuery::default()
    };
    let mut limit = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "limit" => limit = Some(value),
            "cursor" => match value.parse::<Uuid>() {
                Ok(id) => q.after = Some(UserId(id)),
                Err(_) => bad_cursor(&mut errors),
            },
            "email" if !value.is_empty() => {
                q.email_contains =
                    text_filter("email", value, &mut errors).map(|v| v.to_lowercase());
            }
            "status" => match UserStatus::parse(&value) {
                Some(s) => q.status = Some(s),
                None => errors.push(FieldError::new(
                    "status",
                    "invalid",
                    "must be active or disabled",
                )),
            },
            "role" if !value.is_empty() => q.role = text_filter("role", value, &mut errors),
            "verified" => q.verified = parse_bool("verified", &value, &mut errors),
            _ => {}
        }
    }
    q.limit = page_limit(limit.as_deref(), &mut errors);
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(Error::Validation(errors))
    }
}

/// A text filter of a listing: no email, role name or event kind holds a control character (and
/// PostgreSQL refuses NUL in text), so such a value is a validation error, not a query.
fn text_filter(key: &str, value: String, errors: &mut Vec<FieldError>) -> Option<String> {
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            key,
            "invalid",
            "must not contain control characters",
        ));
        None
    } else {
        Some(value)
    }
}

fn audit_query(query: Option<&str>) -> Result<AuditQuery> {
    let mut errors = Vec::new();
    let mut q = AuditQuery {
        limit: DEFAULT_PAGE,
        ..AuditQuery::default()
    };
    let mut limit = None;
    for (key, value) in pairs(query) {
        match key.as_str() {
            "limit" => limit = Some(value),
            "cursor" => match value.parse::<Uuid>() {
                Ok(id) => q.before = Some(id),
                Err(_) => bad_cursor(&mut errors),
            },
            "user_id" => match value.parse::<Uuid>() {
                Ok(id) => q.user_id = Some(UserId(id)),
                Err(_) => errors.push(FieldError::new("user_id", "invalid", "is not a user id")),
            },
            "event" if !value.is_empty() => q.event = text_filter("event", value, &mut errors),
            _ => {}
        }
    }
    q.limit = page_limit(limit.as_deref(), &mut errors);
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(Error::Validation(errors))
    }
}

fn user_page(page: &Page<User>) -> UserPageDto {
    UserPageDto {
        users: page.items.iter().map(AdminUserDto::from).collect(),
        next_cursor: page
            .has_more
            .then(|| page.items.last().map(|u| u.id.to_string()))
            .flatten(),
    }
}

fn audit_page(page: &Page<AuditEvent>) -> AuditPageDto {
    AuditPageDto {
        events: page.items.iter().map(AuditEventDto::from).collect(),
        next_cursor: page
            .has_more
            .then(|| page.items.last().map(|e| e.id.to_string()))
            .flatten(),
    }
}
