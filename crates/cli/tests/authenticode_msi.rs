//! MSI packages built by Debian's `wixl` (msitools), signed by `sigil sign` through the real
//! server (detected by content, only the digest sent), checked by `osslsigncode verify` and
//! `sigil verify`: replace, `--append`, `--timestamp` (Sigil's TSA); one changed byte fails
//! both verifiers; hostile packages (truncated, lying header, named .msi but not one) are
//! refused with the file untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use sigil_testkit::{osslsigncode_verify_with, wixl_msi};

mod common;
use common::{args, chain, p, sigil, text, world};

/// `osslsigncode verify -CAfile root -TSA-CAfile root`: success, signatures and stamps checked.
fn osslsigncode_verify(file: &Path, root: &Path) -> (bool, usize, usize, String) {
    let verify = osslsigncode_verify_with(
        file,
        &[Path::new("-CAfile"), root, Path::new("-TSA-CAfile"), root],
    );
    let signatures = verify
        .output
        .matches("\nSignature verification: ok")
        .count();
    let stamps = verify
        .output
        .matches("Timestamp Server Signature verification: ok")
        .count();
    (verify.success, signatures, stamps, verify.output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msi_packages_signed_through_the_server_verify_with_osslsigncode() {
    let world = world().await;
    let dir = world.dir.path();
    let (_chain, root, _public) = chain(&world, "release").await;
    let sign = |extra: &[&str], file: &str| {
        let mut a = args(&[
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
        ]);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a.push(file.to_owned());
        sigil(a, dir)
    };

    // Named .msi, and a package under another name: detected by content.
    for (name, len) in [("setup.msi", 200_000), ("installer.bin", 1000)] {
        let built = wixl_msi(dir, name, len);
        let out = sign(&["--program-name", "Sigil MSI"], name).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let (ok, signatures, _, output) = osslsigncode_verify(&built, &root);
        assert!(ok && signatures == 1, "{name}:\n{output}");
        let out = sigil(args(&["verify", name]), dir).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert!(text(&out).contains("MSI package"), "{}", text(&out));

        // Again (replaced, SHA-384), then nested and time-stamped by Sigil's TSA.
        let out = sign(&["--hash", "sha384"], name).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let (ok, signatures, _, output) = osslsigncode_verify(&built, &root);
        assert!(ok && signatures == 1, "{name}:\n{output}");
        let out = sign(&["--append", "--timestamp"], name).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let (ok, signatures, stamps, output) = osslsigncode_verify(&built, &root);
        assert!(ok && signatures == 2 && stamps == 1, "{name}:\n{output}");
        let out = sigil(args(&["verify", name]), dir).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));

        // One byte of the embedded cabinet changed: osslsigncode and sigil verify refuse it.
        let mut bytes = std::fs::read(&built).unwrap();
        let cab = bytes.windows(4).position(|w| w == b"MSCF").unwrap();
        bytes[cab + 200] ^= 0x01;
        std::fs::write(&built, &bytes).unwrap();
        let (ok, _, _, output) = osslsigncode_verify(&built, &root);
        assert!(
            !ok,
            "{name}: osslsigncode accepted a changed package:\n{output}"
        );
        let out = sigil(args(&["verify", name]), dir).await;
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
    }

    // Hostile packages: a clear refusal, the file untouched, nothing left beside it.
    let good = std::fs::read(wixl_msi(dir, "good.msi", 3000)).unwrap();
    let mut lying = good.clone();
    lying[0x30..0x34].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    for (name, bytes, why) in [
        (
            "truncated.msi",
            good[..good.len() / 2].to_vec(),
            "not a valid MSI package",
        ),
        ("lying.msi", lying, "not a valid MSI package"),
        (
            "text.msi",
            b"not a package\n".to_vec(),
            "no compound file signature",
        ),
        (
            "setup.exe",
            good.clone(),
            "another kind of file (MSI package)",
        ),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, &bytes).unwrap();
        let before = std::fs::read_dir(dir).unwrap().count();
        let out = sign(&[], name).await;
        assert_ne!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert!(text(&out).contains(why), "{name}: {}", text(&out));
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "{name}");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), before, "{name}");
    }
}
