//! Extractors that answer bad input with the API's JSON errors rather than axum's plain text.

use super::sessions::now_ns;
use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sigil_domain::Session;
use zeroize::Zeroizing;

use super::Https;
use super::error::ApiError;

/// The peer's address, when the server recorded it.
pub(crate) fn source(parts: &Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

/// The bearer token of a request, if it sent one. Errors when the header is malformed.
pub(crate) fn bearer(parts: &Parts) -> Result<Option<Zeroizing<String>>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        ApiError::not_logged_in("the Authorization header is not text: send Bearer <token>")
    })?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::not_logged_in(
                "the Authorization header must be \"Bearer <token>\" with the session token from POST /api/v1/login",
            )
        })?;
    Ok(Some(Zeroizing::new(token.to_owned())))
}

/// A logged-in caller: the session of the request's bearer token (refreshed on use), re-checked
/// against the identities and roles as they stand now ([`current_session`]). Behind a route
/// whose operation needs a login, the permission gate (`https/authorize.rs`) has resolved it
/// already and the extractor takes that one.
#[derive(Clone)]
pub(crate) struct Caller {
    /// The session as of this request.
    pub(crate) session: Session,
    /// The peer address, for the audit log.
    pub(crate) source: Option<String>,
}

impl Caller {
    /// The caller as the administration service takes it.
    pub(crate) fn actor(&self) -> crate::service::authorize::Caller<'_> {
        crate::service::authorize::Caller {
            session: &self.session,
            source: self.source.as_deref(),
        }
    }
}

impl FromRequestParts<Https> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Https) -> Result<Self, ApiError> {
        if let Some(super::authorize::Authorized(caller)) = parts.extensions.remove() {
            return Ok(caller);
        }
        let token = bearer(parts)?.ok_or_else(|| {
            ApiError::not_logged_in(
                "not logged in: POST /api/v1/login, then send Authorization: Bearer <session token>",
            )
        })?;
        let now = now_ns();
        let session = state
            .sessions
            .get(&token, now)
            .await
            .map_err(store_error)?
            .ok_or_else(|| {
                ApiError::not_logged_in(
                    "the session is unknown or expired after 15 minutes idle: log in again",
                )
            })?;
        let source = source(parts).map(|s| s.to_string());
        let session = current_session(state, &token, &session, source.as_deref(), now).await?;
        if let Some(principal) = session.principal() {
            let key = crate::service::failures::identity_key(principal.as_str());
            crate::service::failures::check(&state.app, std::slice::from_ref(&key))
                .map_err(ApiError::throttled)?;
            if let Some(slot) = parts.extensions.get::<super::failures::CallIdentity>() {
                slot.set(key);
            }
        }
        Ok(Self { session, source })
    }
}

/// The session of `token` as it stands now: identities that were deleted, disabled or locked
/// drop out and the roles are recomputed ([`crate::service::session`]); the narrowed session
/// replaces the stored one. When no identity is left the token is removed and the request
/// refused with `401 NOT_LOGGED_IN`.
pub(crate) async fn current_session(
    state: &Https,
    token: &str,
    session: &Session,
    source: Option<&str>,
    now: i64,
) -> Result<Session, ApiError> {
    let revalidation = crate::service::session::revalidate(
        &state.app,
        &crate::service::authorize::Caller { session, source },
        &Default::default(),
    )
    .await?;
    if revalidation.ended() {
        state.sessions.remove(token).await.map_err(store_error)?;
        let error = crate::service::session::ended_error(&revalidation);
        return Err(ApiError::not_logged_in(error.to_string()));
    }
    if !revalidation.dropped.is_empty() {
        state
            .sessions
            .put(token, &revalidation.session, now)
            .await
            .map_err(store_error)?;
    }
    Ok(revalidation.session)
}

/// A session store failure as the API reports it.
pub(crate) fn store_error(error: sigil_domain::StoreError) -> ApiError {
    ApiError::from(crate::service::ServiceError::from(error))
}

/// A JSON body; a malformed one is a `400 INVALID` with serde's explanation.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// A path parameter; a malformed one is a `400 INVALID`.
pub(crate) struct PathArg<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A query string; a malformed one is a `400 INVALID`.
pub(crate) struct QueryArg<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryArg<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Parses a validated name from text, as a `400 INVALID` naming the problem.
pub(crate) fn parse<T>(text: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| ApiError::invalid(e.to_string()))
}
