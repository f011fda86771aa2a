//! The module's state between `C_Initialize` and `C_Finalize`: the configuration, sessions,
//! the login, the token's objects and the Host API connections, and signing itself.
//!
//! Locks are held only to read or change that state, never across a network call, so many
//! threads can sign at once (each on its own Host API connection from a small pool).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cryptoki_sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use sigil_client::profile::SecretSource;
use sigil_client::{ClientError, Connection, ErrorKind, Format};
use sigil_proto::{Metadata, Outcome, RequestId, RequestStatus, Upload};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::error::ModuleError;
use crate::log::report;
use crate::mechanism::{Input, Mechanism};
use crate::objects::{Catalog, KeyEntry};

/// First pause before asking again whether a request was signed.
const FIRST_POLL: Duration = Duration::from_secs(1);
/// Later pauses: a waiting tool costs the server one retrieve every 2 s.
const NEXT_POLL: Duration = Duration::from_secs(2);
/// Extra time allowed for connecting and uploading on top of the approval timeout.
const NETWORK_GRACE: Duration = Duration::from_secs(30);

/// A signing operation between `C_SignInit` and its last call.
#[derive(Debug)]
pub struct SignOp {
    /// Index of the key's policy in the catalog.
    pub key: usize,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// The data so far.
    pub input: Input,
}

/// One PKCS#11 session.
#[derive(Debug, Default)]
pub struct Session {
    /// Opened read/write.
    pub rw: bool,
    /// The results of the active search, not yet returned.
    pub found: Option<Vec<CK_OBJECT_HANDLE>>,
    /// The active signing operation.
    pub sign: Option<SignOp>,
}

/// What the locks protect.
#[derive(Default)]
pub struct State {
    /// Open sessions.
    pub sessions: HashMap<CK_SESSION_HANDLE, Session>,
    next_session: CK_SESSION_HANDLE,
    /// Whether the user is logged in (PKCS#11 logins are per application, not per session).
    pub logged_in: bool,
    /// The PIN of the login (empty: the profile's own password sources).
    pin: Option<Zeroizing<String>>,
    /// The policies as key pairs; `None` until they could be read.
    pub catalog: Option<Arc<Catalog>>,
    /// Whether reading them without a login was tried already (tried once: a wrong password
    /// in the environment must not count toward a lockout again and again).
    public_tried: bool,
}

impl State {
    /// Opens a session; returns its handle.
    pub fn open(&mut self, rw: bool) -> CK_SESSION_HANDLE {
        self.next_session = self.next_session.wrapping_add(1).max(1);
        let handle = self.next_session;
        self.sessions.insert(
            handle,
            Session {
                rw,
                ..Session::default()
            },
        );
        handle
    }

    /// Forgets the login (see [`Module::logout`], which also drops the connections).
    fn logout(&mut self) {
        self.logged_in = false;
        self.pin = None;
        for session in self.sessions.values_mut() {
            session.sign = None;
        }
    }
}

/// Passwords for the profile's identities: the PIN stands in for the first identity's
/// password variable; everything else as the CLI reads it. Never a prompt: standard input
/// belongs to the calling tool.
struct PinSecrets<'a> {
    pin: Option<&'a str>,
    first_env: Option<&'a str>,
}

impl SecretSource for PinSecrets<'_> {
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        if let (Some(pin), Some(env)) = (self.pin, self.first_env)
            && env == name
        {
            return Some(Zeroizing::new(pin.to_owned()));
        }
        std::env::var(name).ok().map(Zeroizing::new)
    }

    fn prompt(&self, _question: &str) -> Option<Zeroizing<String>> {
        None
    }
}

/// The initialised module.
pub struct Module {
    /// The settings.
    pub config: Config,
    /// The process that initialised the module (a forked child must initialise again).
    pub pid: u32,
    runtime: tokio::runtime::Runtime,
    state: Mutex<State>,
    pool: Mutex<Vec<Connection>>,
}

impl Module {
    /// Reads the configuration and starts the runtime.
    pub fn new(config: Config) -> Result<Self, ModuleError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sigil-pkcs11")
            .enable_all()
            .build()
            .map_err(|e| ModuleError::Config(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Self {
            config,
            pid: std::process::id(),
            runtime,
            state: Mutex::new(State::default()),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// The state, even after a panic elsewhere (the state stays consistent: every change
    /// is a single assignment or insertion).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs out: the login, the PIN and the logged-in Host API connections are dropped.
    pub fn logout(&self) {
        self.state().logout();
        self.pool().clear();
    }

    /// Reports an error to a person and returns it.
    pub fn fail(&self, error: ModuleError) -> ModuleError {
        report(self.config.log_file.as_deref(), &error.to_string());
        error
    }

    /// A logged-in Host API connection.
    async fn connect(&self, pin: Option<&str>) -> Result<Connection, ModuleError> {
        let profile = &self.config.profile;
        let secrets = PinSecrets {
            pin: pin.filter(|p| !p.is_empty()),
            first_env: profile.identities.first().map(|i| i.password_env.as_str()),
        };
        let mut conn = Connection::connect(profile, &secrets).await?;
        let remaining = conn.login_profile(profile, &secrets).await?;
        if remaining > 0 {
            return Err(ModuleError::Config(format!(
                "{}: its identities leave {remaining} more login(s) required by the role; add \
                 the other identities to the profile",
                profile.path.display()
            )));
        }
        Ok(conn)
    }

    /// The policies the session sees, as key entries; a policy whose key the module cannot
    /// offer (an Ed25519 key) is left out and reported.
    async fn read_catalog(&self, conn: &mut Connection) -> Result<Catalog, ModuleError> {
        // Sorted: object handles stay the same from one read to the next.
        let mut aliases = conn.list_policies().await?;
        aliases.sort();
        let mut entries = Vec::new();
        for alias in aliases {
            match KeyEntry::from_policy(&conn.get_policy(&alias).await?) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    report(self.config.log_file.as_deref(), &format!("{e}: not shown"));
                }
            }
        }
        Ok(Catalog::new(entries))
    }

    fn block_on<T>(
        &self,
        limit: Duration,
        what: &str,
        work: impl Future<Output = Result<T, ModuleError>>,
    ) -> Result<T, ModuleError> {
        self.runtime
            .block_on(async { tokio::time::timeout(limit, work).await })
            .unwrap_or_else(|_| {
                Err(ModuleError::Client(ClientError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{what}: no answer within {} s", limit.as_secs()),
                ))))
            })
    }

    /// `C_Login`: logs in with the PIN (empty: the profile's own password sources) and
    /// reads the policies.
    pub fn login(&self, pin: Zeroizing<String>) -> Result<(), ModuleError> {
        let catalog = self.block_on(NETWORK_GRACE, "login", async {
            let mut conn = self.connect(Some(&pin)).await?;
            let catalog = self.read_catalog(&mut conn).await?;
            Ok((conn, catalog))
        });
        let (conn, catalog) = catalog.map_err(|e| self.fail(e))?;
        {
            let mut pool = self.pool();
            pool.clear();
            pool.push(conn);
        }
        let mut state = self.state();
        state.logged_in = true;
        state.pin = Some(pin);
        state.catalog = Some(Arc::new(catalog));
        Ok(())
    }

    /// The catalog; before a login, read once with the profile's own passwords (public
    /// objects of tools that search before logging in). Empty when that is not possible.
    pub fn catalog(&self) -> Arc<Catalog> {
        {
            let mut state = self.state();
            if let Some(catalog) = &state.catalog {
                return catalog.clone();
            }
            if state.public_tried {
                return Arc::new(Catalog::default());
            }
            state.public_tried = true;
        }
        let read = self.block_on(NETWORK_GRACE, "reading the policies", async {
            let mut conn = self.connect(None).await?;
            let catalog = self.read_catalog(&mut conn).await?;
            Ok((conn, catalog))
        });
        match read {
            Ok((conn, catalog)) => {
                self.pool().push(conn);
                let catalog = Arc::new(catalog);
                self.state().catalog = Some(catalog.clone());
                catalog
            }
            // Not an error for the caller: it logs in next, and the objects appear then.
            Err(_) => Arc::new(Catalog::default()),
        }
    }

    /// Signs a digest with a policy's key: uploads it (`RAUO`) and waits until the request
    /// is signed, denied, expired, failed, or the configured timeout passes.
    pub fn sign(
        &self,
        entry: &KeyEntry,
        mechanism: &Mechanism,
        input: Input,
    ) -> Result<Vec<u8>, ModuleError> {
        let (hash, digest) = mechanism.digest(input).map_err(|e| self.fail(e))?;
        let pin = self.state().pin.clone();
        let timeout = self.config.timeout;
        let upload = Upload {
            policy: entry.alias.clone(),
            hash,
            digest: digest.clone(),
            metadata: Metadata {
                description: Some(format!(
                    "{} (program: {})",
                    self.config.description,
                    program_name()
                )),
                ..Metadata::default()
            },
        };
        let result = self.block_on(timeout + NETWORK_GRACE, "signing", async {
            let pin = pin.as_deref().map(String::as_str);
            let pooled = self.pool().pop();
            let (mut conn, status) = match pooled {
                Some(mut conn) => match conn.upload_hash(upload.clone()).await {
                    // The server closes connections idle for idle_timeout_secs, so a pooled
                    // one may be gone; it closes only idle ones, so the upload did not arrive
                    // there and is made once more on a new connection.
                    Err(e) if e.kind() == ErrorKind::Connection => {
                        let mut conn = self.connect(pin).await?;
                        let status = conn.upload_hash(upload).await?;
                        (conn, status)
                    }
                    status => (conn, status?),
                },
                None => {
                    let mut conn = self.connect(pin).await?;
                    let status = conn.upload_hash(upload).await?;
                    (conn, status)
                }
            };
            let signature = Self::wait(&mut conn, status, timeout).await?;
            self.pool().push(conn);
            Ok(signature)
        });
        result
            .and_then(|signature| mechanism.output(&entry.kind, hash, &digest, signature))
            .map_err(|e| self.fail(e))
    }

    /// Waits until an uploaded request is final (or `timeout` passes): its signature, or why not.
    async fn wait(
        conn: &mut Connection,
        mut status: RequestStatus,
        timeout: Duration,
    ) -> Result<Vec<u8>, ModuleError> {
        let id = status.id.clone();
        let deadline = Instant::now() + timeout;
        let mut pause = FIRST_POLL;
        loop {
            match status.outcome {
                Outcome::Signed { result } => return Ok(result),
                Outcome::Denied { reason } => {
                    return Err(ModuleError::Denied {
                        id: id.to_string(),
                        reason: reason.unwrap_or_else(|| "no reason given".into()),
                    });
                }
                Outcome::Expired => {
                    return Err(not_signed(
                        &id,
                        "expired before enough approvers approved it",
                    ));
                }
                Outcome::Failed => {
                    return Err(not_signed(
                        &id,
                        "failed on the server (an administrator finds the reason in its log)",
                    ));
                }
                Outcome::Pending | Outcome::Approved => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(not_signed(
                    &id,
                    &format!(
                        "was not signed within {} s (timeout_secs in the module configuration); \
                         it stays on the server until it expires",
                        timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = NEXT_POLL;
            status = conn.retrieve(Format::Hash, id.clone()).await?;
        }
    }
}

fn not_signed(id: &RequestId, what: &str) -> ModuleError {
    ModuleError::NotSigned(format!("request {id} {what}"))
}

/// The calling program's name, for approvers.
fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown program".into())
}
