//! Property tests: the untrusted-input entry points (CSR, PEM/DER
//! certificates, PKCS#12 structure, DN and SAN strings) never panic on
//! arbitrary bytes or on mutations of valid inputs, and what Sigil writes
//! reads back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::OnceLock;

use der::Encode;
use proptest::prelude::*;
use sigil_keys::{KeyAlgorithm, SoftwareKey};
use sigil_pki::pkcs12::Pkcs12File;
use sigil_pki::{Csr, DistinguishedName, San, build_csr, pem};

struct Samples {
    csr_der: Vec<u8>,
    csr_pem: Vec<u8>,
    cert_der: Vec<u8>,
    chain_pem: Vec<u8>,
    /// The same chain as concatenated DER (the Host API's `CC`).
    der_chain: Vec<u8>,
}

fn samples() -> &'static Samples {
    static SAMPLES: OnceLock<Samples> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let csr = build_csr(
            &key,
            &common::dn("CN=prop,O=Sigil Tests"),
            &[
                San::parse("prop.example").unwrap(),
                San::parse("10.0.0.1").unwrap(),
            ],
        )
        .unwrap();
        let pki = common::test_pki(KeyAlgorithm::EcdsaP256);
        let chain = [
            pki.inter.certificate().clone(),
            pki.root.certificate().clone(),
        ];
        Samples {
            csr_der: csr.to_der().unwrap(),
            csr_pem: csr.to_pem().unwrap().into_bytes(),
            cert_der: chain[0].to_der().unwrap(),
            chain_pem: pem::encode_chain(&chain).unwrap().into_bytes(),
            der_chain: chain.iter().flat_map(|c| c.to_der().unwrap()).collect(),
        }
    })
}

/// A valid input with a few bytes changed, removed or inserted.
fn mutate(input: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = input.to_vec();
    for &(position, value, kind) in edits {
        if out.is_empty() {
            break;
        }
        let at = position % out.len();
        match kind % 4 {
            0 => out[at] = value,
            1 => out[at] ^= 1 << (value % 8),
            2 => {
                out.remove(at);
            }
            _ => out.insert(at, value),
        }
    }
    out
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
}

fn check_csr(input: &[u8]) {
    if let Ok(csr) = Csr::parse(input) {
        let _ = csr.verify();
        let _ = csr.to_pem();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_csr(&bytes);
        let _ = pem::parse_certificates(&bytes);
        let _ = pem::parse_der_chain(&bytes);
        let _ = Pkcs12File::parse(&bytes);
    }

    #[test]
    fn pem_looking_text_never_panics(
        label in "(CERTIFICATE|CERTIFICATE REQUEST|X509 CRL|[A-Z ]{0,12})",
        body in "[A-Za-z0-9+/=\r\n -]{0,300}",
        tail in "[-A-Za-z \n]{0,40}",
    ) {
        let text = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n{tail}");
        check_csr(text.as_bytes());
        let _ = pem::parse_certificates(text.as_bytes());
    }

    #[test]
    fn mutated_csrs_never_panic(edits in edits(), pem_form in any::<bool>()) {
        let s = samples();
        let input = if pem_form { &s.csr_pem } else { &s.csr_der };
        check_csr(&mutate(input, &edits));
    }

    #[test]
    fn mutated_certificates_never_panic(edits in edits(), pem_form in any::<bool>()) {
        let s = samples();
        let input = if pem_form { &s.chain_pem } else { &s.cert_der };
        if let Ok(certificates) = pem::parse_certificates(&mutate(input, &edits)) {
            let _ = sigil_pki::build_chain(&certificates[0], &certificates);
        }
    }

    #[test]
    fn mutated_der_chains_never_panic_and_intact_ones_round_trip(edits in edits()) {
        let s = samples();
        let _ = pem::parse_der_chain(&mutate(&s.der_chain, &edits));
        let chain = pem::parse_der_chain(&s.der_chain).unwrap();
        prop_assert_eq!(pem::parse_certificates(&s.chain_pem).unwrap(), chain);
    }

    #[test]
    fn names_never_panic(dn in "\\PC{0,80}", san in "\\PC{0,80}") {
        let _ = DistinguishedName::parse(&dn);
        let _ = San::parse(&san);
    }
}

#[test]
fn valid_samples_parse() {
    let s = samples();
    assert_eq!(
        Csr::parse(&s.csr_pem)
            .unwrap()
            .verify()
            .unwrap()
            .sans()
            .len(),
        2
    );
    assert_eq!(pem::parse_certificates(&s.chain_pem).unwrap().len(), 2);
    assert_eq!(pem::parse_der_chain(&s.der_chain).unwrap().len(), 2);
    assert!(pem::parse_der_chain(&[&s.der_chain[..], &[0x30][..]].concat()).is_err());
    assert!(
        pem::parse_der_chain(&s.der_chain.repeat(9)).is_err(),
        "more than 16"
    );
}
