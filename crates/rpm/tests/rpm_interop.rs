//! The rewritten signature header against rpm itself: a package built by `rpmbuild`, its
//! main header signed by GnuPG (so this test checks the layout, independently of Sigil's
//! OpenPGP code), the signature put in by `sigil-rpm`, and `rpm -K` with the key imported.
//! Needs `rpm`, `rpmbuild` and `gpg` (installed by `scripts/test.sh`; missing, the test fails).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

use sigil_rpm::{HeaderSignatureTag, Package, read_package};

use sigil_testkit::builders::rpmbuild_package as build_package;
use sigil_testkit::run;

fn header_bytes(path: &Path, package: &Package) -> Vec<u8> {
    let mut file = File::open(path).unwrap();
    file.seek(SeekFrom::Start(package.header_start)).unwrap();
    let mut bytes = vec![0; package.header_len as usize];
    file.read_exact(&mut bytes).unwrap();
    bytes
}

fn rpm_check(db: &Path, package: &Path) -> (bool, String) {
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(db)
        .arg("-Kv")
        .arg(package)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn rpm_accepts_a_header_signature_put_in_by_sigil_rpm() {
    let dir = tempfile::tempdir().unwrap();
    let package_path = build_package(dir.path());
    let original = std::fs::read(&package_path).unwrap();
    let package = read_package(&mut File::open(&package_path).unwrap()).unwrap();
    assert!(package.header_signature().is_none());

    let gnupg = dir.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    let gpg = || {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(&gnupg)
            .arg("--batch")
            .arg("--pinentry-mode")
            .arg("loopback")
            .arg("--passphrase")
            .arg("");
        cmd
    };
    run(gpg().args([
        "--quick-gen-key",
        "Sigil RPM test <rpm@example.test>",
        "rsa3072",
        "sign",
        "never",
    ]));
    let header = dir.path().join("header.bin");
    std::fs::write(&header, header_bytes(&package_path, &package)).unwrap();
    let sig = dir.path().join("header.sig");
    run(gpg()
        .args(["--digest-algo", "sha256", "--detach-sign", "-o"])
        .arg(&sig)
        .arg(&header));
    let key = dir.path().join("key.asc");
    run(gpg().args(["--armor", "--export", "-o"]).arg(&key));

    let signed = dir.path().join("signed.rpm");
    let header =
        package.signed_signature_header(HeaderSignatureTag::Rsa, &std::fs::read(&sig).unwrap());
    package
        .write_with(
            &header,
            &mut File::open(&package_path).unwrap(),
            &mut File::create(&signed).unwrap(),
        )
        .unwrap();
    // rpmbuild's reserved space absorbed the signature: the package keeps its length.
    assert_eq!(
        std::fs::metadata(&signed).unwrap().len(),
        original.len() as u64
    );
    let reread = read_package(&mut File::open(&signed).unwrap()).unwrap();
    assert_eq!(
        reread.header_signature().map(|(t, _)| t),
        Some(HeaderSignatureTag::Rsa)
    );

    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let (ok, text) = rpm_check(&db, &signed);
    assert!(!ok, "rpm -K must fail before the key is imported: {text}");
    run(Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .arg("--import")
        .arg(&key));
    let (ok, text) = rpm_check(&db, &signed);
    assert!(
        ok && text.contains("Header V4 RSA/SHA256 Signature, key ID") && text.contains(": OK"),
        "{text}"
    );
    let (ok, text) = rpm_check(&db, &package_path);
    assert!(
        ok && !text.contains("Signature"),
        "the unsigned original: {text}"
    );

    // One byte changed in the main header, then in the payload: rpm -K fails.
    for at in [
        package.header_start as usize + package.header_len as usize - 8,
        original.len() - 20,
    ] {
        let mut bytes = std::fs::read(&signed).unwrap();
        bytes[at] ^= 1;
        let tampered = dir.path().join("tampered.rpm");
        std::fs::write(&tampered, &bytes).unwrap();
        let (ok, text) = rpm_check(&db, &tampered);
        assert!(!ok, "byte {at} changed, rpm -K still passes: {text}");
    }
}
