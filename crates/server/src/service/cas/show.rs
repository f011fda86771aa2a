//! Show one CA container.

use sigil_domain::{CaName, CaRecord, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Showing a CA needs `ca:list`.
pub const OPERATION: Operation = Operation::new("ca.show", Need::AnyOf(&[Permission::CaList]));

/// The CA container `name`.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &CaName,
) -> Result<CaRecord, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    state
        .store
        .get_ca(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("CA {name}")))
}
