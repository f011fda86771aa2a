//! Fuzzes the PKCS#12 reader (`sigil_pki::pkcs12::Pkcs12File::parse`, then `decrypt`):
//! it must never panic. Files that would cost more than a few thousand KDF iterations
//! are only parsed, so the fuzzer spends its time on the structure, not on PBKDF2.
//! The seed corpus uses the password "pw", so decryption paths are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_pki::pkcs12::Pkcs12File;

/// Opening a file costs its total KDF iteration count; keep each run cheap.
const MAX_FUZZ_ITERATIONS: u64 = 8192;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = Pkcs12File::parse(data)
        && file.kdf_iterations() <= MAX_FUZZ_ITERATIONS
    {
        let _ = file.decrypt("pw");
    }
});
