//! Replays the hostile-input catalogue (`testdata/hostile/catalogue.toml`) against the real
//! server: every entry must be refused with its code, the server must stay up, and nothing may
//! change (requests, approvals, policies, identities; the audit chain verifies). Issue 19.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;
use sigil_domain::{CaName, RevocationReason};
use sigil_proto::{Direction, FrameDecoder, HashAlgorithm, Password, Request, Response};
use sigil_server::AppState;
use sigil_server::service::certificates;
use sigil_testkit::hostapi::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Debug, Deserialize)]
struct Catalogue {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    group: String,
    name: String,
    kind: String,
    expect: String,
    cert: Option<String>,
    login: Option<String>,
    send: Option<String>,
    close: Option<bool>,
    session: Option<String>,
    method: Option<String>,
    path: Option<String>,
    content_type: Option<String>,
    body: Option<String>,
    body_bytes: Option<usize>,
    body_hex: Option<String>,
    body_file: Option<String>,
    file: Option<String>,
}

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// Decodes the catalogue's escapes: `\n \r \t \\ \xNN`.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    out.push(u8::from_str_radix(&text[i + 2..i + 4], 16).unwrap());
                    i += 2;
                }
                other => panic!("unknown escape \\{} in {text:?}", other as char),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Everything the catalogue runs with: the deployment, certificates, request ids.
struct Bench {
    world: World,
    foreign: (PathBuf, PathBuf),
    revoked: (PathBuf, PathBuf),
    expired: (PathBuf, PathBuf),
    pending: String,
    selfie: String,
}

impl Bench {
    fn cert(&self, name: Option<&str>) -> Option<&(PathBuf, PathBuf)> {
        match name.unwrap_or("none") {
            "none" => None,
            "jenkins" => Some(&self.world.jenkins),
            "other" => Some(&self.world.other),
            "foreign" => Some(&self.foreign),
            "revoked" => Some(&self.revoked),
            "expired" => Some(&self.expired),
            other => panic!("unknown certificate {other:?} in the catalogue"),
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{PENDING}", &self.pending)
            .replace("{SELFIE}", &self.selfie)
    }

    fn tls(&self, cert: Option<&(PathBuf, PathBuf)>) -> TlsConnector {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.world.root).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match cert {
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
        TlsConnector::from(Arc::new(config))
    }

    /// Sends `bytes` on a TLS connection to `addr` and reads until `done` says the answer is
    /// complete or the server closes. `None`: the TLS handshake (or the first read) failed.
    async fn exchange(
        &self,
        addr: std::net::SocketAddr,
        cert: Option<&(PathBuf, PathBuf)>,
        before: &[u8],
        bytes: &[u8],
        close: bool,
        done: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut stream = self.tls(cert).connect(name, tcp).await.ok()?;
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        // A login first: its answer is read and dropped.
        if !before.is_empty() {
            stream.write_all(before).await.ok()?;
            while !done(&seen) {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            seen.clear();
        }
        // The server may answer a huge body before reading it all: a write error is no
        // refusal by itself, the answer decides.
        let _ = stream.write_all(bytes).await;
        let _ = stream.flush().await;
        if close {
            let _ = stream.shutdown().await;
        }
        let mut all = Vec::new();
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if done(&all) {
                        break;
                    }
                }
                Err(_) if all.is_empty() => return None,
                Err(_) => break,
            }
        }
        (!all.is_empty()).then_some(all)
    }

    async fn hostapi(&self, case: &Case) -> String {
        let cert = self.cert(case.cert.as_deref());
        let mut login = Vec::new();
        if let Some(who) = &case.login {
            Request::Login(sigil_proto::Login {
                identity: who.clone(),
                password: Password::new(PASSWORD),
            })
            .encode(None, &mut login)
            .unwrap();
        }
        let send = unescape(&self.fill(case.send.as_deref().unwrap()));
        let frames_in = |bytes: &[u8]| {
            let mut decoder = FrameDecoder::new(Direction::Response);
            decoder.feed(bytes).filter(Result::is_ok).count()
        };
        let Some(reply) = self
            .exchange(
                self.world.server().host_api_addr(),
                cert,
                &login,
                &send,
                case.close.unwrap_or(false),
                |bytes| frames_in(bytes) >= 1,
            )
            .await
        else {
            return "TLS_REFUSED".into();
        };
        let mut decoder = FrameDecoder::new(Direction::Response);
        let frame = decoder.feed(&reply).next().expect("a frame").unwrap();
        match Response::decode(&frame).unwrap() {
            Response::Failure(f) => f.code.to_string(),
            other => format!("accepted: {other:?}"),
        }
    }

    /// One HTTP/1.1 request; (status, body as JSON, or Null).
    async fn http(
        &self,
        cert: Option<&(PathBuf, PathBuf)>,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Option<(u16, Value)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        let reply = self
            .exchange(
                self.world.server().https_addr(),
                cert,
                &[],
                &bytes,
                false,
                |_| false,
            )
            .await?;
        let end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&reply[..end]);
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let body = serde_json::from_slice(&reply[end + 4..]).unwrap_or(Value::Null);
        Some((status, body))
    }

    async fn login(&self, who: &str, token: Option<&str>) -> String {
        let body = serde_json::json!({"identity": who, "password": PASSWORD}).to_string();
        let (status, reply) = self
            .http(
                None,
                "POST",
                "/api/v1/login",
                token,
                "application/json",
                body.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(status, 200, "login of {who}: {reply}");
        reply["session"].as_str().unwrap().to_owned()
    }

    async fn session(&self, spec: Option<&str>) -> Option<String> {
        match spec? {
            "forged" => Some("c2lnaWwtZm9yZ2VkLXNlc3Npb24tdG9rZW4tMDAwMDAwMDAwMA".into()),
            "logged_out" => {
                let token = self.login("carol", None).await;
                let (status, _) = self
                    .http(
                        None,
                        "POST",
                        "/api/v1/logout",
                        Some(&token),
                        "application/json",
                        b"{}",
                    )
                    .await
                    .unwrap();
                assert!(status < 300, "logout: {status}");
                Some(token)
            }
            "expired" => {
                // Last used longer ago than the idle timeout (15 minutes): as if it had been
                // left alone that long.
                let token = self.login("carol", None).await;
                let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
                let long_ago = time::OffsetDateTime::now_utc().unix_timestamp_nanos()
                    - 16 * 60 * 1_000_000_000;
                let updated = self
                    .world
                    .state()
                    .store
                    .update_session(&key, None, i64::try_from(long_ago).unwrap())
                    .await
                    .unwrap();
                assert!(updated, "the session to age is gone");
                Some(token)
            }
            names => {
                let mut token = None;
                for who in names.split('+') {
                    let t = self.login(who, token.as_deref()).await;
                    token.get_or_insert(t);
                }
                token
            }
        }
    }

    async fn https(&self, case: &Case) -> String {
        let token = self.session(case.session.as_deref()).await;
        let body = match (&case.body, case.body_bytes) {
            (Some(text), _) => text.clone().into_bytes(),
            (None, Some(n)) => vec![b'a'; n],
            (None, None) => Vec::new(),
        };
        let path = format!("/api/v1{}", self.fill(case.path.as_deref().unwrap()));
        match self
            .http(
                self.cert(case.cert.as_deref()),
                case.method.as_deref().unwrap(),
                &path,
                token.as_deref(),
                case.content_type.as_deref().unwrap_or("application/json"),
                &body,
            )
            .await
        {
            None => "TLS_REFUSED".into(),
            Some((status, body)) if status >= 400 => body["error"]["code"]
                .as_str()
                .map_or_else(|| format!("HTTP {status} {body}"), str::to_owned),
            Some((status, body)) => format!("accepted: {status} {body}"),
        }
    }

    async fn tsa(&self, case: &Case) -> String {
        let body = match (&case.body_hex, &case.body_file) {
            (Some(hex), _) => (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect(),
            (None, Some(file)) => std::fs::read(testdata(file)).unwrap(),
            (None, None) => Vec::new(),
        };
        let content_type = case
            .content_type
            .as_deref()
            .unwrap_or("application/timestamp-query");
        let Some((status, _)) = self
            .http(None, "POST", "/api/v1/timestamp", None, content_type, &body)
            .await
        else {
            return "TLS_REFUSED".into();
        };
        if status != 200 {
            return format!("HTTP {status}");
        }
        // The reply's body is DER, not JSON: ask again for the bytes.
        let reply = self.tsa_reply(&body, content_type).await;
        match pki_status(&reply) {
            Some(0 | 1) => "accepted: a time-stamp was granted".into(),
            Some(n) => format!("PKI_STATUS {n}"),
            None => "HTTP 200 without a TimeStampResp".into(),
        }
    }

    async fn tsa_reply(&self, body: &[u8], content_type: &str) -> Vec<u8> {
        let mut bytes = format!(
            "POST /api/v1/timestamp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        let reply = self
            .exchange(
                self.world.server().https_addr(),
                None,
                &[],
                &bytes,
                false,
                |_| false,
            )
            .await
            .unwrap();
        let end = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        reply[end + 4..].to_vec()
    }

    fn file(&self, case: &Case, dir: &Path) -> String {
        let spec = case.file.as_deref().unwrap();
        let path = match spec.split_once(':') {
            Some(("dir", _)) => {
                let d = dir.join("a-directory");
                std::fs::create_dir_all(&d).unwrap();
                d
            }
            Some(("fifo", _)) => {
                let f = dir.join("a-fifo");
                if !f.exists() {
                    common::run_ok("mkfifo", &[f.to_str().unwrap()]);
                }
                f
            }
            Some(("empty", name)) => {
                std::fs::write(dir.join(name), b"").unwrap();
                dir.join(name)
            }
            Some(("text", name)) => {
                std::fs::write(dir.join(name), b"a text file\n").unwrap();
                dir.join(name)
            }
            Some((source, name)) => {
                std::fs::copy(testdata(source), dir.join(name)).unwrap();
                dir.join(name)
            }
            None => testdata(spec),
        };
        let refusal = match sigil_client::Job::plan(&path, sigil_client::FormatChoice::Auto) {
            Ok(job) => {
                let format = job.format;
                match sigil_client::PreparedJob::prepare(job, HashAlgorithm::Sha256, "release") {
                    Ok(_) => return format!("accepted as {format:?}"),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        if refusal.contains(&case.expect) {
            case.expect.clone()
        } else {
            refusal
        }
    }
}

/// The `status` of a DER `TimeStampResp` (`SEQUENCE { SEQUENCE { INTEGER status ...`).
fn pki_status(der: &[u8]) -> Option<u8> {
    let skip_header = |bytes: &[u8]| -> Option<usize> {
        let len = *bytes.get(1)?;
        Some(if len < 0x80 {
            2
        } else {
            2 + usize::from(len & 0x7f)
        })
    };
    let outer = skip_header(der)?;
    let inner = der.get(outer..)?;
    let status = inner.get(skip_header(inner)?..)?;
    (status.first() == Some(&0x02) && status.get(1) == Some(&0x01))
        .then(|| status.get(2).copied())
        .flatten()
}

/// What must not change: requests, approvals, policies, identities (failed-login counters
/// aside: wrong passwords are what the catalogue sends).
async fn snapshot(state: &AppState, pending: &str) -> String {
    let identities: Vec<String> = state
        .store
        .list_identities()
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            format!(
                "{} enabled={} locked={} roles={:?} cert={} password={}",
                i.name,
                i.enabled,
                i.locked,
                i.roles,
                i.require_client_certificate,
                i.password.is_some()
            )
        })
        .collect();
    let policies = state.store.list_policies().await.unwrap();
    let id = sigil_proto::RequestId::new(pending).unwrap();
    let request = state
        .store
        .get_request(domain_id(&id))
        .await
        .unwrap()
        .unwrap();
    format!(
        "requests={}\nstate={:?} approvals={:?}\npolicies={policies:?}\nidentities={identities:#?}",
        request_count(state).await,
        request.state(),
        request.approvals(),
    )
}

async fn setup() -> Bench {
    let world = world().await;
    let state = world.state();
    let dir = world.dir.path();

    // A client certificate from a CA the server does not know.
    let (fkey, fcert) = (dir.join("foreign.key"), dir.join("foreign.pem"));
    common::run_ok(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            fkey.to_str().unwrap(),
            "-out",
            fcert.to_str().unwrap(),
            "-days",
            "2",
            "-subj",
            "/CN=jenkins",
        ],
    );
    // One the server issued, then revoked.
    let (rcert, rkey, serial) =
        issued_client_certificate(&state, dir, "system-tls-root", "revokee").await;
    certificates::revoke::perform(&state, "test", &serial, RevocationReason::KeyCompromise)
        .await
        .unwrap();

    // A client certificate for jenkins from the server's own CA whose validity has ended
    // (openssl ca with dates in the past; the CA key is taken from the test's vault).
    let expired = expired_certificate(&state, dir, &world.root).await;

    // builder2's request under `two`, approved once by alice; selfie's own request.
    let mut builder = world.logged_in("builder2").await;
    let r = builder
        .upload_hash("two", HashAlgorithm::Sha256, &[0x5a; 32])
        .await;
    let pending = status(&r).id.as_str().to_owned();
    let mut selfie = world.logged_in("selfie").await;
    let r = selfie
        .upload_hash("two", HashAlgorithm::Sha256, &[0x5b; 32])
        .await;
    let selfie_id = status(&r).id.as_str().to_owned();
    drop(state);
    let bench = Bench {
        world,
        foreign: (fcert, fkey),
        revoked: (rcert, rkey),
        expired,
        pending,
        selfie: selfie_id,
    };
    let token = bench.login("alice", None).await;
    let path = format!("/api/v1/requests/{}/approve", bench.pending);
    let (status, body) = bench
        .http(None, "POST", &path, Some(&token), "application/json", b"{}")
        .await
        .unwrap();
    assert_eq!(status, 200, "alice's first approval: {body}");
    bench
}

/// A `tls-client` certificate for `jenkins`, issued by `system-tls-root`, valid in January
/// 2025 only. Returns (certificate, key).
async fn expired_certificate(state: &AppState, dir: &Path, root: &Path) -> (PathBuf, PathBuf) {
    let ca = state
        .store
        .get_ca(&CaName::new("system-tls-root").unwrap())
        .await
        .unwrap()
        .unwrap();
    let ca_key = state
        .vault
        .exportable_key(state.store.as_ref(), ca.key_id)
        .await
        .unwrap();
    let ca_key_file = dir.join("expired-ca.key");
    let pem = sigil_pki::pem::encode("PRIVATE KEY", &ca_key.to_pkcs8_der()).unwrap();
    std::fs::write(&ca_key_file, pem).unwrap();
    let ca_dir = dir.join("expired-ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(ca_dir.join("index.txt"), "").unwrap();
    std::fs::write(ca_dir.join("serial"), "7E01\n").unwrap();
    let config = ca_dir.join("ca.cnf");
    std::fs::write(
        &config,
        format!(
            "[ca]\ndefault_ca = test\n[test]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\n\
             serial = {d}/serial\ndefault_md = sha256\npolicy = any\nemail_in_dn = no\n\
             x509_extensions = client\n[any]\ncommonName = supplied\n[client]\n\
             basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n\
             extendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n",
            d = ca_dir.display()
        ),
    )
    .unwrap();
    let (key, csr) = common::openssl_csr(dir, "jenkins-expired");
    let csr_file = dir.join("jenkins-expired.csr");
    assert_eq!(std::fs::read(&csr_file).unwrap(), csr);
    let cert = dir.join("jenkins-expired.pem");
    common::run_ok(
        "openssl",
        &[
            "ca",
            "-config",
            config.to_str().unwrap(),
            "-batch",
            "-notext",
            "-subj",
            "/CN=jenkins",
            "-startdate",
            "20250101000000Z",
            "-enddate",
            "20250201000000Z",
            "-cert",
            root.to_str().unwrap(),
            "-keyfile",
            ca_key_file.to_str().unwrap(),
            "-in",
            csr_file.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    std::fs::remove_file(&ca_key_file).unwrap();
    // It is refused for its dates only: openssl finds nothing else wrong with it.
    let verify = common::run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            root.to_str().unwrap(),
            cert.to_str().unwrap(),
        ],
    );
    let said = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        said.contains("certificate has expired") && said.matches(" depth lookup:").count() == 1,
        "{said}"
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_input_is_refused_with_its_code_and_changes_nothing() {
    let text = std::fs::read_to_string(testdata("hostile/catalogue.toml")).unwrap();
    let catalogue: Catalogue = toml::from_str(&text).unwrap();
    assert!(catalogue.case.len() >= 60, "{} cases", catalogue.case.len());
    let bench = setup().await;
    let state = bench.world.state();
    let before = snapshot(&state, &bench.pending).await;
    let files = tempfile::tempdir().unwrap();

    let mut wrong = Vec::new();
    for case in &catalogue.case {
        let got = match case.kind.as_str() {
            "hostapi" => bench.hostapi(case).await,
            "https" => bench.https(case).await,
            "tsa" => bench.tsa(case).await,
            "file" => bench.file(case, files.path()),
            other => panic!("{}: unknown kind {other:?}", case.name),
        };
        if got != case.expect {
            wrong.push(format!(
                "[{}] {}: expected {}, got {got}",
                case.group, case.name, case.expect
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        catalogue.case.len(),
        wrong.join("\n")
    );

    // Still up on both interfaces, and nothing changed.
    let mut client = bench.world.logged_in("builder2").await;
    assert!(matches!(
        client.call(Request::Echo).await,
        Response::Echo { .. }
    ));
    let health = bench
        .http(None, "GET", "/api/v1/health", None, "application/json", b"")
        .await
        .unwrap();
    assert_eq!(health.0, 200, "{health:?}");
    assert_eq!(snapshot(&state, &bench.pending).await, before);
    let mut events = Vec::new();
    loop {
        let page = state
            .store
            .read_audit(events.len() as u64 + 1, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let head = state.store.audit_head().await.unwrap();
    sigil_domain::verify_chain(sigil_domain::ChainHead::GENESIS, &events, Some(&head)).unwrap();
}
