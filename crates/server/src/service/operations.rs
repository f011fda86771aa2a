//! The catalogue of operations the HTTPS API offers: for each route, the action its audit
//! events carry and what the caller's session needs ([`Need`]).
//!
//! A use case declares its own `OPERATION` in its module (`service/policies/create.rs`, …);
//! the entries here refer to those, so each is declared once. Only the operations that have
//! no use-case module of their own (health, login, logout, the session, time-stamps) are
//! declared here.
//!
//! The HTTPS router attaches one entry to every route and checks it before the handler reads
//! the request (`https/authorize.rs`); the use case checks it again with
//! [`authorize`](super::authorize::authorize), so it is safe whoever calls it. The Host API's
//! commands have their own table (`hostapi::dispatch::requirement`) in the same [`Need`] type.

use super::authorize::{Need, Operation};

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
pub const IDENTITY_LIST: Operation = super::identities::list::OPERATION;
/// Show one identity.
pub const IDENTITY_SHOW: Operation = super::identities::show::OPERATION;
/// Create an identity.
pub const IDENTITY_CREATE: Operation = super::identities::create::OPERATION;
/// Change an identity.
pub const IDENTITY_UPDATE: Operation = super::identities::update::OPERATION;
/// Delete an identity.
pub const IDENTITY_DELETE: Operation = super::identities::delete::OPERATION;
/// Unlock an identity locked by failed logins.
pub const IDENTITY_UNLOCK: Operation = super::identities::unlock::OPERATION;
/// Set or generate an identity's password.
pub const IDENTITY_PASSWORD: Operation = super::identities::set_password::OPERATION;
/// Create an API key for an identity.
pub const IDENTITY_API_KEY: Operation = super::identities::create_api_key::OPERATION;

/// List roles (and show one).
pub const ROLE_LIST: Operation = super::roles::list::OPERATION;
/// Create a role.
pub const ROLE_CREATE: Operation = super::roles::create::OPERATION;
/// Change a role.
pub const ROLE_UPDATE: Operation = super::roles::update::OPERATION;
/// Delete a role.
pub const ROLE_DELETE: Operation = super::roles::delete::OPERATION;

/// List the Host API commands and whether each is enabled.
pub const COMMAND_LIST: Operation = super::commands::list::OPERATION;
/// Enable or disable a Host API command.
pub const COMMAND_SET: Operation = super::commands::set::OPERATION;

/// Show the global settings.
pub const SETTINGS_SHOW: Operation = super::settings::show::OPERATION;
/// Change the global settings.
pub const SETTINGS_UPDATE: Operation = super::settings::update::OPERATION;

/// List approval groups (and show one).
pub const GROUP_LIST: Operation = super::groups::list::OPERATION;
/// Create an approval group.
pub const GROUP_CREATE: Operation = super::groups::create::OPERATION;
/// Change an approval group.
pub const GROUP_UPDATE: Operation = super::groups::update::OPERATION;
/// Delete an approval group.
pub const GROUP_DELETE: Operation = super::groups::delete::OPERATION;

/// List issuance policies.
pub const POLICY_LIST: Operation = super::policies::list::OPERATION;
/// Show one issuance policy.
pub const POLICY_SHOW: Operation = super::policies::show::OPERATION;
/// Create an issuance policy.
pub const POLICY_CREATE: Operation = super::policies::create::OPERATION;
/// Change an issuance policy.
pub const POLICY_UPDATE: Operation = super::policies::update::OPERATION;
/// Delete an issuance policy.
pub const POLICY_DELETE: Operation = super::policies::delete::OPERATION;

/// Read the audit log.
pub const AUDIT_READ: Operation = super::audit::read::OPERATION;
/// Verify the audit chain.
pub const AUDIT_VERIFY: Operation = super::audit::verify::OPERATION;

/// List CAs.
pub const CA_LIST: Operation = super::cas::list::OPERATION;
/// Show one CA.
pub const CA_SHOW: Operation = super::cas::show::OPERATION;
/// Create a CA.
pub const CA_CREATE: Operation = super::cas::create::OPERATION;
/// Issue a CA's CRL.
pub const CA_CRL: Operation = super::cas::crl::OPERATION;

/// List certificates.
pub const CERTIFICATE_LIST: Operation = super::certificates::list::OPERATION;
/// Show one certificate.
pub const CERTIFICATE_SHOW: Operation = super::certificates::show::OPERATION;
/// Issue a certificate (with a new key, `keys:add` as well: checked by the service).
pub const CERTIFICATE_ISSUE: Operation = super::certificates::issue::OPERATION;
/// Revoke a certificate.
pub const CERTIFICATE_REVOKE: Operation = super::certificates::revoke::OPERATION;
/// Export a certificate with its private key as PKCS#12.
pub const CERTIFICATE_EXPORT: Operation = super::certificates::export::OPERATION;
/// Import a certificate chain for a held key.
pub const CERTIFICATE_IMPORT: Operation = super::certificates::import_chain::OPERATION;

/// List held keys.
pub const KEY_LIST: Operation = super::keys::list::OPERATION;
/// Create a key.
pub const KEY_CREATE: Operation = super::keys::create::OPERATION;
/// Make a CSR for a held key.
pub const KEY_CSR: Operation = super::keys::csr::OPERATION;
/// Import a key and its chain from a PKCS#12 file.
pub const KEY_IMPORT: Operation = super::keys::import_pkcs12::OPERATION;

/// Make a CSR for a listener's key.
pub const LISTENER_CSR: Operation = super::listeners::csr::OPERATION;
/// Load a listener's certificate chain.
pub const LISTENER_CHAIN: Operation = super::listeners::load_chain::OPERATION;

/// Submit a signing request.
pub const REQUEST_CREATE: Operation = super::requests::upload::OPERATION;
/// List signing requests (one's own; every one with `signing:read-all` or `signing:approve`).
pub const REQUEST_LIST: Operation = super::requests::list::OPERATION;
/// Show one signing request (the same visibility).
pub const REQUEST_SHOW: Operation = super::requests::show::OPERATION;
/// Approve a signing request (as a member of its approval group).
pub const REQUEST_APPROVE: Operation = super::requests::approve::OPERATION;
/// Deny a signing request (as a member of its approval group).
pub const REQUEST_DENY: Operation = super::requests::deny::OPERATION;

/// List releases (the same visibility as requests).
pub const RELEASE_LIST: Operation = super::releases::list::OPERATION;
/// Show one release.
pub const RELEASE_SHOW: Operation = super::releases::show::OPERATION;
/// Approve a release (as a member of its approval group).
pub const RELEASE_APPROVE: Operation = super::releases::approve::OPERATION;
/// Deny a release (as a member of its approval group).
pub const RELEASE_DENY: Operation = super::releases::deny::OPERATION;
