//! Signing requests: upload, read, list, approve, deny, and producing the signature.
//!
//! Shared by the Host API (`RAU*`/`RAG*`) and the HTTPS API (`/requests`). Every transition
//! is one store commit with its audit event (object: the request id). Concurrent changes to
//! one request are caught by the store's revision check; the loser reloads and retries.
//!
//! Who may read a request: its requester, a session with `signing:read-all`, and an approver
//! (`signing:approve`) who is a member of the request's approval group — approvers must see
//! what they judge. Everyone else gets `REQUEST_NOT_FOUND`, as for an unknown id.

use sigil_domain::{
    ApprovalProgress, AuditDraft, Change, IdentityName, Outcome, Permission, ReleaseId,
    RequestError, RequestFilter, RequestId, RequestStatus, Session, SigningRequest, Upload,
    UploadError,
};
use sigil_proto::ErrorCode;

use super::ServiceError;
use super::authorize::{Caller, Need, Operation, authorize};
use super::{releases, signing};
use crate::AppState;

/// Submitting a request needs `signing:request` (the Host API's table asks the same of its
/// upload commands).
pub const OPERATION: Operation =
    Operation::new("request.create", Need::AnyOf(&[Permission::SigningRequest]));

/// How often a transition is retried after losing a revision race.
const MAX_RETRIES: usize = 5;

/// Submits a signing request under the policy `policy` (an alias) for the session's principal.
///
/// Refusals: `NOT_LOGGED_IN`, `POLICY_NOT_FOUND` (unknown or not visible to the session),
/// `FORMAT_NOT_ALLOWED`, `HASH_NOT_ALLOWED`, `DIGEST_LENGTH`, `METADATA_TOO_LARGE`. Nothing is
/// stored on a refusal (but the audit event). When the policy requires no approval the
/// request is signed before this returns; if that fails the request is stored as failed and
/// the answer is `SIGNING_FAILED`.
pub async fn upload(
    state: &AppState,
    session: &Caller<'_>,
    policy: &str,
    upload: Upload,
) -> Result<SigningRequest, ServiceError> {
    upload_in(state, session, policy, upload, None, None).await
}

/// [`upload`], as one file of `release` when given (see [`releases`]): the same checks, then
/// the release must be the caller's, open and under the same policy (`REQUEST_NOT_FOUND`,
/// `RELEASE_CLOSED`).
///
/// With an idempotency key (`IK`, not for a file of a release), the request id is derived
/// from the requester and the key: an upload repeated with the same key (a client that lost
/// the answer and sent it again, possibly through another node) returns the request the first
/// one created, after the same checks, without creating or signing anything again. The same key
/// with another digest, policy or format is a conflict (`BAD_VALUE` on the Host API).
pub async fn upload_in(
    state: &AppState,
    session: &Caller<'_>,
    policy: &str,
    upload: Upload,
    release: Option<ReleaseId>,
    idempotency_key: Option<&str>,
) -> Result<SigningRequest, ServiceError> {
    let format = upload.format;
    let result = upload_unmetered(state, session, policy, upload, release, idempotency_key).await;
    crate::metrics::signing_request(format, policy, &result);
    result
}

async fn upload_unmetered(
    state: &AppState,
    session: &Caller<'_>,
    policy: &str,
    upload: Upload,
    release: Option<ReleaseId>,
    idempotency_key: Option<&str>,
) -> Result<SigningRequest, ServiceError> {
    authorize(state, session, &OPERATION).await?;
    let requester = principal(session)?.clone();
    let found = match sigil_domain::PolicyAlias::new(policy) {
        Ok(alias) => state.cache.cached_policy(&alias).await?,
        Err(_) => None,
    };
    let format = upload.format;
    let checked = match sigil_domain::check_upload(found.as_ref(), session, upload) {
        Ok(checked) => checked,
        Err(refusal) => {
            let error = upload_error(&refusal);
            let draft = audit(state, session, "request.create", Outcome::Failure)
                .detail("policy", policy)
                .detail("format", format.as_str())
                .detail("reason", &refusal.to_string());
            state.store.commit(Vec::new(), draft).await?;
            return Err(error);
        }
    };
    let now = state.now();
    let policy = checked.policy();
    if let Some(release) = release {
        return releases::add_file(state, session, release, checked).await;
    }
    let id = match idempotency_key {
        Some(key) => idempotent_id(&requester, key),
        None => RequestId::generate(&mut rand::rng()),
    };
    if idempotency_key.is_some()
        && let Some(existing) = state.store.get_request(id).await?
    {
        return repeated(existing, policy, checked.upload());
    }
    let request = SigningRequest::new(id, requester, checked.clone(), now);
    let draft = create_draft(state, session, &request);
    if request.status() != RequestStatus::Approved {
        let created = state
            .store
            .commit(
                vec![Change::CreateRequest(Box::new(request.clone()))],
                draft,
            )
            .await;
        return match created {
            Ok(_) => Ok(request),
            // The same upload arrived twice at once (e.g. through two nodes): the other won.
            Err(sigil_domain::StoreError::Conflict { .. }) if idempotency_key.is_some() => {
                match state.store.get_request(id).await? {
                    Some(existing) => repeated(existing, policy, checked.upload()),
                    None => Err(ServiceError::Conflict(format!(
                        "request {id} could not be created: retry the upload"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        };
    }
    // No approval needed: sign first, then store the request already in its final state
    // (signed, or failed with the reason) with both events, `request.create` then
    // `request.sign`, in one commit; answer only once that is durable.
    let outcome = signing::sign_under(state, policy, &request).await;
    let (signed, sign_draft) = record_outcome(session, request, outcome, state.now())?;
    state
        .store
        .commit_events(
            vec![Change::CreateRequest(Box::new(signed.clone()))],
            vec![draft, sign_draft],
        )
        .await?;
    if let sigil_domain::RequestState::Failed { reason, .. } = signed.state() {
        return Err(ServiceError::refused(
            ErrorCode::SigningFailed,
            format!("request {id}: {reason}"),
        ));
    }
    Ok(signed)
}

/// The request id of an upload with an idempotency key: the same requester and key always give
/// the same id, another requester's key never does.
fn idempotent_id(requester: &sigil_domain::IdentityName, key: &str) -> RequestId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"sigil-idempotency-v1\0")
        .chain_update(requester.as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    RequestId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The answer to a repeated idempotent upload: the existing request, if it is the same upload.
fn repeated(
    existing: SigningRequest,
    policy: &sigil_domain::IssuancePolicy,
    upload: &Upload,
) -> Result<SigningRequest, ServiceError> {
    if existing.digest() != upload.digest.as_slice()
        || existing.policy() != policy.alias()
        || existing.format() != upload.format
    {
        return Err(ServiceError::Conflict(format!(
            "the idempotency key of this upload was already used for request {} with another \
             file, policy or format: send a new key for a new file",
            existing.id()
        )));
    }
    Ok(existing)
}

/// The `request.create` audit event of a new request.
pub(crate) fn create_draft(
    state: &AppState,
    session: &Caller<'_>,
    request: &SigningRequest,
) -> AuditDraft {
    let mut draft = audit(state, session, "request.create", Outcome::Success)
        .object(&request.id().to_string())
        .detail("policy", request.policy().as_str())
        .detail("format", request.format().as_str())
        .detail("hash", request.hash().name())
        .detail("digest", &hex::encode(request.digest()))
        .detail(
            "approvals_required",
            &request.approvals_required().to_string(),
        );
    if request.format() == sigil_domain::SigningFormat::Authenticode {
        let subject = request
            .metadata()
            .subject
            .unwrap_or(sigil_domain::AuthenticodeSubject::Pe);
        draft = draft.detail("subject", subject.as_str());
    }
    if let Some(name) = &request.metadata().file_name {
        draft = draft.detail("file_name", name);
    }
    if let Some(release) = request.release() {
        draft = draft.detail("release", &release.to_string());
    }
    draft
}

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

/// What a listing of requests or releases may show a session (one visibility rule for both).
pub(crate) struct ListScope {
    /// The query, narrowed to the caller's own items when it may read only those.
    pub(crate) filter: RequestFilter,
    /// `signing:read-all`: every item is visible.
    pub(crate) read_all: bool,
    /// The approval groups an approver's visibility is checked against (empty with read-all).
    pub(crate) groups: Vec<sigil_domain::ApprovalGroup>,
}

impl ListScope {
    /// The scope of `session` for `filter`; `None` when it can see nothing (it may read only
    /// its own items and asks for another requester's).
    pub(crate) async fn of(
        state: &AppState,
        session: &Session,
        filter: RequestFilter,
    ) -> Result<Option<Self>, ServiceError> {
        principal(session)?;
        let mut filter = filter;
        let read_all = session.has(Permission::SigningReadAll);
        if !read_all && !session.has(Permission::SigningApprove) {
            // Only one's own items: narrow the query to the principal.
            match &filter.requester {
                Some(requester) if !session.has_identity(requester) => return Ok(None),
                Some(_) => {}
                None => filter.requester = session.principal().cloned(),
            }
        }
        let groups = if read_all {
            Vec::new()
        } else {
            state.store.list_groups().await?
        };
        Ok(Some(Self {
            filter,
            read_all,
            groups,
        }))
    }
}

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
    let updated = transition(
        state,
        session,
        id,
        "request.approve",
        |request, group, now| {
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
        },
    )
    .await?;
    if updated.status() == RequestStatus::Approved {
        return sign_approved(state, session, updated).await;
    }
    Ok(updated)
}

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
    transition(state, session, id, "request.deny", |request, group, now| {
        let by = request.acting_identity(session, group, actor, false)?;
        request
            .deny(&by, session, group, reason, now)
            .map(|()| (by, "denied".to_owned()))
    })
    .await
}

/// Loads, checks and applies an approve/deny `change`, retrying on a revision conflict, and
/// commits it with an audit event. Refusals are audited too.
async fn transition<F>(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
    action: &str,
    change: F,
) -> Result<SigningRequest, ServiceError>
where
    F: Fn(
        &mut SigningRequest,
        Option<&sigil_domain::ApprovalGroup>,
        time::OffsetDateTime,
    ) -> Result<(IdentityName, String), RequestError>,
{
    principal(session)?;
    if !session.has(Permission::SigningApprove) {
        return Err(ServiceError::refused(
            ErrorCode::NotPermitted,
            "approving and denying need the signing:approve permission: log in as an approver",
        ));
    }
    for _ in 0..MAX_RETRIES {
        let request = readable(state, session, id).await?;
        let mut request = expire_if_due(state, request).await?;
        let group = match request.approval_group() {
            Some(name) => state.store.get_group(name).await?,
            None => None,
        };
        let now = state.now();
        let (actor, detail) = match change(&mut request, group.as_ref(), now) {
            Ok(done) => done,
            Err(refusal) => {
                let draft = audit(state, session, action, Outcome::Failure)
                    .object(&id.to_string())
                    .detail("reason", &refusal.to_string());
                state.store.commit(Vec::new(), draft).await?;
                return Err(request_error(&refusal));
            }
        };
        let draft = audit(state, session, action, Outcome::Success)
            .identity(actor.as_str())
            .object(&id.to_string())
            .detail("result", &detail);
        match state
            .store
            .commit(vec![Change::UpdateRequest(Box::new(request))], draft)
            .await
        {
            Ok(_) => {
                state.changes.notify();
                return load(state, id).await;
            }
            Err(sigil_domain::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::refused(
        ErrorCode::ServerBusy,
        "the request kept changing while this change was applied: retry",
    ))
}

/// Signs an approved request and stores the result (or the failure). Returns the stored
/// request; when another task stored a result first, that one.
pub(crate) async fn sign_approved(
    state: &AppState,
    caller: &Caller<'_>,
    request: SigningRequest,
) -> Result<SigningRequest, ServiceError> {
    let id = request.id();
    let outcome = signing::sign(state, &request).await;
    let (mut request, draft) = record_outcome(caller, request, outcome, state.now())?;
    match state
        .store
        .commit(
            vec![Change::UpdateRequest(Box::new(request.clone()))],
            draft,
        )
        .await
    {
        Ok(_) => {
            state.changes.notify();
            // The store moved the revision on by the update.
            request.set_revision(request.revision() + 1);
            Ok(request)
        }
        // A concurrent reader signed it first: theirs stands.
        Err(sigil_domain::StoreError::Conflict { .. }) => load(state, id).await,
        Err(e) => Err(e.into()),
    }
}

/// The request with a signing outcome applied (signed, or failed with the reason) and the
/// `request.sign` audit event describing it: by the requester, on the interface and from the
/// source of the call that got it signed.
pub(crate) fn record_outcome(
    caller: &Caller<'_>,
    mut request: SigningRequest,
    outcome: Result<super::stamping::Signed, signing::SigningError>,
    now: time::OffsetDateTime,
) -> Result<(SigningRequest, AuditDraft), ServiceError> {
    let id = request.id().to_string();
    let draft = match outcome {
        Ok(signed) => {
            request
                .mark_signed_stamped(signed.result, signed.timestamp, now)
                .map_err(|e| request_error(&e))?;
            super::authorize::located(
                AuditDraft::new(now, "request.sign", Outcome::Success),
                caller,
            )
            .identity(request.requester().as_str())
            .object(&id)
            .detail("policy", request.policy().as_str())
        }
        Err(failure) => {
            tracing::warn!(request = %id, error = %failure, "signing failed");
            request
                .mark_failed(&failure.to_string(), now)
                .map_err(|e| request_error(&e))?;
            super::authorize::located(
                AuditDraft::new(now, "request.sign", Outcome::Failure),
                caller,
            )
            .identity(request.requester().as_str())
            .object(&id)
            .detail("reason", &failure.to_string())
        }
    };
    Ok((request, draft))
}

/// Moves a pending request past its expiry to `expired` and persists it (once: a lost race
/// means another task did it).
async fn expire_if_due(
    state: &AppState,
    mut request: SigningRequest,
) -> Result<SigningRequest, ServiceError> {
    let now = state.now();
    if !request.expire_if_due(now) {
        return Ok(request);
    }
    let id = request.id();
    let draft = AuditDraft::new(now, "request.expire", Outcome::Success)
        .identity(request.requester().as_str())
        .object(&id.to_string());
    match state
        .store
        .commit(vec![Change::UpdateRequest(Box::new(request))], draft)
        .await
    {
        Ok(_) => {
            state.changes.notify();
            load(state, id).await
        }
        Err(sigil_domain::StoreError::Conflict { .. }) => load(state, id).await,
        Err(e) => Err(e.into()),
    }
}

/// The request if the session may read it, else `REQUEST_NOT_FOUND`.
async fn readable(
    state: &AppState,
    session: &Session,
    id: RequestId,
) -> Result<SigningRequest, ServiceError> {
    let request = state.store.get_request(id).await?.ok_or_else(not_found)?;
    if request.check_read(session).is_ok() {
        return Ok(request);
    }
    if session.has(Permission::SigningApprove)
        && let Some(name) = request.approval_group()
        && let Some(group) = state.store.get_group(name).await?
        && group_approver(session, &group)
    {
        return Ok(request);
    }
    Err(not_found())
}

/// [`readable`] without the store, for lists.
fn may_read(
    session: &Session,
    request: &SigningRequest,
    groups: &[sigil_domain::ApprovalGroup],
) -> bool {
    if request.check_read(session).is_ok() {
        return true;
    }
    session.has(Permission::SigningApprove)
        && request.approval_group().is_some_and(|name| {
            groups
                .iter()
                .any(|g| &g.name == name && group_approver(session, g))
        })
}

/// Whether one identity of `session` is both a member of `group` and holds `signing:approve`
/// itself (permission and membership from the same identity, as for approving).
pub(crate) fn group_approver(session: &Session, group: &sigil_domain::ApprovalGroup) -> bool {
    session
        .identities()
        .iter()
        .any(|i| group.is_member(i) && session.identity_has(i, Permission::SigningApprove))
}

pub(crate) async fn load(state: &AppState, id: RequestId) -> Result<SigningRequest, ServiceError> {
    state.store.get_request(id).await?.ok_or_else(not_found)
}

pub(crate) fn principal(session: &Session) -> Result<&IdentityName, ServiceError> {
    session
        .principal()
        .ok_or_else(|| ServiceError::refused(ErrorCode::NotLoggedIn, "not logged in: log in first"))
}

fn not_found() -> ServiceError {
    ServiceError::refused(
        ErrorCode::RequestNotFound,
        RequestError::NotFound.to_string(),
    )
}

pub(crate) fn audit(
    state: &AppState,
    session: &Caller<'_>,
    action: &str,
    outcome: Outcome,
) -> AuditDraft {
    let draft = AuditDraft::new(state.now(), action, outcome);
    let draft = match session.principal() {
        Some(principal) => draft.identity(principal.as_str()),
        None => draft,
    };
    super::authorize::located(draft, session)
}

/// The wire error of an upload refusal.
pub fn upload_error(refusal: &UploadError) -> ServiceError {
    let code = match refusal {
        UploadError::PolicyNotFound => ErrorCode::PolicyNotFound,
        UploadError::HashNotAllowed { .. } => ErrorCode::HashNotAllowed,
        UploadError::FormatNotAllowed { .. } => ErrorCode::FormatNotAllowed,
        UploadError::DigestLength { .. } => ErrorCode::DigestLength,
        UploadError::Metadata(_) => ErrorCode::MetadataTooLarge,
        _ => ErrorCode::BadValue,
    };
    let message = match refusal {
        UploadError::HashNotAllowed { .. } => {
            format!("{refusal}: use one the policy lists (RAGA, `sigil policies show`)")
        }
        UploadError::FormatNotAllowed { .. } => {
            format!("{refusal}: use a policy that allows it")
        }
        UploadError::DigestLength { .. } => format!("{refusal}: send the whole digest"),
        UploadError::Metadata(_) => format!("{refusal}: shorten it"),
        _ => refusal.to_string(),
    };
    ServiceError::refused(code, message)
}

/// The wire error of a refused transition or read.
pub fn request_error(refusal: &RequestError) -> ServiceError {
    let code = match refusal {
        RequestError::NotPending { .. } | RequestError::Expired => ErrorCode::RequestNotPending,
        RequestError::NotFound => ErrorCode::RequestNotFound,
        RequestError::CommentTooLong { .. } => {
            return ServiceError::Invalid(format!("{refusal}: shorten it"));
        }
        RequestError::WrongState { .. } | RequestError::Incomplete { .. } => {
            ErrorCode::RequestNotPending
        }
        RequestError::InRelease { .. } => ErrorCode::RequestInRelease,
        _ => ErrorCode::NotPermitted,
    };
    ServiceError::refused(code, refusal.to_string())
}
