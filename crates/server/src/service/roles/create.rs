//! Create a role.

use sigil_domain::{Change, Outcome, Permission, Role};

use super::role_audit;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:roles`.
pub const OPERATION: Operation =
    Operation::new("role.create", Need::AnyOf(&[Permission::AdminRoles]));

/// Stores `role`.
pub async fn run(state: &AppState, caller: &Caller<'_>, role: Role) -> Result<Role, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let draft = role_audit(
        audit(state, caller, OPERATION.action, Outcome::Success),
        &role,
    );
    state
        .store
        .commit(vec![Change::CreateRole(role.clone())], draft)
        .await?;
    Ok(role)
}
