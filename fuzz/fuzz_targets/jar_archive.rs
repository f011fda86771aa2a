//! Fuzzes `sigil-jar`: the bounded archive reader over arbitrary bytes, the
//! whole client computation (`prepare_archive`) and the verifier on whatever
//! opens, and the manifest parser.
//!
//! Invariants checked besides "never panics": a manifest that parses writes
//! back to bytes that parse again, and writing those is a fixed point.
//!
//! Seeds: `testdata/jar/hostile/*.zip` (crafted archives, one per defect).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_jar::{Archive, HashAlgorithm, Manifest, SignOptions, SignerName};

fuzz_target!(|data: &[u8]| {
    if let Ok(archive) = Archive::from_source(data.to_vec()) {
        for entry in archive.entries() {
            let _ = archive.entry_digest(entry, HashAlgorithm::Sha256);
        }
        if let Ok(signer) = SignerName::new("FUZZ") {
            let _ = sigil_jar::prepare_archive(
                &archive,
                &SignOptions::new(signer, HashAlgorithm::Sha256),
            );
        }
        let _ = sigil_jar::verify_archive(&archive);
    }
    if let Ok(manifest) = Manifest::parse(data) {
        let written = manifest.to_bytes().expect("a parsed manifest writes");
        let again = Manifest::parse(&written).expect("written manifest parses");
        assert_eq!(again.to_bytes().expect("writes again"), written);
    }
});
