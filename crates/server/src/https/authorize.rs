//! The permission gate of every HTTPS route: the route's [`Operation`] (declared beside it in
//! `api_routes!`) is checked before the handler's extractors read the path or the body, so a
//! caller without the permission gets `403 NOT_PERMITTED` (audited, as everywhere) and never a
//! `400` about a body it had no right to send.
//!
//! The caller it resolves (bearer token, session re-check) is handed to the handler's
//! [`Caller`] extractor through the request's extensions, so the session is looked up once.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Https;
use super::error::ApiError;
use super::extract::Caller;
use crate::service::authorize::{Need, Operation, authorize};

/// What the gate of one route holds: the shared state and the route's operation.
#[derive(Clone)]
pub(crate) struct Gate {
    https: Https,
    operation: Operation,
}

impl Gate {
    /// The gate of a route that performs `operation`.
    pub(crate) fn new(https: &Https, operation: Operation) -> Self {
        Self {
            https: https.clone(),
            operation,
        }
    }
}

/// A caller the gate already resolved and authorized, for the handler's [`Caller`].
#[derive(Clone)]
pub(crate) struct Authorized(pub(crate) Caller);

/// The middleware: resolves the caller and checks the operation's [`Need`], then runs the
/// handler. Routes that need nothing pass straight through.
pub(crate) async fn check(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    if gate.operation.need == Need::Nothing {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &gate.https).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = authorize(&gate.https.app, &caller.actor(), &gate.operation).await {
        return ApiError::from(error).into_response();
    }
    parts.extensions.insert(Authorized(caller));
    next.run(Request::from_parts(parts, body)).await
}
