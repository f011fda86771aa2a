//! Delete a role no identity holds.

use sigil_domain::{Change, Outcome, Permission, RoleName};

use super::load_role;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:roles`.
pub const OPERATION: Operation =
    Operation::new("role.delete", Need::AnyOf(&[Permission::AdminRoles]));

/// Deletes `name`, refused while an identity holds it.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &RoleName,
) -> Result<(), ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    load_role(state, name).await?;
    let holders: Vec<String> = state
        .store
        .list_identities()
        .await?
        .into_iter()
        .filter(|i| i.roles.contains(name))
        .map(|i| i.name.to_string())
        .collect();
    if !holders.is_empty() {
        return Err(ServiceError::Conflict(format!(
            "role {name} is held by {}: remove it from them first",
            holders.join(", ")
        )));
    }
    let draft = audit(state, caller, OPERATION.action, Outcome::Success).object(name.as_str());
    state
        .store
        .commit(vec![Change::DeleteRole(name.clone())], draft)
        .await?;
    Ok(())
}
