//! Fuzzes CSR reading (`sigil_pki::Csr::parse`, then `Csr::verify`): it must never panic,
//! and a CSR that parses must re-encode to DER that parses back to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_pki::Csr;

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = Csr::parse(data) {
        let _ = csr.verify();
        let der = csr.to_der().expect("a parsed CSR encodes");
        let again = Csr::parse(&der).expect("a re-encoded CSR parses");
        assert_eq!(again.as_cert_req(), csr.as_cert_req());
    }
});
