//! Replace a role's definition.

use sigil_domain::{Change, Outcome, Permission, Role};

use super::{load_role, role_audit};
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::service::identities::keep_administrable;
use crate::state::AppState;

/// Needs `admin:roles`.
pub const OPERATION: Operation =
    Operation::new("role.update", Need::AnyOf(&[Permission::AdminRoles]));

/// Replaces the stored role of `role`'s name. Sessions already open keep the definition they
/// logged in with.
pub async fn run(state: &AppState, caller: &Caller<'_>, role: Role) -> Result<Role, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    load_role(state, role.name()).await?;
    keep_administrable(state, None, Some(&role)).await?;
    let draft = role_audit(
        audit(state, caller, OPERATION.action, Outcome::Success),
        &role,
    );
    state
        .store
        .commit(vec![Change::UpdateRole(role.clone())], draft)
        .await?;
    Ok(role)
}
