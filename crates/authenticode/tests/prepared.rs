//! The client's fast path: one pass over the file (`prepare_image`: image digest and the
//! partial PE checksum), a staged copy next to the output (`PreparedImage::stage`), and an
//! embedding that patches the copy without reading the image again. The checksum it
//! completes from the parts it adds must be the one osslsigncode recomputes over the whole
//! signed file, on real MinGW-w64 output; a file that changed after it was hashed must
//! never give a signed output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::{
    Build, TestPki, build_pe, entries, every_kind_of_pe, osslsigncode_sign, osslsigncode_verify,
};
use sigil_authenticode::{
    AuthenticodeError, EmbedMode, Placement, image_digest_file, prepare_and_stage, prepare_image,
    sign_image_digest, verify_file,
};
use sigil_keys::HashAlgorithm;

/// Prepares `input`, signs its digest with Sigil's own assembly, stages (or not) and embeds.
fn sign_prepared(
    pki: &TestPki,
    input: &Path,
    output: &Path,
    hash: HashAlgorithm,
    mode: EmbedMode,
    stage: bool,
) -> sigil_authenticode::EmbedReport {
    // Staged: the copy made on a second thread while hashing.
    let (prepared, staged) = if stage {
        let (prepared, staged) = prepare_and_stage(input, hash, output).unwrap();
        (prepared, Some(staged))
    } else {
        (prepare_image(input, hash).unwrap(), None)
    };
    assert_eq!(
        prepared.digest,
        image_digest_file(input, hash).unwrap().digest,
        "one pass gives the same digest as image_digest_file"
    );
    let pkcs7 = sign_image_digest(&pki.signer(hash), &prepared.digest, None, None).unwrap();
    prepared.embed(input, output, &pkcs7, mode, staged).unwrap()
}

#[test]
fn streamed_checksum_is_the_one_osslsigncode_recomputes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "prepared");
    let files = every_kind_of_pe(dir.path());

    for (i, file) in files.iter().enumerate() {
        let hash = [HashAlgorithm::Sha256, HashAlgorithm::Sha384][i % 2];
        let signed = file.with_extension("signed");
        let report = sign_prepared(&pki, file, &signed, hash, EmbedMode::Replace, i % 2 == 0);
        assert_eq!(report.placement, Placement::Primary);
        osslsigncode_verify(&signed, &pki.root_pem).assert_valid(1, report.checksum);
        let ours = verify_file(&signed).unwrap();
        assert_eq!(
            ours.computed_checksum,
            report.checksum,
            "{}",
            file.display()
        );
        assert!(ours.is_valid(), "{ours:#?}");
    }
    assert!(!entries(dir.path()).iter().any(|n| n.starts_with(".sigil-")));
}

#[test]
fn streamed_checksum_over_a_signed_file_replaced_and_appended() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "again");
    let other = TestPki::new(dir.path(), "previous");
    let file = build_pe(dir.path(), Build::Exe32);
    let signed_before = dir.path().join("before.exe");
    osslsigncode_sign(&other, &file, &signed_before, "sha256", false);

    // Replace, to a new file, staged: the old table is not copied.
    let replaced = dir.path().join("replaced.exe");
    let report = sign_prepared(
        &pki,
        &signed_before,
        &replaced,
        HashAlgorithm::Sha256,
        EmbedMode::Replace,
        true,
    );
    assert_eq!(report.placement, Placement::Replaced);
    osslsigncode_verify(&replaced, &pki.root_pem).assert_valid(1, report.checksum);

    // Append, in place: the nested table is longer than the one it replaces.
    let report = sign_prepared(
        &pki,
        &signed_before,
        &signed_before,
        HashAlgorithm::Sha256,
        EmbedMode::Append,
        true,
    );
    assert_eq!(report.placement, Placement::Nested);
    let both_roots = dir.path().join("both-roots.pem");
    let mut roots = fs::read(&other.root_pem).unwrap();
    roots.extend(fs::read(&pki.root_pem).unwrap());
    fs::write(&both_roots, roots).unwrap();
    osslsigncode_verify(&signed_before, &both_roots).assert_valid(2, report.checksum);
    assert_eq!(
        verify_file(&signed_before).unwrap().computed_checksum,
        report.checksum
    );
}

#[test]
fn a_file_changed_after_hashing_is_never_signed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "changed");
    let file = build_pe(dir.path(), Build::Exe64);
    let original = fs::read(&file).unwrap();
    let output = dir.path().join("out.exe");
    // Timestamps are coarse (a few ms): date the file back so that a write right after
    // is sure to move its modification time, as any write does a tick later.
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
        .unwrap();

    // Changed after it was staged: the same length, one byte of trailing data differs.
    let prepared = prepare_image(&file, HashAlgorithm::Sha256).unwrap();
    let pkcs7 = sign_image_digest(
        &pki.signer(HashAlgorithm::Sha256),
        &prepared.digest,
        None,
        None,
    )
    .unwrap();
    let staged = prepared.stage(&file, &output).unwrap();
    let mut changed = original.clone();
    *changed.last_mut().unwrap() ^= 0xff;
    fs::write(&file, &changed).unwrap();
    let err = prepared
        .embed(&file, &output, &pkcs7, EmbedMode::Replace, Some(staged))
        .unwrap_err();
    assert!(matches!(err, AuthenticodeError::FileChanged), "{err}");
    assert!(err.to_string().contains("sign it again"), "{err}");
    assert!(!output.exists());

    // Changed after it was hashed, in place, not staged: appended to.
    let prepared = prepare_image(&file, HashAlgorithm::Sha256).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    let err = prepared
        .embed(&file, &file, &pkcs7, EmbedMode::Replace, None)
        .unwrap_err();
    // The signature was made for the original digest, which is checked first.
    assert!(
        matches!(err, AuthenticodeError::DigestMismatch { .. }),
        "{err}"
    );
    let pkcs7 = sign_image_digest(
        &pki.signer(HashAlgorithm::Sha256),
        &prepared.digest,
        None,
        None,
    )
    .unwrap();
    let err = prepared
        .embed(&file, &file, &pkcs7, EmbedMode::Replace, None)
        .unwrap_err();
    assert!(matches!(err, AuthenticodeError::FileChanged), "{err}");
    let mut expected = changed.clone();
    expected.extend_from_slice(b"more");
    assert_eq!(fs::read(&file).unwrap(), expected, "the file is untouched");

    // Replaced by another file under the same name (a new inode): refused too.
    let prepared = prepare_image(&file, HashAlgorithm::Sha256).unwrap();
    let elsewhere = dir.path().join("elsewhere.exe");
    fs::write(&elsewhere, &expected).unwrap();
    fs::rename(&elsewhere, &file).unwrap();
    assert!(matches!(
        prepared.stage(&file, &output).unwrap_err(),
        AuthenticodeError::FileChanged
    ));
    assert!(!entries(dir.path()).iter().any(|n| n.starts_with(".sigil-")));
}

#[test]
fn a_refused_signature_leaves_no_copy_and_the_original_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "refused");
    let file = build_pe(dir.path(), Build::Exe64);
    let other = build_pe(dir.path(), Build::Exe32);
    let original = fs::read(&file).unwrap();

    let prepared = prepare_image(&file, HashAlgorithm::Sha256).unwrap();
    let staged = prepared.stage(&file, &file).unwrap();
    let temp = staged.path().to_path_buf();
    assert!(temp.exists());
    assert_eq!(
        fs::metadata(&temp).unwrap().len(),
        prepared.layout.image_end()
    );
    // A signature for another file.
    let digest = image_digest_file(&other, HashAlgorithm::Sha256).unwrap();
    let pkcs7 = sign_image_digest(
        &pki.signer(HashAlgorithm::Sha256),
        &digest.digest,
        None,
        None,
    )
    .unwrap();
    let err = prepared
        .embed(&file, &file, &pkcs7, EmbedMode::Replace, Some(staged))
        .unwrap_err();
    assert!(
        matches!(err, AuthenticodeError::DigestMismatch { .. }),
        "{err}"
    );
    assert!(!temp.exists(), "the staged copy is removed");
    assert_eq!(fs::read(&file).unwrap(), original);

    // A staged copy that is never used disappears with it.
    let staged = prepared.stage(&file, &file).unwrap();
    let temp = staged.path().to_path_buf();
    drop(staged);
    assert!(!temp.exists());
    assert!(!entries(dir.path()).iter().any(|n| n.starts_with(".sigil-")));
}
