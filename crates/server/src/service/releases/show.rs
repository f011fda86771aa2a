//! Reading one release with its files (`RAGR`, `GET /releases/{id}`).

use sigil_domain::ReleaseId;

use super::{ReleaseWithFiles, readable, settle};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation};
use crate::service::requests::principal;

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation = Operation::new("release.show", Need::Login);

/// Release `id` with its files, as the session may see it: an open or pending release past
/// its expiry is expired first (with its files), an approved one has its missing signatures
/// made (see the module documentation).
///
/// Refusals: `NOT_LOGGED_IN`, `REQUEST_NOT_FOUND`.
pub async fn get(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
) -> Result<ReleaseWithFiles, ServiceError> {
    principal(session)?;
    let release = readable(state, session, id).await?;
    settle(state, session, release).await
}
