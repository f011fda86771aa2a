//! List every approval group.

use sigil_domain::{ApprovalGroup, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:groups`.
pub const OPERATION: Operation =
    Operation::new("group.list", Need::AnyOf(&[Permission::AdminGroups]));

/// All approval groups.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
) -> Result<Vec<ApprovalGroup>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    Ok(state.store.list_groups().await?)
}
