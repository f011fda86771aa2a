//! Hostile archives give typed errors and never a signed output.
//!
//! Each case is generated here and also committed under
//! `testdata/jar/hostile/` (regenerate with
//! `SIGIL_REGENERATE_FIXTURES=1 cargo test -p sigil-jar --test hostile`);
//! both copies must be refused with the expected error.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod zipgen;

use std::path::PathBuf;

use sigil_jar::{ArchiveError, HashAlgorithm, JarError, SignOptions, SignerName};
use zipgen::{Spec, build, deflated, local_header, stored};

type Check = fn(&JarError) -> bool;

fn catalogue() -> Vec<(&'static str, Vec<u8>, Check)> {
    let ok = || stored("ok.txt", b"fine");
    let mut cases: Vec<(&'static str, Vec<u8>, Check)> = Vec::new();
    let unsafe_name =
        |e: &JarError| matches!(e, JarError::Archive(ArchiveError::UnsafeName { .. }));
    for (file, name) in [
        ("name-dotdot", "a/../../etc/passwd"),
        ("name-absolute", "/etc/passwd"),
        ("name-backslash", "a\\..\\b.class"),
        ("name-drive-letter", "C:/Windows/x.dll"),
        ("name-control-char", "a\nName: forged"),
    ] {
        cases.push((file, build(&[ok(), stored(name, b"x")], None), unsafe_name));
    }
    cases.push((
        "name-not-utf8",
        build(
            &[Spec {
                name: b"caf\xe9.txt".to_vec(),
                ..ok()
            }],
            None,
        ),
        |e| matches!(e, JarError::Archive(ArchiveError::NameNotUtf8 { .. })),
    ));
    cases.push((
        "duplicate-name",
        build(&[ok(), stored("ok.txt", b"other")], None),
        |e| matches!(e, JarError::Archive(ArchiveError::DuplicateName { .. })),
    ));
    cases.push((
        "ambiguous-manifest",
        build(
            &[
                stored("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n"),
                stored(
                    "meta-inf/manifest.mf",
                    b"Manifest-Version: 1.0\r\nEvil: 1\r\n\r\n",
                ),
            ],
            None,
        ),
        |e| matches!(e, JarError::AmbiguousManifest { .. }),
    ));
    // Entry B's local header and data live inside entry A's data.
    let mut inner = stored("b.txt", b"hidden");
    let mut a_data = local_header(&inner);
    a_data.extend_from_slice(&inner.data);
    let outer = stored("a.txt", &a_data);
    inner.embedded_at = Some((30 + outer.name.len()) as u64);
    cases.push(("overlapping-entries", build(&[outer, inner], None), |e| {
        matches!(e, JarError::Archive(ArchiveError::Overlap { .. }))
    }));
    cases.push((
        "entry-runs-into-central-directory",
        build(
            &[Spec {
                usize: 5000,
                csize: Some(5000),
                ..ok()
            }],
            None,
        ),
        |e| matches!(e, JarError::Archive(ArchiveError::Overlap { .. })),
    ));
    cases.push((
        "local-name-mismatch",
        build(
            &[Spec {
                local_name: Some(b"other.txt".to_vec()),
                ..ok()
            }],
            None,
        ),
        |e| {
            matches!(
                e,
                JarError::Archive(ArchiveError::LocalHeaderMismatch { .. })
            )
        },
    ));
    let mut truncated = build(&[ok(), stored("two.txt", b"2")], None);
    let cd_start = truncated.len() - 22 - 2 * (46 + 7);
    truncated.drain(cd_start + 10..cd_start + 30);
    cases.push(("truncated-central-directory", truncated, |e| {
        matches!(
            e,
            JarError::Archive(ArchiveError::BadCentralDirectory { .. })
        )
    }));
    let mut cut = build(&[ok()], None);
    cut.truncate(cut.len() - 5);
    cases.push(("truncated-end-record", cut, |e| {
        matches!(e, JarError::Archive(ArchiveError::NotAnArchive))
    }));
    cases.push((
        "too-many-entries",
        build(&[ok()], Some(1_000_000_000)),
        |e| matches!(e, JarError::Archive(ArchiveError::TooManyEntries { .. })),
    ));
    cases.push((
        "encrypted",
        build(&[Spec { flags: 1, ..ok() }], None),
        |e| matches!(e, JarError::Archive(ArchiveError::Encrypted { .. })),
    ));
    cases.push((
        "unsupported-method-bzip2",
        build(&[Spec { method: 12, ..ok() }], None),
        |e| {
            matches!(
                e,
                JarError::Archive(ArchiveError::UnsupportedCompression { method: 12, .. })
            )
        },
    ));
    cases.push((
        "bomb-compression-ratio",
        build(&[deflated("zeros.bin", &vec![0u8; 8 * 1024 * 1024])], None),
        |e| matches!(e, JarError::Archive(ArchiveError::CompressionRatio { .. })),
    ));
    cases.push((
        "bomb-declared-size",
        build(
            &[Spec {
                usize: 16 << 30,
                ..deflated("big.bin", b"small")
            }],
            None,
        ),
        |e| matches!(e, JarError::Archive(ArchiveError::EntryTooLarge { .. })),
    ));
    cases.push((
        "bomb-lies-about-size",
        build(&[Spec { usize: 100, ..deflated("lie.bin", &vec![0u8; 100_000]) }], None),
        |e| matches!(e, JarError::Archive(ArchiveError::SizeMismatch { actual, .. }) if *actual <= 100 + 65_536),
    ));
    cases.push((
        "crc-mismatch",
        build(
            &[Spec {
                crc: 0xDEAD_BEEF,
                ..ok()
            }],
            None,
        ),
        |e| matches!(e, JarError::Archive(ArchiveError::CrcMismatch { .. })),
    ));
    cases.push((
        "corrupt-deflate",
        build(
            &[Spec {
                data: vec![0xFF; 64],
                ..deflated("c.bin", b"hello")
            }],
            None,
        ),
        |e| matches!(e, JarError::Archive(ArchiveError::CorruptData { .. })),
    ));
    cases.push((
        "bad-manifest",
        build(
            &[stored(
                "META-INF/MANIFEST.MF",
                b"Manifest-Version: 1.0\r\n continued\r\nName: x\r\n",
            )],
            None,
        ),
        |e| matches!(e, JarError::Manifest(_)),
    ));
    cases.push((
        "not-a-zip",
        b"PK\x03\x04 this is not an archive".to_vec(),
        |e| matches!(e, JarError::Archive(ArchiveError::NotAnArchive)),
    ));
    cases
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/jar/hostile")
}

#[test]
fn hostile_archives_are_refused_with_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let options = SignOptions::new(SignerName::new("SIGIL").unwrap(), HashAlgorithm::Sha256);
    let regenerate = std::env::var_os("SIGIL_REGENERATE_FIXTURES").is_some();
    for (name, bytes, expected) in catalogue() {
        let committed = fixtures_dir().join(format!("{name}.zip"));
        if regenerate {
            std::fs::create_dir_all(fixtures_dir()).unwrap();
            std::fs::write(&committed, &bytes).unwrap();
        }
        let generated = tmp.path().join(format!("{name}.zip"));
        std::fs::write(&generated, &bytes).unwrap();
        for path in [&generated, &committed] {
            let err = match sigil_jar::prepare(path, &options) {
                Ok(_) => panic!("{name}: {path:?} was accepted for signing"),
                Err(e) => e,
            };
            assert!(expected(&err), "{name}: unexpected error {err:?}");
            // Every error says what went wrong in words.
            assert!(err.to_string().len() > 20, "{name}: {err}");
            // The verifier refuses it too (or finds nothing signed).
            if let Ok(report) = sigil_jar::verify(path) {
                assert!(!report.is_intact(), "{name}");
            }
        }
    }
}

#[test]
fn a_well_formed_generated_archive_is_accepted() {
    // The generator itself is sound: without the defect, the same archive signs.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("good.zip");
    std::fs::write(
        &path,
        build(
            &[stored("ok.txt", b"fine"), deflated("z.bin", &[7u8; 1000])],
            None,
        ),
    )
    .unwrap();
    let options = SignOptions::new(SignerName::new("SIGIL").unwrap(), HashAlgorithm::Sha256);
    let prepared = sigil_jar::prepare(&path, &options).unwrap();
    let manifest = String::from_utf8(prepared.manifest().to_vec()).unwrap();
    assert!(manifest.starts_with("Manifest-Version: 1.0\r\nCreated-By: Sigil "));
    assert!(manifest.contains("Name: ok.txt\r\nSHA-256-Digest: "));
    assert!(manifest.contains("Name: z.bin\r\n"));
}
