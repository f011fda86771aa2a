//! `sigil bench`: a load generator for the Host API, like `redis-benchmark`.
//!
//! It opens N mutual-TLS connections with a client profile, logs each in once, and keeps K
//! hash-signing requests in flight on each (pipelining, matched by correlation id) for the
//! given duration: `RAUO` upload; a policy with 0 approvals answers `SIGNED` with the
//! signature at once, otherwise the request is fetched with `RAGO` until it is final. A request
//! counts as done when its signature arrives; its latency runs from writing the upload to
//! reading the signature. It reports requests/s, latency percentiles, errors by code and, with
//! `--server-pid`, the CPU time the server process used during the run (from /proc).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use sigil_pki::x509_cert::der::Encode;
use sigil_proto::{
    CorrelationId, Direction, FrameDecoder, Login, Metadata, Outcome, Password, Request,
    RequestStatus, Response, Upload,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};

/// How long to wait for the answers still in flight when the duration is over.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a single connection may take to connect, handshake and log in.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
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
    #[arg(long)]
    pub policy: String,
    /// Identity of the profile to log in (default: the profile's first identity).
    #[arg(long)]
    pub identity: Option<String>,
    /// Number of mutual-TLS connections, each logged in once.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// How long to send requests, e.g. `10s`, `500ms`, `2m`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Requests kept in flight on each connection.
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
        if let Some(cpu) = &self.server_cpu {
            writeln!(
                out,
                "server cpu    {:.2} s (pid {}): {:.2} cores busy, {:.0} us/request",
                cpu.cpu_secs, cpu.pid, cpu.cores_busy, cpu.cpu_us_per_request
            )?;
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
    let key_hash: sigil_keys::HashAlgorithm = args.hash.parse().map_err(|_| {
        anyhow!(
            "unknown --hash {:?}: use sha256, sha384 or sha512",
            args.hash
        )
    })?;
    let wire_hash = sigil_proto::HashAlgorithm::parse(key_hash.as_str())
        .map_err(|_| anyhow!("hash {} is not a Host API hash", key_hash.as_str()))?;
    let target = Target::load(&args.profile, args.identity.as_deref())?;

    // Connect and log in everything first, so handshakes and password hashing stay out of
    // the measured interval.
    let mut sessions = Vec::with_capacity(args.connections);
    for n in 0..args.connections {
        let session = tokio::time::timeout(CONNECT_TIMEOUT, target.open())
            .await
            .map_err(|_| anyhow!("connection {n}: no login answer within {CONNECT_TIMEOUT:?}"))?
            .with_context(|| format!("connection {n} to {}", target.address))?;
        sessions.push(session);
    }
    let key_algorithm = match sessions.first_mut() {
        Some(session) => session.policy_key_algorithm(&args.policy).await?,
        None => None,
    };

    let cpu_before = match args.server_pid {
        Some(pid) => Some(read_cpu_ticks(pid)?),
        None => None,
    };
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::with_capacity(sessions.len());
    for (n, session) in sessions.into_iter().enumerate() {
        let job = Job {
            connection: n,
            policy: args.policy.clone(),
            hash: wire_hash,
            key_hash,
            pipeline: args.pipeline,
            deadline,
        };
        tasks.push(tokio::spawn(session.drive(job)));
    }
    let mut tally = Tally::default();
    for task in tasks {
        let part = task
            .await
            .context("a benchmark connection task panicked")??;
        tally.merge(part);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => {
            let cpu_secs = (read_cpu_ticks(pid)?.saturating_sub(before)) as f64 / USER_HZ;
            Some(ServerCpu {
                pid,
                cpu_secs,
                cores_busy: cpu_secs / elapsed,
                cpu_us_per_request: if tally.latencies.is_empty() {
                    0.0
                } else {
                    cpu_secs * 1e6 / tally.latencies.len() as f64
                },
            })
        }
        _ => None,
    };
    tally.latencies.sort_unstable();
    let signed = tally.latencies.len() as u64;
    Ok(BenchReport {
        policy: args.policy.clone(),
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
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read {path}: is the server running on this machine with pid {pid}?")
    })?;
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
    hash: sigil_proto::HashAlgorithm,
    key_hash: sigil_keys::HashAlgorithm,
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

/// The client profile fields `sigil bench` needs (the profile contract in the docs; other
/// fields are ignored).
#[derive(Deserialize)]
struct ProfileFile {
    host_api: String,
    #[serde(default = "default_server_name")]
    server_name: String,
    ca_certificate: PathBuf,
    pkcs12: Option<PathBuf>,
    pkcs12_password_file: Option<PathBuf>,
    #[serde(default)]
    identity: Vec<ProfileIdentity>,
}

#[derive(Deserialize)]
struct ProfileIdentity {
    name: String,
    #[serde(default = "default_password_env")]
    password_env: String,
    password_file: Option<PathBuf>,
}

fn default_server_name() -> String {
    "localhost".into()
}

fn default_password_env() -> String {
    "SIGIL_PASSWORD".into()
}

/// Where and as whom to connect, loaded once and shared by all connections.
struct Target {
    address: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    identity: String,
    password: Password,
}

impl Target {
    fn load(profile: &Path, identity: Option<&str>) -> Result<Self> {
        let text = std::fs::read_to_string(profile)
            .with_context(|| format!("cannot read the profile {}", profile.display()))?;
        let file: ProfileFile = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid client profile", profile.display()))?;
        let base = profile.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| base.join(p);

        let chosen = match identity {
            Some(name) => file
                .identity
                .iter()
                .find(|i| i.name == name)
                .ok_or_else(|| anyhow!("identity {name:?} is not in {}", profile.display()))?,
            None => file
                .identity
                .first()
                .ok_or_else(|| anyhow!("{} names no [[identity]] to log in", profile.display()))?,
        };
        let password = match std::env::var(&chosen.password_env) {
            Ok(value) => Password::new(value),
            Err(_) => match &chosen.password_file {
                Some(path) => Password::new(read_secret(&resolve(path))?),
                None => bail!(
                    "no password for {}: set {} or add password_file to the profile",
                    chosen.name,
                    chosen.password_env
                ),
            },
        };

        let ca_path = resolve(&file.ca_certificate);
        let ca_pem = std::fs::read(&ca_path)
            .with_context(|| format!("cannot read the CA certificate {}", ca_path.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        let cas = sigil_pki::pem::parse_certificates(&ca_pem)
            .with_context(|| format!("{} holds no PEM certificate", ca_path.display()))?;
        for ca in &cas {
            roots
                .add(CertificateDer::from(ca.to_der()?))
                .with_context(|| format!("bad CA certificate in {}", ca_path.display()))?;
        }

        let p12_rel = file.pkcs12.as_ref().ok_or_else(|| {
            anyhow!(
                "{} has no pkcs12 client certificate: the Host API needs one",
                profile.display()
            )
        })?;
        let p12_path = resolve(p12_rel);
        let p12_password = match &file.pkcs12_password_file {
            Some(path) => read_secret(&resolve(path))?,
            None => std::env::var("SIGIL_P12_PASSWORD").map_err(|_| {
                anyhow!("no PKCS#12 password: set SIGIL_P12_PASSWORD or pkcs12_password_file")
            })?,
        };
        let p12 = std::fs::read(&p12_path)
            .with_context(|| format!("cannot read {}", p12_path.display()))?;
        let contents = sigil_pki::pkcs12::import(&p12, &p12_password)
            .with_context(|| format!("cannot open {} (wrong password?)", p12_path.display()))?;
        drop(Password::new(p12_password));
        let mut chain = vec![CertificateDer::from(contents.certificate.to_der()?)];
        for cert in &contents.chain {
            chain.push(CertificateDer::from(cert.to_der()?));
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            contents.key.to_pkcs8_der().to_vec(),
        ));

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS setup")?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .context("the client certificate and key in the PKCS#12 do not match")?;
        let server_name = ServerName::try_from(file.server_name.clone())
            .with_context(|| format!("bad server_name {:?}", file.server_name))?;
        Ok(Self {
            address: file.host_api,
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
            identity: chosen.name.clone(),
            password,
        })
    }

    /// Connects, handshakes and logs in.
    async fn open(&self) -> Result<Session> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .with_context(|| format!("cannot connect to the Host API at {}", self.address))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .context("TLS handshake failed (CA, server name or client certificate)")?;
        let mut session = Session {
            stream: tls,
            decoder: FrameDecoder::new(Direction::Response),
            out: Vec::with_capacity(8192),
            read_buf: vec![0; 64 * 1024],
            pending: Vec::new(),
        };
        let login = Request::Login(Login {
            identity: self.identity.clone(),
            password: self.password.clone(),
        });
        let answer = session.call(&login).await;
        // The login frame held the password in clear.
        session.out.fill(0);
        session.out.clear();
        match answer? {
            Response::Login {
                logins_remaining: 0,
            } => Ok(session),
            Response::Login { logins_remaining } => bail!(
                "{} needs {logins_remaining} more login(s) before signing: benchmark with an \
                 identity whose role needs one login",
                self.identity
            ),
            Response::Failure(f) => bail!(
                "login as {} refused: {} {}",
                self.identity,
                f.code,
                f.message
            ),
            other => bail!("unexpected answer to the login: {other:?}"),
        }
    }
}

/// Reads a secret file, trimming the trailing newline.
fn read_secret(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the secret file {}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// One logged-in connection.
struct Session {
    stream: TlsStream<TcpStream>,
    decoder: FrameDecoder,
    out: Vec<u8>,
    read_buf: Vec<u8>,
    /// Answers decoded but not yet consumed, with their correlation id.
    pending: Vec<(Option<CorrelationId>, Response)>,
}

/// A request in flight: when its upload was written.
struct InFlight {
    started: Instant,
}

impl Session {
    /// Sends one request and waits for its answer (setup only: no pipelining).
    async fn call(&mut self, request: &Request) -> Result<Response> {
        self.out.clear();
        request
            .encode(None, &mut self.out)
            .context("cannot encode the request")?;
        self.stream.write_all(&self.out).await?;
        self.stream.flush().await?;
        loop {
            if !self.pending.is_empty() {
                return Ok(self.pending.remove(0).1);
            }
            self.read_some().await?;
        }
    }

    /// The policy's key algorithm (`RAGA`), or `None` when the server does not say.
    async fn policy_key_algorithm(&mut self, policy: &str) -> Result<Option<String>> {
        let answer = self
            .call(&Request::GetPolicy {
                policy: policy.to_owned(),
            })
            .await?;
        match answer {
            Response::GetPolicy(info) => {
                if info.approvals_required > 0 {
                    eprintln!(
                        "warning: policy {policy} needs {} approval(s): requests will stay \
                         pending; benchmark a policy with 0 approvals",
                        info.approvals_required
                    );
                }
                Ok(Some(info.key_algorithm))
            }
            Response::Failure(f) => bail!("policy {policy}: {} {}", f.code, f.message),
            _ => Ok(None),
        }
    }

    /// Reads what the server sent and decodes the complete frames into `pending`.
    async fn read_some(&mut self) -> Result<()> {
        let n = self.stream.read(&mut self.read_buf).await?;
        if n == 0 {
            self.decoder
                .finish()
                .map_err(|e| anyhow!("the server closed the connection mid-frame: {e}"))?;
            bail!("the server closed the connection");
        }
        let mut input = self.read_buf.get(..n).unwrap_or_default();
        while let Some(frame) = self.decoder.decode(&mut input) {
            let frame = frame.map_err(|e| anyhow!("bad frame from the server: {e}"))?;
            let response =
                Response::decode(&frame).map_err(|e| anyhow!("bad answer from the server: {e}"))?;
            self.pending.push((frame.correlation(), response));
        }
        Ok(())
    }

    /// Keeps `job.pipeline` requests in flight until the deadline, then drains.
    async fn drive(mut self, job: Job) -> Result<Tally> {
        let mut tally = Tally::default();
        let mut in_flight: HashMap<String, InFlight> = HashMap::with_capacity(job.pipeline);
        let mut counter: u64 = 0;
        let drain_until = job.deadline + DRAIN_TIMEOUT;
        loop {
            let now = Instant::now();
            self.out.clear();
            if now < job.deadline {
                while in_flight.len() < job.pipeline {
                    counter += 1;
                    let correlation = format!("{}.{counter}", job.connection);
                    // A distinct digest per request, as real builds send.
                    let digest = job
                        .key_hash
                        .digest(format!("sigil bench {} {counter}", job.connection).as_bytes());
                    let request = Request::UploadHash(Upload {
                        policy: job.policy.clone(),
                        hash: job.hash,
                        digest,
                        metadata: Metadata::default(),
                    });
                    request
                        .encode(
                            Some(&CorrelationId::new(correlation.clone())?),
                            &mut self.out,
                        )
                        .context("cannot encode the upload")?;
                    in_flight.insert(correlation, InFlight { started: now });
                }
            }
            if in_flight.is_empty() {
                return Ok(tally);
            }
            if now > drain_until {
                for _ in 0..in_flight.len() {
                    tally.error(
                        "TIMEOUT".into(),
                        format!("no answer within {DRAIN_TIMEOUT:?} after the run ended"),
                    );
                }
                return Ok(tally);
            }
            if !self.out.is_empty() {
                self.stream.write_all(&self.out).await?;
                self.stream.flush().await?;
            }
            if self.pending.is_empty() {
                match tokio::time::timeout_at(drain_until.into(), self.read_some()).await {
                    Ok(read) => read?,
                    Err(_) => continue,
                }
            }
            self.out.clear();
            for (correlation, response) in std::mem::take(&mut self.pending) {
                self.handle(correlation, response, &mut in_flight, &mut tally)?;
            }
            if !self.out.is_empty() {
                self.stream.write_all(&self.out).await?;
                self.stream.flush().await?;
            }
        }
    }

    /// Books one answer; queues a `RAGO` in `out` when the request is not final yet.
    fn handle(
        &mut self,
        correlation: Option<CorrelationId>,
        response: Response,
        in_flight: &mut HashMap<String, InFlight>,
        tally: &mut Tally,
    ) -> Result<()> {
        let Some(key) = correlation.map(|c| c.as_str().to_owned()) else {
            // The server could not read a frame we sent: nothing to match it with.
            if let Response::Failure(f) = &response {
                tally.error(f.code.to_string(), format!("{} {}", f.code, f.message));
                return Ok(());
            }
            bail!("the server answered without the correlation id: {response:?}");
        };
        let Some(started) = in_flight.get(&key).map(|f| f.started) else {
            bail!("the server answered correlation id {key}, which is not in flight");
        };
        let status: RequestStatus = match response {
            Response::UploadHash(status) | Response::RetrieveHash(status) => status,
            Response::Failure(f) => {
                in_flight.remove(&key);
                tally.error(f.code.to_string(), format!("{} {}", f.code, f.message));
                return Ok(());
            }
            other => bail!("unexpected answer during the run: {other:?}"),
        };
        match status.outcome {
            Outcome::Signed { result } if !result.is_empty() => {
                in_flight.remove(&key);
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latencies.push(micros);
            }
            Outcome::Approved => {
                // Signing is under way: fetch it again under the same correlation id.
                Request::RetrieveHash { id: status.id }
                    .encode(Some(&CorrelationId::new(key)?), &mut self.out)
                    .context("cannot encode the retrieve")?;
            }
            outcome => {
                in_flight.remove(&key);
                let state = outcome.state().as_str().to_owned();
                let message = match outcome {
                    Outcome::Pending => format!(
                        "request {} is PENDING: the policy needs approvals; benchmark a policy \
                         with 0 approvals",
                        status.id
                    ),
                    Outcome::Signed { .. } => {
                        format!("request {} SIGNED without a signature", status.id)
                    }
                    _ => format!("request {} ended {state}", status.id),
                };
                tally.error(state, message);
            }
        }
        Ok(())
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

    /// `sigil bench` for one second against the real server (quickstart deployment, mutual
    /// TLS, SQLite): every request signed, a plausible report. Never a timing assertion.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_second_against_the_real_server() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = sigil_server::InitOptions::new(dir.path().join("data"));
        options.host_api = "127.0.0.1:0".parse().unwrap();
        options.https = "127.0.0.1:0".parse().unwrap();
        let demo = sigil_server::quickstart::provision_with(&options)
            .await
            .unwrap();
        let config = sigil_server::ServerConfig::load(&demo.config_file).unwrap();
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

        let args = BenchArgs {
            profile: profile_path,
            policy: "release".into(),
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

        let text = report.render(false).unwrap();
        assert!(text.contains("requests/s"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.render(true).unwrap()).unwrap();
        assert_eq!(json["signed"], report.signed);
        assert_eq!(json["errors"], 0);
    }
}
