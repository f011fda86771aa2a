//! `sigil bench`: a load generator for the Host API, like `redis-benchmark`.
//!
//! It opens N mutual-TLS connections with a client profile (`sigil_client`), logs each in
//! once, and sends batches of K pipelined hash-signing requests on each for the given
//! duration: `RAUO` upload; a policy with 0 approvals answers `SIGNED` with the signature at
//! once, otherwise the request is fetched with `RAGO` in the next batch until it is final. A
//! request counts as done when its signature arrives; its latency runs from writing its batch
//! to reading the batch that brought the signature. It reports requests/s, latency
//! percentiles, errors by code and, with `--server-pid`, the CPU time the server process used
//! during the run (from /proc), and always its own CPU time per request, so that a reader
//! sees what the load generator took from the cores the server shares with it.
//!
//! The generator is kept light so that it measures the server: one task per connection (not
//! per request), each request built once and moved into the pipeline (no copy), digests of a
//! fixed-size seed (no string formatting per request).
//!
//! With `--idle-connections N` it measures instead what N idle connections cost the server
//! (see [`idle`]).

mod idle;
mod signature;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use sigil_client::profile::ProcessSecrets;
use sigil_client::{Connection, Profile};
use sigil_proto::{Metadata, Outcome, Request, Response, Upload};

/// Clock ticks per second of /proc/PID/stat times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// `sigil bench` options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct BenchArgs {
    /// Client profile (TOML): Host API address, CA, client PKCS#12 and the identity to log in.
    #[arg(long)]
    pub profile: PathBuf,
    /// Issuance policy to sign with; it must allow the hash format and need 0 approvals for
    /// a pure throughput figure.
    #[arg(long, required_unless_present = "idle_connections")]
    pub policy: Option<String>,
    /// Instead of signing: open this many mutual-TLS connections, keep them idle for
    /// `--duration`, and report the server's memory per connection (with `--server-pid`).
    #[arg(long, conflicts_with = "policy")]
    pub idle_connections: Option<usize>,
    /// Identity of the profile to log in (default: the profile's first identity).
    #[arg(long)]
    pub identity: Option<String>,
    /// Number of mutual-TLS connections, each logged in once.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// How long to send requests (or hold idle connections), e.g. `10s`, `500ms`, `2m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Requests pipelined in each batch on each connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Hash algorithm of the digests sent (`sha256`, `sha384`, `sha512`).
    #[arg(long, default_value = "sha256")]
    pub hash: String,
    /// Process id of the server, when it runs on this machine: report its CPU time.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Latency percentiles of the signed requests, in microseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest request.
    pub max_us: u64,
}

/// CPU time the server process used during the measured interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ServerCpu {
    /// The process id read.
    pub pid: u32,
    /// User plus system CPU seconds.
    pub cpu_secs: f64,
    /// CPU seconds per wall-clock second (cores kept busy).
    pub cores_busy: f64,
    /// CPU microseconds per signed request.
    pub cpu_us_per_request: f64,
    /// A signature and its check timed in this process after the run (software key of the
    /// policy's algorithm), when the algorithm is known.
    pub signature: Option<signature::SignatureCost>,
    /// `cpu_us_per_request` less the signature and its check: what the request around the
    /// signature costs the server.
    pub cpu_us_per_request_without_signature: Option<f64>,
}

/// CPU time this load generator used during the measured interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ClientCpu {
    /// User plus system CPU seconds of this process.
    pub cpu_secs: f64,
    /// CPU microseconds per signed request.
    pub cpu_us_per_request: f64,
}

/// The result of one `sigil bench` run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct BenchReport {
    /// Policy signed with.
    pub policy: String,
    /// Key algorithm of the policy, as the server reports it (`RAGA`), when it answered.
    pub key_algorithm: Option<String>,
    /// Hash algorithm of the digests.
    pub hash: String,
    /// Connections used.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Measured wall-clock seconds, from the first upload to the last answer.
    pub elapsed_secs: f64,
    /// Requests that came back signed.
    pub signed: u64,
    /// Signed requests per second.
    pub requests_per_sec: f64,
    /// Latency of the signed requests.
    pub latency: Latency,
    /// Requests that failed (error answer, or a final state other than signed).
    pub errors: u64,
    /// Failures counted by error code or final state.
    pub errors_by_code: BTreeMap<String, u64>,
    /// The first failure message seen, to tell what went wrong.
    pub first_error: Option<String>,
    /// Server CPU time, with `--server-pid`.
    pub server_cpu: Option<ServerCpu>,
    /// This load generator's own CPU time.
    pub client_cpu: ClientCpu,
}

impl BenchReport {
    /// The report as aligned text or as JSON.
    pub(crate) fn render(&self, json: bool) -> Result<String> {
        if json {
            return Ok(serde_json::to_string_pretty(self)? + "\n");
        }
        let mut out = String::new();
        let key = self.key_algorithm.as_deref().unwrap_or("unknown key");
        writeln!(out, "policy        {} ({key}, {})", self.policy, self.hash)?;
        writeln!(
            out,
            "load          {} connections x {} in flight, {:.2} s",
            self.connections, self.pipeline, self.elapsed_secs
        )?;
        writeln!(
            out,
            "throughput    {:.0} requests/s ({} signed)",
            self.requests_per_sec, self.signed
        )?;
        let l = &self.latency;
        writeln!(
            out,
            "latency       p50 {}  p90 {}  p99 {}  max {}",
            fmt_us(l.p50_us),
            fmt_us(l.p90_us),
            fmt_us(l.p99_us),
            fmt_us(l.max_us)
        )?;
        write!(out, "errors        {}", self.errors)?;
        if !self.errors_by_code.is_empty() {
            let codes: Vec<String> = self
                .errors_by_code
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            write!(out, " ({})", codes.join(", "))?;
        }
        writeln!(out)?;
        if let Some(first) = &self.first_error {
            writeln!(out, "first error   {first}")?;
        }
        writeln!(
            out,
            "bench cpu     {:.2} s (this process): {:.0} us/request",
            self.client_cpu.cpu_secs, self.client_cpu.cpu_us_per_request
        )?;
        if let Some(cpu) = &self.server_cpu {
            writeln!(
                out,
                "server cpu    {:.2} s (pid {}): {:.2} cores busy, {:.0} us/request",
                cpu.cpu_secs, cpu.pid, cpu.cores_busy, cpu.cpu_us_per_request
            )?;
            if let (Some(sig), Some(rest)) =
                (&cpu.signature, cpu.cpu_us_per_request_without_signature)
            {
                writeln!(
                    out,
                    "without sig   {rest:.0} us/request (signature + check in-process: {:.1} us, {} timed)",
                    sig.cpu_us_per_signature, sig.signatures
                )?;
            }
        }
        Ok(out)
    }
}

fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

/// Runs the benchmark and prints the report (text or `--json`) on stdout.
pub(crate) async fn execute(args: &BenchArgs) -> Result<()> {
    if let Some(count) = args.idle_connections {
        let profile = load_profile(&args.profile, args.identity.as_deref())?;
        let report = idle::run(&profile, count, args.duration, args.server_pid).await?;
        print!("{}", report.render(args.json)?);
        if report.alive_after_hold < report.connections {
            bail!(
                "{} of {} connections were closed during the hold",
                report.connections - report.alive_after_hold,
                report.connections
            );
        }
        return Ok(());
    }
    let report = run(args).await?;
    print!("{}", report.render(args.json)?);
    Ok(())
}

/// Runs the benchmark described by `args` and returns its report.
pub(crate) async fn run(args: &BenchArgs) -> Result<BenchReport> {
    if args.connections == 0 || args.pipeline == 0 {
        bail!("--connections and --pipeline must be at least 1");
    }
    if args.duration.is_zero() {
        bail!("--duration must be longer than 0 s");
    }
    let policy = args
        .policy
        .clone()
        .ok_or_else(|| anyhow!("--policy is required: the issuance policy to sign with"))?;
    let key_hash: sigil_keys::HashAlgorithm = args.hash.parse().map_err(|_| {
        anyhow!(
            "unknown --hash {:?}: use sha256, sha384 or sha512",
            args.hash
        )
    })?;
    let profile = load_profile(&args.profile, args.identity.as_deref())?;

    // Connect and log in everything first, so handshakes and password checks stay out of
    // the measured interval.
    let mut connections = Vec::with_capacity(args.connections);
    for n in 0..args.connections {
        let connection = open(&profile)
            .await
            .with_context(|| format!("connection {n} (profile {})", args.profile.display()))?;
        connections.push(connection);
    }
    let key_algorithm = match connections.first_mut() {
        Some(connection) => Some(policy_key_algorithm(connection, &policy).await?),
        None => None,
    };

    let cpu_before = match args.server_pid {
        Some(pid) => Some(read_cpu_ticks(pid)?),
        None => None,
    };
    let own_cpu_before = read_cpu_ticks_at("/proc/self/stat")?;
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::with_capacity(connections.len());
    for (n, connection) in connections.into_iter().enumerate() {
        let job = Job {
            connection: n,
            policy: policy.clone(),
            hash: key_hash,
            pipeline: args.pipeline,
            deadline,
        };
        tasks.push(tokio::spawn(drive(connection, job)));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let part = task
            .await
            .context("a benchmark connection task panicked")??;
        tally.merge(part);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let own_cpu_secs =
        (read_cpu_ticks_at("/proc/self/stat")?.saturating_sub(own_cpu_before)) as f64 / USER_HZ;
    let per_request = |cpu_secs: f64| {
        if tally.latencies.is_empty() {
            0.0
        } else {
            cpu_secs * 1e6 / tally.latencies.len() as f64
        }
    };
    let client_cpu = ClientCpu {
        cpu_secs: own_cpu_secs,
        cpu_us_per_request: per_request(own_cpu_secs),
    };
    let server_cpu = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => {
            let cpu_secs = (read_cpu_ticks(pid)?.saturating_sub(before)) as f64 / USER_HZ;
            let cpu_us_per_request = per_request(cpu_secs);
            // After the run, so that it does not take CPU from the server while it is measured.
            let signature = match &key_algorithm {
                Some(algorithm) => Some(signature::measure(algorithm, key_hash).await?),
                None => None,
            };
            Some(ServerCpu {
                pid,
                cpu_secs,
                cores_busy: cpu_secs / elapsed,
                cpu_us_per_request,
                cpu_us_per_request_without_signature: signature
                    .as_ref()
                    .map(|s| cpu_us_per_request - s.cpu_us_per_signature),
                signature,
            })
        }
        _ => None,
    };
    tally.latencies.sort_unstable();
    let signed = tally.latencies.len() as u64;
    Ok(BenchReport {
        policy,
        key_algorithm,
        hash: key_hash.as_str().to_owned(),
        connections: args.connections,
        pipeline: args.pipeline,
        elapsed_secs: elapsed,
        signed,
        requests_per_sec: signed as f64 / elapsed,
        latency: Latency {
            p50_us: percentile(&tally.latencies, 50.0),
            p90_us: percentile(&tally.latencies, 90.0),
            p99_us: percentile(&tally.latencies, 99.0),
            max_us: tally.latencies.last().copied().unwrap_or(0),
        },
        errors: tally.errors_by_code.values().sum(),
        errors_by_code: tally.errors_by_code,
        first_error: tally.first_error,
        server_cpu,
        client_cpu,
    })
}

/// Nearest-rank percentile of sorted values (0 when empty).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied().unwrap_or(0)
}

/// Parses `10s`, `500ms`, `2m`, `1h` or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 10s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?}: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?} is not a duration: {e}"))
}

/// Reads utime + stime (clock ticks) of a process from /proc/PID/stat.
fn read_cpu_ticks(pid: u32) -> Result<u64> {
    read_cpu_ticks_at(&format!("/proc/{pid}/stat"))
        .with_context(|| format!("is the server running on this machine with pid {pid}?"))
}

/// Reads utime + stime (clock ticks) from a /proc `stat` file (a process's or a thread's).
fn read_cpu_ticks_at(path: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("{path} has an unexpected format"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("{path} has an unexpected format"))
    };
    Ok(field(11)? + field(12)?)
}

/// What one connection does.
struct Job {
    connection: usize,
    policy: String,
    hash: sigil_keys::HashAlgorithm,
    pipeline: usize,
    deadline: Instant,
}

/// Results of one or all connections.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    errors_by_code: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, code: String, message: String) {
        *self.errors_by_code.entry(code).or_insert(0) += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (code, n) in other.errors_by_code {
            *self.errors_by_code.entry(code).or_insert(0) += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Loads the profile, keeping only `identity` when one is named.
fn load_profile(path: &Path, identity: Option<&str>) -> Result<Profile> {
    let mut profile = Profile::load(path)?;
    if let Some(name) = identity {
        profile.identities.retain(|i| i.name == name);
        if profile.identities.is_empty() {
            bail!("identity {name:?} is not in the profile {}", path.display());
        }
    }
    Ok(profile)
}

/// Connects with the profile's client certificate and logs its identities in.
async fn open(profile: &Profile) -> Result<Connection> {
    let mut connection = Connection::connect(profile, &ProcessSecrets).await?;
    let remaining = connection.login_profile(profile, &ProcessSecrets).await?;
    if remaining > 0 {
        bail!(
            "the profile's identities need {remaining} more login(s) before they may sign: \
             benchmark with an identity whose role needs one login"
        );
    }
    Ok(connection)
}

/// The policy's key algorithm, as the server reports it (`RAGA`).
async fn policy_key_algorithm(connection: &mut Connection, policy: &str) -> Result<String> {
    let info = connection
        .get_policy(policy)
        .await
        .with_context(|| format!("policy {policy}"))?;
    if info.approvals_required > 0 {
        eprintln!(
            "warning: policy {policy} needs {} approval(s): its requests stay pending and \
             count as errors; benchmark a policy with 0 approvals",
            info.approvals_required
        );
    }
    Ok(info.key_algorithm.to_string())
}

/// Sends batches of `job.pipeline` pipelined requests until the deadline. A request's
/// latency runs from the write of its upload batch to the read of the batch that brought
/// its signature (with `--pipeline 1`, exactly one request's round trip).
async fn drive(mut connection: Connection, job: Job) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut counter: u64 = 0;
    // The batch: each request and when its upload was sent. Retrieves of requests answered
    // APPROVED (signing under way) are carried into the next batch with their upload's time.
    let mut requests: Vec<Request> = Vec::with_capacity(job.pipeline);
    let mut started: Vec<Instant> = Vec::with_capacity(job.pipeline);
    let mut carried: Vec<(Instant, Request)> = Vec::new();
    loop {
        let now = Instant::now();
        for (at, request) in carried.drain(..) {
            started.push(at);
            requests.push(request);
        }
        while now < job.deadline && requests.len() < job.pipeline {
            counter += 1;
            // A distinct digest per request, as real builds send.
            let mut seed = [0u8; 16];
            seed[..8].copy_from_slice(&(job.connection as u64).to_le_bytes());
            seed[8..].copy_from_slice(&counter.to_le_bytes());
            started.push(now);
            requests.push(Request::UploadHash(Upload {
                policy: job.policy.clone(),
                hash: job.hash,
                digest: job.hash.digest(&seed),
                metadata: Metadata::default(),
            }));
        }
        if requests.is_empty() {
            return Ok(tally);
        }
        let answers = connection.pipeline(&requests).await?;
        requests.clear();
        let done = Instant::now();
        for (at, answer) in started.drain(..).zip(answers) {
            if let Some(retrieve) = book(at, done, answer, &mut tally) {
                carried.push((at, retrieve));
            }
        }
    }
}

/// Books one answer; returns the retrieve to send when the request is not final yet.
fn book(started: Instant, done: Instant, answer: Response, tally: &mut Tally) -> Option<Request> {
    let status = match answer {
        Response::UploadHash(status) | Response::RetrieveHash(status) => status,
        Response::Failure(f) => {
            tally.error(f.code.to_string(), format!("{}: {}", f.code, f.message));
            return None;
        }
        other => {
            tally.error(
                "UNEXPECTED".into(),
                format!("unexpected answer to a hash upload: {other:?}"),
            );
            return None;
        }
    };
    match status.outcome {
        Outcome::Signed { result } if !result.is_empty() => {
            let micros = done.saturating_duration_since(started).as_micros();
            tally
                .latencies
                .push(u64::try_from(micros).unwrap_or(u64::MAX));
            None
        }
        Outcome::Approved => Some(Request::RetrieveHash { id: status.id }),
        outcome => {
            let state = outcome.state().as_str().to_owned();
            let message = match outcome {
                Outcome::Pending => format!(
                    "request {} is PENDING: the policy needs approvals; benchmark a policy \
                     with 0 approvals",
                    status.id
                ),
                Outcome::Signed { .. } => {
                    format!("request {} is SIGNED without a signature", status.id)
                }
                _ => format!("request {} ended {state}", status.id),
            };
            tally.error(state, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 90.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    /// A quickstart deployment served in this process, and a Jenkins profile pointing at it.
    async fn quickstart_server() -> (tempfile::TempDir, sigil_server::RunningServer, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let mut options = sigil_server::InitOptions::new(dir.path().join("data"));
        options.host_api = "127.0.0.1:0".parse().unwrap();
        options.https = "127.0.0.1:0".parse().unwrap();
        options.password_params = sigil_domain::PasswordParams::INSECURE_FOR_TESTS;
        let demo = sigil_server::quickstart::provision_with(&options)
            .await
            .unwrap();
        let mut config = sigil_server::ServerConfig::load(&demo.config_file).unwrap();
        config.password_params = sigil_domain::PasswordParams::INSECURE_FOR_TESTS;
        let server = sigil_server::start(config).await.unwrap();
        // The profile names port 0 (what init wrote): point it at the bound listener.
        let mut profile: toml::Table =
            toml::from_str(&std::fs::read_to_string(&demo.jenkins_profile).unwrap()).unwrap();
        profile.insert(
            "host_api".into(),
            toml::Value::String(server.host_api_addr().to_string()),
        );
        let profile_path = demo.jenkins_profile.with_file_name("bench.toml");
        std::fs::write(&profile_path, toml::to_string(&profile).unwrap()).unwrap();
        (dir, server, profile_path)
    }

    /// `sigil bench` for one second against the real server (quickstart deployment, mutual
    /// TLS, SQLite): every request signed, a plausible report. Never a timing assertion.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_second_against_the_real_server() {
        let (_dir, server, profile_path) = quickstart_server().await;

        let args = BenchArgs {
            profile: profile_path,
            policy: Some("release".into()),
            idle_connections: None,
            identity: None,
            connections: 2,
            duration: Duration::from_secs(1),
            pipeline: 4,
            hash: "sha256".into(),
            // The server runs in this process.
            server_pid: Some(std::process::id()),
            json: false,
        };
        let report = run(&args).await.unwrap();
        server.shutdown().await;

        assert_eq!(report.errors, 0, "{:?}", report.first_error);
        assert!(report.signed > 0);
        assert!(report.key_algorithm.is_some());
        assert!(report.elapsed_secs >= 1.0);
        let expected_rate = report.signed as f64 / report.elapsed_secs;
        assert!((report.requests_per_sec - expected_rate).abs() < 1e-6);
        let l = &report.latency;
        assert!(0 < l.p50_us && l.p50_us <= l.p90_us && l.p90_us <= l.p99_us);
        assert!(l.p99_us <= l.max_us);
        assert!(l.max_us as f64 <= report.elapsed_secs * 1e6);
        let cpu = report.server_cpu.as_ref().unwrap();
        assert!(cpu.cpu_secs > 0.0);
        let signature = cpu.signature.as_ref().unwrap();
        assert!(signature.signatures > 0);
        assert_eq!(
            cpu.cpu_us_per_request_without_signature,
            Some(cpu.cpu_us_per_request - signature.cpu_us_per_signature)
        );

        let text = report.render(false).unwrap();
        assert!(text.contains("requests/s"), "{text}");
        assert!(text.contains("without sig"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.render(true).unwrap()).unwrap();
        assert_eq!(json["signed"], report.signed);
        assert_eq!(json["errors"], 0);
    }

    /// `--idle-connections` against the real server: every connection served, still alive
    /// after the hold, the server's memory read. Never a memory or timing assertion.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_against_the_real_server() {
        let (_dir, server, profile_path) = quickstart_server().await;
        let profile = Profile::load(&profile_path).unwrap();
        let report = idle::run(
            &profile,
            40,
            Duration::from_millis(300),
            Some(std::process::id()),
        )
        .await
        .unwrap();
        server.shutdown().await;

        assert_eq!(report.connections, 40);
        assert_eq!(report.alive_after_hold, 40);
        assert!(report.held_secs >= 0.3);
        let memory = report.server_memory.as_ref().unwrap();
        assert!(memory.rss_before_kib > 0 && memory.rss_idle_kib > 0);
        let text = report.render(false).unwrap();
        assert!(text.contains("40 of 40 answered ECHO"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.render(true).unwrap()).unwrap();
        assert_eq!(json["alive_after_hold"], 40);
    }
}
