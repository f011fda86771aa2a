//! What the CLI's end-to-end tests share: the real-server harness of `sigil-testkit` (a
//! quickstart deployment with its server on ephemeral loopback ports, `world`), this crate's
//! `sigil` binary run as a user does, and a policy's chain saved by `sigil policies show`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Output;

// Re-exported so a test file imports its helpers from one place (not every test uses each).
#[allow(unused_imports)]
pub(crate) use sigil_testkit::run_ok;
#[allow(unused_imports)]
pub(crate) use sigil_testkit::world::{World, args, p, point_profile, text, world, world_with};

/// Runs this crate's `sigil` binary (off the async runtime, which serves the server meanwhile).
pub(crate) async fn sigil(args: Vec<String>, cwd: &Path) -> Output {
    sigil_testkit::world::run_sigil(Path::new(env!("CARGO_BIN_EXE_sigil")), args, cwd).await
}

/// Saves the policy's chain with `sigil policies show`; returns (chain.pem, root.pem, pub.pem).
pub(crate) async fn chain(world: &World, policy: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = world.dir.path();
    let chain = dir.join(format!("{policy}-chain.pem"));
    let out = sigil(
        args(&[
            "policies",
            "--profile",
            p(&world.jenkins),
            "show",
            policy,
            "--chain-out",
            p(&chain),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pem = std::fs::read_to_string(&chain).unwrap();
    let blocks: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(blocks.len(), 2, "{pem}");
    let root = dir.join(format!("{policy}-root.pem"));
    std::fs::write(&root, blocks[1]).unwrap();
    let public = dir.join(format!("{policy}-pub.pem"));
    let key = run_ok("openssl", &["x509", "-in", p(&chain), "-pubkey", "-noout"]);
    std::fs::write(&public, key).unwrap();
    (chain, root, public)
}

/// Exports the OpenPGP key of `policy` with `sigil policies show --openpgp-key-out` into
/// `POLICY-key.asc`; returns the file and the fingerprint printed (`openpgp key:`, 40 hex
/// digits).
#[allow(dead_code)]
pub(crate) async fn export_openpgp_key(world: &World, policy: &str) -> (PathBuf, String) {
    let dir = world.dir.path();
    let key = dir.join(format!("{policy}-key.asc"));
    let out = sigil(
        args(&[
            "policies",
            "--profile",
            p(&world.jenkins),
            "show",
            policy,
            "--openpgp-key-out",
            p(&key),
        ]),
        dir,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let fingerprint = shown
        .lines()
        .find_map(|l| l.strip_prefix("openpgp key:"))
        .map(|f| f.trim().to_owned())
        .unwrap_or_else(|| panic!("no fingerprint shown: {shown}"));
    assert_eq!(fingerprint.len(), 40, "{shown}");
    (key, fingerprint)
}
