//! Releases: open one, add its files, read, list, approve, deny, and sign every file once
//! the release is approved.
//!
//! Shared by the Host API (`RAUR`, `RAGR`, the `RL` tag of uploads) and the HTTPS API
//! (`/releases`). A decision is one store commit: the release and every one of its requests
//! change together, with one audit event (object: the release id). Signing then follows as
//! for a single request: each approved file is signed and stored with its own `request.sign`
//! event; a file left approved by a restart is signed by the next read of it or of its
//! release (the same recovery as for a single request). When every file is final the release
//! is `signed` (or `failed`), with a `release.sign` event.
//!
//! Who may read a release: as for a request (its requester, `signing:read-all`, and the
//! approvers of its group); others get `REQUEST_NOT_FOUND`.
//!
//! Each use case is a module of its own with its `OPERATION` (`upload`, `show`, `list`,
//! `approve`, `deny`, …); this module keeps what they share and re-exports their functions
//! under the names the listeners call.

pub mod approve;
pub mod deny;
pub mod list;
pub mod open;
pub mod show;

pub use approve::approve_as;
pub use deny::deny_as;
pub use list::list;
pub use open::open;
pub use show::get;

use sigil_domain::{
    AuditDraft, Change, CheckedUpload, IdentityName, Outcome, Permission, Release, ReleaseError,
    ReleaseId, RequestError, RequestId, RequestStatus, Session, SigningRequest, StoreError,
};
use sigil_proto::ErrorCode;

use super::ServiceError;
use super::authorize::{Caller, Operation, authorize};
use super::requests::{self, audit, group_approver, request_error};
use super::signing;
use crate::AppState;

/// How often a change is retried after losing a revision race.
const MAX_RETRIES: usize = 8;

/// A release with its files, in upload order.
#[derive(Debug, Clone)]
pub struct ReleaseWithFiles {
    /// The release.
    pub release: Release,
    /// Its requests.
    pub files: Vec<SigningRequest>,
}

/// Adds one file to release `id` (the caller's own, open, under the same policy): the
/// request is stored and the release counts it, in one commit. The last declared file makes
/// the release pending (open for approval); with no approval needed, its files are signed.
///
/// Called by [`requests::upload_in`] once the upload passed the policy's checks.
/// Refusals: `REQUEST_NOT_FOUND` (no such release of the caller's), `RELEASE_CLOSED`.
pub(crate) async fn add_file(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
    upload: CheckedUpload<'_>,
) -> Result<SigningRequest, ServiceError> {
    let policy = upload.policy();
    let _serialized = state.release_lock.lock().await;
    for _ in 0..MAX_RETRIES {
        let release = state.store.get_release(id).await?;
        let Some(mut release) = release.filter(|r| session.has_identity(r.requester())) else {
            return Err(release_not_found());
        };
        let now = state.now();
        if release.expire_if_due(now) {
            // Expired (by us or a concurrent reader): the next round refuses the file.
            match decide(state, expire_draft(&release, now), release).await {
                Ok(()) | Err(ServiceError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        if let Err(refusal) = release.add_file(policy.alias().as_str(), now) {
            let draft = audit(state, session, "request.create", Outcome::Failure)
                .detail("release", &id.to_string())
                .detail("reason", &refusal.to_string());
            state.store.commit(Vec::new(), draft).await?;
            return Err(release_error(&refusal));
        }
        let request_id = RequestId::generate(&mut rand::rng());
        let request = SigningRequest::new_in_release(request_id, &release, upload.clone(), now);
        let mut drafts = vec![requests::create_draft(state, session, &request)];
        // With no approval needed the file is signed now, as a single request would be, and
        // stored in its final state with both events.
        let request = if request.status() == RequestStatus::Approved {
            let outcome = signing::sign_under(state, policy, &request).await;
            let (signed, sign_draft) =
                requests::record_outcome(session, request, outcome, state.now())?;
            drafts.push(sign_draft);
            signed
        } else {
            request
        };
        if release.received() == release.declared() {
            drafts.push(
                super::authorize::located(
                    AuditDraft::new(now, "release.complete", Outcome::Success),
                    session,
                )
                .identity(release.requester().as_str())
                .object(&id.to_string())
                .detail("files", &release.declared().to_string())
                .detail("state", release.status().as_str()),
            );
        }
        let complete_and_approved = release.status() == RequestStatus::Approved;
        match state
            .store
            .commit_events(
                vec![
                    Change::UpdateRelease(Box::new(release)),
                    Change::CreateRequest(Box::new(request.clone())),
                ],
                drafts,
            )
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
        state.changes.notify();
        if complete_and_approved {
            drop(_serialized);
            sign_files(state, session, id).await?;
            return requests::load(state, request_id).await;
        }
        return Ok(request);
    }
    Err(busy())
}

/// Expires a pending member's release when it is due (a member expires only with its
/// release); returns the member as it is then.
pub(crate) async fn settle_member(
    state: &AppState,
    session: &Caller<'_>,
    request: SigningRequest,
) -> Result<SigningRequest, ServiceError> {
    let Some(id) = request.release() else {
        return Ok(request);
    };
    if request.status() != RequestStatus::Pending {
        return Ok(request);
    }
    if let Some(release) = state.store.get_release(id).await? {
        settle(state, session, release).await?;
    }
    requests::load(state, request.id()).await
}

async fn get_unchecked(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
) -> Result<ReleaseWithFiles, ServiceError> {
    let release = state
        .store
        .get_release(id)
        .await?
        .ok_or_else(release_not_found)?;
    settle(state, session, release).await
}

/// Expires a due release, signs the missing files of an approved one, and reads its files.
async fn settle(
    state: &AppState,
    caller: &Caller<'_>,
    release: Release,
) -> Result<ReleaseWithFiles, ServiceError> {
    let id = release.id();
    let mut release = release;
    let now = state.now();
    if release.expire_if_due(now) {
        match decide(state, expire_draft(&release, now), release).await {
            Ok(()) | Err(ServiceError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        release = reload(state, id).await?;
    }
    if release.status() == RequestStatus::Approved {
        sign_files(state, caller, id).await?;
        release = reload(state, id).await?;
    }
    let files = state.store.list_release_requests(id).await?;
    Ok(ReleaseWithFiles { release, files })
}

/// Signs every approved file of approved release `id`, then records the release `signed`
/// (or `failed`) once every file is final.
async fn sign_files(
    state: &AppState,
    caller: &Caller<'_>,
    id: ReleaseId,
) -> Result<(), ServiceError> {
    let mut all_signed = true;
    for file in state.store.list_release_requests(id).await? {
        let file = match file.status() {
            RequestStatus::Approved => requests::sign_approved(state, caller, file).await?,
            RequestStatus::Pending => {
                // Cannot happen (the decision moves every file in its own commit); never
                // record a release signed with a file left undecided.
                tracing::error!(release = %id, request = %file.id(), "a file of an approved release is still pending");
                return Ok(());
            }
            _ => file,
        };
        all_signed &= file.status() == RequestStatus::Signed;
    }
    for _ in 0..MAX_RETRIES {
        let mut release = reload(state, id).await?;
        if release.status() != RequestStatus::Approved {
            return Ok(());
        }
        let now = state.now();
        release
            .finish(all_signed, now)
            .map_err(|e| request_error(&e))?;
        let draft = super::authorize::located(
            AuditDraft::new(
                now,
                "release.sign",
                if all_signed {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            ),
            caller,
        )
        .identity(release.requester().as_str())
        .object(&id.to_string())
        .detail("files", &release.declared().to_string())
        .detail("state", release.status().as_str());
        match state
            .store
            .commit(vec![Change::UpdateRelease(Box::new(release))], draft)
            .await
        {
            Ok(_) => {
                state.changes.notify();
                return Ok(());
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy())
}

/// Commits a release's new decision with every pending file taking it, in one commit.
async fn decide(state: &AppState, draft: AuditDraft, release: Release) -> Result<(), ServiceError> {
    let mut changes = Vec::new();
    for mut file in state.store.list_release_requests(release.id()).await? {
        if file.apply_release_decision(&release) {
            changes.push(Change::UpdateRequest(Box::new(file)));
        }
    }
    changes.insert(0, Change::UpdateRelease(Box::new(release)));
    state.store.commit(changes, draft).await?;
    state.changes.notify();
    Ok(())
}

fn expire_draft(release: &Release, now: time::OffsetDateTime) -> AuditDraft {
    AuditDraft::new(now, "release.expire", Outcome::Success)
        .identity(release.requester().as_str())
        .object(&release.id().to_string())
}

/// Loads, checks and applies an approve/deny `change` with its files, retrying on a
/// revision conflict. Refusals are audited too.
async fn transition<F>(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
    operation: &Operation,
    change: F,
) -> Result<(), ServiceError>
where
    F: Fn(
        &mut Release,
        Option<&sigil_domain::ApprovalGroup>,
        time::OffsetDateTime,
    ) -> Result<(IdentityName, String), RequestError>,
{
    authorize(state, session, operation).await?;
    let action = operation.action;
    for _ in 0..MAX_RETRIES {
        let release = readable(state, session, id).await?;
        let mut release = settle(state, session, release).await?.release;
        let group = requests::approval_group(state, release.approval_group()).await?;
        let now = state.now();
        let (actor, detail) = match change(&mut release, group.as_ref(), now) {
            Ok(done) => done,
            Err(refusal) => {
                return Err(
                    requests::refused(state, session, action, &id.to_string(), &refusal).await?,
                );
            }
        };
        let draft = audit(state, session, action, Outcome::Success)
            .identity(actor.as_str())
            .object(&id.to_string())
            .detail("result", &detail)
            .detail("files", &release.declared().to_string());
        match decide(state, draft, release).await {
            Ok(()) => return Ok(()),
            Err(ServiceError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(busy())
}

async fn reload(state: &AppState, id: ReleaseId) -> Result<Release, ServiceError> {
    state
        .store
        .get_release(id)
        .await?
        .ok_or_else(release_not_found)
}

/// The release if the session may read it, else `REQUEST_NOT_FOUND`.
async fn readable(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
) -> Result<Release, ServiceError> {
    let release = reload(state, id).await?;
    if release.check_read(session).is_ok() {
        return Ok(release);
    }
    if session.has(Permission::SigningApprove)
        && let Some(name) = release.approval_group()
        && let Some(group) = state.store.get_group(name).await?
        && group_approver(session, &group)
    {
        return Ok(release);
    }
    Err(release_not_found())
}

fn may_read(session: &Session, release: &Release, groups: &[sigil_domain::ApprovalGroup]) -> bool {
    if release.check_read(session).is_ok() {
        return true;
    }
    session.has(Permission::SigningApprove)
        && release.approval_group().is_some_and(|name| {
            groups
                .iter()
                .any(|g| &g.name == name && group_approver(session, g))
        })
}

fn release_not_found() -> ServiceError {
    ServiceError::refused(
        ErrorCode::RequestNotFound,
        ReleaseError::NotFound.to_string(),
    )
}

fn busy() -> ServiceError {
    ServiceError::refused(
        ErrorCode::ServerBusy,
        "the release kept changing while this change was applied: retry",
    )
}

/// The wire error of a refused release operation.
pub fn release_error(refusal: &ReleaseError) -> ServiceError {
    let code = match refusal {
        ReleaseError::Empty | ReleaseError::TooManyFiles { .. } => ErrorCode::BadValue,
        ReleaseError::Metadata(_) => ErrorCode::MetadataTooLarge,
        ReleaseError::NotFound => ErrorCode::RequestNotFound,
        _ => ErrorCode::ReleaseClosed,
    };
    ServiceError::refused(code, refusal.to_string())
}
