//! Replace an issuance policy's definition.

use sigil_domain::{Change, IssuancePolicy, Outcome, Permission};

use super::{NewPolicy, policy_audit, validate_policy};
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:policies`.
pub const OPERATION: Operation =
    Operation::new("policy.update", Need::AnyOf(&[Permission::AdminPolicies]));

/// Replaces the policy of `args`' alias, validated as on creation. Requests already
/// submitted keep the approvals and group they were created with.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    args: NewPolicy,
) -> Result<IssuancePolicy, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if state.store.get_policy(&args.alias).await?.is_none() {
        return Err(ServiceError::NotFound(format!("policy {}", args.alias)));
    }
    let policy = validate_policy(state, args).await?;
    let draft = policy_audit(
        audit(state, caller, OPERATION.action, Outcome::Success),
        &policy,
    );
    state
        .store
        .commit(vec![Change::UpdatePolicy(Box::new(policy.clone()))], draft)
        .await?;
    Ok(policy)
}
