//! The service layer: every operation both interfaces offer (Host API and HTTPS), written
//! once. Handlers decode their wire format, call a service function with the caller's
//! session, and encode the result or the [`ServiceError`].

pub mod admin;
pub mod auth;
pub mod cache;
pub mod failures;
pub mod keys;
pub mod openpgp;
pub mod pki;
pub mod releases;
pub mod requests;
pub mod session;
pub mod signing;
pub mod stamping;
pub mod timestamp;
pub mod wait;

use sigil_custody::KeystoreError;
use sigil_domain::StoreError;
use sigil_proto::ErrorCode;
use thiserror::Error;

/// Why a service call was refused or failed. `Display` is safe to show to the caller.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// A refusal both interfaces report with a Host API error code.
    #[error("{message}")]
    Refused {
        /// The stable code.
        code: ErrorCode,
        /// What went wrong and what to do.
        message: String,
    },
    /// The named record does not exist (HTTPS `NOT_FOUND`).
    #[error("{0} does not exist")]
    NotFound(String),
    /// The change conflicts with existing records (HTTPS `CONFLICT`).
    #[error("{0}")]
    Conflict(String),
    /// The input is not valid (HTTPS `INVALID`).
    #[error("{0}")]
    Invalid(String),
    /// Something failed inside the server; details went to the log.
    #[error("internal server error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A refusal with `code`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
        }
    }

    /// The error code as the HTTPS API reports it.
    pub fn code(&self) -> &str {
        match self {
            Self::Refused { code, .. } => code.as_str(),
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::Invalid(_) => "INVALID",
            Self::Internal(_) => ErrorCode::Internal.as_str(),
        }
    }

    /// The error code as the Host API reports it (it has no generic not-found/conflict codes).
    pub fn host_api_code(&self) -> ErrorCode {
        match self {
            Self::Refused { code, .. } => code.clone(),
            Self::NotFound(_) | Self::Conflict(_) | Self::Invalid(_) => ErrorCode::BadValue,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { what, key } => Self::NotFound(format!("{what} {key}")),
            StoreError::Conflict { what } => Self::Conflict(what),
            other => {
                tracing::error!(error = %other.log_detail(), "store failure");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<KeystoreError> for ServiceError {
    fn from(error: KeystoreError) -> Self {
        match error {
            KeystoreError::Store(e) => e.into(),
            KeystoreError::NotFound(id) => Self::NotFound(format!("key {id}")),
            e @ (KeystoreError::UnknownBackend { .. } | KeystoreError::NotExportable { .. }) => {
                Self::Invalid(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "key backend failure");
                Self::Internal(other.to_string())
            }
        }
    }
}

impl From<crate::ServerError> for ServiceError {
    fn from(error: crate::ServerError) -> Self {
        match error {
            crate::ServerError::Store(e) => e.into(),
            crate::ServerError::NotFound(what) => Self::NotFound(what),
            crate::ServerError::Service(e) => e,
            crate::ServerError::Keystore(e) => e.into(),
            other => {
                tracing::error!(error = %other, "server failure");
                Self::Internal(other.to_string())
            }
        }
    }
}
