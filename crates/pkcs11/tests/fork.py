"""A C caller that forks: the child must initialise the module again and can then sign in.

Run by bad_use.rs as: python3 fork.py MODULE PIN_FILE. Prints one line per step; exits 0 only
when every return value is what PKCS#11 says it must be.
"""
import ctypes
import os
import sys

CKR_OK, CKR_CRYPTOKI_NOT_INITIALIZED = 0, 0x190
lib = ctypes.CDLL(sys.argv[1])
ul = ctypes.c_ulong


def slots():
    count = ul(0)
    return lib.C_GetSlotList(ctypes.c_ubyte(0), None, ctypes.byref(count))


def check(step, rv, want=CKR_OK):
    print(step, hex(rv), flush=True)
    if rv != want:
        os._exit(1)


check("parent C_Initialize", lib.C_Initialize(None))
pid = os.fork()
if pid == 0:
    check("child C_GetSlotList before C_Initialize", slots(), CKR_CRYPTOKI_NOT_INITIALIZED)
    check("child C_Initialize", lib.C_Initialize(None))
    session = ul(0)
    check("child C_OpenSession", lib.C_OpenSession(ul(0), ul(4), None, None, ctypes.byref(session)))
    pin = open(sys.argv[2]).read().strip().encode()
    check("child C_Login", lib.C_Login(session, ul(1), pin, ul(len(pin))))
    check("child C_Finalize", lib.C_Finalize(None))
    os._exit(0)
_, status = os.waitpid(pid, 0)
check("parent C_GetSlotList after the fork", slots())
check("parent C_Finalize", lib.C_Finalize(None))
sys.exit(1 if status else 0)
