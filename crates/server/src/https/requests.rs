//! Signing-request routes: submit, list, show, approve, deny. The checks (who may submit under
//! which policy, who may read, who may approve, quorum, expiry, signing once approved) are
//! [`crate::service::requests`]'s, shared with the Host API; this module shows an approver
//! everything needed to judge a request, and a requester the signature once it is made.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sigil_domain::{
    CommandCode, IdentityName, RequestFilter, RequestId, RequestMetadata, RequestState,
    SigningFormat, SigningRequest, Upload,
};
use sigil_proto::ErrorCode;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use sigil_api::requests::CommentBody;

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, PathArg, QueryArg, parse};
use super::views::rfc3339;
use crate::service::ServiceError;
use crate::service::requests as svc;

/// One approval.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApprovalView {
    pub(crate) approver: String,
    pub(crate) at: String,
    pub(crate) comment: String,
}

/// A signing request as approvers and requesters see it.
#[derive(Serialize, ToSchema)]
pub(crate) struct RequestView {
    id: String,
    /// `pending`, `approved`, `signed`, `denied`, `expired` or `failed`.
    state: String,
    policy: String,
    format: String,
    hash: String,
    /// The digest to sign, hex.
    digest: String,
    metadata: RequestMetadata,
    requester: String,
    created: String,
    expires: String,
    /// Seconds since `created`.
    age_secs: i64,
    approvals_required: u32,
    /// The group whose members approve.
    approval_group: Option<String>,
    approvals: Vec<ApprovalView>,
    /// Who denied it (for a denied request).
    #[serde(skip_serializing_if = "Option::is_none")]
    denied_by: Option<String>,
    /// The denial or failure reason.
    reason: Option<String>,
    /// When it reached its current state (not for pending requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    state_at: Option<String>,
    /// The signature (raw) or signature block (PKCS#7 DER), hex, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    /// Hash format under a policy that requires time-stamps: the DER `TimeStampResp` over
    /// `result`, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    /// The release the request belongs to (`null` for a request on its own).
    release_id: Option<String>,
}

impl RequestView {
    fn new(request: &SigningRequest, now: OffsetDateTime) -> Self {
        let (denied_by, reason, state_at) = match request.state() {
            RequestState::Pending => (None, None, None),
            RequestState::Approved { at }
            | RequestState::Signed { at, .. }
            | RequestState::Expired { at } => (None, None, Some(*at)),
            RequestState::Denied { by, at, reason } => {
                (Some(by.to_string()), Some(reason.clone()), Some(*at))
            }
            RequestState::Failed { at, reason } => (None, Some(reason.clone()), Some(*at)),
        };
        Self {
            id: request.id().to_string(),
            state: request.status().as_str().to_owned(),
            policy: request.policy().to_string(),
            format: request.format().as_str().to_owned(),
            hash: request.hash().name().to_owned(),
            digest: hex::encode(request.digest()),
            metadata: request.metadata().clone(),
            requester: request.requester().to_string(),
            created: rfc3339(request.created()),
            expires: rfc3339(request.expires()),
            age_secs: (now - request.created()).whole_seconds().max(0),
            approvals_required: request.approvals_required(),
            approval_group: request.approval_group().map(ToString::to_string),
            approvals: request
                .approvals()
                .iter()
                .map(|a| ApprovalView {
                    approver: a.approver.to_string(),
                    at: rfc3339(a.at),
                    comment: a.comment.clone(),
                })
                .collect(),
            denied_by,
            reason,
            state_at: state_at.map(rfc3339),
            result: match request.state() {
                RequestState::Signed { result, .. } => Some(hex::encode(result)),
                _ => None,
            },
            timestamp: request.timestamp().map(hex::encode),
            release_id: request.release().map(|r| r.to_string()),
        }
    }
}

fn request_id(text: &str) -> Result<RequestId, ApiError> {
    text.parse::<uuid::Uuid>()
        .map(RequestId)
        .map_err(|_| ApiError::invalid(format!("{text:?} is not a request id (a UUID)")))
}

/// `POST /requests` body: what the Host API's `RAUO`/`RAUZ`/`RAUJ` carry.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    /// The policy alias.
    policy: String,
    /// `hash`, `authenticode` or `jar`.
    format: String,
    /// `sha256`, `sha384` or `sha512` (one the policy allows).
    hash: String,
    /// Hex: the file's digest (`hash`), the Authenticode image digest, or the `.SF` digest.
    digest: String,
    /// What approvers see about the file (all optional, each bounded).
    #[serde(default)]
    metadata: RequestMetadata,
}

/// Longest digest accepted, in hex characters (SHA-512).
const MAX_DIGEST_HEX: usize = 2 * 64;

/// `POST /requests` (`signing:request`): a signing request under a policy, as on the Host API
/// (the same service call, the same enabled-command switch of the format's upload command).
/// `201` with the request; a policy needing no approval answers it signed, with `result`.
#[utoipa::path(
    post,
    path = "/requests",
    tag = "requests",
    request_body = SubmitBody,
    responses(
        (status = 201, description = "The request; already `signed`, with `result`, under a policy needing no approval.", body = RequestView),
        (status = 403, description = "`NOT_PERMITTED`: the session lacks `signing:request` or may not use the policy; `COMMAND_DISABLED`: the format's upload command is disabled.", body = ErrorBody),
        (status = 404, description = "`POLICY_NOT_FOUND`: no such policy for the session's roles.", body = ErrorBody),
        (status = 500, description = "`SIGNING_FAILED` or `INTERNAL`: the signature could not be made; the details are in the server log only.", body = ErrorBody),
    )
)]
pub(crate) async fn submit(
    State(h): State<Https>,
    caller: Caller,
    Body(body): Body<SubmitBody>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let format: SigningFormat = parse(&body.format)?;
    let hash =
        sigil_domain::parse_hash(&body.hash).map_err(|e| ApiError::invalid(e.to_string()))?;
    if body.digest.len() > MAX_DIGEST_HEX {
        return Err(ApiError::invalid(format!(
            "digest is {} hex characters: at most {MAX_DIGEST_HEX} (a SHA-512 digest)",
            body.digest.len()
        )));
    }
    let digest = hex::decode(&body.digest)
        .map_err(|e| ApiError::invalid(format!("digest is not hex: {e}")))?;
    let command = match format {
        SigningFormat::Hash => "RAUO",
        SigningFormat::Authenticode => "RAUZ",
        SigningFormat::Jar => "RAUJ",
        // The creation time is part of what the client hashed: it comes with RAUP only.
        SigningFormat::OpenPgp => {
            return Err(ApiError::invalid(
                "OpenPGP requests carry the signature time the client hashed: upload them over the Host API (RAUP, `sigil sign --format openpgp`)",
            ));
        }
    };
    let enabled = h
        .app
        .store
        .enabled_commands()
        .await
        .map_err(ServiceError::from)?;
    if !CommandCode::new(command).is_ok_and(|code| enabled.contains(&code)) {
        return Err(ServiceError::refused(
            ErrorCode::CommandDisabled,
            format!(
                "{} signing ({command}) is disabled on this server: ask an administrator to enable it",
                format.as_str()
            ),
        )
        .into());
    }
    let upload = Upload {
        format,
        hash,
        digest,
        metadata: body.metadata,
    };
    let request = svc::upload(&h.app, &caller.actor(), &body.policy, upload).await?;
    Ok((
        StatusCode::CREATED,
        Json(RequestView::new(&request, h.app.now())),
    ))
}

/// `GET /requests` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this state: `pending`, `approved`, `signed`, `denied`, `expired` or `failed`.
    #[serde(default)]
    state: Option<String>,
    /// Only under this policy alias.
    #[serde(default)]
    policy: Option<String>,
    /// Only of this requester (an identity name).
    #[serde(default)]
    requester: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    #[serde(default)]
    limit: Option<u32>,
}

impl ListQuery {
    /// The store filter (a page of 100 unless `limit` says otherwise).
    pub(crate) fn filter(&self) -> Result<RequestFilter, ApiError> {
        Ok(RequestFilter {
            state: self.state.as_deref().map(parse).transpose()?,
            requester: self.requester.as_deref().map(parse).transpose()?,
            policy: self.policy.as_deref().map(parse).transpose()?,
            limit: self.limit.unwrap_or(100),
        })
    }
}

/// `GET /requests?state=&policy=&requester=&limit=`: the requests the session may read.
#[utoipa::path(
    get,
    path = "/requests",
    tag = "requests",
    params(ListQuery),
    responses(
        (status = 200, description = "The requests the session may read, newest first.", body = Vec<RequestView>),
    )
)]
pub(crate) async fn list_requests(
    State(h): State<Https>,
    caller: Caller,
    QueryArg(q): QueryArg<ListQuery>,
) -> ApiResult<Json<Vec<RequestView>>> {
    let list = svc::list(&h.app, &caller.actor(), q.filter()?).await?;
    let now = h.app.now();
    Ok(Json(
        list.iter().map(|r| RequestView::new(r, now)).collect(),
    ))
}

/// `GET /requests/{id}`: one signing request.
#[utoipa::path(
    get,
    path = "/requests/{id}",
    tag = "requests",
    params(("id" = String, Path, description = "The request id (a UUID).")),
    responses(
        (status = 200, description = "The request.", body = RequestView),
        (status = 404, description = "`REQUEST_NOT_FOUND`: no such request for this session (also when the session may not read it).", body = ErrorBody),
    )
)]
pub(crate) async fn show_request(
    State(h): State<Https>,
    caller: Caller,
    PathArg(id): PathArg<String>,
) -> ApiResult<Json<RequestView>> {
    let request = svc::get(&h.app, &caller.actor(), request_id(&id)?).await?;
    Ok(Json(RequestView::new(&request, h.app.now())))
}

/// The acting identity an approve or deny body names.
pub(crate) trait ActingIdentity {
    /// The named acting identity, if any.
    fn actor(&self) -> Result<Option<IdentityName>, ApiError>;
}

impl ActingIdentity for CommentBody {
    fn actor(&self) -> Result<Option<IdentityName>, ApiError> {
        self.as_identity.as_deref().map(parse).transpose()
    }
}

/// `POST /requests/{id}/approve`: signed before the answer when the quorum is reached.
#[utoipa::path(
    post,
    path = "/requests/{id}/approve",
    tag = "requests",
    params(("id" = String, Path, description = "The request id (a UUID).")),
    request_body = CommentBody,
    responses(
        (status = 200, description = "The request; signed before the answer when the quorum is reached.", body = RequestView),
        (status = 403, description = "`NOT_PERMITTED`: no identity of the session may decide it (holding `signing:approve` itself, in the approval group, not the requester), or several may and `as` does not name one.", body = ErrorBody),
        (status = 404, description = "`REQUEST_NOT_FOUND`: no such request for this session (also when the session may not read it).", body = ErrorBody),
        (status = 409, description = "`REQUEST_NOT_PENDING`: it is decided already; `REQUEST_IN_RELEASE`: decide its release instead;", body = ErrorBody),
        (status = 503, description = "`SERVER_BUSY`: it kept changing while the decision was applied: retry.", body = ErrorBody),
    )
)]
pub(crate) async fn approve_request(
    State(h): State<Https>,
    caller: Caller,
    PathArg(id): PathArg<String>,
    Body(body): Body<CommentBody>,
) -> ApiResult<Json<RequestView>> {
    let actor = body.actor()?;
    let request = svc::approve_as(
        &h.app,
        &caller.actor(),
        request_id(&id)?,
        &body.comment,
        actor.as_ref(),
    )
    .await?;
    Ok(Json(RequestView::new(&request, h.app.now())))
}

/// `POST /requests/{id}/deny`: the comment is the reason the requester sees.
#[utoipa::path(
    post,
    path = "/requests/{id}/deny",
    tag = "requests",
    params(("id" = String, Path, description = "The request id (a UUID).")),
    request_body = CommentBody,
    responses(
        (status = 200, description = "The request, `denied`, with `denied_by` and `reason`.", body = RequestView),
        (status = 403, description = "`NOT_PERMITTED`: no identity of the session may decide it (holding `signing:approve` itself, in the approval group, not the requester), or several may and `as` does not name one.", body = ErrorBody),
        (status = 404, description = "`REQUEST_NOT_FOUND`: no such request for this session (also when the session may not read it).", body = ErrorBody),
        (status = 409, description = "`REQUEST_NOT_PENDING`: it is decided already; `REQUEST_IN_RELEASE`: decide its release instead.", body = ErrorBody),
        (status = 503, description = "`SERVER_BUSY`: it kept changing while the decision was applied: retry.", body = ErrorBody),
    )
)]
pub(crate) async fn deny_request(
    State(h): State<Https>,
    caller: Caller,
    PathArg(id): PathArg<String>,
    Body(body): Body<CommentBody>,
) -> ApiResult<Json<RequestView>> {
    if body.comment.trim().is_empty() {
        return Err(ApiError::invalid(
            "a denial needs a \"comment\": the reason the requester will see",
        ));
    }
    let actor = body.actor()?;
    let request = svc::deny_as(
        &h.app,
        &caller.actor(),
        request_id(&id)?,
        &body.comment,
        actor.as_ref(),
    )
    .await?;
    Ok(Json(RequestView::new(&request, h.app.now())))
}
