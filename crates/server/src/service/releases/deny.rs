//! Denying a release and every file of it (`POST /releases/{id}/deny`).

use sigil_domain::{IdentityName, Permission, ReleaseId};

use super::{ReleaseWithFiles, get_unchecked, transition};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation =
    Operation::new("release.deny", Need::AnyOf(&[Permission::SigningApprove]));

/// Denies release `id` with `reason` (every file of it is denied): as for
/// [`requests::deny_as`].
pub async fn deny_as(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
    reason: &str,
    actor: Option<&IdentityName>,
) -> Result<ReleaseWithFiles, ServiceError> {
    transition(state, session, id, &OPERATION, |release, group, now| {
        let by = release.acting_identity(session, group, actor, false)?;
        release
            .deny(&by, session, group, reason, now)
            .map(|()| (by, "denied".to_owned()))
    })
    .await?;
    get_unchecked(state, session, id).await
}
