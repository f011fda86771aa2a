#!/bin/sh
# Regenerates the PE fixtures in this directory (see README.md).
# Needs: gcc-mingw-w64-x86-64, gcc-mingw-w64-i686, python3.
set -eu
cd "$(dirname "$0")"

# Valid images: no C runtime, no timestamp, so the output is reproducible.
x86_64-w64-mingw32-gcc -Os -s -nostdlib -Wl,--no-insert-timestamp -Wl,-e,start -o tiny64.exe tiny.c
i686-w64-mingw32-gcc -Os -s -nostdlib -Wl,--no-insert-timestamp -Wl,-e,_start -o tiny32.exe tiny.c

python3 - <<'PY'
import struct

base = bytearray(open("tiny64.exe", "rb").read())
pe = struct.unpack_from("<I", base, 0x3C)[0]
coff = pe + 4
opt = pe + 24
sections = opt + struct.unpack_from("<H", base, coff + 16)[0]
dirs = opt + 112                      # PE32+ data directories
cert_dir = dirs + 4 * 8               # Certificate Table entry

def variant(name, data):
    open(name, "wb").write(bytes(data))

def patched(fmt, offset, *values):
    data = bytearray(base)
    struct.pack_into(fmt, data, offset, *values)
    return data

# Valid: data after the last section, length not a multiple of 8.
variant("tiny64-trailing.exe", base + b"sigil-trailer")

# Hostile.
variant("truncated-headers.exe", base[:200])
variant("pe-offset-out-of-file.exe", patched("<I", 0x3C, 0x7FFFFFF0))
variant("bad-pe-signature.exe", patched("<4s", pe, b"PX\0\0"))
variant("bad-magic.exe", patched("<H", opt, 0x0107))
variant("too-few-data-directories.exe", patched("<I", dirs - 4, 4))
variant("too-many-sections.exe", patched("<H", coff + 2, 200))
variant("section-table-out-of-file.exe", patched("<H", coff + 2, 96))
variant("section-huge-size.exe", patched("<I", sections + 16, 0xFFFFFE00))
second_raw = struct.unpack_from("<I", base, sections + 20)[0]
variant("overlapping-sections.exe", patched("<I", sections + 40 + 20, second_raw))
variant("cert-table-not-at-end.exe", patched("<II", cert_dir, len(base) - 16, 8))
variant("cert-table-huge-size.exe", patched("<II", cert_dir, len(base) - 8, 0xFFFFFFF0))
variant("cert-table-inconsistent.exe", patched("<II", cert_dir, 0, 8))
misaligned = patched("<II", cert_dir, len(base) + 4, 8) + b"\0" * 12
variant("cert-table-misaligned.exe", misaligned)
variant("not-a-pe.exe", b"#!/bin/sh\n# A shell script, not a PE image: no MZ signature at offset 0.\necho hello\n")
PY
