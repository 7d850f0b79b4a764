//! The one error type of authkit's use cases, and its mapping to the contract's codes.

use std::time::Duration;

use http::StatusCode;
use serde::Serialize;

use crate::ports::{BoxError, Conflict, HashError, StoreError};

/// The `Retry-After` of a 503 answered because the database is unreachable: long enough
/// not to hammer a database that is restarting, short enough to notice it is back (the pool
/// waits up to 5 s for a connection on each request anyway).
pub const DATABASE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The result of an authkit operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid field of a request, listed in a 422 problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The request field (`email`, `password`...).
    pub field: String,
    /// Stable snake_case reason (`required`, `too_short`, `invalid_email`...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Everything an authkit operation can fail with. Each variant has exactly one contract code
/// ([`Error::code`]) and HTTP status ([`Error::status`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not JSON, or a field has the wrong type.
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// The body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body is larger than allowed.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The request headers are larger than allowed.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// A browser request from an origin that is neither this one nor an allowed one (the
    /// cross-site request forgery check).
    #[error("cross-origin request refused")]
    CrossOrigin,
    /// Fields failed validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Unknown email or wrong password (never told apart).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Missing, invalid, expired or revoked access token.
    #[error("unauthorized")]
    Unauthorized,
    /// The principal lacks a permission.
    #[error("missing permission {permission}")]
    Forbidden {
        /// The permission that was required.
        permission: String,
    },
    /// Login refused until the address is verified.
    #[error("email not verified")]
    EmailNotVerified,
    /// Login refused: the account is disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// No such resource.
    #[error("not found")]
    NotFound,
    /// The path exists but does not accept the request's method
    /// ([`crate::http::method_not_allowed`] adds the `Allow` header).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The email belongs to another account.
    #[error("email taken")]
    EmailTaken,
    /// Another uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Bad, expired or used one-time or refresh token.
    #[error("invalid token")]
    InvalidToken,
    /// Too many requests.
    #[error("rate limited")]
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// A dependency (database, hash workers) is unavailable.
    #[error("service unavailable")]
    Unavailable {
        /// When to retry, if known.
        retry_after: Option<Duration>,
        /// The cause, logged and never shown.
        #[source]
        source: Option<BoxError>,
    },
    /// A bug or an unexpected backend failure; logged, never shown.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// The stable codes of API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum ErrorCode {
    MalformedRequest,
    ValidationFailed,
    InvalidCredentials,
    Unauthorized,
    Forbidden,
    EmailNotVerified,
    AccountDisabled,
    NotFound,
    MethodNotAllowed,
    EmailTaken,
    Conflict,
    InvalidToken,
    PayloadTooLarge,
    HeadersTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The HTTP status every error of this code answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest | Self::InvalidToken => StatusCode::BAD_REQUEST,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidCredentials | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::EmailNotVerified | Self::AccountDisabled => {
                StatusCode::FORBIDDEN
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::EmailTaken | Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The snake_case string clients switch on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::ValidationFailed => "validation_failed",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::EmailNotVerified => "email_not_verified",
            Self::AccountDisabled => "account_disabled",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmailTaken => "email_taken",
            Self::Conflict => "conflict",
            Self::InvalidToken => "invalid_token",
            Self::PayloadTooLarge => "payload_too_large",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl Error {
    /// The contract code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedRequest(_) => ErrorCode::MalformedRequest,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            Self::CrossOrigin => ErrorCode::Forbidden,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::EmailNotVerified => ErrorCode::EmailNotVerified,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::EmailTaken => ErrorCode::EmailTaken,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// A validation error on one field.
    pub fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// Wraps an unexpected failure.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::Internal(source.into())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::Email) => Self::EmailTaken,
            StoreError::Conflict(c) => Self::Conflict(c.to_string()),
            StoreError::NotFound => Self::NotFound,
            StoreError::Unavailable(source) => Self::Unavailable {
                retry_after: Some(DATABASE_RETRY_AFTER),
                source: Some(source),
            },
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Overloaded { retry_after } => Self::Unavailable {
                retry_after: Some(retry_after),
                source: Some(Box::new(e)),
            },
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<crate::domain::RandomError> for Error {
    fn from(e: crate::domain::RandomError) -> Self {
        Self::Internal(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_store_is_unavailable_with_retry_after() {
        let error = Error::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(error.code(), ErrorCode::Unavailable);
        assert!(matches!(
            error,
            Error::Unavailable {
                retry_after: Some(DATABASE_RETRY_AFTER),
                source: Some(_),
            }
        ));
        assert!(matches!(
            Error::from(StoreError::Backend("syntax error".into())),
            Error::Internal(_)
        ));
    }
}
