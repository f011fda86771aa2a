//! List every CA container.

use sigil_domain::{CaRecord, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Listing the CAs needs `ca:list`.
pub const OPERATION: Operation = Operation::new("ca.list", Need::AnyOf(&[Permission::CaList]));

/// All CA containers.
pub async fn run(state: &AppState, caller: &Caller<'_>) -> Result<Vec<CaRecord>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(state: &AppState) -> Result<Vec<CaRecord>, ServiceError> {
    Ok(state.store.list_cas().await?)
}
