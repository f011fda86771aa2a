//! Submitting a signing request (`RAU*` on the Host API, `POST /requests`), alone or as one
//! file of a release.

use sigil_domain::{
    AuditDraft, Change, Outcome, Permission, ReleaseId, RequestId, RequestStatus, SigningRequest,
    Upload,
};
use sigil_proto::ErrorCode;

use super::{audit, principal, record_outcome, upload_error};
use crate::AppState;
use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::service::{releases, signing};

/// What this use case needs (its HTTPS route and the Host API table check the same).
pub const OPERATION: Operation =
    Operation::new("request.create", Need::AnyOf(&[Permission::SigningRequest]));

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
