//! Certificates, CSRs and CRLs made by `sigil_pki` as OpenSSL 3 sees them:
//! `openssl verify -x509_strict` for every profile under a root and an
//! intermediate, the extensions `openssl x509 -text` shows, `openssl req
//! -verify` for CSRs, `openssl crl -verify` and `openssl verify -crl_check`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, SystemTime};

use common::{dn, leaf, openssl, test_pki, write, write_cert, write_certs};
use der::Encode;
use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use sigil_pki::ca::{CaCertificate, IssueRequest, NewCa, build_chain, issue};
use sigil_pki::{
    CrlContent, Csr, PkiError, Profile, Revocation, RevocationReason, San, ValidityPeriod,
    build_crl, build_csr, pem,
};

/// What `openssl x509 -text` must show for each profile (after whitespace is collapsed).
fn expected_lines(profile: Profile, rsa: bool) -> Vec<&'static str> {
    let mut lines = vec![
        "X509v3 Subject Key Identifier:",
        "X509v3 Authority Key Identifier:",
        "X509v3 Basic Constraints: critical CA:FALSE",
    ];
    match profile {
        Profile::TlsServer if rsa => lines.extend([
            "X509v3 Key Usage: critical Digital Signature, Key Encipherment",
            "X509v3 Extended Key Usage: TLS Web Server Authentication",
            "X509v3 Subject Alternative Name: DNS:localhost, IP Address:127.0.0.1",
        ]),
        Profile::TlsServer => lines.extend([
            "X509v3 Key Usage: critical Digital Signature X509v3",
            "X509v3 Extended Key Usage: TLS Web Server Authentication",
            "X509v3 Subject Alternative Name: DNS:localhost, IP Address:127.0.0.1",
        ]),
        Profile::TlsClient => lines.extend([
            "X509v3 Key Usage: critical Digital Signature X509v3",
            "X509v3 Extended Key Usage: TLS Web Client Authentication",
        ]),
        Profile::CodeSigning => lines.extend([
            "X509v3 Key Usage: critical Digital Signature X509v3",
            "X509v3 Extended Key Usage: Code Signing",
        ]),
        Profile::Timestamping => lines.extend([
            "X509v3 Key Usage: critical Digital Signature X509v3",
            "X509v3 Extended Key Usage: critical Time Stamping",
        ]),
        Profile::Ca => unreachable!(),
    }
    lines
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `-purpose` OpenSSL checks for a profile (OpenSSL 3.0 has none for code signing).
fn purpose(profile: Profile) -> &'static str {
    match profile {
        Profile::TlsServer => "sslserver",
        Profile::TlsClient => "sslclient",
        Profile::Timestamping => "timestampsign",
        _ => "any",
    }
}

#[test]
fn every_profile_verifies_strictly_under_a_root_and_an_intermediate() {
    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP384,
    ] {
        let pki = test_pki(algorithm);
        let dir = tempfile::tempdir().unwrap();
        let root_pem = write_cert(dir.path(), "root.pem", pki.root.certificate());
        let inter_pem = write_cert(dir.path(), "inter.pem", pki.inter.certificate());

        // The CA certificates themselves.
        let (ok, out) = openssl(["verify", "-x509_strict", "-CAfile", &root_pem, &inter_pem]);
        assert!(ok, "{algorithm}: intermediate: {out}");
        let (_, text) = openssl(["x509", "-noout", "-text", "-in", &inter_pem]);
        let text = collapse(&text);
        for line in [
            "X509v3 Basic Constraints: critical CA:TRUE, pathlen:0",
            "X509v3 Key Usage: critical Certificate Sign, CRL Sign",
            "X509v3 Subject Key Identifier:",
            "X509v3 Authority Key Identifier:",
            "Issuer: C = DE, O = Sigil Tests, CN = Sigil Test Root",
        ] {
            assert!(
                text.contains(line),
                "{algorithm}: intermediate lacks {line:?}: {text}"
            );
        }

        for profile in [
            Profile::TlsServer,
            Profile::TlsClient,
            Profile::CodeSigning,
            Profile::Timestamping,
        ] {
            let sans: &[&str] = match profile {
                Profile::TlsServer => &["localhost", "127.0.0.1"],
                Profile::TlsClient => &["client.example"],
                _ => &[],
            };
            for (issuer, issuer_key, untrusted) in [
                (&pki.root, &pki.root_key, None),
                (&pki.inter, &pki.inter_key, Some(inter_pem.as_str())),
            ] {
                let (_, certificate) = leaf(issuer, issuer_key, profile, algorithm, "leaf", sans);
                let leaf_pem = write_cert(dir.path(), "leaf.pem", &certificate);
                let mut args = vec![
                    "verify",
                    "-x509_strict",
                    "-purpose",
                    purpose(profile),
                    "-CAfile",
                    &root_pem,
                ];
                if let Some(inter) = untrusted {
                    args.extend(["-untrusted", inter]);
                }
                args.push(&leaf_pem);
                let (ok, out) = openssl(&args);
                assert!(
                    ok && out.contains(": OK"),
                    "{algorithm} {profile} via {}: {out}",
                    issuer.name()
                );

                let (_, text) = openssl(["x509", "-noout", "-text", "-in", &leaf_pem]);
                let text = collapse(&text);
                for line in
                    expected_lines(profile, algorithm.family() == sigil_keys::KeyFamily::Rsa)
                {
                    assert!(
                        text.contains(line),
                        "{algorithm} {profile} lacks {line:?}: {text}"
                    );
                }
                assert!(text.contains(&format!(
                    "Issuer: {}",
                    if untrusted.is_some() {
                        "C = DE, O = Sigil Tests, CN = Sigil Test Issuing CA"
                    } else {
                        "C = DE, O = Sigil Tests, CN = Sigil Test Root"
                    }
                )));

                // The chain builder finds the same path OpenSSL did.
                let cas = [
                    pki.root.certificate().clone(),
                    pki.inter.certificate().clone(),
                ];
                let chain = build_chain(&certificate, &cas).unwrap();
                assert_eq!(chain.len(), if untrusted.is_some() { 3 } else { 2 });
                assert_eq!(chain.last(), Some(pki.root.certificate()));
            }
        }
    }
}

#[test]
fn ed25519_certificates_verify_and_ed25519_cannot_sign_code() {
    let pki = test_pki(KeyAlgorithm::Ed25519);
    let dir = tempfile::tempdir().unwrap();
    let root_pem = write_cert(dir.path(), "root.pem", pki.root.certificate());
    let (_, server) = leaf(
        &pki.root,
        &pki.root_key,
        Profile::TlsServer,
        KeyAlgorithm::Ed25519,
        "ed",
        &["localhost"],
    );
    let leaf_pem = write_cert(dir.path(), "leaf.pem", &server);
    let (ok, out) = openssl(["verify", "-x509_strict", "-CAfile", &root_pem, &leaf_pem]);
    assert!(ok, "{out}");

    // Neither an Ed25519 key for code signing, nor an Ed25519 CA issuing it.
    let ed_key = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let rsa_key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    for (key, expect_issuer_error) in [(&ed_key, false), (&rsa_key, true)] {
        let err = issue(
            &pki.root,
            &pki.root_key,
            IssueRequest::PublicKey {
                subject: &dn("CN=signer"),
                public_key_der: key.public_key_der(),
            },
            Profile::CodeSigning,
            ValidityPeriod::days_from_now(30).unwrap(),
            &[],
        )
        .unwrap_err();
        if expect_issuer_error {
            assert!(matches!(err, PkiError::IssuerKeyNotAllowed { .. }), "{err}");
        } else {
            assert!(matches!(err, PkiError::KeyNotAllowed { .. }), "{err}");
        }
    }
}

#[test]
fn issuance_rules_are_enforced() {
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let subject = dn("CN=x");
    let request = IssueRequest::PublicKey {
        subject: &subject,
        public_key_der: key.public_key_der(),
    };
    let days = |d| ValidityPeriod::days_from_now(d).unwrap();
    let localhost = [San::parse("localhost").unwrap()];

    let err = issue(
        &pki.root,
        &pki.root_key,
        request,
        Profile::TlsServer,
        days(30),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(err, PkiError::MissingSan(Profile::TlsServer)),
        "{err}"
    );
    let err = issue(
        &pki.root,
        &pki.root_key,
        request,
        Profile::CodeSigning,
        days(30),
        &localhost,
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::SanNotAllowed(_)), "{err}");
    let err = issue(
        &pki.root,
        &pki.root_key,
        request,
        Profile::Ca,
        days(30),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::CaProfileNotIssuable), "{err}");
    // The intermediate expires after 1825 days: a longer leaf is refused, not shortened.
    let err = issue(
        &pki.inter,
        &pki.inter_key,
        request,
        Profile::TlsClient,
        days(2000),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(err, PkiError::ValidityExceedsIssuer { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("renew the CA"));
    // The wrong key for the CA.
    let err = issue(
        &pki.inter,
        &pki.root_key,
        request,
        Profile::TlsClient,
        days(30),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMismatch(_)), "{err}");
    // The intermediate has pathlen 0: no CA below it.
    let err = CaCertificate::intermediate(
        &NewCa {
            name: "sub",
            key_ref: "k",
            subject: &dn("CN=Sub CA"),
            validity: days(30),
            path_len: None,
        },
        key.public_key_der(),
        &pki.inter,
        &pki.inter_key,
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::PathLengthExceeded(_)), "{err}");
    // A leaf certificate is not a CA.
    let (_, client) = leaf(
        &pki.root,
        &pki.root_key,
        Profile::TlsClient,
        KeyAlgorithm::EcdsaP256,
        "c",
        &[],
    );
    let err = CaCertificate::load("leaf", "k", None, &client.to_der().unwrap()).unwrap_err();
    assert!(matches!(err, PkiError::NotACa(_)), "{err}");
    // A stored CA loads back and keeps issuing.
    let loaded = CaCertificate::load(
        "issuing",
        "issuing-key",
        Some("root"),
        &pki.inter.certificate().to_der().unwrap(),
    )
    .unwrap();
    assert_eq!(loaded, pki.inter);
    assert!(
        issue(
            &loaded,
            &pki.inter_key,
            request,
            Profile::TlsClient,
            days(30),
            &[]
        )
        .is_ok()
    );
    // Chain building names the missing issuer.
    let (_, orphan) = leaf(
        &pki.inter,
        &pki.inter_key,
        Profile::TlsClient,
        KeyAlgorithm::EcdsaP256,
        "o",
        &[],
    );
    let err = build_chain(&orphan, &[pki.inter.certificate().clone()]).unwrap_err();
    assert!(
        matches!(&err, PkiError::ChainIncomplete { issuer } if issuer.contains("Sigil Test Root")),
        "{err}"
    );
}

#[test]
fn csr_from_build_csr_verifies_with_openssl_and_issues() {
    let pki = test_pki(KeyAlgorithm::EcdsaP384);
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
    ] {
        let key = SoftwareKey::generate(algorithm).unwrap();
        // Without SANs too: OpenSSL must accept the request.
        let plain = build_csr(&key, &dn("CN=plain"), &[]).unwrap();
        let plain_path = write(dir.path(), "plain.pem", plain.to_pem().unwrap());
        let (ok, out) = openssl(["req", "-verify", "-noout", "-in", &plain_path]);
        assert!(ok, "{algorithm}: {out}");

        let sans = [
            San::parse("sigil.example").unwrap(),
            San::parse("::1").unwrap(),
        ];
        let csr = build_csr(&key, &dn("CN=sigil.example,O=Sigil Tests"), &sans).unwrap();
        let path = write(dir.path(), "req.pem", csr.to_pem().unwrap());
        let (ok, out) = openssl(["req", "-verify", "-noout", "-text", "-in", &path]);
        assert!(ok, "{algorithm}: {out}");
        assert!(out.contains("DNS:sigil.example"), "{out}");

        let verified = Csr::parse(&csr.to_der().unwrap())
            .unwrap()
            .verify()
            .unwrap();
        assert_eq!(verified.key_algorithm(), algorithm);
        assert_eq!(verified.sans(), &sans);
        assert_eq!(
            verified.subject().to_string(),
            "CN=sigil.example,O=Sigil Tests"
        );
        let certificate = issue(
            &pki.inter,
            &pki.inter_key,
            IssueRequest::Csr(&verified),
            Profile::TlsServer,
            ValidityPeriod::days_from_now(30).unwrap(),
            verified.sans(),
        )
        .unwrap();
        // The issued certificate's names read back as issued (a joining node copies them).
        assert_eq!(sigil_pki::certificate_sans(&certificate).unwrap(), sans);
        let chain = build_chain(
            &certificate,
            &[
                pki.inter.certificate().clone(),
                pki.root.certificate().clone(),
            ],
        )
        .unwrap();
        let root_pem = write_cert(dir.path(), "root.pem", pki.root.certificate());
        let chain_pem = write_certs(dir.path(), "chain.pem", &chain[1..2]);
        let leaf_pem = write_certs(dir.path(), "leaf.pem", &chain[..1]);
        let (ok, out) = openssl([
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &root_pem,
            "-untrusted",
            &chain_pem,
            &leaf_pem,
        ]);
        assert!(ok, "{algorithm}: {out}");
    }
}

#[test]
fn crl_verifies_and_makes_openssl_reject_the_revoked_certificate() {
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let root_pem = write_cert(dir.path(), "root.pem", pki.root.certificate());
    let inter_pem = write_cert(dir.path(), "inter.pem", pki.inter.certificate());
    let profile = Profile::TlsClient;
    let (_, revoked) = leaf(
        &pki.inter,
        &pki.inter_key,
        profile,
        KeyAlgorithm::EcdsaP256,
        "revoked",
        &[],
    );
    let (_, good) = leaf(
        &pki.inter,
        &pki.inter_key,
        profile,
        KeyAlgorithm::EcdsaP256,
        "good",
        &[],
    );
    let now = SystemTime::now();
    let entries = [Revocation {
        serial: revoked.tbs_certificate().serial_number().clone(),
        revoked_at: now - Duration::from_secs(60),
        reason: RevocationReason::KeyCompromise,
    }];
    let crl_of = |ca: &CaCertificate, key: &dyn SigningKey, revoked: &[Revocation]| {
        build_crl(
            ca,
            key,
            &CrlContent {
                number: 7,
                this_update: now - Duration::from_secs(30),
                next_update: now + Duration::from_secs(7 * 86400),
                revoked,
            },
        )
        .unwrap()
    };
    // The issuing CA's CRL (its AKI must be the intermediate's SKI) and the root's empty CRL.
    let inter_crl = crl_of(&pki.inter, &pki.inter_key, &entries);
    let root_crl = crl_of(&pki.root, &pki.root_key, &[]);
    let crl_text = |crl: &sigil_pki::x509_cert::crl::CertificateList| {
        pem::encode(pem::CRL_LABEL, &crl.to_der().unwrap()).unwrap()
    };
    let crl_pem = write(
        dir.path(),
        "crls.pem",
        crl_text(&inter_crl) + &crl_text(&root_crl),
    );
    let inter_crl_pem = write(dir.path(), "inter-crl.pem", crl_text(&inter_crl));

    let (ok, out) = openssl([
        "crl",
        "-noout",
        "-text",
        "-CAfile",
        &inter_pem,
        "-in",
        &inter_crl_pem,
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    let text = collapse(&out);
    for line in [
        "Version 2 (0x1)",
        "X509v3 CRL Number: 7",
        "X509v3 Authority Key Identifier:",
        "X509v3 CRL Reason Code: Key Compromise",
        "Issuer: C = DE, O = Sigil Tests, CN = Sigil Test Issuing CA",
    ] {
        assert!(text.contains(line), "CRL lacks {line:?}: {text}");
    }
    // Signed by the wrong CA: openssl refuses it.
    let (_, out) = openssl(["crl", "-noout", "-CAfile", &root_pem, "-in", &inter_crl_pem]);
    assert!(!out.contains("verify OK"), "{out}");

    let verify = |certificate: &sigil_pki::x509_cert::Certificate| {
        let leaf_pem = write_cert(dir.path(), "leaf.pem", certificate);
        openssl([
            "verify",
            "-x509_strict",
            "-crl_check_all",
            "-CAfile",
            &root_pem,
            "-untrusted",
            &inter_pem,
            "-CRLfile",
            &crl_pem,
            &leaf_pem,
        ])
    };
    let (ok, out) = verify(&good);
    assert!(ok, "the good certificate must verify with the CRLs: {out}");
    let (ok, out) = verify(&revoked);
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    // nextUpdate before thisUpdate is refused.
    let err = build_crl(
        &pki.root,
        &pki.root_key,
        &CrlContent {
            number: 1,
            this_update: now,
            next_update: now - Duration::from_secs(1),
            revoked: &[],
        },
    )
    .unwrap_err();
    assert!(matches!(err, PkiError::InvalidCrl(_)), "{err}");
}

#[test]
fn chain_exports_read_back_in_openssl() {
    let pki = test_pki(KeyAlgorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let chain = [
        pki.inter.certificate().clone(),
        pki.root.certificate().clone(),
    ];
    let p7b = write(
        dir.path(),
        "chain.p7b",
        pem::encode_chain_pkcs7(&chain).unwrap(),
    );
    let (ok, out) = openssl([
        "pkcs7",
        "-inform",
        "DER",
        "-print_certs",
        "-noout",
        "-in",
        &p7b,
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("CN = Sigil Test Issuing CA") && out.contains("CN = Sigil Test Root"),
        "{out}"
    );

    // PEM written, read back in order; one DER certificate reads back too.
    let text = pem::encode_chain(&chain).unwrap();
    assert_eq!(pem::parse_certificates(text.as_bytes()).unwrap(), chain);
    let der = chain[0].to_der().unwrap();
    assert_eq!(pem::parse_certificate(&der).unwrap(), chain[0]);
    assert!(matches!(
        pem::parse_certificate(text.as_bytes()),
        Err(PkiError::TooMany { max: 1, .. })
    ));
}
