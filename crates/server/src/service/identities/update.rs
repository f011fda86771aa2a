//! Change an identity's roles, enabled flag or certificate binding.

use sigil_domain::{Change, Identity, IdentityName, Outcome, Permission};

use super::{IdentityUpdate, keep_administrable, load_identity};
use crate::service::ServiceError;
use crate::service::audit::join;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::service::roles::check_roles_exist;
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation = Operation::new(
    "identity.update",
    Need::AnyOf(&[Permission::AdminIdentities]),
);

/// Applies `update` unless it leaves the deployment without an administrator.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &IdentityName,
    update: IdentityUpdate,
) -> Result<Identity, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    let mut identity = load_identity(state, name).await?;
    let mut draft = audit(state, caller, OPERATION.action, Outcome::Success).object(name.as_str());
    if let Some(roles) = update.roles {
        check_roles_exist(state, &roles).await?;
        draft = draft.detail("roles", &join(&roles));
        identity.roles = roles;
    }
    if let Some(enabled) = update.enabled {
        draft = draft.detail("enabled", &enabled.to_string());
        identity.enabled = enabled;
    }
    if let Some(bind) = update.require_client_certificate {
        draft = draft.detail("require_client_certificate", &bind.to_string());
        identity.require_client_certificate = bind;
    }
    keep_administrable(state, Some((&identity, false)), None).await?;
    state
        .store
        .commit(
            vec![Change::UpdateIdentity(Box::new(identity.clone()))],
            draft,
        )
        .await?;
    Ok(identity)
}
