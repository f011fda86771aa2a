//! Import a private key and its certificate from a PKCS#12 file.

use std::time::SystemTime;

use sigil_domain::{CertProfile, Change, Permission};
use sigil_keys::SigningKey;
use sigil_pki::external::check_imported_chain;
use sigil_pki::pem;
use zeroize::Zeroizing;

use super::{ImportedKey, duplicate_serial, external_record, import_purpose};
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Pki, key_algorithm_name, pki_error};
use crate::state::AppState;

/// Importing a key with its certificate needs `keys:add` and `ca:upload`.
pub const OPERATION: Operation = Operation::new(
    "key.import",
    Need::AllOf(&[Permission::KeysAdd, Permission::CaUpload]),
);

/// Imports a private key and its certificate from a PKCS#12 file; see [`perform`].
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    file: Vec<u8>,
    password: Zeroizing<String>,
    extra_chain: Option<&[u8]>,
    purpose: CertProfile,
    backend: &str,
) -> Result<ImportedKey, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, file, password, extra_chain, purpose, backend).await
}

/// [`run`] without the permission check, for the server itself and tests. The key goes into
/// `backend`: the software keystore (sealed under the master key) or an HSM (a sensitive,
/// non-extractable token object). The CA certificates come from the file, or from `extra_chain` (PEM, the leaf's
/// issuer first) when the file holds none. The same checks as
/// [`crate::service::certificates::import_chain`] apply; nothing is stored when one fails.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
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
    let audit = pki
        .audit(OPERATION.action, &key_id.to_string())
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
