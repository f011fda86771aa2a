//! Release routes: list, show, approve, deny. The rules are
//! [`crate::service::releases`]'s (shared with the Host API); a release is shown with every
//! file, so an approver judges the whole set in one place.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sigil_domain::{ReleaseId, ReleaseState, SigningRequest};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, PathArg, QueryArg};
use super::requests::{ActingIdentity, ApprovalView, ListQuery};
use super::views::rfc3339;
use crate::service::releases::{self as svc, ReleaseWithFiles};
use sigil_api::requests::CommentBody;

/// One file of a release.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReleaseFileView {
    /// The file's signing request.
    request_id: String,
    file_name: Option<String>,
    file_size: Option<u64>,
    format: String,
    hash: String,
    digest: String,
    /// The file's request state.
    state: String,
}

impl ReleaseFileView {
    fn new(request: &SigningRequest) -> Self {
        Self {
            request_id: request.id().to_string(),
            file_name: request.metadata().file_name.clone(),
            file_size: request.metadata().file_size,
            format: request.format().as_str().to_owned(),
            hash: request.hash().name().to_owned(),
            digest: hex::encode(request.digest()),
            state: request.status().as_str().to_owned(),
        }
    }
}

/// A release as approvers and requesters see it (field names as in the request view).
#[derive(Serialize, ToSchema)]
pub(crate) struct ReleaseView {
    id: String,
    /// A request state name: `pending` (also while files are still arriving), `approved`,
    /// `signed` (every file signed), `failed`, `denied`, `expired`.
    state: String,
    policy: String,
    requester: String,
    description: Option<String>,
    build_url: Option<String>,
    commit: Option<String>,
    created: String,
    expires: String,
    age_secs: i64,
    /// Files declared when the release was opened, and how many arrived.
    files_declared: u32,
    files_received: u32,
    approvals_required: u32,
    approval_group: Option<String>,
    approvals: Vec<ApprovalView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    denied_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    files: Vec<ReleaseFileView>,
}

impl ReleaseView {
    fn new(r: &ReleaseWithFiles, now: OffsetDateTime) -> Self {
        let release = &r.release;
        let (denied_by, reason) = match release.state() {
            ReleaseState::Denied { by, reason, .. } => (Some(by.to_string()), Some(reason.clone())),
            _ => (None, None),
        };
        let metadata = release.metadata();
        Self {
            id: release.id().to_string(),
            state: release.status().as_str().to_owned(),
            policy: release.policy().to_string(),
            requester: release.requester().to_string(),
            description: metadata.description.clone(),
            build_url: metadata.build_url.clone(),
            commit: metadata.commit.clone(),
            created: rfc3339(release.created()),
            expires: rfc3339(release.expires()),
            age_secs: (now - release.created()).whole_seconds().max(0),
            files_declared: release.declared(),
            files_received: release.received(),
            approvals_required: release.approvals_required(),
            approval_group: release.approval_group().map(ToString::to_string),
            approvals: release
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
            files: r.files.iter().map(ReleaseFileView::new).collect(),
        }
    }
}

fn release_id(text: &str) -> Result<ReleaseId, ApiError> {
    text.parse::<uuid::Uuid>()
        .map(ReleaseId)
        .map_err(|_| ApiError::invalid(format!("{text:?} is not a release id (a UUID)")))
}

/// `GET /releases?state=&policy=&requester=&limit=`: the releases the session may read.
#[utoipa::path(
    get,
    path = "/releases",
    tag = "releases",
    params(ListQuery),
    responses(
        (status = 200, description = "The releases the session may read, newest first.", body = Vec<ReleaseView>),
    )
)]
pub(crate) async fn list_releases(
    State(h): State<Https>,
    caller: Caller,
    QueryArg(q): QueryArg<ListQuery>,
) -> ApiResult<Json<Vec<ReleaseView>>> {
    let list = svc::list(&h.app, &caller.actor(), q.filter()?).await?;
    let now = h.app.now();
    Ok(Json(
        list.iter().map(|r| ReleaseView::new(r, now)).collect(),
    ))
}

/// `GET /releases/{id}`: one release with its files.
#[utoipa::path(
    get,
    path = "/releases/{id}",
    tag = "releases",
    params(("id" = String, Path, description = "The release id (a UUID).")),
    responses(
        (status = 200, description = "The release with its files.", body = ReleaseView),
        (status = 404, description = "`REQUEST_NOT_FOUND`: no such release for this session (also when the session may not read it).", body = ErrorBody),
    )
)]
pub(crate) async fn show_release(
    State(h): State<Https>,
    caller: Caller,
    PathArg(id): PathArg<String>,
) -> ApiResult<Json<ReleaseView>> {
    let release = svc::get(&h.app, &caller.actor(), release_id(&id)?).await?;
    Ok(Json(ReleaseView::new(&release, h.app.now())))
}

/// `POST /releases/{id}/approve`: every file is signed before the answer when the quorum
/// is reached.
#[utoipa::path(
    post,
    path = "/releases/{id}/approve",
    tag = "releases",
    params(("id" = String, Path, description = "The release id (a UUID).")),
    request_body = CommentBody,
    responses(
        (status = 200, description = "The release; every file signed before the answer when the quorum is reached.", body = ReleaseView),
        (status = 403, description = "`NOT_PERMITTED`: no identity of the session may decide it (holding `signing:approve` itself, in the approval group, not the requester), or several may and `as` does not name one.", body = ErrorBody),
        (status = 404, description = "`REQUEST_NOT_FOUND`: no such release for this session (also when the session may not read it).", body = ErrorBody),
        (status = 409, description = "`REQUEST_NOT_PENDING`: it is decided already, or not every declared file has arrived yet.", body = ErrorBody),
        (status = 503, description = "`SERVER_BUSY`: it kept changing while the decision was applied: retry.", body = ErrorBody),
    )
)]
pub(crate) async fn approve_release(
    State(h): State<Https>,
    caller: Caller,
    PathArg(id): PathArg<String>,
    Body(body): Body<CommentBody>,
) -> ApiResult<Json<ReleaseView>> {
    let actor = body.actor()?;
    let release = svc::approve_as(
        &h.app,
        &caller.actor(),
        release_id(&id)?,
        &body.comment,
        actor.as_ref(),
    )
    .await?;
    Ok(Json(ReleaseView::new(&release, h.app.now())))
}

/// `POST /releases/{id}/deny`: the comment is the reason the requester sees.
#[utoipa::path(
    post,
    path = "/releases/{id}/deny",
    tag = "releases",
    params(("id" = String, Path, description = "The release id (a UUID).")),
    request_body = CommentBody,
    responses(
        (status = 200, description = "The release, `denied`, with every file.", body = ReleaseView),
        (status = 403, description = "`NOT_PERMITTED`: no identity of the session may decide it (holding `signing:approve` itself, in the approval group, not the requester), or several may and `as` does not name one.", body = ErrorBody),
        (status = 404, description = "`REQUEST_NOT_FOUND`: no such release for this session (also when the session may not read it).", body = ErrorBody),
        (status = 409, description = "`REQUEST_NOT_PENDING`: it is decided already.", body = ErrorBody),
        (status = 503, description = "`SERVER_BUSY`: it kept changing while the decision was applied: retry.", body = ErrorBody),
    )
)]
pub(crate) async fn deny_release(
    State(h): State<Https>,
    caller: Caller,
    PathArg(id): PathArg<String>,
    Body(body): Body<CommentBody>,
) -> ApiResult<Json<ReleaseView>> {
    if body.comment.trim().is_empty() {
        return Err(ApiError::invalid(
            "a denial needs a \"comment\": the reason the requester will see",
        ));
    }
    let actor = body.actor()?;
    let release = svc::deny_as(
        &h.app,
        &caller.actor(),
        release_id(&id)?,
        &body.comment,
        actor.as_ref(),
    )
    .await?;
    Ok(Json(ReleaseView::new(&release, h.app.now())))
}
