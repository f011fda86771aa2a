//! Long polling: a retrieval may wait on the server until its request reaches a final state.
//!
//! Every committed change of a request's or release's state calls [`Changes::notify`]; a
//! waiter re-reads its request when woken (or when its expiry comes), so the answer leaves
//! the moment the last approval is signed, with no polling loop. The notification is
//! in-process: on a multi-node PostgreSQL deployment a waiter sees a change made on another
//! node only when its wait ends (its client then retrieves again).

use std::time::Duration;

use sigil_domain::{ReleaseId, RequestId, RequestStatus, SigningRequest};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::ServiceError;
use super::authorize::Caller;
use super::releases::{self, ReleaseWithFiles};
use super::requests;
use crate::AppState;

/// The longest wait one retrieval may ask for, in seconds (longer asks are shortened).
pub const MAX_WAIT_SECS: u64 = 60;

/// A counter bumped on every request state change; waiters watch it. `None` once the server
/// shuts down: waits end at once.
#[derive(Debug)]
pub struct Changes(watch::Sender<Option<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Self(watch::Sender::new(Some(0)))
    }
}

impl Changes {
    /// Wakes every waiter (they re-read their request).
    pub fn notify(&self) {
        self.0
            .send_modify(|n| *n = n.map(|count| count.wrapping_add(1)));
    }

    /// Ends every wait, now and later (the server is shutting down): waiters answer with the
    /// state they have, so their connections can finish within the shutdown grace.
    pub fn stop_waiting(&self) {
        self.0.send_replace(None);
    }

    fn subscribe(&self) -> watch::Receiver<Option<u64>> {
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
    session: &Caller<'_>,
    id: RequestId,
    wait: Duration,
) -> Result<SigningRequest, ServiceError> {
    until_final(state, wait, || async {
        let request = requests::get(state, session, id).await?;
        let status = (request.status(), request.expires());
        Ok((request, status))
    })
    .await
}

/// [`releases::get`], waiting as [`get_waiting`] does for the release to be final.
pub async fn get_release_waiting(
    state: &AppState,
    session: &Caller<'_>,
    id: ReleaseId,
    wait: Duration,
) -> Result<ReleaseWithFiles, ServiceError> {
    until_final(state, wait, || async {
        let release = releases::get(state, session, id).await?;
        let status = (release.release.status(), release.release.expires());
        Ok((release, status))
    })
    .await
}

/// Reads with `read` (the value, its state and its expiry) until the state is final or the
/// wait ends, re-reading when a change is notified or the expiry of a pending value comes.
async fn until_final<T, F, Fut>(
    state: &AppState,
    wait: Duration,
    read: F,
) -> Result<T, ServiceError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(T, (RequestStatus, OffsetDateTime)), ServiceError>>,
{
    let deadline = tokio::time::Instant::now() + wait.min(Duration::from_secs(MAX_WAIT_SECS));
    let mut changes = state.changes.subscribe();
    loop {
        // Seen before the read: a change committed after it wakes the wait below.
        let stopping = changes.borrow_and_update().is_none();
        let (value, (status, expires)) = read().await?;
        let now = tokio::time::Instant::now();
        if is_final(status) || now >= deadline || stopping {
            return Ok(value);
        }
        // A pending request expires without anyone committing: wake up then to expire it.
        let until = if status == RequestStatus::Pending {
            let left = Duration::try_from(expires - state.now()).unwrap_or(Duration::ZERO);
            deadline.min(now + left.max(Duration::from_millis(100)))
        } else {
            deadline
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(value);
                }
            }
            () = tokio::time::sleep_until(until) => {}
        }
    }
}
