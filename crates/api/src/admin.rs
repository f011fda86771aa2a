//! Administration: roles, approval groups, policies, Host API commands, settings, the audit check.

use serde::{Deserialize, Serialize};

/// `POST /roles` and `PUT /roles/{name}` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// The role name (`POST`; optional on `PUT`, where it must equal the URL's).
    #[serde(default)]
    pub name: Option<String>,
    /// `administrator`, `application` or `approver`.
    #[serde(rename = "type")]
    pub role_type: String,
    /// `principal` (the default).
    #[serde(default)]
    pub class: Option<String>,
    /// Distinct identities holding the role that must log in on one session before it grants its permissions (1–8).
    pub logins_required: u32,
    /// Permissions such as `admin:roles`, `ca:issue`, `signing:approve` (see docs/https-api.md).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Where the role may log in: `host-api`, `https`.
    pub interfaces: Vec<String>,
}

/// One Host API command.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct CommandView {
    pub code: String,
    pub enabled: bool,
}

/// `PUT /commands/{code}` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// Whether the Host API accepts the command.
    pub enabled: bool,
}

/// `PUT /settings` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// Whether a key may be exported as a password-protected PKCS#12.
    #[serde(default)]
    pub allow_export_with_password: Option<bool>,
    /// Consecutive failed logins that lock an identity (1–100).
    #[serde(default)]
    pub lockout_threshold: Option<u32>,
    /// Serial of the time-stamping certificate; an empty string disables the TSA.
    #[serde(default)]
    pub timestamp_certificate: Option<String>,
}

/// `POST /groups` and `PUT /groups/{name}` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// The group name (`POST`; optional on `PUT`, where it must equal the URL's).
    #[serde(default)]
    pub name: Option<String>,
    /// Names of existing identities (at most 256).
    pub members: Vec<String>,
}

/// `POST /policies` body.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// The policy alias (`POST`; optional on `PUT`, where it must equal the URL's).
    #[serde(default)]
    pub alias: Option<String>,
    /// Serial (hex) of a `code-signing` certificate whose key Sigil holds, not revoked or expired.
    pub certificate: String,
    /// `pkcs1v15` (the default) or `pss`.
    #[serde(default)]
    pub rsa_scheme: Option<String>,
    /// Approvals before a request is signed (0 signs at once; at most 16).
    pub approvals_required: u32,
    /// The group whose members approve (required when `approvals_required` > 0).
    #[serde(default)]
    pub approval_group: Option<String>,
    /// Allowed hashes: `sha256`, `sha384`, `sha512`.
    pub hashes: Vec<String>,
    /// Allowed formats: `hash`, `authenticode`, `jar`.
    pub formats: Vec<String>,
    /// How long a request waits for approval (60 s to 30 days).
    pub request_lifetime_secs: u32,
    /// Roles whose sessions may submit under the policy.
    pub roles: Vec<String>,
    /// Every signature carries an RFC 3161 time-stamp from Sigil's TSA.
    #[serde(default)]
    pub timestamp_required: bool,
}

/// A chain break.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct BreakView {
    pub seq: u64,
    pub kind: String,
    pub message: String,
}

/// `GET /audit/verify` answer.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct VerifyView {
    pub ok: bool,
    pub events: u64,
    pub head_seq: u64,
    #[serde(rename = "break", skip_serializing_if = "Option::is_none")]
    pub broken: Option<BreakView>,
}

/// A role; `type` as in the contract.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct RoleView {
    pub name: String,
    /// `administrator`, `application` or `approver`.
    #[serde(rename = "type")]
    pub role_type: String,
    pub class: String,
    /// Distinct identities holding the role that must log in on one session.
    pub logins_required: u32,
    pub permissions: Vec<String>,
    pub interfaces: Vec<String>,
}

/// An approval group.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct GroupView {
    pub name: String,
    pub members: Vec<String>,
}

/// An issuance policy.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Some fields are undocumented: a doc comment would change the OpenAPI schema.
#[allow(missing_docs)]
pub struct PolicyView {
    pub alias: String,
    pub certificate: String,
    /// The key of `certificate`.
    pub key_id: String,
    pub rsa_scheme: String,
    pub approvals_required: u32,
    pub approval_group: Option<String>,
    pub hashes: Vec<String>,
    pub formats: Vec<String>,
    /// How long a request waits for approval.
    pub request_lifetime_secs: u32,
    pub roles: Vec<String>,
    pub timestamp_required: bool,
}
