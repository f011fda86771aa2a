//! Import the chain another CA issued for a held key.

use std::time::SystemTime;

use sigil_domain::{CertProfile, CertificateRecord, Change, KeyId, Permission};
use sigil_pki::external::check_imported_chain;
use sigil_pki::pem;

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::keys::{duplicate_serial, external_record, held_key, import_purpose};
use crate::service::pki::{Actor, Pki, pki_error};
use crate::state::AppState;

/// Importing a chain needs `ca:upload`.
pub const OPERATION: Operation =
    Operation::new("certificate.import", Need::AnyOf(&[Permission::CaUpload]));

/// Imports a chain (PEM or DER, leaf first) another CA issued for the held key `key_id`;
/// see [`perform`].
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    key_id: KeyId,
    chain: &[u8],
    purpose: CertProfile,
) -> Result<CertificateRecord, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, key_id, chain, purpose).await
}

/// [`run`] without the permission check, for the server itself and tests. Refused, with
/// nothing stored, unless the leaf is for that key,
/// the chain links, the leaf carries the extended key usage of `purpose`, and every
/// certificate is valid now.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
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
    let audit = pki
        .audit(OPERATION.action, record.serial.as_str())
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
