//! Fuzzes the Authenticode cabinet side (`sigil_authenticode::cab`) over an in-memory file:
//! header and folder-table parsing, the streaming digest and local verification (which
//! reads the signature area, the PKCS#7 and nested signatures).
//!
//! Invariants checked besides "never panics": a layout that parses always hashes, to the
//! same layout, and its offsets stay inside the file.
//!
//! Seed corpus: `fuzz/corpus/cab_digest/` (gcab-made cabinets, unsigned and signed, and
//! cabinets with lying headers).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sigil_authenticode::cab::{CabLayout, cab_digest, verify_cab};
use sigil_keys::HashAlgorithm;

fuzz_target!(|data: &[u8]| {
    let layout = CabLayout::parse(&mut Cursor::new(data));
    let digest = cab_digest(&mut Cursor::new(data), HashAlgorithm::Sha256);
    match (&layout, &digest) {
        (Ok(layout), Ok((hashed, digest))) => {
            assert_eq!(hashed, layout);
            assert_eq!(digest.len(), 32);
            assert!(layout.files_offset() <= layout.content_end());
            assert!(layout.content_end() <= layout.file_len);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("parse and digest disagree: {layout:?} / {digest:?}"),
    }
    let _ = verify_cab(&mut Cursor::new(data));
});
