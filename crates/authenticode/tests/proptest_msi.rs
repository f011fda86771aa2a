//! Property tests of the MSI reader and digest: mutated and truncated packages (made by
//! `wixl`, signed by Sigil) never panic, and a package's digest does not depend on its
//! signature stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::sync::OnceLock;

use common::TestPki;
use proptest::prelude::*;
use sigil_authenticode::{EmbedMode, Subject, msi_digest, prepare_file};
use sigil_keys::HashAlgorithm;

/// A wixl package, unsigned and signed by Sigil, made once.
fn packages() -> &'static (Vec<u8>, Vec<u8>) {
    static PACKAGES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::new(dir.path(), "proptest-msi");
        let input = common::wixl_msi(dir.path(), "p.msi", 6000);
        let prepared = prepare_file(Subject::Msi, &input, HashAlgorithm::Sha256).unwrap();
        let pkcs7 = pki.sign(Subject::Msi, HashAlgorithm::Sha256, &prepared.digest);
        let signed = dir.path().join("signed.msi");
        prepared
            .embed(&input, &signed, &pkcs7, EmbedMode::Replace)
            .unwrap();
        (fs::read(&input).unwrap(), fs::read(&signed).unwrap())
    })
}

#[test]
fn the_signature_stream_is_not_hashed() {
    let (unsigned, signed) = packages();
    assert_eq!(
        msi_digest(unsigned, HashAlgorithm::Sha256).unwrap(),
        msi_digest(signed, HashAlgorithm::Sha256).unwrap()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_packages_never_panic(
        signed in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (unsigned, signed_bytes) = packages();
        let mut bytes = if signed { signed_bytes.clone() } else { unsigned.clone() };
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = msi_digest(&bytes, HashAlgorithm::Sha256);
    }

    #[test]
    fn header_fields_never_panic(field in 0usize..19, value in any::<u32>()) {
        // Every 32-bit field from the header's byte order mark onwards.
        let (_, signed) = packages();
        let mut bytes = signed.clone();
        let at = 0x1c + 4 * field;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let _ = msi_digest(&bytes, HashAlgorithm::Sha256);
    }
}
