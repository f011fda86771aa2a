//! Bad input gets a clear, typed error: CSRs made by `openssl req` with keys or
//! algorithms Sigil refuses, tampered CSRs, truncated or garbage PEM/DER,
//! wrong PEM labels, trailing data, bad DN strings, validity in the past,
//! and broken PKCS#12 files. CSRs OpenSSL makes with supported keys are accepted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, SystemTime};

use common::{dn, openssl, test_pki, write};
use der::Encode;
use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use sigil_pki::ca::{IssueRequest, issue};
use sigil_pki::pkcs12::{self, Pkcs12Error};
use sigil_pki::{Csr, DistinguishedName, PkiError, Profile, San, ValidityPeriod, build_csr, pem};

/// Makes a key with `openssl genpkey` and a CSR for it with `openssl req`; returns the CSR PEM.
fn openssl_csr(genpkey: &[&str], req: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem").to_str().unwrap().to_owned();
    let csr = dir.path().join("req.pem").to_str().unwrap().to_owned();
    let mut args = vec!["genpkey", "-out", &key];
    args.extend_from_slice(genpkey);
    let (ok, out) = openssl(&args);
    assert!(ok, "{out}");
    let mut args = vec![
        "req",
        "-new",
        "-key",
        &key,
        "-out",
        &csr,
        "-subj",
        "/O=Sigil Tests/CN=from openssl",
    ];
    args.extend_from_slice(req);
    let (ok, out) = openssl(&args);
    assert!(ok, "{out}");
    std::fs::read(&csr).unwrap()
}

fn rsa(bits: &str) -> [String; 4] {
    [
        "-algorithm".into(),
        "RSA".into(),
        "-pkeyopt".into(),
        format!("rsa_keygen_bits:{bits}"),
    ]
}

fn ec(curve: &str) -> [String; 4] {
    [
        "-algorithm".into(),
        "EC".into(),
        "-pkeyopt".into(),
        format!("ec_paramgen_curve:{curve}"),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn csrs_openssl_makes_with_supported_keys_are_accepted() {
    let cases: Vec<(Vec<u8>, KeyAlgorithm)> = vec![
        (
            openssl_csr(&strs(&rsa("2048")), &["-sha256"]),
            KeyAlgorithm::Rsa2048,
        ),
        (
            openssl_csr(&strs(&rsa("3072")), &["-sha512"]),
            KeyAlgorithm::Rsa3072,
        ),
        (
            openssl_csr(
                &strs(&rsa("2048")),
                &[
                    "-sha384",
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ],
            ),
            KeyAlgorithm::Rsa2048,
        ),
        (
            openssl_csr(&strs(&ec("P-256")), &["-sha256"]),
            KeyAlgorithm::EcdsaP256,
        ),
        (
            openssl_csr(&strs(&ec("P-384")), &["-sha384"]),
            KeyAlgorithm::EcdsaP384,
        ),
        (
            openssl_csr(&["-algorithm", "ED25519"], &[]),
            KeyAlgorithm::Ed25519,
        ),
        (
            openssl_csr(
                &strs(&ec("P-256")),
                &["-addext", "subjectAltName=DNS:build.example,IP:10.1.2.3"],
            ),
            KeyAlgorithm::EcdsaP256,
        ),
    ];
    for (pem_bytes, algorithm) in cases {
        let csr = Csr::parse(&pem_bytes).unwrap().verify().unwrap();
        assert_eq!(csr.key_algorithm(), algorithm);
        assert_eq!(csr.subject().to_string(), "CN=from openssl,O=Sigil Tests");
        if !csr.sans().is_empty() {
            assert_eq!(
                csr.sans(),
                &[
                    San::parse("build.example").unwrap(),
                    San::parse("10.1.2.3").unwrap()
                ]
            );
        }
        // The same CSR as DER.
        let der = Csr::parse(&pem_bytes).unwrap().to_der().unwrap();
        assert_eq!(Csr::parse(&der).unwrap().verify().unwrap(), csr);
    }
}

#[test]
fn csrs_with_refused_keys_or_algorithms() {
    // RSA-1024 and P-521: keys Sigil does not certify.
    for genpkey in [rsa("1024"), ec("P-521")] {
        let csr = openssl_csr(&strs(&genpkey), &[]);
        let err = Csr::parse(&csr).unwrap().verify().unwrap_err();
        assert!(matches!(err, PkiError::UnsupportedKey(_)), "{err}");
        assert!(err.to_string().contains("unsupported public key"), "{err}");
    }
    // SHA-1, and PSS with OpenSSL's default (maximum) salt length.
    for req in [&["-sha1"][..], &["-sigopt", "rsa_padding_mode:pss"][..]] {
        let csr = openssl_csr(&strs(&rsa("2048")), req);
        let err = Csr::parse(&csr).unwrap().verify().unwrap_err();
        assert!(
            matches!(err, PkiError::UnsupportedSignatureAlgorithm(_)),
            "{req:?}: {err}"
        );
    }
    // An e-mail address SAN is not something Sigil issues.
    let csr = openssl_csr(
        &strs(&ec("P-256")),
        &["-addext", "subjectAltName=email:a@example.com"],
    );
    let err = Csr::parse(&csr).unwrap().verify().unwrap_err();
    assert!(
        matches!(err, PkiError::UnsupportedSanType("e-mail")),
        "{err}"
    );
    // An Ed25519 CSR is fine for TLS, refused for code signing.
    let ed = Csr::parse(&openssl_csr(&["-algorithm", "ED25519"], &[]))
        .unwrap()
        .verify()
        .unwrap();
    assert!(ed.check_profile(Profile::TlsClient).is_ok());
    assert!(matches!(
        ed.check_profile(Profile::CodeSigning),
        Err(PkiError::KeyNotAllowed { .. })
    ));
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let err = issue(
        &pki.root,
        &pki.root_key,
        IssueRequest::Csr(&ed),
        Profile::CodeSigning,
        ValidityPeriod::days_from_now(30).unwrap(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::KeyNotAllowed { .. }), "{err}");
}

#[test]
fn tampered_csrs_fail_their_self_signature() {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let der = build_csr(&key, &dn("CN=honest request"), &[])
        .unwrap()
        .to_der()
        .unwrap();
    // Flip a bit in the subject (the 'h' of "honest") and in the last signature byte.
    let subject_at = der.windows(6).position(|w| w == b"honest").unwrap();
    for index in [subject_at, der.len() - 1] {
        let mut tampered = der.clone();
        tampered[index] ^= 0x01;
        let err = Csr::parse(&tampered).unwrap().verify().unwrap_err();
        assert!(
            matches!(err, PkiError::BadCsrSignature),
            "byte {index}: {err}"
        );
    }
    // A CSR signed by a different key than it carries.
    let other = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let other_der = build_csr(&other, &dn("CN=honest request"), &[])
        .unwrap()
        .to_der()
        .unwrap();
    let key_der = key.public_key_der();
    let other_key_der = other.public_key_der();
    let at = other_der
        .windows(other_key_der.len())
        .position(|w| w == other_key_der)
        .unwrap();
    let mut swapped = other_der.clone();
    swapped[at..at + key_der.len()].copy_from_slice(key_der);
    let err = Csr::parse(&swapped).unwrap().verify().unwrap_err();
    assert!(matches!(err, PkiError::BadCsrSignature), "{err}");
}

#[test]
fn malformed_pem_and_der_are_typed_errors() {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = build_csr(&key, &dn("CN=x"), &[]).unwrap();
    let csr_der = csr.to_der().unwrap();
    let csr_pem = csr.to_pem().unwrap();
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let cert_der = pki.root.certificate().to_der().unwrap();
    let cert_pem = pem::encode_certificate(pki.root.certificate()).unwrap();

    let csr_err = |input: &[u8]| Csr::parse(input).unwrap_err();
    let cert_err = |input: &[u8]| pem::parse_certificates(input).unwrap_err();

    for err in [
        csr_err(&csr_der[..csr_der.len() - 10]),
        cert_err(&cert_der[..cert_der.len() / 2]),
    ] {
        assert!(matches!(err, PkiError::Truncated { .. }), "{err}");
    }
    for err in [
        csr_err(&csr_pem.as_bytes()[..csr_pem.len() - 30]),
        cert_err(&cert_pem.as_bytes()[..cert_pem.len() / 2]),
    ] {
        assert!(matches!(err, PkiError::Truncated { .. }), "{err}");
    }
    let mut trailing = csr_der.clone();
    trailing.extend_from_slice(b"junk");
    let mut trailing_cert = cert_der.clone();
    trailing_cert.push(0);
    for err in [
        csr_err(&trailing),
        cert_err(&trailing_cert),
        csr_err(format!("{csr_pem}junk").as_bytes()),
        cert_err(format!("{cert_pem}Bag Attributes").as_bytes()),
    ] {
        assert!(matches!(err, PkiError::TrailingData { .. }), "{err}");
    }
    for err in [csr_err(cert_pem.as_bytes()), cert_err(csr_pem.as_bytes())] {
        assert!(matches!(err, PkiError::WrongPemLabel { .. }), "{err}");
    }
    let key_pem = pem::encode(pem::PRIVATE_KEY_LABEL, &key.to_pkcs8_der()).unwrap();
    let err = cert_err(key_pem.as_bytes());
    assert!(
        matches!(&err, PkiError::WrongPemLabel { expected: "CERTIFICATE", found } if found == "PRIVATE KEY"),
        "{err}"
    );
    for err in [
        csr_err(b"hello"),
        cert_err(b"\x01\x02"),
        csr_err(&[0x30, 0x03, 0x04, 0x01, 0x00]),
    ] {
        assert!(matches!(err, PkiError::Malformed { .. }), "{err}");
    }
    // A CSR given where a certificate is expected, in DER: both are SEQUENCEs, the content differs.
    assert!(matches!(cert_err(&csr_der), PkiError::Malformed { .. }));
    for err in [csr_err(b""), cert_err(b" \n\t")] {
        assert!(matches!(err, PkiError::Empty { .. }), "{err}");
    }
    let err = csr_err(&vec![0x30; sigil_pki::csr::MAX_CSR_LEN + 1]);
    assert!(matches!(err, PkiError::TooLarge { .. }), "{err}");
    let many = cert_pem.repeat(pem::MAX_CERTIFICATES + 1);
    assert!(matches!(
        cert_err(many.as_bytes()),
        PkiError::TooMany { .. }
    ));
    // Several CSRs in one upload.
    let two = csr_pem.repeat(2);
    assert!(matches!(csr_err(two.as_bytes()), PkiError::TooMany { .. }));
}

#[test]
fn bad_names_and_validity() {
    for bad in ["CN", "CN=a,,O=b", "CN=a;O=b", "Foo=bar", "C=Germany"] {
        assert!(
            matches!(
                DistinguishedName::parse(bad),
                Err(PkiError::InvalidDn { .. })
            ),
            "{bad}"
        );
    }
    let now = SystemTime::now();
    let day = Duration::from_secs(86400);
    assert!(matches!(
        ValidityPeriod::new(now - 30 * day, now - day),
        Err(PkiError::InvalidValidity(_))
    ));
    assert!(matches!(
        ValidityPeriod::days_from_now(0),
        Err(PkiError::InvalidValidity(_))
    ));
}

#[test]
fn broken_pkcs12_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let key = write(
        dir.path(),
        "k.pem",
        pem::encode(pem::PRIVATE_KEY_LABEL, &pki.root_key.to_pkcs8_der()).unwrap(),
    );
    let cert = write(
        dir.path(),
        "c.pem",
        pem::encode_certificate(pki.root.certificate()).unwrap(),
    );
    let out = dir.path().join("f.p12").to_str().unwrap().to_owned();
    let (ok, text) = openssl([
        "pkcs12", "-export", "-inkey", &key, "-in", &cert, "-passout", "pass:pw", "-out", &out,
    ]);
    assert!(ok, "{text}");
    let p12 = std::fs::read(&out).unwrap();

    for broken in [&p12[..p12.len() / 2], &b"not a pkcs12 file"[..], &[][..]] {
        let err = pkcs12::import(broken, "pw").unwrap_err();
        assert!(matches!(err, Pkcs12Error::Malformed(_)), "{err}");
    }
    // A flipped byte inside the encrypted content: the MAC no longer matches.
    let mut flipped = p12.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x80;
    let err = pkcs12::import(&flipped, "pw").unwrap_err();
    assert!(
        matches!(err, Pkcs12Error::WrongPassword | Pkcs12Error::Malformed(_)),
        "{err}"
    );
    let err = pkcs12::import(&vec![0u8; pkcs12::MAX_PKCS12_LEN + 1], "pw").unwrap_err();
    assert!(matches!(err, Pkcs12Error::TooLarge(_)), "{err}");
    // A file asking for more iterations than Sigil runs.
    let (ok, text) = openssl([
        "pkcs12", "-export", "-inkey", &key, "-in", &cert, "-passout", "pass:pw", "-out", &out,
        "-iter", "6000000", "-noiter",
    ]);
    assert!(ok, "{text}");
    // `-noiter` sets the encryption count to 1; the MAC keeps the high count.
    let heavy = std::fs::read(&out).unwrap();
    let err = pkcs12::import(&heavy, "pw").unwrap_err();
    assert!(
        matches!(err, Pkcs12Error::IterationsTooHigh(6_000_000)),
        "{err}"
    );
}
