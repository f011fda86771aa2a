//! Logging identities in on a session (both interfaces): the login decision, lockout, audit.
//!
//! The secret is a password, or an API key (`sigil_<id>_<secret>`, created by an
//! administrator): a secret of the API key's shape is checked as one, against the key stored
//! under its id, which must belong to the identity logging in.
//!
//! The password check runs on the blocking pool (argon2id takes tens of milliseconds), the
//! failure counter moves atomically in the store, and every attempt — success or refusal — is
//! an audit event committed together with the counter change.

use sigil_domain::{
    AuditDraft, Change, IdentityName, LoginAttempt, LoginProgress, LoginRefusal, Outcome, Role,
    Secret, Session, api_key_id, decide_login,
};
use sigil_proto::ErrorCode;
use zeroize::Zeroizing;

use super::ServiceError;
use crate::AppState;

/// Who is logging in and from where, besides the password.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginContext<'a> {
    /// CN of the TLS client certificate, when the connection presented one (checked against
    /// identities bound to a certificate).
    pub peer_cn: Option<&'a str>,
    /// Source address (`ip:port`), for the audit log and the per-address throttle.
    pub source: Option<&'a str>,
}

/// Checks `password` for the identity `name` and, when accepted, adds the identity to
/// `session` (dual control: a role applies once enough distinct holders logged in).
///
/// Refusals: `LOGIN_THROTTLED` first (the source address failed too often; nothing checked
/// or counted), then `AUTH_FAILED` (unknown name or wrong secret, not told apart, whatever the
/// identity's state: the secret is checked first), then, for the right secret only,
/// `IDENTITY_LOCKED`, `IDENTITY_DISABLED`, `CERT_MISMATCH`, `NOT_PERMITTED` (no role of the
/// identity may be used on the session's interface), `ALREADY_LOGGED_IN` (the identity is
/// already on this session: dual control needs a different one), `SERVER_BUSY` (session full).
/// Returns the progress; [`LoginProgress::logins_still_required`] is what `RKLO` answers.
pub async fn login(
    state: &AppState,
    session: &mut Session,
    name: &str,
    password: &[u8],
    context: LoginContext<'_>,
) -> Result<LoginProgress, ServiceError> {
    let interface = session.interface();
    let policy = state.config.lockout;
    // The per-address throttle comes before anything else: no password check, no counter.
    let address = context
        .source
        .and_then(|s| s.parse::<std::net::SocketAddr>().ok())
        .map(|s| s.ip());
    if let Some(address) = address {
        let throttled = throttle(state).check(address, std::time::Instant::now());
        if let Err(remaining) = throttled {
            return Err(ServiceError::refused(
                ErrorCode::LoginThrottled,
                format!(
                    "too many failed logins from this address: retry in {} s",
                    remaining.as_secs().max(1)
                ),
            ));
        }
    }
    let identity = match IdentityName::new(name) {
        Ok(n) => state.store.get_identity(&n).await?,
        Err(_) => None,
    };
    let roles: Vec<Role> = match &identity {
        Some(identity) => state
            .store
            .list_roles()
            .await?
            .into_iter()
            .filter(|r| identity.roles.contains(r.name()))
            .collect(),
        None => Vec::new(),
    };
    let threshold = state.store.settings().await?.lockout_threshold;
    let params = state.password_params;
    let now = state.now();
    let password = Zeroizing::new(password.to_vec());
    let peer_cn = context.peer_cn.map(str::to_owned);
    let api_key = match std::str::from_utf8(&password).map(api_key_id) {
        Ok(Ok(id)) => Some(state.store.get_api_key(&id).await?),
        _ => None,
    };
    // The key a successful login used (the secret had the key's shape: it was checked as one).
    let used_key = api_key
        .as_ref()
        .and_then(Option::as_ref)
        .map(|r| r.id.clone());
    let method = if api_key.is_some() {
        "api-key"
    } else {
        "password"
    };
    // argon2id is CPU work: keep it off the async workers.
    let (identity, roles, decision) = tokio::task::spawn_blocking(move || {
        let secret = match (&api_key, std::str::from_utf8(&password)) {
            (Some(record), Ok(token)) => Secret::ApiKey {
                token,
                record: record.as_ref(),
            },
            _ => Secret::Password(&password),
        };
        let decision = decide_login(&LoginAttempt {
            identity: identity.as_ref(),
            roles: &roles,
            secret,
            peer_cn: peer_cn.as_deref(),
            interface,
            lockout_threshold: threshold,
            lockout: policy,
            now,
            password_params: params,
        });
        (identity, roles, decision)
    })
    .await
    .map_err(|e| ServiceError::internal(format!("login task failed: {e}")))?;

    let draft = |outcome: Outcome| {
        let mut draft = AuditDraft::new(state.now(), "login", outcome)
            .identity(name)
            .interface(interface)
            .detail("method", method);
        if let Some(source) = context.source {
            draft = draft.source(source);
        }
        draft
    };
    let changes = match (&identity, decision.state_change) {
        (Some(identity), Some(change)) => vec![Change::RecordLogin {
            identity: identity.name.clone(),
            change,
        }],
        _ => Vec::new(),
    };
    if let Err(refusal) = decision.result {
        let mut event = draft(Outcome::Failure).detail("reason", &refusal.to_string());
        if decision.locks_now {
            event = event.detail("locked", "true");
        }
        if let Some(address) = address
            && refusal == LoginRefusal::AuthFailed
            && let Some(duration) =
                throttle(state).failure(address, std::time::Instant::now(), &policy)
        {
            event = event.detail("address_throttled_secs", &duration.as_secs().to_string());
        }
        state.store.commit(changes, event).await?;
        crate::metrics::failed_login(interface.as_str(), decision.locks_now);
        return Err(refusal_error(&refusal, decision.locks_now));
    }
    let Some(identity) = identity else {
        // decide_login never accepts a missing identity; answer as for a wrong password.
        return Err(ServiceError::refused(
            ErrorCode::AuthFailed,
            LoginRefusal::AuthFailed.to_string(),
        ));
    };
    if session.has_identity(&identity.name) {
        let event = draft(Outcome::Failure).detail("reason", "already logged in on this session");
        state.store.commit(changes, event).await?;
        return Err(ServiceError::refused(
            ErrorCode::AlreadyLoggedIn,
            format!(
                "identity {name} is already logged in on this session: dual control needs a different identity"
            ),
        ));
    }
    // Log in on a copy so that a failed audit write leaves the session unchanged.
    let mut next = session.clone();
    let progress = next.login(&identity, &roles).map_err(|e| {
        ServiceError::refused(ErrorCode::ServerBusy, format!("{e}: start a new session"))
    })?;
    if let Some(id) = used_key {
        // Deleting the key ends this login (see service::session).
        next.note_api_key(&identity.name, id);
    }
    state.store.commit(changes, draft(Outcome::Success)).await?;
    *session = next;
    Ok(progress)
}

/// The per-address throttle (a poisoned lock only means a panic elsewhere: keep its data).
fn throttle(state: &AppState) -> std::sync::MutexGuard<'_, sigil_domain::AddressThrottle> {
    state
        .login_throttle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The wire error of a login refusal.
fn refusal_error(refusal: &LoginRefusal, locked_now: bool) -> ServiceError {
    let code = match refusal {
        LoginRefusal::Locked => ErrorCode::IdentityLocked,
        LoginRefusal::Disabled => ErrorCode::IdentityDisabled,
        LoginRefusal::CertMismatch => ErrorCode::CertMismatch,
        LoginRefusal::InterfaceNotAllowed => ErrorCode::NotPermitted,
        _ => ErrorCode::AuthFailed,
    };
    let message = if locked_now {
        "authentication failed, and the identity is now locked for a while after too many failed logins: wait, or ask an administrator to unlock it".to_owned()
    } else {
        refusal.to_string()
    };
    ServiceError::refused(code, message)
}
