//! Bad use of `libsigil_pkcs11.so`, loaded as a C caller loads it: calls before
//! `C_Initialize`, null pointers, short buffers, a wrong PIN (counted toward the lockout),
//! eight threads signing at once, a forking caller, the server gone. Each is answered with its `CKR_` code;
//! nothing crashes.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::c_void;
use std::ptr::null_mut;

use cryptoki_sys::*;

use sigil_testkit::pkcs11 as support;
use support::{module_path, p, run_ok};

struct Lib(Pkcs11);

impl Lib {
    fn open_session(&self) -> CK_SESSION_HANDLE {
        let mut session = 0;
        // SAFETY: valid out-pointer; no callback.
        let rv = unsafe {
            self.0
                .C_OpenSession(0, CKF_SERIAL_SESSION, null_mut(), None, &mut session)
        };
        assert_eq!(rv, CKR_OK);
        session
    }

    fn login(&self, session: CK_SESSION_HANDLE, pin: &str) -> CK_RV {
        // SAFETY: the PIN bytes live for the call.
        unsafe {
            self.0.C_Login(
                session,
                CKU_USER,
                pin.as_ptr().cast_mut(),
                pin.len() as CK_ULONG,
            )
        }
    }

    fn find(
        &self,
        session: CK_SESSION_HANDLE,
        class: CK_OBJECT_CLASS,
        label: &str,
    ) -> Vec<CK_OBJECT_HANDLE> {
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: (&raw const class).cast_mut().cast(),
                ulValueLen: size_of::<CK_OBJECT_CLASS>() as CK_ULONG,
            },
            CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: label.as_ptr().cast_mut().cast(),
                ulValueLen: label.len() as CK_ULONG,
            },
        ];
        let mut found = [0; 8];
        let mut count = 0;
        // SAFETY: the template and output arrays live for the calls.
        unsafe {
            assert_eq!(
                self.0.C_FindObjectsInit(session, template.as_mut_ptr(), 2),
                CKR_OK
            );
            assert_eq!(
                self.0
                    .C_FindObjects(session, found.as_mut_ptr(), 8, &mut count),
                CKR_OK
            );
            assert_eq!(self.0.C_FindObjectsFinal(session), CKR_OK);
        }
        found[..count as usize].to_vec()
    }

    /// C_SignInit + C_Sign with a buffer big enough: (rv, signature).
    fn sign(
        &self,
        session: CK_SESSION_HANDLE,
        key: CK_OBJECT_HANDLE,
        mechanism: CK_MECHANISM_TYPE,
        data: &[u8],
    ) -> (CK_RV, Vec<u8>) {
        let mut mech = CK_MECHANISM {
            mechanism,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let mut out = vec![0u8; 1024];
        let mut len = out.len() as CK_ULONG;
        // SAFETY: every pointer refers to live buffers of the stated sizes.
        unsafe {
            assert_eq!(self.0.C_SignInit(session, &mut mech, key), CKR_OK);
            let rv = self.0.C_Sign(
                session,
                data.as_ptr().cast_mut(),
                data.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut len,
            );
            out.truncate(if rv == CKR_OK { len as usize } else { 0 });
            (rv, out)
        }
    }
}

fn verify_rsa(dir: &std::path::Path, cert_der: &[u8], data: &[u8], signature: &[u8], name: &str) {
    let cert = dir.join(format!("{name}.der"));
    let public = dir.join(format!("{name}.pub"));
    let msg = dir.join(format!("{name}.txt"));
    let sig = dir.join(format!("{name}.sig"));
    std::fs::write(&cert, cert_der).unwrap();
    std::fs::write(&msg, data).unwrap();
    std::fs::write(&sig, signature).unwrap();
    std::fs::write(
        &public,
        run_ok(
            "openssl",
            &[
                "x509",
                "-inform",
                "der",
                "-in",
                p(&cert),
                "-pubkey",
                "-noout",
            ],
        ),
    )
    .unwrap();
    let verified = run_ok(
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            p(&public),
            "-signature",
            p(&sig),
            p(&msg),
        ],
    );
    assert!(verified.contains("Verified OK"), "{verified}");
}

#[test]
fn bad_calls_get_their_ckr_codes_and_eight_threads_sign_at_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let world = runtime.block_on(support::world());
    // SAFETY: loading the module runs no initialiser of ours beyond Rust statics.
    let lib = Lib(unsafe { Pkcs11::new(module_path()) }.unwrap());
    let f = &lib.0;

    // SAFETY (for every call below): pointers are null on purpose or point to live values.
    unsafe {
        // Before C_Initialize.
        let mut count: CK_ULONG = 0;
        assert_eq!(
            f.C_GetSlotList(0, null_mut(), &mut count),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            f.C_OpenSession(0, CKF_SERIAL_SESSION, null_mut(), None, &mut 0),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(f.C_Finalize(null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_eq!(f.C_GetFunctionList(null_mut()), CKR_ARGUMENTS_BAD);
        let mut list: *mut CK_FUNCTION_LIST = null_mut();
        assert_eq!(f.C_GetFunctionList(&mut list), CKR_OK);
        assert!(!list.is_null());

        // This test binary has one test: nothing else reads the environment meanwhile.
        std::env::set_var("SIGIL_PKCS11_PROFILE", &world.jenkins);
        std::env::remove_var("SIGIL_PASSWORD");
        let mut reserved = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: std::ptr::dangling_mut::<c_void>(),
        };
        assert_eq!(
            f.C_Initialize((&raw mut reserved).cast()),
            CKR_ARGUMENTS_BAD
        );
        let mut args = CK_C_INITIALIZE_ARGS {
            pReserved: null_mut(),
            ..reserved
        };
        assert_eq!(f.C_Initialize((&raw mut args).cast()), CKR_OK);
        assert_eq!(f.C_Initialize(null_mut()), CKR_CRYPTOKI_ALREADY_INITIALIZED);

        // Null pointers and the two-call convention.
        assert_eq!(f.C_GetInfo(null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(
            f.C_GetSlotList(0, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(f.C_GetSlotList(0, null_mut(), &mut count), CKR_OK);
        assert_eq!(count, 1);
        let mut slots = [99 as CK_SLOT_ID; 1];
        count = 0;
        assert_eq!(
            f.C_GetSlotList(0, slots.as_mut_ptr(), &mut count),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!((count, slots[0]), (1, 99));
        assert_eq!(f.C_GetSlotList(0, slots.as_mut_ptr(), &mut count), CKR_OK);
        assert_eq!(slots[0], 0);
        let mut mechanisms = [0 as CK_MECHANISM_TYPE; 4];
        count = 4;
        assert_eq!(
            f.C_GetMechanismList(0, mechanisms.as_mut_ptr(), &mut count),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(count, 12);
        assert_eq!(f.C_GetTokenInfo(7, null_mut()), CKR_SLOT_ID_INVALID);
        assert_eq!(
            f.C_OpenSession(0, 0, null_mut(), None, &mut 0),
            CKR_SESSION_PARALLEL_NOT_SUPPORTED
        );
        assert_eq!(
            f.C_OpenSession(0, CKF_SERIAL_SESSION, null_mut(), None, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        let session = lib.open_session();

        // Not logged in: no private key, no signing.
        assert!(lib.find(session, CKO_PRIVATE_KEY, "release").is_empty());
        let cert = lib.find(session, CKO_CERTIFICATE, "release");
        assert_eq!(cert.len(), 1);

        // A wrong PIN is CKR_PIN_INCORRECT and counts as a failed login of the identity.
        let admin = world.login(&["admin1", "admin2"], &world.report.admin_profile.clone());
        assert_eq!(lib.login(session, "wrong"), CKR_PIN_INCORRECT);
        let identity = world.api(&admin, "GET", "/identities/jenkins", None);
        assert_eq!(identity["failed_logins"], 1, "{identity}");
        assert_eq!(
            f.C_Login(session, CKU_USER, null_mut(), 5),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(lib.login(session, &world.pin), CKR_OK);
        assert_eq!(lib.login(session, &world.pin), CKR_USER_ALREADY_LOGGED_IN);
        let identity = world.api(&admin, "GET", "/identities/jenkins", None);
        assert_eq!(identity["failed_logins"], 0, "{identity}");

        let key = lib.find(session, CKO_PRIVATE_KEY, "release");
        assert_eq!(key.len(), 1);
        let key = key[0];

        // Attributes: lengths, short buffers, sensitive values.
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_MODULUS,
                pValue: null_mut(),
                ulValueLen: 0,
            },
            CK_ATTRIBUTE {
                type_: CKA_PRIVATE_EXPONENT,
                pValue: null_mut(),
                ulValueLen: 0,
            },
        ];
        assert_eq!(
            f.C_GetAttributeValue(session, key, template.as_mut_ptr(), 2),
            CKR_ATTRIBUTE_SENSITIVE
        );
        assert_eq!(template[0].ulValueLen, 384);
        assert_eq!(template[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        let mut small = [0u8; 16];
        let mut template = [CK_ATTRIBUTE {
            type_: CKA_MODULUS,
            pValue: small.as_mut_ptr().cast(),
            ulValueLen: 16,
        }];
        assert_eq!(
            f.C_GetAttributeValue(session, key, template.as_mut_ptr(), 1),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(template[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(small, [0u8; 16]);
        let (mut sensitive, mut extractable) = (0u8, 1u8);
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_SENSITIVE,
                pValue: (&raw mut sensitive).cast(),
                ulValueLen: 1,
            },
            CK_ATTRIBUTE {
                type_: CKA_EXTRACTABLE,
                pValue: (&raw mut extractable).cast(),
                ulValueLen: 1,
            },
        ];
        assert_eq!(
            f.C_GetAttributeValue(session, key, template.as_mut_ptr(), 2),
            CKR_OK
        );
        assert_eq!((sensitive, extractable), (1, 0));
        assert_eq!(
            f.C_GetAttributeValue(session, key, null_mut(), 2),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            f.C_GetAttributeValue(session, 9999, template.as_mut_ptr(), 2),
            CKR_OBJECT_HANDLE_INVALID
        );
        let mut cert_der = vec![0u8; 4096];
        let mut template = [CK_ATTRIBUTE {
            type_: CKA_VALUE,
            pValue: cert_der.as_mut_ptr().cast(),
            ulValueLen: 4096,
        }];
        assert_eq!(
            f.C_GetAttributeValue(session, cert[0], template.as_mut_ptr(), 1),
            CKR_OK
        );
        cert_der.truncate(template[0].ulValueLen as usize);

        // Signing: bad calls, then the two-call convention (no request is made for them).
        assert_eq!(f.C_SignInit(session, null_mut(), key), CKR_ARGUMENTS_BAD);
        let mut ecdsa = CK_MECHANISM {
            mechanism: CKM_ECDSA,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(
            f.C_SignInit(session, &mut ecdsa, key),
            CKR_KEY_TYPE_INCONSISTENT
        );
        let mut pss = CK_MECHANISM {
            mechanism: CKM_RSA_PKCS_PSS,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(
            f.C_SignInit(session, &mut pss, key),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut mech = CK_MECHANISM {
            mechanism: CKM_SHA256_RSA_PKCS,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(
            f.C_SignInit(session, &mut mech, cert[0]),
            CKR_KEY_HANDLE_INVALID
        );
        let mut len: CK_ULONG = 0;
        assert_eq!(
            f.C_Sign(session, null_mut(), 0, null_mut(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(f.C_SignInit(session, &mut mech, key), CKR_OK);
        assert_eq!(f.C_SignInit(session, &mut mech, key), CKR_OPERATION_ACTIVE);
        let data = b"signed by eight threads at once";
        assert_eq!(
            f.C_Sign(
                session,
                data.as_ptr().cast_mut(),
                data.len() as CK_ULONG,
                null_mut(),
                &mut len
            ),
            CKR_OK
        );
        assert_eq!(len, 384);
        let mut short = [0u8; 100];
        len = 100;
        assert_eq!(
            f.C_Sign(
                session,
                data.as_ptr().cast_mut(),
                data.len() as CK_ULONG,
                short.as_mut_ptr(),
                &mut len
            ),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 384);
        let mut signature = [0u8; 384];
        assert_eq!(
            f.C_Sign(
                session,
                data.as_ptr().cast_mut(),
                data.len() as CK_ULONG,
                signature.as_mut_ptr(),
                &mut len
            ),
            CKR_OK
        );
        verify_rsa(world.dir.path(), &cert_der, data, &signature, "single");
        assert_eq!(
            f.C_Sign(
                session,
                data.as_ptr().cast_mut(),
                1,
                signature.as_mut_ptr(),
                &mut len
            ),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // A null data pointer with a length ends the operation with CKR_ARGUMENTS_BAD.
        assert_eq!(f.C_SignInit(session, &mut mech, key), CKR_OK);
        assert_eq!(
            f.C_Sign(session, null_mut(), 10, signature.as_mut_ptr(), &mut len),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            f.C_Sign(
                session,
                data.as_ptr().cast_mut(),
                1,
                signature.as_mut_ptr(),
                &mut len
            ),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Multi-part: hashed here, one request.
        assert_eq!(f.C_SignInit(session, &mut mech, key), CKR_OK);
        for part in data.chunks(5) {
            assert_eq!(
                f.C_SignUpdate(session, part.as_ptr().cast_mut(), part.len() as CK_ULONG),
                CKR_OK
            );
        }
        len = 384;
        assert_eq!(
            f.C_SignFinal(session, signature.as_mut_ptr(), &mut len),
            CKR_OK
        );
        verify_rsa(world.dir.path(), &cert_der, data, &signature, "multi");
        // A hash the policy does not allow is refused by C_SignInit.
        let ec_key = lib.find(session, CKO_PRIVATE_KEY, "ec-release")[0];
        let mut sha512 = CK_MECHANISM {
            mechanism: CKM_ECDSA_SHA512,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(
            f.C_SignInit(session, &mut sha512, ec_key),
            CKR_MECHANISM_INVALID
        );
        let (rv, raw) = lib.sign(session, ec_key, CKM_ECDSA_SHA384, data);
        assert_eq!((rv, raw.len()), (CKR_OK, 64));
        // CKM_RSA_PKCS takes a DigestInfo, nothing else.
        let (rv, _) = lib.sign(session, key, CKM_RSA_PKCS, b"not a DigestInfo");
        assert_eq!(rv, CKR_DATA_INVALID);
    }

    // Eight threads, each on its own session, sign at once; every signature verifies.
    let signatures: Vec<(CK_RV, Vec<u8>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let session = lib.open_session();
                    let key = lib.find(session, CKO_PRIVATE_KEY, "release")[0];
                    lib.sign(
                        session,
                        key,
                        CKM_SHA256_RSA_PKCS,
                        b"signed by eight threads at once",
                    )
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let session = lib.open_session();
    let cert = lib.find(session, CKO_CERTIFICATE, "release")[0];
    let mut cert_der = vec![0u8; 4096];
    let mut template = [CK_ATTRIBUTE {
        type_: CKA_VALUE,
        pValue: cert_der.as_mut_ptr().cast(),
        ulValueLen: 4096,
    }];
    // SAFETY: the template points to a live buffer of the stated size.
    assert_eq!(
        unsafe {
            lib.0
                .C_GetAttributeValue(session, cert, template.as_mut_ptr(), 1)
        },
        CKR_OK
    );
    cert_der.truncate(template[0].ulValueLen as usize);
    for (i, (rv, signature)) in signatures.iter().enumerate() {
        assert_eq!(*rv, CKR_OK, "thread {i}");
        verify_rsa(
            world.dir.path(),
            &cert_der,
            b"signed by eight threads at once",
            signature,
            &format!("thread{i}"),
        );
    }

    // A caller that forks (Python's ctypes, a C caller): the child initialises again.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fork.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(module_path())
        .arg(&world.report.jenkins_password_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::text(&out));

    // The server gone: a device error, not a hang.
    runtime.block_on(world.server.shutdown());
    let key = lib.find(session, CKO_PRIVATE_KEY, "release")[0];
    let (rv, _) = lib.sign(session, key, CKM_SHA256_RSA_PKCS, b"nobody answers");
    assert_eq!(rv, CKR_DEVICE_ERROR);
    let (rv, _) = lib.sign(session, key, CKM_SHA256_RSA_PKCS, b"still nobody");
    assert_eq!(rv, CKR_DEVICE_ERROR);

    // SAFETY: null is what C_Finalize takes; the non-null pointer is refused unread.
    unsafe {
        assert_eq!(
            lib.0.C_Finalize(std::ptr::dangling_mut::<c_void>()),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(lib.0.C_Finalize(null_mut()), CKR_OK);
        assert_eq!(
            lib.0.C_GetSlotList(0, null_mut(), &mut 0),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
    }
}
