//! OpenPGP through the real server and the `sigil` binary, judged by GnuPG: the policy's key
//! exported with `sigil policies show --openpgp-key-out` is imported into a throw-away
//! GNUPGHOME, `sigil sign --format openpgp` writes FILE.asc (and FILE.sig with
//! --openpgp-binary), `gpg --verify` accepts both and refuses the file with one byte changed,
//! and `sigil verify` agrees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sigil_testkit::{gpg, output_text as all};

mod common;
use common::{args, chain, export_openpgp_key, p, sigil, text, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openpgp_signatures_verify_with_gpg_and_sigil() {
    let world = world().await;
    let dir = world.dir.path();
    let (chain_pem, _, _) = chain(&world, "release").await;

    // The key, self-signed by the server, imported into a fresh keyring.
    let (key, fingerprint) = export_openpgp_key(&world, "release").await;
    let home = dir.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let imported = gpg(&home, &["--import", p(&key)]);
    assert!(imported.status.success(), "{}", all(&imported));
    assert!(all(&imported).contains(&fingerprint), "{}", all(&imported));

    // The audit log records the export with the fingerprint.
    let store = &world.server.state().store;
    let events = store.read_audit(1, 10_000).await.unwrap();
    assert!(
        events.iter().any(|e| e.action == "policy.openpgp_key"),
        "no policy.openpgp_key event"
    );

    let file = dir.join("release.tar.gz");
    std::fs::write(&file, b"release archive bytes\n".repeat(5000)).unwrap();
    // The quickstart's `release` key is RSA-3072.
    for (hash, binary, name) in [
        ("sha256", false, "release.tar.gz.asc"),
        ("sha512", true, "release.tar.gz.sig"),
    ] {
        let mut a = vec![
            "sign",
            "--profile",
            p(&world.jenkins),
            "--policy",
            "release",
            "--format",
            "openpgp",
            "--hash",
            hash,
        ];
        if binary {
            a.push("--openpgp-binary");
        }
        a.push("release.tar.gz");
        let out = sigil(args(&a), dir).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("OpenPGP signature by {fingerprint}")),
            "{}",
            text(&out)
        );
        let signature = dir.join(name);
        let head = std::fs::read(&signature).unwrap();
        assert_eq!(
            head.starts_with(b"-----BEGIN PGP SIGNATURE-----"),
            !binary,
            "{name}"
        );
        let verified = gpg(&home, &["--verify", p(&signature), p(&file)]);
        assert!(verified.status.success(), "{}", all(&verified));
        assert!(
            all(&verified).contains(&format!("VALIDSIG {fingerprint}")),
            "{}",
            all(&verified)
        );
        let out = sigil(
            args(&[
                "verify",
                "release.tar.gz",
                "--signature",
                p(&signature),
                "--certificate",
                p(&chain_pem),
            ]),
            dir,
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }

    // One byte changed: gpg and sigil verify both refuse.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1234] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let asc = dir.join("release.tar.gz.asc");
    let refused = gpg(&home, &["--verify", p(&asc), p(&file)]);
    assert!(!refused.status.success(), "{}", all(&refused));
    assert!(all(&refused).contains("BADSIG"), "{}", all(&refused));
    let out = sigil(
        args(&[
            "verify",
            "release.tar.gz",
            "--signature",
            p(&asc),
            "--certificate",
            p(&chain_pem),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
