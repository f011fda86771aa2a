//! Replace an approval group's members.

use sigil_domain::{ApprovalGroup, Change, Outcome, Permission};

use super::check_members;
use crate::service::ServiceError;
use crate::service::audit::join;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:groups`.
pub const OPERATION: Operation =
    Operation::new("group.update", Need::AnyOf(&[Permission::AdminGroups]));

/// Replaces the stored group of `group`'s name.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    group: ApprovalGroup,
) -> Result<ApprovalGroup, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if state.store.get_group(&group.name).await?.is_none() {
        return Err(ServiceError::NotFound(format!("group {}", group.name)));
    }
    check_members(state, &group).await?;
    let draft = audit(state, caller, OPERATION.action, Outcome::Success)
        .object(group.name.as_str())
        .detail("members", &join(&group.members));
    state
        .store
        .commit(vec![Change::UpdateGroup(group.clone())], draft)
        .await?;
    Ok(group)
}
