//! The SoftHSM2 harness of the HSM tests (`sigil-custody`, `sigil-server`). SoftHSM2 reads `SOFTHSM2_CONF` once per process, and this workspace forbids the
//! `unsafe` that setting it from inside would need: so each test re-runs itself in a child
//! process whose `SOFTHSM2_CONF` names a fresh token directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A token to initialise in the child's directory before it runs: label, user PIN (also
/// written to the file `pin` there) and SO PIN.
pub struct Token<'a> {
    /// `CKA_LABEL` of the token.
    pub label: &'a str,
    /// The user PIN.
    pub pin: &'a str,
    /// The security officer's PIN.
    pub so_pin: &'a str,
}

/// Runs test `name` again in a child process with a fresh SoftHSM2 directory (holding
/// `token` when given). Returns `true` in the child, which runs the body; in the parent it
/// asserts that the child ran exactly that test and passed, and returns `false`.
pub fn in_softhsm(name: &str, token: Option<Token<'_>>) -> bool {
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
        init_token(Some(&conf), &token);
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

/// Initialises a free slot as `token` with `softhsm2-util`, in the SoftHSM2 configuration
/// `conf` (or the one `SOFTHSM2_CONF` names, as in a child of [`in_softhsm`]).
pub fn init_token(conf: Option<&Path>, token: &Token<'_>) {
    let mut command = Command::new("softhsm2-util");
    if let Some(conf) = conf {
        command.env("SOFTHSM2_CONF", conf);
    }
    let init = command
        .args(["--init-token", "--free", "--label", token.label])
        .args(["--pin", token.pin, "--so-pin", token.so_pin])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run softhsm2-util ({e}): run `apt-get install -y softhsm2`")
        });
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
}

/// The child's SoftHSM2 directory (holds `softhsm2.conf`, `tokens/` and, with a token, `pin`).
pub fn softhsm_dir() -> PathBuf {
    let conf = std::env::var_os("SOFTHSM2_CONF").expect("set by in_softhsm");
    Path::new(&conf).parent().unwrap().to_owned()
}
