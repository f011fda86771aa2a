//! Fuzzes reading a TSA's answer (`sigil_pki::stamp`), the bytes any TSA given to
//! `sigil sign --timestamp URL` (or a man in the middle of an http:// one) sends back, and a
//! token found in a signature: nothing may panic, and nothing but a token over the request's
//! imprint is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_keys::HashAlgorithm;
use sigil_pki::stamp::{self, StampRequest};

fuzz_target!(|data: &[u8]| {
    let request = StampRequest::new(HashAlgorithm::Sha256, b"fuzz").expect("a request encodes");
    if let Ok(token) = request.check(data) {
        assert!(token.info.stamps(b"fuzz"));
    }
    let _ = stamp::read_response_token(data);
    let _ = stamp::verify_token(data);
    let _ = stamp::find_stamp(data);
});
