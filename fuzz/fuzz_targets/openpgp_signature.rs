//! Fuzzes the OpenPGP signature reader (`sigil_openpgp::dearmor` then `parse_signature`):
//! never panics, and a packet that parses yields a hashed part that is a prefix of it and a
//! trailer that ends with its length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_openpgp::{ArmorKind, dearmor, parse_signature};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = dearmor(ArmorKind::Signature, data) else {
        return;
    };
    if let Ok(parsed) = parse_signature(&packet) {
        let trailer = parsed.trailer_bytes();
        assert_eq!(trailer.len(), parsed.hashed_part.len() + 6);
        let len = u32::try_from(parsed.hashed_part.len()).expect("bounded packet");
        assert!(trailer.ends_with(&len.to_be_bytes()));
        assert!(parsed.mpis.len() <= 2);
    }
});
