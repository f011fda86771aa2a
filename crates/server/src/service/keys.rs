//! Held keys and certificates from any CA: create a key without a certificate, make a CSR
//! with it, import the chain another CA issued for it, or import a key and its certificate
//! from a PKCS#12 file. Every step is one commit with its audit event; a refused import
//! changes nothing.
//!
//! | function | permission |
//! |---|---|
//! | [`create_key`] | `keys:add` |
//! | [`list_keys`] | `ca:list` |
//! | [`key_csr`] | `keys:add` (the key signs the CSR) |
//! | [`import_chain`] | `ca:upload` |
//! | [`import_pkcs12`] | `keys:add` and `ca:upload` |
//!
//! An imported certificate is stored with its chain ([`CertificateIssuer::External`]), so that
//! a policy names it (serial and key) exactly as it names one from Sigil's CA, and signatures
//! carry that chain. Sigil cannot know whether the external CA revoked it: only expiry (and a
//! revocation recorded in Sigil) stop signing.

use std::time::SystemTime;

use sigil_domain::{
    CertProfile, CertificateIssuer, CertificateRecord, Change, ExternalIssuer, KeyId, SealedKey,
    SerialNumber,
};
use sigil_keys::{KeyAlgorithm, SigningKey};
use sigil_pki::external::{ImportPurpose, check_imported_chain};
use sigil_pki::x509_cert::Certificate;
use sigil_pki::x509_cert::der::Encode;
use sigil_pki::{DistinguishedName, San, build_csr, pem};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::ServiceError;
use super::pki::{Pki, key_algorithm_name, pki_error};
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

/// A held key and the certificates stored for it.
#[derive(Debug, Clone)]
pub struct HeldKey {
    /// The key record (public parts only).
    pub key: SealedKey,
    /// Serials of the certificates for this key (issued or imported).
    pub certificates: Vec<SerialNumber>,
}

/// What a PKCS#12 import stored.
#[derive(Debug, Clone)]
pub struct ImportedKey {
    /// The new key.
    pub key_id: KeyId,
    /// Its certificate, with the chain from the file.
    pub certificate: CertificateRecord,
}

/// Creates a key without a certificate (permission `keys:add`). Make a CSR for it with
/// [`key_csr`] and import what the CA returns with [`import_chain`].
pub async fn create_key(
    state: &AppState,
    actor: impl Into<super::pki::Actor<'_>>,
    args: NewKeyArgs,
) -> Result<SealedKey, ServiceError> {
    let purpose = import_purpose(args.purpose)?;
    pki_profile_of(purpose)
        .check_key(args.algorithm)
        .map_err(pki_error)?;
    let pki = Pki::new(state, actor.into());
    let (_key, sealed) =
        state
            .vault
            .generate(&args.backend, args.algorithm, args.purpose, pki.now)?;
    let audit = audit(&pki, "key.create", &sealed.id.to_string())
        .detail("algorithm", key_algorithm_name(args.algorithm))
        .detail("purpose", args.purpose.as_str())
        .detail("backend", sealed.location.backend());
    state
        .store
        .commit(vec![Change::AddSealedKey(Box::new(sealed.clone()))], audit)
        .await?;
    Ok(sealed)
}

/// Every held key with its certificates (permission `ca:list`).
pub async fn list_keys(state: &AppState) -> Result<Vec<HeldKey>, ServiceError> {
    let mut keys = state.store.list_sealed_keys().await?;
    keys.sort_by_key(|k| (k.created, k.id));
    let certificates = state.store.list_certificates(None).await?;
    Ok(keys
        .into_iter()
        .map(|key| HeldKey {
            certificates: certificates
                .iter()
                .filter(|c| c.key_id == Some(key.id))
                .map(|c| c.serial.clone())
                .collect(),
            key,
        })
        .collect())
}

/// A PKCS#10 CSR for the held key `key_id`, signed by it (permission `keys:add`): subject DN
/// and SANs (DNS names, IP addresses) as given. PEM.
pub async fn key_csr(
    state: &AppState,
    actor: impl Into<super::pki::Actor<'_>>,
    key_id: KeyId,
    subject: &str,
    sans: &[String],
) -> Result<String, ServiceError> {
    let subject = DistinguishedName::parse(subject).map_err(pki_error)?;
    let sans = sans
        .iter()
        .map(|s| San::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pki_error)?;
    let pki = Pki::new(state, actor.into());
    held_key(state, key_id).await?;
    let key = state.vault.key(state.store.as_ref(), key_id).await?;
    let csr = build_csr(key.as_ref(), &subject, &sans).map_err(pki_error)?;
    let csr_pem = csr.to_pem().map_err(pki_error)?;
    let audit = audit(&pki, "key.csr", &key_id.to_string())
        .detail("subject", &subject.to_string())
        .detail("sans", &sans.len().to_string());
    state.store.commit(vec![], audit).await?;
    Ok(csr_pem)
}

/// Imports a chain (PEM or DER, leaf first) another CA issued for the held key `key_id`
/// (permission `ca:upload`). Refused, with nothing stored, unless the leaf is for that key,
/// the chain links, the leaf carries the extended key usage of `purpose`, and every
/// certificate is valid now.
pub async fn import_chain(
    state: &AppState,
    actor: impl Into<super::pki::Actor<'_>>,
    key_id: KeyId,
    chain: &[u8],
    purpose: CertProfile,
) -> Result<CertificateRecord, ServiceError> {
    let import = import_purpose(purpose)?;
    let certificates = pem::parse_certificates(chain).map_err(pki_error)?;
    let key = held_key(state, key_id).await?;
    if key.purpose != purpose {
        return Err(ServiceError::Invalid(format!(
            "key {key_id} was created for {} certificates, not {purpose}: import a {} certificate \
             or create a key for {purpose}",
            key.purpose, key.purpose
        )));
    }
    let pki = Pki::new(state, actor.into());
    check_imported_chain(
        &certificates,
        &key.public_key_der,
        import,
        SystemTime::from(pki.now),
    )
    .map_err(pki_error)?;
    let record = external_record(&certificates, purpose, key_id)?;
    let audit = audit(&pki, "certificate.import", record.serial.as_str())
        .detail("key_id", &key_id.to_string())
        .detail("subject", &record.subject)
        .detail("issuer", &record.issuer.to_string())
        .detail("certificates", &certificates.len().to_string());
    state
        .store
        .commit(
            vec![Change::AddCertificate(Box::new(record.clone()))],
            audit,
        )
        .await
        .map_err(duplicate_serial)?;
    Ok(record)
}

/// Imports a private key and its certificate from a PKCS#12 file into `backend`: the software
/// keystore (sealed under the master key) or an HSM (a sensitive, non-extractable token
/// object) (permissions `keys:add` and `ca:upload`). The CA
/// certificates come from the file, or from `extra_chain` (PEM, the leaf's issuer first) when
/// the file holds none. The same checks as [`import_chain`] apply; nothing is stored when one
/// fails.
pub async fn import_pkcs12(
    state: &AppState,
    actor: impl Into<super::pki::Actor<'_>>,
    file: Vec<u8>,
    password: Zeroizing<String>,
    extra_chain: Option<&[u8]>,
    purpose: CertProfile,
    backend: &str,
) -> Result<ImportedKey, ServiceError> {
    let import = import_purpose(purpose)?;
    // PBKDF2 at up to 5,000,000 iterations: not on an async worker.
    let contents =
        tokio::task::spawn_blocking(move || sigil_pki::pkcs12::import(&file, password.as_str()))
            .await
            .map_err(|e| ServiceError::internal(format!("the PKCS#12 task failed: {e}")))?
            .map_err(|e| ServiceError::Invalid(format!("cannot read the PKCS#12 file: {e}")))?;
    let mut certificates = vec![contents.certificate.clone()];
    if contents.chain.is_empty() {
        if let Some(extra) = extra_chain {
            certificates.extend(pem::parse_certificates(extra).map_err(pki_error)?);
        }
    } else {
        certificates.extend(contents.chain.iter().cloned());
    }
    let pki = Pki::new(state, actor.into());
    check_imported_chain(
        &certificates,
        contents.key.public_key_der(),
        import,
        SystemTime::from(pki.now),
    )
    .map_err(|e| match e {
        sigil_pki::PkiError::ChainWithoutIssuer => ServiceError::Invalid(
            "the PKCS#12 file holds the certificate but not its CA certificates: give them as \
             the chain (PEM, issuer first), or export the file again with \
             `openssl pkcs12 -export -certfile ca-chain.pem ...`"
                .into(),
        ),
        other => pki_error(other),
    })?;
    let (_key, sealed) = state
        .vault
        .import(backend, &contents.key, purpose, pki.now)?;
    let key_id = sealed.id;
    let record = external_record(&certificates, purpose, key_id)?;
    let audit = audit(&pki, "key.import", &key_id.to_string())
        .detail("format", "pkcs12")
        .detail("backend", sealed.location.backend())
        .detail("algorithm", key_algorithm_name(contents.key.algorithm()))
        .detail("certificate", record.serial.as_str())
        .detail("subject", &record.subject)
        .detail("issuer", &record.issuer.to_string());
    state
        .store
        .commit(
            vec![
                Change::AddSealedKey(Box::new(sealed)),
                Change::AddCertificate(Box::new(record.clone())),
            ],
            audit,
        )
        .await
        .map_err(duplicate_serial)?;
    Ok(ImportedKey {
        key_id,
        certificate: record,
    })
}

/// The stored key `key_id`, or a not-found error that says what to do.
async fn held_key(state: &AppState, key_id: KeyId) -> Result<SealedKey, ServiceError> {
    state.store.get_sealed_key(key_id).await?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "key {key_id} (list the held keys with `sigil key list`)"
        ))
    })
}

fn import_purpose(purpose: CertProfile) -> Result<ImportPurpose, ServiceError> {
    match purpose {
        CertProfile::CodeSigning => Ok(ImportPurpose::CodeSigning),
        CertProfile::Timestamping => Ok(ImportPurpose::Timestamping),
        other => Err(ServiceError::Invalid(format!(
            "keys and certificates from other CAs are for code-signing or timestamping, not \
             {other}"
        ))),
    }
}

fn pki_profile_of(purpose: ImportPurpose) -> sigil_pki::Profile {
    match purpose {
        ImportPurpose::CodeSigning => sigil_pki::Profile::CodeSigning,
        ImportPurpose::Timestamping => sigil_pki::Profile::Timestamping,
    }
}

fn audit(pki: &Pki<'_>, action: &str, object: &str) -> sigil_domain::AuditDraft {
    pki.audit(action, object)
}

/// The record of a checked external chain (leaf first, at least two certificates).
fn external_record(
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

fn duplicate_serial(error: sigil_domain::StoreError) -> ServiceError {
    match error {
        sigil_domain::StoreError::Conflict { what } => ServiceError::Conflict(format!(
            "{what}: this certificate (or another with its serial number) is already stored; \
             list it with `sigil cert list`"
        )),
        other => other.into(),
    }
}
