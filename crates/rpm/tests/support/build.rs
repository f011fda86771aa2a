//! Test packages built by `rpmbuild` (shared by `sigil-rpm`'s tests and the CLI's RPM test,
//! which includes this file by path). Needs `rpmbuild` (Debian package `rpm`, installed by
//! `scripts/test.sh`); missing, the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd`, failing the test with its output unless it succeeds; returns its output.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/test.sh installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// Builds the package `hello-sigil` 1.0 (one text file) with rpmbuild
/// under `dir`; returns its path.
pub(crate) fn build_package(dir: &Path) -> PathBuf {
    let specs = dir.join("top/SPECS");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("hello.spec"),
        "Name: hello-sigil\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: MIT\n\
         BuildArch: noarch\n%description\ntest\n%install\n\
         mkdir -p %{buildroot}/usr/share/hello-sigil\n\
         seq 1 20000 > %{buildroot}/usr/share/hello-sigil/hello.txt\n\
         %files\n/usr/share/hello-sigil/hello.txt\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg(specs.join("hello.spec")));
    dir.join("top/RPMS/noarch/hello-sigil-1.0-1.noarch.rpm")
}
