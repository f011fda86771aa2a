//! The module's errors and their one mapping to PKCS#11 return values.

use cryptoki_sys::{
    CK_RV, CKR_DATA_INVALID, CKR_DATA_LEN_RANGE, CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED,
    CKR_FUNCTION_REJECTED, CKR_GENERAL_ERROR, CKR_PIN_INCORRECT, CKR_PIN_LOCKED,
};
use sigil_client::{ClientError, ErrorKind};
use sigil_proto::ErrorCode;

/// Everything that can go wrong behind a PKCS#11 call, with what to tell a person.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The module configuration or the profile is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The Host API client failed or the server refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An approver denied the request.
    #[error("request {id} was denied: {reason}")]
    Denied {
        /// The request id.
        id: String,
        /// The approver's reason.
        reason: String,
    },
    /// The request ended without a signature, or was not signed in time.
    #[error("{0}")]
    NotSigned(String),
    /// The data to sign does not fit the mechanism.
    #[error("{0}")]
    Data(String),
    /// The data to sign has a length the mechanism cannot take.
    #[error("{0}")]
    DataLength(String),
    /// The server's signature is not what the mechanism asked for.
    #[error("{0}")]
    Result(String),
}

impl ModuleError {
    /// The PKCS#11 return value of this error.
    pub fn rv(&self) -> CK_RV {
        match self {
            Self::Config(_) => CKR_GENERAL_ERROR,
            Self::Client(e) => match e.server_code() {
                Some(ErrorCode::AuthFailed | ErrorCode::CertMismatch) => CKR_PIN_INCORRECT,
                Some(ErrorCode::IdentityLocked | ErrorCode::IdentityDisabled) => CKR_PIN_LOCKED,
                Some(_) => CKR_FUNCTION_FAILED,
                None => match e.kind() {
                    ErrorKind::Connection => CKR_DEVICE_ERROR,
                    // No password anywhere: the PIN was needed and not given.
                    ErrorKind::Config if matches!(e, ClientError::Secret(_)) => CKR_PIN_INCORRECT,
                    _ => CKR_FUNCTION_FAILED,
                },
            },
            Self::Denied { .. } => CKR_FUNCTION_REJECTED,
            Self::NotSigned(_) | Self::Result(_) => CKR_FUNCTION_FAILED,
            Self::Data(_) => CKR_DATA_INVALID,
            Self::DataLength(_) => CKR_DATA_LEN_RANGE,
        }
    }
}
