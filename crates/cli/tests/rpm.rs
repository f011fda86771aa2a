//! RPM packages through the real server and the `sigil` binary, judged by rpm itself: a
//! package built by `rpmbuild` is signed in place by `sigil sign` (detected by its lead),
//! `rpm -K` accepts it once the key exported by `sigil policies show --openpgp-key-out` is
//! imported (and not before), refuses it with one byte changed in the header or the
//! payload, and `sigil verify` agrees each time. Needs `rpm`/`rpmbuild` (installed by
//! `scripts/test.sh`; missing, the test fails).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

mod common;
use common::{World, args, chain, export_openpgp_key, p, sigil, text, world};
use sigil_testkit::gpg;

use sigil_testkit::builders as build;

/// `rpm -Kv` against the keys in `db`: (passed, output).
fn rpm_check(db: &Path, package: &Path) -> (bool, String) {
    let out = Command::new("rpm")
        .arg("--dbpath")
        .arg(db)
        .arg("-Kv")
        .arg(package)
        .output()
        .expect("rpm must be installed (Debian package rpm)");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), all)
}

/// Runs `sigil sign --profile jenkins --policy release EXTRA…` in the world's directory.
async fn sign(world: &World, extra: &[&str]) -> std::process::Output {
    let mut a = vec![
        "sign",
        "--profile",
        p(&world.jenkins),
        "--policy",
        "release",
    ];
    a.extend_from_slice(extra);
    sigil(args(&a), world.dir.path()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_packages_signed_by_sigil_pass_rpm_k() {
    let world = world().await;
    let dir = world.dir.path();
    let (chain_pem, _, _) = chain(&world, "release").await;
    let package = build::rpmbuild_package(dir);
    let original = std::fs::read(&package).unwrap();
    let verify = |file: &Path| args(&["verify", p(file), "--certificate", p(&chain_pem)]);

    // The quickstart's `release` key is RSA-3072, exported with its self-signature.
    let (key, fingerprint) = export_openpgp_key(&world, "release").await;
    let key_id = fingerprint[fingerprint.len() - 8..].to_lowercase();

    // Unsigned: sigil verify says so.
    let out = sigil(verify(&package), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("unsigned"), "{}", text(&out));

    // `--format auto` recognises the package by its lead and signs it in place.
    let out = sign(&world, &[p(&package)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("RPM header signature (RSA) embedded"),
        "{}",
        text(&out)
    );
    let signed = std::fs::read(&package).unwrap();
    assert_ne!(signed, original);
    // rpmbuild's reserved space took the signature: the package kept its length.
    assert_eq!(signed.len(), original.len());

    let db = dir.join("rpmdb");
    std::fs::create_dir(&db).unwrap();
    let (ok, out) = rpm_check(&db, &package);
    assert!(!ok, "rpm -K passed without the key: {out}");
    sigil_testkit::run(
        Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .arg("--import")
            .arg(&key),
    );
    let (ok, out) = rpm_check(&db, &package);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "Header V4 RSA/SHA256 Signature, key ID {key_id}: OK"
        )),
        "{out}"
    );
    let out = sigil(verify(&package), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("payload digest: valid"),
        "{}",
        text(&out)
    );

    // Signing again replaces the signature (SHA-512 now); rpm still accepts it.
    let out = sign(
        &world,
        &["--format", "openpgp", "--hash", "sha512", p(&package)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (ok, out) = rpm_check(&db, &package);
    assert!(ok, "{out}");
    assert!(out.contains("Header V4 RSA/SHA512 Signature"), "{out}");
    assert_eq!(out.matches("Signature, key ID").count(), 1, "{out}");

    // One byte changed in the main header, then in the payload: both refuse.
    let signed = std::fs::read(&package).unwrap();
    let layout = sigil_rpm::read_package(&mut std::io::Cursor::new(&signed)).unwrap();
    // The license "MIT" in the main header's data: the header still reads, its bytes differ.
    let header =
        &signed[layout.header_start as usize..(layout.header_start + layout.header_len) as usize];
    let header_byte =
        layout.header_start as usize + header.windows(4).position(|w| w == b"MIT\0").unwrap() + 2;
    for (at, what) in [(header_byte, "header"), (signed.len() - 20, "payload")] {
        let mut bytes = signed.clone();
        bytes[at] ^= 1;
        let tampered = dir.join(format!("tampered-{what}.rpm"));
        std::fs::write(&tampered, &bytes).unwrap();
        let (ok, out) = rpm_check(&db, &tampered);
        assert!(!ok, "{what} changed, rpm -K passed: {out}");
        let out = sigil(verify(&tampered), dir).await;
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_package_is_refused_and_left_untouched() {
    let world = world().await;
    let dir = world.dir.path();
    let package = build::rpmbuild_package(dir);
    let mut bytes = std::fs::read(&package).unwrap();
    // The signature header announces more entries than the file holds.
    bytes[96 + 8..96 + 12].copy_from_slice(&30_000u32.to_be_bytes());
    std::fs::write(&package, &bytes).unwrap();
    let out = sign(&world, &[p(&package)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not a signable RPM package"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&package).unwrap(), bytes);

    // Named .rpm but not one: refused before anything is sent.
    let fake = dir.join("fake.rpm");
    std::fs::write(&fake, b"#!/bin/sh\necho not a package\n").unwrap();
    let out = sign(&world, &[p(&fake)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no RPM lead"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stamped_release_of_a_package_and_a_tarball_is_signed_with_openpgp() {
    let world = world().await;
    let dir = world.dir.path();
    let package = build::rpmbuild_package(dir);
    let tarball = dir.join("hello-1.0.tar.gz");
    std::fs::write(&tarball, b"release tarball\n".repeat(1000)).unwrap();
    let (key, _) = export_openpgp_key(&world, "release").await;

    // Two files: one release; the package signed inside, the tarball detached.
    let out = sign(
        &world,
        &[
            "--format",
            "openpgp",
            "--json",
            // The server's own TSA: OpenPGP and RPM have no place for the token, it goes
            // next to each output.
            "--timestamp",
            p(&package),
            p(&tarball),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let last: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap();
    assert_eq!(last["files"], 2, "{last}");
    let manifest = last["manifest"].as_str().unwrap().to_owned();

    let db = dir.join("rpmdb");
    std::fs::create_dir(&db).unwrap();
    sigil_testkit::run(
        Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .arg("--import")
            .arg(&key),
    );
    let (ok, out) = rpm_check(&db, &package);
    assert!(
        ok && out.contains("Header V4 RSA/SHA256 Signature"),
        "{out}"
    );
    let home = dir.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    assert!(gpg(&home, &["--import", p(&key)]).status.success());
    let asc = dir.join("hello-1.0.tar.gz.asc");
    let verified = gpg(&home, &["--verify", p(&asc), p(&tarball)]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let out = sigil(args(&["verify", "--manifest", &manifest]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for token in [
        dir.join("hello-1.0.tar.gz.asc.tsr"),
        package.with_extension("rpm.tsr"),
    ] {
        let out = Command::new("openssl")
            .args(["ts", "-reply", "-text", "-in"])
            .arg(&token)
            .output()
            .expect("openssl must be installed");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && shown.contains("Status: Granted."),
            "{}: {shown}",
            token.display()
        );
    }
}
