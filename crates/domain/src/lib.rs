//! # sigil-domain: the rules of Sigil
//!
//! Everything Sigil decides, as pure synchronous code: no I/O, no clock reads (time is an
//! argument), randomness only from a caller-supplied RNG. The server gathers the facts (the
//! identity record, the policy, the session), asks this crate, and persists what it decided
//! through the [`Store`] trait, which `sigil-store` implements for SQLite and PostgreSQL.
//!
//! | module | rules |
//! |---|---|
//! | [`permission`] | `area:action` permissions, interfaces |
//! | [`role`] | roles with logins-required (dual control) |
//! | [`identity`] | identities, argon2id passwords, API keys, lockout, the login decision |
//! | [`session`] | distinct logins on a session and its effective permissions |
//! | [`group`], [`policy`] | approval groups, issuance policies, the upload check |
//! | [`metadata`] | what a client tells approvers about an artifact, and its limits |
//! | [`request`] | signing-request lifecycle and quorum |
//! | [`audit`] | audit events, the hash chain, its verification |
//! | [`settings`], [`pki`] | settings, Host API command codes, PKI records |
//! | [`store`] | the storage trait |
//!
//! ```
//! use sigil_domain::*;
//! use time::OffsetDateTime;
//!
//! // An administrator role needing two distinct logins.
//! let admin = Role::new(RoleDraft {
//!     name: RoleName::new("administrator")?,
//!     role_type: RoleType::Administrator,
//!     class: RoleClass::Principal,
//!     logins_required: 2,
//!     permissions: [Permission::AdminRoles].into_iter().collect(),
//!     interfaces: [Interface::Https].into_iter().collect(),
//! })?;
//! let mut alice = Identity::new(IdentityName::new("alice")?, IdentityKind::Person);
//! let mut bob = Identity::new(IdentityName::new("bob")?, IdentityKind::Person);
//! alice.roles.insert(admin.name().clone());
//! bob.roles.insert(admin.name().clone());
//!
//! let roles = [admin];
//! let mut session = Session::new(Interface::Https);
//! assert_eq!(session.login(&alice, &roles)?.logins_still_required(), 1);
//! assert!(!session.has(Permission::AdminRoles));
//! assert_eq!(session.login(&bob, &roles)?.logins_still_required(), 0);
//! assert!(session.has(Permission::AdminRoles));
//!
//! // Every change is recorded in the hash-chained audit log.
//! let event = AuditDraft::new(OffsetDateTime::UNIX_EPOCH, "login", Outcome::Success)
//!     .identity("bob")
//!     .seal(&ChainHead::GENESIS);
//! assert_eq!(verify_chain(ChainHead::GENESIS, [&event], Some(&event.head()))?, event.head());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod serde_hex;
mod strenum;
mod text;

pub mod audit;
pub mod failures;
pub mod group;
pub mod identity;
pub mod lockout;
pub mod metadata;
pub mod names;
pub mod permission;
pub mod pki;
pub mod policy;
pub mod release;
pub mod request;
pub mod role;
pub mod session;
pub mod settings;
pub mod store;

pub use audit::{
    AuditDraft, AuditEvent, BreakKind, ChainBreak, ChainHead, ChainVerifier, Outcome, event_hash,
    verify_chain,
};
pub use failures::{FailureLimitPolicy, FailureLimiter, ThrottledWindow};
pub use group::ApprovalGroup;
pub use identity::{
    ApiKeyId, ApiKeyRecord, CredentialError, Identity, IdentityKind, LoginAttempt, LoginDecision,
    LoginRefusal, LoginStateChange, NewApiKey, PasswordHash, PasswordParams, Secret, api_key_id,
    decide_login, generate_api_key, hash_password, verify_password,
};
pub use lockout::{
    AddressThrottle, LockoutPolicy, RefusalAudit, RefusalAuditPolicy, RefusalBudget,
};
pub use names::{CaName, GroupName, IdentityName, NameError, PolicyAlias, RoleName};
pub use permission::{Interface, Permission};
pub use pki::{
    CaRecord, CertProfile, CertificateIssuer, CertificateRecord, ExternalIssuer, HSM_LABEL_MAX_LEN,
    KeyId, KeyLocation, ListenerChain, Revocation, RevocationReason, SOFTWARE_BACKEND, SealedKey,
    SerialNumber,
};
pub use policy::{
    CheckedUpload, HashAlgorithm, IssuancePolicy, PolicyDraft, PolicyError, RsaScheme,
    SigningFormat, Upload, UploadError, check_upload, parse_hash,
};
pub use release::{
    RELEASE_MAX_FILES, Release, ReleaseError, ReleaseId, ReleaseMetadata, ReleaseState,
};
pub use request::{
    Approval, ApprovalProgress, AuthenticodeSubject, MetadataError, MetadataField, RequestError,
    RequestId, RequestMetadata, RequestState, RequestStatus, SigningRequest,
};
pub use role::{Role, RoleClass, RoleDraft, RoleError, RoleType, builtin_roles};
pub use session::{
    Dropped, LoginProgress, PendingRole, Revalidation, Session, SessionFull, SessionRecord,
};
pub use settings::{CommandCode, EnabledCommands, Settings};
pub use store::{BoxFuture, Change, RequestFilter, Store, StoreError, StoreResult};
pub use strenum::UnknownValue;

/// A random (version 4) UUID from `rng`.
pub(crate) fn random_uuid<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A time-ordered (version 7) UUID: the current millisecond, then 74 random bits from `rng`.
///
/// For the ids of records created at a high rate (signing requests, releases): ids made close
/// in time land next to each other in the primary-key index, so a batch of inserts changes a
/// page or two of it instead of one random page per row. The millisecond comes from the clock
/// itself, not from the record's creation time (whole seconds): within a second the ids would
/// be random again. Still unguessable: 74 random bits.
pub(crate) fn time_ordered_uuid<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> uuid::Uuid {
    let mut random = [0u8; 10];
    rng.fill_bytes(&mut random);
    // A clock before 1970 still gives a valid id, just not an ordered one.
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
