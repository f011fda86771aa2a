//! `SignedData` built by `sigil_pki::cms` is accepted by `openssl cms -verify`,
//! detached (as JAR uses it) and encapsulated, for RSA (PKCS#1 and PSS) and ECDSA.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use const_oid::db::rfc5911;
use der::asn1::OctetString;
use der::{Decode, Encode, EncodePem};
use sigil_keys::{HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey};
use sigil_pki::cms::{self, CmsError, CmsSigner, SignedContent, SignedDataOptions, VerifyContent};
use sigil_pki::signer::KeySigner;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, profile::cabf::Root};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

fn self_signed(key: &dyn SigningKey) -> Certificate {
    let profile = Root::new(
        false,
        Name::from_str("CN=CMS Test Signer,O=Sigil Tests,C=US").unwrap(),
    )
    .unwrap();
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(7u32),
        Validity::from_now(Duration::from_secs(3600)).unwrap(),
        SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).unwrap(),
    )
    .unwrap();
    builder
        .build::<_, sigil_pki::signer::RawSignature>(&KeySigner::with_default_hash(key))
        .unwrap()
}

fn openssl_verify(
    dir: &std::path::Path,
    cert: &Certificate,
    p7: &[u8],
    content: Option<&[u8]>,
) -> bool {
    let cert_pem = dir.join("signer.pem");
    std::fs::write(&cert_pem, cert.to_pem(der::pem::LineEnding::LF).unwrap()).unwrap();
    let p7_file = dir.join("sig.p7");
    std::fs::write(&p7_file, p7).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args([
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    ])
    .arg("-in")
    .arg(&p7_file)
    .arg("-CAfile")
    .arg(&cert_pem);
    if let Some(content) = content {
        let content_file = dir.join("content.bin");
        std::fs::write(&content_file, content).unwrap();
        cmd.arg("-content").arg(&content_file);
    }
    let out = cmd.output().expect("openssl must be installed");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

#[test]
fn detached_and_encapsulated_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"Signature-Version: 1.0\r\nCreated-By: Sigil\r\n\r\n";
    for (algorithm, padding) in [
        (KeyAlgorithm::Rsa2048, RsaPadding::Pkcs1v15),
        (KeyAlgorithm::Rsa2048, RsaPadding::Pss),
        (KeyAlgorithm::EcdsaP256, RsaPadding::Pkcs1v15),
        (KeyAlgorithm::EcdsaP384, RsaPadding::Pkcs1v15),
    ] {
        let key = SoftwareKey::generate(algorithm).unwrap();
        let cert = self_signed(&key);
        for hash in HashAlgorithm::ALL {
            let signer = CmsSigner {
                key: &key,
                certificate: &cert,
                chain: &[],
                hash,
                padding,
            };
            let options = SignedDataOptions {
                signing_time: Some(SystemTime::now()),
                ..Default::default()
            };

            let digest = hash.digest(data);
            let detached = cms::sign(
                &signer,
                SignedContent::Detached {
                    content_type: rfc5911::ID_DATA,
                    digest: &digest,
                },
                &options,
            )
            .unwrap();
            assert!(
                openssl_verify(dir.path(), &cert, &detached, Some(data)),
                "{algorithm} {padding} {hash} detached"
            );
            let signers = cms::verify(&detached, VerifyContent::Detached(data)).unwrap();
            assert_eq!(signers.len(), 1);
            assert_eq!(signers[0].hash, hash);
            assert!(matches!(
                cms::verify(&detached, VerifyContent::Detached(b"tampered")),
                Err(CmsError::DigestMismatch)
            ));
            assert!(!openssl_verify(
                dir.path(),
                &cert,
                &detached,
                Some(b"tampered")
            ));

            let econtent = OctetString::new(data.to_vec()).unwrap().to_der().unwrap();
            let encapsulated = cms::sign(
                &signer,
                SignedContent::Encapsulated {
                    content_type: rfc5911::ID_DATA,
                    econtent: &econtent,
                },
                &options,
            )
            .unwrap();
            assert!(
                openssl_verify(dir.path(), &cert, &encapsulated, None),
                "{algorithm} {padding} {hash} encapsulated"
            );
            cms::verify(&encapsulated, VerifyContent::Encapsulated).unwrap();
        }
    }
}

#[test]
fn a_flipped_signature_byte_is_detected() {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = self_signed(&key);
    let digest = HashAlgorithm::Sha256.digest(b"x");
    let signer = CmsSigner {
        key: &key,
        certificate: &cert,
        chain: &[],
        hash: HashAlgorithm::Sha256,
        padding: RsaPadding::Pkcs1v15,
    };
    let mut der = cms::sign(
        &signer,
        SignedContent::Detached {
            content_type: rfc5911::ID_DATA,
            digest: &digest,
        },
        &SignedDataOptions::default(),
    )
    .unwrap();
    // The ECDSA signature value sits near the end of the structure; flip a byte inside it.
    let at = der.len() - 10;
    der[at] ^= 0x01;
    assert!(cms::verify(&der, VerifyContent::Detached(b"x")).is_err());
}

#[test]
fn wrong_digest_length_and_garbage_are_refused() {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = self_signed(&key);
    let signer = CmsSigner {
        key: &key,
        certificate: &cert,
        chain: &[],
        hash: HashAlgorithm::Sha384,
        padding: RsaPadding::Pkcs1v15,
    };
    assert!(matches!(
        cms::sign(
            &signer,
            SignedContent::Detached {
                content_type: rfc5911::ID_DATA,
                digest: &[0; 32]
            },
            &SignedDataOptions::default()
        ),
        Err(CmsError::DigestLength {
            expected: 48,
            actual: 32,
            ..
        })
    ));
    assert!(cms::verify(b"\x30\x03\x02\x01\x00", VerifyContent::Encapsulated).is_err());
    assert!(matches!(
        cms::verify(
            &vec![0u8; cms::MAX_SIGNED_DATA_LEN + 1],
            VerifyContent::Encapsulated
        ),
        Err(CmsError::TooLarge(_))
    ));
}
