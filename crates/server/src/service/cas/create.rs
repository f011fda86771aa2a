//! Create a CA container (a root, or an intermediate under a parent) with its key.

use sigil_domain::{CaRecord, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, NewCaArgs, Pki, refresh_tls};
use crate::state::AppState;

/// Creating a CA needs `ca:add`.
pub const OPERATION: Operation = Operation::new("ca.create", Need::AnyOf(&[Permission::CaAdd]));

/// Creates a CA container. Every CA container is a client CA of the listeners, so their TLS
/// configurations are rebuilt: certificates of the new CA are accepted from the next
/// handshake on.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    args: NewCaArgs,
) -> Result<CaRecord, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, args).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    args: NewCaArgs,
) -> Result<CaRecord, ServiceError> {
    let record = Pki::new(state, actor.into()).create_ca(&args).await?;
    refresh_tls(state).await?;
    Ok(record)
}
