//! List every held key with the certificates stored for it.

use sigil_domain::{Permission, SealedKey, SerialNumber};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Listing keys needs `ca:list`.
pub const OPERATION: Operation = Operation::new("key.list", Need::AnyOf(&[Permission::CaList]));

/// A held key and the certificates stored for it.
#[derive(Debug, Clone)]
pub struct HeldKey {
    /// The key record (public parts only).
    pub key: SealedKey,
    /// Serials of the certificates for this key (issued or imported).
    pub certificates: Vec<SerialNumber>,
}

/// Every held key with its certificates, oldest first.
pub async fn run(state: &AppState, caller: &Caller<'_>) -> Result<Vec<HeldKey>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
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
