//! Opening a release of several files under one policy (`RAUR` on the Host API).

use sigil_domain::{Change, Outcome, Permission, Release, ReleaseId, ReleaseMetadata};

use super::release_error;
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::requests::{self, audit, principal};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation =
    Operation::new("release.create", Need::AnyOf(&[Permission::SigningRequest]));

/// Opens a release of `declared` files under `policy` for the session's principal.
///
/// Refusals: `NOT_LOGGED_IN`, `POLICY_NOT_FOUND` (unknown or not visible), `BAD_VALUE` (no
/// files, more than [`sigil_domain::RELEASE_MAX_FILES`]), `METADATA_TOO_LARGE`.
pub async fn open(
    state: &AppState,
    session: &Caller<'_>,
    policy: &str,
    declared: u64,
    metadata: ReleaseMetadata,
) -> Result<Release, ServiceError> {
    authorize(state, session, &OPERATION).await?;
    let requester = principal(session)?.clone();
    let found = match sigil_domain::PolicyAlias::new(policy) {
        Ok(alias) => state.cache.cached_policy(&alias).await?,
        Err(_) => None,
    }
    .filter(|p| p.visible_to(session) && session.has(Permission::SigningRequest));
    let Some(found) = found else {
        let error = requests::upload_error(&sigil_domain::UploadError::PolicyNotFound);
        return refuse_open(state, session, policy, error).await;
    };
    let id = ReleaseId::generate(&mut rand::rng());
    let release = match Release::open(id, &found, requester, declared, metadata, state.now()) {
        Ok(release) => release,
        Err(e) => return refuse_open(state, session, policy, release_error(&e)).await,
    };
    let policy = found;
    let mut draft = audit(state, session, "release.create", Outcome::Success)
        .object(&id.to_string())
        .detail("policy", policy.alias().as_str())
        .detail("files", &declared.to_string())
        .detail(
            "approvals_required",
            &release.approvals_required().to_string(),
        );
    if let Some(description) = &release.metadata().description {
        draft = draft.detail("description", description);
    }
    state
        .store
        .commit(
            vec![Change::CreateRelease(Box::new(release.clone()))],
            draft,
        )
        .await?;
    Ok(release)
}

/// Audits a refused `RAUR` and returns the refusal.
async fn refuse_open(
    state: &AppState,
    session: &Caller<'_>,
    policy: &str,
    error: ServiceError,
) -> Result<Release, ServiceError> {
    let draft = audit(state, session, "release.create", Outcome::Failure)
        .detail("policy", policy)
        .detail("reason", &error.to_string());
    state.store.commit(Vec::new(), draft).await?;
    Err(error)
}
