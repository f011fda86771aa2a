//! Readiness: whether this server can do its work now (for load balancers and supervisors).
//!
//! Three checks, each `ok` or `failed`: the store answers a read (the audit head); the keys
//! are usable (one sealed key of each key backend opens: the master key unseals software
//! keys, each HSM finds its key); both listeners accept connections. Reasons go to the log,
//! not to the (unauthenticated) caller.

use std::sync::Arc;

use axum::http::StatusCode;
use serde::Serialize;
use sigil_domain::SealedKey;

use crate::state::AppState;

/// The answer of `GET /api/v1/ready` (and `/ready` on the metrics listener).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not-ready`.
    pub status: &'static str,
    /// The store answered a read.
    pub store: &'static str,
    /// One key of each backend opened.
    pub keys: &'static str,
    /// Both listeners accept connections.
    pub listeners: &'static str,
}

impl Readiness {
    /// 200 when ready, 503 otherwise.
    pub fn status_code(&self) -> StatusCode {
        if self.status == "ready" {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

fn word(ok: bool) -> &'static str {
    if ok { "ok" } else { "failed" }
}

/// Runs the three checks.
pub async fn check(state: &Arc<AppState>) -> Readiness {
    let store = match state.store.audit_head().await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!("readiness: the store does not answer: {e}");
            false
        }
    };
    let keys = store && keys_usable(state).await;
    let listeners = state.listeners.all_up();
    let ready = store && keys && listeners;
    Readiness {
        status: if ready { "ready" } else { "not-ready" },
        store: word(store),
        keys: word(keys),
        listeners: word(listeners),
    }
}

/// Opens (without the cache) the first sealed key of each backend.
async fn keys_usable(state: &Arc<AppState>) -> bool {
    let records = match state.store.list_sealed_keys().await {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!("readiness: cannot list the sealed keys: {e}");
            return false;
        }
    };
    let mut samples: Vec<SealedKey> = Vec::new();
    for record in records {
        let backend = record.location.backend();
        if !samples.iter().any(|s| s.location.backend() == backend) {
            samples.push(record);
        }
    }
    for record in samples {
        let state = state.clone();
        // An HSM lookup blocks: off the async workers.
        let opened =
            tokio::task::spawn_blocking(move || state.vault.open(&record).map(|_| ())).await;
        match opened {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!("readiness: a key cannot be opened: {e}");
                return false;
            }
            Err(e) => {
                tracing::warn!("readiness: the key check failed: {e}");
                return false;
            }
        }
    }
    true
}
