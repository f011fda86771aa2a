//! PowerShell scripts signed by `sigil sign` through the real server (the subject detected
//! from the extension and the text, only the digest sent), checked by `osslsigncode verify`
//! and `sigil verify`: UTF-8 with and without BOM, UTF-16LE, LF and CRLF; re-signing replaces
//! the block, `--append` nests; one changed byte fails both verifiers; hostile scripts are
//! refused with the file untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use sigil_testkit::osslsigncode_verify_with;

mod common;
use common::{args, chain, p, sigil, text, world};

/// `osslsigncode verify -CAfile root`: whether it succeeded, and how many signatures it checked.
fn osslsigncode_verify(file: &Path, root: &Path) -> (bool, usize, String) {
    let verify = osslsigncode_verify_with(file, &[Path::new("-CAfile"), root]);
    let ok = verify.output.matches("Signature verification: ok").count();
    (verify.success, ok, verify.output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powershell_scripts_signed_through_the_server_verify_with_osslsigncode() {
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

    let text_lf =
        "# Sigil CLI test ✓\nparam([string]$Name = 'wörld')\nWrite-Host \"hello $Name\"\n";
    let crlf = text_lf.replace('\n', "\r\n");
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(crlf.as_bytes());
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(crlf.encode_utf16().flat_map(u16::to_le_bytes));
    for (name, bytes) in [
        ("install.ps1", text_lf.as_bytes().to_vec()),
        ("Module.psm1", bom),
        ("Manifest.psd1", utf16),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, &bytes).unwrap();
        let out = sign(&["--program-name", "Sigil script"], name).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert!(std::fs::read(&file).unwrap().starts_with(&bytes));
        let (ok, count, output) = osslsigncode_verify(&file, &root);
        assert!(ok && count == 1, "{name}:\n{output}");
        let out = sigil(args(&["verify", name]), dir).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert!(text(&out).contains("PowerShell script"), "{}", text(&out));

        // Signed again: the block is replaced; --append nests a second signature.
        let out = sign(&["--hash", "sha384"], name).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let (ok, count, output) = osslsigncode_verify(&file, &root);
        assert!(ok && count == 1, "{name}:\n{output}");
        let out = sign(&["--append"], name).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        let (ok, count, output) = osslsigncode_verify(&file, &root);
        assert!(ok && count == 2, "{name}:\n{output}");
        let out = sigil(args(&["verify", name]), dir).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));

        // One byte of the script changed: osslsigncode and sigil verify both refuse it.
        let mut tampered = std::fs::read(&file).unwrap();
        let at = if name.ends_with(".psd1") { 4 } else { 2 };
        tampered[at] ^= 0x01;
        std::fs::write(&file, &tampered).unwrap();
        let (ok, _, output) = osslsigncode_verify(&file, &root);
        assert!(
            !ok,
            "{name}: osslsigncode accepted a changed script:\n{output}"
        );
        let out = sigil(args(&["verify", name]), dir).await;
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
    }

    // Hostile scripts: a clear refusal, the file untouched, nothing left beside it.
    for (name, bytes, why) in [
        (
            "fake.ps1",
            b"Write-Host a\r\n# SIG # Begin signature block\r\nRemove-Item -Recurse x\r\n".to_vec(),
            "not a signature block",
        ),
        (
            "latin1.ps1",
            b"Write-Host '\xe9t\xe9'\r\n".to_vec(),
            "not UTF-8",
        ),
        ("binary.ps1", b"MZ\0\0binary".to_vec(), "not text"),
        ("empty.psm1", Vec::new(), "empty"),
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
