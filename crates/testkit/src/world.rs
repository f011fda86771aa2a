//! The real-server harness: a quickstart deployment (`sigil init --quickstart`'s provisioning)
//! whose server runs in the test on ephemeral loopback ports, the profiles it wrote pointed at
//! them, and the `sigil` binary run as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sigil_server::quickstart::QuickstartReport;
use sigil_server::{RunningServer, ServerConfig};

pub use crate::server::point_profile;
use crate::server::{config, options};

/// A quickstart deployment with its server running.
pub struct World {
    /// Holds everything the test writes; the data directory is `data` inside it.
    pub dir: tempfile::TempDir,
    /// The server's data directory.
    pub data: PathBuf,
    /// The running server (stopped when dropped).
    pub server: RunningServer,
    /// What provisioning made: profiles, password files, certificates.
    pub report: QuickstartReport,
    /// The build service's profile (signs), pointed at the running server.
    pub jenkins: PathBuf,
    /// The approver's profile, pointed at the running server.
    pub approver: PathBuf,
    /// The administrator's profile, pointed at the running server.
    pub admin: PathBuf,
}

/// A quickstart deployment with the test configuration.
pub async fn world() -> World {
    world_with(|_| {}).await
}

/// [`world`] with the server configuration changed by `adjust` first.
pub async fn world_with(adjust: impl FnOnce(&mut ServerConfig)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = sigil_server::quickstart::provision_with(&options(&data))
        .await
        .unwrap();
    let mut config = config(&data);
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

/// Runs the `sigil` binary at `bin` (a test passes `env!("CARGO_BIN_EXE_sigil")`) in `cwd`,
/// off the async runtime, which serves the server meanwhile; no input, and none of the
/// environment variables a user's shell may set for it.
pub async fn run_sigil(bin: &Path, args: Vec<String>, cwd: &Path) -> Output {
    let bin = bin.to_path_buf();
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(bin)
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

/// Owned command-line arguments.
pub fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A path as a command-line argument (test paths are UTF-8).
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A command's exit code, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
