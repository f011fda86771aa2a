//! Held keys and certificates from any CA: create a key without a certificate, make a CSR
//! with it, import the chain another CA issued for it, or import a key and its certificate
//! from a PKCS#12 file. Every step is one commit with its audit event; a refused import
//! changes nothing.
//!
//! | use case | action | permission |
//! |---|---|---|
//! | [`list`] | `key.list` | `ca:list` |
//! | [`create`] | `key.create` | `keys:add` |
//! | [`csr`] | `key.csr` | `keys:add` (the key signs the CSR) |
//! | [`super::certificates::import_chain`] | `certificate.import` | `ca:upload` |
//! | [`import_pkcs12`] | `key.import` | `keys:add` and `ca:upload` |
//!
//! An imported certificate is stored with its chain ([`CertificateIssuer::External`]), so that
//! a policy names it (serial and key) exactly as it names one from Sigil's CA, and signatures
//! carry that chain. Sigil cannot know whether the external CA revoked it: only expiry (and a
//! revocation recorded in Sigil) stop signing.

pub mod create;
pub mod csr;
pub mod import_pkcs12;
pub mod list;

use sigil_domain::{
    CertProfile, CertificateIssuer, CertificateRecord, ExternalIssuer, KeyId, SealedKey,
    SerialNumber,
};
use sigil_keys::KeyAlgorithm;
use sigil_pki::DistinguishedName;
use sigil_pki::external::ImportPurpose;
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::Encode;
use time::OffsetDateTime;

use super::ServiceError;
use super::pki::pki_error;
use crate::state::AppState;

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKeyArgs {
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// What it is for: `code-signing` or `timestamping`.
    pub purpose: CertProfile,
    /// Where it is made and kept: `software` or the name of a configured HSM.
    pub backend: String,
}

/// What a PKCS#12 import stored.
#[derive(Debug, Clone)]
pub struct ImportedKey {
    /// The new key.
    pub key_id: KeyId,
    /// Its certificate, with the chain from the file.
    pub certificate: CertificateRecord,
}

/// The stored key `key_id`, or a not-found error that says what to do.
pub(crate) async fn held_key(state: &AppState, key_id: KeyId) -> Result<SealedKey, ServiceError> {
    state.store.get_sealed_key(key_id).await?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "key {key_id} (list the held keys with `sigil key list`)"
        ))
    })
}

/// What an imported key or certificate may be for.
pub(crate) fn import_purpose(purpose: CertProfile) -> Result<ImportPurpose, ServiceError> {
    match purpose {
        CertProfile::CodeSigning => Ok(ImportPurpose::CodeSigning),
        CertProfile::Timestamping => Ok(ImportPurpose::Timestamping),
        other => Err(ServiceError::Invalid(format!(
            "keys and certificates from other CAs are for code-signing or timestamping, not \
             {other}"
        ))),
    }
}

/// The profile whose key rules an imported key of `purpose` follows.
pub(crate) fn pki_profile_of(purpose: ImportPurpose) -> sigil_pki::Profile {
    match purpose {
        ImportPurpose::CodeSigning => sigil_pki::Profile::CodeSigning,
        ImportPurpose::Timestamping => sigil_pki::Profile::Timestamping,
    }
}

/// The record of a checked external chain (leaf first, at least two certificates).
pub(crate) fn external_record(
    chain: &[Certificate],
    profile: CertProfile,
    key_id: KeyId,
) -> Result<CertificateRecord, ServiceError> {
    let (leaf, issuers) = chain
        .split_first()
        .ok_or_else(|| ServiceError::Invalid("the certificate chain is empty".into()))?;
    let tbs = leaf.tbs_certificate();
    let serial = SerialNumber::from_bytes(tbs.serial_number().as_bytes())
        .map_err(|e| ServiceError::Invalid(format!("the leaf certificate's serial: {e}")))?;
    let validity = tbs.validity();
    let der = |c: &Certificate| c.to_der().map_err(|e| pki_error(e.into()));
    Ok(CertificateRecord {
        serial,
        issuer: CertificateIssuer::External(ExternalIssuer {
            name: DistinguishedName::from(tbs.issuer().clone()).to_string(),
            chain: issuers.iter().map(der).collect::<Result<_, _>>()?,
        }),
        profile,
        subject: DistinguishedName::from(tbs.subject().clone()).to_string(),
        der: der(leaf)?,
        not_before: OffsetDateTime::from(validity.not_before.to_system_time()),
        not_after: OffsetDateTime::from(validity.not_after.to_system_time()),
        key_id: Some(key_id),
        revocation: None,
    })
}

/// A store conflict on import, said as what to do.
pub(crate) fn duplicate_serial(error: sigil_domain::StoreError) -> ServiceError {
    match error {
        sigil_domain::StoreError::Conflict { what } => ServiceError::Conflict(format!(
            "{what}: this certificate (or another with its serial number) is already stored; \
             list it with `sigil cert list`"
        )),
        other => other.into(),
    }
}
