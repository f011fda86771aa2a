//! List the certificates, of one CA or all.

use sigil_domain::{CaName, CertificateRecord, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Listing certificates needs `ca:list`.
pub const OPERATION: Operation =
    Operation::new("certificate.list", Need::AnyOf(&[Permission::CaList]));

/// Certificates issued by `issuer`, or all.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    issuer: Option<&CaName>,
) -> Result<Vec<CertificateRecord>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, issuer).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    issuer: Option<&CaName>,
) -> Result<Vec<CertificateRecord>, ServiceError> {
    Ok(state.store.list_certificates(issuer).await?)
}
