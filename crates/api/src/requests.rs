//! Signing requests: how they are shown, approved and denied.

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

/// One approval.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct ApprovalView {
    pub approver: String,
    pub at: String,
    pub comment: String,
}

/// What a client tells approvers about the artifact. All optional, all bounded.
// The server's `sigil_domain::RequestMetadata` as the API shows it (a server test keeps the
// two serialising alike). Not in the doc comment, which is the OpenAPI schema's description;
// same name and schema as the domain type, which `POST /requests` still reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestMetadata {
    /// File name.
    pub file_name: Option<String>,
    /// File size in bytes.
    pub file_size: Option<u64>,
    /// Build URL.
    pub build_url: Option<String>,
    /// Source commit.
    pub commit: Option<String>,
    /// Free-form description.
    pub description: Option<String>,
    /// Program name.
    pub program_name: Option<String>,
    /// Program URL.
    pub program_url: Option<String>,
    /// Entries in a JAR.
    pub entry_count: Option<u32>,
    /// JAR signer name.
    pub signer_name: Option<String>,
    /// Authenticode: what is signed (absent: a PE image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^(pe|msi|cab|script|catalog)$"))]
    pub subject: Option<String>,
    /// OpenPGP: the signature creation time the client hashed (seconds since 1970).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openpgp_created: Option<u32>,
}

/// A signing request as approvers and requesters see it.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct RequestView {
    pub id: String,
    /// `pending`, `approved`, `signed`, `denied`, `expired` or `failed`.
    pub state: String,
    pub policy: String,
    pub format: String,
    pub hash: String,
    /// The digest to sign, hex.
    pub digest: String,
    pub metadata: RequestMetadata,
    pub requester: String,
    pub created: String,
    pub expires: String,
    /// Seconds since `created`.
    pub age_secs: i64,
    pub approvals_required: u32,
    /// The group whose members approve.
    pub approval_group: Option<String>,
    pub approvals: Vec<ApprovalView>,
    /// Who denied it (for a denied request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<String>,
    /// The denial or failure reason.
    pub reason: Option<String>,
    /// When it reached its current state (not for pending requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_at: Option<String>,
    /// The signature (raw) or signature block (PKCS#7 DER), hex, once signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Hash format under a policy that requires time-stamps: the DER `TimeStampResp` over
    /// `result`, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The release the request belongs to (`null` for a request on its own).
    pub release_id: Option<String>,
}
