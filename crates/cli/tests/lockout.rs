//! Lockouts that cannot be turned into a denial of service, and the break-glass unlock
//! (issue 19): real server on 127.0.0.1, real TLS, real failed logins, the real `sigil` binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sigil_domain::PasswordParams;
use sigil_server::paths::DataLayout;
use sigil_server::{InitOptions, ServerConfig};
use sigil_testkit::world::text;

/// A deployment made by `sigil init` (development key file), its administrators' passwords.
struct Deployment {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    root_ca: std::path::PathBuf,
    admins: Vec<(String, String)>,
}

async fn deployment() -> Deployment {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut options = InitOptions::new(&data);
    options.password_params = PasswordParams::INSECURE_FOR_TESTS;
    options.host_api = "127.0.0.1:0".parse().unwrap();
    options.https = "127.0.0.1:0".parse().unwrap();
    let report = sigil_server::init(&options).await.unwrap();
    let admins = report
        .admin_names
        .iter()
        .zip(&report.admin_password_files)
        .map(|(n, f)| {
            (
                n.clone(),
                std::fs::read_to_string(f).unwrap().trim().to_owned(),
            )
        })
        .collect();
    Deployment {
        _dir: dir,
        data,
        root_ca: report.root_ca,
        admins,
    }
}

/// The deployment's configuration on ephemeral ports, changed by `adjust`.
fn config(data: &Path, adjust: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
    let mut config = ServerConfig::load(&data.join("sigil.toml")).unwrap();
    config.host_api = "127.0.0.1:0".parse().unwrap();
    config.https = "127.0.0.1:0".parse().unwrap();
    config.password_params = PasswordParams::INSECURE_FOR_TESTS;
    adjust(&mut config);
    config
}

/// An HTTPS client trusting only the deployment's root CA.
struct Web {
    http: reqwest::Client,
    base: String,
}

impl Web {
    fn new(addr: SocketAddr, root_ca: &Path) -> Self {
        let certs =
            reqwest::Certificate::from_pem_bundle(&std::fs::read(root_ca).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only(certs)
            .resolve("localhost", addr)
            .build()
            .unwrap();
        Self {
            http,
            base: format!("https://localhost:{}/api/v1", addr.port()),
        }
    }

    async fn login(&self, token: Option<&str>, identity: &str, password: &str) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/login", self.base))
            .json(&json!({"identity": identity, "password": password}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await.unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let reply = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.json().await.unwrap())
    }

    /// A session with both administrators (dual control); panics when either is refused.
    async fn admin_session(&self, admins: &[(String, String)]) -> String {
        let (status, body) = self.login(None, &admins[0].0, &admins[0].1).await;
        assert_eq!(status, 200, "{body}");
        let token = body["session"].as_str().unwrap().to_owned();
        let (status, body) = self.login(Some(&token), &admins[1].0, &admins[1].1).await;
        assert_eq!(status, 200, "{body}");
        token
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// Runs `sigil` with stdin closed (no terminal: nothing is prompted).
async fn sigil(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(&args)
            .env_remove("SIGIL_PROFILE")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Wrong passwords for `who` until the server answers `IDENTITY_LOCKED` for the right one.
async fn lock(web: &Web, who: &str, password: &str, threshold: u32) {
    for _ in 0..threshold {
        let (status, body) = web.login(None, who, "wrong password, again").await;
        assert_eq!((status, code(&body)), (401, "AUTH_FAILED"), "{body}");
    }
    let (status, body) = web.login(None, who, password).await;
    assert_eq!((status, code(&body)), (423, "IDENTITY_LOCKED"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_administrators_locked_by_failed_logins_are_recovered_offline_with_the_master_key() {
    let d = deployment().await;
    // Every attempt comes from 127.0.0.1 here: lift the per-address throttle so that one
    // address can lock both (what many addresses could do without it).
    let server = sigil_server::start(config(&d.data, |c| c.lockout.address_limit = 1_000))
        .await
        .unwrap();
    let web = Web::new(server.https_addr(), &d.root_ca);
    for (name, password) in &d.admins {
        lock(&web, name, password, 5).await;
    }
    let data = d.data.to_str().unwrap();
    let admin1 = d.admins[0].0.as_str();

    // While a server serves this data directory, the break-glass path refuses.
    let running = {
        let mut c = config(&d.data, |_| {});
        c.host_api = server.host_api_addr();
        c.https = server.https_addr();
        c
    };
    std::fs::write(d.data.join("sigil.toml"), running.to_toml()).unwrap();
    let out = sigil(&["identity", "unlock", admin1, "--data", data]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("a server is running"), "{}", text(&out));
    server.shutdown().await;

    // Without the master key, nothing is unlocked.
    let key = DataLayout::new(&d.data).master_key();
    let hidden = d.data.join("key.hidden");
    std::fs::rename(&key, &hidden).unwrap();
    let out = sigil(&["identity", "unlock", admin1, "--data", data]).await;
    assert!(!out.status.success(), "{}", text(&out));
    std::fs::rename(&hidden, &key).unwrap();

    for (name, _) in &d.admins {
        let out = sigil(&["identity", "unlock", name, "--data", data]).await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("Unlocked identity {name}")),
            "{}",
            text(&out)
        );
    }
    let out = sigil(&["identity", "unlock", "nobody", "--data", data]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nobody"), "{}", text(&out));

    // Administer again: both log in (dual control) and read the identities.
    let server = sigil_server::start(config(&d.data, |_| {})).await.unwrap();
    let web = Web::new(server.https_addr(), &d.root_ca);
    let token = web.admin_session(&d.admins).await;
    let (status, body) = web.get("/identities", &token).await;
    assert_eq!(status, 200, "{body}");
    for (name, _) in &d.admins {
        let identity = body
            .as_array()
            .or_else(|| body["identities"].as_array())
            .unwrap()
            .iter()
            .find(|i| i["name"] == name.as_str())
            .unwrap()
            .clone();
        assert_eq!(identity["locked"], false, "{identity}");
    }
    // Each unlock is an audit event on the interface "offline", and the chain still verifies.
    let events = server.state().store.read_audit(1, 10_000).await.unwrap();
    let unlocks: Vec<_> = events
        .iter()
        .filter(|e| e.action == "identity.unlock")
        .collect();
    assert_eq!(unlocks.len(), 2, "{unlocks:?}");
    assert!(
        unlocks
            .iter()
            .all(|e| e.interface.as_deref() == Some("offline"))
    );
    let head = server.state().store.audit_head().await.unwrap();
    sigil_domain::audit::verify_chain(
        sigil_domain::audit::ChainHead::GENESIS,
        &events,
        Some(&head),
    )
    .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_ends_by_itself_and_the_next_one_lasts_longer() {
    let d = deployment().await;
    let server = sigil_server::start(config(&d.data, |c| {
        c.lockout.address_limit = 1_000;
        // This test polls through the locks (each poll a refused login): the separate rate
        // limit on failed calls would otherwise answer 429 before a lock ends.
        c.failure_limit.limit = 1_000_000;
        c.lockout.base = Duration::from_secs(1);
        c.lockout.max = Duration::from_secs(8);
    }))
    .await
    .unwrap();
    let web = Web::new(server.https_addr(), &d.root_ca);
    let (name, password) = &d.admins[0];
    lock(&web, name, password, 5).await;
    let stored = |state: std::sync::Arc<sigil_server::AppState>| async move {
        state
            .store
            .get_identity(&sigil_domain::IdentityName::new(name).unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    let first = stored(server.state().clone()).await.locked_until.unwrap();
    // Poll (no timed assertion): the lock ends by itself.
    let mut relocked = false;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A wrong password once the lock ended counts again, and locks at once.
        let (status, body) = web.login(None, name, "wrong password, again").await;
        assert_eq!((status, code(&body)), (401, "AUTH_FAILED"), "{body}");
        let now = stored(server.state().clone()).await;
        if now.locked_until != Some(first) {
            // The second lock lasts twice as long: it ends at least 2 s after the first did.
            assert!(
                now.locked_until.unwrap() - first >= time::Duration::seconds(2),
                "{now:?}"
            );
            relocked = true;
            break;
        }
    }
    assert!(relocked, "the first lock never ended");
    // After the second lock ends, the right password logs in and starts over.
    let mut logged_in = false;
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, body) = web.login(None, name, password).await;
        if status == 200 {
            logged_in = true;
            break;
        }
        assert_eq!((status, code(&body)), (423, "IDENTITY_LOCKED"), "{body}");
    }
    assert!(logged_in, "the second lock never ended");
    let now = stored(server.state().clone()).await;
    assert!(!now.locked && now.failed_logins == 0, "{now:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_is_throttled_before_it_can_lock_any_identity() {
    let d = deployment().await;
    // Defaults: lockout_threshold 5, address_failure_limit 3.
    let server = sigil_server::start(config(&d.data, |_| {})).await.unwrap();
    let web = Web::new(server.https_addr(), &d.root_ca);
    let (name, password) = &d.admins[0];
    for _ in 0..3 {
        let (status, body) = web.login(None, name, "wrong password, again").await;
        assert_eq!((status, code(&body)), (401, "AUTH_FAILED"), "{body}");
    }
    // From now on the address is refused before any password check or identity counter,
    // whatever the identity, even with the right password.
    for (who, pw) in [
        (name.as_str(), "wrong password, again"),
        (d.admins[1].0.as_str(), "x"),
        (name.as_str(), password.as_str()),
    ] {
        let (status, body) = web.login(None, who, pw).await;
        assert_eq!((status, code(&body)), (429, "LOGIN_THROTTLED"), "{body}");
    }
    for (admin, _) in &d.admins {
        let identity = server
            .state()
            .store
            .get_identity(&sigil_domain::IdentityName::new(admin).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(!identity.locked, "{identity:?}");
        assert!(identity.failed_logins <= 3, "{identity:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_peer_cannot_count_against_an_administrator_that_needs_its_certificate() {
    let d = deployment().await;
    let server = sigil_server::start(config(&d.data, |c| {
        c.lockout.address_limit = 1_000;
        c.lockout.admin_requires_certificate = true;
    }))
    .await
    .unwrap();
    let web = Web::new(server.https_addr(), &d.root_ca);
    let (name, password) = &d.admins[0];
    for _ in 0..12 {
        let (status, body) = web.login(None, name, "wrong password, again").await;
        assert_eq!((status, code(&body)), (401, "AUTH_FAILED"), "{body}");
    }
    let identity = server
        .state()
        .store
        .get_identity(&sigil_domain::IdentityName::new(name).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (identity.locked, identity.failed_logins),
        (false, 0),
        "{identity:?}"
    );
    // The right password without the bound certificate: refused, and says why.
    let (status, body) = web.login(None, name, password).await;
    assert_eq!((status, code(&body)), (403, "CERT_MISMATCH"), "{body}");
    server.shutdown().await;
}
