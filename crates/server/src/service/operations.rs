//! The catalogue of operations the HTTPS API offers: for each, the action its audit events
//! carry and what the caller's session needs ([`Need`]), declared once.
//!
//! The HTTPS router attaches one to every route and checks it before the handler reads the
//! request (`https/authorize.rs`); the administration services check theirs again with
//! [`authorize`](super::authorize::authorize), so a service is safe whoever calls it. The Host
//! API's commands have their own table (`hostapi::dispatch::requirement`), in the same
//! [`Need`] type.

use sigil_domain::Permission as P;

use super::authorize::{Need, Operation};

/// An operation that needs one of `permissions`.
const fn any_of(action: &'static str, permissions: &'static [P]) -> Operation {
    Operation::new(action, Need::AnyOf(permissions))
}

/// An operation that needs a logged-in session and decides the rest from the record it reads.
const fn login(action: &'static str) -> Operation {
    Operation::new(action, Need::Login)
}

/// An operation anyone may call (health, logging in, time-stamps).
const fn open(action: &'static str) -> Operation {
    Operation::new(action, Need::Nothing)
}

/// `GET /health`, `GET /ready`, `GET /openapi.json`.
pub const HEALTH: Operation = open("health");
/// `POST /login` (also a second login on a session, for dual control).
pub const LOGIN: Operation = open("login");
/// `POST /logout`: the bearer token alone ends its session.
pub const LOGOUT: Operation = open("logout");
/// `GET /session`.
pub const SESSION_SHOW: Operation = login("session.show");
/// `POST /timestamp`: the RFC 3161 time-stamping authority.
pub const TIMESTAMP: Operation = open("timestamp");

/// List identities.
pub const IDENTITY_LIST: Operation = any_of("identity.list", &[P::AdminIdentities]);
/// Show one identity.
pub const IDENTITY_SHOW: Operation = any_of("identity.show", &[P::AdminIdentities]);
/// Create an identity.
pub const IDENTITY_CREATE: Operation = any_of("identity.create", &[P::AdminIdentities]);
/// Change an identity.
pub const IDENTITY_UPDATE: Operation = any_of("identity.update", &[P::AdminIdentities]);
/// Delete an identity.
pub const IDENTITY_DELETE: Operation = any_of("identity.delete", &[P::AdminIdentities]);
/// Unlock an identity locked by failed logins.
pub const IDENTITY_UNLOCK: Operation = any_of("identity.unlock", &[P::AdminIdentities]);
/// Set or generate an identity's password.
pub const IDENTITY_PASSWORD: Operation = any_of("identity.password", &[P::AdminIdentities]);
/// Create an API key for an identity.
pub const IDENTITY_API_KEY: Operation = any_of("identity.api-key", &[P::AdminIdentities]);

/// List roles (and show one).
pub const ROLE_LIST: Operation = any_of("role.list", &[P::AdminRoles]);
/// Create a role.
pub const ROLE_CREATE: Operation = any_of("role.create", &[P::AdminRoles]);
/// Change a role.
pub const ROLE_UPDATE: Operation = any_of("role.update", &[P::AdminRoles]);
/// Delete a role.
pub const ROLE_DELETE: Operation = any_of("role.delete", &[P::AdminRoles]);

/// List the Host API commands and whether each is enabled.
pub const COMMAND_LIST: Operation = any_of("command.list", &[P::AdminCommands]);
/// Enable or disable a Host API command.
pub const COMMAND_SET: Operation = any_of("command.set", &[P::AdminCommands]);

/// Show the global settings.
pub const SETTINGS_SHOW: Operation = any_of("settings.show", &[P::AdminSettings]);
/// Change the global settings.
pub const SETTINGS_UPDATE: Operation = any_of("settings.update", &[P::AdminSettings]);

/// List approval groups (and show one).
pub const GROUP_LIST: Operation = any_of("group.list", &[P::AdminGroups]);
/// Create an approval group.
pub const GROUP_CREATE: Operation = any_of("group.create", &[P::AdminGroups]);
/// Change an approval group.
pub const GROUP_UPDATE: Operation = any_of("group.update", &[P::AdminGroups]);
/// Delete an approval group.
pub const GROUP_DELETE: Operation = any_of("group.delete", &[P::AdminGroups]);

/// List issuance policies.
pub const POLICY_LIST: Operation = any_of("policy.list", &[P::AdminPolicies]);
/// Show one issuance policy.
pub const POLICY_SHOW: Operation = any_of("policy.show", &[P::AdminPolicies]);
/// Create an issuance policy.
pub const POLICY_CREATE: Operation = any_of("policy.create", &[P::AdminPolicies]);
/// Change an issuance policy.
pub const POLICY_UPDATE: Operation = any_of("policy.update", &[P::AdminPolicies]);
/// Delete an issuance policy.
pub const POLICY_DELETE: Operation = any_of("policy.delete", &[P::AdminPolicies]);

/// Read the audit log.
pub const AUDIT_READ: Operation = any_of("audit.read", &[P::AuditRead]);
/// Verify the audit chain.
pub const AUDIT_VERIFY: Operation = any_of("audit.verify", &[P::AuditRead]);

/// List CAs.
pub const CA_LIST: Operation = any_of("ca.list", &[P::CaList]);
/// Show one CA.
pub const CA_SHOW: Operation = any_of("ca.show", &[P::CaList]);
/// Create a CA.
pub const CA_CREATE: Operation = any_of("ca.create", &[P::CaAdd]);
/// Issue a CA's CRL.
pub const CA_CRL: Operation = any_of("ca.crl", &[P::CaExport]);

/// List certificates.
pub const CERTIFICATE_LIST: Operation = any_of("certificate.list", &[P::CaList]);
/// Show one certificate.
pub const CERTIFICATE_SHOW: Operation = any_of("certificate.show", &[P::CaList]);
/// Issue a certificate (with a new key, `keys:add` as well: checked by the service).
pub const CERTIFICATE_ISSUE: Operation = any_of("certificate.issue", &[P::CaIssue]);
/// Revoke a certificate.
pub const CERTIFICATE_REVOKE: Operation = any_of("certificate.revoke", &[P::CaRevoke]);
/// Export a certificate with its private key as PKCS#12.
pub const CERTIFICATE_EXPORT: Operation = any_of("certificate.export", &[P::CaExportClearKey]);
/// Import a certificate chain for a held key.
pub const CERTIFICATE_IMPORT: Operation = any_of("certificate.import", &[P::CaUpload]);

/// List held keys.
pub const KEY_LIST: Operation = any_of("key.list", &[P::CaList]);
/// Create a key.
pub const KEY_CREATE: Operation = any_of("key.create", &[P::KeysAdd]);
/// Make a CSR for a held key.
pub const KEY_CSR: Operation = any_of("key.csr", &[P::KeysAdd]);
/// Import a key and its chain from a PKCS#12 file.
pub const KEY_IMPORT: Operation =
    Operation::new("key.import", Need::AllOf(&[P::KeysAdd, P::CaUpload]));

/// Make a CSR for a listener's key.
pub const LISTENER_CSR: Operation = any_of("listener.csr", &[P::KeysAdd]);
/// Load a listener's certificate chain.
pub const LISTENER_CHAIN: Operation = any_of("listener.chain", &[P::CaUpload]);

/// Submit a signing request.
pub const REQUEST_CREATE: Operation = any_of("request.create", &[P::SigningRequest]);
/// List signing requests (one's own; every one with `signing:read-all` or `signing:approve`).
pub const REQUEST_LIST: Operation = login("request.list");
/// Show one signing request (the same visibility).
pub const REQUEST_SHOW: Operation = login("request.show");
/// Approve a signing request (as a member of its approval group).
pub const REQUEST_APPROVE: Operation = any_of("request.approve", &[P::SigningApprove]);
/// Deny a signing request (as a member of its approval group).
pub const REQUEST_DENY: Operation = any_of("request.deny", &[P::SigningApprove]);

/// List releases (the same visibility as requests).
pub const RELEASE_LIST: Operation = login("release.list");
/// Show one release.
pub const RELEASE_SHOW: Operation = login("release.show");
/// Approve a release (as a member of its approval group).
pub const RELEASE_APPROVE: Operation = any_of("release.approve", &[P::SigningApprove]);
/// Deny a release (as a member of its approval group).
pub const RELEASE_DENY: Operation = any_of("release.deny", &[P::SigningApprove]);
