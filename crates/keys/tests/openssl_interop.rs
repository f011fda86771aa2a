//! Signatures made by Sigil's software keys are checked by OpenSSL, and keys
//! are exchanged with OpenSSL as PKCS#8, so the two agree byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use sigil_keys::{
    HashAlgorithm, KeyAlgorithm, KeyError, RsaPadding, SigningKey, SoftwareKey, VerifyingKey,
    inspect_public_key, verify_digest, verify_message,
};

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (Debian package openssl)")
}

fn openssl_verifies(
    dir: &Path,
    key: &SoftwareKey,
    hash: HashAlgorithm,
    padding: RsaPadding,
    digest: &[u8],
    sig: &[u8],
) -> bool {
    let pubkey = dir.join("pub.der");
    let digest_file = dir.join("digest.bin");
    let sig_file = dir.join("sig.bin");
    std::fs::write(&pubkey, key.public_key_der()).unwrap();
    std::fs::write(&digest_file, digest).unwrap();
    std::fs::write(&sig_file, sig).unwrap();
    let md = format!("digest:{}", hash.as_str().to_lowercase());
    let mut args = vec![
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        pubkey.to_str().unwrap(),
        "-in",
        digest_file.to_str().unwrap(),
        "-sigfile",
        sig_file.to_str().unwrap(),
        "-pkeyopt",
        &md,
    ];
    if key.algorithm().family() == sigil_keys::KeyFamily::Rsa && padding == RsaPadding::Pss {
        args.extend([
            "-pkeyopt",
            "rsa_padding_mode:pss",
            "-pkeyopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    let out = openssl(&args);
    out.status.success()
}

#[test]
fn openssl_verifies_every_algorithm_hash_and_padding() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ] {
        let key = SoftwareKey::generate(algorithm).unwrap();
        // One parsed key for every hash and padding, as the server keeps it per chain.
        let verifying = VerifyingKey::from_spki(key.public_key_der()).unwrap();
        let stranger = SoftwareKey::generate(algorithm).unwrap();
        let stranger = VerifyingKey::from_spki(stranger.public_key_der()).unwrap();
        for hash in HashAlgorithm::ALL {
            for padding in [RsaPadding::Pkcs1v15, RsaPadding::Pss] {
                let digest = hash.digest(b"the artifact");
                let sig = key.sign_digest(hash, padding, &digest).unwrap();
                verify_digest(key.public_key_der(), hash, padding, &digest, &sig).unwrap();
                verifying
                    .verify_digest(hash, padding, &digest, &sig)
                    .unwrap();
                assert!(matches!(
                    stranger.verify_digest(hash, padding, &digest, &sig),
                    Err(KeyError::BadSignature)
                ));
                assert!(
                    openssl_verifies(dir.path(), &key, hash, padding, &digest, &sig),
                    "openssl rejected {algorithm} {hash} {padding}"
                );
                // A different digest must not verify, by us or by openssl.
                let other = hash.digest(b"another artifact");
                assert!(matches!(
                    verify_digest(key.public_key_der(), hash, padding, &other, &sig),
                    Err(KeyError::BadSignature)
                ));
                assert!(matches!(
                    verifying.verify_digest(hash, padding, &other, &sig),
                    Err(KeyError::BadSignature)
                ));
                assert!(!openssl_verifies(
                    dir.path(),
                    &key,
                    hash,
                    padding,
                    &other,
                    &sig
                ));
            }
        }
    }
}

#[test]
fn rsa_3072_and_4096_keys_generate_and_sign() {
    for algorithm in [KeyAlgorithm::Rsa3072, KeyAlgorithm::Rsa4096] {
        let key = SoftwareKey::generate(algorithm).unwrap();
        assert_eq!(
            inspect_public_key(key.public_key_der()).unwrap().algorithm,
            algorithm
        );
        let sig = key
            .sign_message(HashAlgorithm::Sha384, RsaPadding::Pkcs1v15, b"m")
            .unwrap();
        assert_eq!(
            sig.len() * 8,
            if algorithm == KeyAlgorithm::Rsa3072 {
                3072
            } else {
                4096
            }
        );
        verify_message(
            key.public_key_der(),
            HashAlgorithm::Sha384,
            RsaPadding::Pkcs1v15,
            b"m",
            &sig,
        )
        .unwrap();
    }
}

#[test]
fn ed25519_signs_messages_and_refuses_digests() {
    let key = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let sig = key
        .sign_message(
            HashAlgorithm::Sha512,
            RsaPadding::Pkcs1v15,
            b"small payload",
        )
        .unwrap();
    assert_eq!(sig.len(), 64);
    verify_message(
        key.public_key_der(),
        HashAlgorithm::Sha512,
        RsaPadding::Pkcs1v15,
        b"small payload",
        &sig,
    )
    .unwrap();
    assert!(matches!(
        key.sign_digest(HashAlgorithm::Sha256, RsaPadding::Pkcs1v15, &[0; 32]),
        Err(KeyError::DigestSigningUnsupported(KeyAlgorithm::Ed25519))
    ));
    // openssl checks the raw Ed25519 signature too.
    let dir = tempfile::tempdir().unwrap();
    let (pubkey, msg, sigf) = (
        dir.path().join("p.der"),
        dir.path().join("m"),
        dir.path().join("s"),
    );
    std::fs::write(&pubkey, key.public_key_der()).unwrap();
    std::fs::write(&msg, b"small payload").unwrap();
    std::fs::write(&sigf, &sig).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        pubkey.to_str().unwrap(),
        "-rawin",
        "-in",
        msg.to_str().unwrap(),
        "-sigfile",
        sigf.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn pkcs8_round_trips_through_openssl() {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        let key = SoftwareKey::generate(algorithm).unwrap();
        let p8 = dir.path().join("key.p8");
        std::fs::write(&p8, key.to_pkcs8_der().as_slice()).unwrap();
        // openssl reads our PKCS#8 and derives the same public key.
        let out = openssl(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            p8.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert!(out.status.success());
        assert_eq!(out.stdout, key.public_key_der(), "{algorithm}");
        // And a key openssl wrote loads back with the same algorithm.
        let reloaded = SoftwareKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        assert_eq!(reloaded.algorithm(), algorithm);
        assert_eq!(reloaded.public_key_der(), key.public_key_der());
    }
    let pem = dir.path().join("ossl.pem");
    let out = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        pem.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let der = openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pem.to_str().unwrap(),
        "-outform",
        "DER",
    ])
    .stdout;
    assert_eq!(
        SoftwareKey::from_pkcs8_der(&der).unwrap().algorithm(),
        KeyAlgorithm::EcdsaP384
    );
}

#[test]
fn garbage_and_unsupported_keys_are_refused() {
    assert!(matches!(
        SoftwareKey::from_pkcs8_der(b"not a key"),
        Err(KeyError::InvalidPrivateKey(_))
    ));
    assert!(inspect_public_key(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("small.pem");
    assert!(
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            pem.to_str().unwrap()
        ])
        .status
        .success()
    );
    let der = openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pem.to_str().unwrap(),
        "-outform",
        "DER",
    ])
    .stdout;
    assert!(matches!(
        SoftwareKey::from_pkcs8_der(&der),
        Err(KeyError::InvalidPrivateKey(_))
    ));
    let pubder = openssl(&[
        "pkey",
        "-in",
        pem.to_str().unwrap(),
        "-pubout",
        "-outform",
        "DER",
    ])
    .stdout;
    assert!(matches!(
        inspect_public_key(&pubder),
        Err(KeyError::InvalidPublicKey(_))
    ));
}

#[test]
fn wrong_digest_length_is_a_typed_error() {
    let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
    assert!(matches!(
        key.sign_digest(HashAlgorithm::Sha384, RsaPadding::Pkcs1v15, &[0; 32]),
        Err(KeyError::DigestLength {
            expected: 48,
            actual: 32,
            ..
        })
    ));
}
