//! Releases: several files under one policy signed after one approval.
//!
//! [`sign_release`] checks the set before anything is submitted (not empty, at most
//! [`MAX_FILES`], no two files written to the same output, every format and the hash allowed
//! by the policy), opens the release (`RAUR`, declaring the count), uploads every file into it
//! (`RL`) and waits for them like [`sign_jobs`] does (long polling, `WT`). When every file was
//! signed it reads the release (`RAGR`: approvers and times) and writes the release manifest
//! (see [`crate::manifest`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sigil_proto::{ErrorCode, Extensions, OpenRelease, ReleaseId, RequestId, Response};

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::job::{Format, Job, PreparedJob};
use crate::sign::{JobOutcome, JobResult, Progress, SignOptions, sig_path, sign_jobs};

/// Most files one release holds (the server's limit too).
pub const MAX_FILES: usize = 1000;

/// Longest a retrieve waits on the server before the client asks again (the server bounds it
/// at 60 s; well under the client's answer timeout).
pub const LONG_POLL: Duration = Duration::from_secs(25);

/// How a release run ended.
#[derive(Debug)]
pub struct ReleaseRun {
    /// The release id (`None` when it was refused before it was opened).
    pub release_id: Option<ReleaseId>,
    /// One result per file, in the given order.
    pub results: Vec<JobResult>,
    /// The manifest written, when every file was signed.
    pub manifest: Option<PathBuf>,
}

/// Where a job's result is written: the file itself, `FILE.sig` for a raw signature, or
/// `output` for a single file.
pub fn output_path(job: &Job, output: Option<&Path>) -> PathBuf {
    match (output, job.format) {
        (Some(output), _) => output.to_path_buf(),
        (None, Format::Hash) => sig_path(&job.path),
        // The armored default; a binary `FILE.sig` is the hash format's name anyway.
        (None, Format::OpenPgp) => {
            let mut name = job.path.as_os_str().to_owned();
            name.push(".asc");
            PathBuf::from(name)
        }
        (None, _) => job.path.clone(),
    }
}

/// Checks a set of files for a release before anything is submitted: not empty, at most
/// [`MAX_FILES`], and no two written to the same place (the same file named twice, e.g.
/// `a.exe` and `./a.exe`).
pub fn check_release(jobs: &[Job]) -> Result<()> {
    if jobs.is_empty() {
        return Err(ClientError::Usage(
            "a release needs at least one file".into(),
        ));
    }
    if jobs.len() > MAX_FILES {
        return Err(ClientError::Usage(format!(
            "{} files: a release holds at most {MAX_FILES}; split it into several runs",
            jobs.len()
        )));
    }
    let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
    for job in jobs {
        let output = output_path(job, None);
        if let Some(first) = seen.insert(normalized(&output), &job.path) {
            return Err(ClientError::Usage(format!(
                "{} and {} are written to the same output {}: give each file once",
                first.display(),
                job.path.display(),
                output.display()
            )));
        }
    }
    Ok(())
}

/// An absolute, canonical form of a path whose file may not exist yet (its directory does).
fn normalized(path: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(path) {
        return path;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::canonicalize(dir)
                .map(|d| d.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// Signs `jobs` as one release on `conn` (logged in). `manifest` overrides the manifest's
/// default path, `sigil-release-<id>.json` in the directory of the first file.
pub async fn sign_release(
    conn: &mut Connection,
    jobs: Vec<PreparedJob>,
    options: &SignOptions,
    manifest: Option<&Path>,
    progress: &dyn Progress,
) -> Result<ReleaseRun> {
    let plain: Vec<Job> = jobs.iter().map(|j| j.job.clone()).collect();
    check_release(&plain)?;
    // Every file must be acceptable under the policy before the release is opened: a file
    // refused later would leave a release that can never be complete.
    let info = conn.get_policy(&options.policy).await?;
    for job in &plain {
        if !info.allowed_formats.contains(&job.format) {
            return Err(ClientError::Usage(format!(
                "{}: policy {} does not allow the {} format (it allows {}): sign it under \
                 another policy, or leave it out of this release",
                job.path.display(),
                options.policy,
                job.format.as_str(),
                info.allowed_formats
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if !info.allowed_hashes.contains(&options.hash) {
        return Err(ClientError::Usage(format!(
            "policy {} does not allow {}: use --hash with one of {}",
            options.policy,
            options.hash.as_str(),
            info.allowed_hashes
                .iter()
                .map(|h| h.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let opened = conn
        .open_release(OpenRelease {
            policy: options.policy.clone(),
            files: jobs.len() as u64,
            metadata: sigil_proto::Metadata {
                file_name: None,
                file_size: None,
                ..options.metadata.clone()
            },
        })
        .await?;
    let id = opened.id.clone();
    tracing::debug!(release = %id, files = jobs.len(), "release opened");
    let first = plain.first().map(|j| j.path.clone()).unwrap_or_default();
    let mut options = options.clone();
    options.release = Some(id.clone());
    let results = sign_jobs(conn, jobs, &options, progress).await?;
    let all_signed = results
        .iter()
        .all(|r| matches!(r.outcome, JobOutcome::Signed { .. }));
    let manifest = if all_signed {
        let release = conn.get_release(id.clone()).await?;
        let signatures = signature_hashes(conn, &results).await?;
        let path = manifest.map_or_else(
            || crate::manifest::default_path(&first, id.as_str()),
            Path::to_path_buf,
        );
        crate::manifest::write(&path, &release, &options, &results, &signatures)?;
        Some(path)
    } else {
        None
    };
    Ok(ReleaseRun {
        release_id: Some(id),
        results,
        manifest,
    })
}

/// SHA-256 of the signature the server made for each signed request, by request id (one
/// pipelined round of retrieves: the results themselves were written, not kept).
async fn signature_hashes(
    conn: &mut Connection,
    results: &[JobResult],
) -> Result<HashMap<String, String>> {
    let signed: Vec<(&JobResult, &RequestId)> = results
        .iter()
        .filter_map(|r| r.request_id.as_ref().map(|id| (r, id)))
        .collect();
    let requests: Vec<_> = signed
        .iter()
        .map(|(r, id)| crate::connection::retrieve_request(r.format, (*id).clone()))
        .collect();
    let mut hashes = HashMap::with_capacity(signed.len());
    for ((r, id), answer) in signed.iter().zip(conn.pipeline(&requests).await?) {
        let command = crate::connection::retrieve_command(r.format);
        let status =
            crate::connection::into_result(command, answer).and_then(crate::connection::status)?;
        if let sigil_proto::Outcome::Signed { result } = status.outcome {
            hashes.insert(id.as_str().to_owned(), crate::manifest::sha256_hex(&result));
        }
    }
    Ok(hashes)
}

/// The extensions of every upload of a run: the release it joins, if any.
pub(crate) fn upload_extensions(options: &SignOptions) -> Extensions {
    Extensions {
        release: options.release.clone(),
        ..Extensions::default()
    }
}

/// The result of a file whose release can no longer be complete.
pub(crate) fn incomplete(job: Job, id: RequestId) -> JobResult {
    JobResult {
        path: job.path,
        format: job.format,
        request_id: Some(id),
        outcome: JobOutcome::Error {
            kind: crate::error::ErrorKind::Other,
            message: "another file of this release was refused, so the release can never be \
                      approved (it expires on the server): fix that file and sign the release again"
                .into(),
        },
    }
}

/// The `WT` of a retrieve with `left` of `--wait` remaining: at most [`LONG_POLL`], at
/// least one second.
pub(crate) fn wait_secs(left: Duration) -> u64 {
    left.min(LONG_POLL).as_secs().max(1)
}

/// Whether an answer refuses the `WT` field itself (a server without long polling).
pub(crate) fn wait_refused(answer: &Result<Response>) -> bool {
    matches!(
        answer,
        Err(ClientError::Server { code, message, .. })
            if matches!(code, ErrorCode::UnexpectedTag | ErrorCode::UnknownTag)
                && message.contains("WT")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(path: &Path, format: Format) -> Job {
        Job {
            path: path.to_path_buf(),
            format,
            subject: None,
        }
    }

    #[test]
    fn the_set_is_checked_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.exe");
        std::fs::write(&a, b"x").unwrap();
        assert!(matches!(check_release(&[]), Err(ClientError::Usage(_))));
        let many: Vec<Job> = (0..=MAX_FILES)
            .map(|i| job(&dir.path().join(format!("{i}")), Format::Hash))
            .collect();
        let err = check_release(&many).unwrap_err().to_string();
        assert!(err.contains("at most 1000"), "{err}");
        let dotted = dir.path().join(".").join("a.exe");
        let err = check_release(&[
            job(&a, Format::Authenticode),
            job(&dotted, Format::Authenticode),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("same output"), "{err}");
        assert!(check_release(&[job(&a, Format::Authenticode), job(&a, Format::Hash)]).is_ok());
    }

    #[test]
    fn long_polls_are_bounded() {
        assert_eq!(wait_secs(Duration::from_secs(3600)), 25);
        assert_eq!(wait_secs(Duration::from_millis(300)), 1);
    }
}
