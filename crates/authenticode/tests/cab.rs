//! Cabinet files: cabinets built by Debian's `gcab`, digests compared with
//! `osslsigncode extract-data`, signatures made by openssl cms and by osslsigncode
//! embedded by our code and checked by `osslsigncode verify`, `gcab` and our own
//! verifier; replace and nest; tampering; lying headers refused with the file untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use common::{TestPki, entries, openssl_sign, osslsigncode_sign, run};
use der::{Decode, Encode, SliceReader};
use sigil_authenticode::cab::{CabLayout, embed_cab_signature, prepare_cab, verify_cab_file};
use sigil_authenticode::{
    AuthenticodeContent, AuthenticodeError, CabError, EmbedMode, Placement, SpcIndirectDataContent,
    Subject, prepare_file, sign_subject_digest, verify_subject_file,
};
use sigil_keys::HashAlgorithm;
use sigil_testkit::{OsslVerify, gcab_create, gcab_extract, osslsigncode_verify};

const HASHES: [(HashAlgorithm, &str); 3] = [
    (HashAlgorithm::Sha256, "sha256"),
    (HashAlgorithm::Sha384, "sha384"),
    (HashAlgorithm::Sha512, "sha512"),
];

/// The digest algorithm and digest in a DER `SpcIndirectDataContent`, and its data type.
fn content_digest(content: &[u8]) -> (String, Vec<u8>) {
    let parsed = SpcIndirectDataContent::from_der(content).unwrap();
    (
        parsed.data.value_type.to_string(),
        parsed.message_digest.digest.as_bytes().to_vec(),
    )
}

/// The `SpcIndirectDataContent` DER osslsigncode would sign for `cab` (`extract-data`
/// writes the PKCS#7 followed by the cabinet's data: only the first element is read).
fn osslsigncode_content(dir: &Path, cab: &Path, hash: &str) -> Vec<u8> {
    let out = dir.join(format!("extract-data-{hash}.der"));
    let _ = fs::remove_file(&out);
    run(Command::new("osslsigncode")
        .args(["extract-data", "-h", hash, "-in"])
        .arg(cab)
        .arg("-out")
        .arg(&out));
    let bytes = fs::read(&out).unwrap();
    let mut reader = SliceReader::new(&bytes).unwrap();
    let content_info = ContentInfo::decode(&mut reader).unwrap();
    let signed_data: SignedData = content_info.content.decode_as().unwrap();
    signed_data
        .encap_content_info
        .econtent
        .unwrap()
        .to_der()
        .unwrap()
}

/// Builds a cabinet with gcab from a few files (compressed with MSZIP when `compress`).
fn gcab(dir: &Path, name: &str, compress: bool) -> PathBuf {
    let src = dir.join(format!("{name}-files"));
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("readme.txt"), "Sigil cabinet test\n".repeat(50)).unwrap();
    let noise: Vec<u8> = (0..70_001u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(src.join("data.bin"), noise).unwrap();
    fs::write(src.join("empty.txt"), "").unwrap();
    let cab = dir.join(format!("{name}.cab"));
    gcab_create(
        &src,
        &cab,
        &["readme.txt", "data.bin", "empty.txt"],
        compress,
    );
    cab
}

/// A signature made by openssl cms over the content osslsigncode builds for `cab`.
fn openssl_signature(
    dir: &Path,
    pki: &TestPki,
    cab: &Path,
    hash: HashAlgorithm,
    name: &str,
) -> Vec<u8> {
    let content = osslsigncode_content(dir, cab, name);
    openssl_sign(
        dir,
        pki,
        &AuthenticodeContent::from_der(content).unwrap(),
        hash,
    )
}

#[test]
fn digest_matches_osslsigncode_for_every_hash() {
    let dir = tempfile::tempdir().unwrap();
    for compress in [false, true] {
        let cab = gcab(dir.path(), &format!("digest-{compress}"), compress);
        for (hash, name) in HASHES {
            let prepared = prepare_cab(&cab, hash).unwrap();
            let (data_type, digest) = content_digest(&osslsigncode_content(dir.path(), &cab, name));
            assert_eq!(data_type, "1.3.6.1.4.1.311.2.1.25");
            assert_eq!(prepared.digest, digest, "{name}, compressed: {compress}");
            assert_eq!(prepared.layout.signature, None);
        }
    }
}

#[test]
fn osslsigncode_signed_cabinet_verifies_and_keeps_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-ossl");
    let cab = gcab(dir.path(), "ossl", true);
    let signed = dir.path().join("ossl-signed.cab");
    osslsigncode_sign(&pki, &cab, &signed, "sha256", false);

    let report = verify_cab_file(&signed).unwrap();
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(report.signatures.len(), 1);
    // The digest of the unsigned cabinet is the digest of the signed one.
    let unsigned = prepare_cab(&cab, HashAlgorithm::Sha256).unwrap();
    let resigned = prepare_cab(&signed, HashAlgorithm::Sha256).unwrap();
    assert_eq!(unsigned.digest, resigned.digest);
    assert_eq!(report.signatures[0].signed_digest, unsigned.digest);
}

#[test]
fn embedded_signatures_verify_with_osslsigncode_and_gcab() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-embed");
    for compress in [false, true] {
        let cab = gcab(dir.path(), &format!("embed-{compress}"), compress);
        let original = fs::read(&cab).unwrap();
        let files = gcab_extract(dir.path(), &cab);
        for (hash, name) in HASHES {
            let pkcs7 = openssl_signature(dir.path(), &pki, &cab, hash, name);
            let signed = dir.path().join(format!("embed-{compress}-{name}.cab"));
            let report = embed_cab_signature(&cab, &signed, &pkcs7, EmbedMode::Replace).unwrap();
            assert_eq!(report.placement, Placement::Primary);
            assert_eq!(report.signature.size % 8, 0);
            assert_eq!(fs::metadata(&signed).unwrap().len(), report.file_len);
            assert_eq!(
                report.file_len,
                original.len() as u64 + 24 + report.signature.size
            );
            assert_eq!(fs::read(&cab).unwrap(), original, "the input is untouched");

            osslsigncode_verify(&signed, &pki.root_pem).assert_signatures(1);
            let ours = verify_cab_file(&signed).unwrap();
            assert!(ours.is_valid(), "{ours:#?}");
            assert_eq!(ours.signatures[0].algorithm, Ok(hash));
            assert_eq!(
                ours.signatures[0].signer_subject.as_deref(),
                Some("CN=Sigil Test Signer cab-embed")
            );
            assert_eq!(
                gcab_extract(dir.path(), &signed),
                files,
                "gcab reads the signed cabinet"
            );
        }
    }
}

#[test]
fn one_byte_changed_fails_both_verifiers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-tamper");
    let cab = gcab(dir.path(), "tamper", false);
    let pkcs7 = openssl_signature(dir.path(), &pki, &cab, HashAlgorithm::Sha256, "sha256");
    let signed = dir.path().join("tamper-signed.cab");
    embed_cab_signature(&cab, &signed, &pkcs7, EmbedMode::Replace).unwrap();
    let layout = verify_cab_file(&signed).unwrap().layout;

    // A byte of file data, a byte of the hashed header (setID).
    for offset in [layout.content_end() - 100, 32] {
        let mut bytes = fs::read(&signed).unwrap();
        bytes[offset as usize] ^= 0x01;
        let tampered = dir.path().join(format!("tampered-{offset}.cab"));
        fs::write(&tampered, &bytes).unwrap();
        let OsslVerify {
            success: ok,
            output: out,
        } = osslsigncode_verify(&tampered, &pki.root_pem);
        assert!(!ok, "osslsigncode accepted a modified cabinet:\n{out}");
        let ours = verify_cab_file(&tampered).unwrap();
        assert!(!ours.is_valid(), "{ours:#?}");
        assert!(!ours.signatures[0].image_digest.passed());
    }
}

#[test]
fn replace_and_nest_over_an_osslsigncode_signature() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-modes");
    let cab = gcab(dir.path(), "modes", true);
    let signed = dir.path().join("modes-ossl.cab");
    osslsigncode_sign(&pki, &cab, &signed, "sha256", false);
    let before = fs::read(&signed).unwrap();

    // Replace, in place: same header, one signature.
    let in_place = dir.path().join("modes-replace.cab");
    fs::copy(&signed, &in_place).unwrap();
    let pkcs7 = openssl_signature(dir.path(), &pki, &signed, HashAlgorithm::Sha384, "sha384");
    let report = embed_cab_signature(&in_place, &in_place, &pkcs7, EmbedMode::Replace).unwrap();
    assert_eq!(report.placement, Placement::Replaced);
    osslsigncode_verify(&in_place, &pki.root_pem).assert_signatures(1);
    let replaced = fs::read(&in_place).unwrap();
    let area = verify_cab_file(&signed).unwrap().layout.signature.unwrap();
    assert_eq!(replaced[..44], before[..44]);
    assert_eq!(
        replaced[52..area.offset as usize],
        before[52..area.offset as usize]
    );

    // Nest: the osslsigncode signature stays, ours is added; twice.
    let nested = dir.path().join("modes-nested.cab");
    let pkcs7 = openssl_signature(dir.path(), &pki, &signed, HashAlgorithm::Sha512, "sha512");
    let report = embed_cab_signature(&signed, &nested, &pkcs7, EmbedMode::Append).unwrap();
    assert_eq!(report.placement, Placement::Nested);
    osslsigncode_verify(&nested, &pki.root_pem).assert_signatures(2);
    embed_cab_signature(&nested, &nested, &pkcs7, EmbedMode::Append).unwrap();
    osslsigncode_verify(&nested, &pki.root_pem).assert_signatures(3);
    let ours = verify_cab_file(&nested).unwrap();
    assert!(ours.is_valid(), "{ours:#?}");
    assert_eq!(ours.signatures.len(), 3);
    assert_eq!(fs::read(&signed).unwrap(), before, "the input is untouched");

    // osslsigncode can nest into ours too.
    let ossl_nested = dir.path().join("modes-ossl-nested.cab");
    osslsigncode_sign(&pki, &in_place, &ossl_nested, "sha256", true);
    assert!(verify_cab_file(&ossl_nested).unwrap().is_valid());
}

#[test]
fn signature_for_another_cabinet_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-other");
    let first = gcab(dir.path(), "first", false);
    let second = gcab(dir.path(), "second", true);
    let pkcs7 = openssl_signature(dir.path(), &pki, &first, HashAlgorithm::Sha256, "sha256");
    let out = dir.path().join("other-out.cab");
    let before = entries(dir.path());
    let err = embed_cab_signature(&second, &out, &pkcs7, EmbedMode::Replace).unwrap_err();
    assert!(
        matches!(err, AuthenticodeError::DigestMismatch { .. }),
        "{err}"
    );
    assert_eq!(
        entries(dir.path()),
        before,
        "nothing written, no temporary file left"
    );

    let err = verify_cab_file(&first).unwrap_err();
    assert!(matches!(err, AuthenticodeError::NotSigned), "{err}");
}

/// A hostile variant of a valid cabinet: name, the change, and the expected error.
type Mutation = (&'static str, fn(&mut Vec<u8>), fn(&CabError) -> bool);

fn put(bytes: &mut [u8], at: usize, value: u32) {
    bytes
        .get_mut(at..at + 4)
        .unwrap()
        .copy_from_slice(&value.to_le_bytes());
}

#[test]
fn lying_headers_are_refused_and_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-hostile");
    let cab = gcab(dir.path(), "hostile", false);
    let signed = dir.path().join("hostile-signed.cab");
    osslsigncode_sign(&pki, &cab, &signed, "sha256", false);
    let pkcs7 = openssl_signature(dir.path(), &pki, &cab, HashAlgorithm::Sha256, "sha256");
    let unsigned = fs::read(&cab).unwrap();
    let signed_bytes = fs::read(&signed).unwrap();

    let unsigned_cases: Vec<Mutation> = vec![
        (
            "bad magic",
            |b| b[0] = b'N',
            |e| matches!(e, CabError::BadSignature),
        ),
        (
            "truncated header",
            |b| b.truncate(30),
            |e| matches!(e, CabError::Truncated { .. }),
        ),
        (
            "cbCabinet too large",
            |b| put(b, 8, 1 << 30),
            |e| matches!(e, CabError::LengthMismatch { .. }),
        ),
        (
            "cbCabinet too small",
            |b| put(b, 8, 40),
            |e| matches!(e, CabError::LengthMismatch { .. }),
        ),
        (
            "file cut",
            |b| {
                let n = b.len() - 10;
                b.truncate(n)
            },
            |e| matches!(e, CabError::LengthMismatch { .. }),
        ),
        (
            "coffFiles lies",
            |b| put(b, 16, 1000),
            |e| matches!(e, CabError::FilesOffsetMismatch { .. }),
        ),
        (
            "cFolders lies",
            |b| b[26] = 0xff,
            |e| matches!(e, CabError::FilesOffsetMismatch { .. }),
        ),
        (
            "folder data outside the file",
            |b| put(b, 36, 0x7fff_ffff),
            |e| matches!(e, CabError::FolderOutOfFile { .. }),
        ),
        (
            "folder data inside the header",
            |b| put(b, 36, 4),
            |e| matches!(e, CabError::FolderOutOfFile { .. }),
        ),
        (
            "previous cabinet",
            |b| b[30] |= 1,
            |e| matches!(e, CabError::UnsupportedFlags { .. }),
        ),
        (
            "next cabinet",
            |b| b[30] |= 2,
            |e| matches!(e, CabError::UnsupportedFlags { .. }),
        ),
        (
            "reserved1 set",
            |b| b[4] = 1,
            |e| {
                matches!(
                    e,
                    CabError::BadField {
                        field: "reserved1",
                        ..
                    }
                )
            },
        ),
        (
            "version 2",
            |b| b[25] = 2,
            |e| {
                matches!(
                    e,
                    CabError::BadField {
                        field: "versionMajor",
                        ..
                    }
                )
            },
        ),
        (
            "reserve flag without a reserve",
            |b| b[30] |= 4,
            |e| matches!(e, CabError::UnsupportedReserve { .. }),
        ),
    ];
    let signed_cases: Vec<Mutation> = vec![
        (
            "signature area past the end",
            |b| put(b, 48, 1 << 20),
            |e| matches!(e, CabError::BadSignatureArea { .. }),
        ),
        (
            "signature offset zero",
            |b| put(b, 44, 0),
            |e| matches!(e, CabError::BadSignatureArea { .. }),
        ),
        (
            "data after the signature",
            |b| b.extend_from_slice(&[0; 8]),
            |e| matches!(e, CabError::BadSignatureArea { .. }),
        ),
        (
            "per-folder reserve",
            |b| b[38] = 4,
            |e| matches!(e, CabError::UnsupportedReserve { .. }),
        ),
        (
            "reserve of another size",
            |b| b[36] = 8,
            |e| matches!(e, CabError::UnsupportedReserve { .. }),
        ),
        (
            "reserve marker",
            |b| b[42] = 0,
            |e| matches!(e, CabError::UnsupportedReserve { .. }),
        ),
        (
            "cbCabinet includes the signature",
            |b| {
                let n = b.len() as u32;
                put(b, 8, n)
            },
            |e| matches!(e, CabError::LengthMismatch { .. }),
        ),
    ];
    for (base, cases) in [(&unsigned, unsigned_cases), (&signed_bytes, signed_cases)] {
        for (name, mutate, expected) in cases {
            let mut bytes = base.clone();
            mutate(&mut bytes);
            let file = dir.path().join("hostile-case.cab");
            fs::write(&file, &bytes).unwrap();
            let check = |err: AuthenticodeError| match err {
                AuthenticodeError::Cab(e) => {
                    assert!(expected(&e), "{name}: unexpected error {e:?}");
                    assert!(!e.to_string().is_empty());
                }
                other => panic!("{name}: not a cabinet error: {other:?}"),
            };
            check(CabLayout::parse(&mut fs::File::open(&file).unwrap()).unwrap_err());
            check(prepare_cab(&file, HashAlgorithm::Sha256).unwrap_err());
            check(verify_cab_file(&file).unwrap_err());
            let before = entries(dir.path());
            check(embed_cab_signature(&file, &file, &pkcs7, EmbedMode::Replace).unwrap_err());
            assert_eq!(
                fs::read(&file).unwrap(),
                bytes,
                "{name}: the file was modified"
            );
            assert_eq!(
                entries(dir.path()),
                before,
                "{name}: a file was left behind"
            );
        }
    }
}

#[test]
fn sigil_signature_matches_osslsigncode_content_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-sigil");
    let cab = gcab(dir.path(), "sigil", true);
    for (hash, name) in HASHES {
        let prepared = prepare_file(Subject::Cab, &cab, hash).unwrap();
        let ours = AuthenticodeContent::for_subject(Subject::Cab, hash, &prepared.digest).unwrap();
        assert_eq!(
            ours.econtent_der(),
            osslsigncode_content(dir.path(), &cab, name)
        );

        let pkcs7 = sign_subject_digest(
            &pki.signer(hash),
            Subject::Cab,
            &prepared.digest,
            Some("Sigil Test Cabinet"),
            None,
        )
        .unwrap();
        let signed = dir.path().join(format!("sigil-{name}.cab"));
        let placement = prepared
            .embed(&cab, &signed, &pkcs7, EmbedMode::Replace)
            .unwrap();
        assert_eq!(placement, Placement::Primary);
        osslsigncode_verify(&signed, &pki.root_pem).assert_signatures(1);
        let report = verify_subject_file(Subject::Cab, &signed).unwrap();
        assert!(report.is_valid(), "{report:#?}");

        // A PE signature is refused for a cabinet, before anything is written.
        let pe = pki.sign(Subject::Pe, hash, &prepared.digest);
        let err = prepared
            .embed(&cab, &signed, &pe, EmbedMode::Replace)
            .unwrap_err();
        assert!(
            matches!(err, AuthenticodeError::WrongSubject { .. }),
            "{err}"
        );
    }
}

#[test]
fn a_cabinet_changed_after_hashing_is_never_signed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cab-changed");
    let cab = gcab(dir.path(), "changed", false);
    // Timestamps are coarse: date the file back so that the write below moves them.
    fs::File::options()
        .write(true)
        .open(&cab)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000))
        .unwrap();
    let prepared = prepare_cab(&cab, HashAlgorithm::Sha256).unwrap();
    let pkcs7 = pki.sign(Subject::Cab, HashAlgorithm::Sha256, &prepared.digest);
    // One data byte rewritten in place: same length, same header.
    let mut bytes = fs::read(&cab).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&cab, &bytes).unwrap();
    let output = dir.path().join("changed-out.cab");
    let before = entries(dir.path());
    let err = prepared
        .embed(&cab, &output, &pkcs7, EmbedMode::Replace)
        .unwrap_err();
    assert!(matches!(err, AuthenticodeError::FileChanged), "{err}");
    assert_eq!(entries(dir.path()), before, "nothing written");
    assert_eq!(fs::read(&cab).unwrap(), bytes);
}
