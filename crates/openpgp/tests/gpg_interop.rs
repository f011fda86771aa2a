//! GnuPG judges what this crate writes: the transferable public key of each key type is
//! imported into a throw-away GNUPGHOME, the detached signature (armored and binary) is
//! accepted by `gpg --verify`, and one changed byte of the file is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sigil_testkit::{gpg, output_text as text};

use sigil_keys::{HashAlgorithm, Hasher, KeyAlgorithm, SigningKey, SoftwareKey};
use sigil_openpgp::{ArmorKind, PublicKey, SignatureTemplate, armor, transferable_public_key};

#[test]
fn gpg_imports_the_key_and_verifies_detached_signatures() {
    let cases = [
        (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
        (KeyAlgorithm::Rsa3072, HashAlgorithm::Sha512),
        (KeyAlgorithm::EcdsaP256, HashAlgorithm::Sha256),
        (KeyAlgorithm::EcdsaP384, HashAlgorithm::Sha384),
        (KeyAlgorithm::Ed25519, HashAlgorithm::Sha256),
    ];
    for (algorithm, hash) in cases {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("gnupg");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        let key = SoftwareKey::generate(algorithm).unwrap();
        let public = PublicKey::from_spki(key.public_key_der(), 1_700_000_000).unwrap();
        let exported = transferable_public_key(
            &key,
            &public,
            "Sigil test <test@example.com>",
            hash,
            1_700_000_001,
        )
        .unwrap();
        let key_file = dir.path().join("key.asc");
        std::fs::write(&key_file, armor(ArmorKind::PublicKey, &exported)).unwrap();
        let out = gpg(&home, &["--import", key_file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{algorithm:?}: import: {}",
            text(&out)
        );
        let fingerprint = hex(&public.fingerprint());
        let listed = gpg(&home, &["--with-colons", "--list-keys"]);
        assert!(
            text(&listed).contains(&fingerprint),
            "{algorithm:?}: {}",
            text(&listed)
        );

        let data = dir.path().join("release.tar");
        std::fs::write(&data, b"release contents\n".repeat(1000)).unwrap();
        let template = SignatureTemplate::binary(&public, hash, 1_700_000_100);
        let mut hasher = Hasher::new(hash);
        hasher.update(&std::fs::read(&data).unwrap());
        template.hash_trailer(&mut hasher);
        let packet = template.sign(&key, &public, &hasher.finalize()).unwrap();
        let asc = dir.path().join("release.tar.asc");
        let sig = dir.path().join("release.tar.sig");
        std::fs::write(&asc, armor(ArmorKind::Signature, &packet)).unwrap();
        std::fs::write(&sig, &packet).unwrap();
        for signature in [&asc, &sig] {
            let out = gpg(
                &home,
                &[
                    "--verify",
                    signature.to_str().unwrap(),
                    data.to_str().unwrap(),
                ],
            );
            let t = text(&out);
            assert!(out.status.success(), "{algorithm:?}: verify: {t}");
            assert!(t.contains(&format!("VALIDSIG {fingerprint}")), "{t}");
        }
        let mut bytes = std::fs::read(&data).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&data, bytes).unwrap();
        let out = gpg(
            &home,
            &["--verify", asc.to_str().unwrap(), data.to_str().unwrap()],
        );
        assert!(
            !out.status.success(),
            "{algorithm:?}: tampered file verified"
        );
        assert!(text(&out).contains("BADSIG"), "{}", text(&out));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
