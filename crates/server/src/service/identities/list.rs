//! List every identity.

use sigil_domain::{Identity, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation =
    Operation::new("identity.list", Need::AnyOf(&[Permission::AdminIdentities]));

/// All identities.
pub async fn run(state: &AppState, caller: &Caller<'_>) -> Result<Vec<Identity>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    Ok(state.store.list_identities().await?)
}
