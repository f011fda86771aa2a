//! A new sealed listener key and a CSR for it.

use sigil_domain::{Interface, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, ListenerCsr, Pki};
use crate::state::AppState;

/// A listener CSR needs `keys:add`.
pub const OPERATION: Operation =
    Operation::new("listener.csr", Need::AnyOf(&[Permission::KeysAdd]));

/// Generates a new listener key (sealed) and a CSR for it. Sign the CSR with a `tls-server`
/// profile (here or elsewhere) and load the chain with [`super::load_chain`].
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    interface: Interface,
    subject: Option<&str>,
    sans: &[String],
) -> Result<ListenerCsr, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, interface, subject, sans).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    interface: Interface,
    subject: Option<&str>,
    sans: &[String],
) -> Result<ListenerCsr, ServiceError> {
    Pki::new(state, actor.into())
        .listener_csr(interface, subject, sans)
        .await
}
