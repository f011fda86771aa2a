//! Where the module tells a person what went wrong: the configured log file, else standard
//! error. Never standard output, which belongs to the calling tool.

use std::io::Write;
use std::path::Path;

/// Writes one line for a person (a denial's reason, a refusal, a connection failure).
pub(crate) fn report(log_file: Option<&Path>, message: &str) {
    let line = format!("sigil-pkcs11: {message}\n");
    if let Some(path) = log_file {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if written.is_ok() {
            return;
        }
    }
    // Nothing else can be done when standard error is closed too.
    let _ = std::io::stderr().write_all(line.as_bytes());
}
