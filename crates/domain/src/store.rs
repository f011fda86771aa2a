//! The storage interface the server uses; `sigil-store` implements it for SQLite and
//! PostgreSQL.
//!
//! Writes go through one call, [`Store::commit`]: a list of [`Change`]s and the audit event
//! that describes them, applied **in one transaction**. The store computes the event's chain
//! hash inside that transaction from the current head, so the audit log order is the commit
//! order, and if the audit write fails nothing changes. [`Store::commit_events`] does the same
//! with several events (one transaction, events chained in order). Reads are plain methods.
//!
//! The trait returns boxed futures rather than using `async fn` so that it is object-safe: the
//! server holds an `Arc<dyn Store>` chosen at run time from the configuration (SQLite or
//! PostgreSQL) without making every service generic over the backend; the allocation per call
//! is negligible next to a database round trip.

use std::future::Future;
use std::pin::Pin;

use crate::audit::{AuditDraft, AuditEvent, ChainHead};
use crate::group::ApprovalGroup;
use crate::identity::{ApiKeyId, ApiKeyRecord, Identity, LoginStateChange};
use crate::names::{CaName, GroupName, IdentityName, PolicyAlias, RoleName};
use crate::permission::Interface;
use crate::pki::{
    CaRecord, CertificateRecord, KeyId, ListenerChain, Revocation, SealedKey, SerialNumber,
};
use crate::policy::IssuancePolicy;
use crate::release::{Release, ReleaseId};
use crate::request::{RequestId, RequestStatus, SigningRequest};
use crate::role::Role;
use crate::session::SessionRecord;
use crate::settings::{CommandCode, EnabledCommands, Settings};

/// A boxed, sendable future (what the object-safe [`Store`] methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most rows one list or range read returns.
pub const MAX_PAGE: u32 = 1000;

/// A storage failure. `Database` carries detail for the server log; its `Display` does not,
/// so it is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record to change does not exist.
    #[error("{what} {key} does not exist")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// A uniqueness rule, a reference between records, or a concurrent update got in the way.
    #[error("{what}")]
    Conflict {
        /// What conflicts, phrased for the user (e.g. "identity alice already exists").
        what: String,
    },
    /// The store is not configured correctly (e.g. an unsupported database URL).
    #[error("storage is misconfigured: {what}")]
    Config {
        /// What to fix.
        what: String,
    },
    /// The database failed or stored data could not be read.
    #[error("storage failed while {operation}: see the server log for details")]
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// The driver's message (for logs only: may contain SQL).
        detail: String,
    },
}

impl StoreError {
    /// Text for the server log, with the detail that `Display` leaves out.
    pub fn log_detail(&self) -> String {
        match self {
            Self::Database { operation, detail } => format!("{operation}: {detail}"),
            other => other.to_string(),
        }
    }
}

/// One change to persist. Every change is part of a [`Store::commit`] with its audit event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// Add an identity (conflict if the name exists).
    CreateIdentity(Box<Identity>),
    /// Replace an identity's fields and roles (not found if missing).
    UpdateIdentity(Box<Identity>),
    /// Remove an identity, its API keys and group memberships.
    DeleteIdentity(IdentityName),
    /// Apply a login's effect on the failure counter, atomically in SQL.
    RecordLogin {
        /// The identity.
        identity: IdentityName,
        /// The change [`crate::identity::decide_login`] asked for.
        change: LoginStateChange,
    },
    /// Add an API key.
    AddApiKey(ApiKeyRecord),
    /// Remove an API key.
    DeleteApiKey(ApiKeyId),
    /// Add a role (conflict if the name exists).
    CreateRole(Role),
    /// Replace a role.
    UpdateRole(Role),
    /// Remove a role (conflict while an identity holds it).
    DeleteRole(RoleName),
    /// Add an approval group (members must exist).
    CreateGroup(ApprovalGroup),
    /// Replace a group's members.
    UpdateGroup(ApprovalGroup),
    /// Remove a group (conflict while a policy names it).
    DeleteGroup(GroupName),
    /// Add a policy (conflict if the alias exists; key, certificate and group must exist).
    CreatePolicy(Box<IssuancePolicy>),
    /// Replace a policy.
    UpdatePolicy(Box<IssuancePolicy>),
    /// Remove a policy (conflict while requests refer to it).
    DeletePolicy(PolicyAlias),
    /// Add a signing request.
    CreateRequest(Box<SigningRequest>),
    /// Store a request's new state. Fails with a conflict when the stored revision differs from
    /// the request's [`SigningRequest::revision`] (someone else changed it first: reload and
    /// retry); on success the stored revision is one higher.
    UpdateRequest(Box<SigningRequest>),
    /// Add a release (conflict if the id exists; the policy must exist).
    CreateRelease(Box<Release>),
    /// Store a release's new state, with the same revision check as
    /// [`Change::UpdateRequest`].
    UpdateRelease(Box<Release>),
    /// Replace the settings.
    PutSettings(Settings),
    /// Enable or disable a Host API command.
    SetCommandEnabled {
        /// The command.
        code: CommandCode,
        /// Enabled?
        enabled: bool,
    },
    /// Add a sealed key.
    AddSealedKey(Box<SealedKey>),
    /// Add a CA container.
    CreateCa(Box<CaRecord>),
    /// Move a CA's counters forward (they never go back).
    UpdateCaCounters {
        /// The CA.
        name: CaName,
        /// Next serial number.
        next_serial: u64,
        /// Next CRL number.
        next_crl_number: u64,
    },
    /// Add a certificate (conflict if the serial exists).
    AddCertificate(Box<CertificateRecord>),
    /// Revoke a certificate (conflict if already revoked).
    RevokeCertificate {
        /// Its serial.
        serial: SerialNumber,
        /// When and why.
        revocation: Revocation,
    },
    /// Set a listener's certificate chain.
    PutListenerChain {
        /// Which listener.
        interface: Interface,
        /// Its chain.
        chain: ListenerChain,
    },
    /// Set one node's own listener chain (a node joined with its own names).
    PutNodeListenerChain {
        /// The node id (from the node's `sigil.toml`).
        node: String,
        /// Which listener.
        interface: Interface,
        /// Its chain.
        chain: ListenerChain,
    },
    /// Replace the custody record (opaque JSON from `sigil-custody`).
    PutCustodyRecord(String),
    /// Record the deployment this database belongs to (conflict if one is recorded).
    SetDeploymentId(String),
}

/// Filters for [`Store::list_requests`]. Results are newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this state.
    pub state: Option<RequestStatus>,
    /// Only this requester.
    pub requester: Option<IdentityName>,
    /// Only this policy.
    pub policy: Option<PolicyAlias>,
    /// At most this many (capped at [`MAX_PAGE`]; 0 means [`MAX_PAGE`]).
    pub limit: u32,
}

/// Result type of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Persistent state of a Sigil deployment.
pub trait Store: Send + Sync {
    /// Applies `changes` and appends `audit`, all in one transaction, and returns the stored
    /// event. With no changes it only appends the event (logins, refusals, reads worth
    /// auditing). If any change fails, nothing is written, not even the event.
    fn commit(
        &self,
        changes: Vec<Change>,
        audit: AuditDraft,
    ) -> BoxFuture<'_, StoreResult<AuditEvent>>;

    /// Like [`commit`](Self::commit), with several audit events: applies `changes` and appends
    /// every event of `audits`, chained in that order right after each other, all in one
    /// transaction (one fsync). For a step that is two transitions at once, e.g. a request
    /// created and signed together, each with its own event. Returns the stored events in
    /// order. `audits` must not be empty ([`StoreError::Config`] otherwise, nothing written).
    fn commit_events(
        &self,
        changes: Vec<Change>,
        audits: Vec<AuditDraft>,
    ) -> BoxFuture<'_, StoreResult<Vec<AuditEvent>>>;

    /// An identity by name.
    fn get_identity<'a>(
        &'a self,
        name: &'a IdentityName,
    ) -> BoxFuture<'a, StoreResult<Option<Identity>>>;
    /// All identities, by name.
    fn list_identities(&self) -> BoxFuture<'_, StoreResult<Vec<Identity>>>;
    /// An API key by id.
    fn get_api_key<'a>(
        &'a self,
        id: &'a ApiKeyId,
    ) -> BoxFuture<'a, StoreResult<Option<ApiKeyRecord>>>;
    /// The API keys of an identity.
    fn list_api_keys<'a>(
        &'a self,
        identity: &'a IdentityName,
    ) -> BoxFuture<'a, StoreResult<Vec<ApiKeyRecord>>>;

    /// A role by name.
    fn get_role<'a>(&'a self, name: &'a RoleName) -> BoxFuture<'a, StoreResult<Option<Role>>>;
    /// All roles, by name.
    fn list_roles(&self) -> BoxFuture<'_, StoreResult<Vec<Role>>>;

    /// An approval group by name.
    fn get_group<'a>(
        &'a self,
        name: &'a GroupName,
    ) -> BoxFuture<'a, StoreResult<Option<ApprovalGroup>>>;
    /// All approval groups, by name.
    fn list_groups(&self) -> BoxFuture<'_, StoreResult<Vec<ApprovalGroup>>>;

    /// A policy by alias.
    fn get_policy<'a>(
        &'a self,
        alias: &'a PolicyAlias,
    ) -> BoxFuture<'a, StoreResult<Option<IssuancePolicy>>>;
    /// All policies, by alias.
    fn list_policies(&self) -> BoxFuture<'_, StoreResult<Vec<IssuancePolicy>>>;

    /// A signing request by id (with its current revision).
    fn get_request(&self, id: RequestId) -> BoxFuture<'_, StoreResult<Option<SigningRequest>>>;
    /// Signing requests matching `filter`, newest first.
    fn list_requests<'a>(
        &'a self,
        filter: &'a RequestFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<SigningRequest>>>;

    /// A release by id (with its current revision).
    fn get_release(&self, id: ReleaseId) -> BoxFuture<'_, StoreResult<Option<Release>>>;
    /// Releases matching `filter` (state, requester, policy, limit), newest first.
    fn list_releases<'a>(
        &'a self,
        filter: &'a RequestFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<Release>>>;
    /// The requests of a release, in upload order.
    fn list_release_requests(
        &self,
        id: ReleaseId,
    ) -> BoxFuture<'_, StoreResult<Vec<SigningRequest>>>;

    /// The settings (defaults for keys never written).
    fn settings(&self) -> BoxFuture<'_, StoreResult<Settings>>;
    /// The enabled Host API commands.
    fn enabled_commands(&self) -> BoxFuture<'_, StoreResult<EnabledCommands>>;

    /// A sealed key by id.
    fn get_sealed_key(&self, id: KeyId) -> BoxFuture<'_, StoreResult<Option<SealedKey>>>;
    /// All sealed keys (without caring for order).
    fn list_sealed_keys(&self) -> BoxFuture<'_, StoreResult<Vec<SealedKey>>>;
    /// A CA container by name.
    fn get_ca<'a>(&'a self, name: &'a CaName) -> BoxFuture<'a, StoreResult<Option<CaRecord>>>;
    /// All CA containers, by name.
    fn list_cas(&self) -> BoxFuture<'_, StoreResult<Vec<CaRecord>>>;
    /// A certificate by serial.
    fn get_certificate<'a>(
        &'a self,
        serial: &'a SerialNumber,
    ) -> BoxFuture<'a, StoreResult<Option<CertificateRecord>>>;
    /// Certificates issued by `issuer` (all when `None`), by serial.
    fn list_certificates<'a>(
        &'a self,
        issuer: Option<&'a CaName>,
    ) -> BoxFuture<'a, StoreResult<Vec<CertificateRecord>>>;
    /// A listener's chain.
    fn get_listener_chain(
        &self,
        interface: Interface,
    ) -> BoxFuture<'_, StoreResult<Option<ListenerChain>>>;
    /// One node's own listener chain (`None`: the node serves the deployment's).
    fn get_node_listener_chain<'a>(
        &'a self,
        node: &'a str,
        interface: Interface,
    ) -> BoxFuture<'a, StoreResult<Option<ListenerChain>>>;
    /// The custody record.
    fn custody_record(&self) -> BoxFuture<'_, StoreResult<Option<String>>>;

    /// Up to `limit` (capped at [`MAX_PAGE`]) audit events with sequence number ≥ `from_seq`,
    /// in order.
    fn read_audit(&self, from_seq: u64, limit: u32) -> BoxFuture<'_, StoreResult<Vec<AuditEvent>>>;
    /// The stored chain head.
    fn audit_head(&self) -> BoxFuture<'_, StoreResult<ChainHead>>;

    /// The deployment this database belongs to (`None` before `init` recorded one).
    fn deployment_id(&self) -> BoxFuture<'_, StoreResult<Option<String>>>;

    // HTTPS sessions, shared by every node. They are not audited (logins and logouts are, by
    // the server) and do not go through `commit`: a session write never waits for, or
    // orders, the audit chain. `key` is the SHA-256 of the bearer token; times are Unix ns.

    /// Stores a new session unless `max` sessions used at or after `idle_since` exist; first
    /// deletes the sessions idle since before `idle_since`. False when the limit is reached.
    fn create_session<'a>(
        &'a self,
        key: &'a [u8; 32],
        record: &'a SessionRecord,
        now_ns: i64,
        idle_since: i64,
        max: u32,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// A session and when it was last used.
    fn get_session<'a>(
        &'a self,
        key: &'a [u8; 32],
    ) -> BoxFuture<'a, StoreResult<Option<(SessionRecord, i64)>>>;
    /// Replaces a session's record (when `record` is given) and marks it used at `now_ns`.
    /// False when it no longer exists.
    fn update_session<'a>(
        &'a self,
        key: &'a [u8; 32],
        record: Option<&'a SessionRecord>,
        now_ns: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Deletes a session; false when there was none.
    fn delete_session<'a>(&'a self, key: &'a [u8; 32]) -> BoxFuture<'a, StoreResult<bool>>;
}
