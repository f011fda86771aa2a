//! Re-checking a session on every request (both interfaces): the identities logged in on it
//! are read again — through the read cache, which a change on this node clears at once and
//! another node's change reaches within [`super::cache::TTL`] — and the session is rebuilt
//! from them as they stand now ([`sigil_domain::Session::revalidate`]).
//!
//! An identity that was deleted, disabled or locked, or whose login used an API key that was
//! deleted since, drops out; the roles of the others are recomputed (a removed role, a changed role, dual control that no longer holds). When no
//! identity is left the session has ended: the caller refuses the request with
//! [`ended_error`] (and the HTTPS token is removed). Each drop is an audit event.

use std::collections::BTreeSet;
use std::sync::Arc;

use sigil_domain::{AuditDraft, Dropped, Identity, IdentityName, Outcome, Revalidation};
use sigil_proto::ErrorCode;

use super::ServiceError;
use super::authorize::{Caller, located};
use crate::AppState;

/// `session` as it stands now (see the module docs). Identities in `forgotten` already
/// dropped out earlier on this connection: they count as gone and are not reported again.
/// The audit event of a drop carries the caller's interface and source address.
pub async fn revalidate(
    state: &AppState,
    caller: &Caller<'_>,
    forgotten: &BTreeSet<IdentityName>,
) -> Result<Revalidation, ServiceError> {
    let session = caller.session;
    if session.identities().is_empty() {
        return Ok(Revalidation {
            session: session.clone(),
            dropped: Vec::new(),
        });
    }
    let mut current: Vec<Arc<Identity>> = Vec::with_capacity(session.identities().len());
    // Identities whose API key (the one they logged in with) is gone or no longer theirs.
    let mut keys_gone: Vec<&IdentityName> = Vec::new();
    for name in session.identities() {
        if forgotten.contains(name) {
            continue;
        }
        if let Some(identity) = state.cache.cached_identity(name).await? {
            current.push(identity);
        }
        if let Some(id) = session.api_key(name) {
            let record = state.cache.cached_api_key(id).await?;
            if record.is_none_or(|r| &r.identity != name) {
                keys_gone.push(name);
            }
        }
    }
    let roles = state.cache.cached_roles().await?;
    let mut revalidation = session.revalidate(
        |name| current.iter().find(|i| &i.name == name).map(Arc::as_ref),
        |name, _| !keys_gone.contains(&name),
        &roles,
    );
    revalidation
        .dropped
        .retain(|(name, _)| !forgotten.contains(name));
    if !revalidation.dropped.is_empty() {
        let mut draft = located(
            AuditDraft::new(state.now(), "session.drop", Outcome::Success),
            caller,
        )
        .detail("dropped", &describe(&revalidation.dropped))
        .detail(
            "ended",
            if revalidation.ended() {
                "true"
            } else {
                "false"
            },
        );
        if let Some((first, _)) = revalidation.dropped.first() {
            draft = draft.identity(first.as_str());
        }
        state.store.commit(Vec::new(), draft).await?;
    }
    Ok(revalidation)
}

/// The refusal of a request whose session has just ended: the code says why the first
/// identity dropped out (`IDENTITY_DISABLED`, `IDENTITY_LOCKED`, or `NOT_LOGGED_IN` when it
/// was deleted).
pub fn ended_error(revalidation: &Revalidation) -> ServiceError {
    let code = match revalidation.dropped.first().map(|(_, why)| why) {
        Some(Dropped::Disabled) => ErrorCode::IdentityDisabled,
        Some(Dropped::Locked) => ErrorCode::IdentityLocked,
        Some(Dropped::Deleted | Dropped::KeyDeleted) | None => ErrorCode::NotLoggedIn,
    };
    ServiceError::refused(
        code,
        format!(
            "the session has ended: {}: log in again (ask an administrator if the identity should still work)",
            describe(&revalidation.dropped)
        ),
    )
}

/// "identity a was disabled, identity b is locked".
fn describe(dropped: &[(IdentityName, Dropped)]) -> String {
    dropped
        .iter()
        .map(|(name, why)| format!("identity {name} {why}"))
        .collect::<Vec<_>>()
        .join(", ")
}
