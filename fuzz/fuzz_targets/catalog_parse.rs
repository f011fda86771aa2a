//! Fuzzes the Authenticode catalog side (`sigil_authenticode::catalog`): decoding a catalog
//! file (ContentInfo, SignedData, the certificate trust list), its digest and local
//! verification of its signature.
//!
//! Seed corpus: `fuzz/corpus/catalog_parse/` (an unsigned and a signed catalog).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_authenticode::catalog::{Catalog, verify_catalog};
use sigil_keys::HashAlgorithm;

fuzz_target!(|data: &[u8]| {
    if let Ok(catalog) = Catalog::from_der(data) {
        assert_eq!(catalog.digest(HashAlgorithm::Sha256).len(), 32);
        match verify_catalog(&catalog) {
            Ok(report) => assert_eq!(report.signatures.len(), 1),
            Err(_) => assert!(!catalog.is_signed()),
        }
    }
});
