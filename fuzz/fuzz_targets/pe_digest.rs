//! Fuzzes the Authenticode PE side (`sigil-authenticode`) over an in-memory file:
//! header parsing, the streaming image digest and local verification (which
//! parses the attribute certificate table, the PKCS#7 and nested signatures).
//!
//! Invariants checked besides "never panics": a layout that parses always
//! hashes, and the digest is the same whatever the hash is computed through.
//!
//! Seed corpus: the fixtures in `testdata/pe/` (valid, hostile and, after
//! running the crate's tests, signed ones can be added).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sigil_authenticode::{PeLayout, image_digest, verify};
use sigil_keys::HashAlgorithm;

fuzz_target!(|data: &[u8]| {
    let layout = PeLayout::parse_bytes(data);
    let digest = image_digest(&mut Cursor::new(data), HashAlgorithm::Sha256);
    match (&layout, &digest) {
        (Ok(layout), Ok(digest)) => {
            assert_eq!(&digest.layout, layout);
            assert_eq!(digest.digest.len(), 32);
            assert!(layout.image_end() <= layout.file_len);
            assert_eq!(layout.padded_image_end() % 8, 0);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("parse and digest disagree: {layout:?} / {digest:?}"),
    }
    let _ = verify(&mut Cursor::new(data));
});
