//! What the CLI's end-to-end tests share: a quickstart deployment with its server on
//! ephemeral loopback ports (`world`), running the `sigil` binary as a user does, and running
//! the independent tools.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sigil_domain::PasswordParams;
use sigil_server::quickstart::QuickstartReport;
use sigil_server::{InitOptions, RunningServer, ServerConfig};

pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) data: PathBuf,
    pub(crate) server: RunningServer,
    pub(crate) report: QuickstartReport,
    pub(crate) jenkins: PathBuf,
    pub(crate) approver: PathBuf,
    pub(crate) admin: PathBuf,
}

/// Rewrites the addresses of a profile written for the configured ports.
pub(crate) fn point_profile(profile: &Path, server: &RunningServer) {
    let text = std::fs::read_to_string(profile).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("host_api") {
                format!("host_api = \"{}\"", server.host_api_addr())
            } else if line.starts_with("https") {
                format!("https = \"https://{}\"", server.https_addr())
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(profile, text.join("\n") + "\n").unwrap();
}

pub(crate) async fn world() -> World {
    world_with(|_| {}).await
}

/// [`world`] with the server configuration changed by `adjust` first.
pub(crate) async fn world_with(adjust: impl FnOnce(&mut ServerConfig)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = InitOptions::new(&data);
    options.password_params = PasswordParams::INSECURE_FOR_TESTS;
    options.host_api = "127.0.0.1:0".parse().unwrap();
    options.https = "127.0.0.1:0".parse().unwrap();
    let report = sigil_server::quickstart::provision_with(&options)
        .await
        .unwrap();
    let mut config = ServerConfig::load(&data.join("sigil.toml")).unwrap();
    config.host_api = "127.0.0.1:0".parse().unwrap();
    config.https = "127.0.0.1:0".parse().unwrap();
    config.password_params = PasswordParams::INSECURE_FOR_TESTS;
    // Every test client comes from 127.0.0.1: the per-address login throttle has its own tests.
    config.lockout.address_limit = 1_000;
    // The rate limit on failed calls has its own tests (security_regression.rs).
    config.failure_limit.limit = 1_000_000;
    adjust(&mut config);
    let server = sigil_server::start(config).await.unwrap();
    let jenkins = report.jenkins_profile.clone();
    let approver = report.approver_profile.clone();
    let admin = report.admin_profile.clone();
    for p in [&jenkins, &approver, &admin] {
        point_profile(p, &server);
    }
    World {
        dir,
        data,
        server,
        report,
        jenkins,
        approver,
        admin,
    }
}

/// Runs `sigil` (off the async runtime, which serves the server meanwhile).
pub(crate) async fn sigil(args: Vec<String>, cwd: &Path) -> Output {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(&args)
            .current_dir(cwd)
            .env_remove("SIGIL_PASSWORD")
            .env_remove("SIGIL_P12_PASSWORD")
            .env_remove("SIGIL_IMPORT_PASSWORD")
            .env_remove("SIGIL_PROFILE")
            .env_remove("BUILD_URL")
            .env_remove("SIGIL_TIMESTAMP")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

pub(crate) fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub(crate) use sigil_testkit::run_ok;

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
