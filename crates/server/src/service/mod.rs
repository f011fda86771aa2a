//! The service layer: every operation both interfaces offer (Host API and HTTPS), written
//! once. Handlers decode their wire format, call a service function with the caller's
//! session, and encode the result or the [`ServiceError`].
//!
//! A use case is a module of its own under its area: it declares `pub const OPERATION`
//! (audit action and [`authorize::Need`]) and `pub async fn run(state, caller, …)`, which
//! starts with [`authorize::authorize`]; an area's `mod.rs` holds what its use cases share.
//! Where the server itself or a test acts without a session, `perform(state, actor, …)` does
//! the same work unchecked.
//!
//! | area | use cases |
//! |---|---|
//! | [`identities`] | `list`, `show`, `create`, `update`, `delete`, `unlock`, `set_password`, `create_api_key` |
//! | [`roles`] | `list`, `create`, `update`, `delete` |
//! | [`groups`] | `list`, `create`, `update`, `delete` (approval groups) |
//! | [`policies`] | `list`, `show`, `create`, `update`, `delete` (issuance policies) |
//! | [`commands`] | `list`, `set` (Host API commands) |
//! | [`settings`] | `show`, `update` |
//! | [`audit`] | `read`, `verify` (the audit log) |
//! | [`cas`] | `list`, `show`, `create`, `crl` (over the [`pki::Pki`] engine) |
//! | [`certificates`] | `list`, `show`, `issue`, `revoke`, `export`, `import_chain` (over [`pki::Pki`]) |
//! | [`keys`] | `list`, `create`, `csr`, `import_pkcs12` (over [`pki::Pki`] and the key vault) |
//! | [`listeners`] | `csr`, `load_chain` (over [`pki::Pki`]) |
//! | [`requests`] | `upload`, `show`, `list`, `approve`, `deny` (signing requests) |
//! | [`releases`] | `open`, `show`, `list`, `approve`, `deny` (one decision for many files) |

pub mod audit;
pub mod auth;
pub mod authorize;
pub mod cache;
pub mod cas;
pub mod certificates;
pub mod commands;
pub mod failures;
pub mod groups;
pub mod identities;
pub mod keys;
pub mod listeners;
pub mod openpgp;
pub mod operations;
pub mod pki;
pub mod policies;
pub mod releases;
pub mod requests;
pub mod roles;
pub mod session;
pub mod settings;
pub mod signing;
pub mod slots;
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
    /// Something failed inside the server. `Display` shows only the correlation id: the
    /// detail is logged, with the same id, where each listener maps its errors.
    #[error("{0}")]
    Internal(Internal),
}

/// An internal failure: what the log gets (the detail) and what the peer gets (the id).
#[derive(Debug)]
pub struct Internal {
    /// A short random id that ties the peer's answer to the log line.
    id: String,
    /// What failed, for the log only.
    detail: String,
}

impl Internal {
    /// The correlation id shown to the peer and logged with the detail.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What failed: for the server's log only, never for a peer.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "internal server error (id {}): the details are in the server's log",
            self.id
        )
    }
}

impl ServiceError {
    /// A refusal with `code`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
        }
    }

    /// An internal failure with `detail` (logged by the listener) and a fresh correlation id.
    pub fn internal(detail: impl Into<String>) -> Self {
        let id: [u8; 4] = rand::random();
        Self::Internal(Internal {
            id: hex::encode(id),
            detail: detail.into(),
        })
    }

    /// Logs an internal failure's detail with its id (once per answer, by each listener's
    /// error mapping); other errors are the caller's and are not logged here.
    pub(crate) fn log_internal(&self, interface: &str) {
        if let Self::Internal(internal) = self {
            tracing::error!(
                id = %internal.id,
                interface,
                detail = %internal.detail,
                "internal server error"
            );
        }
    }

    /// The message for the server's operator (a local command, never a peer): an internal
    /// failure's detail, else the peer's message.
    pub fn for_operator(&self) -> String {
        match self {
            Self::Internal(internal) => format!("internal server error: {}", internal.detail),
            other => other.to_string(),
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
            other => Self::internal(format!("store failure: {}", other.log_detail())),
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
            other => Self::internal(format!("key backend failure: {other}")),
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
            other => Self::internal(format!("server failure: {other}")),
        }
    }
}
