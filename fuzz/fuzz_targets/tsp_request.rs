//! Fuzzes RFC 3161 request reading (`sigil_pki::tsp::parse_request`), the bytes anyone can
//! POST to `/api/v1/timestamp`: it must never panic; an accepted request has an imprint of
//! its hash's length; a refused one yields a rejection that reads back with its failure bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_pki::tsp;

fuzz_target!(|data: &[u8]| {
    match tsp::parse_request(data) {
        Ok(request) => assert_eq!(request.digest().len(), request.hash.digest_len()),
        Err(error) => {
            let failure = error.failure_info();
            let der = tsp::rejection(failure, &error.to_string()).expect("a rejection encodes");
            let summary = tsp::read_response(&der).expect("a rejection reads back");
            assert_eq!(summary.status, 2);
            assert_eq!(summary.failure_bits, vec![usize::from(failure.bit())]);
            assert!(summary.token.is_none());
        }
    }
});
