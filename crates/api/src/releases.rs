//! Releases: how they are shown (approved and denied with [`crate::requests::CommentBody`]).

use serde::{Deserialize, Serialize};

use crate::requests::ApprovalView;

/// One file of a release.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct ReleaseFileView {
    /// The file's signing request.
    pub request_id: String,
    pub file_name: Option<String>,
    pub file_size: Option<u64>,
    pub format: String,
    pub hash: String,
    pub digest: String,
    /// The file's request state.
    pub state: String,
}

/// A release as approvers and requesters see it (field names as in the request view).
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct ReleaseView {
    pub id: String,
    /// A request state name: `pending` (also while files are still arriving), `approved`,
    /// `signed` (every file signed), `failed`, `denied`, `expired`.
    pub state: String,
    pub policy: String,
    pub requester: String,
    pub description: Option<String>,
    pub build_url: Option<String>,
    pub commit: Option<String>,
    pub created: String,
    pub expires: String,
    pub age_secs: i64,
    /// Files declared when the release was opened, and how many arrived.
    pub files_declared: u32,
    pub files_received: u32,
    pub approvals_required: u32,
    pub approval_group: Option<String>,
    pub approvals: Vec<ApprovalView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub files: Vec<ReleaseFileView>,
}
