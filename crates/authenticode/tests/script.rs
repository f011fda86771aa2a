//! PowerShell scripts against osslsigncode 2.9: the same `SpcIndirectDataContent` (so the
//! same digest) for UTF-8 with and without BOM, UTF-16LE, CRLF and LF; signatures embedded by
//! Sigil verify with osslsigncode and Sigil, re-signing replaces the block, appending nests;
//! a changed byte fails both verifiers; hostile scripts are refused with nothing written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::Path;

use common::{TestPki, entries, osslsigncode_content, osslsigncode_sign, osslsigncode_verify};
use sigil_authenticode::{
    AuthenticodeContent, AuthenticodeError, EmbedMode, Placement, ScriptError, Subject,
    prepare_file, sign_subject_digest, verify_subject_file,
};
use sigil_keys::HashAlgorithm;

/// Scripts in every encoding and line ending the SIP reads.
fn scripts() -> Vec<(&'static str, Vec<u8>)> {
    let text =
        "# Sigil test script ✓\nparam([string]$Name = 'wörld')\nWrite-Host \"hello $Name\"\n";
    let crlf = text.replace('\n', "\r\n");
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(crlf.encode_utf16().flat_map(u16::to_le_bytes));
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(crlf.as_bytes());
    vec![
        ("utf8-lf.ps1", text.as_bytes().to_vec()),
        ("utf8-bom-crlf.psm1", bom),
        ("utf16-crlf.psd1", utf16),
        ("no-final-newline.ps1", b"Write-Host 'no newline'".to_vec()),
    ]
}

fn assert_ossl_valid(file: &Path, pki: &TestPki, signatures: usize) {
    let verify = osslsigncode_verify(file, &pki.root_pem);
    let out = &verify.output;
    assert!(verify.success, "osslsigncode verify failed:\n{out}");
    assert!(!out.contains("MISMATCH"), "{out}");
    assert_eq!(
        out.matches("Signature verification: ok").count(),
        signatures,
        "{out}"
    );
}

/// Signs `input` into `output` the way `sigil sign` does: hash, server signature, embed.
fn sigil_sign(
    pki: &TestPki,
    input: &Path,
    output: &Path,
    hash: HashAlgorithm,
    mode: EmbedMode,
) -> Placement {
    let prepared = prepare_file(Subject::Script, input, hash).unwrap();
    let pkcs7 = sign_subject_digest(
        &pki.signer(hash),
        Subject::Script,
        &prepared.digest,
        Some("Sigil script test"),
        None,
    )
    .unwrap();
    prepared.embed(input, output, &pkcs7, mode).unwrap()
}

#[test]
fn digests_match_osslsigncode_and_signatures_verify() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "script");
    for (name, bytes) in scripts() {
        let input = dir.path().join(name);
        fs::write(&input, &bytes).unwrap();
        for (hash, md) in [
            (HashAlgorithm::Sha256, "sha256"),
            (HashAlgorithm::Sha384, "sha384"),
            (HashAlgorithm::Sha512, "sha512"),
        ] {
            let prepared = prepare_file(Subject::Script, &input, hash).unwrap();
            let ours =
                AuthenticodeContent::for_subject(Subject::Script, hash, &prepared.digest).unwrap();
            assert_eq!(
                ours.econtent_der(),
                osslsigncode_content(dir.path(), &input, md),
                "{name} {md}"
            );
        }

        let signed = dir.path().join(format!("signed-{name}"));
        let placement = sigil_sign(
            &pki,
            &input,
            &signed,
            HashAlgorithm::Sha256,
            EmbedMode::Replace,
        );
        assert_eq!(placement, Placement::Primary);
        assert!(fs::read(&signed).unwrap().starts_with(&bytes), "{name}");
        assert_ossl_valid(&signed, &pki, 1);
        let report = verify_subject_file(Subject::Script, &signed).unwrap();
        assert!(report.is_valid(), "{name}: {report:?}");

        // Signing again replaces the block; appending nests a second signature.
        let placement = sigil_sign(
            &pki,
            &signed,
            &signed,
            HashAlgorithm::Sha384,
            EmbedMode::Replace,
        );
        assert_eq!(placement, Placement::Replaced);
        let signed_bytes = fs::read(&signed).unwrap();
        assert!(signed_bytes.starts_with(&bytes), "{name}");
        let header_units = if bytes.starts_with(&[0xff, 0xfe]) {
            "# SIG # Begin"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect()
        } else {
            b"# SIG # Begin".to_vec()
        };
        let blocks = signed_bytes
            .windows(header_units.len())
            .filter(|w| *w == header_units.as_slice())
            .count();
        assert_eq!(blocks, 1, "{name}: the old block was not replaced");
        assert_ossl_valid(&signed, &pki, 1);
        let placement = sigil_sign(
            &pki,
            &signed,
            &signed,
            HashAlgorithm::Sha256,
            EmbedMode::Append,
        );
        assert_eq!(placement, Placement::Nested);
        assert_ossl_valid(&signed, &pki, 2);
        let report = verify_subject_file(Subject::Script, &signed).unwrap();
        assert_eq!(report.signatures.len(), 2);
        assert!(report.is_valid(), "{name}: {report:?}");

        // One byte of the script changed: both verifiers refuse it.
        let mut tampered = fs::read(&signed).unwrap();
        let at = if tampered.starts_with(&[0xff, 0xfe]) {
            4
        } else {
            2
        };
        tampered[at] ^= 0x01;
        let tampered_path = dir.path().join(format!("tampered-{name}"));
        fs::write(&tampered_path, &tampered).unwrap();
        assert!(
            !osslsigncode_verify(&tampered_path, &pki.root_pem).success,
            "{name}"
        );
        let report = verify_subject_file(Subject::Script, &tampered_path).unwrap();
        assert!(!report.is_valid(), "{name}");
        assert!(!report.signatures[0].image_digest.passed());
    }
}

#[test]
fn scripts_signed_by_osslsigncode_verify_and_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "ossl");
    for (name, bytes) in scripts() {
        let input = dir.path().join(name);
        fs::write(&input, &bytes).unwrap();
        let theirs = dir.path().join(format!("ossl-{name}"));
        osslsigncode_sign(&pki, &input, &theirs, "sha256", false);
        let report = verify_subject_file(Subject::Script, &theirs).unwrap();
        assert!(report.is_valid(), "{name}: {report:?}");

        let ours = dir.path().join(format!("resigned-{name}"));
        let placement = sigil_sign(
            &pki,
            &theirs,
            &ours,
            HashAlgorithm::Sha512,
            EmbedMode::Replace,
        );
        assert_eq!(placement, Placement::Replaced);
        assert_ossl_valid(&ours, &pki, 1);
        let nested = dir.path().join(format!("nested-{name}"));
        sigil_sign(
            &pki,
            &theirs,
            &nested,
            HashAlgorithm::Sha256,
            EmbedMode::Append,
        );
        assert_ossl_valid(&nested, &pki, 2);
    }
}

#[test]
fn hostile_scripts_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "hostile");
    let header = "# SIG # Begin signature block";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "fake-block.ps1",
            format!("Write-Host a\r\n{header}\r\nRemove-Item -Recurse C:\\\r\n").into_bytes(),
        ),
        (
            "text-after-block.ps1",
            format!(
                "Write-Host a\r\n{header}\r\n# MAMCAQU=\r\n# SIG # End signature block\r\nWrite-Host b\r\n"
            )
            .into_bytes(),
        ),
        ("latin1.ps1", b"Write-Host '\xe9t\xe9'\r\n".to_vec()),
        ("odd-utf16.ps1", b"\xff\xfeW\x00r".to_vec()),
        ("only-block.ps1", format!("{header}\r\n").into_bytes()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        fs::write(&path, &bytes).unwrap();
        let before = entries(dir.path());
        let err = prepare_file(Subject::Script, &path, HashAlgorithm::Sha256).unwrap_err();
        assert!(matches!(err, AuthenticodeError::Script(_)), "{name}: {err}");
        if name == "only-block.ps1" {
            assert!(matches!(
                err,
                AuthenticodeError::Script(ScriptError::OnlySignatureBlock)
            ));
        }
        assert!(!err.to_string().is_empty());
        assert!(
            verify_subject_file(Subject::Script, &path).is_err(),
            "{name}"
        );
        assert_eq!(fs::read(&path).unwrap(), bytes, "{name}");
        assert_eq!(entries(dir.path()), before, "{name}");
    }

    // A signature for another script, or for another kind of file, is refused on embedding.
    let script = dir.path().join("good.ps1");
    fs::write(&script, "Write-Host good\r\n").unwrap();
    let prepared = prepare_file(Subject::Script, &script, HashAlgorithm::Sha256).unwrap();
    let output = dir.path().join("out.ps1");
    let other = pki.sign(Subject::Script, HashAlgorithm::Sha256, &[7; 32]);
    assert!(matches!(
        prepared.embed(&script, &output, &other, EmbedMode::Replace),
        Err(AuthenticodeError::DigestMismatch { .. })
    ));
    let msi = pki.sign(Subject::Msi, HashAlgorithm::Sha256, &prepared.digest);
    assert!(matches!(
        prepared.embed(&script, &output, &msi, EmbedMode::Replace),
        Err(AuthenticodeError::WrongSubject {
            expected: Subject::Script,
            found: Subject::Msi
        })
    ));
    assert!(!output.exists());

    // The file changed after hashing: nothing is written.
    let pkcs7 = pki.sign(Subject::Script, HashAlgorithm::Sha256, &prepared.digest);
    fs::write(&script, "Write-Host changed\r\n").unwrap();
    assert!(matches!(
        prepared.embed(&script, &output, &pkcs7, EmbedMode::Replace),
        Err(AuthenticodeError::FileChanged)
    ));
    assert!(!output.exists());
    assert!(matches!(
        verify_subject_file(Subject::Script, &script),
        Err(AuthenticodeError::NotSigned)
    ));
}
