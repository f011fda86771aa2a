//! List every role.

use sigil_domain::{Permission, Role};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:roles`.
pub const OPERATION: Operation =
    Operation::new("role.list", Need::AnyOf(&[Permission::AdminRoles]));

/// All roles.
pub async fn run(state: &AppState, caller: &Caller<'_>) -> Result<Vec<Role>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    Ok(state.store.list_roles().await?)
}
