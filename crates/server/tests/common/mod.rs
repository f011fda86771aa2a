//! Helpers shared by the server's integration tests (init, server, quickstart, pki).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sigil_domain::PasswordParams;
use sigil_server::{InitOptions, InitReport, ServerConfig};

/// Init options for a test: cheap password hashes, ephemeral ports.
pub fn options(data_dir: &Path) -> InitOptions {
    let mut options = InitOptions::new(data_dir);
    options.password_params = PasswordParams::INSECURE_FOR_TESTS;
    options.host_api = "127.0.0.1:0".parse().unwrap();
    options.https = "127.0.0.1:0".parse().unwrap();
    options
}

/// A fresh deployment in a temporary directory.
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

/// Runs a command with stdin closed, returning its output.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `openssl s_client` against `addr` (server name `localhost`, verifying the server against
/// `ca`), with `extra` arguments, writing `input` then closing stdin. Returns (exit success,
/// stdout, stderr).
pub fn s_client(
    addr: SocketAddr,
    ca: &Path,
    cert_key: Option<(&Path, &Path)>,
    extra: &[&str],
    input: &[u8],
) -> (bool, String, String) {
    use std::io::Write;
    let mut args: Vec<String> = vec![
        "s_client".into(),
        "-connect".into(),
        addr.to_string(),
        "-servername".into(),
        "localhost".into(),
        "-CAfile".into(),
        ca.display().to_string(),
        "-verify_return_error".into(),
    ];
    if let Some((cert, key)) = cert_key {
        args.extend([
            "-cert".into(),
            cert.display().to_string(),
            "-key".into(),
            key.display().to_string(),
        ]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut child = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A client key and CSR made by openssl (EC P-256) with subject `/CN=<cn>`; returns the key
/// path and the CSR PEM.
pub fn openssl_csr(dir: &Path, cn: &str) -> (PathBuf, Vec<u8>) {
    let key = dir.join(format!("{cn}.key"));
    let csr = dir.join(format!("{cn}.csr"));
    run_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    (key, std::fs::read(&csr).unwrap())
}

/// Mode bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
