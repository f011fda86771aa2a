//! The rate limit on failed HTTPS calls ([`crate::service::failures`]): a layer around every
//! route (API, console, unknown paths) refuses the calls of a throttled source address before
//! they run, and counts each call answered with a client error (4xx but 429) against its
//! address and, when it used a session, the session's first identity. The `Caller` extractor
//! refuses the calls of a throttled identity and names the identity to this layer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Https;
use super::error::ApiError;
use crate::service::failures;

/// The identity key of the session a call used, filled in by the `Caller` extractor.
#[derive(Clone, Default)]
pub(crate) struct CallIdentity(Arc<Mutex<Option<String>>>);

impl CallIdentity {
    pub(crate) fn set(&self, key: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key);
    }

    fn take(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Whether an answer counts as a failed call: a client error, but not the throttle's own.
fn is_failure(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS
}

/// The layer: see the module docs.
pub(crate) async fn limit(State(h): State<Https>, mut request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| failures::address_key(peer.ip()));
    if let Some(key) = &address
        && let Err(seconds) = failures::check(&h.app, std::slice::from_ref(key))
    {
        return ApiError::throttled(seconds).into_response();
    }
    let identity = CallIdentity::default();
    request.extensions_mut().insert(identity.clone());
    let response = next.run(request).await;
    if is_failure(response.status()) {
        let keys: Vec<String> = address.into_iter().chain(identity.take()).collect();
        failures::failed(&h.app, &keys).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_but_the_throttle_count() {
        assert!(is_failure(StatusCode::UNAUTHORIZED));
        assert!(is_failure(StatusCode::NOT_FOUND));
        assert!(is_failure(StatusCode::PAYLOAD_TOO_LARGE));
        assert!(!is_failure(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_failure(StatusCode::OK));
        assert!(!is_failure(StatusCode::SERVICE_UNAVAILABLE));
    }
}
