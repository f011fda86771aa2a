//! Listing the signing requests a session may read (`GET /requests`).

use sigil_domain::{RequestFilter, SigningRequest};

use super::{ListScope, expire_if_due, may_read};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation = Operation::new("request.list", Need::Login);

/// Requests matching `filter` that the session may read, newest first. Pending requests past
/// their expiry are reported (and persisted) as expired.
pub async fn list(
    state: &AppState,
    session: &Caller<'_>,
    filter: RequestFilter,
) -> Result<Vec<SigningRequest>, ServiceError> {
    let Some(scope) = ListScope::of(state, session, filter).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for request in state.store.list_requests(&scope.filter).await? {
        if scope.read_all || may_read(session, &request, &scope.groups) {
            out.push(expire_if_due(state, request).await?);
        }
    }
    Ok(out)
}
