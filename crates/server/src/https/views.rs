//! JSON shapes of records, as the API returns them (independent of the stored forms).

use serde::Serialize;
use sigil_domain::{
    ApprovalGroup, AuditEvent, CaRecord, CertificateRecord, Identity, IssuancePolicy, Role,
};
use time::OffsetDateTime;
use utoipa::ToSchema;

use sigil_api::admin::{GroupView, PolicyView, RoleView};
use sigil_api::identities::IdentityView;

use super::error::ApiError;
use crate::service::ServiceError;

/// RFC 3339 text of a time.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The API view of an identity.
pub(crate) fn identity_view(i: &Identity) -> IdentityView {
    IdentityView {
        name: i.name.to_string(),
        kind: i.kind.as_str().to_owned(),
        enabled: i.enabled,
        locked: i.locked,
        failed_logins: i.failed_logins,
        roles: i.roles.iter().map(ToString::to_string).collect(),
        has_password: i.password.is_some(),
        require_client_certificate: i.require_client_certificate,
        password: None,
    }
}

/// The API view of a role.
pub(crate) fn role_view(r: &Role) -> RoleView {
    RoleView {
        name: r.name().to_string(),
        role_type: r.role_type().as_str().to_owned(),
        class: r.class().as_str().to_owned(),
        logins_required: r.logins_required(),
        permissions: r
            .permissions()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        interfaces: r
            .interfaces()
            .iter()
            .map(|i| i.as_str().to_owned())
            .collect(),
    }
}

/// The API view of an approval group.
pub(crate) fn group_view(g: &ApprovalGroup) -> GroupView {
    GroupView {
        name: g.name.to_string(),
        members: g.members.iter().map(ToString::to_string).collect(),
    }
}

/// The API view of an issuance policy.
pub(crate) fn policy_view(p: &IssuancePolicy) -> PolicyView {
    let d = p.draft();
    PolicyView {
        alias: d.alias.to_string(),
        certificate: d.certificate.to_string(),
        key_id: d.key_id.to_string(),
        rsa_scheme: d.rsa_scheme.as_str().to_owned(),
        approvals_required: d.approvals_required,
        approval_group: d.approval_group.as_ref().map(ToString::to_string),
        hashes: d.hashes.iter().map(|h| h.name().to_owned()).collect(),
        formats: d.formats.iter().map(|f| f.as_str().to_owned()).collect(),
        request_lifetime_secs: d.request_lifetime_secs,
        roles: d.roles.iter().map(ToString::to_string).collect(),
        timestamp_required: d.timestamp_required,
    }
}

/// A revocation.
#[derive(Serialize, ToSchema)]
pub(crate) struct RevocationView {
    at: String,
    reason: String,
}

/// A certificate, with PEM and (when known) its chain.
#[derive(Serialize, ToSchema)]
pub(crate) struct CertificateView {
    /// Lowercase hex, no leading zeros.
    serial: String,
    subject: String,
    issuer: String,
    /// Issued by a CA outside Sigil (imported with its chain); `issuer` is then its DN.
    external: bool,
    /// `ca`, `tls-server`, `tls-client`, `code-signing` or `timestamping`.
    profile: String,
    not_before: String,
    not_after: String,
    /// The held key, when Sigil holds it.
    key_id: Option<String>,
    /// When and why it was revoked, or `null`.
    revocation: Option<RevocationView>,
    /// The certificate, PEM.
    pem: String,
    /// The certificate and its CA certificates, PEM, leaf first (when showing one certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    chain_pem: Option<String>,
}

impl CertificateView {
    /// The view of `record`, with `chain` (DER, leaf first) when given.
    pub(crate) fn new(
        record: &CertificateRecord,
        chain: Option<&[Vec<u8>]>,
    ) -> Result<Self, ApiError> {
        let pem = crate::service::pki::chain_pem(std::slice::from_ref(&record.der))?;
        let chain_pem = chain.map(crate::service::pki::chain_pem).transpose()?;
        Ok(Self {
            serial: record.serial.to_string(),
            subject: record.subject.clone(),
            issuer: match &record.issuer {
                sigil_domain::CertificateIssuer::Ca(name) => name.to_string(),
                sigil_domain::CertificateIssuer::External(external) => external.name.clone(),
            },
            external: record.issuer.ca().is_none(),
            profile: record.profile.as_str().to_owned(),
            not_before: rfc3339(record.not_before),
            not_after: rfc3339(record.not_after),
            key_id: record.key_id.map(|k| k.to_string()),
            revocation: record.revocation.as_ref().map(|r| RevocationView {
                at: rfc3339(r.at),
                reason: r.reason.as_str().to_owned(),
            }),
            pem,
            chain_pem,
        })
    }
}

/// A held key (public parts) and the certificates stored for it.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyView {
    key_id: String,
    algorithm: String,
    purpose: String,
    /// `software` or the name of an `[[hsm]]`.
    backend: String,
    created: String,
    public_key_pem: String,
    /// Serials of the certificates stored for the key.
    certificates: Vec<String>,
}

impl KeyView {
    /// The view of `key` with the serials of its certificates.
    pub(crate) fn new(
        key: &sigil_domain::SealedKey,
        certificates: &[sigil_domain::SerialNumber],
    ) -> Result<Self, ServiceError> {
        let algorithm = key
            .algorithm
            .parse::<sigil_keys::KeyAlgorithm>()
            .map(crate::service::pki::key_algorithm_name)
            .unwrap_or(key.algorithm.as_str());
        Ok(Self {
            key_id: key.id.to_string(),
            algorithm: algorithm.to_owned(),
            purpose: key.purpose.as_str().to_owned(),
            backend: key.location.backend().to_owned(),
            created: rfc3339(key.created),
            public_key_pem: sigil_pki::pem::encode("PUBLIC KEY", &key.public_key_der)
                .map_err(crate::service::pki::pki_error)?,
            certificates: certificates.iter().map(ToString::to_string).collect(),
        })
    }
}

/// A CA container.
#[derive(Serialize, ToSchema)]
pub(crate) struct CaView {
    name: String,
    parent: Option<String>,
    key_id: String,
    certificate_pem: String,
    subject: Option<String>,
    not_after: Option<String>,
}

impl CaView {
    /// The view of `record`.
    pub(crate) fn new(record: &CaRecord) -> Result<Self, ServiceError> {
        use sigil_pki::x509_cert::der::Decode;
        let certificate_pem =
            crate::service::pki::chain_pem(std::slice::from_ref(&record.certificate_der))?;
        let parsed = sigil_pki::x509_cert::Certificate::from_der(&record.certificate_der).ok();
        let subject = parsed.as_ref().map(|c| {
            sigil_pki::DistinguishedName::from(c.tbs_certificate().subject().clone()).to_string()
        });
        let not_after = parsed.as_ref().and_then(|c| {
            let t = c.tbs_certificate().validity().not_after.to_unix_duration();
            OffsetDateTime::from_unix_timestamp(i64::try_from(t.as_secs()).ok()?)
                .ok()
                .map(rfc3339)
        });
        Ok(Self {
            name: record.name.to_string(),
            parent: record.parent.as_ref().map(ToString::to_string),
            key_id: record.key_id.to_string(),
            certificate_pem,
            subject,
            not_after,
        })
    }
}

/// Audit events are returned as stored (hashes as hex).
pub(crate) type AuditView = AuditEvent;
