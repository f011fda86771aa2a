//! The server side: a signature block made by `sign_signature_file_digest`
//! (on `sigil_pki::cms`, with a `sigil-keys` software key) from nothing but
//! the `.SF` digest, written into the JAR by the client side, is accepted by
//! `jarsigner -verify -strict`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;
use std::time::SystemTime;

use common::{KeyType, Pki, assert_jarsigner_accepts, build_app_jar, run};
use der::DecodePem;
use sigil_jar::{HashAlgorithm, SignOptions, SignatureBlockKind, SignerName};
use sigil_keys::{KeyAlgorithm, RsaPadding, SigningKey, SoftwareKey};
use sigil_pki::cms::CmsSigner;
use x509_cert::Certificate;

fn pem_key(dir: &std::path::Path, key: &SoftwareKey, name: &str) -> std::path::PathBuf {
    let der = dir.join(format!("{name}.der"));
    let pem = dir.join(format!("{name}.key"));
    std::fs::write(&der, key.to_pkcs8_der().as_slice()).unwrap();
    run(Command::new("openssl")
        .args(["pkey", "-inform", "DER"])
        .arg("-in")
        .arg(&der)
        .arg("-out")
        .arg(&pem));
    pem
}

#[test]
fn server_block_from_sf_digest_verifies_with_jarsigner() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let jar = build_app_jar(dir);
    let cases = [
        (
            KeyType::Rsa2048,
            KeyAlgorithm::Rsa2048,
            HashAlgorithm::Sha256,
            SignatureBlockKind::Rsa,
        ),
        (
            KeyType::Rsa2048,
            KeyAlgorithm::Rsa2048,
            HashAlgorithm::Sha512,
            SignatureBlockKind::Rsa,
        ),
        (
            KeyType::EcP256,
            KeyAlgorithm::EcdsaP256,
            HashAlgorithm::Sha256,
            SignatureBlockKind::Ec,
        ),
        (
            KeyType::EcP384,
            KeyAlgorithm::EcdsaP384,
            HashAlgorithm::Sha384,
            SignatureBlockKind::Ec,
        ),
    ];
    for (i, (ca_type, key_alg, md, kind)) in cases.into_iter().enumerate() {
        let pki_dir = dir.join(format!("case{i}"));
        let pki = Pki::new(&pki_dir, ca_type);
        let key = SoftwareKey::generate(key_alg).unwrap();
        let cert_path = pki.issue_for_key(&pem_key(&pki_dir, &key, "policy"), "Sigil Policy Key");
        let cert = Certificate::from_pem(std::fs::read(&cert_path).unwrap()).unwrap();
        let root = Certificate::from_pem(std::fs::read(&pki.root).unwrap()).unwrap();

        // Client: compute manifest and .SF; only the digest goes to the server.
        let options = SignOptions::new(SignerName::from_alias("release policy").unwrap(), md);
        let prepared = sigil_jar::prepare(&jar, &options).unwrap();
        let digest = prepared.signature_file_digest();
        assert_eq!(digest.len(), md.digest_len());

        // Server: detached PKCS#7 over the .SF, from its digest alone.
        let signer = CmsSigner {
            key: &key as &dyn SigningKey,
            certificate: &cert,
            chain: std::slice::from_ref(&root),
            hash: md,
            padding: RsaPadding::Pkcs1v15,
        };
        let block =
            sigil_jar::sign_signature_file_digest(&signer, &digest, SystemTime::now()).unwrap();
        assert_eq!(block.kind, kind);

        // Client: write the signed JAR.
        let out = pki_dir.join("signed.jar");
        prepared
            .write_signed(&jar, &block.der, block.kind, &out)
            .unwrap();
        let stdout = assert_jarsigner_accepts(&out, &pki.truststore);
        assert!(stdout.contains("CN=Sigil Policy Key"), "{stdout}");
        let a = sigil_jar::Archive::open(&out).unwrap();
        assert!(
            a.entry(&format!("META-INF/RELEASE_.{}", kind.extension()))
                .is_some()
        );
        assert!(sigil_jar::verify(&out).unwrap().is_intact());
    }
}

#[test]
fn server_refuses_a_digest_of_the_wrong_length() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(tmp.path(), KeyType::EcP256);
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let cert_path = pki.issue_for_key(&pem_key(tmp.path(), &key, "k"), "K");
    let cert = Certificate::from_pem(std::fs::read(&cert_path).unwrap()).unwrap();
    let signer = CmsSigner {
        key: &key as &dyn SigningKey,
        certificate: &cert,
        chain: &[],
        hash: HashAlgorithm::Sha384,
        padding: RsaPadding::Pkcs1v15,
    };
    let err =
        sigil_jar::sign_signature_file_digest(&signer, &[0u8; 32], SystemTime::now()).unwrap_err();
    assert!(matches!(err, sigil_jar::JarError::Cms(_)), "{err}");
}
