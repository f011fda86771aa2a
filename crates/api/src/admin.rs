//! Administration: roles, approval groups, policies, Host API commands, settings, the audit log.

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

/// Global settings. Stored as one row per key so that adding a setting needs no migration; a
/// missing key takes its default.
// `GET /settings` and `PUT /settings` answer: the server's `sigil_domain::Settings` as the API
// shows it (a server test keeps the two serialising alike). Not in the doc comment, which is
// the OpenAPI schema's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    /// Whether a private key may be exported at all (as an encrypted PKCS#12, and only with
    /// `ca:export-clear-key`). Default **false**.
    pub allow_export_with_password: bool,
    /// Consecutive failed logins that lock an identity (1 to [`MAX_LOCKOUT_THRESHOLD`]).
    pub lockout_threshold: u32,
    /// Serial of the `timestamping` certificate (whose key Sigil holds) that signs RFC 3161
    /// time-stamp tokens at `POST /api/v1/timestamp`. `None` (the default) disables the TSA.
    #[serde(default)]
    pub timestamp_certificate: Option<String>,
}

/// Largest lockout threshold the server accepts (its `sigil_domain::MAX_LOCKOUT_THRESHOLD`).
pub const MAX_LOCKOUT_THRESHOLD: u32 = 100;

/// A chained event, as stored. Text fields hold exactly what was recorded (interface and
/// outcome as their stable strings), so that verification works on whatever is in the
/// database, even values a tamperer made unparsable.
// `GET /audit` answers a list of these: the server's `sigil_domain::AuditEvent` as the API
// shows it (a server test keeps the two serialising alike). Not in the doc comment, which is
// the OpenAPI schema's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub time: String,
    /// Who.
    pub identity: Option<String>,
    /// Peer address.
    pub source: Option<String>,
    /// Interface (`host-api`, `https`), if any.
    pub interface: Option<String>,
    /// Action.
    pub action: String,
    /// Object.
    pub object: Option<String>,
    /// Outcome (`success`, `failure`).
    pub outcome: String,
    /// Details.
    pub details: std::collections::BTreeMap<String, String>,
    /// Hash of the previous event (zeros for the first), hex.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub prev_hash: String,
    /// Hash of this event, hex.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub hash: String,
}
