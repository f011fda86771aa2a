//! Signing requests: upload, read, list, approve, deny, and producing the signature.
//!
//! Shared by the Host API (`RAU*`/`RAG*`) and the HTTPS API (`/requests`). Every transition
//! is one store commit with its audit event (object: the request id). Concurrent changes to
//! one request are caught by the store's revision check; the loser reloads and retries.
//!
//! Who may read a request: its requester, a session with `signing:read-all`, and an approver
//! (`signing:approve`) who is a member of the request's approval group — approvers must see
//! what they judge. Everyone else gets `REQUEST_NOT_FOUND`, as for an unknown id.
//!
//! Each use case is a module of its own with its `OPERATION` (`upload`, `show`, `list`,
//! `approve`, `deny`, …); this module keeps what they share and re-exports their functions
//! under the names the listeners call.

pub mod approve;
pub mod deny;
pub mod list;
pub mod show;
pub mod upload;

pub use approve::{approve, approve_as};
pub use deny::{deny, deny_as};
pub use list::list;
pub use show::get;
pub(crate) use upload::create_draft;
pub use upload::{upload, upload_in};

use sigil_domain::{
    AuditDraft, Change, IdentityName, Outcome, Permission, RequestError, RequestFilter, RequestId,
    Session, SigningRequest, UploadError,
};
use sigil_proto::ErrorCode;

use super::ServiceError;
use super::authorize::{Caller, Operation, authorize};
use super::signing;
use crate::AppState;

/// How often a transition is retried after losing a revision race.
const MAX_RETRIES: usize = 5;

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

/// The approval group `name` names, if any (a decision is checked against its members).
pub(crate) async fn approval_group(
    state: &AppState,
    name: Option<&sigil_domain::GroupName>,
) -> Result<Option<sigil_domain::ApprovalGroup>, ServiceError> {
    Ok(match name {
        Some(name) => state.store.get_group(name).await?,
        None => None,
    })
}

/// Audits a refused decision on `object` (a request or a release) and returns the error the
/// caller answers with.
pub(crate) async fn refused(
    state: &AppState,
    session: &Caller<'_>,
    action: &str,
    object: &str,
    refusal: &RequestError,
) -> Result<ServiceError, ServiceError> {
    let draft = audit(state, session, action, Outcome::Failure)
        .object(object)
        .detail("reason", &refusal.to_string());
    state.store.commit(Vec::new(), draft).await?;
    Ok(request_error(refusal))
}

/// Loads, checks and applies an approve/deny `change`, retrying on a revision conflict, and
/// commits it with an audit event. Refusals are audited too.
async fn transition<F>(
    state: &AppState,
    session: &Caller<'_>,
    id: RequestId,
    operation: &Operation,
    change: F,
) -> Result<SigningRequest, ServiceError>
where
    F: Fn(
        &mut SigningRequest,
        Option<&sigil_domain::ApprovalGroup>,
        time::OffsetDateTime,
    ) -> Result<(IdentityName, String), RequestError>,
{
    authorize(state, session, operation).await?;
    let action = operation.action;
    for _ in 0..MAX_RETRIES {
        let request = readable(state, session, id).await?;
        let mut request = expire_if_due(state, request).await?;
        let group = approval_group(state, request.approval_group()).await?;
        let now = state.now();
        let (actor, detail) = match change(&mut request, group.as_ref(), now) {
            Ok(done) => done,
            Err(refusal) => {
                return Err(refused(state, session, action, &id.to_string(), &refusal).await?);
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
