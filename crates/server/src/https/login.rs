//! `GET /health`, `POST /login`, `POST /logout`, `GET /session`.
//!
//! A login without a bearer token opens a new session; a login **with** the token of a live
//! session adds a second (third, …) identity to it. That is how dual control works over HTTPS:
//! a role needing two logins grants its permissions once two distinct identities holding it
//! are logged in on the same session.

use super::sessions::{CreateError, now_ns};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use sigil_domain::{Interface, LoginProgress, Session};
use sigil_proto::ErrorCode;

use sigil_api::login::{Health, LoggedOut, LoginBody, PendingView, SessionView};

use super::Https;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Body, Caller, bearer, current_session, source, store_error};
use crate::server::PeerInfo;
use crate::service::ServiceError;
use crate::service::auth::LoginContext;

/// `GET /api/v1/health`: no session needed.
///
/// Liveness: the process answers. Readiness is `GET /ready`.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(()),
    responses((status = 200, description = "The server is alive.", body = Health))
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

fn view(session: &Session, token: Option<String>) -> SessionView {
    let progress = LoginProgress {
        already_logged_in: false,
        pending: session.pending(),
    };
    SessionView {
        session: token,
        identities: session.identities().iter().map(|i| i.to_string()).collect(),
        logins_still_required: progress.logins_still_required(),
        pending: progress
            .pending
            .iter()
            .map(|p| PendingView {
                role: p.role.to_string(),
                more_logins_needed: p.more_logins_needed,
            })
            .collect(),
        permissions: session
            .permissions()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
    }
}

/// What the connection tells about the caller (address, client certificate).
pub(crate) struct Peer {
    source: Option<std::net::SocketAddr>,
    info: Option<PeerInfo>,
    token: Option<zeroize::Zeroizing<String>>,
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self {
            source: source(parts),
            info: parts.extensions.get::<PeerInfo>().cloned(),
            token: bearer(parts)?,
        })
    }
}

/// `POST /api/v1/login`: opens a session, or adds an identity to one.
///
/// Without `Authorization` it opens a session and returns its token; with the bearer token of
/// a live session it adds the identity to that session (dual control: a role needing two
/// logins grants its permissions once two distinct identities holding it logged in).
#[utoipa::path(
    post,
    path = "/login",
    tag = "session",
    security((), ("session" = []), ("mutualTLS" = []), ("session" = [], "mutualTLS" = [])),
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in: the session's state, with `session` when a new session was opened.", body = SessionView),
        (status = 401, description = "`AUTH_FAILED`: wrong identity or password (the same answer for both); `NOT_LOGGED_IN`: the bearer token sent is unknown or expired.", body = ErrorBody),
        (status = 403, description = "`IDENTITY_DISABLED`; `CERT_MISMATCH`: the identity needs a client certificate whose only CN is its name; `NOT_PERMITTED`: none of its roles allows HTTPS.", body = ErrorBody),
        (status = 409, description = "`ALREADY_LOGGED_IN`: the identity is already on this session.", body = ErrorBody),
        (status = 423, description = "`IDENTITY_LOCKED`: locked after too many failed logins; the lock ends by itself.", body = ErrorBody),
        (status = 429, description = "`LOGIN_THROTTLED`: too many failed logins from this address; retry after the time the message gives.", body = ErrorBody),
        (status = 500, description = "`INTERNAL`: a server failure; the details are in the server log only.", body = ErrorBody),
        (status = 503, description = "`SERVER_BUSY`: too many open sessions.", body = ErrorBody),
    )
)]
pub(crate) async fn login(
    State(https): State<Https>,
    peer: Peer,
    Body(body): Body<LoginBody>,
) -> ApiResult<Json<SessionView>> {
    let now = now_ns();
    let source = peer.source.map(|s| s.to_string());
    let mut session = match &peer.token {
        Some(token) => {
            let stored = https.sessions.get(token, now).await.map_err(store_error)?.ok_or_else(|| {
                ApiError::not_logged_in(
                    "the session is unknown or expired: log in without the Authorization header to start a new one",
                )
            })?;
            // A dropped identity must not count towards dual control.
            current_session(&https, token, &stored, source.as_deref(), now).await?
        }
        None => Session::new(Interface::Https),
    };
    let peer_cn = peer
        .info
        .as_ref()
        .and_then(|i| i.client_certificate.as_deref())
        .and_then(|der| crate::tls::certificate_cn(der));
    crate::service::auth::login(
        &https.app,
        &mut session,
        &body.identity,
        body.password.as_bytes(),
        LoginContext {
            peer_cn: peer_cn.as_deref(),
            source: source.as_deref(),
        },
    )
    .await?;
    let token = match peer.token {
        Some(token) => {
            if !https
                .sessions
                .put(&token, &session, now)
                .await
                .map_err(store_error)?
            {
                return Err(ApiError::not_logged_in(
                    "the session ended during the login: log in again",
                ));
            }
            None
        }
        None => Some(
            https
                .sessions
                .create(&session, now)
                .await
                .map_err(|e| match e {
                    CreateError::Full => ApiError::from(ServiceError::refused(
                        ErrorCode::ServerBusy,
                        "too many open sessions: retry later or log out unused sessions",
                    )),
                    CreateError::Store(e) => store_error(e),
                })?
                .to_string(),
        ),
    };
    Ok(Json(view(&session, token)))
}

/// `POST /api/v1/logout`: ends the session of the bearer token.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "session",
    responses((status = 200, description = "The session ended.", body = LoggedOut))
)]
pub(crate) async fn logout(State(https): State<Https>, peer: Peer) -> ApiResult<Json<LoggedOut>> {
    let token = peer
        .token
        .ok_or_else(|| ApiError::not_logged_in("send Authorization: Bearer <token> to log out"))?;
    if !https.sessions.remove(&token).await.map_err(store_error)? {
        return Err(ApiError::not_logged_in(
            "the session is unknown or already ended",
        ));
    }
    Ok(Json(LoggedOut { logged_out: true }))
}

/// `GET /api/v1/session`: who is logged in and what the session may do.
#[utoipa::path(
    get,
    path = "/session",
    tag = "session",
    responses((status = 200, description = "The session's identities, pending roles and permissions (no `session`).", body = SessionView))
)]
pub(crate) async fn show_session(caller: Caller) -> Json<SessionView> {
    Json(view(&caller.session, None))
}
