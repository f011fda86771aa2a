//! Signing requests: approve and deny.

use serde::{Deserialize, Serialize};

/// `POST /requests/{id}/approve` and `/deny` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// Shown with the approval; required to deny (the reason the requester sees).
    #[serde(default)]
    pub comment: String,
    /// The identity of the session that acts (required when several could).
    #[serde(default, rename = "as")]
    pub as_identity: Option<String>,
}
