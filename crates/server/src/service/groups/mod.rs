//! Approval groups (`admin:groups`): one module per use case, and the member check they
//! share.

pub mod create;
pub mod delete;
pub mod list;
pub mod update;

use sigil_domain::ApprovalGroup;

use crate::service::ServiceError;
use crate::state::AppState;

/// Refuses a group with too many members or a member that does not exist.
async fn check_members(state: &AppState, group: &ApprovalGroup) -> Result<(), ServiceError> {
    if group.members.len() > sigil_domain::group::MAX_GROUP_MEMBERS {
        return Err(ServiceError::Invalid(format!(
            "group {} has {} members: at most {} are allowed",
            group.name,
            group.members.len(),
            sigil_domain::group::MAX_GROUP_MEMBERS
        )));
    }
    for member in &group.members {
        if state.store.get_identity(member).await?.is_none() {
            return Err(ServiceError::Invalid(format!(
                "identity {member} does not exist: create it before adding it to a group"
            )));
        }
    }
    Ok(())
}
