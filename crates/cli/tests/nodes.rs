//! Two Sigil nodes on one PostgreSQL database behind Debian's HAProxy in TCP mode (mutual TLS
//! ends at the nodes): the first node made by `sigil init --database` (through the quickstart
//! provisioning, for its demo identities), the second by `sigil init --join`; both run as
//! `sigil server` processes. Node B joins with its own name and gets its own listener
//! certificate, checked with `openssl s_client`, `curl`-free rustls clients (`sigil sign`) and
//! through HAProxy. Needs `SIGIL_TEST_PG_URL` (set by `scripts/test.sh`), `haproxy` and
//! `openssl`: without any of them the test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::{args, p, sigil, text};
use sigil_domain::{PasswordParams, RequestId, RequestStatus};

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A fresh database on the test cluster, named after the process and `suffix`.
fn database(suffix: &str) -> String {
    let base = std::env::var("SIGIL_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "SIGIL_TEST_PG_URL is not set: this test needs a PostgreSQL server it may create \
             databases on (scripts/test.sh starts one)"
        )
    });
    let name = format!("sigil_nodes_{}_{suffix}", std::process::id());
    let out = Command::new("psql")
        .args([
            base.as_str(),
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql (Debian's postgresql-client) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// Waits (without a deadline that could fail on a slow machine, but not for ever) until
/// `addr` accepts connections.
fn wait_listening(addr: SocketAddr, child: &mut Child, log: &Path) {
    for _ in 0..3000 {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "process exited with {status} before listening on {addr}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {addr}");
}

struct Node {
    child: Child,
    host_api: SocketAddr,
    https: SocketAddr,
}

fn start_node(data: &Path) -> Node {
    let config = sigil_server::ServerConfig::load(&data.join("sigil.toml")).unwrap();
    let log = data.with_extension("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["server", "--data", p(data)])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(data.with_extension("err")).unwrap())
        .spawn()
        .unwrap();
    wait_listening(config.host_api, &mut child, &data.with_extension("err"));
    wait_listening(config.https, &mut child, &data.with_extension("err"));
    Node {
        child,
        host_api: config.host_api,
        https: config.https,
    }
}

/// A copy of `profile` pointing at the given addresses.
fn profile_for(profile: &Path, name: &str, host_api: SocketAddr, https: SocketAddr) -> PathBuf {
    let text = std::fs::read_to_string(profile).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("host_api") {
                format!("host_api = \"{host_api}\"")
            } else if line.starts_with("https") {
                format!("https = \"https://{https}\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    let path = profile.with_file_name(format!("{name}.toml"));
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path
}

/// Sets `server_name = NAME` (the TLS name the client checks) in a client profile.
fn with_server_name(profile: &Path, name: &str) {
    let text = std::fs::read_to_string(profile).unwrap();
    assert!(text.contains("\nserver_name = "), "{text}");
    let text: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("server_name") {
                format!("server_name = \"{name}\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(profile, text.join("\n") + "\n").unwrap();
}

/// The listener certificate `addr` presents for the TLS name `name`, when it verifies against
/// `root` for that name (`openssl s_client -verify_hostname`): its text (`openssl x509
/// -text`), or `None` when the handshake or the verification fails.
fn served_certificate(root: &Path, addr: SocketAddr, name: &str) -> Option<String> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            name,
            "-verify_hostname",
            name,
            "-CAfile",
            p(root),
            "-verify_return_error",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("openssl must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains("Verify return code: 0 (ok)") {
        return None;
    }
    let begin = stdout.find("-----BEGIN CERTIFICATE-----")?;
    let end = stdout.find("-----END CERTIFICATE-----")? + "-----END CERTIFICATE-----".len();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    x509.stdin
        .take()
        .unwrap()
        .write_all(stdout[begin..end].as_bytes())
        .unwrap();
    let out = x509.wait_with_output().unwrap();
    assert!(out.status.success());
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `curl` against an HTTPS API (the test's independent HTTP client).
fn curl(
    root: &Path,
    method: &str,
    url: String,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--cacert",
        p(root),
        "-X",
        method,
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data", body]);
    }
    let out = cmd.arg(url).output().expect("curl must be installed");
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = all.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// HAProxy in TCP mode in front of `nodes`. The Host API is balanced `first` (every client on
/// the first live node), so the clients are on node A when it is killed and must move to B;
/// HTTPS round-robin.
fn haproxy(dir: &Path, host_api: SocketAddr, https: SocketAddr, nodes: &[&Node]) -> Child {
    let servers = |f: fn(&Node) -> SocketAddr| {
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("  server n{i} {} check inter 200ms fall 1 rise 1\n", f(n)))
            .collect::<String>()
    };
    let config = format!(
        "global\n  maxconn 512\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 120s\n  \
         timeout server 120s\n  retries 3\n  option redispatch\n\
         frontend host_api\n  bind {host_api}\n  default_backend host_api_nodes\n\
         backend host_api_nodes\n  balance first\n{}\
         frontend https\n  bind {https}\n  default_backend https_nodes\n\
         backend https_nodes\n  balance roundrobin\n{}",
        servers(|n| n.host_api),
        servers(|n| n.https),
    );
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, config).unwrap();
    let log = dir.join("haproxy.log");
    let mut child = Command::new("haproxy")
        .args(["-db", "-f", p(&file)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("haproxy (Debian's haproxy) must be installed");
    wait_listening(host_api, &mut child, &log);
    wait_listening(https, &mut child, &log);
    child
}

/// Every audit event of the deployment in `url`.
async fn store_events(url: &str) -> Vec<sigil_domain::AuditEvent> {
    let store = sigil_store::open(url).await.unwrap();
    store.read_audit(0, 10_000).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_haproxy_share_sessions_requests_and_survive_a_kill() {
    let url = database("kill");
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let (a_data, b_data) = (base.join("node-a"), base.join("node-b"));

    // Node A: a deployment on the empty database (with the quickstart's demo identities).
    let mut options = sigil_server::InitOptions::new(&a_data);
    options.password_params = PasswordParams::INSECURE_FOR_TESTS;
    options.database = url.clone();
    options.host_api = free_port();
    options.https = free_port();
    // The balancer's name: the deployment's certificate carries it, and so does B's own.
    options.hostnames = vec!["sigil.test".into()];
    let report = sigil_server::quickstart::provision_with(&options)
        .await
        .unwrap();

    // `init` refuses the database now that it holds a deployment.
    let out = sigil(
        args(&["init", "--data", p(&base.join("other")), "--database", &url]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("already holds a Sigil deployment"),
        "{}",
        text(&out)
    );
    // A password in the URL is refused before anything is done.
    let with_password = url.replacen("postgres://postgres@", "postgres://postgres:secret@", 1);
    let out = sigil(
        args(&[
            "init",
            "--data",
            p(&base.join("other")),
            "--database",
            &with_password,
        ]),
        base,
    )
    .await;
    assert!(text(&out).contains("PGPASSWORD"), "{}", text(&out));
    assert!(!base.join("other").exists());

    // Node B joins with its own name, so it gets its own listener certificate.
    let (b_host_api, b_https) = (free_port(), free_port());
    let out = sigil(
        args(&[
            "init",
            "--join",
            "--database",
            &url,
            "--data",
            p(&b_data),
            "--master-key-file",
            p(&a_data.join("master.key")),
            "--host-api",
            &b_host_api.to_string(),
            "--https",
            &b_https.to_string(),
            "--hostname",
            "node-b.sigil.test",
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("this node's own, for DNS:node-b.sigil.test"),
        "{}",
        text(&out)
    );
    let node_a = start_node(&a_data);
    let mut node_b = start_node(&b_data);
    let (lb_host_api, lb_https) = (free_port(), free_port());
    let mut lb = haproxy(base, lb_host_api, lb_https, &[&node_a, &node_b]);
    let mut node_a = node_a;
    let root = report.root_ca.clone();

    // B serves its own certificate: B's name and the balancer's, chaining to ca/root.pem.
    let b_cert = served_certificate(&root, node_b.https, "node-b.sigil.test")
        .expect("B's certificate verifies for B's name");
    for name in ["DNS:node-b.sigil.test", "DNS:sigil.test", "DNS:localhost"] {
        assert!(b_cert.contains(name), "{name} missing:\n{b_cert}");
    }
    assert!(
        served_certificate(&root, node_b.https, "sigil.test").is_some(),
        "B's certificate verifies for the balancer's name"
    );
    // A keeps the deployment's certificate, which does not carry B's name.
    let a_cert = served_certificate(&root, node_a.https, "sigil.test")
        .expect("A's certificate verifies for the balancer's name");
    assert!(!a_cert.contains("node-b.sigil.test"), "{a_cert}");
    assert!(served_certificate(&root, node_a.https, "node-b.sigil.test").is_none());
    // Through HAProxy (HTTPS round-robin) clients verify both nodes by the balancer's name.
    let fingerprints: std::collections::BTreeSet<String> = (0..4)
        .map(|_| {
            let cert = served_certificate(&root, lb_https, "sigil.test")
                .expect("every node behind the balancer verifies for its name");
            cert.lines()
                .find(|l| l.contains("Fingerprint="))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(fingerprints.len(), 2, "{fingerprints:?}");
    // `sigil listener load-chain --node` replaces B's own HTTPS chain (through A); B follows
    // within its follow interval, A keeps the deployment's.
    let b_node = sigil_server::ServerConfig::load(&b_data.join("sigil.toml"))
        .unwrap()
        .node_id
        .unwrap();
    let admin = report.admin_profile.clone();
    let out = sigil(
        args(&[
            "listener",
            "--profile",
            p(&admin),
            "csr",
            "https",
            "--san",
            "node-b.sigil.test",
            "--san",
            "sigil.test",
            "--san",
            "localhost",
            "--out",
            p(&base.join("b.csr")),
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let key_id = text(&out)
        .split("key id: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = sigil(
        args(&[
            "cert",
            "--profile",
            p(&admin),
            "issue",
            "--issuer",
            "system-tls-root",
            "--profile-name",
            "tls-server",
            "--subject",
            "CN=node-b.sigil.test,O=Renewed",
            "--validity-days",
            "30",
            "--csr",
            p(&base.join("b.csr")),
            "--out",
            p(&base.join("b-chain.pem")),
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sigil(
        args(&[
            "listener",
            "--profile",
            p(&admin),
            "load-chain",
            "https",
            "--key-id",
            &key_id,
            "--chain",
            p(&base.join("b-chain.pem")),
            "--node",
            &b_node,
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let renewed = (0..600)
        .find_map(|_| {
            let cert = served_certificate(&root, node_b.https, "node-b.sigil.test")?;
            if cert.contains("O=Renewed") || cert.contains("O = Renewed") {
                return Some(cert);
            }
            std::thread::sleep(Duration::from_millis(100));
            None
        })
        .expect("B serves its renewed chain");
    assert!(renewed.contains("DNS:sigil.test"), "{renewed}");
    let a_now = served_certificate(&root, node_a.https, "sigil.test").unwrap();
    assert_eq!(a_now, a_cert, "A keeps the deployment's certificate");

    // The issuance is audited: the certificate, B's chain for each listener, the join.
    let events = store_events(&url).await;
    let chains: Vec<_> = events
        .iter()
        .filter(|e| e.action == "listener.chain" && e.details.contains_key("node"))
        .collect();
    assert_eq!(chains.len(), 3, "{chains:?}");
    let join = events.iter().find(|e| e.action == "node.join").unwrap();
    assert_eq!(
        join.object.as_deref(),
        chains[0].details.get("node").map(String::as_str)
    );
    assert!(
        join.details["names"].contains("DNS:node-b.sigil.test"),
        "{join:?}"
    );

    // An HTTPS session made on A works on B; a logout on A ends it on B.
    let login = serde_json::json!({
        "identity": "approver",
        "password": report.approver_password.as_str(),
    })
    .to_string();
    let (code, body) = curl(
        &root,
        "POST",
        format!("https://localhost:{}/api/v1/login", node_a.https.port()),
        None,
        Some(&login),
    );
    assert_eq!(code, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = token["session"].as_str().unwrap().to_owned();
    let session_on = |node: &Node| {
        curl(
            &root,
            "GET",
            format!("https://localhost:{}/api/v1/session", node.https.port()),
            Some(&token),
            None,
        )
    };
    let (code, body) = session_on(&node_b);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("approver"), "{body}");
    let (code, body) = curl(
        &root,
        "POST",
        format!("https://localhost:{}/api/v1/logout", node_a.https.port()),
        Some(&token),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = session_on(&node_b);
    assert_eq!(code, 401, "{body}");

    // A request submitted through A is approved through B and completes.
    let jenkins_a = profile_for(
        &report.jenkins_profile,
        "jenkins-a",
        node_a.host_api,
        node_a.https,
    );
    let approver_b = profile_for(
        &report.approver_profile,
        "approver-b",
        node_b.host_api,
        node_b.https,
    );
    let jenkins_lb = profile_for(&report.jenkins_profile, "jenkins-lb", lb_host_api, lb_https);
    with_server_name(&jenkins_lb, "sigil.test");
    // A client connecting to B directly by B's name verifies B's Host API listener; the same
    // name on A is refused (A's certificate does not carry it).
    let jenkins_b = profile_for(
        &report.jenkins_profile,
        "jenkins-b",
        node_b.host_api,
        node_b.https,
    );
    with_server_name(&jenkins_b, "node-b.sigil.test");
    let wrong_name = profile_for(
        &report.jenkins_profile,
        "jenkins-a-as-b",
        node_a.host_api,
        node_a.https,
    );
    with_server_name(&wrong_name, "node-b.sigil.test");
    std::fs::write(base.join("b.txt"), "signed through B by B's name\n").unwrap();
    for (profile, code) in [(&jenkins_b, Some(0)), (&wrong_name, Some(7))] {
        let out = sigil(
            args(&[
                "sign",
                "--profile",
                p(profile),
                "--policy",
                "release",
                "b.txt",
            ]),
            base,
        )
        .await;
        assert_eq!(out.status.code(), code, "{}", text(&out));
    }
    assert!(base.join("b.txt.sig").is_file());
    std::fs::write(base.join("a.txt"), "submitted on A, approved on B\n").unwrap();
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&jenkins_a),
            "--policy",
            "release-approved",
            "--wait",
            "1s",
            "--json",
            "a.txt",
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = line["request_id"].as_str().unwrap().to_owned();
    let out = sigil(
        args(&["request", "approve", "--profile", p(&approver_b), &id]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = sigil(
        args(&[
            "sign",
            "--profile",
            p(&jenkins_a),
            "--policy",
            "release-approved",
            "--request-id",
            &id,
            "a.txt",
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(base.join("a.txt.sig").is_file());

    // A client waits (long polling) through HAProxy, so on node A, for an approval.
    std::fs::write(base.join("w.txt"), "waiting while its node dies\n").unwrap();
    let waiter = {
        let (profile, base) = (jenkins_lb.clone(), base.to_path_buf());
        tokio::spawn(async move {
            sigil(
                args(&[
                    "sign",
                    "--profile",
                    p(&profile),
                    "--policy",
                    "release-approved",
                    "--wait",
                    "300s",
                    "--json",
                    "w.txt",
                ]),
                &base,
            )
            .await
        })
    };
    let store = sigil_store::open(&url).await.unwrap();
    let pending = sigil_domain::RequestFilter {
        state: Some(RequestStatus::Pending),
        ..Default::default()
    };
    let waiting_id = loop {
        if let Some(r) = store.list_requests(&pending).await.unwrap().first() {
            break r.id().to_string();
        }
        assert!(!waiter.is_finished(), "the waiting client ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // CI clients sign continuously through HAProxy while node A is SIGKILLed.
    let clients = 3;
    let per_client = 8;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (profile, base) = (jenkins_lb.clone(), base.to_path_buf());
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut failed = Vec::new();
            let mut resumed = 0;
            for i in 0..per_client {
                let file = format!("c{c}-{i}.txt");
                std::fs::write(base.join(&file), format!("client {c} file {i}\n")).unwrap();
                let out = sigil(
                    args(&[
                        "sign",
                        "--profile",
                        p(&profile),
                        "--policy",
                        "release",
                        "--json",
                        &file,
                    ]),
                    &base,
                )
                .await;
                if String::from_utf8_lossy(&out.stderr).contains("connecting again") {
                    resumed += 1;
                }
                if out.status.code() == Some(0) {
                    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    acknowledged.push((file, line["request_id"].as_str().unwrap().to_owned()));
                } else {
                    failed.push((file, text(&out)));
                }
            }
            (acknowledged, failed, resumed)
        }));
    }
    // Kill A once the clients are under way (after the first acknowledged signatures).
    for _ in 0..3000 {
        if std::fs::read_dir(base)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with("-1.txt.sig"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node_a.child.kill().unwrap(); // SIGKILL
    node_a.child.wait().unwrap();
    // The waiting client connects again (to B) and resumes waiting by request id; the
    // approval through B reaches it.
    let out = sigil(
        args(&[
            "request",
            "approve",
            "--profile",
            p(&approver_b),
            &waiting_id,
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = waiter.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connecting again"),
        "{}",
        text(&out)
    );
    assert!(base.join("w.txt.sig").is_file());

    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    let mut resumed = 0;
    for t in tasks {
        let (a, f, r) = t.await.unwrap();
        acknowledged.extend(a);
        failed.extend(f);
        resumed += r;
    }
    // How many invocations connected again depends on timing, so it is reported, not asserted.
    eprintln!(
        "{} signatures acknowledged, {} invocations failed, {resumed} connected again while a node died",
        acknowledged.len(),
        failed.len()
    );
    for (file, why) in &failed {
        eprintln!("failed {file}: {why}");
    }
    // The clients connected again through HAProxy and resumed: no file failed.
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(acknowledged.len(), clients * per_client);

    // Every acknowledged request survives: signed in the database and retrievable by id
    // through HAProxy (only B is left).
    for (file, id) in &acknowledged {
        let request = store
            .get_request(RequestId(id.parse().unwrap()))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged request {id} ({file}) is gone"));
        assert_eq!(request.status(), RequestStatus::Signed, "{id}");
        std::fs::remove_file(base.join(format!("{file}.sig"))).unwrap();
        let out = sigil(
            args(&[
                "sign",
                "--profile",
                p(&jenkins_lb),
                "--policy",
                "release",
                "--request-id",
                id,
                file,
            ]),
            base,
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(base.join(format!("{file}.sig")).is_file());
    }

    // No upload was stored twice although some were sent again after the kill: one request
    // per file (a.txt, w.txt and the clients').
    let all = store
        .list_requests(&sigil_domain::RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3 + clients * per_client);

    // The audit chain is one intact line across both nodes.
    let out = sigil(args(&["audit", "verify", "--data", p(&b_data)]), base).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    lb.kill().unwrap();
    lb.wait().unwrap();
    node_b.child.kill().unwrap();
    node_b.child.wait().unwrap();
}

/// A deployment whose master key is split into components: a node joining with its own name
/// needs M components (the TLS CA's key is sealed under the master key); off a terminal
/// without them it is refused and nothing is written; with them it gets its own certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_with_a_name_needs_the_key_components() {
    let url = database("components");
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let out = sigil(
        args(&[
            "init",
            "--data",
            p(&base.join("node-a")),
            "--database",
            &url,
            "--components",
            "2/3",
            "--hostname",
            "sigil.test",
        ]),
        base,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let components: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| l.split_once("): ").map(|(_, c)| c.trim()))
        .filter(|c| c.starts_with("SKC1-"))
        .enumerate()
        .map(|(i, c)| {
            let file = base.join(format!("component{i}"));
            std::fs::write(&file, c).unwrap();
            file
        })
        .collect();
    assert_eq!(components.len(), 3, "{stdout}");

    let join = |extra: Vec<String>| {
        let mut a = args(&[
            "init",
            "--join",
            "--data",
            p(&base.join("node-c")),
            "--database",
            &url,
            "--hostname",
            "node-c.sigil.test",
        ]);
        a.extend(extra);
        sigil(a, base)
    };
    // Off a terminal, without components: refused, nothing written.
    let out = join(Vec::new()).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--component-file"), "{}", text(&out));
    assert!(!base.join("node-c").exists());

    let files: Vec<String> = components[1..]
        .iter()
        .flat_map(|f| ["--component-file".to_owned(), p(f).to_owned()])
        .collect();
    let out = join(files).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("this node's own, for DNS:node-c.sigil.test, DNS:localhost"),
        "{}",
        text(&out)
    );
    assert!(!base.join("node-c/master.key").exists());

    // The chain is stored under the node id of the node's sigil.toml, for both listeners, and
    // its certificate carries the node's name and the balancer's.
    let config = sigil_server::ServerConfig::load(&base.join("node-c/sigil.toml")).unwrap();
    let node = config.node_id.expect("init --join writes a node id");
    let store = sigil_store::open(&url).await.unwrap();
    for interface in sigil_domain::Interface::ALL {
        let chain = store
            .get_node_listener_chain(&node, *interface)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no {interface} chain for node {node}"));
        let leaf =
            <sigil_pki::x509_cert::Certificate as sigil_pki::x509_cert::der::Decode>::from_der(
                &chain.certificates[0],
            )
            .unwrap();
        let names: Vec<String> = sigil_pki::certificate_sans(&leaf)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        for name in ["DNS:node-c.sigil.test", "DNS:sigil.test", "IP:127.0.0.1"] {
            assert!(names.contains(&name.to_owned()), "{name}: {names:?}");
        }
    }
}
