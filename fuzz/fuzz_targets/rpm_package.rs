//! Fuzzes the RPM package reader (`sigil_rpm::read_package`): never panics; a package that
//! reads has its main header inside the file, and its signature header written back with a
//! signature reads again with that signature.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sigil_rpm::{HeaderSignatureTag, Header, read_package, signature_header_bytes};

fuzz_target!(|data: &[u8]| {
    let Ok(package) = read_package(&mut Cursor::new(data)) else {
        return;
    };
    assert!(package.header_start + package.header_len <= package.file_len);
    let header = package.signed_signature_header(HeaderSignatureTag::Rsa, b"packet");
    let bytes = signature_header_bytes(&header);
    assert_eq!(bytes.len() % 8, 0);
    let unpadded = header.to_bytes();
    let read = Header::parse_signature(&unpadded).expect("a written header reads back");
    assert_eq!(read.get(268).map(|e| e.data.as_slice()), Some(&b"packet"[..]));
});
