//! Running the independent tools: a missing tool or a failed run fails the test.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Fails with the Debian package to install when `tool` is not on the PATH.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: run `apt-get install -y {package}` (this test never skips)"
    );
}

/// Runs a command, failing the test with its output when it cannot start or fails.
pub fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `program args` with no input (stdin closed) and returns what it did; the caller checks
/// the exit status. Fails the test only when the program cannot start.
pub fn output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Runs `program args` with no input; fails the test unless it succeeds; returns stdout and
/// stderr.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = output(program, args);
    let t = output_text(&out);
    assert!(out.status.success(), "{program} {args:?} failed:\n{t}");
    t
}

/// Runs `program args` with no input; fails the test unless it succeeds; returns stdout only
/// (for a tool whose stdout is parsed, e.g. a PEM).
pub fn stdout_ok(program: &str, args: &[&str]) -> String {
    let out = output(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tool's stdout followed by its stderr.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory's entry names, sorted (to check that no temporary file was left behind).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Mode bits of a file (`0o600` …).
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}
