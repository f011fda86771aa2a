//! Running the server: open the store, unseal the master key, bind both listeners, accept
//! connections, shut down gracefully.
//!
//! Each listener has one accept task. A connection is handed to its own task after the TLS
//! handshake, using the listener's configuration *at that moment*, so a swapped chain or CRL
//! applies from the next handshake on. Shutdown stops the accept tasks, flips a watch channel
//! every connection task listens to (the Host API finishes the frame in progress, HTTPS
//! finishes in-flight requests) and waits up to [`SHUTDOWN_GRACE`] for the connection tasks
//! to end.
//!
//! Each listener serves at most `max_connections` connections at once (TCP accepted, before
//! TLS); one more is closed at once, with a warning in the log, rather than letting the
//! process run out of file descriptors or memory.
//!
//! Deadlines, so that a peer that sends nothing, or trickles, cannot hold a slot (all in
//! `[server]` of `sigil.toml`):
//! - `header_timeout`, from TCP accept: the TLS handshake (both listeners), and on HTTPS the
//!   first complete request header; hyper applies it to every later HTTP/1.1 header too.
//! - `idle_timeout`: an HTTPS connection (HTTP/1.1 or HTTP/2) with no request in progress for
//!   this long since its last request ended is closed (gracefully: HTTP/2 gets a GOAWAY).
//!   Only complete requests count as activity, not bytes or HTTP/2 pings. The Host API has
//!   the same rule per frame and a `frame_timeout` (see `hostapi::connection`).
//! - `body_timeout`: an HTTPS request body must be complete this long after its header (a
//!   request in progress holds the idle timer, so a trickled body would hold it for ever).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sigil_custody::danger::InsecureDevKeyFile;
use sigil_custody::{CustodyRecord, CustodyScheme, MasterKey, Unsealer};
use sigil_domain::{AuditDraft, Outcome, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::live::serve_until_revoked;
use crate::paths::DataLayout;
use crate::state::AppState;
use crate::tls::SwappableConfig;
use sigil_custody::Keystore;
use sigil_custody::pkcs11::Pkcs11Custody;

/// Longest shutdown waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Who is on the other end of an HTTPS connection; added to every request's extensions
/// (as is axum's `ConnectInfo<SocketAddr>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The client's address.
    pub addr: SocketAddr,
    /// The client's TLS certificate (DER), when it sent one (verified against the Sigil CAs).
    pub client_certificate: Option<Arc<Vec<u8>>>,
}

/// A running server; dropping it does not stop it: call [`RunningServer::shutdown`].
pub struct RunningServer {
    state: Arc<AppState>,
    host_api_addr: SocketAddr,
    https_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    accept_tasks: Vec<JoinHandle<()>>,
    /// Every connection task holds a clone; all dropped = all connections done.
    connections: mpsc::Sender<()>,
    connections_done: mpsc::Receiver<()>,
    metrics_addr: Option<SocketAddr>,
}

/// Opens the store and unseals the master key from the development key file, then starts.
///
/// A deployment whose master key is split into key components cannot start this way: use
/// [`unseal_with_components`] and [`start_with_master_key`].
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let (store, master) = open_with_key_file(&config).await?;
    launch(config, store, master).await
}

/// Opens the store of a deployment whose master key is in the development key file, and
/// reads the key (with the warning the file deserves, every time).
///
/// # Errors
/// [`ServerError::NeedsComponents`] when the master key is split into key components.
pub async fn open_with_key_file(
    config: &ServerConfig,
) -> Result<(Arc<dyn Store>, MasterKey), ServerError> {
    let store = sigil_store::open(&config.database_url()).await?;
    let record = custody_record(store.as_ref()).await?;
    let master = match record.scheme() {
        CustodyScheme::DevKeyFile => {
            let path = DataLayout::new(&config.data_dir).master_key();
            let (master, insecure) = InsecureDevKeyFile::load(&path, &record)?;
            tracing::warn!("{insecure}");
            master
        }
        CustodyScheme::Components {
            threshold, count, ..
        } => {
            return Err(ServerError::NeedsComponents {
                threshold: *threshold,
                count: *count,
            });
        }
        _ => {
            return Err(ServerError::State(format!(
                "this deployment keeps its master key as {:?}, which this version cannot \
                 read: upgrade Sigil",
                record.scheme().name()
            )));
        }
    };
    Ok((store, master))
}

/// Starts with a master key already unsealed (from [`unseal_with_components`]); it is
/// checked against the deployment's custody record.
pub async fn start_with_master_key(
    config: ServerConfig,
    master: MasterKey,
) -> Result<RunningServer, ServerError> {
    let store = sigil_store::open(&config.database_url()).await?;
    custody_record(store.as_ref()).await?.verify(&master)?;
    launch(config, store, master).await
}

/// Rebuilds the master key of a component-sealed deployment from at least M key components
/// (`SKC1-…` texts), each checked against the custody record.
pub async fn unseal_with_components(
    config: &ServerConfig,
    components: &[Zeroizing<String>],
) -> Result<MasterKey, ServerError> {
    let store = sigil_store::open(&config.database_url()).await?;
    let record = custody_record(store.as_ref()).await?;
    let mut unsealer = Unsealer::new(&record)?;
    for component in components {
        let progress = unsealer.add_component(component)?;
        tracing::info!("{progress}");
    }
    Ok(unsealer.finish()?)
}

/// Refuses a database that records another deployment than this node's configuration.
pub(crate) async fn check_deployment(
    config: &ServerConfig,
    store: &dyn Store,
) -> Result<(), ServerError> {
    let Some(expected) = &config.deployment_id else {
        return Ok(());
    };
    match store.deployment_id().await? {
        Some(found) if &found == expected => Ok(()),
        found => Err(ServerError::State(format!(
            "the database belongs to deployment {}, but this node's configuration says {expected}: \
             check the database URL in sigil.toml (a node joins only its own deployment's database)",
            found.as_deref().unwrap_or("(none)")
        ))),
    }
}

pub(crate) async fn custody_record(store: &dyn Store) -> Result<CustodyRecord, ServerError> {
    let json = store.custody_record().await?.ok_or_else(|| {
        ServerError::State(
            "this database holds no Sigil deployment (no custody record): run `sigil init` first"
                .into(),
        )
    })?;
    serde_json::from_str(&json).map_err(|e| {
        ServerError::State(format!(
            "the stored custody record cannot be read ({e}): restore the database from a backup"
        ))
    })
}

/// The keystore: the sealed software keystore and every configured HSM, connected and logged
/// in. An HSM that cannot be reached or refuses its PIN stops the start-up, naming the HSM.
pub async fn keystore(config: &ServerConfig, master: MasterKey) -> Result<Keystore, ServerError> {
    let mut keystore = Keystore::new(master);
    for hsm in &config.hsms {
        let pin = hsm.read_pin(keystore.master())?;
        let section = hsm.clone();
        // Loading a module and logging in block: off the async workers.
        let backend = tokio::task::spawn_blocking(move || Pkcs11Custody::connect(&section, pin))
            .await
            .map_err(|e| ServerError::State(format!("connecting HSM {}: {e}", hsm.name)))??;
        tracing::info!(hsm = %hsm.name, sessions = backend.pool_size(), "HSM connected");
        keystore.add_backend(Arc::new(backend))?;
    }
    Ok(keystore)
}

async fn launch(
    config: ServerConfig,
    store: Arc<dyn Store>,
    master: MasterKey,
) -> Result<RunningServer, ServerError> {
    check_deployment(&config, store.as_ref()).await?;
    crate::limits::check_connection_budget(config.max_connections, 2);
    let vault = keystore(&config, master).await?;
    let (host_api_tls, https_tls) = crate::service::pki::listener_tls_configs(
        store.as_ref(),
        &vault,
        config.node_id.as_deref(),
    )
    .await?;
    let host_api = TcpListener::bind(config.host_api)
        .await
        .map_err(|e| bind_error("Host API", config.host_api, e))?;
    let https = TcpListener::bind(config.https)
        .await
        .map_err(|e| bind_error("HTTPS", config.https, e))?;
    let host_api_addr = host_api
        .local_addr()
        .map_err(|e| bind_error("Host API", config.host_api, e))?;
    let https_addr = https
        .local_addr()
        .map_err(|e| bind_error("HTTPS", config.https, e))?;
    let metrics = match config.metrics {
        Some(addr) => Some(crate::metrics::bind(addr).await?),
        None => None,
    };
    let metrics_addr = metrics.as_ref().and_then(|m| m.local_addr().ok());

    let state = Arc::new(AppState::new(
        config,
        store,
        vault,
        SwappableConfig::new(host_api_tls),
        SwappableConfig::new(https_tls),
    ));
    state
        .store
        .commit(
            vec![],
            AuditDraft::new(state.now(), "server.start", Outcome::Success)
                .detail("host_api", &host_api_addr.to_string())
                .detail("https", &https_addr.to_string()),
        )
        .await?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let (connections, connections_done) = mpsc::channel(1);
    let router = crate::https::router(state.clone());
    let mut accept_tasks = Vec::new();
    if state.config.database_url().starts_with("postgres") {
        accept_tasks.push(tokio::spawn(follow_other_nodes(
            state.clone(),
            shutdown_rx.clone(),
        )));
    }
    accept_tasks.extend([
        tokio::spawn(crate::service::failures::summaries(
            Arc::downgrade(&state),
            shutdown_rx.clone(),
        )),
        tokio::spawn(accept_host_api(
            host_api,
            state.clone(),
            shutdown_rx.clone(),
            connections.clone(),
        )),
        tokio::spawn(accept_https(
            https,
            state.clone(),
            router,
            shutdown_rx,
            connections.clone(),
        )),
    ]);
    if let Some(listener) = metrics {
        let serve = crate::metrics::serve(listener, state.clone(), shutdown.subscribe());
        accept_tasks.push(tokio::spawn(serve));
    }
    tracing::info!(%host_api_addr, %https_addr, ?metrics_addr, "Sigil server listening");
    Ok(RunningServer {
        state,
        host_api_addr,
        https_addr,
        shutdown,
        accept_tasks,
        connections,
        connections_done,
        metrics_addr,
    })
}

/// How often a node of a multi-node deployment looks for changes other nodes made to what its
/// TLS configurations are built from (listener chains, CAs, revocations).
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(5);

/// On a shared database, another node may replace a listener chain, add a CA or revoke a
/// certificate; this node's TLS configurations follow within [`FOLLOW_INTERVAL`]: they are
/// rebuilt whenever the audit chain head moved (every such change is audited) since the last
/// look. Connections already open keep their configuration.
async fn follow_other_nodes(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut seen = state.store.audit_head().await.ok();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            _ = shutdown.changed() => return,
        }
        let head = match state.store.audit_head().await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(
                    "reading the audit head to follow other nodes: {}",
                    e.log_detail()
                );
                continue;
            }
        };
        if seen == Some(head) {
            continue;
        }
        match crate::service::pki::refresh_tls(&state).await {
            Ok(()) => seen = Some(head),
            Err(e) => tracing::warn!("rebuilding the TLS configurations: {}", e.for_operator()),
        }
    }
}

fn bind_error(what: &str, addr: SocketAddr, e: std::io::Error) -> ServerError {
    ServerError::Config(format!(
        "cannot listen for the {what} on {addr}: {e} (is another server running? change the \
         address in sigil.toml)"
    ))
}

impl RunningServer {
    /// The Host API's bound address (the real port when 0 was configured).
    pub fn host_api_addr(&self) -> SocketAddr {
        self.host_api_addr
    }

    /// The HTTPS API's bound address.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The metrics listener's bound address, when one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The shared state (store, vault, TLS configurations) of the running server.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting, asks every connection to finish what it is doing, and waits up to
    /// [`SHUTDOWN_GRACE`] for them.
    pub async fn shutdown(self) {
        let Self {
            state,
            shutdown,
            accept_tasks,
            connections,
            mut connections_done,
            ..
        } = self;
        let _ = shutdown.send(true);
        // Long-polling retrieves answer now, with the state they have.
        state.changes.stop_waiting();
        for task in accept_tasks {
            let _ = task.await;
        }
        drop(connections);
        match tokio::time::timeout(SHUTDOWN_GRACE, connections_done.recv()).await {
            Ok(_) => tracing::info!("all connections closed"),
            Err(_) => tracing::warn!(
                "connections still open after {} s: closing them",
                SHUTDOWN_GRACE.as_secs()
            ),
        }
        let _ = state
            .store
            .commit(
                vec![],
                AuditDraft::new(state.now(), "server.stop", Outcome::Success),
            )
            .await;
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down gracefully.
    pub async fn run_until_signal(self, signals: StopSignals) {
        signals.wait().await;
        tracing::info!("signal received: shutting down");
        self.shutdown().await;
    }
}

/// Watchers for SIGINT and SIGTERM. Install them before saying the server is running: a
/// signal that arrives before a watcher exists would kill the process without a clean
/// shutdown (a supervisor may send SIGTERM as soon as it reads the "running" line).
pub struct StopSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Installs both watchers now (needs a Tokio runtime).
    pub fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!("cannot watch for {name} ({e}): stop the server another way");
                None
            }
        };
        Self {
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Waits for the first of the two signals.
    async fn wait(mut self) {
        async fn recv(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(self.interrupt.as_mut()) => {}
            () = recv(self.terminate.as_mut()) => {}
        }
    }
}

/// How often a listener at its connection bound says so in the log.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Accepts TCP connections until shutdown, each with a permit of `slots` (held for the
/// connection's life). A connection over the bound is closed at once. Accept errors (out of
/// file descriptors) are logged and followed by a pause.
async fn next_connection(
    listener: &TcpListener,
    listener_name: &'static str,
    slots: &Arc<Semaphore>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let mut last_warning: Option<Instant> = None;
    loop {
        let (tcp, peer) = accept_one(listener, shutdown).await?;
        match slots.clone().try_acquire_owned() {
            Ok(permit) => return Some((tcp, peer, permit)),
            Err(_) => {
                drop(tcp);
                if last_warning.is_none_or(|at| at.elapsed() >= FULL_WARNING_INTERVAL) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(
                        %peer,
                        listener = listener_name,
                        "connection refused: the listener already serves its max_connections; \
                         raise [server] max_connections in sigil.toml if the clients are expected"
                    );
                }
            }
        }
    }
}

/// Accepts one TCP connection, or `None` at shutdown.
async fn accept_one(
    listener: &TcpListener,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        if *shutdown.borrow() {
            return None;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok(pair) => return Some(pair),
                Err(e) => {
                    // Typically EMFILE: wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// The TLS handshake, to be done by `deadline` (`header_timeout` after accept) and
/// abandoned at shutdown.
async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    listener: &'static str,
    deadline: tokio::time::Instant,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<TlsStream<TcpStream>> {
    let accept = tokio::time::timeout_at(deadline, acceptor.accept(tcp));
    let result = tokio::select! {
        result = accept => result,
        _ = wait_for_shutdown(shutdown) => return None,
    };
    match result {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::info!(%peer, listener, "TLS handshake refused: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, listener, "TLS handshake timed out");
            None
        }
    }
}

async fn accept_host_api(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
    connections: mpsc::Sender<()>,
) {
    let slots = Arc::new(Semaphore::new(
        state.config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let _up = state.listeners.up("host-api");
    while let Some((tcp, peer, permit)) =
        next_connection(&listener, "host-api", &slots, &mut shutdown).await
    {
        let deadline = tokio::time::Instant::now() + state.config.header_timeout;
        let acceptor = TlsAcceptor::from(state.host_api_tls.current());
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        let guard = connections.clone();
        tokio::spawn(async move {
            let _guard = (guard, permit, crate::metrics::connection("host-api"));
            let _ = tcp.set_nodelay(true);
            // Both stages boxed, so that the task keeps only the stage that runs: a task's
            // future is as large as its largest state, and inline the handshake and the
            // serving loop made every idle connection hold 47 KB (now about 6 KB).
            let handshake = Box::pin(handshake(
                acceptor,
                tcp,
                peer,
                "host-api",
                deadline,
                &mut shutdown,
            ));
            if let Some(stream) = handshake.await {
                let der = client_certificate(&stream);
                let live = state.live.clone();
                let serve = Box::pin(crate::hostapi::serve_connection(
                    state, stream, peer, shutdown,
                ));
                serve_until_revoked(&live, der.as_deref(), "Host API", peer, serve).await;
            }
        });
    }
}

async fn accept_https(
    listener: TcpListener,
    state: Arc<AppState>,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    connections: mpsc::Sender<()>,
) {
    let slots = Arc::new(Semaphore::new(
        state.config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let _up = state.listeners.up("https");
    while let Some((tcp, peer, permit)) =
        next_connection(&listener, "https", &slots, &mut shutdown).await
    {
        let limits = HttpsLimits {
            header_deadline: tokio::time::Instant::now() + state.config.header_timeout,
            header: state.config.header_timeout,
            idle: state.config.idle_timeout,
            body: state.config.body_timeout,
        };
        let acceptor = TlsAcceptor::from(state.https_tls.current());
        let router = router.clone();
        let mut shutdown = shutdown.clone();
        let guard = connections.clone();
        let live = state.live.clone();
        tokio::spawn(async move {
            let _guard = (guard, permit, crate::metrics::connection("https"));
            let _ = tcp.set_nodelay(true);
            // Both stages boxed, as for the Host API.
            let handshake = Box::pin(handshake(
                acceptor,
                tcp,
                peer,
                "https",
                limits.header_deadline,
                &mut shutdown,
            ));
            if let Some(stream) = handshake.await {
                let der = client_certificate(&stream);
                let serve = Box::pin(serve_https(stream, peer, router, shutdown, limits));
                serve_until_revoked(&live, der.as_deref(), "HTTPS", peer, serve).await;
            }
        });
    }
}

/// The client certificate (DER) the peer presented, if any.
fn client_certificate(stream: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|c| c.to_vec())
}

/// The deadlines of one HTTPS connection.
#[derive(Debug, Clone, Copy)]
struct HttpsLimits {
    /// The first request header must be complete by then (`header_timeout` after accept).
    header_deadline: tokio::time::Instant,
    /// `header_timeout`: each later HTTP/1.1 header (hyper's timer).
    header: Duration,
    /// `idle_timeout`.
    idle: Duration,
    /// `body_timeout`.
    body: Duration,
}

/// Serves HTTP/1.1 or HTTP/2 (by ALPN) on one TLS connection until the client closes, a
/// deadline passes (see the module documentation) or shutdown; on shutdown, in-flight
/// requests finish first.
async fn serve_https(
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    limits: HttpsLimits,
) {
    let info = PeerInfo {
        addr: peer,
        client_certificate: stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|c| Arc::new(c.to_vec())),
    };
    // Requests in progress on this connection; every change wakes the idle watch.
    let (activity, activity_rx) = watch::channel(0usize);
    let activity = Arc::new(activity);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(|body| {
            axum::body::Body::new(crate::https::deadline::DeadlineBody::new(body, limits.body))
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(info.clone());
        let in_progress = InProgress::begin(activity.clone());
        let router = router.clone();
        async move {
            let _in_progress = in_progress;
            router.oneshot(request).await
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)));
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // Before the first request: the header deadline, or the idle timeout if sooner.
    let first = limits
        .header_deadline
        .min(tokio::time::Instant::now() + limits.idle);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, "HTTPS connection ended: {e}");
            }
            return;
        }
        () = idle_watch(activity_rx, first, limits.idle) => {
            tracing::debug!(%peer, "HTTPS connection without a request in time: closing");
            connection.as_mut().graceful_shutdown();
            // Nothing is in progress: give the goodbye (HTTP/2 GOAWAY) a moment, no more.
            if let Ok(Err(e)) = tokio::time::timeout(limits.header, connection.as_mut()).await {
                tracing::debug!(%peer, "HTTPS connection ended while closing idle: {e}");
            }
            return;
        }
        _ = wait_for_shutdown(&mut shutdown) => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(e) = connection.await {
        tracing::debug!(%peer, "HTTPS connection ended during shutdown: {e}");
    }
}

/// One request in progress on an HTTPS connection (from its complete header until its
/// response is ready); counted up on creation, down on drop.
struct InProgress(Arc<watch::Sender<usize>>);

impl InProgress {
    fn begin(activity: Arc<watch::Sender<usize>>) -> Self {
        activity.send_modify(|n| *n = n.saturating_add(1));
        Self(activity)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Resolves when the connection has had no request in progress for `idle` since the last
/// one began or ended, or, before any request, at `first`. Pends forever once the
/// connection's service is gone.
async fn idle_watch(
    mut activity: watch::Receiver<usize>,
    first: tokio::time::Instant,
    idle: Duration,
) {
    let mut deadline = first;
    loop {
        let busy = *activity.borrow_and_update() > 0;
        if busy {
            if activity.changed().await.is_err() {
                return std::future::pending().await;
            }
            deadline = tokio::time::Instant::now() + idle;
            continue;
        }
        tokio::select! {
            changed = activity.changed() => {
                if changed.is_err() {
                    return std::future::pending().await;
                }
                deadline = tokio::time::Instant::now() + idle;
            }
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

/// Resolves once shutdown was asked for (or the server is gone).
async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
