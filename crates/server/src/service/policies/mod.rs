//! Issuance policies (`admin:policies`): one module per use case, and what they share — the
//! argument type, validation against the store, and a policy's audit details.

pub mod create;
pub mod delete;
pub mod list;
pub mod show;
pub mod update;

use std::collections::BTreeSet;

use sigil_domain::{
    AuditDraft, CertProfile, GroupName, HashAlgorithm, IssuancePolicy, PolicyAlias, PolicyDraft,
    RoleName, RsaScheme, SerialNumber, SigningFormat,
};

use crate::service::ServiceError;
use crate::service::audit::join;
use crate::service::roles::check_roles_exist;
use crate::state::AppState;

/// A new issuance policy; the key comes from the certificate.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    /// Alias.
    pub alias: PolicyAlias,
    /// Serial of a code-signing certificate with a Sigil-held key.
    pub certificate: SerialNumber,
    /// RSA scheme.
    pub rsa_scheme: RsaScheme,
    /// Approvals required (0 = signed at once).
    pub approvals_required: u32,
    /// Approval group (required when approvals are).
    pub approval_group: Option<GroupName>,
    /// Allowed hashes (at least one).
    pub hashes: BTreeSet<HashAlgorithm>,
    /// Allowed formats (at least one).
    pub formats: BTreeSet<SigningFormat>,
    /// Request lifetime in seconds.
    pub request_lifetime_secs: u32,
    /// Roles whose sessions may use the policy (each must exist).
    pub roles: BTreeSet<RoleName>,
    /// Every signature carries a time-stamp from Sigil's TSA (which must be enabled).
    pub timestamp_required: bool,
}

/// Validates a policy against the store: the certificate exists, is a valid code-signing
/// certificate with a Sigil-held key and not revoked; the group and roles exist.
async fn validate_policy(
    state: &AppState,
    args: NewPolicy,
) -> Result<IssuancePolicy, ServiceError> {
    let certificate = state
        .store
        .get_certificate(&args.certificate)
        .await?
        .ok_or_else(|| {
            ServiceError::Invalid(format!(
                "certificate {} does not exist: issue a code-signing certificate first (POST /api/v1/certificates)",
                args.certificate
            ))
        })?;
    let key_id = certificate.key_id.ok_or_else(|| {
        ServiceError::Invalid(format!(
            "certificate {} has no Sigil-held key: issue one with a generated key (key_algorithm) to sign with it",
            args.certificate
        ))
    })?;
    if certificate.profile != CertProfile::CodeSigning {
        return Err(ServiceError::Invalid(format!(
            "certificate {} has profile {}: policies sign with code-signing certificates",
            args.certificate, certificate.profile
        )));
    }
    if certificate.revocation.is_some() {
        return Err(ServiceError::Invalid(format!(
            "certificate {} is revoked: issue a new one",
            args.certificate
        )));
    }
    if certificate.not_after <= state.now() {
        return Err(ServiceError::Invalid(format!(
            "certificate {} expired on {}: issue a new one",
            args.certificate, certificate.not_after
        )));
    }
    if let Some(group) = &args.approval_group
        && state.store.get_group(group).await?.is_none()
    {
        return Err(ServiceError::Invalid(format!(
            "approval group {group} does not exist: create it first (POST /api/v1/groups)"
        )));
    }
    check_roles_exist(state, &args.roles).await?;
    if args.timestamp_required
        && let Err(e) = crate::service::timestamp::available(state).await
    {
        let ServiceError::Invalid(why) = e else {
            return Err(e);
        };
        return Err(ServiceError::Invalid(format!(
            "policy {} requires time-stamps, but the server's time-stamping authority is not usable ({why}): enable it first (sigil settings set --timestamp-certificate SERIAL)",
            args.alias
        )));
    }
    IssuancePolicy::new(PolicyDraft {
        alias: args.alias,
        certificate: args.certificate,
        key_id,
        rsa_scheme: args.rsa_scheme,
        approvals_required: args.approvals_required,
        approval_group: args.approval_group,
        hashes: args.hashes,
        formats: args.formats,
        request_lifetime_secs: args.request_lifetime_secs,
        roles: args.roles,
        timestamp_required: args.timestamp_required,
    })
    .map_err(|e| ServiceError::Invalid(e.to_string()))
}

/// A policy's definition as audit details.
fn policy_audit(draft: AuditDraft, policy: &IssuancePolicy) -> AuditDraft {
    let d = policy.draft();
    draft
        .object(d.alias.as_str())
        .detail("certificate", d.certificate.as_str())
        .detail("approvals_required", &d.approvals_required.to_string())
        .detail(
            "approval_group",
            d.approval_group.as_ref().map_or("", GroupName::as_str),
        )
        .detail("hashes", &join(d.hashes.iter().map(|h| h.name())))
        .detail("formats", &join(&d.formats))
        .detail("roles", &join(&d.roles))
        .detail("timestamp_required", &d.timestamp_required.to_string())
}
