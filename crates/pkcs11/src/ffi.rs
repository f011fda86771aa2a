//! The C ABI: every PKCS#11 v2.40 entry point. The only module with `unsafe` code.
//!
//! Every entry point runs its body inside `catch_unwind` (a panic answers
//! `CKR_GENERAL_ERROR` and never crosses into C), checks each pointer for null before use,
//! and answers output buffers with the two-call convention (a null buffer asks for the
//! length, a short one gets `CKR_BUFFER_TOO_SMALL` and the length needed).
#![allow(unsafe_code, non_snake_case)]

use std::ffi::c_void;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use cryptoki_sys::*;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::log::report;
use crate::mechanism::{MECHANISMS, Mechanism, MechanismError, PssParams};
use crate::module::{Module, SignOp};
use crate::objects::{Catalog, ObjectKind, ObjectRef};
use crate::template::{self, MAX_SEARCH_VALUE, MAX_TEMPLATE, Output, padded, slice_len};

/// The only slot; its token is the configured profile.
const SLOT: CK_SLOT_ID = 0;

/// The initialised module, if any.
static MODULE: Mutex<Option<Arc<Module>>> = Mutex::new(None);

type Result<T = ()> = std::result::Result<T, CK_RV>;

fn lock_global() -> std::sync::MutexGuard<'static, Option<Arc<Module>>> {
    MODULE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The module, when this process initialised it.
fn module() -> Result<Arc<Module>> {
    match lock_global().as_ref() {
        Some(m) if m.pid == std::process::id() => Ok(m.clone()),
        _ => Err(CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}

/// Runs an entry point's body: a panic becomes `CKR_GENERAL_ERROR`.
fn guard(body: impl FnOnce() -> Result) -> CK_RV {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(rv)) => rv,
        Err(_) => CKR_GENERAL_ERROR,
    }
}

/// Writes `value` through an output pointer.
///
/// # Safety
/// `ptr` is null or valid for writing one `T`.
unsafe fn put<T>(ptr: *mut T, value: T) -> Result {
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null, and the caller passes a pointer valid for one T (PKCS#11 contract).
    unsafe { ptr.write(value) };
    Ok(())
}

/// The caller's input bytes.
///
/// # Safety
/// `ptr` is null or valid for reading `len` bytes for the returned lifetime.
unsafe fn input<'a>(ptr: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    let len = slice_len(len).ok_or(CKR_ARGUMENTS_BAD)?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null, len fits isize, and the caller passes `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A two-call output of `required` items: with a null `out`, only the count; with a short
/// buffer, the count and `CKR_BUFFER_TOO_SMALL`; else the items are copied.
///
/// # Safety
/// `count` is null or valid for reading and writing; `out` is null or valid for writing
/// `*count` items.
unsafe fn two_call<T: Copy>(out: *mut T, count: *mut CK_ULONG, items: &[T]) -> Result {
    if count.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null; the caller passes a readable and writable CK_ULONG.
    let capacity = (!out.is_null()).then(|| unsafe { count.read() });
    // SAFETY: as above.
    unsafe { count.write(items.len() as CK_ULONG) };
    match template::output(items.len(), capacity) {
        Output::LengthOnly => Ok(()),
        Output::TooSmall => Err(CKR_BUFFER_TOO_SMALL),
        Output::Fits => {
            // SAFETY: `out` is not null and holds `capacity` >= items.len() items.
            unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), out, items.len()) };
            Ok(())
        }
    }
}

/// The attributes of a template as (type, pointer, length) — nothing is read through the
/// pointers yet.
///
/// # Safety
/// `ptr` is null or valid for `count` attributes.
unsafe fn attributes<'a>(
    ptr: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> Result<&'a mut [CK_ATTRIBUTE]> {
    let count = slice_len(count)
        .filter(|c| *c <= MAX_TEMPLATE)
        .ok_or(CKR_ARGUMENTS_BAD)?;
    if count == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null; the caller passes `count` attributes, exclusively ours for the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, count) })
}

macro_rules! entry {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The pointers must be null or valid as PKCS#11 v2.40 requires for this function.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            guard(|| $body)
        }
    };
}

macro_rules! unsupported {
    ($name:ident, $rv:ident, $($arg:ident: $ty:ty),* $(,)?) => {
        entry! {
            /// Not offered by this module.
            fn $name($($arg: $ty),*) {
                module()?;
                Err($rv)
            }
        }
    };
}

entry! {
    /// Reads the configuration and starts the module.
    fn C_Initialize(pInitArgs: *mut c_void) {
        if !pInitArgs.is_null() {
            // SAFETY: not null; PKCS#11 says it points to a CK_C_INITIALIZE_ARGS.
            let args = unsafe { &*(pInitArgs as *const CK_C_INITIALIZE_ARGS) };
            if !args.pReserved.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let given = [
                args.CreateMutex.is_some(),
                args.DestroyMutex.is_some(),
                args.LockMutex.is_some(),
                args.UnlockMutex.is_some(),
            ];
            if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
                return Err(CKR_ARGUMENTS_BAD);
            }
            // Only the operating system's locks are used: the caller's alone cannot do.
            if given[0] && args.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(CKR_CANT_LOCK);
            }
            if args.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS != 0 {
                return Err(CKR_NEED_TO_CREATE_THREADS);
            }
        }
        let mut global = lock_global();
        match global.take() {
            Some(m) if m.pid == std::process::id() => {
                *global = Some(m);
                return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
            }
            // Initialised by the parent before a fork: its runtime's threads do not exist
            // here, so it must not be dropped (that would wait for them).
            Some(stale) => std::mem::forget(stale),
            None => {}
        }
        // The module's own file: the address of this function lies in its mapping.
        let own_path = crate::config::mapped_file(
            C_Initialize as unsafe extern "C" fn(*mut c_void) -> CK_RV as usize,
        );
        let module = Config::from_env(own_path.as_deref())
            .and_then(Module::new)
            .map_err(|e| {
                report(None, &e.to_string());
                e.rv()
            })?;
        *global = Some(Arc::new(module));
        Ok(())
    }
}

entry! {
    /// Ends the module: sessions, login and connections are dropped.
    fn C_Finalize(pReserved: *mut c_void) {
        if !pReserved.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let module = module()?;
        lock_global().take();
        drop(module);
        Ok(())
    }
}

entry! {
    /// The library's description.
    fn C_GetInfo(pInfo: *mut CK_INFO) {
        module()?;
        let info = CK_INFO {
            cryptokiVersion: CK_VERSION { major: 2, minor: 40 },
            manufacturerID: padded("Sigil"),
            flags: 0,
            libraryDescription: padded("Sigil Host API PKCS#11 module"),
            libraryVersion: CK_VERSION { major: 0, minor: 1 },
        };
        // SAFETY: `put` checks for null; the caller passes a CK_INFO.
        unsafe { put(pInfo, info) }
    }
}

entry! {
    /// The function list (callable before `C_Initialize`).
    fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) {
        // Callers only read the list (PKCS#11 declares the pointer non-const for history).
        let list = &raw const FUNCTION_LIST as *mut CK_FUNCTION_LIST;
        // SAFETY: `put` checks for null; the caller passes a pointer to write to.
        unsafe { put(ppFunctionList, list) }
    }
}

entry! {
    /// One slot, always with its token.
    fn C_GetSlotList(_tokenPresent: CK_BBOOL, pSlotList: *mut CK_SLOT_ID, pulCount: *mut CK_ULONG) {
        module()?;
        // SAFETY: two_call checks both pointers; the caller passes a count and a list of
        // that many slots.
        unsafe { two_call(pSlotList, pulCount, &[SLOT]) }
    }
}

fn check_slot(slot: CK_SLOT_ID) -> Result {
    if slot == SLOT {
        Ok(())
    } else {
        Err(CKR_SLOT_ID_INVALID)
    }
}

entry! {
    /// The slot: the profile's Host API.
    fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) {
        let module = module()?;
        check_slot(slotID)?;
        let server = module.config.profile.host_api.as_deref().unwrap_or("no host_api");
        let info = CK_SLOT_INFO {
            slotDescription: padded(&format!("Sigil Host API {server}")),
            manufacturerID: padded("Sigil"),
            flags: CKF_TOKEN_PRESENT,
            hardwareVersion: CK_VERSION { major: 0, minor: 1 },
            firmwareVersion: CK_VERSION { major: 0, minor: 1 },
        };
        // SAFETY: `put` checks for null; the caller passes a CK_SLOT_INFO.
        unsafe { put(pInfo, info) }
    }
}

entry! {
    /// The token: one per profile, labelled after the profile file.
    fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) {
        let module = module()?;
        check_slot(slotID)?;
        let (sessions, rw) = {
            let state = module.state();
            let rw = state.sessions.values().filter(|s| s.rw).count();
            (state.sessions.len(), rw)
        };
        let profile = &module.config.profile;
        let name = profile
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let identity = profile.identities.first().map(|i| i.name.as_str()).unwrap_or("");
        let info = CK_TOKEN_INFO {
            label: padded(&format!("Sigil {name}")),
            manufacturerID: padded("Sigil"),
            model: padded("Host API"),
            serialNumber: padded(identity),
            flags: CKF_TOKEN_INITIALIZED
                | CKF_USER_PIN_INITIALIZED
                | CKF_LOGIN_REQUIRED
                | CKF_WRITE_PROTECTED,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: 1024,
            ulMinPinLen: 0,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION { major: 0, minor: 1 },
            firmwareVersion: CK_VERSION { major: 0, minor: 1 },
            utcTime: [b' '; 16],
        };
        // SAFETY: `put` checks for null; the caller passes a CK_TOKEN_INFO.
        unsafe { put(pInfo, info) }
    }
}

entry! {
    /// The signing mechanisms.
    fn C_GetMechanismList(slotID: CK_SLOT_ID, pMechanismList: *mut CK_MECHANISM_TYPE, pulCount: *mut CK_ULONG) {
        module()?;
        check_slot(slotID)?;
        // SAFETY: two_call checks both pointers; the caller passes a count and a list of
        // that many mechanisms.
        unsafe { two_call(pMechanismList, pulCount, &MECHANISMS) }
    }
}

entry! {
    /// Key sizes and flags of a mechanism.
    fn C_GetMechanismInfo(slotID: CK_SLOT_ID, type_: CK_MECHANISM_TYPE, pInfo: *mut CK_MECHANISM_INFO) {
        module()?;
        check_slot(slotID)?;
        if !MECHANISMS.contains(&type_) {
            return Err(CKR_MECHANISM_INVALID);
        }
        let ec = matches!(type_, CKM_ECDSA | CKM_ECDSA_SHA256 | CKM_ECDSA_SHA384 | CKM_ECDSA_SHA512);
        let info = if ec {
            CK_MECHANISM_INFO {
                ulMinKeySize: 256,
                ulMaxKeySize: 521,
                flags: CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS,
            }
        } else {
            CK_MECHANISM_INFO { ulMinKeySize: 2048, ulMaxKeySize: 4096, flags: CKF_SIGN }
        };
        // SAFETY: `put` checks for null; the caller passes a CK_MECHANISM_INFO.
        unsafe { put(pInfo, info) }
    }
}

entry! {
    /// Opens a (serial) session.
    fn C_OpenSession(
        slotID: CK_SLOT_ID,
        flags: CK_FLAGS,
        _pApplication: *mut c_void,
        _Notify: CK_NOTIFY,
        phSession: *mut CK_SESSION_HANDLE,
    ) {
        let module = module()?;
        check_slot(slotID)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        if phSession.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let handle = module.state().open(flags & CKF_RW_SESSION != 0);
        // SAFETY: checked for null above; the caller passes a handle to write.
        unsafe { put(phSession, handle) }
    }
}

entry! {
    /// Closes a session; closing the last one logs out.
    fn C_CloseSession(hSession: CK_SESSION_HANDLE) {
        let module = module()?;
        let last = {
            let mut state = module.state();
            state.sessions.remove(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
            state.sessions.is_empty()
        };
        if last {
            module.logout();
        }
        Ok(())
    }
}

entry! {
    /// Closes every session and logs out.
    fn C_CloseAllSessions(slotID: CK_SLOT_ID) {
        let module = module()?;
        check_slot(slotID)?;
        module.state().sessions.clear();
        module.logout();
        Ok(())
    }
}

entry! {
    /// A session's state.
    fn C_GetSessionInfo(hSession: CK_SESSION_HANDLE, pInfo: *mut CK_SESSION_INFO) {
        let module = module()?;
        let info = {
            let state = module.state();
            let session = state.sessions.get(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
            let (flags, state_code) = match (session.rw, state.logged_in) {
                (true, true) => (CKF_RW_SESSION, CKS_RW_USER_FUNCTIONS),
                (true, false) => (CKF_RW_SESSION, CKS_RW_PUBLIC_SESSION),
                (false, true) => (0, CKS_RO_USER_FUNCTIONS),
                (false, false) => (0, CKS_RO_PUBLIC_SESSION),
            };
            CK_SESSION_INFO {
                slotID: SLOT,
                state: state_code,
                flags: flags | CKF_SERIAL_SESSION,
                ulDeviceError: 0,
            }
        };
        // SAFETY: `put` checks for null; the caller passes a CK_SESSION_INFO.
        unsafe { put(pInfo, info) }
    }
}

entry! {
    /// Logs the profile's identities in: the PIN is the first identity's password (empty:
    /// the passwords come from the profile's own sources, as for `sigil sign`).
    fn C_Login(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) {
        let module = module()?;
        {
            let state = module.state();
            if !state.sessions.contains_key(&hSession) {
                return Err(CKR_SESSION_HANDLE_INVALID);
            }
            match userType {
                CKU_USER => {}
                CKU_SO | CKU_CONTEXT_SPECIFIC => {
                    report(
                        module.config.log_file.as_deref(),
                        "only the normal user (CKU_USER) logs in to a Sigil token",
                    );
                    return Err(CKR_USER_TYPE_INVALID);
                }
                _ => return Err(CKR_USER_TYPE_INVALID),
            }
            if state.logged_in {
                return Err(CKR_USER_ALREADY_LOGGED_IN);
            }
        }
        // SAFETY: `input` checks for null; the caller passes ulPinLen readable bytes.
        let pin = unsafe { input(pPin, ulPinLen) }?;
        let pin = Zeroizing::new(
            std::str::from_utf8(pin).map_err(|_| CKR_ARGUMENTS_BAD)?.to_owned(),
        );
        module.login(pin).map_err(|e| e.rv())
    }
}

entry! {
    /// Logs out.
    fn C_Logout(hSession: CK_SESSION_HANDLE) {
        let module = module()?;
        {
            let state = module.state();
            if !state.sessions.contains_key(&hSession) {
                return Err(CKR_SESSION_HANDLE_INVALID);
            }
            if !state.logged_in {
                return Err(CKR_USER_NOT_LOGGED_IN);
            }
        }
        module.logout();
        Ok(())
    }
}

/// The catalog and an object of it the session may see.
fn object(
    module: &Module,
    session: CK_SESSION_HANDLE,
    handle: CK_OBJECT_HANDLE,
) -> Result<(Arc<Catalog>, ObjectRef)> {
    let logged_in = {
        let state = module.state();
        if !state.sessions.contains_key(&session) {
            return Err(CKR_SESSION_HANDLE_INVALID);
        }
        state.logged_in
    };
    let catalog = module.catalog();
    match catalog.resolve(handle) {
        None => Err(CKR_OBJECT_HANDLE_INVALID),
        Some(ObjectRef::Key(_, ObjectKind::PrivateKey)) if !logged_in => {
            Err(CKR_OBJECT_HANDLE_INVALID)
        }
        Some(object) => Ok((catalog, object)),
    }
}

entry! {
    /// Reads attributes of an object.
    fn C_GetAttributeValue(
        hSession: CK_SESSION_HANDLE,
        hObject: CK_OBJECT_HANDLE,
        pTemplate: *mut CK_ATTRIBUTE,
        ulCount: CK_ULONG,
    ) {
        let module = module()?;
        let (catalog, object) = object(&module, hSession, hObject)?;
        // SAFETY: `attributes` checks for null; the caller passes ulCount attributes.
        let template = unsafe { attributes(pTemplate, ulCount) }?;
        let mut rvs = Vec::with_capacity(template.len());
        for attr in template.iter_mut() {
            let value = catalog.attribute(object, attr.type_);
            let capacity = (!attr.pValue.is_null()).then_some(attr.ulValueLen);
            let answer = template::attribute_answer(value.as_ref(), capacity);
            if let Some(bytes) = answer.copy {
                // SAFETY: pValue is not null (capacity is Some) and holds ulValueLen >=
                // bytes.len() bytes, as the caller declared.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), attr.pValue.cast::<u8>(), bytes.len())
                };
            }
            attr.ulValueLen = answer.len;
            rvs.push(answer.rv);
        }
        match template::template_rv(rvs) {
            CKR_OK => Ok(()),
            rv => Err(rv),
        }
    }
}

entry! {
    /// Starts a search by exact attribute values (class, label, id, …).
    fn C_FindObjectsInit(hSession: CK_SESSION_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        let module = module()?;
        // SAFETY: `attributes` checks for null; the caller passes ulCount attributes.
        let template = unsafe { attributes(pTemplate, ulCount) }?;
        let mut wanted = Vec::with_capacity(template.len());
        for attr in template.iter() {
            let len = slice_len(attr.ulValueLen)
                .filter(|l| *l <= MAX_SEARCH_VALUE)
                .ok_or(CKR_ATTRIBUTE_VALUE_INVALID)?;
            // SAFETY: `input` checks for null; the caller passes ulValueLen readable bytes.
            let value = unsafe { input(attr.pValue.cast::<u8>(), len as CK_ULONG) }
                .map_err(|_| CKR_ATTRIBUTE_VALUE_INVALID)?;
            wanted.push((attr.type_, value.to_vec()));
        }
        {
            let state = module.state();
            let session = state.sessions.get(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
            if session.found.is_some() {
                return Err(CKR_OPERATION_ACTIVE);
            }
        }
        let catalog = module.catalog();
        let mut state = module.state();
        let logged_in = state.logged_in;
        let session = state.sessions.get_mut(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let mut found = catalog.find(logged_in, &wanted);
        found.reverse(); // handed out from the end
        session.found = Some(found);
        Ok(())
    }
}

entry! {
    /// Returns up to `ulMaxObjectCount` more results of the search.
    fn C_FindObjects(
        hSession: CK_SESSION_HANDLE,
        phObject: *mut CK_OBJECT_HANDLE,
        ulMaxObjectCount: CK_ULONG,
        pulObjectCount: *mut CK_ULONG,
    ) {
        let module = module()?;
        if pulObjectCount.is_null() || (phObject.is_null() && ulMaxObjectCount > 0) {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let max = slice_len(ulMaxObjectCount).ok_or(CKR_ARGUMENTS_BAD)?;
        let mut state = module.state();
        let session = state.sessions.get_mut(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let found = session.found.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let mut n = 0usize;
        while n < max {
            let Some(handle) = found.pop() else { break };
            // SAFETY: phObject is not null (max > 0) and holds ulMaxObjectCount handles.
            unsafe { phObject.add(n).write(handle) };
            n += 1;
        }
        // SAFETY: checked for null above.
        unsafe { put(pulObjectCount, n as CK_ULONG) }
    }
}

entry! {
    /// Ends the search.
    fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) {
        let module = module()?;
        let mut state = module.state();
        let session = state.sessions.get_mut(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        session.found.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        Ok(())
    }
}

/// The PSS parameters of a mechanism, when it carries them.
///
/// # Safety
/// `mechanism.pParameter` is null or valid for `ulParameterLen` bytes.
unsafe fn pss_params(mechanism: &CK_MECHANISM) -> Result<Option<PssParams>> {
    if mechanism.pParameter.is_null()
        || slice_len(mechanism.ulParameterLen) != Some(size_of::<CK_RSA_PKCS_PSS_PARAMS>())
    {
        return Ok(None);
    }
    // SAFETY: not null and exactly the size of CK_RSA_PKCS_PSS_PARAMS; read_unaligned
    // because C gives no alignment promise for a void pointer.
    let params = unsafe {
        mechanism
            .pParameter
            .cast::<CK_RSA_PKCS_PSS_PARAMS>()
            .read_unaligned()
    };
    Ok(Some(PssParams {
        hash: params.hashAlg,
        mgf: params.mgf,
        salt_len: params.sLen,
    }))
}

entry! {
    /// Starts signing with a policy's private key.
    fn C_SignInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
        let module = module()?;
        if pMechanism.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        // SAFETY: not null; the caller passes a CK_MECHANISM.
        let mechanism = unsafe { &*pMechanism };
        // SAFETY: the caller passes ulParameterLen bytes at pParameter.
        let pss = unsafe { pss_params(mechanism) }?;
        {
            let state = module.state();
            let session = state.sessions.get(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
            if !state.logged_in {
                return Err(CKR_USER_NOT_LOGGED_IN);
            }
            if session.sign.is_some() {
                return Err(CKR_OPERATION_ACTIVE);
            }
        }
        let (catalog, object) =
            object(&module, hSession, hKey).map_err(|_| CKR_KEY_HANDLE_INVALID)?;
        let index = match object {
            ObjectRef::Key(index, ObjectKind::PrivateKey) => index,
            ObjectRef::Key(_, ObjectKind::PublicKey) => return Err(CKR_KEY_FUNCTION_NOT_PERMITTED),
            _ => return Err(CKR_KEY_HANDLE_INVALID),
        };
        let entry = catalog.keys.get(index).ok_or(CKR_KEY_HANDLE_INVALID)?;
        let mechanism = Mechanism::new(mechanism.mechanism, pss, &entry.kind).map_err(|e| match e {
            MechanismError::Invalid => CKR_MECHANISM_INVALID,
            MechanismError::Param => CKR_MECHANISM_PARAM_INVALID,
            MechanismError::KeyType => CKR_KEY_TYPE_INCONSISTENT,
        })?;
        // A hash the policy does not allow is refused now, not after the data is hashed.
        if let Some(hash) = mechanism.prehash.or(mechanism.pss_hash)
            && !entry.allowed_hashes.contains(&hash)
        {
            report(
                module.config.log_file.as_deref(),
                &format!("policy {} does not allow {hash}: use another mechanism", entry.alias),
            );
            return Err(CKR_MECHANISM_INVALID);
        }
        let mut state = module.state();
        let session = state.sessions.get_mut(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        session.sign = Some(SignOp { key: index, input: mechanism.input(), mechanism });
        Ok(())
    }
}

/// Finishes a signing operation: checks the output buffer first (a null one asks for the
/// length, a short one keeps the operation), then adds `data`, signs through the server
/// (waiting for approvals) and writes the signature.
///
/// # Safety
/// As `C_Sign`: `out` is null or holds `*out_len` bytes; `out_len` is null or readable
/// and writable.
unsafe fn finish(
    module: &Module,
    session: CK_SESSION_HANDLE,
    data: &[u8],
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> Result {
    let (op, entry) = {
        let mut state = module.state();
        let catalog = state.catalog.clone().unwrap_or_default();
        let logged_in = state.logged_in;
        let session = state
            .sessions
            .get_mut(&session)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let op = session.sign.as_ref().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let entry = catalog.keys.get(op.key).cloned();
        let Some(entry) = entry.filter(|_| logged_in) else {
            session.sign = None;
            return Err(CKR_USER_NOT_LOGGED_IN);
        };
        let required = entry.kind.signature_len();
        if out_len.is_null() {
            session.sign = None;
            return Err(CKR_ARGUMENTS_BAD);
        }
        // SAFETY: not null; the caller passes a readable and writable CK_ULONG.
        let capacity = (!out.is_null()).then(|| unsafe { out_len.read() });
        // SAFETY: as above.
        unsafe { out_len.write(required as CK_ULONG) };
        match template::output(required, capacity) {
            Output::LengthOnly => return Ok(()),
            Output::TooSmall => return Err(CKR_BUFFER_TOO_SMALL),
            Output::Fits => {}
        }
        (
            session.sign.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?,
            entry,
        )
    };
    let SignOp {
        mechanism,
        mut input,
        ..
    } = op;
    input.update(data).map_err(|e| module.fail(e).rv())?;
    let signature = module.sign(&entry, &mechanism, input).map_err(|e| e.rv())?;
    if signature.len() > entry.kind.signature_len() {
        return Err(CKR_GENERAL_ERROR);
    }
    // SAFETY: `out` is not null (Output::Fits) and holds at least signature_len() bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(signature.as_ptr(), out, signature.len());
        out_len.write(signature.len() as CK_ULONG);
    }
    Ok(())
}

entry! {
    /// Signs data in one part; blocks until the request is signed or fails.
    fn C_Sign(
        hSession: CK_SESSION_HANDLE,
        pData: *mut CK_BYTE,
        ulDataLen: CK_ULONG,
        pSignature: *mut CK_BYTE,
        pulSignatureLen: *mut CK_ULONG,
    ) {
        let module = module()?;
        // SAFETY: `input` checks for null; the caller passes ulDataLen readable bytes.
        let data = match unsafe { input(pData, ulDataLen) } {
            Ok(data) => data,
            Err(rv) => {
                end_sign(&module, hSession);
                return Err(rv);
            }
        };
        // SAFETY: the caller passes pSignature and pulSignatureLen as C_Sign requires.
        unsafe { finish(&module, hSession, data, pSignature, pulSignatureLen) }
    }
}

fn end_sign(module: &Module, session: CK_SESSION_HANDLE) {
    if let Some(s) = module.state().sessions.get_mut(&session) {
        s.sign = None;
    }
}

entry! {
    /// Adds data to a multi-part signature (hashed here for the combined mechanisms).
    fn C_SignUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        let module = module()?;
        // SAFETY: `input` checks for null; the caller passes ulPartLen readable bytes.
        let part = unsafe { input(pPart, ulPartLen) };
        let mut state = module.state();
        let session = state.sessions.get_mut(&hSession).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let op = session.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let added = part.and_then(|part| op.input.update(part).map_err(|e| module.fail(e).rv()));
        if added.is_err() {
            session.sign = None;
        }
        added
    }
}

entry! {
    /// Finishes a multi-part signature; blocks until the request is signed or fails.
    fn C_SignFinal(hSession: CK_SESSION_HANDLE, pSignature: *mut CK_BYTE, pulSignatureLen: *mut CK_ULONG) {
        let module = module()?;
        // SAFETY: the caller passes pSignature and pulSignatureLen as C_SignFinal requires.
        unsafe { finish(&module, hSession, &[], pSignature, pulSignatureLen) }
    }
}

include!("unsupported.rs");

/// Every entry point, as `C_GetFunctionList` hands them out.
static FUNCTION_LIST: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
    version: CK_VERSION {
        major: 2,
        minor: 40,
    },
    C_Initialize: Some(C_Initialize),
    C_Finalize: Some(C_Finalize),
    C_GetInfo: Some(C_GetInfo),
    C_GetFunctionList: Some(C_GetFunctionList),
    C_GetSlotList: Some(C_GetSlotList),
    C_GetSlotInfo: Some(C_GetSlotInfo),
    C_GetTokenInfo: Some(C_GetTokenInfo),
    C_GetMechanismList: Some(C_GetMechanismList),
    C_GetMechanismInfo: Some(C_GetMechanismInfo),
    C_InitToken: Some(C_InitToken),
    C_InitPIN: Some(C_InitPIN),
    C_SetPIN: Some(C_SetPIN),
    C_OpenSession: Some(C_OpenSession),
    C_CloseSession: Some(C_CloseSession),
    C_CloseAllSessions: Some(C_CloseAllSessions),
    C_GetSessionInfo: Some(C_GetSessionInfo),
    C_GetOperationState: Some(C_GetOperationState),
    C_SetOperationState: Some(C_SetOperationState),
    C_Login: Some(C_Login),
    C_Logout: Some(C_Logout),
    C_CreateObject: Some(C_CreateObject),
    C_CopyObject: Some(C_CopyObject),
    C_DestroyObject: Some(C_DestroyObject),
    C_GetObjectSize: Some(C_GetObjectSize),
    C_GetAttributeValue: Some(C_GetAttributeValue),
    C_SetAttributeValue: Some(C_SetAttributeValue),
    C_FindObjectsInit: Some(C_FindObjectsInit),
    C_FindObjects: Some(C_FindObjects),
    C_FindObjectsFinal: Some(C_FindObjectsFinal),
    C_EncryptInit: Some(C_EncryptInit),
    C_Encrypt: Some(C_Encrypt),
    C_EncryptUpdate: Some(C_EncryptUpdate),
    C_EncryptFinal: Some(C_EncryptFinal),
    C_DecryptInit: Some(C_DecryptInit),
    C_Decrypt: Some(C_Decrypt),
    C_DecryptUpdate: Some(C_DecryptUpdate),
    C_DecryptFinal: Some(C_DecryptFinal),
    C_DigestInit: Some(C_DigestInit),
    C_Digest: Some(C_Digest),
    C_DigestUpdate: Some(C_DigestUpdate),
    C_DigestKey: Some(C_DigestKey),
    C_DigestFinal: Some(C_DigestFinal),
    C_SignInit: Some(C_SignInit),
    C_Sign: Some(C_Sign),
    C_SignUpdate: Some(C_SignUpdate),
    C_SignFinal: Some(C_SignFinal),
    C_SignRecoverInit: Some(C_SignRecoverInit),
    C_SignRecover: Some(C_SignRecover),
    C_VerifyInit: Some(C_VerifyInit),
    C_Verify: Some(C_Verify),
    C_VerifyUpdate: Some(C_VerifyUpdate),
    C_VerifyFinal: Some(C_VerifyFinal),
    C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
    C_VerifyRecover: Some(C_VerifyRecover),
    C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
    C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
    C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
    C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
    C_GenerateKey: Some(C_GenerateKey),
    C_GenerateKeyPair: Some(C_GenerateKeyPair),
    C_WrapKey: Some(C_WrapKey),
    C_UnwrapKey: Some(C_UnwrapKey),
    C_DeriveKey: Some(C_DeriveKey),
    C_SeedRandom: Some(C_SeedRandom),
    C_GenerateRandom: Some(C_GenerateRandom),
    C_GetFunctionStatus: Some(C_GetFunctionStatus),
    C_CancelFunction: Some(C_CancelFunction),
    C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
};
