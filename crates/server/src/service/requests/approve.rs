//! Approving a signing request as a member of its approval group (`POST /requests/{id}/approve`).

use sigil_domain::{
    ApprovalProgress, IdentityName, Permission, RequestId, RequestStatus, SigningRequest,
};

use super::{sign_approved, transition};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation = Operation::new(
    "request.approve",
    Need::AnyOf(&[Permission::SigningApprove]),
);

/// Approves request `id` as the one identity of `session` that qualifies (see
/// [`approve_as`]).
pub async fn approve(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
    comment: &str,
) -> Result<SigningRequest, ServiceError> {
    approve_as(state, session, id, comment, None).await
}

/// Approves request `id` as one identity of `session`: `actor` when named, else the only one
/// that qualifies ([`SigningRequest::acting_identity`]: it holds `signing:approve` through its
/// own active roles, is a member of the request's approval group, is not the requester and has
/// not approved yet). Permission and membership are that identity's own; the audit event
/// names it. When the quorum is reached the request is signed before this returns; the answer
/// is then `signed` (or `failed`, with the reason).
///
/// Refusals: `NOT_LOGGED_IN`, `NOT_PERMITTED` (no `signing:approve`, not a member, own
/// request, already approved, the named identity is not on the session, several identities
/// qualify and none was named), `REQUEST_NOT_FOUND`, `REQUEST_NOT_PENDING`, `INVALID`
/// (comment too long).
pub async fn approve_as(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
    comment: &str,
    actor: Option<&IdentityName>,
) -> Result<SigningRequest, ServiceError> {
    let updated = transition(state, session, id, &OPERATION, |request, group, now| {
        let approver = request.acting_identity(session, group, actor, true)?;
        request
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
    if updated.status() == RequestStatus::Approved {
        return sign_approved(state, session, updated).await;
    }
    Ok(updated)
}
