//! Prometheus metrics: one process-wide registry, one-line hooks for the request paths, and
//! the scrape listener (`[server] metrics = "127.0.0.1:9464"`, off unless configured).
//!
//! Label values come only from bounded sets (command codes, route templates, policy aliases
//! that exist, error codes): nothing a client sends becomes a label as it is. The list of
//! series is in `docs/operations.md`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sigil_domain::{RequestFilter, RequestStatus, SigningFormat, SigningRequest};
use sigil_proto::{Command, ErrorCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::service::ServiceError;
use crate::state::AppState;

/// The OpenMetrics text format, for scrapers that ask for it (Prometheus does).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format 0.0.4, for everyone else (`curl`, `promtool check metrics`).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets: 1 ms to about 33 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    command: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandName {
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteName {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SigningLabels {
    format: &'static str,
    policy: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InterfaceLabel {
    interface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Every series of the process.
struct Metrics {
    registry: Registry,
    host_api: Family<CommandLabels, Counter>,
    host_api_latency: Latencies<CommandName>,
    https: Family<RouteLabels, Counter>,
    https_latency: Latencies<RouteName>,
    signing: Family<SigningLabels, Counter>,
    pending: Gauge,
    connections: Family<ListenerLabel, Gauge>,
    audit_head: Gauge,
    commit_latency: Histogram,
    timestamps: Counter,
    timestamp_refusals: Family<ReasonLabel, Counter>,
    failed_logins: Family<InterfaceLabel, Counter>,
    lockouts: Family<InterfaceLabel, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("sigil");
        let m = Self {
            host_api: Family::default(),
            host_api_latency: Family::new_with_constructor(latency),
            https: Family::default(),
            https_latency: Family::new_with_constructor(latency),
            signing: Family::default(),
            pending: Gauge::default(),
            connections: Family::default(),
            audit_head: Gauge::default(),
            commit_latency: latency(),
            timestamps: Counter::default(),
            timestamp_refusals: Family::default(),
            failed_logins: Family::default(),
            lockouts: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "host_api_commands",
            "Host API commands answered, by command code and outcome (ok or the error code)",
            m.host_api.clone(),
        );
        registry.register(
            "host_api_command_duration_seconds",
            "Time to answer a Host API command",
            m.host_api_latency.clone(),
        );
        registry.register(
            "https_requests",
            "HTTPS API requests answered, by method, route template and HTTP status",
            m.https.clone(),
        );
        registry.register(
            "https_request_duration_seconds",
            "Time to answer an HTTPS API request, by route template",
            m.https_latency.clone(),
        );
        registry.register(
            "signing_requests",
            "Signing requests submitted (both interfaces), by format, policy and outcome \
             (signed, pending, failed, or the refusal's error code)",
            m.signing.clone(),
        );
        registry.register(
            "pending_approvals",
            "Signing requests waiting for approvals (counted at scrape, at most 1000)",
            m.pending.clone(),
        );
        registry.register(
            "connections",
            "Open connections, by listener",
            m.connections.clone(),
        );
        registry.register(
            "audit_head_sequence",
            "Sequence number of the last audit event (read at scrape)",
            m.audit_head.clone(),
        );
        registry.register(
            "store_commit_duration_seconds",
            "Time of one store commit (changes and audit events, one transaction)",
            m.commit_latency.clone(),
        );
        registry.register(
            "timestamp_tokens",
            "RFC 3161 time-stamp tokens issued",
            m.timestamps.clone(),
        );
        registry.register(
            "timestamp_refusals",
            "Time-stamp requests refused, by reason (rejected, unavailable, rate_limited)",
            m.timestamp_refusals.clone(),
        );
        registry.register(
            "failed_logins",
            "Failed logins, by interface",
            m.failed_logins.clone(),
        );
        registry.register(
            "lockouts",
            "Identities locked by failed logins, by interface",
            m.lockouts.clone(),
        );
        Self { registry, ..m }
    }
}

/// An error code as a label: the known codes only.
fn code_label(code: &ErrorCode) -> &'static str {
    ErrorCode::KNOWN
        .iter()
        .find(|known| *known == code)
        .map_or("unknown", ErrorCode::as_str)
}

/// Records one answered Host API command (`None`: answered without error).
pub(crate) fn host_api_command(command: Option<Command>, error: Option<ErrorCode>, since: Instant) {
    // An unknown code is whatever the client sent: never a label.
    let command = command
        .and_then(|c| Command::KNOWN.iter().find(|known| **known == c))
        .map_or("unknown", Command::as_str);
    let outcome = error.map_or("ok", |e| code_label(&e));
    let m = &*METRICS;
    m.host_api
        .get_or_create(&CommandLabels { command, outcome })
        .inc();
    m.host_api_latency
        .get_or_create(&CommandName { command })
        .observe(since.elapsed().as_secs_f64());
}

/// Middleware of the HTTPS API routes (a `route_layer`: only matched routes, whose template
/// is the label).
pub(crate) async fn https_layer(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let m = &*METRICS;
    m.https
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    m.https_latency
        .get_or_create(&RouteName { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Records a submitted signing request under `policy` (the alias asked for; an unknown one is
/// recorded as `unknown`).
pub(crate) fn signing_request(
    format: SigningFormat,
    policy: &str,
    result: &Result<SigningRequest, ServiceError>,
) {
    let (policy, outcome) = match result {
        Ok(request) => (
            request.policy().as_str().to_owned(),
            request.status().as_str(),
        ),
        Err(e) => {
            let code = e.host_api_code();
            // Only these refusals come after the policy was found: with any other, the alias
            // may be whatever the client sent, and must not become a label.
            let found = matches!(
                code,
                ErrorCode::FormatNotAllowed
                    | ErrorCode::HashNotAllowed
                    | ErrorCode::DigestLength
                    | ErrorCode::MetadataTooLarge
                    | ErrorCode::ReleaseClosed
                    | ErrorCode::SigningFailed
            );
            let policy = if found { policy } else { "unknown" };
            (policy.to_owned(), code_label(&code))
        }
    };
    METRICS
        .signing
        .get_or_create(&SigningLabels {
            format: format.as_str(),
            policy,
            outcome,
        })
        .inc();
}

/// One open connection on `listener` (`host-api`, `https`); closed when dropped.
pub(crate) struct Connection(&'static str);

/// Counts a connection on `listener` until the returned guard is dropped.
pub(crate) fn connection(listener: &'static str) -> Connection {
    METRICS
        .connections
        .get_or_create(&ListenerLabel { listener })
        .inc();
    Connection(listener)
}

impl Drop for Connection {
    fn drop(&mut self) {
        METRICS
            .connections
            .get_or_create(&ListenerLabel { listener: self.0 })
            .dec();
    }
}

/// Times one store commit.
pub(crate) async fn commit<T>(commit: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = commit.await;
    METRICS
        .commit_latency
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Records a time-stamp answer: `None` a token, `Some(reason)` a refusal.
pub(crate) fn timestamp(refusal: Option<&'static str>) {
    match refusal {
        None => METRICS.timestamps.inc(),
        Some(reason) => METRICS
            .timestamp_refusals
            .get_or_create(&ReasonLabel { reason })
            .inc(),
    };
}

/// Records a failed login on `interface` (`host-api`, `https`), and whether it locked the
/// identity.
pub(crate) fn failed_login(interface: &'static str, locked: bool) {
    let label = InterfaceLabel { interface };
    METRICS.failed_logins.get_or_create(&label).inc();
    if locked {
        METRICS.lockouts.get_or_create(&label).inc();
    }
}

/// Which listeners of one server accept connections (for readiness).
#[derive(Debug, Default)]
pub struct Listeners {
    host_api: AtomicBool,
    https: AtomicBool,
}

/// Marks a listener up until dropped (held by its accept loop).
pub(crate) struct ListenerUp<'a>(&'a AtomicBool);

impl Listeners {
    /// Marks `listener` (`host-api` or `https`) up while the guard lives.
    pub(crate) fn up(&self, listener: &str) -> ListenerUp<'_> {
        let flag = if listener == "https" {
            &self.https
        } else {
            &self.host_api
        };
        flag.store(true, Ordering::Release);
        ListenerUp(flag)
    }

    /// Whether both listeners accept connections.
    pub fn all_up(&self) -> bool {
        self.host_api.load(Ordering::Acquire) && self.https.load(Ordering::Acquire)
    }
}

impl Drop for ListenerUp<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The text exposition, with the values read at scrape (audit head, pending approvals).
pub(crate) async fn scrape(state: &AppState) -> Result<String, ServiceError> {
    let head = state.store.audit_head().await?;
    let pending = state
        .store
        .list_requests(&RequestFilter {
            state: Some(RequestStatus::Pending),
            ..RequestFilter::default()
        })
        .await?;
    let m = &*METRICS;
    m.audit_head
        .set(i64::try_from(head.seq).unwrap_or(i64::MAX));
    m.pending
        .set(i64::try_from(pending.len()).unwrap_or(i64::MAX));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry)
        .map_err(|e| ServiceError::internal(format!("encoding the metrics failed: {e}")))?;
    Ok(text)
}

/// The OpenMetrics exposition in the Prometheus text format 0.0.4: a counter family's
/// `# HELP`/`# TYPE` name carries the `_total` of its samples, and there is no `# EOF`.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|tag| Some((tag, line.strip_prefix(tag)?)));
        match meta {
            Some((tag, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(&name) {
                    "_total"
                } else {
                    ""
                };
                text.push_str(&format!("{tag}{name}{total} {tail}\n"));
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

async fn metrics_route(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match scrape(&state).await {
        Ok(text) if openmetrics => ([(CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Ok(text) => ([(CONTENT_TYPE, PROMETHEUS_TEXT)], prometheus_text(&text)).into_response(),
        Err(e) => {
            tracing::warn!("metrics scrape failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metrics unavailable: see the server log\n",
            )
                .into_response()
        }
    }
}

async fn ready_route(State(state): State<Arc<AppState>>) -> Response {
    let readiness = crate::ready::check(&state).await;
    (readiness.status_code(), axum::Json(readiness)).into_response()
}

/// Binds the metrics listener (plain HTTP: `/metrics`, `/ready`, `/health`).
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, crate::ServerError> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the metrics listener has no authentication and no TLS: keep it on a private network");
    }
    TcpListener::bind(addr).await.map_err(|e| {
        crate::ServerError::Config(format!(
            "cannot listen for metrics on {addr}: {e} (change [server] metrics in sigil.toml)"
        ))
    })
}

/// Serves the metrics listener until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = Router::new()
        .route("/metrics", get(metrics_route))
        .route("/ready", get(ready_route))
        .route("/health", get(|| async { "ok\n" }))
        .with_state(state);
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("the metrics listener stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::prometheus_text;

    #[test]
    fn counters_get_total_in_their_metadata_and_eof_goes() {
        let openmetrics = "# HELP a_x Things.\n# TYPE a_x counter\na_x_total{k=\"v\"} 1\n\
                           # HELP b Open.\n# TYPE b gauge\nb 2\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP a_x_total Things.\n# TYPE a_x_total counter\na_x_total{k=\"v\"} 1\n\
             # HELP b Open.\n# TYPE b gauge\nb 2\n"
        );
    }
}
