//! The API views (`sigil_api`) of the domain records: the one place a stored form becomes
//! what the API returns.

use sigil_domain::{
    ApprovalGroup, AuditEvent, CaRecord, CertificateRecord, Identity, IssuancePolicy, ReleaseState,
    RequestState, Role, SigningRequest,
};
use time::OffsetDateTime;

use sigil_api::admin::{GroupView, PolicyView, RoleView, Settings};
use sigil_api::identities::IdentityView;
use sigil_api::keys::KeyView;
use sigil_api::pki::{CaView, CertificateView, RevocationView};
use sigil_api::releases::{ReleaseFileView, ReleaseView};
use sigil_api::requests::{ApprovalView, RequestMetadata, RequestView};

use super::error::ApiError;
use crate::service::ServiceError;
use crate::service::releases::ReleaseWithFiles;

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

/// The API view of a certificate, with `chain` (DER, leaf first) when given.
pub(crate) fn certificate_view(
    record: &CertificateRecord,
    chain: Option<&[Vec<u8>]>,
) -> Result<CertificateView, ApiError> {
    let pem = crate::service::pki::chain_pem(std::slice::from_ref(&record.der))?;
    let chain_pem = chain.map(crate::service::pki::chain_pem).transpose()?;
    Ok(CertificateView {
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

/// The API view of a held key with the serials of its certificates.
pub(crate) fn key_view(
    key: &sigil_domain::SealedKey,
    certificates: &[sigil_domain::SerialNumber],
) -> Result<KeyView, ServiceError> {
    let algorithm = key
        .algorithm
        .parse::<sigil_keys::KeyAlgorithm>()
        .map(crate::service::pki::key_algorithm_name)
        .unwrap_or(key.algorithm.as_str());
    Ok(KeyView {
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

/// The API view of a CA container.
pub(crate) fn ca_view(record: &CaRecord) -> Result<CaView, ServiceError> {
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
    Ok(CaView {
        name: record.name.to_string(),
        parent: record.parent.as_ref().map(ToString::to_string),
        key_id: record.key_id.to_string(),
        certificate_pem,
        subject,
        not_after,
    })
}

/// The API view of the settings.
pub(crate) fn settings_view(s: &sigil_domain::Settings) -> Settings {
    Settings {
        allow_export_with_password: s.allow_export_with_password,
        lockout_threshold: s.lockout_threshold,
        timestamp_certificate: s.timestamp_certificate.as_ref().map(ToString::to_string),
    }
}

/// The API view of an audit event (`GET /audit`, `sigil audit export`): as stored, the time
/// RFC 3339, the hashes hex.
pub fn audit_view(e: AuditEvent) -> sigil_api::admin::AuditEvent {
    sigil_api::admin::AuditEvent {
        seq: e.seq,
        time: rfc3339(e.time),
        identity: e.identity,
        source: e.source,
        interface: e.interface,
        action: e.action,
        object: e.object,
        outcome: e.outcome,
        details: e.details,
        prev_hash: hex::encode(e.prev_hash),
        hash: hex::encode(e.hash),
    }
}

/// The API view of an approval.
fn approval_view(a: &sigil_domain::Approval) -> ApprovalView {
    ApprovalView {
        approver: a.approver.to_string(),
        at: rfc3339(a.at),
        comment: a.comment.clone(),
    }
}

/// The API view of a request's metadata.
pub(crate) fn metadata_view(m: &sigil_domain::RequestMetadata) -> RequestMetadata {
    RequestMetadata {
        file_name: m.file_name.clone(),
        file_size: m.file_size,
        build_url: m.build_url.clone(),
        commit: m.commit.clone(),
        description: m.description.clone(),
        program_name: m.program_name.clone(),
        program_url: m.program_url.clone(),
        entry_count: m.entry_count,
        signer_name: m.signer_name.clone(),
        subject: m.subject.map(|s| s.as_str().to_owned()),
        openpgp_created: m.openpgp_created,
    }
}

/// The API view of a signing request at `now`.
pub(crate) fn request_view(request: &SigningRequest, now: OffsetDateTime) -> RequestView {
    let (denied_by, reason, state_at) = match request.state() {
        RequestState::Pending => (None, None, None),
        RequestState::Approved { at }
        | RequestState::Signed { at, .. }
        | RequestState::Expired { at } => (None, None, Some(*at)),
        RequestState::Denied { by, at, reason } => {
            (Some(by.to_string()), Some(reason.clone()), Some(*at))
        }
        RequestState::Failed { at, reason } => (None, Some(reason.clone()), Some(*at)),
    };
    RequestView {
        id: request.id().to_string(),
        state: request.status().as_str().to_owned(),
        policy: request.policy().to_string(),
        format: request.format().as_str().to_owned(),
        hash: request.hash().name().to_owned(),
        digest: hex::encode(request.digest()),
        metadata: metadata_view(request.metadata()),
        requester: request.requester().to_string(),
        created: rfc3339(request.created()),
        expires: rfc3339(request.expires()),
        age_secs: (now - request.created()).whole_seconds().max(0),
        approvals_required: request.approvals_required(),
        approval_group: request.approval_group().map(ToString::to_string),
        approvals: request.approvals().iter().map(approval_view).collect(),
        denied_by,
        reason,
        state_at: state_at.map(rfc3339),
        result: match request.state() {
            RequestState::Signed { result, .. } => Some(hex::encode(result)),
            _ => None,
        },
        timestamp: request.timestamp().map(hex::encode),
        release_id: request.release().map(|r| r.to_string()),
    }
}

/// The API view of one file (signing request) of a release.
fn release_file_view(request: &SigningRequest) -> ReleaseFileView {
    ReleaseFileView {
        request_id: request.id().to_string(),
        file_name: request.metadata().file_name.clone(),
        file_size: request.metadata().file_size,
        format: request.format().as_str().to_owned(),
        hash: request.hash().name().to_owned(),
        digest: hex::encode(request.digest()),
        state: request.status().as_str().to_owned(),
    }
}

/// The API view of a release with its files at `now`.
pub(crate) fn release_view(r: &ReleaseWithFiles, now: OffsetDateTime) -> ReleaseView {
    let release = &r.release;
    let (denied_by, reason) = match release.state() {
        ReleaseState::Denied { by, reason, .. } => (Some(by.to_string()), Some(reason.clone())),
        _ => (None, None),
    };
    let metadata = release.metadata();
    ReleaseView {
        id: release.id().to_string(),
        state: release.status().as_str().to_owned(),
        policy: release.policy().to_string(),
        requester: release.requester().to_string(),
        description: metadata.description.clone(),
        build_url: metadata.build_url.clone(),
        commit: metadata.commit.clone(),
        created: rfc3339(release.created()),
        expires: rfc3339(release.expires()),
        age_secs: (now - release.created()).whole_seconds().max(0),
        files_declared: release.declared(),
        files_received: release.received(),
        approvals_required: release.approvals_required(),
        approval_group: release.approval_group().map(ToString::to_string),
        approvals: release.approvals().iter().map(approval_view).collect(),
        denied_by,
        reason,
        files: r.files.iter().map(release_file_view).collect(),
    }
}

#[cfg(test)]
mod tests {
    //! The API copies of domain types that the API used to return as stored serialise alike.

    use std::collections::BTreeMap;

    use sigil_domain::{AuthenticodeSubject, SerialNumber};
    use time::macros::datetime;

    use super::*;

    fn json(value: &impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(value).unwrap_or_default()
    }

    #[test]
    fn audit_events_read_as_stored() {
        let event = AuditEvent {
            seq: 7,
            time: datetime!(2026-12-04 15:44:28.123456789 UTC),
            identity: Some("alice".into()),
            source: Some("127.0.0.1:5000".into()),
            interface: None,
            action: "request.approve".into(),
            object: Some("req".into()),
            outcome: "success".into(),
            details: BTreeMap::from([("policy".into(), "release".into())]),
            prev_hash: [0xab; 32],
            hash: [0x01; 32],
        };
        assert_eq!(json(&audit_view(event.clone())), json(&event));
    }

    #[test]
    fn settings_read_as_stored() {
        for timestamp_certificate in [None, SerialNumber::from_hex("0A1b").ok()] {
            let settings = sigil_domain::Settings {
                allow_export_with_password: true,
                lockout_threshold: 9,
                timestamp_certificate,
            };
            assert_eq!(json(&settings_view(&settings)), json(&settings));
        }
    }

    #[test]
    fn metadata_reads_as_stored() {
        let full = sigil_domain::RequestMetadata {
            file_name: Some("a.exe".into()),
            file_size: Some(12),
            build_url: Some("https://ci/1".into()),
            commit: Some("abc".into()),
            description: Some("d".into()),
            program_name: Some("p".into()),
            program_url: Some("https://p".into()),
            entry_count: Some(3),
            signer_name: Some("SIGIL".into()),
            subject: Some(AuthenticodeSubject::Msi),
            openpgp_created: Some(1_700_000_000),
        };
        for metadata in [full, sigil_domain::RequestMetadata::default()] {
            assert_eq!(json(&metadata_view(&metadata)), json(&metadata));
        }
    }
}
