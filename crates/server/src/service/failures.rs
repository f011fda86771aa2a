//! The rate limit on failed calls, for both listeners ([`sigil_domain::FailureLimiter`],
//! `docs/security.md`): failed HTTPS calls count per source address and per identity, refused
//! Host API commands per connection and per identity. A key over `failure_limit` in its window
//! is answered `TOO_MANY_FAILURES` (HTTP 429 with `Retry-After`) without running the call and
//! without an audit event each; one `calls.throttled` event per key and window says how many
//! calls were refused that way, written when the window is over.

use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;
use std::time::{Duration, Instant};

use sigil_domain::{AuditDraft, Outcome, ThrottledWindow};
use sigil_proto::ErrorCode;
use tokio::sync::watch;

use super::ServiceError;
use crate::AppState;

/// The key of a source address (HTTPS).
pub(crate) fn address_key(ip: IpAddr) -> String {
    format!("address {ip}")
}

/// The key of a Host API connection.
pub(crate) fn connection_key(peer: SocketAddr) -> String {
    format!("connection {peer}")
}

/// The key of an identity (shared by both interfaces).
pub(crate) fn identity_key(name: &str) -> String {
    format!("identity {name}")
}

/// `Err(seconds to wait)` when one of `keys` is throttled; the refused call is counted.
pub(crate) fn check(state: &AppState, keys: &[String]) -> Result<(), u64> {
    let now = Instant::now();
    let policy = state.config.failure_limit;
    let mut limiter = state
        .failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut wait: Option<Duration> = None;
    for key in keys {
        if let Err(remaining) = limiter.check(key, now, &policy) {
            wait = Some(wait.map_or(remaining, |w| w.max(remaining)));
        }
    }
    match wait {
        // Whole seconds, rounded up: a client that waits that long is let through.
        Some(w) => Err(w.as_secs() + u64::from(w.subsec_nanos() > 0)),
        None => Ok(()),
    }
}

/// The refusal of a throttled call.
pub(crate) fn throttled(seconds: u64) -> ServiceError {
    ServiceError::refused(
        ErrorCode::TooManyFailures,
        format!(
            "too many failed calls from this address, connection or identity: refused without \
             being run for {seconds} s more; fix what fails (the earlier answers say what) \
             and retry then"
        ),
    )
}

/// Counts one failed call for each of `keys`; audits the summaries that fell due.
pub(crate) async fn failed(state: &AppState, keys: &[String]) {
    let now = Instant::now();
    let policy = state.config.failure_limit;
    let ended: Vec<ThrottledWindow> = {
        let mut limiter = state
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.iter()
            .filter_map(|key| limiter.failure(key, now, &policy))
            .collect()
    };
    for window in ended {
        summarise(state, window).await;
    }
}

/// Writes the summaries of throttled windows as they end, until shutdown; then writes those
/// of the windows still running (a restart would lose them).
pub(crate) async fn summaries(state: Weak<AppState>, mut shutdown: watch::Receiver<bool>) {
    let period = match state.upgrade() {
        Some(s) => s.config.failure_limit.window.max(Duration::from_secs(1)),
        None => return,
    };
    loop {
        let last = tokio::select! {
            _ = tokio::time::sleep(period) => false,
            _ = shutdown.changed() => true,
        };
        let Some(state) = state.upgrade() else {
            return;
        };
        let policy = state.config.failure_limit;
        let now = Instant::now();
        let at = if last { now + policy.window } else { now };
        let ended = state
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain_ended(at, &policy);
        for window in ended {
            summarise(&state, window).await;
        }
        if last {
            return;
        }
    }
}

/// One `calls.throttled` audit event for a throttled window.
async fn summarise(state: &AppState, window: ThrottledWindow) {
    let policy = state.config.failure_limit;
    let mut draft = AuditDraft::new(state.now(), "calls.throttled", Outcome::Failure)
        .detail("key", &window.key)
        .detail("failures", &window.failures.to_string())
        .detail("refused", &window.refused.to_string())
        .detail("limit", &policy.limit.to_string())
        .detail("window_secs", &policy.window.as_secs().to_string());
    if let Some(name) = window.key.strip_prefix("identity ") {
        draft = draft.identity(name);
    } else if let Some(source) = window
        .key
        .strip_prefix("address ")
        .or_else(|| window.key.strip_prefix("connection "))
    {
        draft = draft.source(source);
    }
    if let Err(e) = state.store.commit(Vec::new(), draft).await {
        tracing::error!(key = %window.key, "cannot audit a throttled window: {e}");
    }
}
