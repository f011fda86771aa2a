//! One connection's session and the commands.
//!
//! Every request goes through, in order: the session re-check (its identities and roles as they
//! stand now, `docs/security.md`; not for `ECHO`/`TIME`), the typed decode (field errors), the
//! enabled-command list (`COMMAND_DISABLED`), the login requirement (`NOT_LOGGED_IN`) and the
//! permission table (`NOT_PERMITTED`) — see [`requirement`] and `docs/host-api.md`. The three
//! refusals are audit events (a session the re-check ended is a `session.drop` event).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigil_domain::{
    AuditDraft, CommandCode, IdentityName, Interface, Outcome, Permission, PolicyAlias, Session,
    SigningFormat, SigningRequest, Upload,
};
use sigil_proto::{
    Command, CorrelationId, ErrorCode, Extensions, Frame, PolicyInfo, Request, Response,
};

use super::convert;
use crate::AppState;
use crate::service::ServiceError;
use crate::service::auth::{self, LoginContext};
use crate::service::authorize::{Caller, Need};
use crate::service::failures;
use crate::service::session as current;
use crate::service::{openpgp, releases, requests, signing, wait};

/// The permission table of the Host API: the one place a command's permission is declared
/// (and enforced, by `authorize`). `tests/permissions.rs` checks every command of
/// [`Command::KNOWN`] against it: refused without the permission, allowed with it. The
/// HTTPS API's operations use the same [`Need`] (`service/operations.rs`).
pub fn requirement(command: Command) -> Need {
    const REQUEST: &[Permission] = &[Permission::SigningRequest];
    const RETRIEVE: &[Permission] = &[Permission::SigningRequest, Permission::SigningReadAll];
    match command {
        Command::Echo | Command::Time | Command::Login | Command::Capabilities => Need::Nothing,
        Command::ListPolicies
        | Command::GetPolicy
        | Command::UploadHash
        | Command::UploadAuthenticode
        | Command::UploadJar
        | Command::UploadOpenPgp
        | Command::OpenRelease => Need::AnyOf(REQUEST),
        Command::RetrieveHash
        | Command::RetrieveAuthenticode
        | Command::RetrieveJar
        | Command::RetrieveOpenPgp
        | Command::GetRelease => Need::AnyOf(RETRIEVE),
        Command::GetOpenPgpKey => Need::AnyOf(&[Permission::SigningOpenPgpKey]),
        // Unknown commands never get here (the decoder refuses them); refuse anyway.
        Command::Unknown(_) => Need::AnyOf(&[]),
    }
}

/// Whether `frame` changes the session (`RKLO`): such a frame is a barrier in a pipeline. It
/// starts once every frame before it is answered, runs alone, and the frames after it see its
/// effect. Every other command only reads the session and may run concurrently with others.
pub(crate) fn is_barrier(frame: &Frame) -> bool {
    frame.command() == Some(Command::Login)
}

/// The state of one Host API connection. Cloned (copy on write) when a login changes the
/// session while answers of earlier frames still hold the old one.
#[derive(Clone)]
pub(crate) struct Connection {
    state: Arc<AppState>,
    session: Session,
    peer: SocketAddr,
    source: String,
    peer_cn: Option<String>,
    /// Identities that dropped out of this connection's session (deleted, disabled, locked)
    /// since they logged in: they stay out until they log in again. Shared by the copies.
    forgotten: Arc<Mutex<BTreeSet<IdentityName>>>,
}

impl Connection {
    /// A connection with no identity logged in yet.
    pub(crate) fn new(state: Arc<AppState>, peer: SocketAddr, peer_cn: Option<String>) -> Self {
        Self {
            state,
            session: Session::new(Interface::HostApi),
            peer,
            source: peer.to_string(),
            peer_cn,
            forgotten: Arc::default(),
        }
    }

    /// The session as the services take it: with the peer address for the audit log.
    fn caller(&self) -> Caller<'_> {
        Caller {
            session: &self.session,
            source: Some(&self.source),
        }
    }

    fn forgotten(&self) -> std::sync::MutexGuard<'_, BTreeSet<IdentityName>> {
        // Whole-value inserts and removes only: a poisoned lock is still consistent.
        self.forgotten
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This connection with its session as it stands now (see [`crate::service::session`]),
    /// for every command but `ECHO` and `TIME`. When the last identity just dropped out, a
    /// command other than `RKLO` is refused with `IDENTITY_DISABLED`, `IDENTITY_LOCKED` or
    /// `NOT_LOGGED_IN` (deleted); a login goes on with the empty session.
    async fn revalidated(&self, frame: &Frame) -> Result<Cow<'_, Self>, ServiceError> {
        let command = frame.command();
        if self.session.identities().is_empty()
            || matches!(command, Some(Command::Echo | Command::Time))
        {
            return Ok(Cow::Borrowed(self));
        }
        let forgotten = self.forgotten().clone();
        let revalidation = current::revalidate(&self.state, &self.caller(), &forgotten).await?;
        if !revalidation.dropped.is_empty() {
            self.forgotten()
                .extend(revalidation.dropped.iter().map(|(name, _)| name.clone()));
        }
        if revalidation.ended() && command != Some(Command::Login) {
            return Err(current::ended_error(&revalidation));
        }
        Ok(Cow::Owned(Self {
            session: revalidation.session,
            ..self.clone()
        }))
    }

    /// Answers one frame that does not change the session (see [`is_barrier`]); returns the
    /// response and the correlation id to echo.
    pub(crate) async fn handle(&self, frame: Frame) -> (Response, Option<CorrelationId>) {
        // A login routed here by mistake is answered, but must not be lost silently: it
        // changes nothing, and says so in the log.
        let mut session = None;
        let answer = self.respond(&frame, &mut session).await;
        if session.is_some() {
            tracing::error!(peer = %self.peer, "a login was answered outside a barrier: its session change is dropped");
        }
        answer
    }

    /// Answers a frame that may change the session (`RKLO`), applying the change.
    pub(crate) async fn handle_barrier(
        &mut self,
        frame: Frame,
    ) -> (Response, Option<CorrelationId>) {
        let mut session = None;
        let answer = self.respond(&frame, &mut session).await;
        if let Some(session) = session {
            // Logged in again: no longer forgotten.
            self.forgotten().retain(|name| !session.has_identity(name));
            self.session = session;
        }
        answer
    }

    /// Answers `frame`; a successful login leaves the new session in `next_session`.
    async fn respond(
        &self,
        frame: &Frame,
        next_session: &mut Option<Session>,
    ) -> (Response, Option<CorrelationId>) {
        let context = frame.context();
        let started = std::time::Instant::now();
        let keys = self.failure_keys();
        let answered = match failures::check(&self.state, &keys) {
            Err(seconds) => Err(failures::throttled(seconds)),
            Ok(()) => {
                let answered = match self.revalidated(frame).await {
                    Ok(connection) => connection.answer(frame, next_session).await,
                    Err(error) => Err(error),
                };
                if answered.as_ref().is_err_and(is_failure) {
                    failures::failed(&self.state, &keys).await;
                }
                answered
            }
        };
        let error = answered.as_ref().err().map(ServiceError::host_api_code);
        crate::metrics::host_api_command(frame.command(), error, started);
        let response = match answered {
            Ok(response) => response,
            Err(error) => {
                error.log_internal("host-api");
                context.failure(error.host_api_code(), error.to_string())
            }
        };
        (response, context.correlation)
    }

    /// The rate limit's keys of this connection: itself and its principal, if logged in.
    fn failure_keys(&self) -> Vec<String> {
        let mut keys = vec![failures::connection_key(self.peer)];
        if let Some(principal) = self.session.principal() {
            keys.push(failures::identity_key(principal.as_str()));
        }
        keys
    }

    async fn answer(
        &self,
        frame: &Frame,
        next_session: &mut Option<Session>,
    ) -> Result<Response, ServiceError> {
        let request =
            Request::decode(frame).map_err(|e| ServiceError::refused(e.code(), e.to_string()))?;
        let extensions =
            Extensions::read(frame).map_err(|e| ServiceError::refused(e.code(), e.to_string()))?;
        let command = request.command();
        self.check_enabled(command).await?;
        self.authorize(command).await?;
        let state = self.state.clone();
        let state = state.as_ref();
        Ok(match request {
            Request::Echo => Response::Echo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            Request::Time => Response::Time { time: state.now() },
            Request::Login(login) => {
                // Logged in on a copy: the caller applies it (a failure leaves it unchanged).
                let mut session = self.session.clone();
                let progress = auth::login(
                    state,
                    &mut session,
                    &login.identity,
                    login.password.expose().as_bytes(),
                    LoginContext {
                        peer_cn: self.peer_cn.as_deref(),
                        source: Some(&self.source),
                    },
                )
                .await?;
                *next_session = Some(session);
                Response::Login {
                    logins_remaining: progress.logins_still_required(),
                }
            }
            Request::Capabilities => self.capabilities().await?,
            Request::ListPolicies => {
                let policies = state
                    .store
                    .list_policies()
                    .await?
                    .into_iter()
                    .filter(|p| p.visible_to(&self.session))
                    .map(|p| p.alias().as_str().to_owned())
                    .collect();
                Response::ListPolicies { policies }
            }
            Request::GetPolicy { policy } => Response::GetPolicy(self.policy_info(&policy).await?),
            Request::UploadHash(upload) => {
                let request = self
                    .upload(SigningFormat::Hash, upload, Default::default(), &extensions)
                    .await?;
                Response::UploadHash(convert::status(&request)?)
            }
            Request::UploadAuthenticode(a) => {
                let extra = sigil_domain::RequestMetadata {
                    program_name: a.program_name,
                    program_url: a.program_url,
                    subject: a.subject,
                    ..Default::default()
                };
                let request = self
                    .upload(SigningFormat::Authenticode, a.upload, extra, &extensions)
                    .await?;
                Response::UploadAuthenticode(convert::status(&request)?)
            }
            Request::UploadJar(j) => {
                let extra = sigil_domain::RequestMetadata {
                    entry_count: convert::entry_count(j.entry_count)?,
                    signer_name: j.signer_name,
                    ..Default::default()
                };
                let request = self
                    .upload(SigningFormat::Jar, j.upload, extra, &extensions)
                    .await?;
                Response::UploadJar(convert::status(&request)?)
            }
            Request::UploadOpenPgp(o) => {
                let created = openpgp_time(o.created, state.now())?;
                let extra = sigil_domain::RequestMetadata {
                    openpgp_created: Some(created),
                    ..Default::default()
                };
                let request = self
                    .upload(SigningFormat::OpenPgp, o.upload, extra, &extensions)
                    .await?;
                Response::UploadOpenPgp(convert::status(&request)?)
            }
            Request::RetrieveOpenPgp { id } => Response::RetrieveOpenPgp(
                self.retrieve(SigningFormat::OpenPgp, &id, &extensions)
                    .await?,
            ),
            Request::GetOpenPgpKey { policy } => {
                let key = openpgp::export_key(state, &self.caller(), &policy).await?;
                Response::GetOpenPgpKey(sigil_proto::OpenPgpKey {
                    policy: key.policy.as_str().to_owned(),
                    fingerprint: key.fingerprint.to_vec(),
                    key: key.transferable,
                })
            }
            Request::RetrieveHash { id } => {
                Response::RetrieveHash(self.retrieve(SigningFormat::Hash, &id, &extensions).await?)
            }
            Request::RetrieveAuthenticode { id } => Response::RetrieveAuthenticode(
                self.retrieve(SigningFormat::Authenticode, &id, &extensions)
                    .await?,
            ),
            Request::RetrieveJar { id } => {
                Response::RetrieveJar(self.retrieve(SigningFormat::Jar, &id, &extensions).await?)
            }
            Request::OpenRelease(open) => {
                let metadata = sigil_domain::ReleaseMetadata {
                    build_url: open.metadata.build_url,
                    commit: open.metadata.commit,
                    description: open.metadata.description,
                };
                let release =
                    releases::open(state, &self.caller(), &open.policy, open.files, metadata)
                        .await?;
                Response::OpenRelease(Box::new(convert::release_status(&release)?))
            }
            Request::GetRelease { id } => {
                let id = release_id(&id)?;
                let wait = Duration::from_secs(extensions.wait.unwrap_or(0));
                let release = wait::get_release_waiting(state, &self.caller(), id, wait).await?;
                Response::GetRelease(Box::new(convert::release_status(&release.release)?))
            }
        })
    }

    /// `COMMAND_DISABLED` unless an administrator enabled `command`. Read through the cache,
    /// which a change on this node clears at once (other nodes: within the cache's TTL).
    async fn check_enabled(&self, command: Command) -> Result<(), ServiceError> {
        let enabled = self.state.cache.cached_enabled_commands().await?;
        let on = CommandCode::new(command.as_str()).is_ok_and(|code| enabled.contains(&code));
        if on {
            return Ok(());
        }
        self.refused(command, ErrorCode::CommandDisabled, "command disabled")
            .await?;
        Err(ServiceError::refused(
            ErrorCode::CommandDisabled,
            format!(
                "command {command} is disabled on this server: ask an administrator to enable it"
            ),
        ))
    }

    /// `NOT_LOGGED_IN` / `NOT_PERMITTED` per [`requirement`].
    async fn authorize(&self, command: Command) -> Result<(), ServiceError> {
        match self.permitted(command) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.refused(command, error.host_api_code(), &error.to_string())
                    .await?;
                Err(error)
            }
        }
    }

    /// [`authorize`](Self::authorize) without the audit event.
    fn permitted(&self, command: Command) -> Result<(), ServiceError> {
        let need = requirement(command);
        if need == Need::Nothing {
            return Ok(());
        }
        if self.session.principal().is_none() {
            return Err(ServiceError::refused(
                ErrorCode::NotLoggedIn,
                format!("command {command} needs a logged-in identity: log in with RKLO first"),
            ));
        }
        if need.met_by(&self.session) {
            return Ok(());
        }
        let needed: Vec<&str> = need.permissions().iter().map(|p| p.as_str()).collect();
        let pending = self
            .session
            .pending()
            .iter()
            .map(|p| {
                format!(
                    "role {} needs {} more login(s)",
                    p.role, p.more_logins_needed
                )
            })
            .collect::<Vec<_>>();
        let hint = if pending.is_empty() {
            "use an identity whose role grants it".to_owned()
        } else {
            format!("complete dual control first ({})", pending.join(", "))
        };
        Err(ServiceError::refused(
            ErrorCode::NotPermitted,
            format!(
                "command {command} needs the permission {}: {hint}",
                needed.join(" or ")
            ),
        ))
    }

    /// Records a refused command in the audit log.
    async fn refused(
        &self,
        command: Command,
        code: ErrorCode,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let mut draft = AuditDraft::new(self.state.now(), "hostapi.refused", Outcome::Failure)
            .interface(Interface::HostApi)
            .source(&self.source)
            .object(command.as_str())
            .detail("code", code.as_str())
            .detail("reason", reason);
        if let Some(principal) = self.session.principal() {
            draft = draft.identity(principal.as_str());
        }
        self.state.store.commit(Vec::new(), draft).await?;
        Ok(())
    }

    /// `RKCP`: the enabled commands this session may use now, and its permissions.
    async fn capabilities(&self) -> Result<Response, ServiceError> {
        let enabled = self.state.cache.cached_enabled_commands().await?;
        let commands = Command::KNOWN
            .iter()
            .copied()
            .filter(|c| CommandCode::new(c.as_str()).is_ok_and(|code| enabled.contains(&code)))
            .filter(|c| self.permitted(*c).is_ok())
            .collect();
        let permissions = self
            .session
            .permissions()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        Ok(Response::Capabilities {
            commands,
            permissions,
        })
    }

    /// `RAGA`.
    async fn policy_info(&self, alias: &str) -> Result<PolicyInfo, ServiceError> {
        let state = self.state.as_ref();
        let policy = match PolicyAlias::new(alias) {
            Ok(alias) => state.cache.cached_policy(&alias).await?,
            Err(_) => None,
        }
        .filter(|p| p.visible_to(&self.session))
        .ok_or_else(|| requests::upload_error(&sigil_domain::UploadError::PolicyNotFound))?;
        let chain = signing::certificate_chain(state, &policy).await?;
        let draft = policy.draft();
        Ok(PolicyInfo {
            policy: policy.alias().as_str().to_owned(),
            key_algorithm: signing::key_algorithm(state, &policy).await?,
            certificate_chain: chain.der.concat(),
            allowed_hashes: draft.hashes.iter().copied().collect(),
            allowed_formats: draft.formats.iter().copied().collect(),
            approvals_required: policy.approvals_required(),
            timestamp_required: draft.timestamp_required,
            openpgp_fingerprint: openpgp::fingerprint(state, &policy).await?,
        })
    }

    /// `RAU*`, joining the release `RL` names, if any.
    async fn upload(
        &self,
        format: SigningFormat,
        wire: sigil_proto::Upload,
        extra: sigil_domain::RequestMetadata,
        extensions: &Extensions,
    ) -> Result<SigningRequest, ServiceError> {
        let metadata = sigil_domain::RequestMetadata {
            program_name: extra.program_name,
            program_url: extra.program_url,
            entry_count: extra.entry_count,
            signer_name: extra.signer_name,
            subject: extra.subject,
            openpgp_created: extra.openpgp_created,
            ..convert::metadata(wire.metadata)
        };
        let upload = Upload {
            format,
            hash: wire.hash,
            digest: wire.digest,
            metadata,
        };
        let release = extensions.release.as_ref().map(release_id).transpose()?;
        requests::upload_in(
            self.state.as_ref(),
            &self.caller(),
            &wire.policy,
            upload,
            release,
            extensions
                .idempotency_key
                .as_ref()
                .map(sigil_proto::IdempotencyKey::as_str),
        )
        .await
    }

    /// `RAG*`: a request of another format is `REQUEST_NOT_FOUND`, like an unknown one. With
    /// `WT`, the answer waits for a final state (see [`wait`]).
    async fn retrieve(
        &self,
        format: SigningFormat,
        id: &sigil_proto::RequestId,
        extensions: &Extensions,
    ) -> Result<sigil_proto::RequestStatus, ServiceError> {
        let not_found = || {
            ServiceError::refused(
                ErrorCode::RequestNotFound,
                format!(
                    "no {format} signing request {id} is available to you: check the id and the retrieve command"
                ),
            )
        };
        let uuid = uuid::Uuid::parse_str(id.as_str()).map_err(|_| not_found())?;
        let request = wait::get_waiting(
            self.state.as_ref(),
            &self.caller(),
            sigil_domain::RequestId(uuid),
            Duration::from_secs(extensions.wait.unwrap_or(0)),
        )
        .await
        .map_err(|e| match e.host_api_code() {
            ErrorCode::RequestNotFound => not_found(),
            _ => e,
        })?;
        if request.format() != format {
            return Err(not_found());
        }
        convert::status(&request)
    }
}

/// How far an OpenPGP signature time (`OT`) may be from the server's clock: behind, the
/// time a client takes to hash a large file; ahead, clock skew (GnuPG distrusts signatures
/// from the future).
const OPENPGP_TIME_BEHIND: time::Duration = time::Duration::hours(6);
const OPENPGP_TIME_AHEAD: time::Duration = time::Duration::minutes(5);

/// The `OT` of `RAUP` as OpenPGP stores it, refused when far from the server's clock.
fn openpgp_time(
    created: time::OffsetDateTime,
    now: time::OffsetDateTime,
) -> Result<u32, ServiceError> {
    let refuse = |why: &str| {
        ServiceError::refused(
            ErrorCode::BadValue,
            format!(
                "OT (the OpenPGP signature time) {why}: check the client's clock and hash again"
            ),
        )
    };
    if created > now + OPENPGP_TIME_AHEAD {
        return Err(refuse("is in the future by the server's clock"));
    }
    if created < now - OPENPGP_TIME_BEHIND {
        return Err(refuse("is more than 6 hours old"));
    }
    u32::try_from(created.unix_timestamp()).map_err(|_| refuse("is outside OpenPGP's range"))
}

/// Whether a command's error counts against the rate limit on failed calls: every refusal of
/// the client's call, not the server's own trouble (busy, sealed, a signing or internal
/// failure) nor the throttle's own answer.
fn is_failure(error: &ServiceError) -> bool {
    !matches!(
        error.host_api_code(),
        ErrorCode::ServerBusy
            | ErrorCode::ServerSealed
            | ErrorCode::SigningFailed
            | ErrorCode::Internal
            | ErrorCode::TooManyFailures
    )
}

/// A release id from the wire; one that is not a UUID is `REQUEST_NOT_FOUND`, like an unknown
/// one.
fn release_id(id: &sigil_proto::ReleaseId) -> Result<sigil_domain::ReleaseId, ServiceError> {
    uuid::Uuid::parse_str(id.as_str())
        .map(sigil_domain::ReleaseId)
        .map_err(|_| releases::release_error(&sigil_domain::ReleaseError::NotFound))
}
