//! The OpenAPI 3.1 document of the contract (feature `openapi`), built from the route table:
//! one operation per [`ROUTES`] entry, with its request body, success response, the problem
//! responses API.md lists for it and a `default` problem response, bearer security where the
//! route needs a token, the query parameters of the listings and the refresh cookie.
//!
//! [`openapi`] returns utoipa's [`OpenApi`] value rather than JSON so that a host can add its
//! own routes, servers or security before serializing it (`OpenApi::to_json`); the paths
//! include the mount point given as `base_path`, so that one document can also describe routes
//! outside it (the reference server adds its operational routes at the root). The document has
//! no `servers` entry: the host knows its public URL.
//!
//! Schemas come from the request and response types of [`super::dto`], [`super::admin`] and
//! [`super::Problem`], which derive `utoipa::ToSchema` with this feature.

use std::borrow::Cow;
use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, Ref, RefOr, Required, Response, ResponseBuilder, ResponsesBuilder,
};

use super::admin::{
    AdminPatchRequest, AdminUserDto, AuditPageDto, RoleDto, RoleRequest, RolesDto, UserPageDto,
};
use super::dto::{
    Accepted, ChangePasswordRequest, EmailRequest, ExportDto, LoginRequest, PasswordRequest,
    RefreshRequest, RegisterRequest, ResetPasswordRequest, SessionsEnvelope, TokenPairDto,
    TokenRequest, UpdateMeRequest, UserDto, UserEnvelope,
};
use super::{AuthNeed, PROBLEM_JSON, Problem, ROUTES, RouteId, RouteSpec};
use crate::error::ErrorCode;
use crate::service::admin::{DEFAULT_PAGE, MAX_PAGE};

/// The name of the bearer security scheme in `components.securitySchemes`.
pub const BEARER_SCHEME: &str = "bearerAuth";

const JSON: &str = "application/json";

/// The OpenAPI 3.1 document of every route of [`ROUTES`], mounted at `base_path` (`""` or
/// `/api/v1`; no trailing slash): the paths are `base_path` + the route's path.
pub fn openapi(base_path: &str) -> OpenApi {
    let base = base_path.trim_end_matches('/');
    let mut schemas = Schemas::default();
    let mut paths = PathsBuilder::new().build();
    for spec in ROUTES {
        let operation = operation(spec, &mut schemas);
        paths.add_path_operation(
            format!("{base}{}", spec.path),
            vec![http_method(&spec.method)],
            operation,
        );
    }
    let problem = schemas.add::<Problem>();
    let mut components = ComponentsBuilder::new();
    for code in SHARED {
        components = components.response(
            shared_name(code),
            problem_response(
                ErrorCode::status(code),
                meaning(code, None).into_owned(),
                &problem,
            ),
        );
    }
    let components = components
        .schemas_from_iter(schemas.0)
        .security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The `access_token` of `POST /login` or `POST /refresh`. A token of a \
                         revoked session (logout, password change or reset) is refused.",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("authkit")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Accounts, sessions and tokens. Errors are RFC 9457 problem documents \
                     (`application/problem+json`) with a stable `code`. Every route is limited \
                     per client IP (429 with `Retry-After`).",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some([
            TagBuilder::new()
                .name("auth")
                .description(Some("Registration, login, tokens and passwords"))
                .build(),
            TagBuilder::new()
                .name("account")
                .description(Some("The caller's own account and sessions"))
                .build(),
            TagBuilder::new()
                .name("admin")
                .description(Some(
                    "Users, roles and the audit log (permissions required)",
                ))
                .build(),
        ]))
        .build()
}

/// The schemas referenced so far, by name.
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>);

impl Schemas {
    /// Registers `T` and the schemas it references; returns a reference to `T`.
    fn add<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        self.0.insert(name.clone(), T::schema());
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        self.0.extend(nested);
        RefOr::Ref(Ref::from_schema_name(name))
    }
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        Method::TRACE => HttpMethod::Trace,
        _ => HttpMethod::Get,
    }
}

/// The failures every route may answer, described once in `components.responses`.
const SHARED: [ErrorCode; 5] = [
    ErrorCode::PayloadTooLarge,
    ErrorCode::RateLimited,
    ErrorCode::HeadersTooLarge,
    ErrorCode::Internal,
    ErrorCode::Unavailable,
];

/// The name of a shared failure in `components.responses` (`RateLimited`).
fn shared_name(code: ErrorCode) -> String {
    code.as_str()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A problem response: `description`, the problem schema and the headers of its status.
fn problem_response(status: StatusCode, description: String, problem: &RefOr<Schema>) -> Response {
    let response = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new().schema(Some(problem.clone())).build(),
    );
    match status.as_u16() {
        401 => response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(Some(string_schema()))
                .description(Some("`Bearer`, with the code `unauthorized`"))
                .build(),
        ),
        429 | 503 => response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .build(),
                ))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        ),
        _ => response,
    }
    .build()
}

/// [`openapi`] as JSON, what adapters serve as `/openapi.json`.
pub fn openapi_json(base_path: &str) -> String {
    // Serializing the document cannot fail (string keys, no custom serializers); an empty
    // object is the safe fallback.
    openapi(base_path)
        .to_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

/// What the document says about one route besides its method, path and security.
struct Doc {
    /// `operationId`.
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    /// The JSON body and whether it is required.
    body: Option<(RefOr<Schema>, bool)>,
    /// Success status, its description and JSON body.
    success: (StatusCode, &'static str, Option<RefOr<Schema>>),
    /// What the success response does to the refresh cookie.
    cookie: Cookie,
    /// The route's own failures (on top of those of every route, see [`operation`]).
    errors: &'static [ErrorCode],
    /// Query parameters.
    query: Vec<QueryParam>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cookie {
    Untouched,
    /// The success response sets `authkit_refresh`.
    Set,
    /// The success response deletes it.
    Cleared,
}

struct QueryParam {
    name: &'static str,
    description: &'static str,
    schema: Schema,
}

/// The route's operation: [`describe`] plus what follows from the route table (security,
/// permission, path parameters) and the failures every route shares.
fn operation(spec: &RouteSpec, schemas: &mut Schemas) -> Operation {
    let doc = describe(spec.id, schemas);
    let problem = schemas.add::<Problem>();
    let mut op = OperationBuilder::new()
        .operation_id(Some(doc.id))
        .tag(doc.tag)
        .summary(Some(doc.summary));
    let mut description = doc.description.map(str::to_owned).unwrap_or_default();
    if let Some(permission) = spec.permission {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!("Requires the permission `{permission}`."));
    }
    if !description.is_empty() {
        op = op.description(Some(description));
    }
    if spec.auth == AuthNeed::Bearer {
        op = op.security(SecurityRequirement::new(
            BEARER_SCHEME,
            Vec::<String>::new(),
        ));
    }
    for name in path_params(spec.path) {
        let (description, schema) = match name {
            "id" => ("The id (a UUID); any other value is 404.", uuid_schema()),
            _ => ("The role's name.", string_schema()),
        };
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(schema)),
        );
    }
    for q in doc.query {
        op = op.parameter(
            ParameterBuilder::new()
                .name(q.name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(q.description))
                .schema(Some(q.schema)),
        );
    }
    if spec.id == RouteId::Refresh {
        op = op.parameter(
            ParameterBuilder::new()
                .name(super::cookies::REFRESH_COOKIE)
                .parameter_in(ParameterIn::Cookie)
                .required(Required::False)
                .description(Some(
                    "The refresh token, when the body has none (browsers). A refresh by cookie \
                     must send no body or a JSON one: a form is refused (403).",
                ))
                .schema(Some(string_schema())),
        );
    }
    let has_body = doc.body.is_some();
    if let Some((schema, required)) = doc.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
                .build(),
        ));
    }

    let mut responses = ResponsesBuilder::new();
    let (status, what, body) = doc.success;
    let mut success = ResponseBuilder::new().description(what);
    if let Some(schema) = body {
        success = success.content(JSON, ContentBuilder::new().schema(Some(schema)).build());
    }
    for (target, parameter, expression) in links(spec.id) {
        success = success.link(
            *target,
            LinkBuilder::new()
                .operation_id(*target)
                .parameter(*parameter, *expression)
                .build(),
        );
    }
    match doc.cookie {
        Cookie::Untouched => {}
        Cookie::Set => {
            success = success.header(
                "Set-Cookie",
                HeaderBuilder::new()
                    .schema(Some(string_schema()))
                    .description(Some(
                        "`authkit_refresh=<refresh token>; Path=<mount point>; Max-Age=<refresh \
                         lifetime>; HttpOnly; Secure; SameSite=Strict`",
                    ))
                    .build(),
            );
        }
        Cookie::Cleared => {
            success = success.header(
                "Set-Cookie",
                HeaderBuilder::new()
                    .schema(Some(string_schema()))
                    .description(Some(
                        "`authkit_refresh=; Path=<mount point>; Max-Age=0; HttpOnly; Secure; \
                         SameSite=Strict` (deletes the refresh cookie)",
                    ))
                    .build(),
            );
        }
    }
    responses = responses.response(status.as_str(), success.build());

    // The failures of this route: its own, then those every route shares.
    let mut codes: Vec<ErrorCode> = doc.errors.to_vec();
    if has_body {
        codes.extend([ErrorCode::MalformedRequest, ErrorCode::UnsupportedMediaType]);
    }
    if spec.auth == AuthNeed::Bearer {
        codes.push(ErrorCode::Unauthorized);
    }
    if spec.permission.is_some() || spec.method != Method::GET {
        codes.push(ErrorCode::Forbidden);
    }
    let mut by_status: BTreeMap<StatusCode, Vec<String>> = BTreeMap::new();
    for code in codes {
        let line = format!("`{}`: {}", code.as_str(), meaning(code, Some(spec)));
        let lines = by_status.entry(ErrorCode::status(code)).or_default();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    for (status, lines) in by_status {
        responses = responses.response(
            status.as_str(),
            problem_response(status, lines.join("; "), &problem),
        );
    }
    for code in SHARED {
        responses = responses.response(
            ErrorCode::status(code).as_str(),
            Ref::from_response_name(shared_name(code)),
        );
    }
    responses = responses.response(
        "default",
        problem_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Any other failure, as a problem document".to_owned(),
            &problem,
        ),
    );
    op.responses(responses.build()).build()
}

/// What a code means on this route (`None`: on any route).
fn meaning(code: ErrorCode, spec: Option<&RouteSpec>) -> Cow<'static, str> {
    Cow::Borrowed(match code {
        ErrorCode::MalformedRequest => "the body is not JSON, or a field has the wrong type",
        ErrorCode::ValidationFailed => "some fields are invalid (listed in `errors`)",
        ErrorCode::InvalidCredentials => "the email or password is incorrect",
        ErrorCode::Unauthorized => "no valid access token (missing, invalid, expired or revoked)",
        ErrorCode::Forbidden => {
            let (permission, changes) = spec.map_or((None, true), |spec| {
                (spec.permission, spec.method != Method::GET)
            });
            return Cow::Owned(match (permission, changes) {
                (Some(p), true) => format!(
                    "the token lacks the permission `{p}`, or a browser request from another \
                     site was refused"
                ),
                (Some(p), false) => format!("the token lacks the permission `{p}`"),
                (None, _) => "a browser request from another site was refused".to_owned(),
            });
        }
        ErrorCode::EmailNotVerified => "the email address is not verified yet",
        ErrorCode::AccountDisabled => "the account is disabled",
        ErrorCode::NotFound => "no such resource",
        ErrorCode::MethodNotAllowed => "the path does not accept this method; see `Allow`",
        ErrorCode::EmailTaken => "another account has this email",
        ErrorCode::Conflict => "the change conflicts with the current state",
        ErrorCode::InvalidToken => "the token is invalid, expired or already used",
        ErrorCode::PayloadTooLarge => "the body is too large",
        ErrorCode::HeadersTooLarge => "the request headers are too large",
        ErrorCode::UnsupportedMediaType => "the body is not `application/json`",
        ErrorCode::RateLimited => "too many requests from this client; see `Retry-After`",
        ErrorCode::Unavailable => {
            "a dependency (database, password hashing) is unavailable or \
                                   the request timed out"
        }
        ErrorCode::Internal => "an unexpected error (no detail is given)",
    })
}

/// The `{name}` parameters of a path, in order.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn string_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .build()
        .into()
}

fn uuid_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uuid".to_owned())))
        .build()
        .into()
}

fn enum_schema(values: &[&str]) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
        .into()
}

/// The schema of `UserDto::status`.
pub(crate) fn user_status() -> Schema {
    enum_schema(&["active", "disabled"])
}

/// The schema of `AdminPatchRequest::status` (absent or `null`: unchanged).
pub(crate) fn user_status_patch() -> Schema {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .enum_values(Some([json!("active"), json!("disabled"), json!(null)]))
        .build()
        .into()
}

/// A role or permission name: what `service::admin::valid_name` accepts.
const NAME_PATTERN: &str = "^[a-z0-9_:.-]{1,64}$";

/// The schema of `RoleRequest::permissions` (absent or `null`: none).
pub(crate) fn permissions() -> Schema {
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(NAME_PATTERN)),
        )
        .max_items(Some(100))
        .examples([json!(["notes:read", "notes:write"])])
        .build()
        .into()
}

/// The schema of `TokenPairDto::token_type`.
pub(crate) fn bearer() -> Schema {
    enum_schema(&["Bearer"])
}

/// The schema of `Accepted::status`.
pub(crate) fn accepted() -> Schema {
    enum_schema(&["accepted"])
}

fn limit_param() -> QueryParam {
    QueryParam {
        name: "limit",
        description: "Page size",
        schema: ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_PAGE))
            .default(Some(json!(DEFAULT_PAGE)))
            .build()
            .into(),
    }
}

fn cursor_param() -> QueryParam {
    QueryParam {
        name: "cursor",
        description: "The `next_cursor` of the previous page",
        schema: uuid_schema(),
    }
}

fn user_filters() -> Vec<QueryParam> {
    vec![
        limit_param(),
        cursor_param(),
        QueryParam {
            name: "email",
            description: "Only emails containing this text (case-insensitive)",
            schema: string_schema(),
        },
        QueryParam {
            name: "status",
            description: "Only users with this status",
            schema: user_status(),
        },
        QueryParam {
            name: "role",
            description: "Only users with this role",
            schema: string_schema(),
        },
        QueryParam {
            name: "verified",
            description: "Only users whose email is (or is not) verified",
            schema: ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .build()
                .into(),
        },
    ]
}

/// The route-specific part of each operation. A new [`RouteId`] does not compile until it is
/// described here.
fn describe(id: RouteId, s: &mut Schemas) -> Doc {
    use ErrorCode as E;
    let doc = |id, tag, summary, success| Doc {
        id,
        tag,
        summary,
        description: None,
        body: None,
        success,
        cookie: Cookie::Untouched,
        errors: &[],
        query: Vec::new(),
    };
    let ok = |what, schema| (StatusCode::OK, what, Some(schema));
    let no_content = |what| (StatusCode::NO_CONTENT, what, None);
    match id {
        RouteId::Register => Doc {
            description: Some(
                "Creates an account with the role `user` and sends a verification email. \
                 Unknown fields are ignored.",
            ),
            body: Some((s.add::<RegisterRequest>(), true)),
            errors: &[E::EmailTaken, E::ValidationFailed],
            ..doc(
                "register",
                "auth",
                "Create an account",
                (
                    StatusCode::CREATED,
                    "The new account",
                    Some(s.add::<UserEnvelope>()),
                ),
            )
        },
        RouteId::Login => Doc {
            description: Some(
                "An unknown email and a wrong password are answered alike. A disabled account \
                 or, when required, an unverified email is refused only after a correct \
                 password. Repeated failures on one account slow down its further attempts.",
            ),
            body: Some((s.add::<LoginRequest>(), true)),
            cookie: Cookie::Set,
            errors: &[
                E::InvalidCredentials,
                E::AccountDisabled,
                E::EmailNotVerified,
                E::ValidationFailed,
            ],
            ..doc(
                "login",
                "auth",
                "Log in",
                ok(
                    "A token pair; the refresh token is also set as a cookie",
                    s.add::<TokenPairDto>(),
                ),
            )
        },
        RouteId::Refresh => Doc {
            description: Some(
                "Spends the refresh token (from the body, else the `authkit_refresh` cookie) \
                 for a new pair. Presenting a spent refresh token revokes its whole session.",
            ),
            body: Some((s.add::<RefreshRequest>(), false)),
            cookie: Cookie::Set,
            errors: &[E::InvalidToken, E::AccountDisabled],
            ..doc(
                "refresh",
                "auth",
                "Refresh the tokens",
                ok(
                    "A new token pair; the old refresh token no longer works",
                    s.add::<TokenPairDto>(),
                ),
            )
        },
        RouteId::Logout => Doc {
            description: Some(
                "Revokes the caller's session: its access and refresh tokens stop working. \
                 The body is optional and ignored.",
            ),
            body: Some((s.add::<RefreshRequest>(), false)),
            cookie: Cookie::Cleared,
            ..doc(
                "logout",
                "auth",
                "Log out",
                no_content("The session is revoked"),
            )
        },
        RouteId::Me => doc(
            "get_me",
            "account",
            "The caller's account",
            ok("The user", s.add::<UserDto>()),
        ),
        RouteId::VerifyEmail => Doc {
            body: Some((s.add::<TokenRequest>(), true)),
            errors: &[E::InvalidToken],
            ..doc(
                "verify_email",
                "auth",
                "Verify an email address with the token of the email",
                ok("The verified user", s.add::<UserEnvelope>()),
            )
        },
        RouteId::ResendVerification => Doc {
            description: Some("The answer is the same whether or not the address has an account."),
            body: Some((s.add::<EmailRequest>(), true)),
            errors: &[E::ValidationFailed],
            ..doc(
                "resend_verification",
                "auth",
                "Send the verification email again",
                (StatusCode::ACCEPTED, "Accepted", Some(s.add::<Accepted>())),
            )
        },
        RouteId::ForgotPassword => Doc {
            description: Some("The answer is the same whether or not the address has an account."),
            body: Some((s.add::<EmailRequest>(), true)),
            errors: &[E::ValidationFailed],
            ..doc(
                "forgot_password",
                "auth",
                "Send a password-reset email",
                (StatusCode::ACCEPTED, "Accepted", Some(s.add::<Accepted>())),
            )
        },
        RouteId::ResetPassword => Doc {
            description: Some("Every session of the user is revoked."),
            body: Some((s.add::<ResetPasswordRequest>(), true)),
            errors: &[E::InvalidToken, E::ValidationFailed],
            ..doc(
                "reset_password",
                "auth",
                "Set a new password with the token of the reset email",
                no_content("The password is changed"),
            )
        },
        RouteId::ChangePassword => Doc {
            description: Some("The caller's other sessions are revoked."),
            body: Some((s.add::<ChangePasswordRequest>(), true)),
            errors: &[E::InvalidCredentials, E::ValidationFailed],
            ..doc(
                "change_password",
                "auth",
                "Change the password",
                no_content("The password is changed"),
            )
        },
        RouteId::UpdateMe => Doc {
            description: Some(
                "A new email needs `current_password`, becomes unverified and gets a \
                 verification email. Unknown fields are ignored.",
            ),
            body: Some((s.add::<UpdateMeRequest>(), true)),
            errors: &[E::InvalidCredentials, E::EmailTaken, E::ValidationFailed],
            ..doc(
                "update_me",
                "account",
                "Change the caller's profile",
                ok("The user", s.add::<UserDto>()),
            )
        },
        RouteId::DeleteMe => Doc {
            description: Some("A soft delete; every session is revoked."),
            body: Some((s.add::<PasswordRequest>(), true)),
            cookie: Cookie::Cleared,
            errors: &[E::InvalidCredentials, E::ValidationFailed],
            ..doc(
                "delete_me",
                "account",
                "Delete the caller's account",
                no_content("The account is deleted"),
            )
        },
        RouteId::ExportMe => doc(
            "export_me",
            "account",
            "Everything held on the caller",
            ok(
                "Profile, roles, sessions and audit events",
                s.add::<ExportDto>(),
            ),
        ),
        RouteId::ListSessions => doc(
            "list_sessions",
            "account",
            "The caller's live sessions",
            ok("Live sessions, newest first", s.add::<SessionsEnvelope>()),
        ),
        RouteId::RevokeSession => Doc {
            errors: &[E::NotFound],
            ..doc(
                "revoke_session",
                "account",
                "Revoke one of the caller's sessions",
                no_content("The session is revoked"),
            )
        },
        RouteId::RevokeAllSessions => Doc {
            cookie: Cookie::Cleared,
            ..doc(
                "revoke_all_sessions",
                "account",
                "Revoke every session of the caller (log out everywhere)",
                no_content("Every session is revoked"),
            )
        },
        RouteId::AdminListUsers => Doc {
            description: Some("Keyset pagination, oldest first."),
            errors: &[E::ValidationFailed],
            query: user_filters(),
            ..doc(
                "admin_list_users",
                "admin",
                "List users",
                ok("One page of users", s.add::<UserPageDto>()),
            )
        },
        RouteId::AdminListDeletedUsers => Doc {
            errors: &[E::ValidationFailed],
            query: user_filters(),
            ..doc(
                "admin_list_deleted_users",
                "admin",
                "List soft-deleted users",
                ok("One page of deleted users", s.add::<UserPageDto>()),
            )
        },
        RouteId::AdminGetUser => Doc {
            description: Some("Deleted users included (with `deleted_at`)."),
            errors: &[E::NotFound],
            ..doc(
                "admin_get_user",
                "admin",
                "One user",
                ok("The user", s.add::<AdminUserDto>()),
            )
        },
        RouteId::AdminUpdateUser => Doc {
            description: Some(
                "Disabling a user revokes its sessions. Changing `roles` also requires \
                 `roles:write`; the roles must exist.",
            ),
            body: Some((s.add::<AdminPatchRequest>(), true)),
            errors: &[E::NotFound, E::EmailTaken, E::ValidationFailed],
            ..doc(
                "admin_update_user",
                "admin",
                "Change a user",
                ok("The user", s.add::<AdminUserDto>()),
            )
        },
        RouteId::AdminDeleteUser => Doc {
            description: Some("A soft delete; the user's sessions are revoked."),
            errors: &[E::NotFound],
            ..doc(
                "admin_delete_user",
                "admin",
                "Delete a user",
                no_content("The user is deleted"),
            )
        },
        RouteId::AdminRestoreUser => Doc {
            description: Some("Its sessions stay revoked."),
            errors: &[E::NotFound, E::EmailTaken],
            ..doc(
                "admin_restore_user",
                "admin",
                "Restore a deleted user",
                ok("The user", s.add::<AdminUserDto>()),
            )
        },
        RouteId::AdminListRoles => doc(
            "admin_list_roles",
            "admin",
            "List roles",
            ok("Every role", s.add::<RolesDto>()),
        ),
        RouteId::AdminCreateRole => Doc {
            body: Some((role_create_body(s), true)),
            errors: &[E::Conflict, E::ValidationFailed],
            ..doc(
                "admin_create_role",
                "admin",
                "Create a role",
                (
                    StatusCode::CREATED,
                    "The new role",
                    Some(s.add::<RoleDto>()),
                ),
            )
        },
        RouteId::AdminUpdateRole => Doc {
            description: Some("`name` in the body is ignored: the path names the role."),
            body: Some((s.add::<RoleRequest>(), true)),
            errors: &[E::NotFound, E::Conflict, E::ValidationFailed],
            ..doc(
                "admin_update_role",
                "admin",
                "Change a role's description and permissions",
                ok("The role", s.add::<RoleDto>()),
            )
        },
        RouteId::AdminDeleteRole => Doc {
            description: Some("The built-in roles `admin` and `user` cannot be deleted (409)."),
            errors: &[E::NotFound, E::Conflict],
            ..doc(
                "admin_delete_role",
                "admin",
                "Delete a role",
                no_content("The role is deleted"),
            )
        },
        RouteId::AdminAudit => Doc {
            description: Some("Newest first."),
            errors: &[E::ValidationFailed],
            query: vec![
                QueryParam {
                    name: "user_id",
                    description: "Only events about this user",
                    schema: uuid_schema(),
                },
                QueryParam {
                    name: "event",
                    description: "Only events of this kind (`login`, `password_changed`...)",
                    schema: string_schema(),
                },
                limit_param(),
                cursor_param(),
            ],
            ..doc(
                "admin_audit",
                "admin",
                "The audit log",
                ok("One page of events", s.add::<AuditPageDto>()),
            )
        },
    }
}

/// A link of a success response: the operation its value feeds, the parameter, the runtime
/// expression of the value.
type LinkSpec = (&'static str, &'static str, &'static str);

/// The operations a success response's ids lead to (OpenAPI links: for readers, and for
/// generators that chain calls).
fn links(id: RouteId) -> &'static [LinkSpec] {
    const NEW_USER: &[LinkSpec] = &[
        ("admin_get_user", "id", "$response.body#/user/id"),
        ("admin_update_user", "id", "$response.body#/user/id"),
        ("admin_delete_user", "id", "$response.body#/user/id"),
        ("admin_restore_user", "id", "$response.body#/user/id"),
    ];
    const USER: &[LinkSpec] = &[
        ("admin_get_user", "id", "$response.body#/id"),
        ("admin_update_user", "id", "$response.body#/id"),
        ("admin_delete_user", "id", "$response.body#/id"),
        ("admin_restore_user", "id", "$response.body#/id"),
    ];
    const FIRST_USER: &[LinkSpec] = &[
        ("admin_get_user", "id", "$response.body#/users/0/id"),
        ("admin_update_user", "id", "$response.body#/users/0/id"),
        ("admin_delete_user", "id", "$response.body#/users/0/id"),
        ("admin_restore_user", "id", "$response.body#/users/0/id"),
    ];
    const FIRST_SESSION: &[LinkSpec] = &[("revoke_session", "id", "$response.body#/sessions/0/id")];
    const ROLE: &[LinkSpec] = &[
        ("admin_update_role", "name", "$response.body#/name"),
        ("admin_delete_role", "name", "$response.body#/name"),
    ];
    match id {
        RouteId::Register => NEW_USER,
        RouteId::AdminGetUser | RouteId::AdminUpdateUser | RouteId::AdminRestoreUser => USER,
        RouteId::AdminListUsers | RouteId::AdminListDeletedUsers => FIRST_USER,
        RouteId::ListSessions => FIRST_SESSION,
        RouteId::AdminCreateRole | RouteId::AdminUpdateRole => ROLE,
        _ => &[],
    }
}

/// `RoleRequest` with `name` required (creation).
fn role_create_body(s: &mut Schemas) -> RefOr<Schema> {
    let request = s.add::<RoleRequest>();
    RefOr::T(Schema::AllOf(
        AllOfBuilder::new()
            .item(request)
            .item(
                ObjectBuilder::new()
                    .property(
                        "name",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(NAME_PATTERN)),
                    )
                    .required("name"),
            )
            .build(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::PathItem;

    fn operation_of<'a>(item: &'a PathItem, method: &Method) -> Option<&'a Operation> {
        match *method {
            Method::GET => item.get.as_ref(),
            Method::POST => item.post.as_ref(),
            Method::PUT => item.put.as_ref(),
            Method::PATCH => item.patch.as_ref(),
            Method::DELETE => item.delete.as_ref(),
            _ => None,
        }
    }

    fn operations(item: &PathItem) -> usize {
        [
            &item.get,
            &item.post,
            &item.put,
            &item.patch,
            &item.delete,
            &item.head,
            &item.options,
            &item.trace,
        ]
        .into_iter()
        .filter(|o| o.is_some())
        .count()
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = openapi("/api/v1");
        for spec in ROUTES {
            let path = format!("/api/v1{}", spec.path);
            let item = doc
                .paths
                .get_path_item(&path)
                .unwrap_or_else(|| panic!("{:?}: {path} is not documented", spec.id));
            let op = operation_of(item, &spec.method).unwrap_or_else(|| {
                panic!("{:?}: {} {path} is not documented", spec.id, spec.method)
            });
            assert!(op.responses.responses.contains_key("default"), "{path}");
            assert_eq!(
                op.security.is_some(),
                spec.auth == AuthNeed::Bearer,
                "{:?}: bearer security",
                spec.id
            );
        }
        let json = serde_json::to_value(&doc).unwrap();
        let ids: Vec<(&str, Vec<&str>)> = json["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| {
                let params = op["parameters"]
                    .as_array()
                    .map(|ps| ps.iter().map(|p| p["name"].as_str().unwrap()).collect())
                    .unwrap_or_default();
                (op["operationId"].as_str().unwrap(), params)
            })
            .collect();
        for spec in ROUTES {
            for (target, parameter, _) in links(spec.id) {
                assert!(
                    ids.iter()
                        .any(|(id, params)| id == target && params.contains(parameter)),
                    "{:?} links to {target}({parameter})",
                    spec.id
                );
            }
        }
        let mut unique: Vec<&str> = ids.iter().map(|(id, _)| *id).collect();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operationIds are unique");
        let documented: usize = doc.paths.paths.values().map(operations).sum();
        assert_eq!(documented, ROUTES.len(), "operations not in ROUTES");
        for path in doc.paths.paths.keys() {
            assert!(path.starts_with("/api/v1/"), "{path}");
        }
    }

    #[test]
    fn it_is_openapi_3_1_with_every_referenced_schema() {
        let json = serde_json::to_value(openapi("")).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        assert!(json["paths"]["/login"]["post"].is_object());
        let text = json.to_string();
        let schemas = json["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but not defined"
            );
        }
        for name in [
            "User",
            "TokenPair",
            "Problem",
            "ErrorCode",
            "AdminUser",
            "Role",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
    }

    /// SECURITY.md item 7: no password hints and no knowledge-based questions anywhere in the
    /// API: no property, parameter or schema of the document names one.
    #[test]
    fn no_hint_or_security_question_fields() {
        fn names(value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, child) in map {
                        out.push(key.to_ascii_lowercase());
                        if key == "name"
                            && let Some(name) = child.as_str()
                        {
                            out.push(name.to_ascii_lowercase());
                        }
                        names(child, out);
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| names(v, out)),
                _ => {}
            }
        }
        let json = serde_json::to_value(openapi("")).unwrap();
        let mut all = Vec::new();
        names(&json, &mut all);
        assert!(all.iter().any(|n| n == "password"), "the walk sees fields");
        for name in &all {
            for word in [
                "hint",
                "question",
                "secret_answer",
                "security_answer",
                "kba",
            ] {
                assert!(!name.contains(word), "{name} looks like a {word} field");
            }
        }
    }

    #[test]
    fn problems_and_parameters() {
        let json = serde_json::to_value(openapi("/api/v1")).unwrap();
        let login = &json["paths"]["/api/v1/login"]["post"];
        assert!(login["security"].is_null());
        for status in ["400", "401", "403", "415", "422", "default"] {
            assert!(
                login["responses"][status]["content"][PROBLEM_JSON].is_object(),
                "login {status}"
            );
        }
        assert_eq!(
            login["responses"]["429"]["$ref"],
            "#/components/responses/RateLimited"
        );
        let limited = &json["components"]["responses"]["RateLimited"];
        assert!(limited["content"][PROBLEM_JSON].is_object());
        assert!(limited["headers"]["Retry-After"].is_object());
        assert!(
            login["responses"]["401"]["description"]
                .as_str()
                .unwrap()
                .contains("invalid_credentials")
        );
        assert!(login["responses"]["200"]["headers"]["Set-Cookie"].is_object());
        let users = &json["paths"]["/api/v1/admin/users"]["get"];
        assert_eq!(users["security"], json!([{ BEARER_SCHEME: [] }]));
        let names: Vec<&str> = users["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["limit", "cursor", "email", "status", "role", "verified"]
        );
        let refresh = &json["paths"]["/api/v1/refresh"]["post"];
        assert_eq!(refresh["parameters"][0]["in"], "cookie");
        assert_eq!(refresh["requestBody"]["required"], false);
        let session = &json["paths"]["/api/v1/users/me/sessions/{id}"]["delete"];
        assert_eq!(session["parameters"][0]["in"], "path");
        assert_eq!(session["parameters"][0]["schema"]["format"], "uuid");
    }
}
