//! `sigil sign` and `sigil policies`: the Host API side of the CLI.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sigil_client::profile::ProcessSecrets;
use sigil_client::sign::{prepare_jobs, sign_jobs};
use sigil_client::timestamp::{Stamper, TIMESTAMP_ENV, TsaChoice};
use sigil_client::{
    Connection, Format, FormatChoice, Job, JobOutcome, JobResult, Profile, Progress, SignOptions,
};
use sigil_proto::{HashAlgorithm, Metadata, RequestId, RequestState};

use crate::exit;

/// `--format`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum FormatArg {
    /// PE images, MSI packages, cabinets, catalogs and PowerShell scripts (by content;
    /// scripts by .ps1/.psm1/.psd1 and text) → authenticode, .jar/.war/.ear/.aar → jar,
    /// anything else → hash.
    Auto,
    /// Raw signature over the file's hash, written to FILE.sig.
    Hash,
    /// Authenticode signature embedded into the file (PE, MSI, CAB, catalog, PowerShell
    /// script: detected by content).
    Authenticode,
    /// JAR signature (META-INF/*.SF and block) written into the archive.
    Jar,
    /// OpenPGP detached signature, written to FILE.asc (armored; --openpgp-binary: FILE.sig).
    Openpgp,
}

/// The one conversion of `--format` (with its help texts) to the client's choice.
impl From<FormatArg> for FormatChoice {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Auto => FormatChoice::Auto,
            FormatArg::Hash => FormatChoice::Fixed(Format::Hash),
            FormatArg::Authenticode => FormatChoice::Fixed(Format::Authenticode),
            FormatArg::Jar => FormatChoice::Fixed(Format::Jar),
            FormatArg::Openpgp => FormatChoice::Fixed(Format::OpenPgp),
        }
    }
}

/// `sigil sign` options.
#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// Client profile (TOML) with the Host API address, CA, client certificate and identities.
    #[arg(long, short = 'p', env = "SIGIL_PROFILE")]
    profile: PathBuf,
    /// Issuance policy alias.
    #[arg(long)]
    policy: String,
    /// Signature format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    format: FormatArg,
    /// Hash algorithm.
    #[arg(long, value_enum, default_value_t = HashAlgorithm::Sha256)]
    hash: HashAlgorithm,
    /// How long to wait for approvals: e.g. 90s, 30m, 2h (0: do not wait).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    wait: Duration,
    /// Resume waiting for an existing request (one file).
    #[arg(long)]
    request_id: Option<String>,
    /// Print one JSON object per file instead of text.
    #[arg(long)]
    json: bool,
    /// Authenticode: keep the existing signature and nest the new one.
    #[arg(long)]
    append: bool,
    /// Write the result here instead of in place / FILE.sig (one file only).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Build URL recorded with the request.
    #[arg(long, env = "BUILD_URL")]
    build_url: Option<String>,
    /// Source commit recorded with the request.
    #[arg(long)]
    commit: Option<String>,
    /// Description shown to approvers.
    #[arg(long)]
    description: Option<String>,
    /// JAR signer name: base name of META-INF/NAME.SF and its block (1-8 of A-Z 0-9 _ -;
    /// default derived from the policy alias).
    #[arg(long)]
    signer_name: Option<String>,
    /// Authenticode program name.
    #[arg(long)]
    program_name: Option<String>,
    /// Authenticode program URL.
    #[arg(long)]
    program_url: Option<String>,
    /// OpenPGP: write a binary FILE.sig instead of the ASCII-armored FILE.asc.
    #[arg(long)]
    openpgp_binary: bool,
    /// Time-stamp every signature (RFC 3161) before writing it: with no URL (or a value that
    /// is not an http(s) URL, which is then taken as a file) the server's own TSA, else the
    /// TSA at URL. Hash format: the token is written as FILE.tsr beside FILE.sig. Default:
    /// SIGIL_TIMESTAMP (`server` or a URL).
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    timestamp: Option<String>,
    /// Do not time-stamp, whatever SIGIL_TIMESTAMP says (a policy that requires time-stamps
    /// is still stamped by the server).
    #[arg(long, conflicts_with = "timestamp")]
    no_timestamp: bool,
    /// Several files: where to write the release manifest (default
    /// sigil-release-<release id>.json next to the first file).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Files or glob patterns (quote globs to let sigil expand them). Several files form
    /// one release: one approval for all of them. (Not `required` for clap: a file right
    /// after `--timestamp` is parsed as its value and moved back here, then checked.)
    files: Vec<String>,
}

/// Parses `90s`, `30m`, `2h`, `1d` or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m or 2h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Expands the arguments: an existing path is taken as is, anything else as a glob that must
/// match at least one file.
pub(crate) fn expand_files(args: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if path.exists() {
            files.push(path.to_path_buf());
            continue;
        }
        let matches =
            glob::glob(arg).map_err(|e| exit::usage(format!("bad pattern {arg:?}: {e}")))?;
        let before = files.len();
        for entry in matches {
            let entry = entry.map_err(|e| exit::usage(format!("{arg}: {e}")))?;
            if entry.is_file() {
                files.push(entry);
            }
        }
        if files.len() == before {
            return Err(exit::usage(format!(
                "{arg}: no such file, and no file matches it"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    Ok(files)
}

/// The exit code of one file's outcome.
pub(crate) fn outcome_code(outcome: &JobOutcome) -> u8 {
    match outcome {
        JobOutcome::Signed { .. } => exit::OK,
        JobOutcome::Denied { .. } => exit::DENIED,
        JobOutcome::Expired => exit::EXPIRED,
        JobOutcome::TimedOut { .. } => exit::TIMED_OUT,
        JobOutcome::Failed => exit::SERVER_FAILED,
        JobOutcome::Refused { code, .. } => match code {
            sigil_proto::ErrorCode::Internal | sigil_proto::ErrorCode::SigningFailed => {
                exit::SERVER_FAILED
            }
            _ => exit::REFUSED,
        },
        JobOutcome::Error { kind, .. } => exit::of_kind(*kind),
    }
}

/// Progress on a terminal (a bar) or as log lines.
struct Report {
    bar: Option<ProgressBar>,
    json: bool,
}

impl Report {
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Progress for Report {
    fn uploading(&self, count: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(count as u64);
            bar.set_message("uploading");
        } else if !self.json && count > 1 {
            eprintln!("uploading {count} request(s)");
        }
    }

    fn uploaded(&self, path: &Path, id: &RequestId, state: RequestState) {
        // Also with --json: stdout carries the objects, stderr tells a CI log what waits.
        if self.bar.is_none() && state == RequestState::Pending {
            eprintln!("{}: request {id} is waiting for approval", path.display());
        }
    }

    fn waiting(&self, pending: usize, delay: Duration) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{pending} waiting for approval")),
            // A zero delay: the server holds the retrieve until a decision (long polling).
            None if delay.is_zero() => eprintln!("{pending} request(s) waiting for approval"),
            None => eprintln!(
                "{pending} request(s) waiting for approval; next check in {} s",
                delay.as_secs()
            ),
        }
    }

    fn finished(&self, result: &JobResult) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if !self.json {
            self.line(describe(result));
        }
    }
}

fn describe(result: &JobResult) -> String {
    let path = result.path.display();
    let id = result
        .request_id
        .as_ref()
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default();
    match &result.outcome {
        JobOutcome::Signed { output, detail } => {
            format!("signed {path}{id}: {detail} → {}", output.display())
        }
        JobOutcome::Denied { reason } => format!(
            "DENIED {path}{id}: {}",
            reason.as_deref().unwrap_or("no reason given")
        ),
        JobOutcome::Expired => format!("EXPIRED {path}{id}: not approved in time; sign again"),
        JobOutcome::Failed => {
            format!("FAILED {path}{id}: the server could not sign; see the server log")
        }
        JobOutcome::TimedOut { state } => format!(
            "TIMED OUT {path}{id}: still {state} — resume with --request-id{}",
            result
                .request_id
                .as_ref()
                .map(|i| format!(" {i}"))
                .unwrap_or_default()
        ),
        JobOutcome::Refused { code, message } => format!("REFUSED {path}{id}: {code}: {message}"),
        JobOutcome::Error { message, .. } => {
            // A file error names the file already.
            let message = message
                .strip_prefix(&format!("{path}: "))
                .unwrap_or(message);
            format!("ERROR {path}: {message}")
        }
    }
}

fn to_json(result: &JobResult) -> serde_json::Value {
    let mut v = serde_json::json!({
        "file": result.path.display().to_string(),
        "format": result.format.as_str(),
        "request_id": result.request_id.as_ref().map(|i| i.as_str().to_owned()),
        "outcome": result.outcome.name(),
        "exit_code": outcome_code(&result.outcome),
    });
    let extra = match &result.outcome {
        JobOutcome::Signed { output, detail } => {
            serde_json::json!({"output": output.display().to_string(), "detail": detail})
        }
        JobOutcome::Denied { reason } => serde_json::json!({ "reason": reason }),
        JobOutcome::TimedOut { state } => serde_json::json!({ "state": state.as_str() }),
        JobOutcome::Refused { code, message } => {
            serde_json::json!({"code": code.to_string(), "message": message})
        }
        JobOutcome::Error { message, .. } => serde_json::json!({ "message": message }),
        JobOutcome::Expired | JobOutcome::Failed => serde_json::json!({}),
    };
    if let (Some(map), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            map.insert(k.clone(), x.clone());
        }
    }
    v
}

pub(crate) async fn sign(args: SignArgs) -> Result<u8> {
    let env = std::env::var(TIMESTAMP_ENV).ok();
    let (tsa, file_args) = TsaChoice::from_args(
        args.timestamp.as_deref(),
        args.no_timestamp,
        env.as_deref(),
        &args.files,
    )?;
    if file_args.is_empty() {
        return Err(exit::usage("give the files to sign"));
    }
    let files = expand_files(&file_args)?;
    if args.output.is_some() && files.len() != 1 {
        return Err(exit::usage("--output works with exactly one file"));
    }
    if args.request_id.is_some() && files.len() != 1 {
        return Err(exit::usage(
            "--request-id resumes one request: give exactly one file",
        ));
    }
    let request_id = match &args.request_id {
        Some(id) => Some(
            RequestId::new(id.clone())
                .map_err(|e| exit::usage(format!("--request-id {id:?}: {e}")))?,
        ),
        None => None,
    };
    let choice = FormatChoice::from(args.format);
    let mut options = SignOptions::new(args.policy.clone());
    options.hash = args.hash;
    options.wait = args.wait;
    options.append = args.append;
    options.output = args.output.clone();
    options.request_id = request_id;
    options.metadata = Metadata {
        build_url: args.build_url.clone(),
        commit: args.commit.clone(),
        description: args.description.clone(),
        ..Metadata::default()
    };
    options.program_name = args.program_name.clone();
    options.signer_name = args.signer_name.clone();
    options.program_url = args.program_url.clone();
    options.openpgp_armor = !args.openpgp_binary;

    // Several files form one release (a single file stays a plain request).
    let as_release = files.len() > 1 && args.request_id.is_none();
    if args.manifest.is_some() && !as_release {
        return Err(exit::usage(
            "--manifest is for a release: give several files",
        ));
    }
    let profile = Profile::load(&args.profile)?;
    if let Some(tsa) = &tsa {
        options.timestamp = Some(Stamper::new(tsa, &profile, options.hash)?);
    }
    // On a terminal, also for one file: a large file takes a while to digest, and an approval
    // may take minutes; the spinner and the elapsed time show that it is working.
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(files.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let report = Report {
        bar,
        json: args.json,
    };

    if let Some(bar) = &report.bar {
        bar.set_message("digesting");
    }
    let mut results = Vec::new();
    let mut jobs = Vec::with_capacity(files.len());
    for file in &files {
        match Job::plan(file, choice) {
            Ok(job) => jobs.push(job),
            Err(e) => results.push(JobResult {
                path: file.clone(),
                format: Format::Hash,
                request_id: None,
                outcome: JobOutcome::Error {
                    kind: e.kind(),
                    message: e.to_string(),
                },
            }),
        }
    }

    if as_release {
        // Nothing is submitted unless the whole release can be.
        if !results.is_empty() {
            return refuse_release(&results, &report);
        }
        sigil_client::release::check_release(&jobs).map_err(|e| exit::usage(e.to_string()))?;
    }
    // Each file that cannot be signed is reported as it is found, like the ones the server
    // refuses (with --json: in the objects at the end).
    for r in &results {
        report.finished(r);
    }

    // Read the files (digests, and PE copies next to the outputs) on a blocking thread
    // while the connection is set up: PKCS#12 decryption, TLS and the login cost about as
    // much as hashing a few hundred MB, so overlapping them hides one behind the other.
    let any_job = !jobs.is_empty();
    let prepare = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || prepare_jobs(jobs, &options))
    };
    let connect = async {
        if !any_job {
            return anyhow::Ok(None);
        }
        // Survives a node's death behind a load balancer: connects again and resumes the
        // uploads (idempotency keys) and the waiting (request ids).
        let (conn, remaining) =
            Connection::connect_resuming(&profile, std::sync::Arc::new(ProcessSecrets)).await?;
        Ok(Some((conn, remaining)))
    };
    let (prepared, connected) = tokio::join!(prepare, connect);
    let (prepared, failed) = prepared
        .map_err(|e| exit::fail(exit::OTHER, format!("digesting the files failed: {e}")))?;
    tracing::debug!(files = prepared.len(), "files digested");
    if as_release && !failed.is_empty() {
        return refuse_release(&failed, &report);
    }
    for r in &failed {
        report.finished(r);
    }
    results.extend(failed);
    let mut release_run = None;

    // A connection error matters only when there is something to sign.
    if !prepared.is_empty()
        && let Some((mut conn, remaining)) = connected?
    {
        if remaining > 0 {
            return Err(exit::fail(
                exit::REFUSED,
                format!(
                    "the login needs {remaining} more identity(ies) holding the role: add \
                     them as [[identity]] to {}",
                    args.profile.display()
                ),
            ));
        }
        if as_release {
            let run = crate::release::sign(
                &mut conn,
                prepared,
                &options,
                args.manifest.as_deref(),
                &report,
            )
            .await?;
            results.extend(run.results.iter().cloned());
            release_run = Some(run);
        } else {
            results.extend(sign_jobs(&mut conn, prepared, &options, &report).await?);
        }
    }
    if let Some(bar) = &report.bar {
        bar.finish_and_clear();
    }
    // Keep the order of the command line.
    results.sort_by_key(|r| {
        files
            .iter()
            .position(|f| *f == r.path)
            .unwrap_or(usize::MAX)
    });
    let code = results
        .iter()
        .map(|r| outcome_code(&r.outcome))
        .max()
        .unwrap_or(exit::OK);
    if args.json {
        for r in &results {
            out!(
                "{}",
                crate::release::file_json(to_json(r), release_run.as_ref())
            );
        }
        if let Some(last) = release_run
            .as_ref()
            .and_then(|run| crate::release::final_json(run, &results, code))
        {
            out!("{last}");
        }
    }
    if !args.json && results.len() > 1 {
        let signed = results
            .iter()
            .filter(|r| matches!(r.outcome, JobOutcome::Signed { .. }))
            .count();
        eprintln!("{signed} of {} file(s) signed", results.len());
    }
    Ok(code)
}

/// A release with a file that cannot be signed is not submitted at all: reports the files
/// and exits with their code.
fn refuse_release(failed: &[JobResult], report: &Report) -> Result<u8> {
    for r in failed {
        report.finished(r);
        if report.json {
            out!("{}", to_json(r));
        }
    }
    let code = failed
        .iter()
        .map(|r| outcome_code(&r.outcome))
        .max()
        .unwrap_or(exit::OTHER);
    Err(exit::fail(
        code,
        format!(
            "{} of the files cannot be signed: nothing was submitted (the files of a release \
             are submitted together); fix them or leave them out",
            failed.len()
        ),
    ))
}

/// `sigil policies`.
#[derive(Args, Debug)]
pub(crate) struct PoliciesArgs {
    /// Client profile (TOML).
    #[arg(long, short = 'p', env = "SIGIL_PROFILE")]
    profile: PathBuf,
    #[command(subcommand)]
    action: Option<PoliciesAction>,
}

#[derive(clap::Subcommand, Debug)]
enum PoliciesAction {
    /// Show one policy; --chain-out writes its certificate chain (PEM, signer first),
    /// --openpgp-key-out its OpenPGP public key (armored, self-signed by the server; needs
    /// the signing:openpgp-key permission).
    Show {
        alias: String,
        #[arg(long)]
        chain_out: Option<PathBuf>,
        #[arg(long)]
        openpgp_key_out: Option<PathBuf>,
    },
}

pub(crate) async fn policies(args: PoliciesArgs) -> Result<u8> {
    let profile = Profile::load(&args.profile)?;
    let mut conn = Connection::connect(&profile, &ProcessSecrets).await?;
    conn.login_profile(&profile, &ProcessSecrets).await?;
    match args.action {
        None => {
            for alias in conn.list_policies().await? {
                out!("{alias}");
            }
        }
        Some(PoliciesAction::Show {
            alias,
            chain_out,
            openpgp_key_out,
        }) => {
            let info = conn.get_policy(&alias).await?;
            let chain = sigil_pki::pem::parse_der_chain(&info.certificate_chain)
                .context("the server's certificate chain is not DER certificates")?;
            out!("policy:             {}", info.policy);
            out!("key algorithm:      {}", info.key_algorithm);
            out!(
                "hashes:             {}",
                info.allowed_hashes
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out!(
                "formats:            {}",
                info.allowed_formats
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out!("approvals required: {}", info.approvals_required);
            out!(
                "timestamp required: {}",
                if info.timestamp_required {
                    "yes (added by the server)"
                } else {
                    "no"
                }
            );
            if let Some(fingerprint) = &info.openpgp_fingerprint {
                out!("openpgp key:        {}", hex::encode_upper(fingerprint));
            }
            out!("certificates:       {}", chain.len());
            if let Some(out) = chain_out {
                let pem = sigil_pki::pem::encode_chain(&chain)?;
                std::fs::write(&out, pem)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                out!("chain written to {}", out.display());
            }
            if let Some(out) = openpgp_key_out {
                let key = conn.get_openpgp_key(&alias).await?;
                let armored = sigil_openpgp::armor(sigil_openpgp::ArmorKind::PublicKey, &key.key);
                std::fs::write(&out, armored)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                out!(
                    "OpenPGP key {} written to {}",
                    hex::encode_upper(&key.fingerprint),
                    out.display()
                );
            }
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").is_err());
    }
}
