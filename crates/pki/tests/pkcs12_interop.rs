//! PKCS#12 files written by `sigil_pki::pkcs12` open in `openssl pkcs12` and
//! `keytool` with the right password and not with a wrong one; files written
//! by `openssl pkcs12 -export` and `keytool -genkeypair` read back.
//!
//! One export (600,000 iterations: seconds in a debug build) is shared by the tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::process::Command;
use std::sync::OnceLock;

use common::{leaf, test_pki, write, write_cert, write_certs, write_key};
use der::Encode;
use sigil_keys::{KeyAlgorithm, SigningKey, SoftwareKey};
use sigil_pki::Profile;
use sigil_pki::pkcs12::{self, Pkcs12Error};
use sigil_pki::x509_cert::Certificate;

const PASSWORD: &str = "correct horse battery staple";
const ALIAS: &str = "sigil-code-signer";

struct Exported {
    key: SoftwareKey,
    leaf: Certificate,
    chain: Vec<Certificate>,
    p12: Vec<u8>,
}

fn exported() -> &'static Exported {
    static EXPORTED: OnceLock<Exported> = OnceLock::new();
    EXPORTED.get_or_init(|| {
        let pki = test_pki(KeyAlgorithm::EcdsaP256);
        let (key, leaf) = leaf(
            &pki.inter,
            &pki.inter_key,
            Profile::CodeSigning,
            KeyAlgorithm::Rsa2048,
            "Release Signing",
            &[],
        );
        // The chain in the wrong order: the reader puts it back in issuer order.
        let chain = vec![
            pki.root.certificate().clone(),
            pki.inter.certificate().clone(),
        ];
        let p12 = pkcs12::export(&key, &leaf, &chain, ALIAS, PASSWORD).unwrap();
        Exported {
            key,
            leaf,
            chain,
            p12,
        }
    })
}

/// Runs a command with the password in the environment variable `P12_PASS`.
fn run(program: &str, args: &[&str], password: &str) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .env("P12_PASS", password)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn export_opens_in_openssl_with_the_right_password_only() {
    let exported = exported();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "signer.p12", &exported.p12);
    let args = [
        "pkcs12",
        "-info",
        "-nodes",
        "-passin",
        "env:P12_PASS",
        "-in",
        &file,
    ];

    let (ok, out) = run("openssl", &args, PASSWORD);
    assert!(ok, "{out}");
    for line in [
        "MAC: sha256, Iteration 600000",
        "MAC length: 32, salt length: 16",
        "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256",
        "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256",
        "friendlyName: sigil-code-signer",
        "localKeyID:",
        "-----BEGIN PRIVATE KEY-----",
        "subject=O = Sigil Tests, CN = Release Signing",
        "subject=C = DE, O = Sigil Tests, CN = Sigil Test Issuing CA",
        "subject=C = DE, O = Sigil Tests, CN = Sigil Test Root",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(out.matches("Certificate bag").count(), 3, "{out}");

    // The private key openssl decrypted is the key that was exported.
    let (ok, key_pem) = run(
        "openssl",
        &[
            "pkcs12",
            "-nocerts",
            "-nodes",
            "-passin",
            "env:P12_PASS",
            "-in",
            &file,
        ],
        PASSWORD,
    );
    assert!(ok, "{key_pem}");
    let key_file = write(dir.path(), "key.pem", &key_pem);
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in", &key_file])
        .output()
        .unwrap();
    assert!(public.status.success());
    assert_eq!(public.stdout, exported.key.public_key_der());

    let (ok, out) = run("openssl", &args, "correct horse battery stapler");
    assert!(!ok && out.contains("Mac verify error"), "{out}");
}

#[test]
fn export_opens_in_keytool_with_the_right_password_only() {
    let exported = exported();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "signer.p12", &exported.p12);
    let args = [
        "-list",
        "-v",
        "-storetype",
        "PKCS12",
        "-keystore",
        &file,
        "-storepass:env",
        "P12_PASS",
    ];
    let (ok, out) = run("keytool", &args, PASSWORD);
    assert!(ok, "{out}");
    for line in [
        "Your keystore contains 1 entry",
        "Alias name: sigil-code-signer",
        "Entry type: PrivateKeyEntry",
        "Certificate chain length: 3",
        "Owner: CN=Release Signing, O=Sigil Tests",
        "Owner: CN=Sigil Test Root, O=Sigil Tests, C=DE",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let (ok, out) = run("keytool", &args, "not the password at all");
    assert!(!ok && out.contains("password was incorrect"), "{out}");
}

#[test]
fn export_reads_back_and_a_wrong_password_is_a_distinct_error() {
    let exported = exported();
    let contents = pkcs12::import(&exported.p12, PASSWORD).unwrap();
    assert_eq!(contents.key.public_key_der(), exported.key.public_key_der());
    assert_eq!(*contents.key.to_pkcs8_der(), *exported.key.to_pkcs8_der());
    assert_eq!(contents.certificate, exported.leaf);
    // Issuer order: intermediate, then root.
    assert_eq!(
        contents.chain,
        vec![exported.chain[1].clone(), exported.chain[0].clone()]
    );
    assert_eq!(contents.friendly_name.as_deref(), Some(ALIAS));

    let err = pkcs12::import(&exported.p12, "Correct horse battery staple").unwrap_err();
    assert!(matches!(err, Pkcs12Error::WrongPassword), "{err}");
    assert_eq!(err.to_string(), "wrong password or corrupted file");
}

#[test]
fn export_policy() {
    let exported = exported();
    let err = pkcs12::export(&exported.key, &exported.leaf, &[], ALIAS, "short-pass").unwrap_err();
    assert!(matches!(err, Pkcs12Error::PasswordTooShort), "{err}");
    let err = pkcs12::export(&exported.key, &exported.leaf, &[], ALIAS, "").unwrap_err();
    assert!(matches!(err, Pkcs12Error::PasswordTooShort), "{err}");
    let other = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    let err = pkcs12::export(&other, &exported.leaf, &[], ALIAS, PASSWORD).unwrap_err();
    assert!(matches!(err, Pkcs12Error::KeyMismatch), "{err}");
    let err = pkcs12::export(&exported.key, &exported.leaf, &[], "", PASSWORD).unwrap_err();
    assert!(matches!(err, Pkcs12Error::InvalidFriendlyName(_)), "{err}");
}

#[test]
fn openssl_exports_read_back() {
    let pki = test_pki(KeyAlgorithm::EcdsaP384);
    let (key, client) = leaf(
        &pki.inter,
        &pki.inter_key,
        Profile::TlsClient,
        KeyAlgorithm::EcdsaP256,
        "jenkins",
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_file = write_key(d, "client.key", &key);
    let cert_file = write_cert(d, "client.pem", &client);
    let chain_file = write_certs(
        d,
        "chain.pem",
        &[
            pki.inter.certificate().clone(),
            pki.root.certificate().clone(),
        ],
    );
    let password = "pw from the client profile";
    let export = |name: &str, extra: &[&str]| {
        let out = d.join(name).to_str().unwrap().to_owned();
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            &key_file,
            "-in",
            &cert_file,
            "-certfile",
            &chain_file,
            "-name",
            "jenkins",
            "-passout",
            "env:P12_PASS",
            "-out",
            &out,
        ];
        args.extend_from_slice(extra);
        let (ok, text) = run("openssl", &args, password);
        assert!(ok, "{text}");
        std::fs::read(&out).unwrap()
    };

    // OpenSSL 3 defaults (PBES2/AES-256-CBC, 2048 iterations, SHA-256 MAC), and unencrypted bags.
    for p12 in [
        export("default.p12", &[]),
        export("plain.p12", &["-keypbe", "NONE", "-certpbe", "NONE"]),
    ] {
        let contents = pkcs12::import(&p12, password).unwrap();
        assert_eq!(contents.key.public_key_der(), key.public_key_der());
        assert_eq!(contents.certificate, client);
        assert_eq!(
            contents.chain,
            vec![
                pki.inter.certificate().clone(),
                pki.root.certificate().clone()
            ]
        );
        assert_eq!(contents.friendly_name.as_deref(), Some("jenkins"));
        assert!(matches!(
            pkcs12::import(&p12, "wrong"),
            Err(Pkcs12Error::WrongPassword)
        ));
        let parsed = pkcs12::Pkcs12File::parse(&p12).unwrap();
        assert!(parsed.kdf_iterations() <= 3 * 2048);
    }

    // Legacy files (SHA-1 MAC, RC2/3DES) are refused as unsupported, not as a wrong password.
    let legacy = export("legacy.p12", &["-legacy"]);
    let err = pkcs12::import(&legacy, password).unwrap_err();
    assert!(
        matches!(err, Pkcs12Error::UnsupportedAlgorithm { what: "MAC", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("-legacy"), "{err}");
    // A SHA-256 MAC over legacy encryption is refused for the encryption.
    let legacy_enc = export("legacy-enc.p12", &["-legacy", "-macalg", "sha256"]);
    let err = pkcs12::import(&legacy_enc, password).unwrap_err();
    assert!(
        matches!(
            err,
            Pkcs12Error::UnsupportedAlgorithm {
                what: "encryption",
                ..
            }
        ),
        "{err}"
    );
    // No MAC at all.
    let no_mac = export("nomac.p12", &["-nomac"]);
    assert!(matches!(
        pkcs12::import(&no_mac, password),
        Err(Pkcs12Error::NoMac)
    ));
}

#[test]
fn keytool_keystore_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keytool.p12");
    let file = file.to_str().unwrap();
    let password = "keytool store password";
    let (ok, out) = run(
        "keytool",
        &[
            "-genkeypair",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
            "-alias",
            "build-agent",
            "-dname",
            "CN=build-agent,O=Sigil Tests",
            "-validity",
            "2",
            "-storetype",
            "PKCS12",
            "-keystore",
            file,
            "-storepass:env",
            "P12_PASS",
        ],
        password,
    );
    assert!(ok, "{out}");
    let p12 = std::fs::read(file).unwrap();
    let contents = pkcs12::import(&p12, password).unwrap();
    assert_eq!(contents.friendly_name.as_deref(), Some("build-agent"));
    assert_eq!(
        contents.certificate.tbs_certificate().subject().to_string(),
        "CN=build-agent,O=Sigil Tests"
    );
    let spki = contents
        .certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    assert_eq!(
        sigil_keys::inspect_public_key(&spki).unwrap().der,
        contents.key.public_key_der()
    );
    assert!(contents.chain.is_empty());
}

#[test]
fn a_generated_password_export_is_cheap_to_open_and_opens_in_openssl_and_keytool() {
    let exported = exported();
    // 22 random letters and digits, as the quickstart generates them.
    let password = "Zq8vR2mK5tXw9LbN4cYh7P";
    let p12 = pkcs12::export_with_generated_password(
        &exported.key,
        &exported.leaf,
        &exported.chain,
        ALIAS,
        password,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "ci.p12", &p12);
    let (ok, out) = run(
        "openssl",
        &[
            "pkcs12",
            "-info",
            "-nodes",
            "-passin",
            "env:P12_PASS",
            "-in",
            &file,
        ],
        password,
    );
    assert!(ok, "{out}");
    assert!(out.contains("MAC: sha256, Iteration 10000"), "{out}");
    assert!(
        out.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000"),
        "{out}"
    );
    let (ok, out) = run(
        "keytool",
        &[
            "-list",
            "-storetype",
            "PKCS12",
            "-keystore",
            &file,
            "-storepass:env",
            "P12_PASS",
        ],
        password,
    );
    assert!(ok && out.contains("PrivateKeyEntry"), "{out}");
    let back = pkcs12::import(&p12, password).unwrap();
    assert_eq!(back.certificate, exported.leaf);

    // Only for long (generated) passwords.
    let err = pkcs12::export_with_generated_password(
        &exported.key,
        &exported.leaf,
        &[],
        ALIAS,
        "correct horse battery",
    )
    .unwrap_err();
    assert!(matches!(err, Pkcs12Error::PasswordTooShort), "{err}");
}
