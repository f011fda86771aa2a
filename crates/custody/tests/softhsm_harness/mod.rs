//! The SoftHSM2 harness of the HSM tests (`sigil-custody` and `sigil-server` include this one
//! file). SoftHSM2 reads `SOFTHSM2_CONF` once per process, and this workspace forbids the
//! `unsafe` that setting it from inside would need: so each test re-runs itself in a child
//! process whose `SOFTHSM2_CONF` names a fresh token directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's SoftHSM2 module.
pub(crate) const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A token to initialise in the child's directory before it runs: label, user PIN (also
/// written to the file `pin` there) and SO PIN.
pub(crate) struct Token<'a> {
    /// `CKA_LABEL` of the token.
    pub(crate) label: &'a str,
    /// The user PIN.
    pub(crate) pin: &'a str,
    /// The security officer's PIN.
    pub(crate) so_pin: &'a str,
}

/// Runs test `name` again in a child process with a fresh SoftHSM2 directory (holding
/// `token` when given). Returns `true` in the child, which runs the body; in the parent it
/// asserts that the child ran exactly that test and passed, and returns `false`.
pub(crate) fn in_softhsm(name: &str, token: Option<Token<'_>>) -> bool {
    if std::env::var_os("SIGIL_SOFTHSM_CHILD").is_some() {
        return true;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    if let Some(token) = token {
        let init = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", token.label])
            .args(["--pin", token.pin, "--so-pin", token.so_pin])
            .output()
            .expect("softhsm2-util must be installed (Debian package softhsm2)");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        std::fs::write(dir.path().join("pin"), format!("{}\n", token.pin)).unwrap();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env("SIGIL_SOFTHSM_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test: {stdout}"
    );
    false
}

/// The child's SoftHSM2 directory (holds `softhsm2.conf`, `tokens/` and, with a token, `pin`).
pub(crate) fn softhsm_dir() -> PathBuf {
    let conf = std::env::var_os("SOFTHSM2_CONF").expect("set by in_softhsm");
    Path::new(&conf).parent().unwrap().to_owned()
}
