//! MSI packages made by Debian's `wixl` (msitools) against osslsigncode 2.9: the same
//! `SpcIndirectDataContent` (so the same digest over the streams); signatures embedded by
//! Sigil verify with osslsigncode and Sigil; re-signing replaces, appending nests; packages
//! signed by osslsigncode (with and without MsiDigitalSignatureEx) verify; a changed byte
//! fails both verifiers; hostile packages are refused with nothing written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{
    TestPki, entries, osslsigncode_content, osslsigncode_sign, osslsigncode_verify, run, wixl_msi,
};
use sigil_authenticode::{
    AuthenticodeContent, AuthenticodeError, EmbedMode, MsiError, Placement, Subject,
    is_other_compound_file, msi_digest, prepare_file, sign_subject_digest, verify_subject_file,
};
use sigil_keys::HashAlgorithm;

fn sigil_sign(
    pki: &TestPki,
    input: &Path,
    output: &Path,
    hash: HashAlgorithm,
    mode: EmbedMode,
) -> Result<Placement, AuthenticodeError> {
    let prepared = prepare_file(Subject::Msi, input, hash)?;
    let pkcs7 = sign_subject_digest(
        &pki.signer(hash),
        Subject::Msi,
        &prepared.digest,
        Some("Sigil MSI test"),
        None,
    )?;
    prepared.embed(input, output, &pkcs7, mode)
}

#[test]
fn digests_match_osslsigncode_and_signatures_verify() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "msi");
    // Small (mini stream), and over the 4096-byte cutoff into regular sectors.
    for (name, len) in [("small.msi", 100), ("large.msi", 300_000)] {
        let input = wixl_msi(dir.path(), name, len);
        for (hash, md) in [
            (HashAlgorithm::Sha256, "sha256"),
            (HashAlgorithm::Sha384, "sha384"),
            (HashAlgorithm::Sha512, "sha512"),
        ] {
            let prepared = prepare_file(Subject::Msi, &input, hash).unwrap();
            let ours =
                AuthenticodeContent::for_subject(Subject::Msi, hash, &prepared.digest).unwrap();
            assert_eq!(
                ours.econtent_der(),
                osslsigncode_content(dir.path(), &input, md),
                "{name} {md}"
            );
            assert_eq!(
                msi_digest(&fs::read(&input).unwrap(), hash).unwrap(),
                prepared.digest
            );
        }

        let signed = dir.path().join(format!("signed-{name}"));
        let placement = sigil_sign(
            &pki,
            &input,
            &signed,
            HashAlgorithm::Sha256,
            EmbedMode::Replace,
        )
        .unwrap();
        assert_eq!(placement, Placement::Primary);
        osslsigncode_verify(&signed, &pki.root_pem).assert_signatures(1);
        let report = verify_subject_file(Subject::Msi, &signed).unwrap();
        assert!(report.is_valid(), "{name}: {report:?}");

        let placement = sigil_sign(
            &pki,
            &signed,
            &signed,
            HashAlgorithm::Sha384,
            EmbedMode::Replace,
        )
        .unwrap();
        assert_eq!(placement, Placement::Replaced);
        osslsigncode_verify(&signed, &pki.root_pem).assert_signatures(1);
        let placement = sigil_sign(
            &pki,
            &signed,
            &signed,
            HashAlgorithm::Sha256,
            EmbedMode::Append,
        )
        .unwrap();
        assert_eq!(placement, Placement::Nested);
        osslsigncode_verify(&signed, &pki.root_pem).assert_signatures(2);
        let report = verify_subject_file(Subject::Msi, &signed).unwrap();
        assert_eq!(report.signatures.len(), 2);
        assert!(report.is_valid(), "{name}: {report:?}");

        // One byte of the embedded cabinet's stream changed: both verifiers refuse it.
        let bytes = fs::read(&signed).unwrap();
        let cab = bytes.windows(4).position(|w| w == b"MSCF").unwrap();
        let mut tampered = bytes.clone();
        tampered[cab + 100] ^= 0x01;
        let tampered_path = dir.path().join(format!("tampered-{name}"));
        fs::write(&tampered_path, &tampered).unwrap();
        assert!(
            !osslsigncode_verify(&tampered_path, &pki.root_pem).success,
            "{name}"
        );
        let report = verify_subject_file(Subject::Msi, &tampered_path).unwrap();
        assert!(!report.is_valid(), "{name}");
    }
}

#[test]
fn packages_signed_by_osslsigncode_verify_and_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "ossl-msi");
    let input = wixl_msi(dir.path(), "app.msi", 5000);
    let theirs = dir.path().join("ossl.msi");
    osslsigncode_sign(&pki, &input, &theirs, "sha256", false);
    assert!(
        verify_subject_file(Subject::Msi, &theirs)
            .unwrap()
            .is_valid()
    );
    let ours = dir.path().join("resigned.msi");
    sigil_sign(
        &pki,
        &theirs,
        &ours,
        HashAlgorithm::Sha512,
        EmbedMode::Replace,
    )
    .unwrap();
    osslsigncode_verify(&ours, &pki.root_pem).assert_signatures(1);
    let nested = dir.path().join("nested.msi");
    sigil_sign(
        &pki,
        &theirs,
        &nested,
        HashAlgorithm::Sha256,
        EmbedMode::Append,
    )
    .unwrap();
    osslsigncode_verify(&nested, &pki.root_pem).assert_signatures(2);

    // With MsiDigitalSignatureEx (the pre-hash over the streams' metadata).
    let with_ex = dir.path().join("ossl-ex.msi");
    run(Command::new("osslsigncode")
        .args(["sign", "-add-msi-dse", "-h", "sha256", "-certs"])
        .arg(&pki.leaf_pem)
        .arg("-key")
        .arg(&pki.leaf_key)
        .arg("-in")
        .arg(&input)
        .arg("-out")
        .arg(&with_ex));
    let report = verify_subject_file(Subject::Msi, &with_ex).unwrap();
    assert!(report.is_valid(), "{report:?}");
    // Nesting would break it: refused, nothing written. Replacing drops the pre-hash.
    let out = dir.path().join("ex-nested.msi");
    assert!(matches!(
        sigil_sign(
            &pki,
            &with_ex,
            &out,
            HashAlgorithm::Sha256,
            EmbedMode::Append
        ),
        Err(AuthenticodeError::Msi(MsiError::NestWithDigitalSignatureEx))
    ));
    assert!(!out.exists());
    sigil_sign(
        &pki,
        &with_ex,
        &out,
        HashAlgorithm::Sha256,
        EmbedMode::Replace,
    )
    .unwrap();
    osslsigncode_verify(&out, &pki.root_pem).assert_signatures(1);
    assert!(verify_subject_file(Subject::Msi, &out).unwrap().is_valid());
}

/// `--format auto` takes a compound file for an MSI package unless its root CLSID says it is
/// something else (a Word document here).
#[test]
fn other_compound_files_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let msi = fs::read(wixl_msi(dir.path(), "app.msi", 100)).unwrap();
    assert!(!is_other_compound_file(std::io::Cursor::new(&msi)));
    let sector = u32::from_le_bytes(msi[0x30..0x34].try_into().unwrap()) as usize;
    let root_clsid = (sector + 1) * 512 + 0x50;
    let mut word = msi.clone();
    // {00020906-0000-0000-C000-000000000046}, Word.Document.8.
    word[root_clsid..root_clsid + 16].copy_from_slice(&[
        0x06, 0x09, 0x02, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46,
    ]);
    assert!(is_other_compound_file(std::io::Cursor::new(&word)));
    assert!(!is_other_compound_file(std::io::Cursor::new(&msi[..1024])));
}

#[test]
fn hostile_packages_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "hostile-msi");
    let good = fs::read(wixl_msi(dir.path(), "good.msi", 3000)).unwrap();
    let mut lying_header = good.clone();
    // The directory's first sector, far beyond the file.
    lying_header[0x30..0x34].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.msi", good[..good.len() / 2].to_vec()),
        ("header-only.msi", good[..512].to_vec()),
        ("lying-header.msi", lying_header),
        ("magic-only.msi", sigil_authenticode::CFB_SIGNATURE.to_vec()),
    ];
    let work = dir.path().join("hostile");
    fs::create_dir_all(&work).unwrap();
    for (name, bytes) in cases {
        let path = work.join(name);
        fs::write(&path, &bytes).unwrap();
        let before = entries(&work);
        let err = prepare_file(Subject::Msi, &path, HashAlgorithm::Sha256)
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        assert!(
            matches!(err, AuthenticodeError::Msi(MsiError::Malformed { .. })),
            "{name}: {err}"
        );
        assert!(verify_subject_file(Subject::Msi, &path).is_err(), "{name}");
        assert!(msi_digest(&bytes, HashAlgorithm::Sha256).is_err(), "{name}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "{name}");
        assert_eq!(entries(&work), before, "{name}");
    }

    // A package changed after hashing, or a signature for another package: nothing written.
    let path = dir.path().join("good.msi");
    let prepared = prepare_file(Subject::Msi, &path, HashAlgorithm::Sha256).unwrap();
    let output = dir.path().join("out.msi");
    let other = pki.sign(Subject::Msi, HashAlgorithm::Sha256, &[1; 32]);
    assert!(matches!(
        prepared.embed(&path, &output, &other, EmbedMode::Replace),
        Err(AuthenticodeError::DigestMismatch { .. })
    ));
    let pkcs7 = pki.sign(Subject::Msi, HashAlgorithm::Sha256, &prepared.digest);
    let mut changed = good.clone();
    changed.extend_from_slice(&[0; 512]);
    fs::write(&path, &changed).unwrap();
    assert!(matches!(
        prepared.embed(&path, &output, &pkcs7, EmbedMode::Replace),
        Err(AuthenticodeError::FileChanged)
    ));
    assert!(!output.exists());
    assert!(matches!(
        verify_subject_file(Subject::Msi, &path),
        Err(AuthenticodeError::NotSigned)
    ));
}
