//! A PKCS#10 CSR signed by a held key.

use sigil_domain::{KeyId, Permission};
use sigil_pki::{DistinguishedName, San, build_csr};

use super::held_key;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Pki, pki_error};
use crate::state::AppState;

/// A key's CSR needs `keys:add` (the key signs it).
pub const OPERATION: Operation = Operation::new("key.csr", Need::AnyOf(&[Permission::KeysAdd]));

/// A PKCS#10 CSR for the held key `key_id`, signed by it: subject DN and SANs (DNS names, IP
/// addresses) as given. PEM.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    key_id: KeyId,
    subject: &str,
    sans: &[String],
) -> Result<String, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, key_id, subject, sans).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
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
    let audit = pki
        .audit(OPERATION.action, &key_id.to_string())
        .detail("subject", &subject.to_string())
        .detail("sans", &sans.len().to_string());
    state.store.commit(vec![], audit).await?;
    Ok(csr_pem)
}
