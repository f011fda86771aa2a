//! JSON error bodies: `{"error":{"code":"<ERROR_CODE>","message":"..."}}` with an HTTP status
//! chosen from the code.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sigil_proto::ErrorCode;

pub(crate) use sigil_api::ErrorBody;
use sigil_api::ErrorDetail;

use crate::service::ServiceError;

/// An error answered to an HTTPS client.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    /// Seconds for a `Retry-After` header (throttled calls).
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status and code.
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// `429 TOO_MANY_FAILURES` with `Retry-After` (see [`crate::service::failures`]).
    pub(crate) fn throttled(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..crate::service::failures::throttled(seconds).into()
        }
    }

    /// `400 INVALID`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID", message)
    }

    /// `401 NOT_LOGGED_IN`.
    pub(crate) fn not_logged_in(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::NotLoggedIn.as_str(),
            message,
        )
    }

    /// `404 NOT_FOUND`.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> &str {
        &self.code
    }
}

/// The HTTP status for a Host API error code.
fn status_of(code: &ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotLoggedIn | ErrorCode::AuthFailed => StatusCode::UNAUTHORIZED,
        ErrorCode::NotPermitted
        | ErrorCode::IdentityDisabled
        | ErrorCode::CertMismatch
        | ErrorCode::CommandDisabled => StatusCode::FORBIDDEN,
        ErrorCode::IdentityLocked => StatusCode::LOCKED,
        ErrorCode::LoginThrottled | ErrorCode::TooManyFailures => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::PolicyNotFound | ErrorCode::RequestNotFound => StatusCode::NOT_FOUND,
        ErrorCode::RequestNotPending
        | ErrorCode::RequestInRelease
        | ErrorCode::ReleaseClosed
        | ErrorCode::AlreadyLoggedIn => StatusCode::CONFLICT,
        ErrorCode::ServerBusy | ErrorCode::ServerSealed => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal | ErrorCode::SigningFailed => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        error.log_internal("https");
        let status = match &error {
            ServiceError::Refused { code, .. } => status_of(code),
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self {
            status,
            code: error.code().to_owned(),
            message: error.to_string(),
            retry_after: None,
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "the request body must be JSON: send Content-Type: application/json".to_owned()
            }
            other => format!("the request body is not valid: {}", other.body_text()),
        };
        let status = if status == StatusCode::PAYLOAD_TOO_LARGE {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        Self::new(status, "INVALID", message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid(format!(
            "the query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(format!(
            "the URL path is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// Result of a handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_codes() {
        let e: ApiError = ServiceError::refused(ErrorCode::IdentityLocked, "locked").into();
        assert_eq!(e.status(), StatusCode::LOCKED);
        assert_eq!(e.code(), "IDENTITY_LOCKED");
        let e: ApiError = ServiceError::refused(ErrorCode::AuthFailed, "no").into();
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        let e: ApiError = ServiceError::refused(ErrorCode::NotPermitted, "no").into();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let e: ApiError = ServiceError::Conflict("x exists".into()).into();
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "CONFLICT"));
        let e: ApiError = ServiceError::NotFound("x".into()).into();
        assert_eq!((e.status(), e.code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
        let e: ApiError = ServiceError::internal("secret detail").into();
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(e.message.starts_with("internal server error (id "));
        assert!(!e.message.contains("secret detail"));
        let e: ApiError = ServiceError::Invalid("x".into()).into();
        assert_eq!((e.status(), e.code()), (StatusCode::BAD_REQUEST, "INVALID"));
    }
}
