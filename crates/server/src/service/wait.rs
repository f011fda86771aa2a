//! Long polling: a retrieval may wait on the server until its request reaches a final state.
//!
//! Every committed change of a request's or release's state calls [`Changes::notify`]; a
//! waiter re-reads its request when woken (or when its expiry comes), so the answer leaves
//! the moment the last approval is signed, with no polling loop. The notification is
//! in-process: on a multi-node PostgreSQL deployment a waiter sees a change made on another
//! node only when its wait ends (its client then retrieves again).

use std::time::Duration;

use sigil_domain::{RequestId, RequestStatus, Session, SigningRequest};
use tokio::sync::watch;

use super::ServiceError;
use super::requests;
use crate::AppState;

/// The longest wait one retrieval may ask for, in seconds (longer asks are shortened).
pub const MAX_WAIT_SECS: u64 = 60;

/// A counter bumped on every request state change; waiters watch it.
#[derive(Debug)]
pub struct Changes(watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Self(watch::Sender::new(0))
    }
}

impl Changes {
    /// Wakes every waiter (they re-read their request).
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Whether a request state is final (nothing more will happen to it).
pub fn is_final(status: RequestStatus) -> bool {
    !matches!(status, RequestStatus::Pending | RequestStatus::Approved)
}

/// [`requests::get`], waiting up to `wait` (at most [`MAX_WAIT_SECS`]) for the request to
/// reach a final state. Answers at once when it is final already, or with the state it has
/// when the wait ends.
pub async fn get_waiting(
    state: &AppState,
    session: &Session,
    id: RequestId,
    wait: Duration,
) -> Result<SigningRequest, ServiceError> {
    let deadline = tokio::time::Instant::now() + wait.min(Duration::from_secs(MAX_WAIT_SECS));
    let mut changes = state.changes.subscribe();
    loop {
        // Seen before the read: a change committed after it wakes the wait below.
        changes.borrow_and_update();
        let request = requests::get(state, session, id).await?;
        let now = tokio::time::Instant::now();
        if is_final(request.status()) || now >= deadline {
            return Ok(request);
        }
        // A pending request expires without anyone committing: wake up then to expire it.
        let until = match request.status() {
            RequestStatus::Pending => {
                let left = request.expires() - state.now();
                let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                deadline.min(now + left.max(Duration::from_millis(100)))
            }
            _ => deadline,
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(request);
                }
            }
            () = tokio::time::sleep_until(until) => {}
        }
    }
}
