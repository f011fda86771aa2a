//! Delete an approval group no policy names.

use sigil_domain::{Change, GroupName, Outcome, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:groups`.
pub const OPERATION: Operation =
    Operation::new("group.delete", Need::AnyOf(&[Permission::AdminGroups]));

/// Deletes `name`, refused while a policy names it.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &GroupName,
) -> Result<(), ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if state.store.get_group(name).await?.is_none() {
        return Err(ServiceError::NotFound(format!("group {name}")));
    }
    let users: Vec<String> = state
        .store
        .list_policies()
        .await?
        .into_iter()
        .filter(|p| p.approval_group() == Some(name))
        .map(|p| p.alias().to_string())
        .collect();
    if !users.is_empty() {
        return Err(ServiceError::Conflict(format!(
            "group {name} approves for policies {}: change or delete them first",
            users.join(", ")
        )));
    }
    let draft = audit(state, caller, OPERATION.action, Outcome::Success).object(name.as_str());
    state
        .store
        .commit(vec![Change::DeleteGroup(name.clone())], draft)
        .await?;
    Ok(())
}
