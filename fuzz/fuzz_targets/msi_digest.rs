//! Fuzzes the MSI side of `sigil-authenticode` over an in-memory package: the compound file
//! reader (`cfb`: header, FAT, mini FAT, directory tree), Sigil's walk of the tree (bounded
//! entries and depth), the digest over every stream, and, when the package has a
//! `\x05DigitalSignature` stream, the reading and checking of its signatures.
//!
//! Invariant checked besides "never panics": a digest has its algorithm's length.
//!
//! Seed corpus: packages made by `wixl` (small, and signed by osslsigncode with and
//! without MsiDigitalSignatureEx) and truncated ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_authenticode::msi_digest;
use sigil_keys::HashAlgorithm;

fuzz_target!(|data: &[u8]| {
    if let Ok(digest) = msi_digest(data, HashAlgorithm::Sha256) {
        assert_eq!(digest.len(), 32);
    }
});
