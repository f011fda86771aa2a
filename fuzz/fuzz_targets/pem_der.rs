//! Fuzzes the certificate upload reader (`sigil_pki::pem::parse_certificates`, PEM or DER),
//! the concatenated-DER chain reader (`parse_der_chain`) and chain building over what they
//! return: never panics, and certificates that parse write back to PEM that parses to the
//! same certificates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_pki::{build_chain, pem};

fuzz_target!(|data: &[u8]| {
    if let Ok(certificates) = pem::parse_der_chain(data) {
        let text = pem::encode_chain(&certificates).expect("parsed certificates encode");
        let again = pem::parse_certificates(text.as_bytes()).expect("written PEM parses");
        assert_eq!(again, certificates);
    }
    if let Ok(certificates) = pem::parse_certificates(data) {
        let text = pem::encode_chain(&certificates).expect("parsed certificates encode");
        let again = pem::parse_certificates(text.as_bytes()).expect("written PEM parses");
        assert_eq!(again, certificates);
        if let Some(leaf) = certificates.first() {
            let _ = build_chain(leaf, &certificates);
        }
    }
});
