//! `sigil verify --manifest FILE`: re-hashes every file a release manifest lists.

use std::path::Path;

use anyhow::Result;

use crate::exit;

/// Prints one line per file; exits 1 naming every file that differs from the manifest.
pub(crate) fn verify(manifest: &Path) -> Result<u8> {
    let (m, checks) = sigil_client::manifest::verify(manifest)?;
    let mut changed = Vec::new();
    for check in &checks {
        match &check.problem {
            None => out!("ok       {}", check.path.display()),
            Some(problem) => {
                out!("CHANGED  {}: {problem}", check.path.display());
                changed.push(check.path.display().to_string());
            }
        }
    }
    if changed.is_empty() {
        out!(
            "release {}: all {} file(s) match the manifest (policy {}, approved by {})",
            m.release_id,
            checks.len(),
            m.policy,
            m.approvals
                .iter()
                .map(|a| a.approver.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(exit::OK);
    }
    Err(exit::fail(
        exit::OTHER,
        format!(
            "{} of {} file(s) differ from the manifest {}: {}",
            changed.len(),
            checks.len(),
            manifest.display(),
            changed.join(", ")
        ),
    ))
}
