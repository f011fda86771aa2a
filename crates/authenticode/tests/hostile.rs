//! Hostile PE fixtures (`testdata/pe/`, see its README) give their typed
//! error from every entry point, and embedding never leaves an output file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::{TestPki, entries, testdata};
use sigil_authenticode::{
    AuthenticodeError, EmbedMode, MAX_SECTIONS, PeError, PeLayout, embed_signature,
    image_digest_file, sign_image_digest, verify_file,
};
use sigil_keys::HashAlgorithm;

/// Whether an error is the one a fixture must produce.
type ErrorCheck = fn(&PeError) -> bool;

/// Each hostile fixture and a check of the error it must produce.
fn catalogue() -> Vec<(&'static str, ErrorCheck)> {
    vec![
        ("not-a-pe.exe", |e| matches!(e, PeError::BadDosSignature)),
        ("truncated-headers.exe", |e| {
            matches!(
                e,
                PeError::Truncated {
                    what: "optional header",
                    file_len: 200,
                    ..
                }
            )
        }),
        ("pe-offset-out-of-file.exe", |e| {
            matches!(
                e,
                PeError::PeHeaderOutOfFile {
                    e_lfanew: 0x7fff_fff0,
                    ..
                }
            )
        }),
        ("bad-pe-signature.exe", |e| {
            matches!(e, PeError::BadPeSignature { .. })
        }),
        ("bad-magic.exe", |e| {
            matches!(e, PeError::BadOptionalHeaderMagic { magic: 0x107 })
        }),
        ("too-few-data-directories.exe", |e| {
            matches!(e, PeError::TooFewDataDirectories { count: 4 })
        }),
        ("too-many-sections.exe", |e| {
            matches!(
                e,
                PeError::TooManySections {
                    count: 200,
                    max: MAX_SECTIONS
                }
            )
        }),
        ("section-table-out-of-file.exe", |e| {
            matches!(e, PeError::SectionTableOutOfFile { count: 96, .. })
        }),
        ("section-huge-size.exe", |e| {
            matches!(e, PeError::SectionOutOfFile { index: 0, .. })
        }),
        ("overlapping-sections.exe", |e| {
            matches!(
                e,
                PeError::SectionsOverlap {
                    first: 0,
                    second: 1
                } | PeError::SectionsOverlap {
                    first: 1,
                    second: 0
                }
            )
        }),
        ("cert-table-not-at-end.exe", |e| {
            matches!(e, PeError::CertificateTableNotAtEnd { .. })
        }),
        ("cert-table-huge-size.exe", |e| {
            matches!(
                e,
                PeError::CertificateTableOutOfBounds {
                    size: 0xffff_fff0,
                    ..
                }
            )
        }),
        ("cert-table-inconsistent.exe", |e| {
            matches!(
                e,
                PeError::CertificateTableInconsistent { offset: 0, size: 8 }
            )
        }),
        ("cert-table-misaligned.exe", |e| {
            matches!(e, PeError::CertificateTableMisaligned { .. })
        }),
    ]
}

fn expect_pe_error(
    name: &str,
    result: Result<impl std::fmt::Debug, AuthenticodeError>,
    check: ErrorCheck,
) {
    match result {
        Err(AuthenticodeError::Pe(e)) => assert!(check(&e), "{name}: unexpected error {e:?}"),
        other => panic!("{name}: expected a PE error, got {other:?}"),
    }
}

#[test]
fn hostile_fixtures_give_typed_errors() {
    for (name, check) in catalogue() {
        let path = testdata().join(name);
        let bytes = fs::read(&path).unwrap();
        expect_pe_error(name, PeLayout::parse_bytes(&bytes), check);
        expect_pe_error(name, image_digest_file(&path, HashAlgorithm::Sha256), check);
        expect_pe_error(name, verify_file(&path), check);
        // Messages say what is wrong.
        let message = PeLayout::parse_bytes(&bytes).unwrap_err().to_string();
        assert!(message.len() > 30, "{name}: terse message {message:?}");
    }
}

#[test]
fn hostile_fixtures_are_never_signed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "hostile");
    // A valid signature (for the valid fixture) so that only the PE checks can refuse.
    let digest = image_digest_file(&testdata().join("tiny64.exe"), HashAlgorithm::Sha256).unwrap();
    let pkcs7 = sign_image_digest(
        &pki.signer(HashAlgorithm::Sha256),
        &digest.digest,
        None,
        None,
    )
    .unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();

    for (name, check) in catalogue() {
        let input = work.join(name);
        fs::copy(testdata().join(name), &input).unwrap();
        let before = fs::read(&input).unwrap();
        let output = work.join(format!("{name}.signed"));
        for mode in [EmbedMode::Replace, EmbedMode::Append] {
            expect_pe_error(name, embed_signature(&input, &output, &pkcs7, mode), check);
            expect_pe_error(name, embed_signature(&input, &input, &pkcs7, mode), check);
        }
        assert!(!output.exists(), "{name}: an output file was written");
        assert_eq!(
            fs::read(&input).unwrap(),
            before,
            "{name}: the input changed"
        );
    }
    let mut expected: Vec<String> = catalogue().iter().map(|(n, _)| n.to_string()).collect();
    expected.sort();
    assert_eq!(entries(&work), expected, "temporary files were left behind");

    // The valid fixture signs fine with the same signature.
    let input = work.join("tiny64.exe");
    fs::copy(testdata().join("tiny64.exe"), &input).unwrap();
    embed_signature(&input, &input, &pkcs7, EmbedMode::Replace).unwrap();
    assert!(verify_file(&input).unwrap().is_valid());
}
