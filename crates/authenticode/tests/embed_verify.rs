//! (b) Embedding: signatures made by independent tools (openssl cms over our
//! `SpcIndirectDataContent`, osslsigncode) and by Sigil's own assembly are
//! embedded by our code, then `osslsigncode verify -CAfile root.pem` must
//! accept the file: signature valid, message digest matching, checksum right.
//! Replace and append (nested) modes, in place and to a new file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{
    Build, TestPki, build_pe, entries, every_kind_of_pe, openssl_sign, osslsigncode_sign,
    osslsigncode_verify, testdata,
};
use sigil_authenticode::{
    AuthenticodeContent, AuthenticodeError, Check, EmbedMode, Placement, embed_signature,
    image_digest_file, sign_image_digest, verify_file,
};
use sigil_keys::HashAlgorithm;

/// The image digest of `file` signed by openssl cms.
fn openssl_signature(dir: &Path, pki: &TestPki, file: &Path, hash: HashAlgorithm) -> Vec<u8> {
    let digest = image_digest_file(file, hash).unwrap();
    let content = AuthenticodeContent::for_pe_image(hash, &digest.digest).unwrap();
    openssl_sign(dir, pki, &content, hash)
}

#[test]
fn openssl_signature_embedded_verifies_for_every_kind_of_pe() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "kinds");
    let files = every_kind_of_pe(dir.path());

    for (file, hash) in files.iter().zip([
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
        HashAlgorithm::Sha256,
    ]) {
        let pkcs7 = openssl_signature(dir.path(), &pki, file, hash);
        let signed = file.with_extension("signed");
        let report = embed_signature(file, &signed, &pkcs7, EmbedMode::Replace).unwrap();
        assert_eq!(report.placement, Placement::Primary);
        assert_eq!(report.cert_table.offset % 8, 0);
        assert_eq!(fs::metadata(&signed).unwrap().len(), report.file_len);

        osslsigncode_verify(&signed, &pki.root_pem).assert_valid(1, report.checksum);
        let ours = verify_file(&signed).unwrap();
        assert!(ours.is_valid(), "{ours:#?}");
        assert_eq!(
            ours.signatures[0].signer_subject.as_deref(),
            Some("CN=Sigil Test Signer kinds")
        );
        assert_eq!(ours.signatures[0].algorithm, Ok(hash));
    }
}

#[test]
fn sigil_signature_embedded_in_place_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "sigil");
    let file = build_pe(dir.path(), Build::Exe64);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o751)).unwrap();

    let digest = image_digest_file(&file, HashAlgorithm::Sha256).unwrap();
    let pkcs7 = sign_image_digest(
        &pki.signer(HashAlgorithm::Sha256),
        &digest.digest,
        Some("Sigil Test Program"),
        Some("https://sigil.example/test"),
    )
    .unwrap();
    let report = embed_signature(&file, &file, &pkcs7, EmbedMode::Replace).unwrap();

    let verified = osslsigncode_verify(&file, &pki.root_pem);
    verified.assert_valid(1, report.checksum);
    assert!(
        verified
            .output
            .contains("Text description: Sigil Test Program"),
        "{}",
        verified.output
    );
    assert!(
        verified
            .output
            .contains("URL description: https://sigil.example/test"),
        "{}",
        verified.output
    );
    assert!(
        verified
            .output
            .contains("Microsoft Individual Code Signing purpose"),
        "{}",
        verified.output
    );
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o751,
        "permissions are kept"
    );
    assert!(verify_file(&file).unwrap().is_valid());
    assert!(!entries(dir.path()).iter().any(|n| n.starts_with(".sigil-")));
}

#[test]
fn replace_mode_replaces_an_existing_signature() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "replace");
    let other = TestPki::new(dir.path(), "previous");
    let file = build_pe(dir.path(), Build::Exe32);
    let signed_before = dir.path().join("before.exe");
    osslsigncode_sign(&other, &file, &signed_before, "sha256", false);

    let pkcs7 = openssl_signature(dir.path(), &pki, &signed_before, HashAlgorithm::Sha256);
    let signed = dir.path().join("after.exe");
    let report = embed_signature(&signed_before, &signed, &pkcs7, EmbedMode::Replace).unwrap();
    assert_eq!(report.placement, Placement::Replaced);

    osslsigncode_verify(&signed, &pki.root_pem).assert_valid(1, report.checksum);
    let ours = verify_file(&signed).unwrap();
    assert_eq!(ours.signatures.len(), 1);
    assert_eq!(
        ours.signatures[0].signer_subject.as_deref(),
        Some("CN=Sigil Test Signer replace")
    );
    // The previous signer's root no longer validates the file.
    assert!(!osslsigncode_verify(&signed, &other.root_pem).success);
}

#[test]
fn append_mode_nests_next_to_sha1_and_sha256_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "append");
    let file = build_pe(dir.path(), Build::Exe64);

    // A SHA-1-era primary signature made by osslsigncode.
    let sha1_signed = dir.path().join("sha1.exe");
    osslsigncode_sign(&pki, &file, &sha1_signed, "sha1", false);
    let pkcs7 = openssl_signature(dir.path(), &pki, &sha1_signed, HashAlgorithm::Sha256);
    let dual = dir.path().join("dual.exe");
    let report = embed_signature(&sha1_signed, &dual, &pkcs7, EmbedMode::Append).unwrap();
    assert_eq!(report.placement, Placement::Nested);
    osslsigncode_verify(&dual, &pki.root_pem).assert_valid(2, report.checksum);

    let ours = verify_file(&dual).unwrap();
    assert_eq!(ours.signatures.len(), 2);
    assert_eq!(ours.signatures[0].depth, 0);
    assert!(
        matches!(ours.signatures[0].image_digest, Check::NotChecked(_)),
        "SHA-1 is not checked"
    );
    assert_eq!(ours.signatures[1].depth, 1);
    assert!(ours.signatures[1].is_valid(), "{ours:#?}");
    assert!(ours.checksum_matches());

    // Appending twice more, in place, with Sigil's own signatures: all nested in the primary.
    for hash in [HashAlgorithm::Sha384, HashAlgorithm::Sha512] {
        let digest = image_digest_file(&dual, hash).unwrap();
        let pkcs7 = sign_image_digest(&pki.signer(hash), &digest.digest, None, None).unwrap();
        embed_signature(&dual, &dual, &pkcs7, EmbedMode::Append).unwrap();
    }
    let ours = verify_file(&dual).unwrap();
    assert_eq!(ours.signatures.len(), 4);
    assert!(
        ours.signatures[1..]
            .iter()
            .all(|s| s.is_valid() && s.depth == 1),
        "{ours:#?}"
    );
    osslsigncode_verify(&dual, &pki.root_pem).assert_valid(4, ours.stored_checksum);
}

#[test]
fn append_mode_nests_into_a_sigil_signature() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "nest");
    let file = build_pe(dir.path(), Build::Dll64);
    for (hash, placement) in [
        (HashAlgorithm::Sha256, Placement::Primary),
        (HashAlgorithm::Sha512, Placement::Nested),
    ] {
        let pkcs7 = openssl_signature(dir.path(), &pki, &file, hash);
        let report = embed_signature(&file, &file, &pkcs7, EmbedMode::Append).unwrap();
        assert_eq!(report.placement, placement);
    }
    let ours = verify_file(&file).unwrap();
    assert!(ours.is_valid(), "{ours:#?}");
    assert_eq!(ours.signatures.len(), 2);
    osslsigncode_verify(&file, &pki.root_pem).assert_valid(2, ours.stored_checksum);
}

#[test]
fn signature_for_another_file_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "mismatch");
    let exe64 = build_pe(dir.path(), Build::Exe64);
    let exe32 = build_pe(dir.path(), Build::Exe32);
    let pkcs7 = openssl_signature(dir.path(), &pki, &exe64, HashAlgorithm::Sha256);

    let before = fs::read(&exe32).unwrap();
    let listing = entries(dir.path());
    let err = embed_signature(&exe32, &exe32, &pkcs7, EmbedMode::Replace).unwrap_err();
    assert!(
        matches!(err, AuthenticodeError::DigestMismatch { .. }),
        "{err}"
    );
    let out = dir.path().join("never.exe");
    let err = embed_signature(&exe32, &out, &pkcs7, EmbedMode::Replace).unwrap_err();
    assert!(
        matches!(err, AuthenticodeError::DigestMismatch { .. }),
        "{err}"
    );
    assert_eq!(
        fs::read(&exe32).unwrap(),
        before,
        "the original is untouched"
    );
    assert_eq!(entries(dir.path()), listing, "no output, no temporary file");

    // A tampered signature (the image digest in the signed content changed) is refused.
    let digest = image_digest_file(&exe64, HashAlgorithm::Sha256)
        .unwrap()
        .digest;
    let at = pkcs7
        .windows(digest.len())
        .position(|w| w == digest)
        .unwrap();
    let mut tampered = pkcs7.clone();
    tampered[at] ^= 0x01;
    let err = embed_signature(&exe64, &out, &tampered, EmbedMode::Replace).unwrap_err();
    assert!(matches!(err, AuthenticodeError::Cms(_)), "{err}");
    assert!(!out.exists());
}

#[test]
fn verification_detects_a_modified_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "modified");
    let file = build_pe(dir.path(), Build::Exe64);
    let pkcs7 = openssl_signature(dir.path(), &pki, &file, HashAlgorithm::Sha256);
    embed_signature(&file, &file, &pkcs7, EmbedMode::Replace).unwrap();
    assert!(verify_file(&file).unwrap().is_valid());

    let layout = image_digest_file(&file, HashAlgorithm::Sha256)
        .unwrap()
        .layout;
    let section = &layout.sections[0];
    let mut bytes = fs::read(&file).unwrap();
    bytes[(section.raw_offset + 16) as usize] ^= 0xff;
    fs::write(&file, &bytes).unwrap();

    let report = verify_file(&file).unwrap();
    assert!(!report.is_valid());
    assert!(matches!(
        report.signatures[0].image_digest,
        Check::Failed(_)
    ));
    assert!(
        report.signatures[0].signature.passed(),
        "the CMS itself is intact"
    );
    assert!(!report.checksum_matches());
    let theirs = osslsigncode_verify(&file, &pki.root_pem);
    assert!(
        !theirs.success && theirs.output.contains("MISMATCH"),
        "{}",
        theirs.output
    );
}

#[test]
fn unsigned_file_does_not_verify() {
    let err = verify_file(&testdata().join("tiny64.exe")).unwrap_err();
    assert!(matches!(err, AuthenticodeError::NotSigned), "{err}");
}
