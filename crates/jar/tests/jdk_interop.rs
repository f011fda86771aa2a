//! Signed JARs written by sigil-jar, with signature blocks made by an
//! independent tool (`openssl cms`), are accepted by `jarsigner -verify
//! -strict`, run with `java -jar`, and keep other signers' signatures valid.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::{
    KeyType, Pki, assert_jarsigner_accepts, assert_jarsigner_accepts_with, build_app_jar,
    jarsigner_verify, run,
};
use sigil_jar::{
    Archive, BlockSignatureStatus, HashAlgorithm, JarDigest, Manifest, SignOptions, SignerName,
};

#[test]
fn signed_jar_verifies_with_jarsigner_for_rsa_and_ecdsa_and_sha2() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = build_app_jar(tmp.path());
    let cases = [
        (KeyType::Rsa2048, HashAlgorithm::Sha256),
        (KeyType::Rsa2048, HashAlgorithm::Sha384),
        (KeyType::Rsa2048, HashAlgorithm::Sha512),
        (KeyType::EcP256, HashAlgorithm::Sha256),
        (KeyType::EcP256, HashAlgorithm::Sha512),
        (KeyType::EcP384, HashAlgorithm::Sha384),
    ];
    let pkis =
        [KeyType::Rsa2048, KeyType::EcP256, KeyType::EcP384].map(|k| Pki::new(tmp.path(), k));
    for (key_type, md) in cases {
        let pki = pkis.iter().find(|p| p.key_type == key_type).unwrap();
        let out = tmp.path().join(format!("signed-{key_type:?}-{md}.jar"));
        pki.sign(&jar, &out, "SIGIL", md);
        let stdout = assert_jarsigner_accepts(&out, &pki.truststore);
        assert!(
            stdout.contains(&format!("Digest algorithm: {}", md.jar_name())),
            "{stdout}"
        );

        let report = sigil_jar::verify(&out).unwrap();
        assert!(report.is_intact(), "{report:#?}");
        assert_eq!(report.signers.len(), 1);
        assert_eq!(report.signers[0].name, "SIGIL");
        assert!(matches!(
            &report.signers[0].block_signature,
            BlockSignatureStatus::Valid { subject, .. } if subject.contains("Sigil Test Code Signing")
        ));
    }
}

#[test]
fn signed_jar_still_runs_and_trusting_the_signer_leaves_no_warning_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = build_app_jar(tmp.path());
    let pki = Pki::new(tmp.path(), KeyType::Rsa2048);
    let out = tmp.path().join("signed.jar");
    pki.sign(&jar, &out, "SIGIL", HashAlgorithm::Sha256);

    let run_out = run(Command::new("java").arg("-jar").arg(&out));
    assert_eq!(
        String::from_utf8_lossy(&run_out.stdout).trim(),
        "hello from a Sigil-signed jar 42"
    );

    // Order: manifest, .SF, block, then the original entries in order.
    let archive = Archive::open(&out).unwrap();
    let names: Vec<&str> = archive.entries().iter().map(|e| e.name()).collect();
    assert_eq!(
        &names[..4],
        [
            "META-INF/MANIFEST.MF",
            "META-INF/SIGIL.SF",
            "META-INF/SIGIL.RSA",
            "META-INF/"
        ]
    );
    // No Unix attributes on the new entries (jarsigner warns about POSIX ones).
    for e in &archive.entries()[..3] {
        assert_eq!(e.flags() & 1, 0);
    }

    // With the signer certificate itself in the keystore, jarsigner prints no
    // warning whatsoever.
    pki.trust(&pki.cert, "signer");
    let verify = jarsigner_verify(&out, &pki.truststore);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}");
    assert!(!stdout.contains("Warning"), "{stdout}");
    assert!(!stdout.contains("Error"), "{stdout}");
}

#[test]
fn existing_manifest_attributes_and_long_values_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("c/pkg")).unwrap();
    std::fs::write(dir.join("c/pkg/a.txt"), "A").unwrap();
    std::fs::write(dir.join("c/pkg/b.txt"), "B").unwrap();
    let long_path: String = (0..12)
        .map(|i| format!("lib/dependency-number-{i}.jar "))
        .collect();
    let long_utf8 = "Ünïcödé-ベンダー-".repeat(8);
    std::fs::write(
        dir.join("manifest.txt"),
        format!(
            "Implementation-Title: Sigil test\nClass-Path: {long_path}\nImplementation-Vendor: {long_utf8}\n\
             X-Build-Id: 12345\n\nName: pkg/a.txt\nX-Custom: kept\nX-Other: {long_utf8}\n\n"
        ),
    )
    .unwrap();
    let jar = dir.join("m.jar");
    run(Command::new("jar")
        .args(["--create"])
        .arg("--file")
        .arg(&jar)
        .arg("--manifest")
        .arg(dir.join("manifest.txt"))
        .arg("-C")
        .arg(dir.join("c"))
        .arg("."));
    let original_bytes = {
        let a = Archive::open(&jar).unwrap();
        a.read_entry(a.entry("META-INF/MANIFEST.MF").unwrap(), 1 << 20)
            .unwrap()
    };
    let original = Manifest::parse(&original_bytes).unwrap();
    assert_eq!(
        original.main().get("Implementation-Vendor"),
        Some(long_utf8.as_str())
    );

    let pki = Pki::new(dir, KeyType::EcP256);
    let out = dir.join("signed.jar");
    pki.sign(&jar, &out, "SIGIL", HashAlgorithm::Sha256);
    assert_jarsigner_accepts(&out, &pki.truststore);

    let a = Archive::open(&out).unwrap();
    let bytes = a
        .read_entry(a.entry("META-INF/MANIFEST.MF").unwrap(), 1 << 20)
        .unwrap();
    let signed = Manifest::parse(&bytes).unwrap();
    // Main section kept byte for byte, per-entry attributes kept in order.
    assert_eq!(signed.main().raw(), original.main().raw());
    assert_eq!(signed.main().get("Class-Path"), Some(long_path.as_str()));
    let a_txt = signed.section("pkg/a.txt").unwrap();
    assert_eq!(a_txt.attributes()[1].name, "X-Custom");
    assert_eq!(a_txt.get("X-Other"), Some(long_utf8.as_str()));
    assert!(a_txt.get("SHA-256-Digest").is_some());
    for line in bytes.split(|b| *b == b'\n') {
        assert!(line.len() <= 73, "line longer than 72 bytes");
    }
    assert!(sigil_jar::verify(&out).unwrap().is_intact());
}

#[test]
fn five_thousand_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    for d in 0..50 {
        let sub = dir.join(format!("d{d:02}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..100 {
            std::fs::write(sub.join(format!("f{f:03}.txt")), format!("entry {d} {f}\n")).unwrap();
        }
    }
    let jar = tmp.path().join("big.jar");
    run(Command::new("jar")
        .arg("--create")
        .arg("--file")
        .arg(&jar)
        .arg("-C")
        .arg(&dir)
        .arg("."));
    let pki = Pki::new(tmp.path(), KeyType::Rsa2048);
    let out = tmp.path().join("signed.jar");
    pki.sign(&jar, &out, "BIG", HashAlgorithm::Sha256);
    assert_jarsigner_accepts(&out, &pki.truststore);
    let report = sigil_jar::verify(&out).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.entries_checked, 5000);
}

/// 70,000 entries written by `java.util.zip.ZipOutputStream` (deflated, so
/// every entry has a data descriptor) force a ZIP64 end record.
#[test]
fn zip64_jar_with_data_descriptors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("MakeZip64.java"),
        r#"import java.io.*; import java.util.zip.*;
public class MakeZip64 { public static void main(String[] a) throws Exception {
  try (ZipOutputStream z = new ZipOutputStream(new BufferedOutputStream(new FileOutputStream(a[0])))) {
    for (int i = 0; i < 70000; i++) {
      z.putNextEntry(new ZipEntry("e/" + (i / 1000) + "/" + i + ".txt"));
      z.write(("entry " + i).getBytes("UTF-8"));
      z.closeEntry();
    }
  } } }"#,
    )
    .unwrap();
    run(Command::new("javac")
        .arg("-d")
        .arg(dir)
        .arg(dir.join("MakeZip64.java")));
    let jar = dir.join("zip64.jar");
    run(Command::new("java")
        .arg("-cp")
        .arg(dir)
        .arg("MakeZip64")
        .arg(&jar));

    let archive = Archive::open(&jar).unwrap();
    assert_eq!(archive.entries().len(), 70_000);
    assert!(archive.entries().iter().all(|e| e.has_data_descriptor()));

    let pki = Pki::new(dir, KeyType::EcP256);
    let out = dir.join("signed.jar");
    pki.sign(&jar, &out, "Z64", HashAlgorithm::Sha256);
    let signed = Archive::open(&out).unwrap();
    assert_eq!(signed.entries().len(), 70_003);
    assert!(
        signed.entries()[3..]
            .iter()
            .all(|e| e.has_data_descriptor())
    );
    assert_jarsigner_accepts(&out, &pki.truststore);
    assert!(sigil_jar::verify(&out).unwrap().is_intact());
}

/// Info-ZIP with `-fz` writes ZIP64 extra fields (an entry piped from stdin
/// gets 0xFFFFFFFF sizes in its local header, the real ones in the ZIP64
/// field). Entries are copied as they are, Unix attributes included, hence
/// jarsigner's POSIX notice about them. (Data-descriptor entries are covered by
/// `zip64_jar_with_data_descriptors`.)
#[test]
fn info_zip_zip64_fields_and_stdin_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("c/p")).unwrap();
    std::fs::write(dir.join("c/p/a.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("c/p/b.txt"), "x".repeat(5000)).unwrap();
    let jar = dir.join("fz.jar");
    run(Command::new("zip")
        .current_dir(dir.join("c"))
        .args(["-q", "-fz"])
        .arg(&jar)
        .args(["p/a.txt", "p/b.txt"]));
    let mut child = Command::new("zip")
        .current_dir(dir.join("c"))
        .args(["-q", "-fz"])
        .arg(&jar)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"piped through stdin\n")
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(Archive::open(&jar).unwrap().entries().len(), 3);

    let pki = Pki::new(dir, KeyType::Rsa2048);
    let out = dir.join("signed.jar");
    pki.sign(&jar, &out, "SIGIL", HashAlgorithm::Sha256);
    assert_jarsigner_accepts_with(&out, &pki.truststore, &["POSIX file permission"]);
    run(Command::new("unzip").arg("-tq").arg(&out));
    assert!(sigil_jar::verify(&out).unwrap().is_intact());
}

#[test]
fn second_signer_keeps_the_first_signature_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let jar = build_app_jar(dir);
    let pki = Pki::new(dir, KeyType::Rsa2048);

    // First signer: jarsigner with a keytool-made key, its certificate trusted.
    let other_ks = dir.join("other.p12");
    run(Command::new("keytool")
        .args([
            "-genkeypair",
            "-alias",
            "other",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
        ])
        .args([
            "-dname",
            "CN=Other Signer",
            "-validity",
            "3650",
            "-storetype",
            "PKCS12",
        ])
        .arg("-keystore")
        .arg(&other_ks)
        .args([
            "-storepass",
            common::STOREPASS,
            "-keypass",
            common::STOREPASS,
        ]));
    let other_cert = dir.join("other.cer");
    run(Command::new("keytool")
        .args([
            "-exportcert",
            "-alias",
            "other",
            "-rfc",
            "-storepass",
            common::STOREPASS,
        ])
        .arg("-keystore")
        .arg(&other_ks)
        .arg("-file")
        .arg(&other_cert));
    pki.trust(&other_cert, "other");
    let first = dir.join("first.jar");
    run(Command::new("jarsigner")
        .args(["-storepass", common::STOREPASS])
        .arg("-keystore")
        .arg(&other_ks)
        .arg("-signedjar")
        .arg(&first)
        .arg(&jar)
        .arg("other"));
    assert_jarsigner_accepts(&first, &pki.truststore);

    for md in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
        let out = dir.join(format!("both-{md}.jar"));
        pki.sign(&first, &out, "SIGIL", md);
        let stdout = assert_jarsigner_accepts(&out, &pki.truststore);
        assert!(stdout.contains("CN=Other Signer"), "{stdout}");
        assert!(stdout.contains("CN=Sigil Test Code Signing"), "{stdout}");
        let report = sigil_jar::verify(&out).unwrap();
        assert!(report.is_intact(), "{report:#?}");
        let mut names: Vec<&str> = report.signers.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["OTHER", "SIGIL"]);

        // Signing again with the same name replaces our signature only.
        let again = dir.join(format!("again-{md}.jar"));
        pki.sign(&out, &again, "SIGIL", md);
        let a = Archive::open(&again).unwrap();
        let sigil_files = a
            .entries()
            .iter()
            .filter(|e| e.name().starts_with("META-INF/SIGIL."))
            .count();
        assert_eq!(sigil_files, 2);
        assert_jarsigner_accepts(&again, &pki.truststore);
    }
}

#[test]
fn tampered_entry_fails_jarsigner_and_is_named_by_our_verifier() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let jar = build_app_jar(dir);
    let pki = Pki::new(dir, KeyType::Rsa2048);
    let out = dir.join("signed.jar");
    pki.sign(&jar, &out, "SIGIL", HashAlgorithm::Sha256);

    // Replace res/data.txt inside the signed JAR with other content.
    let work = dir.join("tamper");
    std::fs::create_dir_all(work.join("res")).unwrap();
    std::fs::write(work.join("res/data.txt"), "evil resource\n").unwrap();
    run(Command::new("zip")
        .current_dir(&work)
        .arg("-q")
        .arg(&out)
        .arg("res/data.txt"));

    let verify = jarsigner_verify(&out, &pki.truststore);
    assert!(
        !verify.status.success(),
        "jarsigner accepted a tampered jar"
    );
    let report = sigil_jar::verify(&out).unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.tampered_entries, ["res/data.txt"]);
    assert!(report.unsigned_entries.is_empty());
}

#[test]
fn block_from_a_changed_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let jar = build_app_jar(dir);
    let pki = Pki::new(dir, KeyType::Rsa2048);
    let options = SignOptions::new(SignerName::new("SIGIL").unwrap(), HashAlgorithm::Sha256);
    let prepared = sigil_jar::prepare(&jar, &options).unwrap();
    let block = pki.openssl_block(prepared.signature_file(), HashAlgorithm::Sha256);
    let work = dir.join("w");
    std::fs::create_dir_all(work.join("res")).unwrap();
    std::fs::write(work.join("res/data.txt"), "changed\n").unwrap();
    run(Command::new("zip")
        .current_dir(&work)
        .arg("-q")
        .arg(&jar)
        .arg("res/data.txt"));
    let before = std::fs::read(&jar).unwrap();
    let err = prepared
        .write_signed(&jar, &block, pki.key_type.block_kind(), &jar)
        .unwrap_err();
    assert!(
        matches!(err, sigil_jar::JarError::ArchiveChanged { .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&jar).unwrap(),
        before,
        "the original must be untouched"
    );
}
