//! `jarsigner -verify`, the JDK's independent JAR signature verifier.

use std::path::Path;
use std::process::{Command, Output};

/// The password of the test keystores and truststores (`keytool -storepass`).
pub const STOREPASS: &str = "changeit";

/// `jarsigner -verify -strict -verbose -certs` against a truststore.
pub fn jarsigner_verify(jar: &Path, truststore: &Path) -> Output {
    Command::new("jarsigner")
        .args([
            "-verify",
            "-strict",
            "-verbose",
            "-certs",
            "-storepass",
            STOREPASS,
        ])
        .arg("-keystore")
        .arg(truststore)
        .arg(jar)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run jarsigner ({e}): run `apt-get install -y openjdk-17-jdk-headless`")
        })
}

/// The only warning jarsigner prints for a good signature made without a
/// timestamp authority (it drops it when the signer certificate itself is in
/// the keystore).
pub const NO_TIMESTAMP: &str = "This jar contains signatures that do not include a timestamp";

/// Asserts that jarsigner accepts the JAR with exit 0, no error, and no
/// warning except the no-timestamp notice; returns its output.
pub fn assert_jarsigner_accepts(jar: &Path, truststore: &Path) -> String {
    assert_jarsigner_accepts_with(jar, truststore, &[])
}

/// [`assert_jarsigner_accepts`], also allowing warnings that start with one of `allowed`.
pub fn assert_jarsigner_accepts_with(jar: &Path, truststore: &Path, allowed: &[&str]) -> String {
    let out = jarsigner_verify(jar, truststore);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The per-entry listing can be 70,000 lines: report the summary only.
    let summary: String = stdout
        .lines()
        .filter(|l| !l.starts_with("sm") && !l.starts_with("      "))
        .collect::<Vec<_>>()
        .join("\n");
    let report = format!("{summary}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "jarsigner rejected {jar:?}:\n{report}"
    );
    assert!(stdout.contains("jar verified."), "{report}");
    assert!(!stdout.contains("Error:"), "{report}");
    assert!(!stdout.contains("unsigned entries"), "{report}");
    if let Some((_, warnings)) = stdout.split_once("Warning:") {
        for line in warnings.lines().map(str::trim).filter(|l| !l.is_empty()) {
            assert!(
                line.starts_with(NO_TIMESTAMP)
                    // Informational, follows the no-timestamp notice (certificates
                    // here are valid for ten years).
                    || line.starts_with("The signer certificate will expire on")
                    || line.starts_with("Re-run with")
                    || allowed.iter().any(|a| line.starts_with(a)),
                "unexpected jarsigner warning {line:?}:\n{report}"
            );
        }
    }
    stdout
}
