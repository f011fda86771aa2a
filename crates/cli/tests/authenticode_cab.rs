//! `sigil sign` / `sigil verify` of cabinets and catalog files through the real server:
//! a cabinet made by gcab and a catalog encoded by openssl, signed (detected by content),
//! accepted by `osslsigncode verify -CAfile`, a one-byte change rejected by osslsigncode
//! and by `sigil verify`; hostile inputs refused with a clear error and the file untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Output;

mod common;
use common::{World, args, chain, p, sigil, text, world};
use sigil_testkit::{gcab_create, osslsigncode_verify_with, unsigned_catalog};

/// `sigil sign --policy release` with `extra` arguments, in the world's directory.
async fn sign(world: &World, extra: &[&str]) -> Output {
    let mut items = vec![
        "sign",
        "--profile",
        p(&world.jenkins),
        "--policy",
        "release",
    ];
    items.extend_from_slice(extra);
    sigil(args(&items), world.dir.path()).await
}

/// Whether `osslsigncode verify -CAfile root` accepts `file` (a failure anywhere counts: a
/// nested signature may verify while another does not), and its output.
fn osslsigncode_verify(root: &Path, file: &Path) -> (bool, String) {
    let verify = osslsigncode_verify_with(file, &[Path::new("-CAfile"), root]);
    (verify.verified() && verify.nothing_failed(), verify.output)
}

/// Flips one bit of `file` at `offset` into a copy named `name`.
fn tampered_copy(file: &Path, offset: usize, name: &str) -> std::path::PathBuf {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[offset] ^= 0x01;
    let copy = file.with_file_name(name);
    std::fs::write(&copy, bytes).unwrap();
    copy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cabinet_signed_nested_and_tampered() {
    let world = world().await;
    let dir = world.dir.path();
    let (_, root, _) = chain(&world, "release").await;

    let files = dir.join("cab-files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("readme.txt"),
        "Sigil CAB end-to-end\n".repeat(40),
    )
    .unwrap();
    std::fs::write(files.join("data.bin"), vec![0x5a; 40_000]).unwrap();
    let cab = dir.join("setup.cab");
    gcab_create(&files, &cab, &["readme.txt", "data.bin"], true);

    // Detected by content (MSCF), signed in place with SHA-384.
    let out = sign(&world, &["--hash", "sha384", "setup.cab"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (ok, checked) = osslsigncode_verify(&root, &cab);
    assert!(ok, "{checked}");
    let out = sigil(args(&["verify", "setup.cab"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cabinet file"),
        "{}",
        text(&out)
    );

    // --append nests a SHA-256 signature; both verifiers accept both.
    let out = sign(&world, &["--append", "setup.cab"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (ok, checked) = osslsigncode_verify(&root, &cab);
    assert!(ok, "{checked}");
    assert_eq!(
        checked.matches("Signature verification: ok").count(),
        2,
        "{checked}"
    );
    let out = sigil(args(&["verify", "setup.cab"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signature 2 (nested): valid"),
        "{}",
        text(&out)
    );

    // One byte of the compressed data (just before the signature area) changed: both reject it.
    let signed = std::fs::read(&cab).unwrap();
    let signature_offset = u32::from_le_bytes(signed[44..48].try_into().unwrap()) as usize;
    let tampered = tampered_copy(&cab, signature_offset - 10, "tampered.cab");
    let (ok, checked) = osslsigncode_verify(&root, &tampered);
    assert!(!ok, "osslsigncode accepted a modified cabinet:\n{checked}");
    let out = sigil(args(&["verify", "tampered.cab"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // A lying header (cbCabinet) is refused before anything is sent; the file is untouched.
    let mut lying = std::fs::read(&cab).unwrap();
    lying[8..12].copy_from_slice(&1_000_000u32.to_le_bytes());
    let liar = dir.join("liar.cab");
    std::fs::write(&liar, &lying).unwrap();
    let out = sign(&world, &["liar.cab"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cabinet"), "{}", text(&out));
    assert!(stderr.contains("header"), "{}", text(&out));
    assert_eq!(std::fs::read(&liar).unwrap(), lying);

    // A file named .cab that is not a cabinet is refused, not signed raw.
    std::fs::write(dir.join("fake.cab"), "not a cabinet").unwrap();
    let out = sign(&world, &["fake.cab"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!dir.join("fake.cab.sig").exists());
    assert_eq!(
        std::fs::read(dir.join("fake.cab")).unwrap(),
        b"not a cabinet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_signed_and_tampered() {
    let world = world().await;
    let dir = world.dir.path();
    let (_, root, _) = chain(&world, "release").await;

    let cat = unsigned_catalog(dir, "driver.cat", str::to_owned);

    // Detected by content (PKCS#7 SignedData), signed to a new file; the input is untouched.
    let unsigned = std::fs::read(&cat).unwrap();
    let out = sign(&world, &["-o", "signed.cat", "driver.cat"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read(&cat).unwrap(), unsigned);
    let signed = dir.join("signed.cat");
    let (ok, checked) = osslsigncode_verify(&root, &signed);
    assert!(ok, "{checked}");
    let out = sigil(args(&["verify", "signed.cat"]), dir).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("catalog file"),
        "{}",
        text(&out)
    );

    // Time-stamped by the server's own TSA (its root is the same as the signing root): the
    // token is an unsigned attribute of the catalog's SignerInfo, checked by osslsigncode.
    let out = sign(&world, &["--timestamp", "-o", "stamped.cat", "driver.cat"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checked = osslsigncode_verify_with(
        &dir.join("stamped.cat"),
        &[Path::new("-CAfile"), &root, Path::new("-TSA-CAfile"), &root],
    );
    assert!(
        checked.verified()
            && checked.nothing_failed()
            && checked
                .output
                .contains("Timestamp Server Signature verification: ok"),
        "{}",
        checked.output
    );

    // Re-signing replaces the signature.
    let out = sign(&world, &["--hash", "sha512", "signed.cat"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (ok, checked) = osslsigncode_verify(&root, &signed);
    assert!(ok, "{checked}");
    assert!(checked.contains("SHA512"), "{checked}");

    // One byte of the trust list changed: both reject it.
    let bytes = std::fs::read(&signed).unwrap();
    let member = bytes
        .windows(4)
        .position(|w| w == [0x41, 0x00, 0x42, 0x00])
        .unwrap();
    let tampered = tampered_copy(&signed, member, "tampered.cat");
    let (ok, checked) = osslsigncode_verify(&root, &tampered);
    assert!(!ok, "osslsigncode accepted a modified catalog:\n{checked}");
    let out = sigil(args(&["verify", "tampered.cat"]), dir).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Nesting into a catalog is refused with what to do; the file is untouched.
    let before = std::fs::read(&signed).unwrap();
    let out = sign(&world, &["--append", "signed.cat"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without --append"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&signed).unwrap(), before);
}
