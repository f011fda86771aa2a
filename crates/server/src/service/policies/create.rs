//! Create an issuance policy.

use sigil_domain::{Change, IssuancePolicy, Outcome, Permission};

use super::{NewPolicy, policy_audit, validate_policy};
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:policies`.
pub const OPERATION: Operation =
    Operation::new("policy.create", Need::AnyOf(&[Permission::AdminPolicies]));

/// Stores the policy `args` describes, validated against the store.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    args: NewPolicy,
) -> Result<IssuancePolicy, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let policy = validate_policy(state, args).await?;
    let draft = policy_audit(
        audit(state, caller, OPERATION.action, Outcome::Success),
        &policy,
    );
    state
        .store
        .commit(vec![Change::CreatePolicy(Box::new(policy.clone()))], draft)
        .await?;
    Ok(policy)
}
