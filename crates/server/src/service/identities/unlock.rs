//! Clear an identity's lockout and failure counter.

use sigil_domain::{Change, Identity, IdentityName, Outcome, Permission};

use super::load_identity;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation = Operation::new(
    "identity.unlock",
    Need::AnyOf(&[Permission::AdminIdentities]),
);

/// Unlocks `name`.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &IdentityName,
) -> Result<Identity, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let mut identity = load_identity(state, name).await?;
    identity.unlock();
    let draft = audit(state, caller, OPERATION.action, Outcome::Success).object(name.as_str());
    state
        .store
        .commit(
            vec![Change::UpdateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(identity)
}
