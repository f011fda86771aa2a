//! Build and sign a fresh CRL of a CA.

use sigil_domain::{CaName, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, Crl, Pki};
use crate::state::AppState;

/// A CRL needs `ca:export` (it is public material).
pub const OPERATION: Operation = Operation::new("ca.crl", Need::AnyOf(&[Permission::CaExport]));

/// A freshly signed CRL of `ca`.
pub async fn run(state: &AppState, caller: &Caller<'_>, ca: &CaName) -> Result<Crl, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    perform(state, caller, ca).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    ca: &CaName,
) -> Result<Crl, ServiceError> {
    let pki = Pki::new(state, actor.into());
    let record = pki.ca_record(ca).await?;
    pki.build_crl(&record).await
}
