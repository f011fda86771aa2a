//! Create an approval group.

use sigil_domain::{ApprovalGroup, Change, Outcome, Permission};

use super::check_members;
use crate::service::ServiceError;
use crate::service::audit::join;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:groups`.
pub const OPERATION: Operation =
    Operation::new("group.create", Need::AnyOf(&[Permission::AdminGroups]));

/// Stores `group`; every member must exist.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    group: ApprovalGroup,
) -> Result<ApprovalGroup, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    check_members(state, &group).await?;
    let draft = audit(state, caller, OPERATION.action, Outcome::Success)
        .object(group.name.as_str())
        .detail("members", &join(&group.members));
    state
        .store
        .commit(vec![Change::CreateGroup(group.clone())], draft)
        .await?;
    Ok(group)
}
