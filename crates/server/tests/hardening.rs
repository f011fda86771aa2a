//! Security regressions of the black-box pass (issue 22, the smaller findings): each test is
//! named after the flaw it prevents and runs against the real server (`init` + `start` on
//! 127.0.0.1:0, real TLS, real SQLite).
//!
//! Deadline tests set small `header_timeout`/`idle_timeout`/`frame_timeout` values and wait
//! for the server to close the connection; [`GUARD`] only stops a broken server from hanging
//! the suite (it is not a timing assertion: the configured deadlines are seconds, the guard a
//! minute).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sigil_domain::{
    Change, Interface, Permission, RequestFilter, Role, RoleClass, RoleDraft, RoleName, RoleType,
    builtin_roles,
};
use sigil_proto::{ErrorCode, HashAlgorithm, Response};
use sigil_server::service::authorize::Caller;
use sigil_server::service::certificates;
use sigil_server::service::pki::{IssueArgs, KeySource};
use sigil_server::service::requests;
use sigil_server::{RunningServer, ServerConfig};
use sigil_testkit::hostapi::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Longest a test waits for the server to close a connection whose deadline is seconds.
const GUARD: Duration = Duration::from_secs(60);

// ---- helpers ------------------------------------------------------------------------------

/// A deployment with the HTTPS/Host API deadlines adjusted.
async fn https_server(
    adjust: impl FnOnce(&mut ServerConfig),
) -> (tempfile::TempDir, PathBuf, PathBuf, RunningServer) {
    let (dir, data, report) = common::deployment().await;
    let mut config = common::config(&data);
    adjust(&mut config);
    let server = sigil_server::start(config).await.unwrap();
    (dir, data, report.root_ca, server)
}

/// A TLS connection to the HTTPS listener (no client certificate) offering `alpn`.
async fn https_connect(
    server: &RunningServer,
    root: &Path,
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    https_connect_as(server, root, alpn, None).await
}

/// [`https_connect`] with a client certificate (chain PEM, key PEM) when given.
async fn https_connect_as(
    server: &RunningServer,
    root: &Path,
    alpn: &[&[u8]],
    cert: Option<&(PathBuf, PathBuf)>,
) -> TlsStream<TcpStream> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(root).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(chain)
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(server.https_addr()).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Everything the peer sends until it closes (a close without TLS close_notify counts).
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("the server did not close the connection at its deadline");
    all
}

/// Writes `first`, then `byte` every 100 ms until the server closes; returns what it sent
/// back. Fails when the server keeps the connection for [`GUARD`].
async fn trickle_until_closed<S>(stream: S, first: &[u8], byte: u8) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    writer.write_all(first).await.unwrap();
    writer.flush().await.unwrap();
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(&[byte]).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    });
    let received = read_until_closed(&mut reader).await;
    trickle.abort();
    received
}

/// One HTTP/1.1 GET (`Connection: close`): the response head (lower-cased) and body.
async fn http1_get(server: &RunningServer, root: &Path, path: &str) -> (String, String) {
    let mut stream = https_connect(server, root, &[b"http/1.1"]).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let response = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_owned())
}

/// One HTTP/2 frame header and payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The types of the HTTP/2 frames in `bytes` with their stream ids.
fn h2_frames(mut bytes: &[u8]) -> Vec<(u8, u32)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        out.push((bytes[3], stream));
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    out
}

/// A client certificate issued by the System TLS CA Root for an openssl CSR with `subject`
/// (OpenSSL form, `/CN=a/CN=b`): (chain PEM path, key path).
async fn client_certificate_with_subject(
    world: &World,
    file: &str,
    subject: &str,
) -> (PathBuf, PathBuf) {
    let dir = world.dir.path();
    let key = dir.join(format!("{file}.key"));
    let csr = dir.join(format!("{file}.csr"));
    common::run_ok(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-subj",
            subject,
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    let issued = certificates::issue::perform(
        &world.state(),
        "test",
        IssueArgs {
            issuer: sigil_domain::CaName::new("system-tls-root").unwrap(),
            profile: sigil_domain::CertProfile::TlsClient,
            subject: None,
            sans: vec![],
            validity_days: 30,
            key: KeySource::Csr(std::fs::read(&csr).unwrap()),
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
        },
    )
    .await
    .unwrap();
    let cert = dir.join(format!("{file}.pem"));
    std::fs::write(&cert, issued.chain_pem().unwrap()).unwrap();
    (cert, key)
}

// ---- listener deadlines -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_connection_that_sends_nothing_after_tls_holds_no_slot() {
    // The idle timeout stays long: the header deadline alone must close it.
    let (_dir, _data, root, server) = https_server(|c| {
        c.header_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let mut stream = https_connect(&server, &root, &[alpn]).await;
        let received = read_until_closed(&mut stream).await;
        assert!(received.is_empty(), "{received:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_header_trickled_one_byte_at_a_time_is_cut_at_the_header_deadline() {
    let (_dir, _data, root, server) = https_server(|c| {
        c.header_timeout = Duration::from_secs(2);
        c.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let stream = https_connect(&server, &root, &[b"http/1.1"]).await;
    let received = trickle_until_closed(
        stream,
        b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",
        b'a',
    )
    .await;
    // Closed without a response: the request never completed.
    assert!(
        !String::from_utf8_lossy(&received).contains("200 OK"),
        "{received:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_body_trickled_one_byte_at_a_time_is_cut_at_the_body_deadline() {
    // A request in progress holds the idle timer: its body needs a deadline of its own.
    let (_dir, _data, root, server) = https_server(|c| {
        c.header_timeout = Duration::from_secs(30);
        c.idle_timeout = Duration::from_secs(3600);
        c.body_timeout = Duration::from_secs(2);
    })
    .await;
    let stream = https_connect(&server, &root, &[b"http/1.1"]).await;
    let received = trickle_until_closed(
        stream,
        b"POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        b' ',
    )
    .await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains("did not arrive within"), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connection_is_closed_at_the_idle_timeout() {
    // HTTP/2 keep-alive pings are answered by any client: they must not count as activity.
    let (_dir, _data, root, server) = https_server(|c| {
        c.header_timeout = Duration::from_secs(30);
        c.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = https_connect(&server, &root, &[b"h2"]).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(0x4, 0, 0, &[])); // SETTINGS
    // GET /api/v1/health: :method GET, :scheme https (static table), :path and
    // :authority as literals.
    let mut block = vec![0x82, 0x87, 0x44, 14];
    block.extend_from_slice(b"/api/v1/health");
    block.extend([0x41, 9]);
    block.extend_from_slice(b"localhost");
    out.extend(h2_frame(0x1, 0x4 | 0x1, 1, &block)); // HEADERS, END_HEADERS | END_STREAM
    stream.write_all(&out).await.unwrap();
    stream.flush().await.unwrap();
    let received = read_until_closed(&mut stream).await;
    // The server's bytes are frames from the start (its preface is a SETTINGS frame).
    let frames = h2_frames(&received);
    assert!(
        frames.contains(&(0x1, 1)),
        "no response HEADERS on stream 1: {frames:?}"
    );
    assert!(
        frames.iter().any(|(kind, _)| *kind == 0x7),
        "no GOAWAY before the close: {frames:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_api_frame_trickled_one_byte_at_a_time_is_cut_at_the_frame_deadline() {
    // Every byte arrives well within the idle timeout; the frame never completes.
    let world = world_with(|c| {
        c.frame_timeout = Duration::from_secs(2);
        c.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    let client = world.connect().await;
    let received = trickle_until_closed(client.stream, b"[AOECHO;AG1;XX", b'a').await;
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_api_idle_timer_does_not_restart_on_bytes_outside_a_frame() {
    let world = world_with(|c| {
        c.frame_timeout = Duration::from_secs(3600);
        c.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let mut client = world.connect().await;
    // A complete frame is answered; then whitespace every 100 ms keeps nothing alive.
    let answer = client.call(sigil_proto::Request::Echo).await;
    assert!(matches!(answer, Response::Echo { .. }), "{answer:?}");
    let received = trickle_until_closed(client.stream, b"\n", b'\n').await;
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

// ---- certificate binding ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_with_two_cns_binds_to_no_identity() {
    let world = world().await;
    // DER order jenkins, nobody: a reader taking "the first CN" binds it to jenkins.
    for (file, subject) in [
        ("two-cn-a", "/CN=jenkins/CN=nobody"),
        ("two-cn-b", "/CN=nobody/CN=jenkins"),
    ] {
        let cert = client_certificate_with_subject(&world, file, subject).await;
        let mut client = world.connect_as(&cert).await;
        assert_code(
            &client.login("jenkins", PASSWORD).await,
            ErrorCode::CertMismatch,
        );
    }
    // The genuine certificate still binds.
    let mut client = world.connect().await;
    assert_eq!(
        client.login("jenkins", PASSWORD).await,
        Response::Login {
            logins_remaining: 0
        }
    );

    // The HTTPS login reads the certificate the same way.
    let two =
        client_certificate_with_subject(&world, "two-cn-https", "/CN=jenkins/CN=nobody").await;
    for (cert, expected) in [(&two, "403 "), (&world.jenkins, "200 ")] {
        let mut stream =
            https_connect_as(world.server(), &world.root, &[b"http/1.1"], Some(cert)).await;
        let body = serde_json::json!({"identity": "jenkins", "password": PASSWORD}).to_string();
        let request = format!(
            "POST /api/v1/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        let response = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {expected}")),
            "{response}"
        );
        if expected == "403 " {
            assert!(response.contains("CERT_MISMATCH"), "{response}");
        }
    }
}

// ---- login --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_and_disabled_states_are_no_oracle_for_a_wrong_password() {
    let world = world().await;
    let mut client = world.connect().await;
    let unknown = failure(&client.login("nobody", "a wrong password").await);
    for who in ["locky", "off"] {
        let wrong = failure(&client.login(who, "a wrong password").await);
        assert_eq!(wrong, unknown, "{who}");
    }
    // Only the right password learns the state.
    assert_code(
        &client.login("locky", PASSWORD).await,
        ErrorCode::IdentityLocked,
    );
    assert_code(
        &client.login("off", PASSWORD).await,
        ErrorCode::IdentityDisabled,
    );
    // Without the bound certificate, a wrong password does not reveal the binding either.
    let mut other = world.connect_as(&world.other).await;
    assert_eq!(
        failure(&other.login("jenkins", "a wrong password").await),
        unknown
    );
    // Wrong passwords on a locked identity are not counted again.
    let locky = world
        .state()
        .store
        .get_identity(&name("locky"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(locky.failed_logins, 0);
}

// ---- roles --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_approver_role_does_not_read_requests_outside_its_groups() {
    let builtin = builtin_roles()
        .into_iter()
        .find(|r| r.name().as_str() == "approver")
        .unwrap();
    assert!(!builtin.grants(Permission::SigningReadAll));

    let world = world().await;
    let state = world.state();
    let stored = state
        .store
        .get_role(&RoleName::new("approver").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.grants(Permission::SigningReadAll));

    // An administrator may still configure an approver role that reads everything.
    let reader = Role::new(RoleDraft {
        name: RoleName::new("reading-approver").unwrap(),
        role_type: RoleType::Approver,
        class: RoleClass::Principal,
        logins_required: 1,
        permissions: [Permission::SigningApprove, Permission::SigningReadAll]
            .into_iter()
            .collect(),
        interfaces: [Interface::Https].into_iter().collect(),
    })
    .unwrap();
    let erin = identity("erin", &["reading-approver"]);
    commit(
        &state,
        vec![
            Change::CreateRole(reader),
            Change::CreateIdentity(Box::new(erin)),
        ],
    )
    .await;

    // A request for the group release-approvers (policy "two").
    let mut jenkins = world.logged_in("jenkins").await;
    let r = jenkins
        .upload_hash("two", HashAlgorithm::Sha256, &[7u8; 32])
        .await;
    let id = status(&r).id.clone();

    let visible = |who: &'static str| {
        let state = state.clone();
        async move {
            let session = approver(&state, who).await;
            requests::list(&state, &Caller::new(&session), RequestFilter::default())
                .await
                .unwrap()
                .iter()
                .map(|r| r.id().to_string())
                .collect::<Vec<_>>()
        }
    };
    // alice is in the group, dave is an approver outside it, erin's role reads all.
    assert_eq!(visible("alice").await, [id.as_str().to_owned()]);
    assert!(visible("dave").await.is_empty());
    assert_eq!(visible("erin").await, [id.as_str().to_owned()]);
    let dave = approver(&state, "dave").await;
    assert!(
        requests::get(&state, &Caller::new(&dave), domain_id(&id))
            .await
            .is_err()
    );
}

// ---- HTTPS responses, files, console ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_lack_no_nosniff_or_hsts() {
    let (_dir, _data, root, server) = https_server(|_| {}).await;
    for path in [
        "/api/v1/health",
        "/api/v1/no-such-route",
        "/api/v1/requests",
        "/",
        "/console/console.js",
        "/favicon.svg",
    ] {
        let (head, _) = http1_get(&server, &root, path).await;
        assert!(
            head.contains("\r\nx-content-type-options: nosniff"),
            "{path}: {head}"
        );
        assert!(
            head.contains("\r\nstrict-transport-security: max-age=31536000"),
            "{path}: {head}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_not_readable_by_other_users() {
    let (_dir, data, _root, server) = https_server(|_| {}).await;
    // The server wrote (server.start), so the WAL files exist while it runs.
    for file in ["sigil.db", "sigil.db-wal", "sigil.db-shm"] {
        assert_eq!(common::mode(&data.join(file)), 0o600, "{file}");
    }
    for file in ["master.key", "sigil.toml"] {
        assert_eq!(common::mode(&data.join(file)), 0o600, "{file}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_hides_no_field_that_goes_into_the_signature() {
    let (dir, _data, root, server) = https_server(|_| {}).await;
    let (_, script) = http1_get(&server, &root, "/console/console.js").await;
    let (_, page) = http1_get(&server, &root, "/").await;
    // Each metadata field is written (as text, by `field`) into its own element.
    for (key, class) in [
        ("description", "description"),
        ("subject", "subject"),
        ("program_name", "program-name"),
        ("program_url", "program-url"),
        ("signer_name", "signer-name"),
        ("entry_count", "entry-count"),
        ("file_name", "file"),
        ("build_url", "build"),
        ("commit", "commit"),
    ] {
        // The build URL is text, or a link when it is https: (`link`).
        assert!(
            script.contains(&format!("field(node, \".{class}\", m.{key}"))
                || (key == "build_url"
                    && script.contains(&format!("link(node, \".{class}\", m.{key}"))),
            "console.js does not render {key}"
        );
        assert!(
            page.contains(&format!("<dd class=\"{class}")) || class == "file",
            "index.html has no element for {key}"
        );
    }
    assert!(!script.contains("innerHTML"), "values must be text only");
    let file = dir.path().join("console.js");
    std::fs::write(&file, &script).unwrap();
    common::run_ok("node", &["--check", file.to_str().unwrap()]);
    server.shutdown().await;
}
