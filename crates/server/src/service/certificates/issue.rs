//! Issue a certificate from one of Sigil's CAs, for a CSR or for a key Sigil generates.

use sigil_domain::Permission;

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::pki::{Actor, IssueArgs, IssuedCertificate, KeySource, Pki};
use crate::state::AppState;

/// Issuing needs `ca:issue`.
pub const OPERATION: Operation =
    Operation::new("certificate.issue", Need::AnyOf(&[Permission::CaIssue]));

/// Issuing with a key Sigil generates also needs `keys:add`.
const WITH_NEW_KEY: Operation = Operation::new(
    "certificate.issue",
    Need::AllOf(&[Permission::CaIssue, Permission::KeysAdd]),
);

/// Issues a certificate.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    args: IssueArgs,
) -> Result<IssuedCertificate, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    if matches!(args.key, KeySource::Generate(_)) {
        authorize(state, caller, &WITH_NEW_KEY).await?;
    }
    perform(state, caller, args).await
}

/// [`run`] without the permission check, for the server itself and tests.
pub async fn perform(
    state: &AppState,
    actor: impl Into<Actor<'_>>,
    args: IssueArgs,
) -> Result<IssuedCertificate, ServiceError> {
    Pki::new(state, actor.into()).issue(&args).await
}
