//! Catalog files: an unsigned catalog built by `sigil-testkit` (a certificate trust list encoded
//! with `openssl asn1parse -genconf`, wrapped in a signer-less SignedData as makecat writes
//! it), signed through Sigil's detached-signature path and checked by `osslsigncode verify`
//! and our verifier; replace over an osslsigncode signature; tampering; hostile inputs
//! refused with the file untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;

use common::{TestPki, entries, osslsigncode_sign, unsigned_catalog};
use sigil_authenticode::catalog::{Catalog, prepare_catalog, verify_catalog_file};
use sigil_authenticode::{
    AuthenticodeError, CatalogError, EmbedMode, Placement, Subject, prepare_file,
    sign_subject_digest, verify_subject_file,
};
use sigil_keys::HashAlgorithm;
use sigil_testkit::osslsigncode_verify_with;

/// `osslsigncode verify -CAfile root`: accepted (exit 0, a signature verified), and its output.
fn ossl_verify(file: &Path, pki: &TestPki) -> (bool, String) {
    let verify = osslsigncode_verify_with(file, &[Path::new("-CAfile"), &pki.root_pem]);
    (verify.verified(), verify.output)
}

/// Signs `cat` through Sigil's path (prepare, server signature, embed) into `out`.
fn sigil_sign(
    pki: &TestPki,
    cat: &Path,
    out: &Path,
    hash: HashAlgorithm,
    mode: EmbedMode,
) -> Placement {
    let prepared = prepare_file(Subject::Catalog, cat, hash).unwrap();
    let pkcs7 = sign_subject_digest(
        &pki.signer(hash),
        Subject::Catalog,
        &prepared.digest,
        Some("Sigil Test Catalog"),
        Some("https://sigil.example/catalog"),
    )
    .unwrap();
    prepared.embed(cat, out, &pkcs7, mode).unwrap()
}

#[test]
fn sigil_signed_catalog_verifies_with_osslsigncode_for_every_hash() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cat");
    let cat = unsigned_catalog(dir.path(), "unsigned.cat", str::to_owned);
    let original = fs::read(&cat).unwrap();
    for hash in [
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ] {
        let signed = dir.path().join(format!("signed-{hash:?}.cat"));
        assert_eq!(
            sigil_sign(&pki, &cat, &signed, hash, EmbedMode::Replace),
            Placement::Primary
        );
        assert_eq!(fs::read(&cat).unwrap(), original, "the input is untouched");
        let (ok, out) = ossl_verify(&signed, &pki);
        assert!(ok, "osslsigncode verify failed:\n{out}");
        let report = verify_subject_file(Subject::Catalog, &signed).unwrap();
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.signatures[0].algorithm, Ok(hash));
        assert_eq!(
            report.signatures[0].signer_subject.as_deref(),
            Some("CN=Sigil Test Signer cat")
        );
        // The trust list is carried unchanged.
        let before = Catalog::from_der(&original).unwrap().trust_list;
        let after = Catalog::from_der(&fs::read(&signed).unwrap())
            .unwrap()
            .trust_list;
        assert_eq!(before, after);
    }
}

#[test]
fn osslsigncode_signature_verifies_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cat-ossl");
    let cat = unsigned_catalog(dir.path(), "unsigned.cat", str::to_owned);
    let ossl = dir.path().join("ossl.cat");
    osslsigncode_sign(&pki, &cat, &ossl, "sha256", false);

    // osslsigncode signs the digest Sigil computes.
    let ours = verify_catalog_file(&ossl).unwrap();
    assert!(ours.is_valid(), "{ours:#?}");
    let prepared = prepare_catalog(&cat, HashAlgorithm::Sha256).unwrap();
    assert_eq!(ours.signatures[0].signed_digest, prepared.digest);

    // Replace in place.
    let replaced = dir.path().join("replaced.cat");
    fs::copy(&ossl, &replaced).unwrap();
    let placement = sigil_sign(
        &pki,
        &replaced,
        &replaced,
        HashAlgorithm::Sha384,
        EmbedMode::Replace,
    );
    assert_eq!(placement, Placement::Replaced);
    let (ok, out) = ossl_verify(&replaced, &pki);
    assert!(ok, "{out}");
    assert!(out.contains("SHA384"), "{out}");

    // Nesting is refused, nothing written.
    let before = fs::read(&ossl).unwrap();
    let prepared = prepare_file(Subject::Catalog, &ossl, HashAlgorithm::Sha256).unwrap();
    let pkcs7 = pki.sign(Subject::Catalog, HashAlgorithm::Sha256, &prepared.digest);
    let err = prepared
        .embed(&ossl, &ossl, &pkcs7, EmbedMode::Append)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthenticodeError::Catalog(CatalogError::NestingUnsupported)
        ),
        "{err}"
    );
    assert_eq!(fs::read(&ossl).unwrap(), before);
}

#[test]
fn one_byte_changed_in_the_trust_list_fails_both_verifiers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cat-tamper");
    let cat = unsigned_catalog(dir.path(), "unsigned.cat", str::to_owned);
    let signed = dir.path().join("signed.cat");
    sigil_sign(
        &pki,
        &cat,
        &signed,
        HashAlgorithm::Sha256,
        EmbedMode::Replace,
    );
    let mut bytes = fs::read(&signed).unwrap();
    let member = bytes
        .windows(4)
        .position(|w| w == [0x41, 0x00, 0x42, 0x00])
        .unwrap();
    bytes[member] ^= 0x01;
    let tampered = dir.path().join("tampered.cat");
    fs::write(&tampered, &bytes).unwrap();
    let (ok, out) = ossl_verify(&tampered, &pki);
    assert!(!ok, "osslsigncode accepted a modified catalog:\n{out}");
    let ours = verify_catalog_file(&tampered).unwrap();
    assert!(!ours.is_valid(), "{ours:#?}");
    assert!(!ours.signatures[0].image_digest.passed());
}

/// A hostile catalog: name, bytes, the expected error.
type Hostile = (&'static str, Vec<u8>, fn(&AuthenticodeError) -> bool);

#[test]
fn wrong_signatures_and_hostile_catalogs_are_refused_with_the_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path(), "cat-hostile");
    let cat = unsigned_catalog(dir.path(), "unsigned.cat", str::to_owned);
    let other = unsigned_catalog(dir.path(), "other.cat", |c| {
        c.replace("410042004300", "580059005a00")
    });
    let original = fs::read(&cat).unwrap();
    let signer = pki.signer(HashAlgorithm::Sha256);
    let prepared = prepare_file(Subject::Catalog, &cat, HashAlgorithm::Sha256).unwrap();
    let out = dir.path().join("out.cat");
    let before = entries(dir.path());

    // A signature over another catalog's trust list.
    let other_digest = prepare_catalog(&other, HashAlgorithm::Sha256)
        .unwrap()
        .digest;
    let pkcs7 = sign_subject_digest(&signer, Subject::Catalog, &other_digest, None, None).unwrap();
    let err = prepared
        .embed(&cat, &out, &pkcs7, EmbedMode::Replace)
        .unwrap_err();
    assert!(
        matches!(err, AuthenticodeError::DigestMismatch { .. }),
        "{err}"
    );
    // A PE signature over the right digest.
    let pkcs7 = sign_subject_digest(&signer, Subject::Pe, &prepared.digest, None, None).unwrap();
    let err = prepared
        .embed(&cat, &out, &pkcs7, EmbedMode::Replace)
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthenticodeError::WrongSubject {
                found: Subject::Pe,
                ..
            }
        ),
        "{err}"
    );
    // Garbage.
    let err = prepared
        .embed(&cat, &out, b"\x30\x03\x02\x01\x01", EmbedMode::Replace)
        .unwrap_err();
    assert!(
        matches!(err, AuthenticodeError::MalformedSignature { .. }),
        "{err}"
    );
    // The catalog changed since it was hashed.
    let pkcs7 =
        sign_subject_digest(&signer, Subject::Catalog, &prepared.digest, None, None).unwrap();
    fs::copy(&other, &cat).unwrap();
    let err = prepared
        .embed(&cat, &out, &pkcs7, EmbedMode::Replace)
        .unwrap_err();
    assert!(matches!(err, AuthenticodeError::FileChanged), "{err}");
    fs::write(&cat, &original).unwrap();
    assert_eq!(
        entries(dir.path()),
        before,
        "nothing written, no temporary file left"
    );

    let unsigned_err = verify_catalog_file(&cat).unwrap_err();
    assert!(
        matches!(unsigned_err, AuthenticodeError::NotSigned),
        "{unsigned_err}"
    );

    let hostile: Vec<Hostile> = vec![
        ("not DER", b"not a catalog".to_vec(), |e| {
            matches!(e, AuthenticodeError::Catalog(CatalogError::NotPkcs7 { .. }))
        }),
        ("truncated", original[..original.len() - 5].to_vec(), |e| {
            matches!(e, AuthenticodeError::Catalog(CatalogError::NotPkcs7 { .. }))
        }),
        (
            "trailing data",
            [original.as_slice(), b"xx"].concat(),
            |e| matches!(e, AuthenticodeError::Catalog(CatalogError::NotPkcs7 { .. })),
        ),
        (
            "id-data content",
            fs::read(unsigned_catalog(dir.path(), "data.cat", |c| {
                c.replace("type=OID:1.3.6.1.4.1.311.10.1", "type=OID:pkcs7-data")
            }))
            .unwrap(),
            |e| {
                matches!(
                    e,
                    AuthenticodeError::Catalog(CatalogError::NotCatalog { .. })
                )
            },
        ),
        (
            "detached",
            fs::read(unsigned_catalog(dir.path(), "detached.cat", |c| {
                c.replace("content=EXPLICIT:0,SEQUENCE:ctl\n", "")
            }))
            .unwrap(),
            |e| matches!(e, AuthenticodeError::Catalog(CatalogError::NoTrustList)),
        ),
        (
            "too large",
            [b"\x30\x84\x00\x20\x00\x00".as_slice(), &vec![0; 2 << 20]].concat(),
            |e| matches!(e, AuthenticodeError::TooLarge { .. }),
        ),
    ];
    for (name, bytes, expected) in hostile {
        let file = dir.path().join("hostile.cat");
        fs::write(&file, &bytes).unwrap();
        for err in [
            prepare_file(Subject::Catalog, &file, HashAlgorithm::Sha256).unwrap_err(),
            verify_subject_file(Subject::Catalog, &file).unwrap_err(),
        ] {
            assert!(expected(&err), "{name}: unexpected error {err:?}");
        }
        assert_eq!(
            fs::read(&file).unwrap(),
            bytes,
            "{name}: the file was modified"
        );
    }
}
