"""Times C_Sign round trips through libsigil_pkcs11.so, as a C caller makes them.

    python3 bench/pkcs11_sign.py MODULE PIN_FILE POLICY N

Initialises the module (the profile comes from SIGIL_PKCS11_PROFILE), logs in, then signs N
times (C_SignInit + C_Sign, CKM_SHA256_RSA_PKCS or CKM_ECDSA_SHA256 as the key's type says) one
after the other on one session, and prints the median and the 99th percentile of one
C_SignInit + C_Sign in milliseconds: "median_ms p99_ms". Exits non-zero when a call fails.
"""
import ctypes
import sys
import time

module, pin_file, policy, n = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
ul = ctypes.c_ulong
CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL = 0x0, 0x100, 0x3
CKO_PRIVATE_KEY, CKK_EC = 3, 3
CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256 = 0x40, 0x1044


class Attribute(ctypes.Structure):
    _fields_ = [("type", ul), ("value", ctypes.c_void_p), ("len", ul)]


class Mechanism(ctypes.Structure):
    _fields_ = [("mechanism", ul), ("parameter", ctypes.c_void_p), ("len", ul)]


lib = ctypes.CDLL(module)


def ok(what, rv):
    if rv != 0:
        sys.exit(f"{what} failed: 0x{rv:x}")


ok("C_Initialize", lib.C_Initialize(None))
session = ul(0)
ok("C_OpenSession", lib.C_OpenSession(ul(0), ul(4), None, None, ctypes.byref(session)))
pin = open(pin_file, "rb").read().strip()
ok("C_Login", lib.C_Login(session, ul(1), pin, ul(len(pin))))
klass = ul(CKO_PRIVATE_KEY)
label = ctypes.create_string_buffer(policy, len(policy))
template = (Attribute * 2)(
    Attribute(CKA_CLASS, ctypes.cast(ctypes.byref(klass), ctypes.c_void_p), ctypes.sizeof(klass)),
    Attribute(CKA_LABEL, ctypes.cast(label, ctypes.c_void_p), len(policy)),
)
ok("C_FindObjectsInit", lib.C_FindObjectsInit(session, template, ul(2)))
key, count = ul(0), ul(0)
ok("C_FindObjects", lib.C_FindObjects(session, ctypes.byref(key), ul(1), ctypes.byref(count)))
ok("C_FindObjectsFinal", lib.C_FindObjectsFinal(session))
if count.value != 1:
    sys.exit(f"no private key labelled {policy.decode()}")
key_type = ul(0)
attr = Attribute(CKA_KEY_TYPE, ctypes.cast(ctypes.byref(key_type), ctypes.c_void_p), ctypes.sizeof(key_type))
ok("C_GetAttributeValue", lib.C_GetAttributeValue(session, key, ctypes.byref(attr), ul(1)))
mechanism = Mechanism(CKM_ECDSA_SHA256 if key_type.value == CKK_EC else CKM_SHA256_RSA_PKCS, None, 0)
data = b"one C_Sign round trip"
signature = ctypes.create_string_buffer(1024)
times = []
for _ in range(n):
    length = ul(len(signature))
    start = time.perf_counter()
    ok("C_SignInit", lib.C_SignInit(session, ctypes.byref(mechanism), key))
    ok("C_Sign", lib.C_Sign(session, data, ul(len(data)), signature, ctypes.byref(length)))
    times.append(time.perf_counter() - start)
ok("C_Finalize", lib.C_Finalize(None))
times.sort()
print(f"{times[len(times) // 2] * 1000:.3f} {times[min(len(times) - 1, len(times) * 99 // 100)] * 1000:.3f}")
