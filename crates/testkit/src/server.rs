//! A real Sigil server for a test: `init` options and the server configuration of a test
//! deployment (ephemeral loopback ports, cheap password hashes), a fresh deployment, and
//! profiles pointed at the running server.

use std::path::{Path, PathBuf};

use sigil_domain::PasswordParams;
use sigil_server::{InitOptions, InitReport, RunningServer, ServerConfig};

/// Init options for a test: cheap password hashes, ephemeral ports.
pub fn options(data_dir: &Path) -> InitOptions {
    let mut options = InitOptions::new(data_dir);
    options.password_params = PasswordParams::INSECURE_FOR_TESTS;
    options.host_api = "127.0.0.1:0".parse().unwrap();
    options.https = "127.0.0.1:0".parse().unwrap();
    options
}

/// A fresh deployment (`sigil init`) in a temporary directory: (the directory, the data
/// directory inside it, what init made).
pub async fn deployment() -> (tempfile::TempDir, PathBuf, InitReport) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = sigil_server::init(&options(&data)).await.unwrap();
    (dir, data, report)
}

/// The server configuration of a test deployment (ports 0, cheap hashes).
pub fn config(data: &Path) -> ServerConfig {
    let mut config = ServerConfig::load(&data.join("sigil.toml")).unwrap();
    config.host_api = "127.0.0.1:0".parse().unwrap();
    config.https = "127.0.0.1:0".parse().unwrap();
    config.password_params = PasswordParams::INSECURE_FOR_TESTS;
    // Every test client comes from 127.0.0.1: the per-address login throttle has its own tests.
    config.lockout.address_limit = 1_000;
    // The rate limit on failed calls has its own tests (security_regression.rs).
    config.failure_limit.limit = 1_000_000;
    config
}

/// Rewrites the addresses of a profile written for the configured ports.
pub fn point_profile(profile: &Path, server: &RunningServer) {
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
