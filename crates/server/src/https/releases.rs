//! Release routes: list, show, approve, deny. The rules are
//! [`crate::service::releases`]'s (shared with the Host API); a release is shown with every
//! file, so an approver judges the whole set in one place.

use axum::Json;
use axum::extract::State;
use sigil_domain::ReleaseId;

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, PathArg, QueryArg};
use super::requests::{ActingIdentity, ListQuery};
use super::views::release_view;
use crate::service::releases as svc;
use sigil_api::releases::ReleaseView;
use sigil_api::requests::CommentBody;

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
    Ok(Json(list.iter().map(|r| release_view(r, now)).collect()))
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
    Ok(Json(release_view(&release, h.app.now())))
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
    Ok(Json(release_view(&release, h.app.now())))
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
    Ok(Json(release_view(&release, h.app.now())))
}
