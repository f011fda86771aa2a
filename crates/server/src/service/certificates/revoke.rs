//! Revoke a certificate, and stop its TLS connections.

use sigil_domain::{CertificateRecord, Permission, RevocationReason, SerialNumber};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Pki, refresh_tls};
use crate::state::AppState;

/// Revoking needs `ca:revoke`.
pub const OPERATION: Operation =
    Operation::new("certificate.revoke", Need::AnyOf(&[Permission::CaRevoke]));

/// Revokes a certificate, rebuilds the listeners' TLS configurations, so that a revoked
/// client certificate is refused from the next handshake on, and closes the live connections
/// on this node that presented it.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    serial: &SerialNumber,
    reason: RevocationReason,
) -> Result<CertificateRecord, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, serial, reason).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    serial: &SerialNumber,
    reason: RevocationReason,
) -> Result<CertificateRecord, ServiceError> {
    let record = Pki::new(state, actor.into()).revoke(serial, reason).await?;
    // Refuse new handshakes first, then close the open connections (a reconnect between the
    // two would otherwise still be accepted).
    let refreshed = refresh_tls(state).await;
    let closed = state.live.revoke(&record.der);
    if closed > 0 {
        tracing::info!(%serial, closed, "closed the connections of a revoked client certificate");
    }
    refreshed?;
    Ok(record)
}
