//! Export a certificate and its Sigil-held private key as a password-protected PKCS#12 file.

use sigil_domain::{Permission, SerialNumber};
use zeroize::Zeroizing;

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Pki};
use crate::state::AppState;

/// Exporting a clear key needs `ca:export-clear-key`.
pub const OPERATION: Operation = Operation::new(
    "certificate.export",
    Need::AnyOf(&[Permission::CaExportClearKey]),
);

/// Exports the certificate `serial` and its key as a PKCS#12 file protected by `password`
/// (at least 12 characters). Refused unless the deployment's setting
/// `allow_export_with_password` is on.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    serial: &SerialNumber,
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, serial, password).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    serial: &SerialNumber,
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
    Pki::new(state, actor.into())
        .export_pkcs12(serial, password)
        .await
}
