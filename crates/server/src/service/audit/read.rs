//! Read audit events, a page from a sequence number or the newest ones.

use sigil_domain::store::MAX_PAGE;
use sigil_domain::{AuditEvent, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, authorize};
use crate::state::AppState;

/// Needs `audit:read`.
pub const OPERATION: Operation =
    Operation::new("audit.read", Need::AnyOf(&[Permission::AuditRead]));

/// Which events to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Up to `limit` events from sequence number `from` (0 or more than a page reads a page).
    From {
        /// The first sequence number.
        from: u64,
        /// How many at most.
        limit: u32,
    },
    /// The newest this many events (at least one, at most a page).
    Last(u32),
}

/// The events of `window`, oldest first.
pub async fn run(
    state: &AppState,
    caller: &Caller<'_>,
    window: Window,
) -> Result<Vec<AuditEvent>, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    match window {
        Window::From { from, limit } => {
            let limit = if limit == 0 {
                MAX_PAGE
            } else {
                limit.min(MAX_PAGE)
            };
            Ok(state.store.read_audit(from, limit).await?)
        }
        Window::Last(last) => {
            let last = last.clamp(1, MAX_PAGE);
            let head = state.store.audit_head().await?.seq;
            let from = head.saturating_sub(u64::from(last) - 1).max(1);
            Ok(state.store.read_audit(from, last).await?)
        }
    }
}
