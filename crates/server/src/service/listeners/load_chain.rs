//! Load a listener certificate chain and swap it into the running listener.

use sigil_domain::{Interface, KeyId, Permission};
use sigil_pki::pem;
use sigil_pki::x509_cert::der::Encode;

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Pki, pki_error, refresh_tls};
use crate::state::AppState;

/// Loading a listener chain needs `ca:upload`.
pub const OPERATION: Operation =
    Operation::new("listener.chain", Need::AnyOf(&[Permission::CaUpload]));

/// Loads a listener certificate chain (PEM or DER, leaf first) for the sealed key `key_id`
/// and swaps it into the running listener: new connections get it at once. With `node`, the
/// chain is that node's own (other nodes follow within [`crate::server::FOLLOW_INTERVAL`]);
/// otherwise the deployment's.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    node: Option<&str>,
    interface: Interface,
    key_id: KeyId,
    chain: &[u8],
) -> Result<(), ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, node, interface, key_id, chain).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    node: Option<&str>,
    interface: Interface,
    key_id: KeyId,
    chain: &[u8],
) -> Result<(), ServiceError> {
    let certificates = pem::parse_certificates(chain).map_err(pki_error)?;
    let ders = certificates
        .iter()
        .map(|c| c.to_der().map_err(|e| pki_error(e.into())))
        .collect::<Result<Vec<_>, _>>()?;
    Pki::new(state, actor.into())
        .put_listener_chain(node, interface, key_id, ders)
        .await?;
    refresh_tls(state).await?;
    Ok(())
}
