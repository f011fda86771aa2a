//! Listing the releases a session may read (`GET /releases`).

use sigil_domain::RequestFilter;

use super::{ReleaseWithFiles, may_read, settle};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};
use crate::service::requests::{self};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation = Operation::new("release.list", Need::Login);

/// Releases matching `filter` that the session may read, newest first (the visibility rule
/// of [`requests::list`]).
pub async fn list(
    state: &AppState,
    session: &Caller<'_>,
    filter: RequestFilter,
) -> Result<Vec<ReleaseWithFiles>, ServiceError> {
    let Some(scope) = requests::ListScope::of(state, session, filter).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for release in state.store.list_releases(&scope.filter).await? {
        if scope.read_all || may_read(session, &release, &scope.groups) {
            out.push(settle(state, session, release).await?);
        }
    }
    Ok(out)
}
