//! GnuPG, the independent OpenPGP verifier.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `gpg --homedir home --batch --no-tty --status-fd 1 args`; fails the test when gpg is
/// not installed. The caller checks the exit status: refusing is an outcome tests assert on.
pub fn gpg(home: &Path, args: &[&str]) -> Output {
    Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--no-tty", "--status-fd", "1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gpg ({e}): run `apt-get install -y gpg`"))
}
