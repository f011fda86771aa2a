//! Signing many files on one connection: upload every digest (pipelined), wait for the
//! pending requests with a polling back-off, retrieve, and write each result locally.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sigil_authenticode::{EmbedMode, Placement};
use sigil_jar::SignatureBlockKind;
use sigil_proto::{
    AuthenticodeUpload, Command, ErrorCode, HashAlgorithm, JarUpload, Metadata, OpenPgpUpload,
    Outcome, Request, RequestId, RequestState, RequestStatus, Upload,
};

use crate::connection::{Connection, retrieve_command, retrieve_request, status};
use crate::error::{ClientError, ErrorKind, Result};
use crate::job::{Format, Job, PreparedJob};
use crate::timestamp::Stamped;

/// First delay between two polls of pending requests.
pub const FIRST_POLL: Duration = Duration::from_secs(1);
/// Longest delay between two polls (the delay doubles up to this).
pub const MAX_POLL: Duration = Duration::from_secs(15);
/// Requests sent per pipelined batch (bounds the memory of one batch).
pub const BATCH: usize = 256;
/// Bytes of PE images [`prepare_jobs`] copies next to their outputs ahead of the signatures
/// (bounds the extra disk space of a bulk run; the rest are copied when their signature
/// arrives).
pub const STAGE_BUDGET: u64 = 2 << 30;

/// How to sign.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Issuance policy alias.
    pub policy: String,
    /// Hash algorithm of the digests.
    pub hash: HashAlgorithm,
    /// How long to wait for approvals before giving up (the requests stay on the server).
    pub wait: Duration,
    /// Authenticode: keep an existing signature and nest the new one.
    pub append: bool,
    /// Where to write the result of a single file (default: in place, or `FILE.sig`).
    pub output: Option<PathBuf>,
    /// Resume an existing request instead of uploading (single file).
    pub request_id: Option<RequestId>,
    /// Metadata recorded with every request (file name and size are filled in per file).
    pub metadata: Metadata,
    /// JAR signer name (base name of `META-INF/<NAME>.SF`); default derived from the policy.
    pub signer_name: Option<String>,
    /// Authenticode program name.
    pub program_name: Option<String>,
    /// Authenticode program URL.
    pub program_url: Option<String>,
    /// First polling delay (default [`FIRST_POLL`]).
    pub first_poll: Duration,
    /// Longest polling delay (default [`MAX_POLL`]).
    pub max_poll: Duration,
    /// Time-stamp every signature with this TSA before writing it.
    pub timestamp: Option<crate::timestamp::Stamper>,
    /// The release every upload joins (set by [`crate::release::sign_release`]).
    pub release: Option<sigil_proto::ReleaseId>,
    /// Wait on the server for a final state (`WT`, see [`crate::release::LONG_POLL`]) instead
    /// of polling with back-off (default on; off against a server that does not take `WT`).
    pub long_poll: bool,
    /// OpenPGP: write an ASCII-armored `FILE.asc` (default) instead of a binary `FILE.sig`.
    pub openpgp_armor: bool,
}

impl SignOptions {
    /// Options with the defaults: SHA-256, 30 minutes of waiting, replace, no metadata.
    pub fn new(policy: impl Into<String>) -> Self {
        Self {
            policy: policy.into(),
            hash: HashAlgorithm::Sha256,
            wait: Duration::from_secs(30 * 60),
            append: false,
            output: None,
            request_id: None,
            metadata: Metadata::default(),
            signer_name: None,
            program_name: None,
            program_url: None,
            first_poll: FIRST_POLL,
            max_poll: MAX_POLL,
            timestamp: None,
            release: None,
            long_poll: true,
            openpgp_armor: true,
        }
    }
}

/// How one file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Signed; the result was written to `output`.
    Signed {
        /// The file written (the signed file, or `FILE.sig`).
        output: PathBuf,
        /// What was done, for a person.
        detail: String,
    },
    /// An approver denied the request.
    Denied {
        /// The approver's reason.
        reason: Option<String>,
    },
    /// Not approved within the policy's request lifetime.
    Expired,
    /// Approved, but the server failed to sign.
    Failed,
    /// Still not final when `--wait` ran out; the request id lets a later run resume.
    TimedOut {
        /// The last state seen.
        state: RequestState,
    },
    /// The server refused the request.
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's message.
        message: String,
    },
    /// A local error: the file could not be read, digested, or the result written.
    Error {
        /// Class of the error.
        kind: ErrorKind,
        /// What went wrong.
        message: String,
    },
}

impl JobOutcome {
    /// Short name: `signed`, `denied`, `expired`, `failed`, `timed-out`, `refused`, `error`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Signed { .. } => "signed",
            Self::Denied { .. } => "denied",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::TimedOut { .. } => "timed-out",
            Self::Refused { .. } => "refused",
            Self::Error { .. } => "error",
        }
    }

    fn from_error(error: &ClientError) -> Self {
        match error {
            ClientError::Server { code, message, .. } => Self::Refused {
                code: code.clone(),
                message: message.clone(),
            },
            other => Self::Error {
                kind: other.kind(),
                message: other.to_string(),
            },
        }
    }
}

/// The result of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The server's request id, once uploaded.
    pub request_id: Option<RequestId>,
    /// How it ended.
    pub outcome: JobOutcome,
}

/// Progress reports (all methods default to doing nothing).
pub trait Progress {
    /// All files are digested; `count` requests are about to be uploaded.
    fn uploading(&self, _count: usize) {}
    /// A request was accepted by the server.
    fn uploaded(&self, _path: &Path, _id: &RequestId, _state: RequestState) {}
    /// `pending` requests are still waiting; the next poll is in `delay`.
    fn waiting(&self, _pending: usize, _delay: Duration) {}
    /// A file is done.
    fn finished(&self, _result: &JobResult) {}
}

/// A [`Progress`] that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Digests every job; the ones that cannot be prepared come back as finished results.
///
/// Each file is read once, on as many threads as the machine has cores (in the given
/// order when it has one). PE images are also copied next to their outputs (up to
/// [`STAGE_BUDGET`] bytes in all), so that a signature that arrives at once only has to
/// be embedded: this is the work to run while the connection is being set up.
pub fn prepare_jobs(jobs: Vec<Job>, options: &SignOptions) -> (Vec<PreparedJob>, Vec<JobResult>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(jobs.len());
    let budget = AtomicU64::new(STAGE_BUDGET);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Job>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let done: Vec<Mutex<Option<Prepared>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    // Workers take the next job in order; each result goes back to its job's slot.
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let (Some(slot), Some(out)) = (slots.get(i), done.get(i)) else {
                break;
            };
            let Some(job) = slot.lock().ok().and_then(|mut j| j.take()) else {
                continue;
            };
            let result = prepare_one(job, options, &budget);
            if let Ok(mut out) = out.lock() {
                *out = Some(result);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });

    let mut prepared = Vec::with_capacity(done.len());
    let mut failed = Vec::new();
    for result in done
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
    {
        match result {
            Ok(p) => prepared.push(p),
            Err((job, e)) => failed.push(JobResult {
                path: job.path,
                format: job.format,
                request_id: None,
                outcome: JobOutcome::from_error(&e),
            }),
        }
    }
    (prepared, failed)
}

/// The outcome of preparing one job: the job back with the error when it failed.
type Prepared = std::result::Result<PreparedJob, (Job, ClientError)>;

/// Digests one job and stages a PE image while the staging budget lasts.
fn prepare_one(job: Job, options: &SignOptions, budget: &AtomicU64) -> Prepared {
    let size = std::fs::metadata(&job.path).map_or(u64::MAX, |m| m.len());
    let within_budget = job.format == Format::Authenticode
        && job.subject() == sigil_authenticode::Subject::Pe
        && budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(size)
            })
            .is_ok();
    let output = options.output.clone().unwrap_or_else(|| job.path.clone());
    PreparedJob::prepare_staged(
        job.clone(),
        options.hash,
        &options.policy,
        options.signer_name.as_deref(),
        within_budget.then_some(output.as_path()),
    )
    .map_err(|e| (job, e))
}

/// A job on its way: uploaded, waiting for its final state.
struct Tracked {
    prepared: PreparedJob,
    id: RequestId,
    state: RequestState,
}

/// Signs the prepared jobs on `conn` (logged in): uploads, waits, retrieves and writes.
/// Returns one result per job, in the given order. An `Err` means the connection failed
/// (the requests already uploaded stay on the server).
pub async fn sign_jobs(
    conn: &mut Connection,
    mut jobs: Vec<PreparedJob>,
    options: &SignOptions,
    progress: &dyn Progress,
) -> Result<Vec<JobResult>> {
    if options.output.is_some() && jobs.len() > 1 {
        return Err(ClientError::Usage(
            "--output works only with a single file: sign several files in place".into(),
        ));
    }
    let order: Vec<PathBuf> = jobs.iter().map(|j| j.job.path.clone()).collect();
    let mut results: Vec<JobResult> = Vec::with_capacity(jobs.len());

    // Check the policy once (RAGA) before uploading anything; a JAR's block file is also
    // named after the policy's key type. A refusal here refuses every file alike.
    let facts = match conn.get_policy(&options.policy).await {
        Ok(info) => {
            tracing::debug!(policy = %options.policy, "policy checked");
            PolicyFacts::of(&info)
        }
        Err(e @ ClientError::Server { .. }) => {
            let outcome = JobOutcome::from_error(&e);
            return Ok(jobs
                .into_iter()
                .map(|j| {
                    let result = JobResult {
                        path: j.job.path,
                        format: j.job.format,
                        request_id: None,
                        outcome: outcome.clone(),
                    };
                    progress.finished(&result);
                    result
                })
                .collect());
        }
        Err(e) => return Err(e),
    };

    progress.uploading(jobs.len());
    let mut tracked = Vec::with_capacity(jobs.len());
    let done = |result: JobResult, results: &mut Vec<JobResult>| {
        progress.finished(&result);
        results.push(result);
    };
    let answers = match &options.request_id {
        Some(id) => {
            if jobs.len() != 1 {
                return Err(ClientError::Usage(
                    "--request-id resumes one request: give exactly one file".into(),
                ));
            }
            let requests: Vec<Request> = jobs
                .iter()
                .map(|j| retrieve_request(j.job.format, id.clone()))
                .collect();
            conn.pipeline(&requests).await?
        }
        None => {
            // OpenPGP digests end with the signature's hashed part, which names the key.
            let mut ready = Vec::with_capacity(jobs.len());
            for mut job in jobs {
                match crate::openpgp::finish_digest(&mut job, &facts, options.hash) {
                    Ok(()) => ready.push(job),
                    Err(e) => done(
                        JobResult {
                            path: job.job.path,
                            format: job.job.format,
                            request_id: None,
                            outcome: JobOutcome::from_error(&e),
                        },
                        &mut results,
                    ),
                }
            }
            jobs = ready;
            let mut answers = Vec::with_capacity(jobs.len());
            let joins = crate::release::upload_extensions(options);
            for batch in jobs.chunks(BATCH) {
                let requests: Vec<Request> =
                    batch.iter().map(|j| upload_request(j, options)).collect();
                // A key per file makes the upload safe to send again after a lost answer
                // (see `Connection::resume_with`); a file of a release is not resent.
                let mut extensions = Vec::with_capacity(requests.len());
                for _ in &requests {
                    let mut ext = joins.clone();
                    if options.release.is_none() {
                        ext.idempotency_key = Some(crate::connection::new_idempotency_key()?);
                    }
                    extensions.push(ext);
                }
                answers.extend(conn.pipeline_with(&requests, &extensions).await?);
            }
            answers
        }
    };
    tracing::debug!(answers = answers.len(), "upload answers read");
    for (mut prepared, answer) in jobs.into_iter().zip(answers) {
        let (path, format) = (prepared.job.path.clone(), prepared.job.format);
        let command = match options.request_id {
            Some(_) => retrieve_command(format),
            None => upload_command(format),
        };
        match crate::connection::into_result(command, answer).and_then(status) {
            Ok(s) => {
                progress.uploaded(&path, &s.id, s.outcome.state());
                let id = s.id.clone();
                match finish(&mut prepared, s, options, &facts).await {
                    Some(outcome) => done(
                        JobResult {
                            path,
                            format,
                            request_id: Some(id),
                            outcome,
                        },
                        &mut results,
                    ),
                    None => tracked.push(Tracked {
                        // No copy lingers next to the output while approvers decide.
                        prepared: PreparedJob {
                            staged: None,
                            ..prepared
                        },
                        state: RequestState::Pending,
                        id,
                    }),
                }
            }
            Err(e) => done(
                JobResult {
                    path,
                    format,
                    request_id: None,
                    outcome: JobOutcome::from_error(&e),
                },
                &mut results,
            ),
        }
    }

    if options.release.is_some() && results.iter().any(|r| r.request_id.is_none()) {
        // A file of the release was refused: the release can never be complete, so
        // nobody can approve it; waiting for it would only wait for its expiry.
        for t in tracked.drain(..) {
            done(
                crate::release::incomplete(t.prepared.job, t.id),
                &mut results,
            );
        }
    }
    let deadline = Instant::now() + options.wait;
    let mut delay = options.first_poll;
    let mut long_poll = options.long_poll;
    while !tracked.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            for t in tracked.drain(..) {
                done(
                    JobResult {
                        path: t.prepared.job.path.clone(),
                        format: t.prepared.job.format,
                        request_id: Some(t.id),
                        outcome: JobOutcome::TimedOut { state: t.state },
                    },
                    &mut results,
                );
            }
            break;
        }
        // Long polling: the first request's retrieve waits on the server (the others of one
        // release are decided with it); without it, a back-off between polls.
        let wait = long_poll.then(|| crate::release::wait_secs(deadline - now));
        if !long_poll {
            let sleep = delay.min(deadline - now);
            progress.waiting(tracked.len(), sleep);
            tokio::time::sleep(sleep).await;
            delay = (delay * 2).min(options.max_poll);
        } else {
            progress.waiting(tracked.len(), Duration::ZERO);
        }

        let mut still = Vec::with_capacity(tracked.len());
        let mut wait = wait;
        let mut pending = tracked.into_iter();
        loop {
            let batch: Vec<Tracked> = pending.by_ref().take(BATCH).collect();
            if batch.is_empty() {
                break;
            }
            let requests: Vec<Request> = batch
                .iter()
                .map(|t| retrieve_request(t.prepared.job.format, t.id.clone()))
                .collect();
            // Only the first retrieve of the first batch waits.
            let waiting = [sigil_proto::Extensions {
                wait: wait.take(),
                ..Default::default()
            }];
            let answers = conn.pipeline_with(&requests, &waiting).await?;
            for (mut t, answer) in batch.into_iter().zip(answers) {
                let command = retrieve_command(t.prepared.job.format);
                let answer = crate::connection::into_result(command, answer);
                if crate::release::wait_refused(&answer) {
                    // A server without long polling: poll with back-off from now on.
                    long_poll = false;
                    still.push(t);
                    continue;
                }
                let outcome = match answer.and_then(status) {
                    Ok(s) => {
                        t.state = s.outcome.state();
                        finish(&mut t.prepared, s, options, &facts).await
                    }
                    Err(e) => Some(JobOutcome::from_error(&e)),
                };
                match outcome {
                    Some(outcome) => done(
                        JobResult {
                            path: t.prepared.job.path.clone(),
                            format: t.prepared.job.format,
                            request_id: Some(t.id),
                            outcome,
                        },
                        &mut results,
                    ),
                    None => still.push(t),
                }
            }
        }
        tracked = still;
    }

    // Back to the order the files were given in.
    results.sort_by_key(|r| {
        order
            .iter()
            .position(|p| *p == r.path)
            .unwrap_or(usize::MAX)
    });
    Ok(results)
}

/// The upload command of a format.
fn upload_command(format: Format) -> Command {
    match format {
        Format::Hash => Command::UploadHash,
        Format::Authenticode => Command::UploadAuthenticode,
        Format::Jar => Command::UploadJar,
        Format::OpenPgp => Command::UploadOpenPgp,
    }
}

/// The upload request of a prepared job.
fn upload_request(job: &PreparedJob, options: &SignOptions) -> Request {
    let mut metadata = options.metadata.clone();
    metadata.file_name = job
        .job
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    metadata.file_size = Some(job.file_size);
    let upload = Upload {
        policy: options.policy.clone(),
        hash: options.hash,
        digest: job.digest.clone(),
        metadata,
    };
    match job.job.format {
        Format::Hash => Request::UploadHash(upload),
        Format::Authenticode => Request::UploadAuthenticode(AuthenticodeUpload {
            upload,
            program_name: options.program_name.clone(),
            program_url: options.program_url.clone(),
            // Absent for a PE image: what servers before the other subjects understand.
            subject: match job.job.subject() {
                sigil_authenticode::Subject::Pe => None,
                subject => Some(wire_subject(subject)),
            },
        }),
        Format::Jar => Request::UploadJar(JarUpload {
            upload,
            entry_count: None,
            signer_name: job.jar.as_ref().map(|p| p.signer().as_str().to_owned()),
        }),
        Format::OpenPgp => Request::UploadOpenPgp(OpenPgpUpload {
            upload,
            created: time::OffsetDateTime::from_unix_timestamp(i64::from(
                job.openpgp_created.unwrap_or_default(),
            ))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        }),
    }
}

/// What the client learns from `RAGA` and needs to finish jobs.
#[derive(Debug, Clone, Default)]
pub struct PolicyFacts {
    /// The JAR block type of the policy's key.
    pub block_kind: Option<SignatureBlockKind>,
    /// The DER `SubjectPublicKeyInfo` of the policy's certificate (OpenPGP results are
    /// checked against it).
    pub signer_spki: Option<Vec<u8>>,
    /// `OF`: the key's OpenPGP fingerprint, when the policy allows OpenPGP.
    pub openpgp_fingerprint: Option<[u8; 20]>,
}

impl PolicyFacts {
    /// The facts of a `RAGA` answer.
    pub fn of(info: &sigil_proto::PolicyInfo) -> Self {
        use sigil_pki::x509_cert::Certificate;
        use sigil_pki::x509_cert::der::{Decode, Encode};
        let signer_spki = Certificate::from_der_partial(&info.certificate_chain)
            .ok()
            .and_then(|(c, _)| c.tbs_certificate().subject_public_key_info().to_der().ok());
        Self {
            block_kind: SignatureBlockKind::for_key(info.key_algorithm),
            signer_spki,
            openpgp_fingerprint: info
                .openpgp_fingerprint
                .as_deref()
                .and_then(|f| f.try_into().ok()),
        }
    }
}

/// The wire token of an Authenticode subject.
fn wire_subject(subject: sigil_authenticode::Subject) -> sigil_proto::AuthenticodeSubject {
    use sigil_authenticode::Subject;
    use sigil_proto::AuthenticodeSubject as Wire;
    match subject {
        Subject::Pe => Wire::Pe,
        Subject::Msi => Wire::Msi,
        Subject::Cab => Wire::Cab,
        Subject::Script => Wire::Script,
        Subject::Catalog => Wire::Catalog,
    }
}

/// The outcome of a request in `status`, writing the result when signed; `None` while
/// it is still pending or approved.
async fn finish(
    job: &mut PreparedJob,
    status: RequestStatus,
    options: &SignOptions,
    facts: &PolicyFacts,
) -> Option<JobOutcome> {
    match status.outcome {
        Outcome::Pending | Outcome::Approved => None,
        Outcome::Denied { reason } => Some(JobOutcome::Denied { reason }),
        Outcome::Expired => Some(JobOutcome::Expired),
        Outcome::Failed => Some(JobOutcome::Failed),
        Outcome::Signed { result } => {
            let stamped = crate::timestamp::maybe_stamp(
                options.timestamp.as_ref(),
                job.job.format,
                result,
                status.timestamp,
            )
            .await;
            Some(
                match stamped.and_then(|s| write_result(job, &s, options, facts)) {
                    Ok((output, detail)) => JobOutcome::Signed { output, detail },
                    Err(e) => JobOutcome::Error {
                        kind: e.kind(),
                        message: e.to_string(),
                    },
                },
            )
        }
    }
}

/// Writes a signature where it belongs; returns the file written and a description.
fn write_result(
    job: &mut PreparedJob,
    stamped: &Stamped,
    options: &SignOptions,
    facts: &PolicyFacts,
) -> Result<(PathBuf, String)> {
    let (output, detail) = write_signature(job, stamped, options, facts)?;
    match stamped.detail.as_str() {
        "" => Ok((output, detail)),
        stamp => Ok((output, format!("{detail}, {stamp}"))),
    }
}

/// [`write_result`] without the time-stamp's description.
fn write_signature(
    job: &mut PreparedJob,
    stamped: &Stamped,
    options: &SignOptions,
    facts: &PolicyFacts,
) -> Result<(PathBuf, String)> {
    let result = stamped.result.as_slice();
    let path = &job.job.path.clone();
    match job.job.format {
        Format::Hash | Format::OpenPgp => {
            let openpgp = job.job.format == Format::OpenPgp;
            let (output, bytes, what) = match openpgp {
                true if job.rpm.is_some() => {
                    let checked = crate::openpgp::check_result(job, result, facts)?;
                    let output = options.output.clone().unwrap_or_else(|| path.clone());
                    // rpm has no place for a time-stamp token: it goes next to the package.
                    let tsr = stamped
                        .tsr
                        .as_ref()
                        .map(|t| (crate::timestamp::tsr_path(&output), t));
                    if let Some((tsr_path, token)) = &tsr {
                        write_atomic(tsr_path, token)?;
                    }
                    let written = crate::openpgp::write_rpm(job, result, facts, &output)
                        .inspect_err(|_| {
                            if let Some((tsr_path, _)) = &tsr {
                                let _ = std::fs::remove_file(tsr_path);
                            }
                        })?;
                    let token = tsr
                        .map(|(p, _)| format!(", token in {}", p.display()))
                        .unwrap_or_default();
                    return Ok((output, format!("{checked}, {written}{token}")));
                }
                true => {
                    let checked = crate::openpgp::check_result(job, result, facts)?;
                    let output = options
                        .output
                        .clone()
                        .unwrap_or_else(|| crate::openpgp::signature_path(path, options));
                    let bytes = crate::openpgp::encode(result, options.openpgp_armor);
                    (output, bytes, checked)
                }
                false => {
                    let output = options.output.clone().unwrap_or_else(|| sig_path(path));
                    let what = format!("raw signature, {} bytes", result.len());
                    (output, result.to_vec(), what)
                }
            };
            // The time-stamp first: a signature is never left without the token it came with.
            let tsr = stamped
                .tsr
                .as_ref()
                .map(|t| (crate::timestamp::tsr_path(&output), t));
            if let Some((tsr_path, token)) = &tsr {
                write_atomic(tsr_path, token)?;
            }
            if let Err(e) = write_atomic(&output, &bytes) {
                if let Some((tsr_path, _)) = &tsr {
                    let _ = std::fs::remove_file(tsr_path);
                }
                return Err(e);
            }
            let token = tsr
                .map(|(p, _)| format!(", token in {}", p.display()))
                .unwrap_or_default();
            Ok((output, format!("{what}{token}")))
        }
        Format::Authenticode => {
            let output = options.output.clone().unwrap_or_else(|| path.clone());
            let mode = if options.append {
                EmbedMode::Append
            } else {
                EmbedMode::Replace
            };
            let embed_error = |e: sigil_authenticode::AuthenticodeError| {
                ClientError::file(path, format!("cannot embed the signature: {e}"))
            };
            let placement = match (&job.file, &job.image) {
                (Some(file), _) => file
                    .embed(path, &output, result, mode)
                    .map_err(embed_error)?,
                (None, Some(image)) => {
                    image
                        .embed(path, &output, result, mode, job.staged.take())
                        .map_err(embed_error)?
                        .placement
                }
                (None, None) => {
                    return Err(ClientError::file(path, "the file was not prepared"));
                }
            };
            let placement = match placement {
                Placement::Primary => "signature embedded",
                Placement::Replaced => "previous signature replaced",
                Placement::Nested => "signature nested",
            };
            Ok((output, placement.to_owned()))
        }
        Format::Jar => {
            let output = options.output.clone().unwrap_or_else(|| path.clone());
            let prepared = job
                .jar
                .as_ref()
                .ok_or_else(|| ClientError::file(path, "the JAR was not prepared"))?;
            let kind = facts.block_kind.ok_or_else(|| {
                ClientError::file(
                    path,
                    "the policy's key algorithm has no JAR signature block type (RSA or EC needed)",
                )
            })?;
            prepared
                .write_signed(path, result, kind, &output)
                .map_err(|e| {
                    ClientError::file(path, format!("cannot write the signed JAR: {e}"))
                })?;
            Ok((
                output,
                format!(
                    "META-INF/{}.SF and .{} written",
                    prepared.signer().as_str(),
                    kind.extension()
                ),
            ))
        }
    }
}

/// `FILE.sig` next to `FILE`.
pub fn sig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Writes `data` to `path` through a temporary file renamed over it.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.sigil-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, data)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ClientError::file(path, format!("cannot write the signature: {e}"))
    })
}
