//! Create a key without a certificate.

use sigil_domain::{Change, Permission, SealedKey};

use super::{NewKeyArgs, import_purpose, pki_profile_of};
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Pki, key_algorithm_name, pki_error};
use crate::state::AppState;

/// Creating a key needs `keys:add`.
pub const OPERATION: Operation = Operation::new("key.create", Need::AnyOf(&[Permission::KeysAdd]));

/// Creates a key without a certificate. Make a CSR for it with [`super::csr`] and import what
/// the CA returns with [`crate::service::certificates::import_chain`].
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    args: NewKeyArgs,
) -> Result<SealedKey, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, args).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
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
    let audit = pki
        .audit(OPERATION.action, &sealed.id.to_string())
        .detail("algorithm", key_algorithm_name(args.algorithm))
        .detail("purpose", args.purpose.as_str())
        .detail("backend", sealed.location.backend());
    state
        .store
        .commit(vec![Change::AddSealedKey(Box::new(sealed.clone()))], audit)
        .await?;
    Ok(sealed)
}
