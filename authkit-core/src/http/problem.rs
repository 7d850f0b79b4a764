//! RFC 9457 problem documents: the one place errors become HTTP responses.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::ApiResponse;
use crate::error::{Error, ErrorCode, FieldError};

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document as serialized on the wire.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = "uri"))]
    pub kind: &'static str,
    /// The status's reason phrase.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub title: &'static str,
    /// The HTTP status.
    #[cfg_attr(feature = "openapi", schema(minimum = 400, maximum = 599))]
    pub status: u16,
    /// The stable contract code.
    pub code: ErrorCode,
    /// A human-readable explanation without internal detail.
    pub detail: String,
    /// Invalid fields (validation errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl Error {
    /// The problem document for this error. 5xx details are generic.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::MalformedRequest(d) => d.clone(),
            Self::UnsupportedMediaType => "the body must be application/json".to_owned(),
            Self::PayloadTooLarge => "the request body is too large".to_owned(),
            Self::HeadersTooLarge => "the request headers are too large".to_owned(),
            Self::CrossOrigin => {
                "cross-site request refused: this origin is not allowed".to_owned()
            }
            Self::Validation(_) => "some fields are invalid".to_owned(),
            Self::InvalidCredentials => "the email or password is incorrect".to_owned(),
            Self::Unauthorized => "a valid access token is required".to_owned(),
            Self::Forbidden { permission } => format!("the permission {permission} is required"),
            Self::EmailNotVerified => "the email address is not verified".to_owned(),
            Self::AccountDisabled => "the account is disabled".to_owned(),
            Self::NotFound => "no such resource".to_owned(),
            Self::MethodNotAllowed => {
                "this resource does not accept the method; see `Allow`".to_owned()
            }
            Self::EmailTaken => "an account with this email already exists".to_owned(),
            Self::Conflict(d) => d.clone(),
            Self::InvalidToken => "the token is invalid, expired or already used".to_owned(),
            Self::RateLimited { .. } => "too many requests, retry later".to_owned(),
            Self::Unavailable { .. } => "the service is temporarily unavailable".to_owned(),
            Self::Internal(_) => "an internal error occurred".to_owned(),
        };
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code: self.code(),
            detail,
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

/// Turns an error into its response: problem body, `WWW-Authenticate` on 401 `unauthorized`,
/// `Retry-After` on 429 and 503. 5xx are logged here, once, with their source chain.
pub fn error_response(error: &Error) -> ApiResponse {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(target: "authkit::http", error = %ErrorChain(error), "request failed");
    } else {
        tracing::debug!(target: "authkit::http", code = error.code().as_str(), "request refused");
    }
    let body = serde_json::to_vec(&error.to_problem()).unwrap_or_default();
    let mut response = ApiResponse::new(status, Bytes::from(body));
    let headers = &mut response.headers;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::UNAUTHORIZED && error.code() == ErrorCode::Unauthorized {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    let retry_after = match error {
        Error::RateLimited { retry_after } => Some(*retry_after),
        Error::Unavailable { retry_after, .. } => *retry_after,
        _ => None,
    };
    if let Some(wait) = retry_after {
        // Whole seconds, rounded up: retrying after `Retry-After` must succeed.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let secs = secs.max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            headers.insert(RETRY_AFTER, v);
        }
    }
    response
}

/// Displays an error with its sources: `a: b: c`.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
