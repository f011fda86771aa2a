//! Reading one signing request (`RAG*`, `GET /requests/{id}`): expired when due, signed
//! when approved.

use sigil_domain::{RequestId, RequestStatus, SigningRequest};

use super::{expire_if_due, principal, readable, sign_approved};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};
use crate::service::releases;

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation = Operation::new("request.show", Need::Login);

/// One request, as the session may see it. A pending request past its expiry is moved to
/// `expired` (and persisted) first; an approved request whose signature is missing (the server
/// stopped in between) is signed now.
///
/// Refusals: `NOT_LOGGED_IN`, `REQUEST_NOT_FOUND` (unknown or not readable by the session).
pub async fn get(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
) -> Result<SigningRequest, ServiceError> {
    principal(session)?;
    let request = readable(state, session, id).await?;
    let request = expire_if_due(state, request).await?;
    let request = releases::settle_member(state, session, request).await?;
    if request.status() == RequestStatus::Approved {
        return sign_approved(state, session, request).await;
    }
    Ok(request)
}
