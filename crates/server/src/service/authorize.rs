//! Who calls a use case and what it needs: the [`Caller`] (session, source address,
//! interface), each operation's [`Need`] declared as an [`Operation`] constant, and the one
//! check that enforces it ([`authorize`]), auditing every refusal within a budget.

use sigil_domain::{AuditDraft, IdentityName, Outcome, Permission, RefusalAudit, Session};
use sigil_proto::ErrorCode;

use crate::service::ServiceError;
use crate::state::AppState;

/// What an operation needs from the caller's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: answered before any login (health, login, time-stamps).
    Nothing,
    /// A logged-in identity; the use case decides the rest from the record it reads (one's
    /// own requests, say).
    Login,
    /// A logged-in identity and at least one of these permissions.
    AnyOf(&'static [Permission]),
    /// A logged-in identity and every one of these permissions.
    AllOf(&'static [Permission]),
}

impl Need {
    /// The permissions named (none for [`Need::Nothing`] and [`Need::Login`]).
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Self::Nothing | Self::Login => &[],
            Self::AnyOf(p) | Self::AllOf(p) => p,
        }
    }

    /// Whether the session's active roles meet it (the login is checked apart).
    pub fn met_by(self, session: &Session) -> bool {
        match self {
            Self::Nothing | Self::Login => true,
            Self::AnyOf(p) => p.iter().any(|p| session.has(*p)),
            Self::AllOf(p) => p.iter().all(|p| session.has(*p)),
        }
    }
}

/// One operation of the service: the audit action it is recorded as and what it needs.
/// Each use case declares its own as a constant; both listeners enforce it through
/// [`authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The audit action, e.g. `policy.create`.
    pub action: &'static str,
    /// What the caller's session needs.
    pub need: Need,
}

impl Operation {
    /// An operation recorded as `action` that needs `need`.
    pub const fn new(action: &'static str, need: Need) -> Self {
        Self { action, need }
    }
}

/// Who calls a use case: the session, and where the request came from (for
/// the audit log). Dereferences to the [`Session`].
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The caller's session.
    pub session: &'a Session,
    /// The peer address, when known.
    pub source: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// A caller without a known source address.
    pub fn new(session: &'a Session) -> Self {
        Self {
            session,
            source: None,
        }
    }
}

impl std::ops::Deref for Caller<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        self.session
    }
}

/// The name audit events carry for the session's principal.
pub fn actor(session: &Session) -> &str {
    session
        .principal()
        .map_or("anonymous", IdentityName::as_str)
}

/// An audit event by the session's principal on its interface, with its source address.
pub fn audit(state: &AppState, session: &Caller<'_>, action: &str, outcome: Outcome) -> AuditDraft {
    located(
        AuditDraft::new(state.now(), action, outcome).identity(actor(session)),
        session,
    )
}

/// `draft` with the interface and source address of `caller`, for an event written on a
/// caller's behalf under another identity (a request signed for its requester, say).
pub fn located(draft: AuditDraft, caller: &Caller<'_>) -> AuditDraft {
    let draft = draft.interface(caller.interface());
    match caller.source {
        Some(source) => draft.source(source),
        None => draft,
    }
}

/// Refuses (and audits the refusal) unless the session meets what `operation` needs: the one
/// permission check of the HTTPS routes and the services.
pub async fn authorize(
    state: &AppState,
    caller: &Caller<'_>,
    operation: &Operation,
) -> Result<(), ServiceError> {
    let need = operation.need;
    if need == Need::Nothing {
        return Ok(());
    }
    if caller.principal().is_none() {
        return Err(not_logged_in());
    }
    if need.met_by(caller.session) {
        return Ok(());
    }
    let all = matches!(need, Need::AllOf(_));
    let missing: Vec<Permission> = need
        .permissions()
        .iter()
        .copied()
        .filter(|p| !caller.has(*p))
        .collect();
    refuse(state, caller, operation.action, &missing, all).await
}

fn not_logged_in() -> ServiceError {
    ServiceError::refused(
        ErrorCode::NotLoggedIn,
        "not logged in: log in first (POST /api/v1/login)",
    )
}

/// Audits the refusal of `action` for want of `missing` (every one of them when `all`, else
/// any one) and says what is missing, including logins still needed for dual control.
async fn refuse(
    state: &AppState,
    session: &Caller<'_>,
    action: &str,
    missing: &[Permission],
    all: bool,
) -> Result<(), ServiceError> {
    let pending: Vec<String> = session
        .pending()
        .iter()
        .map(|p| {
            format!(
                "role {} needs {} more login(s) by other identities holding it on this session",
                p.role, p.more_logins_needed
            )
        })
        .collect();
    let hint = if pending.is_empty() {
        "ask an administrator for a role that grants it".to_owned()
    } else {
        format!(
            "{}; log them in with this session's token",
            pending.join("; ")
        )
    };
    let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
    let draft = audit(state, session, action, Outcome::Failure)
        .detail("reason", "not permitted")
        .detail("permission", &names.join(","));
    audit_refusal(state, session, draft).await?;
    let needed = match (all, names.as_slice()) {
        (_, [one]) => format!("permission {one}"),
        (true, _) => format!("permissions {}", names.join(" and ")),
        (false, _) => format!("one of the permissions {}", names.join(", ")),
    };
    Err(ServiceError::refused(
        ErrorCode::NotPermitted,
        format!("this needs {needed}, which the session does not have: {hint}"),
    ))
}

/// Audits a refusal within the budget of its connection and its identity
/// ([`sigil_domain::RefusalBudget`]): past the limit of a window a refusal is only counted;
/// the first one over the limit writes one `audit.refusals-counted` event, and the next
/// audited refusal carries how many were counted in the previous window.
async fn audit_refusal(
    state: &AppState,
    session: &Caller<'_>,
    draft: AuditDraft,
) -> Result<(), ServiceError> {
    let policy = state.config.refusal_audit;
    let now = std::time::Instant::now();
    let keys = [
        session
            .source
            .map(|s| ("connection", format!("connection {s}"))),
        Some(("identity", format!("identity {}", actor(session.session)))),
    ];
    let verdicts: Vec<(&str, String, RefusalAudit)> = {
        let mut budget = state
            .refusals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.into_iter()
            .flatten()
            .map(|(kind, key)| {
                let verdict = budget.take(&key, now, &policy);
                (kind, key, verdict)
            })
            .collect()
    };
    let mut draft = Some(draft);
    for (kind, key, verdict) in &verdicts {
        match verdict {
            RefusalAudit::Audit { suppressed_before } if *suppressed_before > 0 => {
                // Refusals of the previous window that were counted, not audited.
                draft = draft.map(|d| {
                    d.detail(
                        &format!("counted_before_{kind}"),
                        &suppressed_before.to_string(),
                    )
                });
            }
            RefusalAudit::Audit { .. } => {}
            RefusalAudit::Count { first } => {
                draft = None;
                if *first {
                    let summary = audit(state, session, "audit.refusals-counted", Outcome::Failure)
                        .detail("key", key)
                        .detail("limit", &policy.limit.to_string())
                        .detail("window_secs", &policy.window.as_secs().to_string());
                    state.store.commit(Vec::new(), summary).await?;
                }
            }
        }
    }
    if let Some(draft) = draft {
        state.store.commit(Vec::new(), draft).await?;
    }
    Ok(())
}
