"""A C caller that logs in, stays idle for PAUSE seconds, then signs with the policy's key.

Run by tools.rs as: python3 sign_after_pause.py MODULE PIN_FILE POLICY PAUSE OUT. Writes the
signature (CKM_SHA256_RSA_PKCS over b"signed after a pause") to OUT; exits non-zero when a call
fails.
"""
import ctypes
import sys
import time

module, pin_file, policy, pause, out = sys.argv[1:6]
ul = ctypes.c_ulong


class Attribute(ctypes.Structure):
    _fields_ = [("type", ul), ("value", ctypes.c_void_p), ("len", ul)]


class Mechanism(ctypes.Structure):
    _fields_ = [("mechanism", ul), ("parameter", ctypes.c_void_p), ("len", ul)]


def ok(what, rv):
    if rv != 0:
        sys.exit(f"{what} failed: 0x{rv:x}")


lib = ctypes.CDLL(module)
ok("C_Initialize", lib.C_Initialize(None))
session = ul(0)
ok("C_OpenSession", lib.C_OpenSession(ul(0), ul(4), None, None, ctypes.byref(session)))
pin = open(pin_file, "rb").read().strip()
ok("C_Login", lib.C_Login(session, ul(1), pin, ul(len(pin))))
klass, label = ul(3), policy.encode()  # CKO_PRIVATE_KEY
template = (Attribute * 2)(
    Attribute(0x0, ctypes.cast(ctypes.byref(klass), ctypes.c_void_p), ctypes.sizeof(klass)),
    Attribute(0x3, ctypes.cast(ctypes.c_char_p(label), ctypes.c_void_p), len(label)),
)
key, count = ul(0), ul(0)
ok("C_FindObjectsInit", lib.C_FindObjectsInit(session, template, ul(2)))
ok("C_FindObjects", lib.C_FindObjects(session, ctypes.byref(key), ul(1), ctypes.byref(count)))
ok("C_FindObjectsFinal", lib.C_FindObjectsFinal(session))
time.sleep(float(pause))
mechanism = Mechanism(0x40, None, 0)  # CKM_SHA256_RSA_PKCS
data = b"signed after a pause"
signature, length = ctypes.create_string_buffer(1024), ul(1024)
ok("C_SignInit", lib.C_SignInit(session, ctypes.byref(mechanism), key))
ok("C_Sign", lib.C_Sign(session, data, ul(len(data)), signature, ctypes.byref(length)))
open(out, "wb").write(signature.raw[: length.value])
ok("C_Finalize", lib.C_Finalize(None))
