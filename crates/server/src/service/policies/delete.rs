//! Delete an issuance policy.

use sigil_domain::{Change, Outcome, Permission, PolicyAlias};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:policies`.
pub const OPERATION: Operation =
    Operation::new("policy.delete", Need::AnyOf(&[Permission::AdminPolicies]));

/// Deletes the policy `alias`, which no request may refer to.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    alias: &PolicyAlias,
) -> Result<(), ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if state.store.get_policy(alias).await?.is_none() {
        return Err(ServiceError::NotFound(format!("policy {alias}")));
    }
    let draft = audit(state, caller, OPERATION.action, Outcome::Success).object(alias.as_str());
    state
        .store
        .commit(vec![Change::DeletePolicy(alias.clone())], draft)
        .await?;
    Ok(())
}
