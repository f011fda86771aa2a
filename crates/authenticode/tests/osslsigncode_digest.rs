//! (a) Our image digest and `SpcIndirectDataContent` are byte for byte what
//! osslsigncode computes (`osslsigncode extract-data`), for PE32, PE32+, a DLL,
//! and a file with unaligned trailing data; and signing does not change the digest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Build, TestPki, build_pe, osslsigncode_content, osslsigncode_sign, testdata};
use sigil_authenticode::{AuthenticodeContent, image_digest_file};
use sigil_keys::HashAlgorithm;

fn assert_matches_osslsigncode(dir: &Path, file: &Path) {
    for (hash, name) in [
        (HashAlgorithm::Sha256, "sha256"),
        (HashAlgorithm::Sha384, "sha384"),
        (HashAlgorithm::Sha512, "sha512"),
    ] {
        let ours = image_digest_file(file, hash).unwrap();
        let content = AuthenticodeContent::for_pe_image(hash, &ours.digest).unwrap();
        let theirs = osslsigncode_content(dir, file, name);
        assert_eq!(
            hex::encode(content.econtent_der()),
            hex::encode(&theirs),
            "{} {name}: our SpcIndirectDataContent differs from osslsigncode's",
            file.display()
        );
    }
}

#[test]
fn digest_and_content_match_osslsigncode() {
    let dir = tempfile::tempdir().unwrap();
    for build in [Build::Exe64, Build::Exe32, Build::Dll64] {
        let file = build_pe(dir.path(), build);
        assert_matches_osslsigncode(dir.path(), &file);
    }
    for fixture in ["tiny64.exe", "tiny32.exe", "tiny64-trailing.exe"] {
        let file = testdata().join(fixture);
        assert_matches_osslsigncode(dir.path(), &file);
    }
}

#[test]
fn trailing_data_is_hashed_with_padding() {
    let file = testdata().join("tiny64-trailing.exe");
    let digest = image_digest_file(&file, HashAlgorithm::Sha256).unwrap();
    assert_eq!(digest.layout.file_len % 8, 5);
    assert_eq!(digest.layout.padding_len(), 3);
    let without = image_digest_file(&testdata().join("tiny64.exe"), HashAlgorithm::Sha256).unwrap();
    assert_ne!(
        digest.digest, without.digest,
        "trailing data must be covered"
    );
}

#[test]
fn signed_file_has_the_unsigned_digest() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "digest");
    let file = build_pe(dir.path(), Build::Exe64);
    let signed = dir.path().join("signed.exe");
    osslsigncode_sign(&pki, &file, &signed, "sha256", false);

    let before = image_digest_file(&file, HashAlgorithm::Sha256).unwrap();
    let after = image_digest_file(&signed, HashAlgorithm::Sha256).unwrap();
    assert_eq!(before.digest, after.digest);
    assert!(before.layout.cert_table.is_none());
    let table = after.layout.cert_table.unwrap();
    assert_eq!(table.offset % 8, 0);
    assert_eq!(table.offset + table.size, after.layout.file_len);

    // And the digest osslsigncode embedded in its signature is ours.
    let report = sigil_authenticode::verify_file(&signed).unwrap();
    assert_eq!(report.signatures.len(), 1);
    assert_eq!(report.signatures[0].signed_digest, before.digest);
    assert!(report.is_valid(), "{report:#?}");
}
