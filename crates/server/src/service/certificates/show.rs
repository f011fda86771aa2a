//! Show one certificate with its chain.

use sigil_domain::{Permission, SerialNumber};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{IssuedCertificate, Pki, SYSTEM_ACTOR};
use crate::state::AppState;

/// Showing a certificate needs `ca:list`.
pub const OPERATION: Operation =
    Operation::new("certificate.show", Need::AnyOf(&[Permission::CaList]));

/// The certificate `serial` with its chain.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    serial: &SerialNumber,
) -> Result<IssuedCertificate, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, serial).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    serial: &SerialNumber,
) -> Result<IssuedCertificate, ServiceError> {
    let pki = Pki::new(state, SYSTEM_ACTOR);
    let record = pki.certificate(serial).await?;
    let chain = pki.chain_of_record(&record).await?;
    Ok(IssuedCertificate { record, chain })
}
