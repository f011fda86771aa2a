//! Approving a release: one decision signs every file (`POST /releases/{id}/approve`).

use sigil_domain::{ApprovalProgress, IdentityName, Permission, ReleaseId};

use super::{ReleaseWithFiles, get_unchecked, transition};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation = Operation::new(
    "release.approve",
    Need::AnyOf(&[Permission::SigningApprove]),
);

/// Approves release `id` as `actor` (or the one identity of the session that qualifies),
/// under the rule of a single request; only a release whose files all arrived can be
/// approved. When the quorum is reached every file is signed before this returns.
///
/// Refusals: as for [`requests::approve_as`].
pub async fn approve_as(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
    comment: &str,
    actor: Option<&IdentityName>,
) -> Result<ReleaseWithFiles, ServiceError> {
    transition(state, session, id, &OPERATION, |release, group, now| {
        let approver = release.acting_identity(session, group, actor, true)?;
        release
            .approve(&approver, session, group, comment, now)
            .map(|progress| {
                let detail = match progress {
                    ApprovalProgress::QuorumReached => "quorum reached".to_owned(),
                    ApprovalProgress::Recorded { remaining } => {
                        format!("{remaining} more approval(s) needed")
                    }
                };
                (approver, detail)
            })
    })
    .await?;
    get_unchecked(state, session, id).await
}
