//! Delete an identity with its API keys and group memberships.

use sigil_domain::{Change, IdentityName, Outcome, Permission};

use super::{keep_administrable, load_identity};
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation = Operation::new(
    "identity.delete",
    Need::AnyOf(&[Permission::AdminIdentities]),
);

/// Deletes `name`. An identity cannot delete itself (that would end the ceremony that
/// authorised it).
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &IdentityName,
) -> Result<(), ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if caller.has_identity(name) {
        return Err(ServiceError::Conflict(format!(
            "identity {name} is logged in on this session: another administrator must delete it"
        )));
    }
    let existing = load_identity(state, name).await?;
    keep_administrable(state, Some((&existing, true)), None).await?;
    let draft = audit(state, caller, OPERATION.action, Outcome::Success).object(name.as_str());
    state
        .store
        .commit(vec![Change::DeleteIdentity(name.clone())], draft)
        .await?;
    Ok(())
}
