//! The release manifest: what a release signed, written next to the outputs once every file
//! of it was signed, and checked by `sigil verify --manifest`.
//!
//! JSON (`docs/cli.md` shows an example): the release id, policy, requester, approvers with
//! their times, when the release was created and signed, and per file its path (relative to
//! the manifest's directory when it lies under it), size, SHA-256 `digest` of the file as
//! written, format, the request's hash algorithm, its request id, and the SHA-256 of the
//! signature the server made (for a raw signature, of the `FILE.sig` written, which is also
//! listed and checked).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sigil_proto::ReleaseStatus;

use crate::error::{ClientError, Result};
use crate::job::Format;
use crate::sign::{JobOutcome, JobResult, SignOptions};

/// The manifest format version (`sigil_release_manifest`).
pub const VERSION: u32 = 1;

/// A release manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`VERSION`]).
    pub sigil_release_manifest: u32,
    /// The release id.
    pub release_id: String,
    /// The policy every file was signed under.
    pub policy: String,
    /// The identity that requested the release.
    pub requester: String,
    /// When the release was opened (RFC 3339).
    pub created: String,
    /// When its last file was signed (RFC 3339).
    pub signed: Option<String>,
    /// Who approved, and when.
    pub approvals: Vec<ManifestApproval>,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestApproval {
    /// The approver.
    pub approver: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One signed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The file as written (relative to the manifest's directory when under it).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of the file as written, hex.
    pub digest: String,
    /// `authenticode`, `jar` or `hash`.
    pub format: String,
    /// The hash algorithm of the signing request (`sha256`, `sha384`, `sha512`).
    pub hash: String,
    /// The signing request id.
    pub request_id: String,
    /// SHA-256 of the signature (raw) or signature block (PKCS#7) the server made, hex.
    pub signature_sha256: String,
    /// For a raw signature: the `FILE.sig` written (relative like `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_file: Option<String>,
}

/// Writes the manifest of a release whose files all were signed. `signatures` holds the
/// SHA-256 of each request's signature, by request id.
pub fn write(
    path: &Path,
    release: &ReleaseStatus,
    options: &SignOptions,
    results: &[JobResult],
    signatures: &std::collections::HashMap<String, String>,
) -> Result<()> {
    let dir = base_dir(path);
    let mut files = Vec::with_capacity(results.len());
    for r in results {
        let JobOutcome::Signed { output, .. } = &r.outcome else {
            return Err(ClientError::file(
                &r.path,
                "not signed: no manifest is written",
            ));
        };
        let request_id = r
            .request_id
            .as_ref()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default();
        // A raw signature leaves the file as it was and writes FILE.sig (or --output).
        let (file, signature_file) = match r.format {
            Format::Hash => (r.path.clone(), Some(output.clone())),
            _ => (output.clone(), None),
        };
        let (size, digest) = sha256_file(&file)?;
        files.push(ManifestFile {
            path: relative(&dir, &file),
            size,
            digest,
            format: r.format.as_str().to_owned(),
            hash: options.hash.as_str().to_ascii_lowercase(),
            signature_sha256: signatures.get(&request_id).cloned().ok_or_else(|| {
                ClientError::file(&r.path, "the server returned no signature to record")
            })?,
            request_id,
            signature_file: signature_file.map(|s| relative(&dir, &s)),
        });
    }
    let manifest = Manifest {
        sigil_release_manifest: VERSION,
        release_id: release.id.as_str().to_owned(),
        policy: release.policy.clone(),
        requester: release.requester.clone(),
        created: rfc3339(release.created),
        signed: release.state_time.map(rfc3339),
        approvals: release
            .approvals
            .iter()
            .map(|(approver, at)| ManifestApproval {
                approver: approver.clone(),
                at: rfc3339(*at),
            })
            .collect(),
        files,
    };
    let mut json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ClientError::file(path, format!("cannot encode the manifest: {e}")))?;
    json.push(b'\n');
    let tmp = path.with_extension("json.sigil-tmp");
    let written = std::fs::write(&tmp, &json)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ClientError::file(path, format!("cannot write the release manifest: {e}"))
    })
}

/// What `sigil verify --manifest` found for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The file (as resolved).
    pub path: PathBuf,
    /// `None` when it matches; else what differs.
    pub problem: Option<String>,
}

/// Reads a manifest and re-hashes every file it lists (and every `FILE.sig`). An unreadable
/// or malformed manifest is an error; a file that differs is a [`FileCheck`] with a problem.
pub fn verify(path: &Path) -> Result<(Manifest, Vec<FileCheck>)> {
    let text = std::fs::read(path)
        .map_err(|e| ClientError::file(path, format!("cannot read the manifest: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| ClientError::file(path, format!("not a Sigil release manifest: {e}")))?;
    if manifest.sigil_release_manifest != VERSION {
        return Err(ClientError::file(
            path,
            format!(
                "manifest version {} is not one this sigil reads ({VERSION}): use a newer sigil",
                manifest.sigil_release_manifest
            ),
        ));
    }
    let dir = base_dir(path);
    let mut checks = Vec::with_capacity(manifest.files.len());
    for f in &manifest.files {
        let file = dir.join(&f.path);
        let mut problem = match sha256_file(&file) {
            Err(e) => Some(e.to_string()),
            Ok((size, _)) if size != f.size => Some(format!(
                "size is {size} bytes, the manifest says {}",
                f.size
            )),
            Ok((_, digest)) if !digest.eq_ignore_ascii_case(&f.digest) => {
                Some("content differs from the manifest (SHA-256 mismatch)".to_owned())
            }
            Ok(_) => None,
        };
        if problem.is_none()
            && let Some(sig) = &f.signature_file
        {
            problem = match sha256_file(&dir.join(sig)) {
                Err(e) => Some(e.to_string()),
                Ok((_, digest)) if !digest.eq_ignore_ascii_case(&f.signature_sha256) => {
                    Some(format!("its signature {sig} differs from the manifest"))
                }
                Ok(_) => None,
            };
        }
        checks.push(FileCheck {
            path: file,
            problem,
        });
    }
    Ok((manifest, checks))
}

/// The default manifest path of release `id`: next to the first file.
pub fn default_path(first_file: &Path, id: &str) -> PathBuf {
    let dir = first_file.parent().unwrap_or_else(|| Path::new(""));
    dir.join(format!("sigil-release-{id}.json"))
}

/// SHA-256 of `data`, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let size = std::fs::metadata(path)
        .map_err(|e| ClientError::file(path, format!("cannot read: {e}")))?
        .len();
    let digest = crate::job::file_digest(path, sigil_proto::HashAlgorithm::Sha256)?;
    Ok((size, hex::encode(digest)))
}

fn base_dir(manifest: &Path) -> PathBuf {
    match manifest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `file` relative to `dir` when it lies under it (both made absolute), else absolute.
fn relative(dir: &Path, file: &Path) -> String {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (dir, file) = (absolute(dir), absolute(file));
    file.strip_prefix(&dir)
        .unwrap_or(&file)
        .to_string_lossy()
        .into_owned()
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
