//! A key made by `openssl`, read from the PKCS#12 file `openssl pkcs12 -export` wrote, moved
//! into SoftHSM2 as a sensitive, non-extractable token object: signatures made on the token
//! verify (with `openssl dgst`) against the original certificate, the record carries no key
//! bytes, the key reopens from its record alone, and it cannot be exported again.
//! SoftHSM2 reads `SOFTHSM2_CONF` once per process: each test re-runs itself in a child
//! process with its own token directory (as `tests/softhsm.rs` does).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigil_custody::pkcs11::{HsmConfig, Pkcs11Custody};
use sigil_custody::{Keystore, KeystoreError, MasterKey};
use sigil_domain::{CertProfile, KeyLocation};
use sigil_keys::{HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey};
use sigil_testkit::run_ok;
use time::OffsetDateTime;

use sigil_testkit::softhsm::{MODULE, Token, in_softhsm, init_token, softhsm_dir};

const PIN: &str = "4711-import";

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A token labelled `label` and a keystore with it as backend `hsm1`.
fn keystore(label: &str) -> Keystore {
    init_token(
        None,
        &Token {
            label,
            pin: PIN,
            so_pin: "so-pin-2",
        },
    );
    let pin_file = softhsm_dir().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let config = HsmConfig {
        name: "hsm1".into(),
        module: MODULE.into(),
        token_label: Some(label.into()),
        slot: None,
        pin_file: Some(pin_file),
        pin_env: None,
        pin_sealed: None,
        sessions: Some(2),
    };
    let master = MasterKey::generate().unwrap();
    let pin = config.read_pin(&master).unwrap();
    let hsm = Pkcs11Custody::connect(&config, pin).unwrap();
    let mut keystore = Keystore::new(master);
    keystore.add_backend(Arc::new(hsm)).unwrap();
    keystore
}

/// openssl: a key of `keygen` arguments, a self-signed code-signing certificate for it, and
/// the PKCS#12 file of both; returns (p12 bytes, certificate path).
fn openssl_p12(dir: &Path, name: &str, keygen: &[&str]) -> (Vec<u8>, PathBuf) {
    let (key, cert, p12) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.p12")),
    );
    let mut args = vec!["req", "-x509", "-nodes", "-days", "30", "-subj"];
    let subject = format!("/CN={name}");
    args.push(&subject);
    args.extend_from_slice(keygen);
    args.extend_from_slice(&[
        "-keyout",
        p(&key),
        "-out",
        p(&cert),
        "-addext",
        "extendedKeyUsage=codeSigning",
    ]);
    run_ok("openssl", &args);
    run_ok(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            p(&key),
            "-in",
            p(&cert),
            "-passout",
            "pass:import-test-password",
            "-out",
            p(&p12),
        ],
    );
    (std::fs::read(&p12).unwrap(), cert)
}

/// `openssl dgst -verify` of a signature over `message` with the certificate's public key.
fn openssl_verifies(dir: &Path, cert: &Path, hash: &str, message: &[u8], signature: &[u8]) {
    let public = dir.join("verify-pub.pem");
    std::fs::write(
        &public,
        run_ok("openssl", &["x509", "-in", p(cert), "-pubkey", "-noout"]),
    )
    .unwrap();
    let (msg, sig) = (dir.join("verify.msg"), dir.join("verify.sig"));
    std::fs::write(&msg, message).unwrap();
    std::fs::write(&sig, signature).unwrap();
    let out = run_ok(
        "openssl",
        &[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            p(&public),
            "-signature",
            p(&sig),
            p(&msg),
        ],
    );
    assert!(out.contains("Verified OK"), "{out}");
}

#[test]
fn an_openssl_pkcs12_key_moves_into_softhsm_and_signs_for_its_certificate() {
    if !in_softhsm(
        "an_openssl_pkcs12_key_moves_into_softhsm_and_signs_for_its_certificate",
        None,
    ) {
        return;
    }
    let dir = softhsm_dir();
    let keystore = keystore("import");
    let now = OffsetDateTime::now_utc();
    for (name, keygen, algorithm) in [
        ("rsa", &["-newkey", "rsa:3072"][..], KeyAlgorithm::Rsa3072),
        (
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
            KeyAlgorithm::EcdsaP256,
        ),
        (
            "p384",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"][..],
            KeyAlgorithm::EcdsaP384,
        ),
    ] {
        let (p12, cert) = openssl_p12(&dir, name, keygen);
        let contents = sigil_pki::pkcs12::import(&p12, "import-test-password").unwrap();
        let (key, record) = keystore
            .import("hsm1", &contents.key, CertProfile::CodeSigning, now)
            .unwrap();
        assert_eq!(key.algorithm(), algorithm);
        let KeyLocation::Hsm {
            hsm,
            object_id,
            label,
        } = &record.location
        else {
            panic!("not an HSM record: {record:?}");
        };
        assert_eq!(hsm, "hsm1");
        assert_eq!(object_id.as_slice(), record.id.0.as_bytes());
        assert_eq!(label, &format!("sigil-{}", record.id));
        assert_eq!(record.public_key_der, contents.key.public_key_der());

        // Signed on the token, verified by openssl with the original certificate's key;
        // then the same after reopening the record alone (no cache).
        let message = format!("artifact signed with the imported {name} key").into_bytes();
        let digest = HashAlgorithm::Sha256.digest(&message);
        let signature = key
            .sign_digest(HashAlgorithm::Sha256, RsaPadding::Pkcs1v15, &digest)
            .unwrap();
        openssl_verifies(&dir, &cert, "sha256", &message, &signature);
        let reopened = keystore.open(&record).unwrap();
        let digest = HashAlgorithm::Sha384.digest(&message);
        let signature = reopened
            .sign_digest(HashAlgorithm::Sha384, RsaPadding::Pkcs1v15, &digest)
            .unwrap();
        openssl_verifies(&dir, &cert, "sha384", &message, &signature);

        // Never exported again, whatever the settings say.
        assert!(matches!(
            keystore.open_exportable(&record),
            Err(KeystoreError::NotExportable { .. })
        ));
    }

    // On the token: the imported private keys are sensitive and not extractable.
    let listing = run_ok(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            "import",
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
        ],
    );
    assert_eq!(listing.matches("sigil-").count(), 3, "{listing}");
    let objects: Vec<&str> = listing.split("Private Key Object").skip(1).collect();
    assert_eq!(objects.len(), 3, "{listing}");
    for object in objects {
        assert!(object.contains("label:      sigil-"), "{object}");
        let access = object.lines().find(|l| l.contains("Access:")).unwrap();
        assert!(access.contains("sensitive"), "{object}");
        assert!(!access.contains("extractable"), "{object}");
        let usage = object.lines().find(|l| l.contains("Usage:")).unwrap();
        assert_eq!(usage.trim(), "Usage:      sign", "{object}");
    }
}
