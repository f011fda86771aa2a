//! `osslsigncode verify`, the independent Authenticode verifier.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::tools::{output_text, require};

/// What `osslsigncode verify` said.
pub struct OsslVerify {
    /// Exit status was 0.
    pub success: bool,
    /// stdout and stderr.
    pub output: String,
}

impl OsslVerify {
    /// Exit status 0 and at least one `Signature verification: ok`.
    pub fn verified(&self) -> bool {
        self.success && self.output.contains("Signature verification: ok")
    }

    /// No digest `MISMATCH` and no `Signature verification: failed` anywhere: osslsigncode may
    /// exit 0 when one (nested) signature verifies and another does not.
    pub fn nothing_failed(&self) -> bool {
        !self.output.contains("MISMATCH") && !self.output.contains("Signature verification: failed")
    }

    /// Asserts exit status 0 and a `Signature verification: ok`; returns the output.
    pub fn assert_verified(self) -> String {
        assert!(self.success, "osslsigncode verify failed:\n{}", self.output);
        assert!(
            self.output.contains("Signature verification: ok"),
            "{}",
            self.output
        );
        self.output
    }

    /// Asserts success, no digest mismatch and exactly `signatures` verified signatures.
    pub fn assert_signatures(&self, signatures: usize) {
        let out = &self.output;
        assert!(self.success, "osslsigncode verify failed:\n{out}");
        assert!(!out.contains("MISMATCH"), "{out}");
        assert_eq!(
            out.matches("Signature verification: ok").count(),
            signatures,
            "{out}"
        );
    }

    /// Asserts a fully valid PE (run with `-verbose`): `signatures` signatures, all verified,
    /// digests and checksum matching.
    pub fn assert_valid(&self, signatures: usize, checksum: u32) {
        let out = &self.output;
        assert!(self.success, "osslsigncode verify failed:\n{out}");
        assert!(!out.contains("MISMATCH"), "digest mismatch:\n{out}");
        assert!(!out.contains("invalid PE checksum"), "bad checksum:\n{out}");
        assert!(
            out.contains(&format!("PE checksum   : {checksum:08X}")),
            "checksum {checksum:08X} not reported:\n{out}"
        );
        assert_eq!(
            out.matches("Signature verification: ok").count(),
            signatures,
            "{out}"
        );
        assert!(
            out.contains(&format!("Number of verified signatures: {signatures}")),
            "{out}"
        );
    }
}

/// `osslsigncode verify -verbose -CAfile root_pem -in file`.
pub fn osslsigncode_verify(file: &Path, root_pem: &Path) -> OsslVerify {
    osslsigncode_verify_with(
        file,
        &[
            OsStr::new("-verbose"),
            OsStr::new("-CAfile"),
            root_pem.as_os_str(),
        ],
    )
}

/// `osslsigncode verify options -in file` (options such as `-CAfile root -TSA-CAfile root`).
/// Fails the test when osslsigncode is missing; a refusal is returned, not a failure.
pub fn osslsigncode_verify_with<S: AsRef<OsStr>>(file: &Path, options: &[S]) -> OsslVerify {
    require("osslsigncode", "osslsigncode");
    let output = Command::new("osslsigncode")
        .arg("verify")
        .args(options)
        .arg("-in")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run osslsigncode: {e}"));
    OsslVerify {
        success: output.status.success(),
        output: output_text(&output),
    }
}
