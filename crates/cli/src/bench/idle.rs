//! `sigil bench --idle-connections N`: what N idle mutual-TLS connections cost the server.
//!
//! Opens N Host API connections with the profile's client certificate (TLS configuration
//! built once), proves each is served with an `ECHO`, then leaves them idle for `--duration`
//! and reads the server's resident memory (`VmRSS` of /proc/PID/status) before the first
//! connection and at the end of the hold. Every connection must still answer an `ECHO`
//! afterwards. The server's `idle_timeout` must be longer than the hold.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use sigil_client::Profile;
use sigil_client::profile::ProcessSecrets;
use sigil_proto::{Direction, FrameDecoder, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// Handshakes in flight at once while connecting.
const CONNECT_CONCURRENCY: usize = 32;
/// Longest an `ECHO` answer may take.
const ECHO_TIMEOUT: Duration = Duration::from_secs(30);

/// The result of one idle-connections run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct IdleReport {
    /// Connections opened and held.
    pub connections: usize,
    /// Seconds to open them all (TLS handshakes and one `ECHO` each).
    pub connect_secs: f64,
    /// Connections opened per second.
    pub handshakes_per_sec: f64,
    /// Seconds the connections were held idle.
    pub held_secs: f64,
    /// Connections that answered an `ECHO` after the hold.
    pub alive_after_hold: usize,
    /// Server memory, with `--server-pid`.
    pub server_memory: Option<ServerMemory>,
}

/// The server's resident memory around the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ServerMemory {
    /// The process id read.
    pub pid: u32,
    /// Resident set before the first connection, KiB.
    pub rss_before_kib: u64,
    /// Resident set with every connection open and idle, KiB.
    pub rss_idle_kib: u64,
    /// Resident memory added per connection, KiB.
    pub kib_per_connection: f64,
}

impl IdleReport {
    /// The report as aligned text or as JSON.
    pub(crate) fn render(&self, json: bool) -> Result<String> {
        if json {
            return Ok(serde_json::to_string_pretty(self)? + "\n");
        }
        let mut out = String::new();
        writeln!(
            out,
            "connections   {} mutual-TLS, opened in {:.2} s ({:.0} handshakes/s), held idle {:.1} s",
            self.connections, self.connect_secs, self.handshakes_per_sec, self.held_secs
        )?;
        writeln!(
            out,
            "alive         {} of {} answered ECHO after the hold",
            self.alive_after_hold, self.connections
        )?;
        if let Some(memory) = &self.server_memory {
            writeln!(
                out,
                "server rss    {:.1} MiB before, {:.1} MiB with the connections (pid {}): {:.1} KiB per connection",
                memory.rss_before_kib as f64 / 1024.0,
                memory.rss_idle_kib as f64 / 1024.0,
                memory.pid,
                memory.kib_per_connection
            )?;
        }
        Ok(out)
    }
}

/// Opens `count` connections, holds them for `hold`, and reports.
pub(crate) async fn run(
    profile: &Profile,
    count: usize,
    hold: Duration,
    server_pid: Option<u32>,
) -> Result<IdleReport> {
    if count == 0 {
        bail!("--idle-connections must be at least 1");
    }
    // One descriptor per connection: lift this process's soft limit to its hard limit.
    if let Some(limit) = sigil_server::limits::raise_open_file_limit()
        && limit < count as u64 + 64
    {
        bail!(
            "this process may open {limit} files, too few for {count} connections: raise \
             `ulimit -n` (hard limit) or ask for fewer"
        );
    }
    let address = profile.host_api_address()?.to_owned();
    let name = ServerName::try_from(profile.server_name.clone())
        .map_err(|e| anyhow!("server_name {:?} in the profile: {e}", profile.server_name))?;
    let config = Arc::new(
        sigil_client::connection::tls_config(profile, &ProcessSecrets)
            .context("building the TLS client configuration")?,
    );
    let rss_before = server_pid.map(read_rss_kib).transpose()?;

    let start = Instant::now();
    let mut streams = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    let mut next = 0usize;
    while streams.len() < count {
        while next < count && pending.len() < CONNECT_CONCURRENCY {
            let (config, name, address) = (config.clone(), name.clone(), address.clone());
            pending.spawn(async move { open(config, name, &address).await });
            next += 1;
        }
        let opened = pending
            .join_next()
            .await
            .ok_or_else(|| anyhow!("no connection task left"))?
            .context("a connection task panicked")?
            .with_context(|| format!("connection {} of {count}", streams.len() + 1))?;
        streams.push(opened);
    }
    let connect_secs = start.elapsed().as_secs_f64();

    let held = Instant::now();
    tokio::time::sleep(hold).await;
    let rss_idle = server_pid.map(read_rss_kib).transpose()?;
    let held_secs = held.elapsed().as_secs_f64();

    let mut alive = 0;
    for stream in &mut streams {
        if echo(stream).await.is_ok() {
            alive += 1;
        }
    }
    for mut stream in streams {
        let _ = stream.shutdown().await;
    }
    let server_memory = match (server_pid, rss_before, rss_idle) {
        (Some(pid), Some(before), Some(idle)) => Some(ServerMemory {
            pid,
            rss_before_kib: before,
            rss_idle_kib: idle,
            kib_per_connection: idle.saturating_sub(before) as f64 / count as f64,
        }),
        _ => None,
    };
    Ok(IdleReport {
        connections: count,
        connect_secs,
        handshakes_per_sec: count as f64 / connect_secs.max(1e-9),
        held_secs,
        alive_after_hold: alive,
        server_memory,
    })
}

/// One mutual-TLS connection that answered an `ECHO`.
async fn open(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    address: &str,
) -> Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to the Host API at {address}"))?;
    tcp.set_nodelay(true)?;
    let mut stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .context("TLS handshake (check ca_certificate, server_name and the client certificate)")?;
    echo(&mut stream).await?;
    Ok(stream)
}

/// Sends `ECHO` and waits for its answer.
async fn echo(stream: &mut TlsStream<TcpStream>) -> Result<()> {
    let mut out = Vec::new();
    Request::Echo
        .encode(None, &mut out)
        .map_err(|e| anyhow!("cannot encode ECHO: {e}"))?;
    stream.write_all(&out).await?;
    stream.flush().await?;
    let mut decoder = FrameDecoder::new(Direction::Response);
    let mut buf = [0u8; 1024];
    let answer = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                bail!(
                    "the server closed the connection (over its max_connections, or idle_timeout shorter than the hold?)"
                );
            }
            if let Some(frame) = decoder.feed(buf.get(..n).unwrap_or_default()).next() {
                let frame = frame.map_err(|e| anyhow!("bad frame from the server: {e}"))?;
                return match Response::decode(&frame) {
                    Ok(Response::Echo { .. }) => Ok(()),
                    Ok(other) => Err(anyhow!("unexpected answer to ECHO: {other:?}")),
                    Err(e) => Err(anyhow!("unreadable answer to ECHO: {e}")),
                };
            }
        }
    };
    tokio::time::timeout(ECHO_TIMEOUT, answer)
        .await
        .map_err(|_| anyhow!("no ECHO answer in {} s", ECHO_TIMEOUT.as_secs()))?
}

/// Resident set size (`VmRSS`, KiB) of a process.
fn read_rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| {
        format!("cannot read {path}: is the server running on this machine with pid {pid}?")
    })?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .ok_or_else(|| anyhow!("{path} has no VmRSS line"))
}
