//! Property tests: the parser, the digest and the verifier never panic on
//! arbitrary or mutated bytes, and a layout that parses always hashes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::Cursor;
use std::sync::OnceLock;

use common::{TestPki, testdata};
use proptest::prelude::*;
use sigil_authenticode::{
    EmbedMode, PeLayout, embed_signature, image_digest, sign_image_digest, verify,
};
use sigil_keys::HashAlgorithm;

fn tiny64() -> Vec<u8> {
    fs::read(testdata().join("tiny64.exe")).unwrap()
}

/// tiny64.exe signed twice (primary + nested) by Sigil, made once.
fn signed_tiny64() -> &'static [u8] {
    static SIGNED: OnceLock<Vec<u8>> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new(dir.path(), "proptest");
        let file = dir.path().join("tiny64.exe");
        fs::write(&file, tiny64()).unwrap();
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
            let digest = image_digest(&mut Cursor::new(tiny64()), hash).unwrap();
            let pkcs7 =
                sign_image_digest(&pki.signer(hash), &digest.digest, Some("p"), None).unwrap();
            embed_signature(&file, &file, &pkcs7, EmbedMode::Append).unwrap();
        }
        let bytes = fs::read(&file).unwrap();
        assert!(verify(&mut Cursor::new(&bytes)).unwrap().is_valid());
        bytes
    })
}

/// Parse, hash and verify; a layout that parses must hash.
fn exercise(bytes: &[u8]) {
    let parsed = PeLayout::parse_bytes(bytes);
    let digest = image_digest(&mut Cursor::new(bytes), HashAlgorithm::Sha256);
    assert_eq!(
        parsed.is_ok(),
        digest.is_ok(),
        "{:?} / {:?}",
        parsed,
        digest.err()
    );
    let _ = verify(&mut Cursor::new(bytes));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_headers_never_panic(
        mutations in proptest::collection::vec((0usize..1024, any::<u8>()), 1..8),
    ) {
        let mut bytes = tiny64();
        for (at, value) in mutations {
            bytes[at] = value;
        }
        exercise(&bytes);
    }

    #[test]
    fn mutated_little_endian_fields_never_panic(
        at in 0usize..1024,
        value in prop_oneof![Just(0u32), Just(u32::MAX), Just(0x8000_0000), any::<u32>()],
    ) {
        let mut bytes = tiny64();
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        exercise(&bytes);
    }

    #[test]
    fn truncations_never_panic(len in 0usize..3584) {
        exercise(&tiny64()[..len]);
    }

    #[test]
    fn mutated_signed_files_never_panic(
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = signed_tiny64().to_vec();
        for (at, value) in mutations {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        exercise(&bytes);
    }
}
