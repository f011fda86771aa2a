//! List every issuance policy.

use sigil_domain::{IssuancePolicy, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:policies`.
pub const OPERATION: Operation =
    Operation::new("policy.list", Need::AnyOf(&[Permission::AdminPolicies]));

/// All policies.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
) -> Result<Vec<IssuancePolicy>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    Ok(state.store.list_policies().await?)
}
