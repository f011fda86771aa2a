//! Running the server: open the store, unseal the master key, bind both listeners, accept
//! connections, shut down gracefully.
//!
//! Each listener has one accept task. A connection is handed to its own task after the TLS
//! handshake (bounded by [`HANDSHAKE_TIMEOUT`]), using the listener's configuration *at that
//! moment*, so a swapped chain or CRL applies from the next handshake on. Shutdown stops the
//! accept tasks, flips a watch channel every connection task listens to (the Host API finishes
//! the frame in progress, HTTPS finishes in-flight requests) and waits up to
//! [`SHUTDOWN_GRACE`] for the connection tasks to end.
//!
//! Each listener serves at most `max_connections` connections at once (TCP accepted, before
//! TLS); one more is closed at once, with a warning in the log, rather than letting the
//! process run out of file descriptors or memory.

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
use crate::paths::DataLayout;
use crate::state::AppState;
use crate::tls::SwappableConfig;
use sigil_custody::Keystore;
use sigil_custody::pkcs11::Pkcs11Custody;

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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
pub(crate) async fn open_with_key_file(
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

async fn custody_record(store: &dyn Store) -> Result<CustodyRecord, ServerError> {
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
    crate::limits::check_connection_budget(config.max_connections, 2);
    let vault = keystore(&config, master).await?;
    let (host_api_tls, https_tls) =
        crate::service::pki::listener_tls_configs(store.as_ref(), &vault).await?;
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
    let accept_tasks = vec![
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
    ];
    tracing::info!(%host_api_addr, %https_addr, "Sigil server listening");
    Ok(RunningServer {
        state,
        host_api_addr,
        https_addr,
        shutdown,
        accept_tasks,
        connections,
        connections_done,
    })
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
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("signal received: shutting down");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!("cannot watch for SIGTERM ({e}): stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
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

/// The TLS handshake, bounded by [`HANDSHAKE_TIMEOUT`] and abandoned at shutdown.
async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    listener: &'static str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<TlsStream<TcpStream>> {
    let accept = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
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
    while let Some((tcp, peer, permit)) =
        next_connection(&listener, "host-api", &slots, &mut shutdown).await
    {
        let acceptor = TlsAcceptor::from(state.host_api_tls.current());
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        let guard = connections.clone();
        tokio::spawn(async move {
            let _guard = (guard, permit);
            let _ = tcp.set_nodelay(true);
            if let Some(stream) = handshake(acceptor, tcp, peer, "host-api", &mut shutdown).await {
                crate::hostapi::serve_connection(state, stream, peer, shutdown).await;
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
    while let Some((tcp, peer, permit)) =
        next_connection(&listener, "https", &slots, &mut shutdown).await
    {
        let acceptor = TlsAcceptor::from(state.https_tls.current());
        let router = router.clone();
        let mut shutdown = shutdown.clone();
        let guard = connections.clone();
        let idle = state.config.idle_timeout;
        tokio::spawn(async move {
            let _guard = (guard, permit);
            let _ = tcp.set_nodelay(true);
            if let Some(stream) = handshake(acceptor, tcp, peer, "https", &mut shutdown).await {
                serve_https(stream, peer, router, shutdown, idle).await;
            }
        });
    }
}

/// Serves HTTP/1.1 or HTTP/2 (by ALPN) on one TLS connection until the client closes or
/// shutdown; on shutdown, in-flight requests finish first.
async fn serve_https(
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    router: axum::Router,
    mut shutdown: watch::Receiver<bool>,
    idle: Duration,
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
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(info.clone());
        router.clone().oneshot(request)
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(60)));
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, "HTTPS connection ended: {e}");
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

/// Resolves once shutdown was asked for (or the server is gone).
async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
