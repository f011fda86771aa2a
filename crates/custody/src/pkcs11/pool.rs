//! The logged-in session pool of one HSM, and the reopen-and-retry-once rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::config::HsmConfig;
use crate::KeystoreError;

/// Loaded modules, one context per library path for the life of the process: a PKCS#11
/// library is initialised once per process, and several HSMs (tokens) may share it.
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn module(path: &Path) -> Result<Pkcs11, Error> {
    let mut modules = lock(&MODULES);
    if let Some((_, context)) = modules.iter().find(|(p, _)| p == path) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(path)?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(e),
    }
    modules.push((path.to_owned(), context.clone()));
    Ok(context)
}

/// A PKCS#11 error text for messages and logs (the return value's name, the function).
pub(super) fn describe(error: &Error) -> String {
    error.to_string()
}

/// Errors that mean the session (or the token behind it) is gone, not that the request was
/// wrong: worth a fresh session and one more try.
fn is_session_failure(error: &Error) -> bool {
    matches!(
        error,
        Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceError
                | RvError::DeviceRemoved
                | RvError::DeviceMemory
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::UserNotLoggedIn
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid
                | RvError::GeneralError,
            _
        )
    )
}

/// One session and the private-key handles found through it.
pub(super) struct Worker {
    session: Session,
    handles: HashMap<Vec<u8>, ObjectHandle>,
}

impl Worker {
    /// The session.
    pub(super) fn session(&self) -> &Session {
        &self.session
    }

    /// Remembers the private key handle of `object_id` for this session.
    pub(super) fn remember(&mut self, object_id: &[u8], handle: ObjectHandle) {
        self.handles.insert(object_id.to_vec(), handle);
    }

    /// The private key with `CKA_ID` `object_id`, found once per session. A key that cannot
    /// be found reports `CKR_KEY_HANDLE_INVALID`, so that the pool retries on a fresh session
    /// (a token that went away and came back lists its objects again).
    pub(super) fn private_key(&mut self, object_id: &[u8]) -> Result<ObjectHandle, Error> {
        if let Some(handle) = self.handles.get(object_id) {
            return Ok(*handle);
        }
        let found = self.session.find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(object_id.to_vec()),
        ])?;
        let handle = found.first().copied().ok_or(Error::Pkcs11(
            RvError::KeyHandleInvalid,
            cryptoki::context::Function::FindObjects,
        ))?;
        self.remember(object_id, handle);
        Ok(handle)
    }
}

struct PoolState {
    idle: Vec<Worker>,
    /// Sessions open (idle or in use).
    open: usize,
}

/// An HSM's sessions: at most `size` open, each logged in as the user.
pub(super) struct SessionPool {
    name: String,
    context: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    size: usize,
    mechanisms: Vec<MechanismType>,
    state: Mutex<PoolState>,
    freed: Condvar,
}

impl SessionPool {
    /// Loads the module, finds the token, opens and logs in the first session.
    pub(super) fn connect(config: &HsmConfig, pin: AuthPin) -> Result<Self, KeystoreError> {
        config.check()?;
        let hsm = |reason: String| KeystoreError::Hsm {
            hsm: config.name.clone(),
            reason,
        };
        let context = module(&config.module).map_err(|e| {
            hsm(format!(
                "cannot load or initialise the PKCS#11 module {} ({e}): check `module` in its \
                 [[hsm]] section of sigil.toml and that the library is installed",
                config.module.display()
            ))
        })?;
        let slot = find_slot(&context, config).map_err(hsm)?;
        let mechanisms = context.get_mechanism_list(slot).map_err(|e| {
            hsm(format!(
                "cannot list the token's mechanisms ({e}): check the token"
            ))
        })?;
        let pool = Self {
            name: config.name.clone(),
            context,
            slot,
            pin,
            size: config.pool_size(),
            mechanisms,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        };
        let first = pool.open_worker().map_err(|e| match e {
            Error::Pkcs11(RvError::PinIncorrect, _) => hsm(
                "the token refused the user PIN (CKR_PIN_INCORRECT): correct the PIN in the \
                 source named by pin_file/pin_env/pin_sealed; each wrong attempt counts towards \
                 the token's lock-out"
                    .into(),
            ),
            Error::Pkcs11(RvError::PinLocked, _) => hsm(
                "the token's user PIN is locked after too many wrong attempts: the token's \
                 security officer must unlock or reset it"
                    .into(),
            ),
            other => hsm(format!(
                "cannot open a session and log in ({other}): check the token and its PIN"
            )),
        })?;
        {
            let mut state = lock(&pool.state);
            state.open = 1;
            state.idle.push(first);
        }
        Ok(pool)
    }

    /// The HSM's configured name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// How many sessions may be open at once.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// Whether the token lists `mechanism`.
    pub(super) fn offers(&self, mechanism: MechanismType) -> bool {
        self.mechanisms.contains(&mechanism)
    }

    fn open_worker(&self) -> Result<Worker, Error> {
        let session = self.context.open_rw_session(self.slot)?;
        match session.login(UserType::User, Some(&self.pin)) {
            // Login is per application and token: the pool's other sessions did it already.
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(e),
        }
        Ok(Worker {
            session,
            handles: HashMap::new(),
        })
    }

    /// An idle session, or a new one while fewer than `size` are open; waits otherwise.
    fn checkout(&self) -> Result<Worker, Error> {
        let mut state = lock(&self.state);
        loop {
            if let Some(worker) = state.idle.pop() {
                return Ok(worker);
            }
            if state.open < self.size {
                state.open += 1;
                drop(state);
                return self.open_reserved();
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// A new session (after a failure, idle ones are suspect too: one is closed to make room).
    fn checkout_new(&self) -> Result<Worker, Error> {
        let mut state = lock(&self.state);
        loop {
            if state.open < self.size {
                state.open += 1;
                drop(state);
                return self.open_reserved();
            }
            if let Some(suspect) = state.idle.pop() {
                state.open -= 1;
                drop(state);
                close(suspect);
                state = lock(&self.state);
                continue;
            }
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Opens a session for a slot already counted in `open`, giving the slot back on failure.
    fn open_reserved(&self) -> Result<Worker, Error> {
        self.open_worker().inspect_err(|_| {
            lock(&self.state).open -= 1;
            self.freed.notify_one();
        })
    }

    fn give_back(&self, worker: Worker, failed: bool) {
        if failed {
            close(worker);
            lock(&self.state).open -= 1;
        } else {
            lock(&self.state).idle.push(worker);
        }
        self.freed.notify_one();
    }

    /// Runs `op` on a pooled session. If it fails because the session or token went away,
    /// the session is closed and `op` runs once more on a fresh, logged-in session.
    pub(super) fn run<T>(&self, op: impl Fn(&mut Worker) -> Result<T, Error>) -> Result<T, Error> {
        let mut worker = self.checkout()?;
        let first = op(&mut worker);
        let error = match first {
            Err(e) if is_session_failure(&e) => e,
            other => {
                self.give_back(worker, false);
                return other;
            }
        };
        tracing::warn!(hsm = %self.name, error = %error, "HSM session failed; reopening it and retrying once");
        self.give_back(worker, true);
        let mut worker = self.checkout_new()?;
        let second = op(&mut worker);
        let failed = matches!(&second, Err(e) if is_session_failure(e));
        if let Err(e) = &second {
            tracing::error!(hsm = %self.name, error = %e, "HSM operation failed after reopening the session");
        }
        self.give_back(worker, failed);
        second
    }
}

fn close(worker: Worker) {
    // A session that already went away cannot be closed cleanly; nothing else to do.
    let _ = worker.session.close();
}

fn find_slot(context: &Pkcs11, config: &HsmConfig) -> Result<Slot, String> {
    if let Some(id) = config.slot {
        let slot =
            Slot::try_from(id).map_err(|e| format!("slot {id} is not a valid slot id ({e})"))?;
        let info = context.get_slot_info(slot).map_err(|e| {
            format!("slot {id} does not exist in this module ({e}): check `slot` in sigil.toml")
        })?;
        if !info.token_present() {
            return Err(format!(
                "slot {id} has no token: insert or initialise the token"
            ));
        }
        return Ok(slot);
    }
    let label = config.token_label.as_deref().unwrap_or_default();
    let slots = context
        .get_slots_with_token()
        .map_err(|e| format!("cannot list the module's slots ({e})"))?;
    let mut found = Vec::new();
    let mut seen = Vec::new();
    for slot in slots {
        if let Ok(info) = context.get_token_info(slot) {
            let token = info.label().trim_end().to_owned();
            if token == label {
                found.push(slot);
            }
            seen.push(token);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(format!(
            "no token labelled {label:?} (tokens found: {}): check `token_label` in sigil.toml, or initialise the token",
            if seen.is_empty() {
                "none".to_owned()
            } else {
                seen.join(", ")
            }
        )),
        _ => Err(format!(
            "{} tokens are labelled {label:?}: name the token by `slot` instead",
            found.len()
        )),
    }
}
