//! Denying a signing request as a member of its approval group (`POST /requests/{id}/deny`).

use sigil_domain::{IdentityName, Permission, RequestId, SigningRequest};

use super::transition;
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation =
    Operation::new("request.deny", Need::AnyOf(&[Permission::SigningApprove]));

/// Denies request `id` with `reason` as the one identity of `session` that qualifies.
pub async fn deny(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
    reason: &str,
) -> Result<SigningRequest, ServiceError> {
    deny_as(state, session, id, reason, None).await
}

/// Denies request `id` with `reason` (the reason reaches the requester) as `actor`, or the
/// only identity of `session` that qualifies: as for [`approve_as`], except that one that
/// approved already may still deny.
///
/// Refusals: as for [`approve_as`].
pub async fn deny_as(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
    reason: &str,
    actor: Option<&IdentityName>,
) -> Result<SigningRequest, ServiceError> {
    transition(state, session, id, &OPERATION, |request, group, now| {
        let by = request.acting_identity(session, group, actor, false)?;
        request
            .deny(&by, session, group, reason, now)
            .map(|()| (by, "denied".to_owned()))
    })
    .await
}
