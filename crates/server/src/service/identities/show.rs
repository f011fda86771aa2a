//! Show one identity.

use sigil_domain::{Identity, IdentityName, Permission};

use super::load_identity;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `admin:identities`.
pub const OPERATION: Operation =
    Operation::new("identity.show", Need::AnyOf(&[Permission::AdminIdentities]));

/// One identity.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    name: &IdentityName,
) -> Result<Identity, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    load_identity(state, name).await
}
