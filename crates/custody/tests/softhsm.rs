//! The PKCS#11 backend against Debian's SoftHSM2 (`softhsm2`): generate on the token, sign
//! every way Sigil signs, verify with the public key, reopen from the record, refuse a wrong
//! PIN. SoftHSM2 reads `SOFTHSM2_CONF` once per process, so this file owns one token
//! directory and each test makes its own token in it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sigil_custody::pkcs11::{HsmConfig, Pkcs11Custody};
use sigil_custody::{KeyCustody, Keystore, KeystoreError, MasterKey};
use sigil_domain::{CertProfile, KeyLocation};
use sigil_keys::{
    HashAlgorithm, KeyAlgorithm, RsaPadding, SigningKey, verify_digest, verify_message,
};
use time::OffsetDateTime;

use sigil_testkit::softhsm::{MODULE, Token, in_softhsm, init_token, softhsm_dir};

const PIN: &str = "4711-test";

/// Initialises a fresh token labelled `label` with the test PIN.
fn token(label: &str) {
    init_token(
        None,
        &Token {
            label,
            pin: PIN,
            so_pin: "so-pin-1",
        },
    );
}

fn config(name: &str, label: &str, pin_file: &Path) -> HsmConfig {
    HsmConfig {
        name: name.into(),
        module: MODULE.into(),
        token_label: Some(label.into()),
        slot: None,
        pin_file: Some(pin_file.into()),
        pin_env: None,
        pin_sealed: None,
        sessions: Some(2),
    }
}

fn pin_file(pin: &str) -> PathBuf {
    let path = softhsm_dir().join(format!("pin-{}", uuid_like()));
    std::fs::write(&path, format!("{pin}\n")).unwrap();
    path
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn connect(name: &str, label: &str) -> (Pkcs11Custody, MasterKey) {
    let master = MasterKey::generate().unwrap();
    let config = config(name, label, &pin_file(PIN));
    let pin = config.read_pin(&master).unwrap();
    (Pkcs11Custody::connect(&config, pin).unwrap(), master)
}

fn check_signatures(key: &dyn SigningKey) {
    let message = b"release-1.2.3.msi";
    for hash in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let digest = hash.digest(message);
        let paddings: &[RsaPadding] = if key.algorithm() == KeyAlgorithm::Rsa3072 {
            &[RsaPadding::Pkcs1v15, RsaPadding::Pss]
        } else {
            &[RsaPadding::Pkcs1v15]
        };
        for &padding in paddings {
            let signature = key.sign_digest(hash, padding, &digest).unwrap();
            verify_digest(key.public_key_der(), hash, padding, &digest, &signature)
                .unwrap_or_else(|e| panic!("{} {hash} {padding:?}: {e}", key.algorithm()));
        }
    }
}

#[test]
fn generates_on_the_token_signs_and_reopens() {
    if !in_softhsm("generates_on_the_token_signs_and_reopens", None) {
        return;
    }
    token("gen");
    let (hsm, master) = connect("hsm1", "gen");
    let mut keystore = Keystore::new(master);
    keystore.add_backend(Arc::new(hsm.clone())).unwrap();
    let now = OffsetDateTime::now_utc();
    let mut algorithms = vec![
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];
    if hsm.offers_eddsa() {
        algorithms.push(KeyAlgorithm::Ed25519);
    }
    for algorithm in algorithms {
        let (key, record) = keystore
            .generate("hsm1", algorithm, CertProfile::CodeSigning, now)
            .unwrap();
        let KeyLocation::Hsm {
            hsm: name,
            object_id,
            label,
        } = &record.location
        else {
            panic!("not an HSM record: {record:?}");
        };
        assert_eq!(name, "hsm1");
        assert_eq!(object_id.as_slice(), record.id.0.as_bytes());
        assert_eq!(label, &format!("sigil-{}", record.id));
        assert_eq!(record.public_key_der, key.public_key_der());
        if algorithm == KeyAlgorithm::Ed25519 {
            let signature = key
                .sign_message(HashAlgorithm::Sha256, RsaPadding::Pkcs1v15, b"m")
                .unwrap();
            verify_message(
                key.public_key_der(),
                HashAlgorithm::Sha256,
                RsaPadding::Pkcs1v15,
                b"m",
                &signature,
            )
            .unwrap();
        } else {
            check_signatures(key.as_ref());
        }
        // Reopened from its record alone (no cache), it is the same key.
        let reopened = keystore.open(&record).unwrap();
        assert_eq!(reopened.public_key_der(), key.public_key_der());
        if algorithm != KeyAlgorithm::Ed25519 {
            check_signatures(reopened.as_ref());
        }
        // Never exportable.
        assert!(matches!(
            keystore.open_exportable(&record),
            Err(KeystoreError::NotExportable { .. })
        ));
    }
}

#[test]
fn a_record_for_another_token_or_key_is_refused() {
    if !in_softhsm("a_record_for_another_token_or_key_is_refused", None) {
        return;
    }
    token("rec-a");
    token("rec-b");
    let (a, master) = connect("hsm-a", "rec-a");
    let (b, _) = connect("hsm-a", "rec-b");
    let id = sigil_domain::KeyId::generate(&mut rand::rng());
    let (key, location) = a.generate(id, KeyAlgorithm::EcdsaP256).unwrap();
    let record = sigil_domain::SealedKey {
        id,
        algorithm: "ecdsa-p256".into(),
        purpose: CertProfile::CodeSigning,
        public_key_der: key.public_key_der().to_vec(),
        location,
        created: OffsetDateTime::now_utc(),
    };
    a.open(&record).unwrap();
    // Same HSM name, but the configured token is another one: the key is not there.
    let error = b.open(&record).err().unwrap().to_string();
    assert!(error.contains("is not on this token"), "{error}");
    // A record whose public key differs from the token's object is refused.
    let mut tampered = record.clone();
    tampered.public_key_der = sigil_keys::SoftwareKey::generate(KeyAlgorithm::EcdsaP256)
        .unwrap()
        .public_key_der()
        .to_vec();
    let error = a.open(&tampered).err().unwrap().to_string();
    assert!(
        error.contains("not the public key Sigil recorded"),
        "{error}"
    );
    drop(master);
}

#[test]
fn a_wrong_pin_or_a_missing_token_stops_with_a_clear_error() {
    if !in_softhsm(
        "a_wrong_pin_or_a_missing_token_stops_with_a_clear_error",
        None,
    ) {
        return;
    }
    token("pin");
    let master = MasterKey::generate().unwrap();
    let wrong = config("hsm1", "pin", &pin_file("0000-wrong"));
    let error = Pkcs11Custody::connect(&wrong, wrong.read_pin(&master).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("HSM \"hsm1\""), "{error}");
    assert!(error.contains("refused the user PIN"), "{error}");

    let absent = config("hsm1", "no-such-token", &pin_file(PIN));
    let error = Pkcs11Custody::connect(&absent, absent.read_pin(&master).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("no token labelled \"no-such-token\""),
        "{error}"
    );

    let mut bad_module = config("hsm1", "pin", &pin_file(PIN));
    bad_module.module = "/nonexistent/libpkcs11.so".into();
    let error = Pkcs11Custody::connect(&bad_module, bad_module.read_pin(&master).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("cannot load or initialise the PKCS#11 module"),
        "{error}"
    );
}
