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

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{args, chain, p, sigil, text, world};

/// An MSI holding a `payload_len`-byte file, built by `wixl` in `dir`.
fn wixl_msi(dir: &Path, name: &str, payload_len: usize) -> PathBuf {
    let work = dir.join(format!("{name}-src"));
    std::fs::create_dir_all(&work).unwrap();
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(work.join("payload.bin"), payload).unwrap();
    std::fs::write(
        work.join("app.wxs"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Sigil CLI Test" Language="1033" Version="1.2.3" Manufacturer="Sigil"
           UpgradeCode="0b7a3c1e-2f4d-4e5a-8b6c-9d0e1f2a3b4c">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="app.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="SigilCliTest">
          <Component Id="Payload" Guid="0b7a3c1e-2f4d-4e5a-8b6c-9d0e1f2a3b4d">
            <File Id="PayloadFile" Source="payload.bin" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Payload" /></Feature>
  </Product>
</Wix>
"#,
    )
    .unwrap();
    let msi = dir.join(name);
    let out = Command::new("wixl")
        .current_dir(&work)
        .arg("-o")
        .arg(&msi)
        .arg("app.wxs")
        .output()
        .expect("wixl must be installed (apt-get install wixl)");
    assert!(out.status.success(), "wixl failed: {out:?}");
    std::fs::remove_dir_all(work).unwrap();
    msi
}

/// `osslsigncode verify -CAfile root -TSA-CAfile root`: success, signatures and stamps checked.
fn osslsigncode_verify(file: &Path, root: &Path) -> (bool, usize, usize, String) {
    let out = Command::new("osslsigncode")
        .args([
            "verify",
            "-CAfile",
            p(root),
            "-TSA-CAfile",
            p(root),
            "-in",
            p(file),
        ])
        .output()
        .expect("osslsigncode must be installed (apt-get install osslsigncode)");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let signatures = output.matches("\nSignature verification: ok").count();
    let stamps = output
        .matches("Timestamp Server Signature verification: ok")
        .count();
    (out.status.success(), signatures, stamps, output)
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
