//! The JSON error body: `{"error":{"code":"<ERROR_CODE>","message":"..."}}`.

use serde::{Deserialize, Serialize};

/// The body of every JSON error answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"error": {"code": "NOT_PERMITTED", "message": "this needs permission admin:roles, which the session does not have: log in the identities holding it on this session"}})))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A stable code: a Host API error code mnemonic (`NOT_PERMITTED`, `AUTH_FAILED`, …, see
    /// `docs/host-api.md`) or one of the generic `INVALID`, `NOT_FOUND`, `CONFLICT`.
    pub code: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
}
