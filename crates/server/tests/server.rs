//! The running server: both listeners on ephemeral loopback ports with real TLS, client
//! certificates required on the Host API and checked against CRLs, the listener chain swapped
//! live, graceful shutdown, no clear private key in the data directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sigil_domain::{CaName, CertProfile, Interface, RevocationReason};
use sigil_server::service::pki::{IssueArgs, KeySource, NewCaArgs};
use sigil_server::service::{cas, certificates, listeners};
use sigil_server::{MasterKeySource, RunningServer};

/// Issues a `tls-client` certificate for an openssl-made key; returns (cert path, key path,
/// serial).
async fn client_certificate(
    server: &RunningServer,
    dir: &Path,
    issuer: &str,
    cn: &str,
) -> (PathBuf, PathBuf, sigil_domain::SerialNumber) {
    sigil_testkit::hostapi::issued_client_certificate(server.state(), dir, issuer, cn).await
}

/// A TLS 1.2 handshake: the server checks the client certificate before its Finished, so
/// s_client's exit status tells whether the server accepted it.
fn handshake_tls12(
    server: &RunningServer,
    root: &Path,
    cert_key: Option<(&Path, &Path)>,
) -> (bool, String) {
    let (ok, out, err) = common::s_client(
        server.host_api_addr(),
        root,
        cert_key,
        &["-tls1_2", "-brief"],
        b"",
    );
    (ok, format!("{out}\n{err}"))
}

/// `ECHO` over TLS 1.3 with openssl s_client; returns stdout (the reply, if any) and stderr.
/// The server closes the connection after its (short, in these tests) idle timeout.
fn echo(server: &RunningServer, root: &Path, cert_key: Option<(&Path, &Path)>) -> (String, String) {
    let (_, out, err) = common::s_client(
        server.host_api_addr(),
        root,
        cert_key,
        &["-tls1_3", "-quiet"],
        b"[AOECHO;AG1;]",
    );
    (out, err)
}

/// The test configuration with a short idle timeout, so that s_client's wait for the server
/// to close ends soon.
fn short_idle(data: &Path) -> sigil_server::ServerConfig {
    let mut config = common::config(data);
    config.idle_timeout = std::time::Duration::from_secs(2);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_api_requires_a_client_certificate_from_a_sigil_ca_and_honours_revocation() {
    let (dir, data, report) = common::deployment().await;
    let server = sigil_server::start(short_idle(&data)).await.unwrap();
    let root = report.root_ca.clone();

    // No client certificate: refused.
    let (ok, text) = handshake_tls12(&server, &root, None);
    assert!(
        !ok,
        "handshake without a client certificate succeeded:\n{text}"
    );

    // A certificate from the System TLS CA Root: accepted, over TLS 1.3 and 1.2.
    let (cert, key, serial) =
        client_certificate(&server, dir.path(), "system-tls-root", "jenkins").await;
    let (ok, text) = handshake_tls12(&server, &root, Some((&cert, &key)));
    assert!(ok, "{text}");
    assert!(text.contains("CONNECTION ESTABLISHED"), "{text}");
    let (ok, out, err) = common::s_client(
        server.host_api_addr(),
        &root,
        Some((&cert, &key)),
        &["-tls1_3", "-brief"],
        b"",
    );
    assert!(ok && err.contains("TLSv1.3"), "{out}\n{err}");

    // ECHO over TLS 1.3, as a raw client does it.
    let (out, err) = echo(&server, &root, Some((&cert, &key)));
    assert!(out.starts_with("[AOECHO;"), "{out}\n{err}");
    assert!(out.contains("ANY;") && out.contains("AG1;"), "{out}");
    let (out, err) = echo(&server, &root, None);
    assert!(
        !out.contains("AOECHO"),
        "answered without a client certificate: {out}"
    );
    assert!(err.contains("alert"), "{err}");

    // A self-signed certificate from outside: refused.
    let stranger_key = dir.path().join("stranger.key");
    let stranger = dir.path().join("stranger.pem");
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
            stranger_key.to_str().unwrap(),
            "-subj",
            "/CN=jenkins",
            "-days",
            "2",
            "-out",
            stranger.to_str().unwrap(),
        ],
    );
    let (ok, text) = handshake_tls12(&server, &root, Some((&stranger, &stranger_key)));
    assert!(!ok, "a certificate from another CA was accepted:\n{text}");

    // Revoked: refused from the next handshake on, and listed in the CRL.
    certificates::revoke::perform(
        server.state(),
        "test",
        &serial,
        RevocationReason::KeyCompromise,
    )
    .await
    .unwrap();
    let (ok, text) = handshake_tls12(&server, &root, Some((&cert, &key)));
    assert!(!ok, "a revoked certificate was accepted:\n{text}");
    let (out, err) = echo(&server, &root, Some((&cert, &key)));
    assert!(
        !out.contains("AOECHO"),
        "answered a revoked certificate: {out}"
    );
    assert!(err.contains("alert"), "{err}");
    let again = certificates::revoke::perform(
        server.state(),
        "test",
        &serial,
        RevocationReason::Superseded,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(again.contains("already revoked"), "{again}");

    let crl = cas::crl::perform(
        server.state(),
        "test",
        &CaName::new("system-tls-root").unwrap(),
    )
    .await
    .unwrap();
    let crl_path = dir.path().join("root.crl");
    std::fs::write(&crl_path, &crl.pem).unwrap();
    let out = common::run(
        "openssl",
        &[
            "crl",
            "-in",
            crl_path.to_str().unwrap(),
            "-CAfile",
            root.to_str().unwrap(),
            "-noout",
            "-text",
        ],
    );
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verify OK"), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    let leaf = dir.path().join("leaf.pem");
    common::run_ok(
        "openssl",
        &[
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-out",
            leaf.to_str().unwrap(),
        ],
    );
    let out = common::run(
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            root.to_str().unwrap(),
            "-CRLfile",
            crl_path.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revoked")
            || String::from_utf8_lossy(&out.stderr).contains("revoked")
    );

    // A CA container created while the server runs is a client CA from then on.
    cas::create::perform(
        server.state(),
        "test",
        NewCaArgs {
            name: CaName::new("build-clients").unwrap(),
            key_algorithm: sigil_keys::KeyAlgorithm::EcdsaP256,
            subject: "CN=Build Clients CA".into(),
            validity_days: 365,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            parent: None,
            path_len: Some(0),
        },
    )
    .await
    .unwrap();
    let (cert3, key3, _) =
        client_certificate(&server, dir.path(), "build-clients", "builder").await;
    let (ok, text) = handshake_tls12(&server, &root, Some((&cert3, &key3)));
    assert!(ok, "{text}");

    // Another client certificate of the same CA still works.
    let (cert2, key2, _) =
        client_certificate(&server, dir.path(), "system-tls-root", "other").await;
    let (ok, text) = handshake_tls12(&server, &root, Some((&cert2, &key2)));
    assert!(ok, "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_offers_h2_and_takes_clients_without_a_certificate() {
    let (_dir, data, report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let (ok, out, err) = common::s_client(
        server.https_addr(),
        &report.root_ca,
        None,
        &["-alpn", "h2,http/1.1"],
        b"",
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_listener_chain_takes_effect_without_a_restart() {
    let (dir, data, report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let state = server.state();
    let csr = listeners::csr::perform(
        state,
        "test",
        Interface::Https,
        Some("CN=rotated.example"),
        &["DNS:localhost".into(), "DNS:rotated.example".into()],
    )
    .await
    .unwrap();
    let issued = certificates::issue::perform(
        state,
        "test",
        IssueArgs {
            issuer: CaName::new("system-tls-root").unwrap(),
            profile: CertProfile::TlsServer,
            subject: None,
            sans: vec![],
            validity_days: 90,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Csr(csr.csr_pem.clone().into_bytes()),
        },
    )
    .await
    .unwrap();

    // A chain for another key is refused and changes nothing.
    let wrong = listeners::load_chain::perform(
        state,
        "test",
        None,
        Interface::Https,
        sigil_domain::KeyId::generate(&mut rand::rng()),
        issued.chain_pem().unwrap().as_bytes(),
    )
    .await;
    assert!(wrong.is_err());

    listeners::load_chain::perform(
        state,
        "test",
        None,
        Interface::Https,
        csr.key_id,
        issued.chain_pem().unwrap().as_bytes(),
    )
    .await
    .unwrap();
    let (ok, out, err) = common::s_client(server.https_addr(), &report.root_ca, None, &[], b"");
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("rotated.example"),
        "the new chain is not served:\n{out}"
    );
    // The Host API keeps its own chain.
    let (cert, key, _) =
        client_certificate(&server, dir.path(), "system-tls-root", "jenkins").await;
    let (_, out, _) = common::s_client(
        server.host_api_addr(),
        &report.root_ca,
        Some((&cert, &key)),
        &[],
        b"",
    );
    assert!(!out.contains("rotated.example"), "{out}");
    server.shutdown().await;

    // The chain is stored: a restart serves it too.
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let (ok, out, _) = common::s_client(server.https_addr(), &report.root_ca, None, &[], b"");
    assert!(ok && out.contains("rotated.example"), "{out}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_both_listeners() {
    let (_dir, data, _report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let (host_api, https) = (server.host_api_addr(), server.https_addr());
    assert_ne!(host_api.port(), 0);
    assert_ne!(https.port(), 0);
    // An idle HTTPS connection does not hold shutdown up.
    let _idle = tokio::net::TcpStream::connect(https).await.unwrap();
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(host_api).await.is_err());
    assert!(tokio::net::TcpStream::connect(https).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_sealed_deployment_needs_its_components() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = common::options(&data);
    options.master_key = MasterKeySource::Components {
        threshold: 2,
        count: 3,
    };
    let report = sigil_server::init(&options).await.unwrap();
    let err = sigil_server::start(common::config(&data))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("key components"), "{err}");

    let config = common::config(&data);
    let one = vec![report.key_components[0].text.clone()];
    assert!(
        sigil_server::server::unseal_with_components(&config, &one)
            .await
            .is_err()
    );
    let two = vec![
        report.key_components[2].text.clone(),
        report.key_components[0].text.clone(),
    ];
    let master = sigil_server::server::unseal_with_components(&config, &two)
        .await
        .unwrap();
    let server = sigil_server::server::start_with_master_key(config, master)
        .await
        .unwrap();
    let (ok, out, err) =
        common::s_client(server.https_addr(), &report.root_ca, None, &["-brief"], b"");
    assert!(ok, "{out}\n{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_holds_no_clear_private_key() {
    let (_dir, data, _report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let state = server.state().clone();
    // A CA under the root, and a code-signing key Sigil generates.
    let ca = cas::create::perform(
        &state,
        "test",
        NewCaArgs {
            name: CaName::new("code-ca").unwrap(),
            key_algorithm: sigil_keys::KeyAlgorithm::EcdsaP384,
            subject: "CN=Code CA".into(),
            validity_days: 365,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            parent: Some(CaName::new("system-tls-root").unwrap()),
            path_len: Some(0),
        },
    )
    .await
    .unwrap();
    certificates::issue::perform(
        &state,
        "test",
        IssueArgs {
            issuer: ca.name.clone(),
            profile: CertProfile::CodeSigning,
            subject: Some("CN=release".into()),
            sans: vec![],
            validity_days: 30,
            key_backend: sigil_domain::SOFTWARE_BACKEND.into(),
            key: KeySource::Generate(sigil_keys::KeyAlgorithm::Rsa2048),
        },
    )
    .await
    .unwrap();
    let mut secrets = Vec::new();
    for sealed in state.store.list_sealed_keys().await.unwrap() {
        let key = state.vault.open_exportable(&sealed).unwrap();
        secrets.push((key.to_pkcs8_der().to_vec(), sealed.public_key_der.clone()));
    }
    assert_eq!(
        secrets.len(),
        4,
        "root, listener, code CA, code-signing key"
    );
    drop(state);
    server.shutdown().await;

    // Every 32-byte window of every file in the data directory.
    const W: usize = 32;
    let mut windows = HashSet::new();
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                // The store may still be removing its -wal/-shm files after shutdown.
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                for window in bytes.windows(W) {
                    windows.insert(window.to_vec());
                }
            }
        }
    }
    // No window of a private key that is not public-key material may appear anywhere.
    for (pkcs8, public) in &secrets {
        let public: HashSet<&[u8]> = public.windows(W).collect();
        let private: Vec<&[u8]> = pkcs8.windows(W).filter(|w| !public.contains(w)).collect();
        assert!(!private.is_empty());
        for window in private {
            assert!(
                !windows.contains(window),
                "clear private key bytes found in the data directory"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_an_open_host_api_connection_after_its_answer() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    let (dir, data, report) = common::deployment().await;
    let server = sigil_server::start(common::config(&data)).await.unwrap();
    let (cert, key, _) =
        client_certificate(&server, dir.path(), "system-tls-root", "jenkins").await;
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-tls1_3",
            "-servername",
            "localhost",
            "-verify_return_error",
        ])
        .arg("-connect")
        .arg(server.host_api_addr().to_string())
        .arg("-CAfile")
        .arg(&report.root_ca)
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Keep stdin open: the client never closes; only the server's shutdown ends the session.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"[AOECHO;AG7;]").unwrap();
    stdin.flush().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (answered_tx, answered) = tokio::sync::oneshot::channel();
    let reader = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut answered_tx = Some(answered_tx);
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.contains(&b']')
                && let Some(tx) = answered_tx.take()
            {
                let _ = tx.send(());
            }
        }
        out
    });
    // The answer arrived; the connection is open and idle (its idle timeout is minutes).
    tokio::time::timeout(std::time::Duration::from_secs(60), answered)
        .await
        .expect("no ECHO answer")
        .unwrap();
    server.shutdown().await;
    // The server closed the connection: the client's output ends, with the ECHO answer in it.
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("the connection stayed open after shutdown")
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("[AOECHO;") && out.contains("AG7;"), "{out}");
    drop(stdin);
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_serves_at_most_max_connections() {
    let (dir, data, report) = common::deployment().await;
    let mut config = short_idle(&data);
    config.max_connections = 2;
    let server = sigil_server::start(config).await.unwrap();
    let root = report.root_ca.clone();
    let (cert, key, _) =
        client_certificate(&server, dir.path(), "system-tls-root", "jenkins").await;

    // Two clients that connected and have not finished their handshake hold both slots.
    let first = std::net::TcpStream::connect(server.host_api_addr()).unwrap();
    let second = std::net::TcpStream::connect(server.host_api_addr()).unwrap();
    let held = |mut stream: &std::net::TcpStream| {
        use std::io::Read;
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        // A held connection waits for its ClientHello: no EOF.
        matches!(stream.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
    };
    assert!(held(&first) && held(&second));

    // A third client is closed at once, before any TLS.
    let (out, err) = echo(&server, &root, Some((&cert, &key)));
    assert!(!out.contains("AOECHO"), "{out}\n{err}");

    // One slot freed: a client is served again (the server notices the close asynchronously).
    drop(first);
    let mut served = String::new();
    for _ in 0..20 {
        let (out, _) = echo(&server, &root, Some((&cert, &key)));
        if out.contains("[AOECHO;") {
            served = out;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        served.contains("AG1;"),
        "no ECHO answer after a slot was freed"
    );
    drop(second);
    server.shutdown().await;
}
