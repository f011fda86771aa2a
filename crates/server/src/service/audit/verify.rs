//! Verify the whole audit chain against the stored head.

use sigil_domain::audit::ChainBreak;
use sigil_domain::store::MAX_PAGE;
use sigil_domain::{ChainHead, ChainVerifier, Outcome, Permission};

use crate::service::ServiceError;
use crate::service::authorize::{Caller, Need, Operation, audit, authorize};
use crate::state::AppState;

/// Needs `audit:read`.
pub const OPERATION: Operation =
    Operation::new("audit.verify", Need::AnyOf(&[Permission::AuditRead]));

/// The result of verifying the whole audit chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// The stored head's sequence number.
    pub head_seq: u64,
    /// The first break, if any.
    pub broken: Option<ChainBreak>,
}

/// Verifies the chain page by page, and audits the result.
pub async fn run(state: &AppState, caller: &Caller<'_>) -> Result<ChainReport, ServiceError> {
    authorize(state, caller, &OPERATION).await?;
    // Read to the end, then the head; events appended meanwhile are read on the next pass,
    // so a head beyond the last event read means events are missing at the end.
    let mut verifier = ChainVerifier::new(ChainHead::GENESIS);
    let mut events = 0u64;
    let mut last_seq = 0u64;
    let mut broken = None;
    let head = loop {
        let page = state
            .store
            .read_audit(last_seq.saturating_add(1), MAX_PAGE)
            .await?;
        if page.is_empty() {
            let head = state.store.audit_head().await?;
            if head.seq <= last_seq || last_seq == u64::MAX {
                break head;
            }
            // Appended while reading: read them too (or find them missing).
            let more = state
                .store
                .read_audit(last_seq.saturating_add(1), 1)
                .await?;
            if more.is_empty() {
                break head;
            }
            continue;
        }
        let mut stop = false;
        for event in &page {
            if let Err(e) = verifier.push(event) {
                broken = Some(e);
                stop = true;
                break;
            }
            events += 1;
            last_seq = event.seq;
        }
        if stop {
            break state.store.audit_head().await?;
        }
    };
    if broken.is_none()
        && let Err(e) = verifier.clone().finish(Some(&head))
    {
        broken = Some(e);
    }
    let outcome = if broken.is_some() {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    let mut draft = audit(state, caller, OPERATION.action, outcome)
        .detail("events", &events.to_string())
        .detail("head_seq", &head.seq.to_string());
    if let Some(b) = &broken {
        draft = draft.detail("break", &b.to_string());
    }
    state.store.commit(Vec::new(), draft).await?;
    Ok(ChainReport {
        events,
        head_seq: head.seq,
        broken,
    })
}
