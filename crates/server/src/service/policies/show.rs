//! Show one issuance policy.

use sigil_domain::{IssuancePolicy, Permission, PolicyAlias};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:policies`.
pub const OPERATION: Operation =
    Operation::new("policy.show", Need::AnyOf(&[Permission::AdminPolicies]));

/// The policy `alias`.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    alias: &PolicyAlias,
) -> Result<IssuancePolicy, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    state
        .store
        .get_policy(alias)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("policy {alias}")))
}
